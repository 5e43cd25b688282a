"""The JSON API under ``/api/`` (documented in docs/web.md), independent of HTTP.

Every answer is built from three read-only sources: the live snapshot
(:mod:`pvapp.web.state`), the web server's own database connection
(:mod:`pvapp.web.queries`) and the monitor's counters
(:func:`pvapp.web.metrics.monitor_counters`).  Values use the canonical
quantities of ``pvgen.runtime.quantities`` and the terminal's number formats
(``pvapp.monitor.display.format_value`` with each spec field's resolution);
times are given in UTC (ISO 8601) and as local text in the site's time zone.
"""

from __future__ import annotations

import importlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from pvapp.clock import day_problem, month_problem, year_problem
from pvapp.monitor.display import _units, format_value
from pvapp.reading import InverterInfo, Reading
from pvgen.runtime.quantities import BY_ID, QUANTITIES

from .queries import ReadOnlyDB, month_days, summed
from .state import LiveState, Snapshot, reading_from_row

MAIN_IDS = ("pac", "e_today", "e_total")
QUEUE_TTL = 5.0  # s


class BadRequest(ValueError):
    """A query parameter is wrong: a 400 with this one line."""


@dataclass
class Site:
    """What the API knows about the site besides the database."""

    tz: tzinfo
    tz_name: str
    title: str = "pv"
    poll_interval: float = 10.0
    now: Callable[[], datetime] = field(default=lambda: datetime.now().astimezone())
    names: dict[str, str] = field(default_factory=dict)  # serial -> configured name
    names_by_slot: dict[tuple[str, int | None], str] = field(default_factory=dict)  # (port, address) -> name
    configured: list[dict[str, Any]] = field(default_factory=list)  # configured inverters not yet seen
    pvoutput: bool = False
    mqtt_host: str | None = None
    demo: bool = False
    version: str = ""


def site_from_config(cfg: Any, now: Callable[[], datetime]) -> Site:
    names: dict[str, str] = {}
    by_slot: dict[tuple[str, int | None], str] = {}
    configured: list[dict[str, Any]] = []
    for p in cfg.ports:
        for j, inv in enumerate(p.inverters):
            if inv.name:
                if inv.serial:
                    names[inv.serial] = inv.name
                by_slot[(p.port, j + 1)] = inv.name
                if len(p.inverters) == 1:
                    by_slot[(p.port, None)] = inv.name
            configured.append({"port": p.port, "serial": inv.serial, "name": inv.name, "spec": inv.spec})
    mqtt_host = None
    if cfg.mqtt_config is not None:
        mqtt_host = f"{getattr(cfg.mqtt_config, 'host', '?')}:{getattr(cfg.mqtt_config, 'port', '?')}"
    return Site(
        tz=cfg.timezone,
        tz_name=cfg.timezone_name,
        title=cfg.web.title or "pv",
        poll_interval=cfg.poll_interval,
        now=now,
        names=names,
        names_by_slot=by_slot,
        configured=configured,
        pvoutput=cfg.pvoutput is not None and bool(cfg.pvoutput_systems),
        mqtt_host=mqtt_host,
        demo=cfg.demo,
        version=package_version(),
    )


def package_version() -> str:
    try:
        from importlib.metadata import version

        return version("pv")
    except Exception:
        return "unknown"


