"""pvgen: validates inverter and service specs and renders them into the ``pv`` package.

The hand-written runtime that generated code stands on lives in ``pvgen.runtime``;
it must never import the application (``pvapp``).
"""

__version__ = "1.0.0"
