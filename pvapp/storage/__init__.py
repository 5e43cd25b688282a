"""Durable local history: readings, events and the PVOutput upload queue in one SQLite file."""

from .db import Storage
from .records import (
    GapStatus,
    HistoryRecord,
    LastGood,
    QueuedStatus,
    SlotUpdate,
    StorageError,
    StoredReading,
    parse_utc,
    utc_text,
)
from .schema import SCHEMA_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "GapStatus",
    "HistoryRecord",
    "LastGood",
    "QueuedStatus",
    "SlotUpdate",
    "Storage",
    "StorageError",
    "StoredReading",
    "parse_utc",
    "utc_text",
]