class Api:
    def __init__(self, site: Site, db: ReadOnlyDB, live: LiveState, monitor: Any = None) -> None:
        self.site = site
        self.db = db
        self.live = live
        self.monitor = monitor
        self._units: dict[str, dict[str, tuple[str, int]]] = {}
        self._queue: tuple[float, list[dict[str, Any]]] | None = None

    # -- helpers ------------------------------------------------------------------------------

    def units(self, spec_id: str) -> dict[str, tuple[str, int]]:
        if spec_id not in self._units:
            self._units[spec_id] = _units(spec_id)
        return self._units[spec_id]

    def local(self, t: datetime | None) -> str | None:
        return None if t is None else t.astimezone(self.site.tz).strftime("%Y-%m-%d %H:%M:%S")

    def today(self) -> date:
        return self.site.now().astimezone(self.site.tz).date()

    def name_of(self, info: InverterInfo) -> str:
        return self.site.names.get(info.serial) or self.site.names_by_slot.get((info.port, info.address), "")

    def seed(self) -> None:
        """Fill the live state from the database: after a restart the last totals show at once."""
        for row in self.db.inverters():
            info = InverterInfo(
                serial=row["serial"],
                spec_id=row["spec_id"],
                port=row["port"],
                address=row["address"],
                model=row["model"],
                manufacturer=row["manufacturer"],
                firmware=row["firmware"],
                va_rating=row["va_rating"],
            )
            latest = self.db.latest(info.serial)
            self.live.seed(info, None if latest is None else reading_from_row(info, latest))

    def values(self, reading: Reading) -> list[dict[str, Any]]:
        """The canonical values of a reading in display order, with units and terminal text."""
        units = self.units(reading.inverter.spec_id)
        out = []
        for q in QUANTITIES:
            if q.id not in reading.values or q.id in ("mode", "error"):
                continue
            value = reading.values[q.id]
            unit, decimals = units.get(q.id, (q.unit, None))
            out.append(
                {
                    "id": q.id,
                    "label": q.label,
                    "unit": unit,
                    "value": value,
                    "text": format_value(value, unit, decimals),
                    "refused": reading.rejected.get(q.id),
                }
            )
        return out

    # -- /api/overview ---------------------------------------------------------------------------

    def overview(self, snap: Snapshot | None = None) -> dict[str, Any]:
        snap = snap or self.live.snapshot()
        now = self.site.now()
        inverters = []
        pac_total = 0.0
        e_today_total = 0.0
        e_decimals = 1
        have_pac = have_e = False
        for serial in sorted(snap.inverters):
            inv = snap.inverters[serial]
            r = inv.reading
            values = self.values(r) if r is not None else []
            by_id = {v["id"]: v for v in values}
            fresh = r is not None and r.time.astimezone(self.site.tz).date() == now.astimezone(self.site.tz).date()
            if inv.state == "awake" and "pac" in by_id and by_id["pac"]["value"] is not None:
                pac_total += float(by_id["pac"]["value"])
                have_pac = True
            if fresh and "e_today" in by_id and by_id["e_today"]["value"] is not None:
                e_today_total += float(by_id["e_today"]["value"])
                e_decimals = max(e_decimals, self.units(inv.info.spec_id).get("e_today", ("", 1))[1])
                have_e = True
            inverters.append(
                {
                    "serial": serial,
                    "name": self.name_of(inv.info),
                    "model": inv.info.model,
                    "manufacturer": inv.info.manufacturer,
                    "firmware": inv.info.firmware,
                    "spec": inv.info.spec_id,
                    "port": inv.info.port,
                    "address": inv.info.address,
                    "state": inv.state,
                    "state_since": None if inv.state_since is None else inv.state_since.isoformat(),
                    "state_since_local": self.local(inv.state_since),
                    "last_reading": None if r is None else r.time.isoformat(),
                    "last_reading_local": self.local(r.time if r else None),
                    "today": fresh,
                    "mode": "" if r is None else r.mode,
                    "faults": [] if r is None else list(r.faults),
                    "values": values,
                    "readings_this_run": inv.readings,
                }
            )
        seen = set(snap.inverters)
        waiting = [c for c in self.site.configured if not c["serial"] or c["serial"] not in seen]
        if len(waiting) > len(self.site.configured) - len(seen):  # "auto" slots filled by a seen inverter
            waiting = [c for c in waiting if c["serial"]]
        return {
            "site": {
                "title": self.site.title,
                "timezone": self.site.tz_name,
                "now": now.isoformat(),
                "now_local": self.local(now),
                "today": now.astimezone(self.site.tz).date().isoformat(),
                "poll_interval": self.site.poll_interval,
                "demo": self.site.demo,
                "version": self.site.version,
            },
            "monitor": self.monitor_status(snap),
            "totals": {
                "pac": {
                    "value": pac_total if have_pac else None,
                    "text": format_value(pac_total if have_pac else None, "W", 0),
                },
                "e_today": {
                    "value": round(e_today_total, 3) if have_e else None,
                    "text": format_value(e_today_total if have_e else None, "kWh", e_decimals),
                },
            },
            "inverters": inverters,
            "waiting": waiting,
            "pvoutput": self.pvoutput(),
            "mqtt": self.mqtt(),
            "version": snap.version,
        }

    def monitor_status(self, snap: Snapshot) -> dict[str, Any]:
        m = self.monitor
        out: dict[str, Any] = {"started": snap.started.isoformat(), "started_local": self.local(snap.started)}
        if m is not None:
            out["readings_stored"] = int(getattr(m, "readings_stored", 0))
            out["store_failures"] = int(getattr(m, "store_failures", 0))
            healthy = getattr(m, "healthy", None)
            try:
                out["healthy"] = bool(healthy()) if callable(healthy) else None
            except Exception:
                out["healthy"] = False
        return out

    def pvoutput(self) -> dict[str, Any]:
        """The queue summary, at most QUEUE_TTL old: it groups the whole queue, and live pages ask every second."""
        if not self.site.pvoutput:
            return {"configured": False, "systems": []}
        now = time.monotonic()
        if self._queue is None or now - self._queue[0] > QUEUE_TTL:
            self._queue = (now, self.db.queue_summary())
        return {"configured": True, "systems": self._queue[1]}

    def mqtt(self) -> dict[str, Any]:
        out = mqtt_output(self.monitor)
        if out is None:
            return {"configured": self.site.mqtt_host is not None, "broker": self.site.mqtt_host, "connected": None}
        return {
            "configured": True,
            "broker": self.site.mqtt_host,
            "connected": bool(getattr(out, "connected", False)),
            "backlog": int(getattr(out, "backlog", 0) or 0),
        }

    # -- /api/day, /api/month, /api/year, /api/years ---------------------------------------------

    def serial_list(self, snap: Snapshot | None = None) -> list[str]:
        serials = set(self.db.serials())
        if snap is not None:
            serials |= set(snap.inverters)
        return sorted(serials)

    def labels(self) -> dict[str, str]:
        snap = self.live.snapshot()
        return {s: (self.name_of(inv.info) or s) for s, inv in snap.inverters.items()}

    def day(self, day_text: str | None) -> dict[str, Any]:
        day = parse_date(day_text, self.today())
        bucket, series = self.db.day_series(day, self.site.tz)
        today = self.today()
        serials = self.serial_list()
        energy = {s: self.db.day_energy(s, day, self.site.tz, today=today) for s in serials}
        total_points = summed(series)
        return {
            "date": day.isoformat(),
            "timezone": self.site.tz_name,
            "bucket_seconds": bucket,
            "decimation": f"mean of the readings in each {bucket} s bucket from local midnight",
            "series": [
                {"serial": s, "label": self.labels().get(s, s), "points": [[round(p.t, 3), round(p.w, 1)] for p in pts]}
                for s, pts in sorted(series.items())
            ],
            "total": [[round(t, 3), round(w, 1)] for t, w in total_points],
            "peak_w": round(max((w for _, w in total_points), default=0.0), 1) if total_points else None,
            "energy_kwh": energy,
            "total_kwh": _sum(energy.values()),
            "previous": (day - timedelta(days=1)).isoformat(),
            "next": (day + timedelta(days=1)).isoformat() if day < today else None,
        }

    def month(self, month_text: str | None) -> dict[str, Any]:
        today = self.today()
        year, month = parse_month(month_text, today)
        first, last = month_days(year, month)
        serials = self.serial_list()
        days = self.db.energy_days(first, last, self.site.tz, serials, today=today)
        rows = [
            {"date": d.isoformat(), "day": d.day, "energy_kwh": per, "total_kwh": _sum(per.values())}
            for d, per in days.items()
        ]
        prev_month = (first - timedelta(days=1)).strftime("%Y-%m")
        next_first = last + timedelta(days=1)
        return {
            "month": f"{year:04d}-{month:02d}",
            "serials": serials,
            "labels": self.labels(),
            "days": rows,
            "energy_kwh": {s: _sum(per[s] for per in days.values()) for s in serials},
            "total_kwh": _sum(r["total_kwh"] for r in rows),
            "previous": prev_month,
            "next": next_first.strftime("%Y-%m") if next_first <= today else None,
        }

    def year(self, year_text: str | None) -> dict[str, Any]:
        today = self.today()
        year = parse_year(year_text, today)
        serials = self.serial_list()
        months: list[dict[str, Any]] = []
        for m in range(1, 13):
            first, last = month_days(year, m)
            if first > today:
                months.append({"month": f"{year:04d}-{m:02d}", "energy_kwh": dict.fromkeys(serials), "total_kwh": None})
                continue
            days = self.db.energy_days(first, min(last, today), self.site.tz, serials, today=today)
            per = {s: _sum(d[s] for d in days.values()) for s in serials}
            months.append({"month": f"{year:04d}-{m:02d}", "energy_kwh": per, "total_kwh": _sum(per.values())})
        return {
            "year": year,
            "serials": serials,
            "labels": self.labels(),
            "months": months,
            "energy_kwh": {s: _sum(m["energy_kwh"][s] for m in months) for s in serials},
            "total_kwh": _sum(m["total_kwh"] for m in months),
            "previous": year - 1,
            "next": year + 1 if year < today.year else None,
        }

    def years(self) -> dict[str, Any]:
        today = self.today()
        first = self.db.first_day(self.site.tz)
        serials = self.serial_list()
        out = []
        if first is not None:
            for y in range(first.year, today.year + 1):
                start = max(first, date(y, 1, 1))
                end = min(today, date(y, 12, 31))
                days = self.db.energy_days(start, end, self.site.tz, serials, today=today)
                per = {s: _sum(d[s] for d in days.values()) for s in serials}
                out.append({"year": y, "energy_kwh": per, "total_kwh": _sum(per.values())})
        return {
            "serials": serials,
            "labels": self.labels(),
            "years": out,
            "total_kwh": _sum(y["total_kwh"] for y in out),
        }

    # -- /api/events ---------------------------------------------------------------------------

    def events(self, limit_text: str | None, before_text: str | None) -> dict[str, Any]:
        limit = parse_int(limit_text, "limit", 100, 1, 1000)
        before = parse_int(before_text, "before", 0, 1, 2**62) if before_text else None
        rows = self.db.events(limit=limit, before=before)
        events = []
        for r in rows:
            t = datetime.fromisoformat(r["time"].replace("Z", "+00:00"))
            events.append(
                {
                    "id": r["id"],
                    "time": t.isoformat(),
                    "local": self.local(t),
                    "serial": r["serial"],
                    "port": r["port"],
                    "kind": r["kind"],
                    "detail": r["detail"],
                    "text": event_text(r["kind"], r["detail"]),
                }
            )
        return {"events": events, "more": len(rows) == limit}

    def quantities(self) -> dict[str, Any]:
        return {
            "quantities": [
                {"id": q.id, "label": q.label, "unit": q.unit, "group": q.group, "doc": q.doc} for q in QUANTITIES
            ]
        }


