"""The intermediate model between a flattened spec and the templates.

``build_ir`` (in ``build``) runs one builder per spec section (``types``,
``vocab`` for enums and flags, ``fields``, ``commands``, ``frame``, ``models``,
``examples``); ``model`` holds the classes the templates render.
"""

from __future__ import annotations

from .build import build_ir
from .model import ExampleIR, SpecIR, TypeIR, decimal_text, pascal

__all__ = ["ExampleIR", "SpecIR", "TypeIR", "build_ir", "decimal_text", "pascal"]
