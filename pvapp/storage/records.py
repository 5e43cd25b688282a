"""What the database holds, as values: rows as frozen dataclasses, UTC text, one readings query.

Kept apart from ``Storage`` so that readers with their own connection (the web
page's read-only one) use the same row types, time text and query.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def readings_query(serial: str | None, start: datetime | None, end: datetime | None) -> tuple[str, list[Any]]:
    """The readings of one range in time order, as SQL and its arguments.

    One text for ``Storage.readings`` and the web page's read-only connection,
    so both select (and order) the same rows for the same filters.
    """
    sql = "SELECT * FROM readings WHERE 1=1"
    args: list[Any] = []
    if serial is not None:
        sql += " AND serial = ?"
        args.append(serial)
    if start is not None:
        sql += " AND time >= ?"
        args.append(utc_text(start))
    if end is not None:
        sql += " AND time < ?"
        args.append(utc_text(end))
    return sql + " ORDER BY time, serial", args


class StorageError(Exception):
    """The database cannot be used (wrong file, newer schema, unwritable directory)."""


def utc_text(t: datetime) -> str:
    """A UTC timestamp as sortable text: ``2026-06-01T10:00:00.000000Z``."""
    if t.tzinfo is None:
        raise ValueError("naive datetime given to storage; times must be timezone-aware")
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SlotUpdate:
    """One PVOutput status slot a reading contributes to.

    ``serials`` are every inverter aggregated into ``system_id``; the slot row is
    recomputed from the stored readings of all of them, so aggregation is right
    whichever inverter's poll commits last.
    """

    system_id: int
    date: str  # yyyymmdd, local
    time: str  # hh:mm, local slot start
    slot_start: datetime
    slot_end: datetime
    day_start: datetime  # local midnight of ``date``, as an aware datetime
    serials: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class QueuedStatus:
    system_id: int
    date: str
    time: str
    slot_utc: str
    energy_wh: int | None
    power_w: int | None
    temperature: float | None
    voltage: float | None
    status: str
    reason: str
    attempts: int
    origin: str = "live"  # 'history': made from the inverter's own hourly log after a gap


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """Energy an inverter logged for the hour ending at ``hour``:``minute`` of ``date`` (its clock)."""

    serial: str
    date: str  # YYYY-MM-DD
    hour: int
    minute: int
    energy_kwh: float
    fetched: datetime


@dataclass(frozen=True, slots=True)
class GapStatus:
    """A PVOutput status made from history records for a slot no live reading covers."""

    system_id: int
    date: str  # yyyymmdd, local
    time: str  # hh:mm, local
    slot_start: datetime
    energy_wh: int | None
    power_w: int | None


@dataclass(frozen=True, slots=True)
class StoredReading:
    id: int
    time: datetime
    serial: str
    pac: float | None
    e_today: float | None
    e_total: float | None
    h_total: float | None
    mode: str
    faults: tuple[str, ...]
    values: dict[str, float | int | None]
    rejected: dict[str, str]
    raw_frame: bytes


@dataclass(frozen=True, slots=True)
class LastGood:
    """What the guards need to know about an inverter's history after a restart."""

    e_total: float | None
    h_total: float | None
    time: datetime | None
    e_today: float | None


class _transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