# -- parsing and small helpers -------------------------------------------------------------------

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH = re.compile(r"^\d{4}-\d{2}$")


def parse_date(text: str | None, default: date, name: str = "date") -> date:
    """A day from the query parameter ``name``; outside ``pvapp.clock``'s range is a 400 like any typo."""
    if not text or text == "today":
        return default
    if not _DATE.match(text):
        raise BadRequest(f"{name}: {text[:40]!r} is not a date (YYYY-MM-DD)")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{name}: {text!r} is not a date (YYYY-MM-DD)") from None
    problem = day_problem(day)
    if problem is not None:
        raise BadRequest(f"{name}: {problem}")
    return day


def parse_month(text: str | None, default: date) -> tuple[int, int]:
    if not text:
        return default.year, default.month
    if not _MONTH.match(text) or not 1 <= int(text[5:]) <= 12:
        raise BadRequest(f"month: {text[:40]!r} is not a month (YYYY-MM)")
    year, month = int(text[:4]), int(text[5:])
    problem = month_problem(year, month)
    if problem is not None:
        raise BadRequest(f"month: {problem}")
    return year, month


def parse_year(text: str | None, default: date) -> int:
    if not text:
        return default.year
    if not text.isdigit() or len(text) != 4:
        raise BadRequest(f"year: {text[:40]!r} is not a year (YYYY)")
    problem = year_problem(int(text))
    if problem is not None:
        raise BadRequest(f"year: {problem}")
    return int(text)


