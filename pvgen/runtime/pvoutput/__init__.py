"""Hand-written HTTP runtime for the generated ``pv.pvoutput`` client (see model.py for why)."""
