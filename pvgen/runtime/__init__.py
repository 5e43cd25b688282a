"""Hand-written runtime imported by the generated ``pv`` package (framing, transports, debug).

Nothing here may import ``pvapp``: the protocol layer stands on its own.
"""

RUNTIME_API = 1