def parse_int(text: str | None, name: str, default: int, lo: int, hi: int) -> int:
    if text is None or text == "":
        return default
    if not text.isdigit() or not lo <= int(text) <= hi:
        raise BadRequest(f"{name}: expected a whole number from {lo} to {hi}, got {text[:40]!r}")
    return int(text)


def _sum(values: Any) -> float | None:
    got = [float(v) for v in values if v is not None]
    return round(sum(got), 3) if got else None


EVENT_WORDS = {
    "found": "inverter found",
    "awake": "awake",
    "asleep": "asleep",
    "lost": "connection lost",
    "reconnect": "port reopened",
}


def event_text(kind: str, detail: str) -> str:
    head = EVENT_WORDS.get(kind, kind.replace("_", " "))
    return f"{head}: {detail}" if detail else head


def mqtt_output(monitor: Any) -> Any:
    """The monitor's MQTT output, if it has one (found by name among its output runners)."""
    if monitor is None:
        return None
    for runner in getattr(monitor, "runners", ()):
        out = getattr(runner, "output", None)
        if type(out).__name__ == "MqttOutput":
            return out
    return None


def quantity_unit(qid: str) -> str:
    q = BY_ID.get(qid)
    return q.unit if q else ""


def spec_module(spec_id: str) -> Any:
    return importlib.import_module(f"pv.{spec_id}")
