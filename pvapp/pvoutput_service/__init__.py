"""Local PVOutput service for tests and demos (see service.py for what it reproduces)."""

from __future__ import annotations

from .cli import main
from .service import Fault, Key, PVOutputService, RequestRecord, System

__all__ = ["Fault", "Key", "PVOutputService", "RequestRecord", "System", "main"]
