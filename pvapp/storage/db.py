"""SQLite storage: every reading, every state change, and the PVOutput upload queue.

Durability choices, and why:

* ``journal_mode=WAL``: readers (``pv export``, the uploader) never block the
  poller, and a writer killed at any instant leaves the database consistent:
  SQLite replays or ignores the WAL on the next open.
* ``synchronous=FULL`` by default: each poll's commit is fsynced.  The monitor
  writes at most one transaction per inverter every few seconds, so the cost is a
  few milliseconds per poll even on an SD card, and in exchange a *power cut* (the
  usual way a Raspberry Pi "crashes") cannot lose a committed reading.
  ``NORMAL`` is enough for SIGKILL safety alone and may be chosen in the
  configuration (``storage.synchronous``) on slow media.
* One transaction per poll: the reading, the inverter's last-seen time and the
  PVOutput queue rows it updates are committed together or not at all, so a
  crash never leaves a reading without its upload slot or the reverse.

Connections are per thread (sqlite3 objects must not be shared across threads);
``busy_timeout`` makes concurrent writers from the port threads and the uploader
wait for each other instead of failing.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pvapp.reading import InverterInfo, Reading

from .queue import UploadQueue, _update_slot
from .records import (
    GapStatus,
    HistoryRecord,
    LastGood,
    SlotUpdate,
    StorageError,
    StoredReading,
    _transaction,
    parse_utc,
    readings_query,
    utc_text,
)
from .schema import MIGRATIONS, SCHEMA_VERSION

SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


class Storage(UploadQueue):
    """The monitor's database.  Safe to share between threads."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL", readonly: bool = False) -> None:
        self.path = str(path)
        sync = synchronous.upper()
        if sync not in SYNCHRONOUS_MODES:
            raise StorageError(f"storage.synchronous: {synchronous!r} is not one of {', '.join(SYNCHRONOUS_MODES)}")
        self.synchronous = sync
        # Readers (``pv export``) open the file read-only: they need neither write access to it
        # nor to its folder, and can never change it.
        self.readonly = readonly
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        if readonly:
            self._check_readable()
            return
        if self.path != ":memory:":
            parent = Path(self.path).parent
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create the directory for {self.path}: {exc.strerror}") from None
        self._migrate()

    def _check_readable(self) -> None:
        try:
            version = self._conn().execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in self._conn().execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.OperationalError as exc:
            raise StorageError(f"cannot read {self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"{self.path} is not a usable SQLite database: {exc}") from None
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"{self.path} has schema version {version}, newer than this pv understands ({SCHEMA_VERSION}); "
                "upgrade pv"
            )
        if version < SCHEMA_VERSION or "readings" not in tables:
            what = (
                "is not a usable SQLite database: it holds no pv readings"
                if "readings" not in tables
                else f"has the older schema version {version}"
            )
            raise StorageError(f"{self.path} {what}; `pv monitor` creates and upgrades pv databases")

    # -- connections -------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self.readonly:
                return self._readonly_conn()
            try:
                conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            except sqlite3.Error as exc:
                raise StorageError(f"cannot open database {self.path}: {exc}") from None
            conn.row_factory = sqlite3.Row
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(f"PRAGMA synchronous={self.synchronous}")
                conn.execute("PRAGMA foreign_keys=ON")
                conn.execute("PRAGMA busy_timeout=30000")
                # The monitor appends and looks up only the newest rows; 1 MiB of page
                # cache per connection is plenty and keeps the footprint flat on a Pi Zero.
                conn.execute("PRAGMA cache_size=-1024")
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise StorageError(f"{self.path} is not a usable SQLite database: {exc}") from None
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _readonly_conn(self) -> sqlite3.Connection:
        if not Path(self.path).exists():
            raise StorageError(f"cannot read {self.path}: no such file")
        if not Path(self.path).is_file():
            raise StorageError(f"{self.path} is not a usable SQLite database: not a regular file")
        path = Path(self.path).resolve()
        base = "file:" + urllib.parse.quote(str(path))
        try:
            conn = sqlite3.connect(
                base + "?mode=ro", uri=True, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA user_version").fetchone()
        except sqlite3.OperationalError as exc:
            # A WAL database in a folder we cannot write: SQLite cannot create the -shm index.
            # With no write-ahead log pending, the file alone holds everything: read it as is.
            wal = path.with_name(path.name + "-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise StorageError(f"cannot read {self.path}: {exc}") from None
            try:
                conn = sqlite3.connect(base + "?immutable=1", uri=True, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA user_version").fetchone()
            except sqlite3.Error as exc2:
                raise StorageError(f"cannot read {self.path}: {exc2}") from None
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read {self.path}: {exc}") from None
        conn.execute("PRAGMA busy_timeout=30000")
        conn.row_factory = sqlite3.Row
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    def close(self) -> None:
        """Close every thread's connection (call once the threads have stopped)."""
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()

    def _migrate(self) -> None:
        try:
            self._migrate_steps()
        except sqlite3.Error as exc:
            raise StorageError(f"{self.path} is not a usable SQLite database: {exc}") from None

    def _migrate_steps(self) -> None:
        conn = self._conn()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"{self.path} has schema version {version}, newer than this pv understands ({SCHEMA_VERSION}); "
                "upgrade pv"
            )
        for number in range(version, SCHEMA_VERSION):
            conn.execute("BEGIN IMMEDIATE")
            try:
                # re-read inside the write lock: another process may have migrated meanwhile
                if conn.execute("PRAGMA user_version").fetchone()[0] != number:
                    conn.execute("ROLLBACK")
                    continue
                for statement in _statements(MIGRATIONS[number]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={number + 1}")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def check_writable(self) -> None:
        """Raise StorageError unless a write transaction can start (file or folder read-only...).

        The probe row is rolled back: nothing changes.  A full disk is not found this
        way (a rolled-back write never reaches it); the monitor handles that at run time.
        """
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("INSERT INTO events(time, kind, detail) VALUES ('', 'probe', '')")
            finally:
                conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise StorageError(
                f"cannot write {self.path}: {exc} (is the file or its folder read-only, or owned by another user?)"
            ) from None

    @property
    def schema_version(self) -> int:
        return int(self._conn().execute("PRAGMA user_version").fetchone()[0])

    def integrity_check(self) -> str:
        return str(self._conn().execute("PRAGMA integrity_check").fetchone()[0])

    # -- writes ------------------------------------------------------------

    def upsert_inverter(self, info: InverterInfo, time: datetime) -> None:
        t = utc_text(time)
        with _transaction(self._conn()) as conn:
            _upsert_inverter(conn, info, t)

    def record_event(
        self, time: datetime, kind: str, *, serial: str | None = None, port: str = "", detail: str = ""
    ) -> None:
        with _transaction(self._conn()) as conn:
            conn.execute(
                "INSERT INTO events(time, serial, port, kind, detail) VALUES (?, ?, ?, ?, ?)",
                (utc_text(time), serial, port, kind, detail),
            )

    def store_poll(self, reading: Reading, slots: Sequence[SlotUpdate] = ()) -> int:
        """Store one poll in one transaction: the reading and the upload slots it feeds.

        Returns the new row id.  A reading with the same inverter and time as a
        stored one is a programming error upstream and raises (it would be a
        duplicate).
        """
        t = utc_text(reading.time)
        v = reading.values
        with _transaction(self._conn()) as conn:
            _upsert_inverter(conn, reading.inverter, t)
            cur = conn.execute(
                "INSERT INTO readings(time, serial, pac, e_today, e_total, h_total, mode, faults_json, values_json,"
                " rejected_json, raw_frame) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    t,
                    reading.inverter.serial,
                    v.get("pac"),
                    v.get("e_today"),
                    v.get("e_total"),
                    v.get("h_total"),
                    reading.mode,
                    json.dumps(list(reading.faults)),
                    json.dumps(v, sort_keys=True),
                    json.dumps(reading.rejected, sort_keys=True),
                    bytes(reading.raw_frame),
                ),
            )
            row_id = int(cur.lastrowid or 0)
            for slot in slots:
                _update_slot(conn, slot, t)
        return row_id

    def store_history(self, serial: str, records: Sequence[HistoryRecord]) -> int:
        """Keep an inverter's hourly log (one transaction); returns how many hours were new or changed.

        A day still in progress is read again later with more hours, and an
        hour's figure is the inverter's to correct: the latest one read wins.
        Live readings are never touched.
        """
        changed = 0
        with _transaction(self._conn()) as conn:
            for r in records:
                cur = conn.execute(
                    "INSERT INTO history(serial, date, hour, minute, energy_kwh, fetched) VALUES (?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(serial, date, hour, minute) DO UPDATE SET energy_kwh = excluded.energy_kwh,"
                    " fetched = excluded.fetched WHERE energy_kwh != excluded.energy_kwh",
                    (serial, r.date, r.hour, r.minute, r.energy_kwh, utc_text(r.fetched)),
                )
                changed += cur.rowcount
        return changed

    def history_records(
        self, *, serial: str | None = None, first: str | None = None, last: str | None = None
    ) -> list[HistoryRecord]:
        """Stored hourly records, by serial and time; ``first``/``last`` are YYYY-MM-DD, inclusive."""
        sql = "SELECT * FROM history WHERE 1=1"
        args: list[Any] = []
        for cond, value in (("serial = ?", serial), ("date >= ?", first), ("date <= ?", last)):
            if value is not None:
                sql += f" AND {cond}"
                args.append(value)
        rows = self._conn().execute(sql + " ORDER BY serial, date, hour, minute", args)
        return [
            HistoryRecord(r["serial"], r["date"], r["hour"], r["minute"], r["energy_kwh"], parse_utc(r["fetched"]))
            for r in rows
        ]

    def fill_statuses(self, rows: Sequence[GapStatus]) -> int:
        """Queue statuses made from history where no live slot exists; returns how many were queued.

        A slot a live reading made is never changed.  A history slot still
        pending is recomputed (another inverter of the system may have sent
        its history since).
        """
        now = utc_text(datetime.now(UTC))
        done = 0
        with _transaction(self._conn()) as conn:
            for g in rows:
                cur = conn.execute(
                    "INSERT INTO pvoutput_queue(system_id, date, time, slot_utc, energy_wh, power_w, updated, origin)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, 'history')"
                    " ON CONFLICT(system_id, date, time) DO UPDATE SET energy_wh = excluded.energy_wh,"
                    " power_w = excluded.power_w, updated = excluded.updated"
                    " WHERE origin = 'history' AND status = 'pending'",
                    (g.system_id, g.date, g.time, utc_text(g.slot_start), g.energy_wh, g.power_w, now),
                )
                done += cur.rowcount
        return done

    def latest_value(self, serial: str, column: str, start: datetime, end: datetime) -> float | None:
        """The latest accepted ``column`` (pac, e_today, e_total) of ``serial`` in [start, end)."""
        if column not in ("pac", "e_today", "e_total"):
            raise ValueError(f"no column {column!r} to look up")
        row = (
            self._conn()
            .execute(
                f"SELECT {column} FROM readings WHERE serial = ? AND time >= ? AND time < ?"  # noqa: S608 (fixed names)
                f" AND {column} IS NOT NULL ORDER BY time DESC LIMIT 1",
                (serial, utc_text(start), utc_text(end)),
            )
            .fetchone()
        )
        return None if row is None else float(row[0])

    def readings_between(self, serial: str, start: datetime, end: datetime) -> int:
        """How many readings of ``serial`` fall in [start, end)."""
        row = (
            self._conn()
            .execute(
                "SELECT COUNT(*) FROM readings WHERE serial = ? AND time >= ? AND time < ?",
                (serial, utc_text(start), utc_text(end)),
            )
            .fetchone()
        )
        return int(row[0])

    # -- reads -------------------------------------------------------------

    def last_good(self, serial: str) -> LastGood:
        """The latest accepted counters of an inverter (accepted counters never decrease)."""
        conn = self._conn()

        def latest(column: str) -> Any:
            row = conn.execute(
                f"SELECT {column} FROM readings WHERE serial = ? AND {column} IS NOT NULL"  # noqa: S608 (fixed names)
                " ORDER BY time DESC LIMIT 1",
                (serial,),
            ).fetchone()
            return None if row is None else row[0]

        t = conn.execute("SELECT MAX(time) FROM readings WHERE serial = ?", (serial,)).fetchone()[0]
        return LastGood(
            e_total=latest("e_total"),
            h_total=latest("h_total"),
            time=parse_utc(t) if t else None,
            e_today=latest("e_today"),
        )

    def e_total_before(self, serial: str, before: datetime) -> float | None:
        """The last good E-Total stored before ``before`` (the day's starting meter reading)."""
        row = (
            self._conn()
            .execute(
                "SELECT e_total FROM readings WHERE serial = ? AND time < ? AND e_total IS NOT NULL"
                " ORDER BY time DESC LIMIT 1",
                (serial, utc_text(before)),
            )
            .fetchone()
        )
        return None if row is None else float(row[0])

    def readings(
        self, *, serial: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> Iterator[StoredReading]:
        sql, args = readings_query(serial, start, end)
        for row in self._conn().execute(sql, args):
            yield StoredReading(
                id=row["id"],
                time=parse_utc(row["time"]),
                serial=row["serial"],
                pac=row["pac"],
                e_today=row["e_today"],
                e_total=row["e_total"],
                h_total=row["h_total"],
                mode=row["mode"],
                faults=tuple(json.loads(row["faults_json"])),
                values=json.loads(row["values_json"]),
                rejected=json.loads(row["rejected_json"]),
                raw_frame=bytes(row["raw_frame"]),
            )

    def value_fields(
        self, *, serial: str | None = None, start: datetime | None = None, end: datetime | None = None
    ) -> set[str]:
        """Every field id stored in the readings of a range (``readings()``'s filters), read-only.

        ``pv export`` needs its columns before its first row; SQLite's JSON
        functions collect them in one pass without holding the rows in memory.
        """
        where, args = "1=1", list[Any]()
        if serial is not None:
            where, args = where + " AND readings.serial = ?", [*args, serial]
        if start is not None:
            where, args = where + " AND readings.time >= ?", [*args, utc_text(start)]
        if end is not None:
            where, args = where + " AND readings.time < ?", [*args, utc_text(end)]
        try:
            rows = self._conn().execute(
                f"SELECT DISTINCT j.key FROM readings, json_each(readings.values_json) AS j WHERE {where}",  # noqa: S608
                args,
            )
            return {str(r[0]) for r in rows}
        except sqlite3.OperationalError:  # an SQLite built without its JSON functions: the same, in Python
            return {k for r in self.readings(serial=serial, start=start, end=end) for k in r.values}

    def history(self, since: datetime) -> Iterator[Reading]:
        """Stored readings at or after ``since`` as ``Reading`` objects, oldest first.

        For outputs that catch up after an outage (MQTT ``missed = "republish"``);
        safe to call from any thread (each thread has its own connection).
        """
        infos = {
            r["serial"]: InverterInfo(
                serial=r["serial"],
                spec_id=r["spec_id"],
                port=r["port"],
                address=r["address"],
                model=r["model"],
                manufacturer=r["manufacturer"],
                firmware=r["firmware"],
                va_rating=r["va_rating"],
            )
            for r in self.inverters()
        }
        for r in self.readings(start=since):
            yield Reading(
                inverter=infos[r.serial],
                time=r.time,
                values=r.values,
                raw_frame=r.raw_frame,
                mode=r.mode,
                faults=r.faults,
                rejected=r.rejected,
                id=r.id,
            )

    def latest_reading(self, serial: str) -> Reading | None:
        """The newest stored reading of ``serial``, exactly as stored (None if it never answered).

        Read-only.  The monitor hands it to its outputs before the first poll
        (with ``last_good`` for the totals a guard refused in it), so what they
        publish at start is the last known truth, not nothing.
        """
        conn = self._conn()
        inv = conn.execute("SELECT * FROM inverters WHERE serial = ?", (serial,)).fetchone()
        if inv is None:
            return None
        row = conn.execute("SELECT * FROM readings WHERE serial = ? ORDER BY time DESC LIMIT 1", (serial,)).fetchone()
        if row is None:
            return None
        return Reading(
            inverter=_info(inv),
            time=parse_utc(row["time"]),
            values=json.loads(row["values_json"]),
            raw_frame=bytes(row["raw_frame"]),
            mode=row["mode"],
            faults=tuple(json.loads(row["faults_json"])),
            rejected=json.loads(row["rejected_json"]),
            id=row["id"],
        )

    def inverters(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._conn().execute("SELECT * FROM inverters ORDER BY serial")]

    def events(self, *, kind: str | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM events", tuple[str, ...]()
        if kind:
            sql, args = sql + " WHERE kind = ?", (kind,)
        return [dict(r) for r in self._conn().execute(sql + " ORDER BY id", args)]


def _statements(script: str) -> list[str]:
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip():
        out.append(buf.strip())
    return out


def _info(r: sqlite3.Row | dict[str, Any]) -> InverterInfo:
    return InverterInfo(
        serial=r["serial"],
        spec_id=r["spec_id"],
        port=r["port"],
        address=r["address"],
        model=r["model"],
        manufacturer=r["manufacturer"],
        firmware=r["firmware"],
        va_rating=r["va_rating"],
    )


def _upsert_inverter(conn: sqlite3.Connection, info: InverterInfo, t: str) -> None:
    conn.execute(
        "INSERT INTO inverters(serial, spec_id, port, address, model, manufacturer, firmware, va_rating, first_seen,"
        " last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(serial) DO UPDATE SET spec_id = excluded.spec_id, port = excluded.port,"
        " address = excluded.address,"
        " model = CASE WHEN excluded.model != '' THEN excluded.model ELSE model END,"
        " manufacturer = CASE WHEN excluded.manufacturer != '' THEN excluded.manufacturer ELSE manufacturer END,"
        " firmware = CASE WHEN excluded.firmware != '' THEN excluded.firmware ELSE firmware END,"
        " va_rating = CASE WHEN excluded.va_rating != '' THEN excluded.va_rating ELSE va_rating END,"
        " last_seen = MAX(last_seen, excluded.last_seen)",
        (
            info.serial,
            info.spec_id,
            info.port,
            info.address,
            info.model,
            info.manufacturer,
            info.firmware,
            info.va_rating,
            t,
            t,
        ),
    )
