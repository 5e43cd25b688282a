"""Read-only queries for the page and the metrics, on the web server's own SQLite connection.

The connection is opened ``mode=ro`` with ``query_only``: the web server cannot
write to the database even by mistake.  In WAL mode readers never block the
poller's writes, and the poller's writes never block these reads.  One
connection, serialised by a lock, is plenty for a home page and keeps the
footprint flat.

Decimation happens in SQL, so the cost of a chart depends on the number of
points drawn rather than on the number of readings: a day of 1-second polls and
a day of 5-minute polls cost about the same, and the energy views read one
indexed row per inverter and day (cached once the day is over), so a year of
history is as quick as a day.

Day energy, and why: the inverter's own E-Today counter, last accepted value of
the local day (what its display shows and PVOutput receives); for a model
without E-Today, the rise of E-Total over the day.
"""

from __future__ import annotations

import calendar
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from pvapp.storage.records import parse_utc, utc_text

# The day chart: at most this many points per inverter (a bucket is 86400 / DAY_POINTS = 120 s).
DAY_POINTS = 720
# In the summed curve an inverter's last value counts for at most this long (then it is 0):
# inverters are polled at different instants, so their points never share a bucket exactly.
HOLD_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    t: float  # Unix seconds: mean time of the readings in the bucket
    w: float  # mean power of the bucket, W
    n: int  # readings in the bucket


