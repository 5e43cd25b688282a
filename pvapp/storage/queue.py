"""The PVOutput upload queue: one row per (system, 5-minute slot), from pending to sent.

A mixin of ``Storage`` (it needs only ``_conn``): the queue's states and the
slot arithmetic are one concern, the connections and migrations another.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from .records import QueuedStatus, SlotUpdate, _transaction, utc_text


class UploadQueue:
    """The queue half of ``Storage``: slots are claimed, sent, refused or released in transactions."""

    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError  # Storage's per-thread connection

    def pending_statuses(self, system_id: int, *, started_by: datetime, limit: int = 1000) -> list[QueuedStatus]:
        """Pending slots of a system that started at or before ``started_by``, oldest first.

        The uploader passes ``now - interval`` so that only closed slots go out:
        a slot still filling would otherwise be sent with a partial value.
        """
        rows = self._conn().execute(
            "SELECT * FROM pvoutput_queue WHERE status = 'pending' AND system_id = ? AND slot_utc <= ?"
            " ORDER BY slot_utc LIMIT ?",
            (system_id, utc_text(started_by), limit),
        )
        return [_queued(r) for r in rows]

    def claim_statuses(self, system_id: int, *, started_by: datetime, limit: int = 100000) -> list[QueuedStatus]:
        """Take the closed pending slots for sending: they become 'sending', frozen, in one transaction.

        A poll that started before the slot closed may commit its reading after
        the uploader has read the slot; once claimed, the slot row no longer
        follows readings, so what PVOutput receives is exactly what is recorded.
        """
        with _transaction(self._conn()) as conn:
            rows = conn.execute(
                "SELECT * FROM pvoutput_queue WHERE status = 'pending' AND system_id = ? AND slot_utc <= ?"
                " ORDER BY slot_utc LIMIT ?",
                (system_id, utc_text(started_by), limit),
            ).fetchall()
            conn.executemany(
                "UPDATE pvoutput_queue SET status = 'sending' WHERE system_id = ? AND date = ? AND time = ?",
                [(system_id, r["date"], r["time"]) for r in rows],
            )
        return [replace(_queued(r), status="sending") for r in rows]

    def release_claims(self, system_id: int, keys: Sequence[tuple[str, str]] | None = None) -> int:
        """Claimed slots go back to pending: all of them (start-up, after a crash) or just ``keys``."""
        with _transaction(self._conn()) as conn:
            if keys is None:
                cur = conn.execute(
                    "UPDATE pvoutput_queue SET status = 'pending' WHERE system_id = ? AND status = 'sending'",
                    (system_id,),
                )
                return int(cur.rowcount)
            cur = conn.executemany(
                "UPDATE pvoutput_queue SET status = 'pending' WHERE system_id = ? AND date = ? AND time = ?"
                " AND status = 'sending'",
                [(system_id, d, t) for d, t in keys],
            )
            return int(cur.rowcount)

    def queue(self, system_id: int | None = None, status: str | None = None) -> list[QueuedStatus]:
        sql = "SELECT * FROM pvoutput_queue WHERE 1=1"
        args: list[Any] = []
        if system_id is not None:
            sql += " AND system_id = ?"
            args.append(system_id)
        if status is not None:
            sql += " AND status = ?"
            args.append(status)
        return [_queued(r) for r in self._conn().execute(sql + " ORDER BY system_id, slot_utc", args)]

    def mark_statuses(
        self,
        system_id: int,
        keys: Sequence[tuple[str, str]],
        status: str,
        reason: str = "",
        now: datetime | None = None,
    ) -> None:
        """Set the outcome of an upload attempt for (date, time) keys, in one transaction."""
        t = utc_text(now or datetime.now(UTC))
        with _transaction(self._conn()) as conn:
            conn.executemany(
                "UPDATE pvoutput_queue SET status = ?, reason = ?, attempts = attempts + 1, updated = ?"
                " WHERE system_id = ? AND date = ? AND time = ? AND status IN ('pending', 'sending')",
                [(status, reason, t, system_id, d, tm) for d, tm in keys],
            )

    def mark_sent_through(
        self,
        system_id: int,
        date: str,
        time: str,
        reason: str,
        now: datetime | None = None,
        not_before: str = "",
    ) -> int:
        """Mark every pending slot up to and including PVOutput's last status as sent.

        Used at start-up: what PVOutput already holds (for instance because we
        crashed between its reply and our commit) is not sent a second time.
        Slots made from inverter history are not: they fill a gap *behind*
        PVOutput's latest status, so its latest status says nothing about them
        (sending one twice only repeats the same values).
        """
        t = utc_text(now or datetime.now(UTC))
        with _transaction(self._conn()) as conn:
            cur = conn.execute(
                "UPDATE pvoutput_queue SET status = 'sent', reason = ?, updated = ? WHERE system_id = ?"
                " AND status IN ('pending', 'sending') AND (date < ? OR (date = ? AND time <= ?)) AND date >= ?"
                " AND origin = 'live'",
                (reason, t, system_id, date, date, time, not_before),
            )
            return int(cur.rowcount)

    def note_attempt(self, system_id: int, keys: Sequence[tuple[str, str]], reason: str) -> None:
        """Count a failed attempt and put the slots back to pending (network down, rate limit)."""
        t = utc_text(datetime.now(UTC))
        with _transaction(self._conn()) as conn:
            conn.executemany(
                "UPDATE pvoutput_queue SET status = 'pending', attempts = attempts + 1, reason = ?, updated = ?"
                " WHERE system_id = ? AND date = ? AND time = ? AND status IN ('pending', 'sending')",
                [(reason, t, system_id, d, tm) for d, tm in keys],
            )


def _update_slot(conn: sqlite3.Connection, slot: SlotUpdate, now: str) -> None:
    """Recompute one system's status slot from the stored readings of its inverters.

    Power, temperature and voltage come from each inverter's latest reading in
    the slot; energy from each inverter's latest accepted E-Today of that local
    day up to the slot's end (an inverter that fell asleep keeps counting with
    its last value, so the aggregate does not drop).
    """
    start, end, day = utc_text(slot.slot_start), utc_text(slot.slot_end), utc_text(slot.day_start)
    power: list[float] = []
    temps: list[float] = []
    volts: list[float] = []
    energy: list[float] = []
    for serial in slot.serials:
        row = conn.execute(
            "SELECT pac, values_json FROM readings WHERE serial = ? AND time >= ? AND time < ?"
            " ORDER BY time DESC LIMIT 1",
            (serial, start, end),
        ).fetchone()
        if row is not None:
            if row["pac"] is not None:
                power.append(row["pac"])
            values = json.loads(row["values_json"])
            if isinstance(values.get("temperature"), int | float):
                temps.append(float(values["temperature"]))
            if isinstance(values.get("vac"), int | float):
                volts.append(float(values["vac"]))
        e_row = conn.execute(
            "SELECT e_today FROM readings WHERE serial = ? AND time >= ? AND time < ? AND e_today IS NOT NULL"
            " ORDER BY time DESC LIMIT 1",
            (serial, day, end),
        ).fetchone()
        if e_row is not None:
            energy.append(e_row["e_today"])
    energy_wh = round(sum(energy) * 1000) if energy else None
    power_w = round(sum(power)) if power else None
    temperature = round(max(temps), 1) if temps else None
    voltage = round(sum(volts) / len(volts), 1) if volts else None
    if energy_wh is None and power_w is None:
        return  # nothing PVOutput would accept (needs v1 or v2)
    conn.execute(
        "INSERT INTO pvoutput_queue(system_id, date, time, slot_utc, energy_wh, power_w, temperature, voltage, updated)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(system_id, date, time) DO UPDATE SET energy_wh = excluded.energy_wh,"
        " power_w = excluded.power_w, temperature = excluded.temperature, voltage = excluded.voltage,"
        " updated = excluded.updated WHERE status = 'pending'",
        (slot.system_id, slot.date, slot.time, start, energy_wh, power_w, temperature, voltage, now),
    )


def _queued(r: sqlite3.Row) -> QueuedStatus:
    return QueuedStatus(
        system_id=r["system_id"],
        date=r["date"],
        time=r["time"],
        slot_utc=r["slot_utc"],
        energy_wh=r["energy_wh"],
        power_w=r["power_w"],
        temperature=r["temperature"],
        voltage=r["voltage"],
        status=r["status"],
        reason=r["reason"],
        attempts=r["attempts"],
        origin=r["origin"],
    )
