"""The hand-written application around the generated ``pv`` package.

Layers, lowest first: ``pv`` + ``pvgen.runtime`` (protocol) -> ``pvapp.sim``
(simulator) and ``pvapp.storage`` -> ``pvapp.monitor`` and ``pvapp.outputs`` ->
``pvapp.cli``.  Lower layers never import higher ones.
"""