class ReadOnlyDB:
    """The web server's connection: read-only, WAL, shared by its threads under a lock."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        uri = self.path.resolve().as_uri() + "?mode=ro"
        self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=10.0, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA query_only=ON")
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._conn.execute("PRAGMA cache_size=-2048")
        self._lock = threading.Lock()
        self._energy_cache: dict[tuple[str, date], float | None] = {}

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def rows(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, tuple(args)).fetchall()

    def one(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._conn.execute(sql, tuple(args)).fetchone()
            return row

    # -- inverters and their latest reading -------------------------------------------

    def inverters(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.rows("SELECT * FROM inverters ORDER BY serial")]

    def serials(self) -> list[str]:
        return [r["serial"] for r in self.rows("SELECT serial FROM inverters ORDER BY serial")]

    def latest(self, serial: str) -> dict[str, Any] | None:
        """The newest stored reading of an inverter, decoded."""
        row = self.one("SELECT * FROM readings WHERE serial = ? ORDER BY time DESC LIMIT 1", (serial,))
        return None if row is None else decode_row(row)

    def reading_count(self) -> int:
        row = self.one("SELECT MAX(id) FROM readings")
        return int(row[0] or 0) if row else 0

    def first_day(self, tz: tzinfo) -> date | None:
        row = self.one("SELECT MIN(time) FROM readings")
        if row is None or row[0] is None:
            return None
        return parse_utc(row[0]).astimezone(tz).date()

    # -- the day chart ---------------------------------------------------------------------

    def day_series(self, day: date, tz: tzinfo, points: int = DAY_POINTS) -> tuple[int, dict[str, list[SeriesPoint]]]:
        """Per inverter, the day's power as bucket means: (bucket seconds, serial -> points).

        Decimation rule: the local day is cut into ``points`` equal buckets from
        local midnight (120 s each for 720 points); each bucket holding at least
        one reading with a power value becomes one point, at the mean time of
        those readings, with their mean power.  A bucket with one reading is that
        reading exactly.
        """
        start, end = day_bounds(day, tz)  # 23 or 25 hours on DST days: a few buckets fewer or more
        bucket = max(1, round(86400 / points))
        t0 = start.timestamp()
        rows = self.rows(
            # whole seconds for the bucket index: exact at bucket edges (julianday's float is not)
            "SELECT serial, (CAST(strftime('%s', time) AS INTEGER) - ?) / ? AS b,"
            " AVG((julianday(time) - 2440587.5) * 86400.0) AS t, AVG(pac) AS w, COUNT(*) AS n"
            " FROM readings WHERE time >= ? AND time < ? AND pac IS NOT NULL"
            " GROUP BY serial, b ORDER BY serial, b",
            (int(t0), bucket, utc_text(start), utc_text(end)),
        )
        out: dict[str, list[SeriesPoint]] = {}
        for r in rows:
            out.setdefault(r["serial"], []).append(SeriesPoint(float(r["t"]), float(r["w"]), int(r["n"])))
        return bucket, out

    # -- energy --------------------------------------------------------------------------------

    def day_energy(self, serial: str, day: date, tz: tzinfo, *, today: date) -> float | None:
        """kWh produced by one inverter on a local day (see the module docstring); None: no data."""
        key = (serial, day)
        if day < today and key in self._energy_cache:
            return self._energy_cache[key]
        start, end = day_bounds(day, tz)
        s, e = utc_text(start), utc_text(end)
        value: float | None = None
        row = self.one(
            "SELECT e_today FROM readings WHERE serial = ? AND time >= ? AND time < ? AND e_today IS NOT NULL"
            " ORDER BY time DESC LIMIT 1",
            (serial, s, e),
        )
        if row is not None:
            value = float(row[0])
        else:
            last = self.one(
                "SELECT e_total FROM readings WHERE serial = ? AND time >= ? AND time < ? AND e_total IS NOT NULL"
                " ORDER BY time DESC LIMIT 1",
                (serial, s, e),
            )
            before = self.one(
                "SELECT e_total FROM readings WHERE serial = ? AND time < ? AND e_total IS NOT NULL"
                " ORDER BY time DESC LIMIT 1",
                (serial, s),
            )
            if last is not None and before is not None:
                value = max(0.0, round(float(last[0]) - float(before[0]), 3))
        if day < today:
            self._energy_cache[key] = value
        return value

    def energy_days(
        self, first: date, last: date, tz: tzinfo, serials: Iterable[str], *, today: date
    ) -> dict[date, dict[str, float | None]]:
        """Day -> serial -> kWh for every day from ``first`` to ``last`` inclusive."""
        serial_list = list(serials)
        out: dict[date, dict[str, float | None]] = {}
        d = first
        while d <= last:
            out[d] = {s: (None if d > today else self.day_energy(s, d, tz, today=today)) for s in serial_list}
            d += timedelta(days=1)
        return out

    # -- events, PVOutput queue -------------------------------------------------------------------

    def events(self, *, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
        if before is None:
            rows = self.rows("SELECT * FROM events ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = self.rows("SELECT * FROM events WHERE id < ? ORDER BY id DESC LIMIT ?", (before, limit))
        return [dict(r) for r in rows]

    def queue_summary(self) -> list[dict[str, Any]]:
        """Per PVOutput system: slots by status, the oldest pending slot, the last one sent."""
        systems: dict[int, dict[str, Any]] = {}
        for r in self.rows("SELECT system_id, status, COUNT(*) AS n FROM pvoutput_queue GROUP BY system_id, status"):
            entry = systems.setdefault(
                int(r["system_id"]),
                {"system": int(r["system_id"]), "pending": 0, "sending": 0, "sent": 0, "rejected": 0},
            )
            entry[r["status"]] = int(r["n"])
        for sid, entry in systems.items():
            oldest = self.one(
                "SELECT date, time, slot_utc FROM pvoutput_queue WHERE status = 'pending' AND system_id = ?"
                " ORDER BY slot_utc LIMIT 1",
                (sid,),
            )
            entry["oldest_pending"] = None if oldest is None else parse_utc(oldest["slot_utc"]).isoformat()
            sent = self.one(
                "SELECT slot_utc, updated FROM pvoutput_queue WHERE status = 'sent' AND system_id = ?"
                " ORDER BY slot_utc DESC LIMIT 1",
                (sid,),
            )
            entry["last_sent_slot"] = None if sent is None else parse_utc(sent["slot_utc"]).isoformat()
            rejected = self.one(
                "SELECT date, time, reason FROM pvoutput_queue WHERE status = 'rejected' AND system_id = ?"
                " ORDER BY slot_utc DESC LIMIT 1",
                (sid,),
            )
            entry["last_rejected"] = None if rejected is None else dict(rejected)
        return [systems[k] for k in sorted(systems)]


def decode_row(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "time": parse_utc(row["time"]),
        "serial": row["serial"],
        "mode": row["mode"],
        "faults": list(json.loads(row["faults_json"])),
        "values": json.loads(row["values_json"]),
        "rejected": json.loads(row["rejected_json"]),
    }


def day_bounds(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """Local midnight to the next local midnight, as aware datetimes (23 or 25 h on DST days)."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    nxt = day + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def month_days(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def summed(series: dict[str, list[SeriesPoint]], hold: float = HOLD_SECONDS) -> list[tuple[float, float]]:
    """The site's power: at each point of any inverter, the sum of every inverter's latest value.

    An inverter's value holds until its next point, for at most ``hold``
    seconds (then it counts 0: asleep, or a gap in the data).
    """
    events = sorted((p.t, serial, p.w) for serial, points in series.items() for p in points)
    last: dict[str, tuple[float, float]] = {}
    out: list[tuple[float, float]] = []
    for t, serial, w in events:
        last[serial] = (t, w)
        total = sum(v for (ts, v) in last.values() if t - ts <= hold)
        if out and out[-1][0] == t:
            out[-1] = (t, total)
        else:
            out.append((t, total))
    return out
