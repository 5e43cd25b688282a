"""A local PVOutput service for honest tests: real HTTP on loopback, PVOutput's rules and texts.

It validates requests with the same ``SERVICE`` declaration the client is generated
from (``pv.pvoutput.SERVICE``) and answers with the exact reply formats and error texts
of API.md.  Behaviour the real service has and clients trip over is reproduced on
purpose: the hourly quota with its 403 text, the 14/90-day window, Moon Powered at
night at the system's location, per-row batch flags, upserts, silently ignored
exports.  Faults (5xx, timeouts, dropped connections, Load in progress, OK-but-ignored
writes) are scripted through ``inject``; everything received can be inspected.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from pv.pvoutput import SERVICE

from pvgen.runtime.pvoutput.model import OperationDef, ParamDef
from pvgen.runtime.pvoutput.timeutil import align
from pvgen.runtime.pvoutput.values import (
    ParamError,
    decode_param,
    decode_record,
    format_date,
    format_decimal,
    format_row,
    format_time,
)

from .solar import elevation, is_daylight

log = logging.getLogger("pvapp.pvoutput_service")

KeyMode = Literal["standard", "read_only", "disabled"]
FaultKind = Literal["http", "delay", "drop", "load_in_progress", "ignore_write"]


@dataclass
class System:
    """One PVOutput system: what the server knows and enforces about it."""

    system_id: int
    name: str = "Test System"
    size: int = 5000  # W
    donation: bool = False
    status_interval: int = 5
    tz: str = "Australia/Brisbane"
    latitude: float = -27.47
    longitude: float = 153.03
    postcode: str = "4000"
    panels: int = 20
    panel_power: int = 250
    panel_brand: str = "Solarfun"
    inverters: int = 1
    inverter_power: int = 5000
    inverter_brand: str = "Samil"
    orientation: str = "N"
    array_tilt: float = 20.0
    shade: str = "No"
    install_date: date = date(2012, 1, 1)
    tariffs: tuple[float, ...] = (0.08, 0.28, 0.15, 0.2, 0.25, 1.1)
    statuses: dict[tuple[date, time], dict[str, Any]] = field(default_factory=dict)
    outputs: dict[date, dict[str, Any]] = field(default_factory=dict)  # explicit addoutput fields

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)


@dataclass
class Key:
    key: str
    system_ids: set[int]
    mode: KeyMode = "standard"


@dataclass
class Fault:
    """A scripted misbehaviour for the next ``times`` matching requests."""

    kind: FaultKind
    status: int = 503
    body: str = "Service Unavailable 503: Service Unavailable"
    delay: float = 0.0
    path: str | None = None  # e.g. "addbatchstatus.jsp"; None = any
    times: int = 1


@dataclass(frozen=True)
class RequestRecord:
    """One request as received, for tests to check effects rather than return codes."""

    at: float
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int
    body: str
    quota_used_before: int | None  # requests already counted this hour for the key


class _Reply(Exception):
    def __init__(self, status: int, body: str, blocking: bool = False) -> None:
        super().__init__(body)
        self.status = status
        self.body = body
        self.blocking = blocking  # in a batch: refuses the whole batch instead of flagging the row


# A value too high for the system size refuses a whole batch: one INT_MAX reading
# blocked every later upload in sma-bluetooth#92.  Other row problems only flag the row.
_BLOCKING = ("power_too_high", "energy_too_high", "value_too_high")


def _err(kind: str, status: int = 400, **values: Any) -> _Reply:
    return _Reply(status, SERVICE.error_text(kind).format(**values), blocking=kind in _BLOCKING)


class PVOutputService:
    """The fake service.  Use as a context manager or call ``start()``/``stop()``."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = _time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        spec_rate_text: bool = False,
    ) -> None:
        self.clock = clock
        self.systems: dict[int, System] = {}
        self.keys: dict[str, Key] = {}
        self.spec_rate_text = spec_rate_text  # the spec's generic 403 wording instead of the live one
        self.requests: list[RequestRecord] = []
        self._faults: list[Fault] = []
        self._counts: dict[tuple[str, str, int], int] = {}  # (key, bucket, hour) -> requests
        self._lock = threading.RLock()
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.service = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # ---- setup ----------------------------------------------------------------

    def add_system(self, system_id: int, **options: Any) -> System:
        system = System(system_id, **options)
        with self._lock:
            self.systems[system_id] = system
        return system

    def add_key(self, key: str, *system_ids: int, mode: KeyMode = "standard") -> Key:
        entry = Key(key, set(system_ids), mode)
        with self._lock:
            self.keys[key] = entry
        return entry

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def consume(self, key: str, count: int, bucket: str = "default") -> None:
        """Spend quota as another app sharing the key would (the client cannot know)."""
        with self._lock:
            slot = (key, bucket, self._hour())
            self._counts[slot] = self._counts.get(slot, 0) + count

    # ---- lifecycle ------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PVOutputService:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="pvoutput-service", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> PVOutputService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- inspection -----------------------------------------------------------

    def statuses(self, system_id: int) -> dict[tuple[date, time], dict[str, Any]]:
        with self._lock:
            return {k: dict(v) for k, v in self.systems[system_id].statuses.items()}

    def outputs(self, system_id: int) -> dict[date, dict[str, Any]]:
        """Each day's output as getoutput would report it (explicit fields over status-derived)."""
        with self._lock:
            system = self.systems[system_id]
            days = set(system.outputs) | {d for d, _ in system.statuses}
            return {d: self._output(system, d) for d in sorted(days)}

    def request_count(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path == path)

    def quota_used(self, key: str, bucket: str = "default") -> int:
        with self._lock:
            return self._counts.get((key, bucket, self._hour()), 0)

    # ---- request handling -----------------------------------------------------

    def _hour(self) -> int:
        return int(self.clock() // 3600)

    def _take_fault_for(self, method: str, path: str, params: dict[str, str], headers: dict[str, str]) -> Fault | None:
        """The transport-level fault for this request, if one is scripted; it is recorded too."""
        name = path.rsplit("/", 1)[-1]
        with self._lock:
            for fault in self._faults:
                if fault.kind != "ignore_write" and fault.times > 0 and fault.path in (None, name):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    if fault.kind != "delay":
                        status = {"drop": 0, "http": fault.status, "load_in_progress": 400}[fault.kind]
                        self.requests.append(
                            RequestRecord(
                                self.clock(), method, path, dict(params), dict(headers), status, fault.kind, None
                            )
                        )
                    return fault
        return None

    def handle(
        self, method: str, path: str, params: dict[str, str], headers: dict[str, str]
    ) -> tuple[int, str, dict[str, str]]:
        """One request → (status, body, extra headers).  Faults are applied by the HTTP layer."""
        extra: dict[str, str] = {}
        used_before: int | None = None
        with self._lock:
            try:
                if method not in ("GET", "POST"):
                    raise _err("method_not_allowed", 405)
                if not path.startswith(SERVICE.base_path):
                    raise _Reply(404, "Not Found 404: Unknown service")
                name = path[len(SERVICE.base_path) :]
                if name not in SERVICE.paths():
                    raise _Reply(404, f"Not Found 404: Unknown service [{name}]")
                key, system = self._authenticate(params, headers)
                op = SERVICE.resolve(name, params)
                assert op is not None
                used_before, extra = self._count(key, system, op, headers)
                if op.write and key.mode == "read_only":
                    raise _err("read_only", 403)
                status, body = 200, self._dispatch(op, system, key, params)
            except _Reply as reply:
                status, body = reply.status, reply.body
                if isinstance(reply, _RateReply):
                    extra = reply.headers
            self.requests.append(
                RequestRecord(self.clock(), method, path, dict(params), dict(headers), status, body, used_before)
            )
        return status, body, extra

    def _authenticate(self, params: dict[str, str], headers: dict[str, str]) -> tuple[Key, System]:
        low = {k.lower(): v for k, v in headers.items()}
        sid = low.get("x-pvoutput-systemid", params.get("sid", "")).strip()
        raw_key = low.get("x-pvoutput-apikey", params.get("key", "")).strip()
        if not sid.isdigit():
            raise _err("invalid_system_id", 401)
        key = self.keys.get(raw_key)
        if key is None:
            raise _err("invalid_key", 401)
        if key.mode == "disabled":
            raise _err("disabled_key", 401)
        system = self.systems.get(int(sid))
        if system is None or system.system_id not in key.system_ids:
            raise _err("key_mismatch", 401)
        return key, system

    def _count(self, key: Key, system: System, op: OperationDef, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        """Hourly buckets per key that refill on the hour; headers only if asked for."""
        lim = SERVICE.limits
        hour = self._hour()
        main = (key.key, "default", hour)
        limit = lim.rate_donation if system.donation else lim.rate_free
        used = self._counts.get(main, 0)
        want = {k.lower(): v for k, v in headers.items()}.get("x-rate-limit") == "1"
        extra: dict[str, str] = {}

        def rate_headers(count: int) -> dict[str, str]:
            if not want:
                return {}
            return {
                "X-Rate-Limit-Remaining": str(max(limit - count, 0)),
                "X-Rate-Limit-Limit": str(limit),
                "X-Rate-Limit-Reset": str((hour + 1) * 3600),
            }

        if used >= limit:
            extra = rate_headers(used)
            text = SERVICE.error_text("rate_limit_spec") if self.spec_rate_text else SERVICE.error_text("rate_limit")
            raise _RateReply(403, text.format(limit=limit), extra)
        if op.rate_bucket == "statistic":
            stat = (key.key, "statistic", hour)
            stat_limit = lim.statistic_rate_donation if system.donation else lim.statistic_rate_free
            if self._counts.get(stat, 0) >= stat_limit:
                text = SERVICE.error_text("rate_limit").format(limit=stat_limit)
                raise _RateReply(403, text, rate_headers(used))
            self._counts[stat] = self._counts.get(stat, 0) + 1
        self._counts[main] = used + 1
        return used, rate_headers(used + 1)

    # ---- parameters -----------------------------------------------------------

    def _read(self, op: OperationDef, system: System, params: dict[str, str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for p in op.params:
            raw = params.get(p.key)
            if raw is None or raw == "":
                if p.required:
                    raise _err("could_not_read", key=p.key)
                continue
            if p.donation and not system.donation:
                raise _err("donation", 403)
            try:
                value = decode_param(p, raw)
            except ParamError as exc:
                raise _err("could_not_read", key=exc.key) from None
            if p.max_len is not None and isinstance(value, str) and len(value) > p.max_len:
                raise _err("could_not_read", key=p.key)
            self._check_limits(p, value, system, params)
            values[p.key] = value
        if op.donation and not system.donation:
            raise _err("donation", 403)
        return values

    @staticmethod
    def _check_limits(p: ParamDef, value: Any, system: System, params: dict[str, str]) -> None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return
        caps = [p.max]
        if not params.get("c1"):  # PVOutput lifts the v3/v4 caps for cumulative uploads (yaleman#276)
            caps.append(p.max_donation if system.donation else p.max_free)
        for cap in caps:
            if cap is not None and value > cap:
                raise _err("value_too_high", key=p.key, limit=f"{int(cap):,}", value=format_decimal(value))
        if p.min is not None and value < p.min:
            raise _err("could_not_read", key=p.key)

    def _now(self, system: System) -> datetime:
        return datetime.fromtimestamp(self.clock(), system.zone)

    # ---- operations -----------------------------------------------------------

    def _dispatch(self, op: OperationDef, system: System, key: Key, params: dict[str, str]) -> str:
        values = self._read(op, system, params)
        if "sid1" in values:
            other = self.systems.get(values["sid1"])
            if other is None:
                raise _err("inaccessible_system", 401)
            system = other
        handler = getattr(self, f"_op_{op.name}")
        result: str = handler(op, system, values, params)
        return result

    def _check_status(self, system: System, v: dict[str, Any], cumulative: int | None, net: bool) -> tuple[date, time]:
        """PVOutput's add-status rules for one status; raises the exact 400 on failure."""
        d: date = v["d"]
        t = align(v["t"], system.status_interval)
        now = self._now(system)
        days = SERVICE.limits.status_days_donation if system.donation else SERVICE.limits.status_days_free
        if (d, t) > (now.date(), align(now.time(), system.status_interval)):
            raise _err("date_in_future", date=format_date(d))
        if d < now.date() - timedelta(days=days):
            raise _err("date_too_old", days=days, date=format_date(d))
        if net and cumulative:
            raise _err("invalid_net_cumulative")
        if net and ("v2" not in v or "v4" not in v):
            raise _err("missing_net")
        power = v.get("v2")
        if power is not None and not net and power > 2 * system.size:
            raise _err("power_too_high", value=power, size=system.size)
        energy = v.get("v1")
        if energy is not None and cumulative not in (1, 2) and energy > 12 * system.size:
            raise _err("energy_too_high", value=energy, size=system.size)
        moment = datetime.combine(d, t, system.zone)
        if not is_daylight(moment, system.latitude, system.longitude):
            before_sunrise = moment.hour < 12
            if (power or 0) > 0 and not net:
                raise _err("moon_powered")
            if (energy or 0) > 0 and before_sunrise and cumulative not in (1, 2):
                raise _err("moon_powered")
        if cumulative in (1, 2) and energy is not None:
            earlier = [s["v1"] for (sd, st), s in system.statuses.items() if (sd, st) < (d, t) and "v1" in s]
            if earlier and energy < max(earlier):
                raise _err("energy_lower", value=energy, previous=max(earlier))
        return d, t

    def _store_status(self, system: System, d: date, t: time, v: dict[str, Any], ignored: bool) -> None:
        if ignored:
            return
        stored = {k: val for k, val in v.items() if k not in ("d", "t")}
        system.statuses[(d, t)] = stored  # upsert by date and aligned time

    def _op_add_status(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        need = op.need_one_of + (op.need_one_of_donation if system.donation else ())
        if not any(k in v for k in need):
            raise _err("missing_values")
        d, t = self._check_status(system, v, v.get("c1"), bool(v.get("n")))
        self._store_status(system, d, t, v, self._ignore_write())
        return SERVICE.error_text("added_status")

    def _op_add_batch_status(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        p = op.param("data")
        assert p is not None
        record = SERVICE.record(p.record)
        rows = [r for r in str(v["data"]).split(";") if r]
        limit = p.batch_donation if system.donation else p.batch_free
        if len(rows) > limit:
            raise _err("batch_too_large", count=len(rows), limit=limit)
        parsed: list[dict[str, Any]] = []
        for row in rows:
            try:
                fields = decode_record(record, row)
            except ParamError as exc:
                raise _err("could_not_read", key=exc.key) from None  # one unreadable row blocks the batch
            for f in record.fields:
                if f.key in fields and f.donation and not system.donation:
                    raise _err("donation", 403)
            parsed.append(fields)
        net = bool(v.get("n"))
        if net and len({r["d"] for r in parsed}) > 1:
            raise _err("could_not_read", key="d")
        ignored = self._ignore_write()
        results: list[str] = []
        stored = 0
        for fields in parsed:
            ok = True
            try:
                for f in record.fields:
                    if f.key in fields:
                        self._check_limits(f, fields[f.key], system, params)
                d, t = self._check_status(system, fields, v.get("c1"), net)
                if not any(k in fields for k in ("v1", "v2", "v3", "v4")) and not system.donation:
                    ok = False
            except _Reply as reply:
                if reply.blocking:
                    raise
                ok = False
            if ok:
                self._store_status(system, d, t, fields, ignored)
                stored += 1
            results.append(f"{format_date(fields['d'])},{format_time(fields['t'])},{1 if ok else 0}")
        if stored == 0:
            raise _err("no_statuses")
        return ";".join(results)

    def _check_output(self, system: System, v: dict[str, Any]) -> dict[str, Any]:
        d: date = v["d"]
        if d > self._now(system).date():
            raise _err("date_in_future", date=format_date(d))
        if d < date(2000, 1, 1):
            raise _err("date_too_old", days=(self._now(system).date() - d).days, date=format_date(d))
        if ("tm" in v) != ("tx" in v):
            raise _err("temperature_pair", date=format_date(d))
        if v.get("g") is not None and v["g"] > 12 * system.size:
            raise _err("energy_too_high", value=v["g"], size=system.size)
        if v.get("pp") is not None and v["pp"] > 1.5 * system.size:
            raise _err("peak_power_too_high", value=v["pp"], size=system.size)
        fields = {k: val for k, val in v.items() if k != "d"}
        generated = fields.get("g", self._output(system, d).get("generated"))
        if "e" in fields and generated is not None and fields["e"] > generated:
            del fields["e"]  # PVOutput answers OK and silently drops it (forum thread 8501)
        return fields

    def _op_add_output(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        fields = self._check_output(system, v)
        if not self._ignore_write():
            system.outputs.setdefault(v["d"], {}).update(fields)
        return SERVICE.error_text("added_output")

    def _op_add_outputs(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        p = op.param("data")
        assert p is not None
        record = SERVICE.record(p.record)
        rows = [r for r in str(v["data"]).split(";") if r]
        if len(rows) > p.batch_donation:
            raise _err("batch_too_large", count=len(rows), limit=p.batch_donation)
        checked = []
        for row in rows:
            try:
                fields = decode_record(record, row)
            except ParamError as exc:
                raise _err("could_not_read", key=exc.key) from None
            checked.append((fields["d"], self._check_output(system, fields)))
        if not self._ignore_write():
            for d, fields in checked:
                system.outputs.setdefault(d, {}).update(fields)
        return SERVICE.error_text("added_output")

    def _op_delete_status(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        d: date = v["d"]
        days = SERVICE.limits.delete_days_donation if system.donation else SERVICE.limits.delete_days_free
        if d < self._now(system).date() - timedelta(days=days):
            raise _err("delete_too_old", date=format_date(d), days=days)
        if "t" in v:
            system.statuses.pop((d, align(v["t"], system.status_interval)), None)
        else:
            for k in [k for k in system.statuses if k[0] == d]:
                del system.statuses[k]
        return SERVICE.error_text("deleted_status")

    # ---- reads ----------------------------------------------------------------

    def _day(self, system: System, d: date) -> list[tuple[time, dict[str, Any]]]:
        return sorted((t, s) for (sd, t), s in system.statuses.items() if sd == d)

    def _op_get_status(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        row = SERVICE.row(op.reply.row)
        found: tuple[date, time, dict[str, Any]] | None = None
        if "d" in v and "t" in v:
            t = align(v["t"], system.status_interval)
            if (v["d"], t) in system.statuses:
                found = (v["d"], t, system.statuses[(v["d"], t)])
        elif "d" in v:
            day = self._day(system, v["d"])
            if day:
                found = (v["d"], day[-1][0], day[-1][1])
        else:
            since = self._now(system).date() - timedelta(days=7)
            recent = sorted(k for k in system.statuses if k[0] >= since)
            if recent:
                found = (*recent[-1], system.statuses[recent[-1]])
        if found is None:
            raise _err("no_status")
        d, t, s = found
        values = {
            "date": d,
            "time": t,
            "energy_generation": s.get("v1"),
            "power_generation": s.get("v2"),
            "energy_consumption": s.get("v3"),
            "power_consumption": s.get("v4"),
            "normalised_output": round(s["v2"] / system.size, 3) if s.get("v2") is not None else None,
            "temperature": s.get("v5"),
            "voltage": s.get("v6"),
        }
        columns = row.columns[:9]
        if v.get("ext"):
            columns = row.columns
            values.update({f"extended_{i}": s.get(f"v{i + 6}") for i in range(1, 7)})
        return format_row(columns, values)

    def _op_get_status_history(
        self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]
    ) -> str:
        row = SERVICE.row(op.reply.row)
        d = v.get("d", self._now(system).date())
        day = self._day(system, d)
        out: list[dict[str, Any]] = []
        previous: int | None = None
        for t, s in day:
            energy = s.get("v1")
            avg = None
            if energy is not None and previous is not None:
                avg = round((energy - previous) * 60 / system.status_interval)
            previous = energy if energy is not None else previous
            out.append(
                {
                    "date": d,
                    "time": t,
                    "energy_generation": energy,
                    "energy_efficiency": round(energy / system.size, 3) if energy is not None else None,
                    "instantaneous_power": s.get("v2"),
                    "average_power": avg,
                    "normalised_output": round(s["v2"] / system.size, 3) if s.get("v2") is not None else None,
                    "energy_consumption": s.get("v3"),
                    "power_consumption": s.get("v4"),
                    "temperature": s.get("v5"),
                    "voltage": s.get("v6"),
                    **{f"extended_{i}": s.get(f"v{i + 6}") for i in range(1, 7)},
                }
            )
        if "t" in v:
            out = [r for r in out if r["time"] > v["t"]]
        if "from" in v:
            out = [r for r in out if r["time"] >= v["from"]]
        if "to" in v:
            out = [r for r in out if r["time"] <= v["to"]]
        if not v.get("asc"):
            out.reverse()
        out = out[: v.get("limit", 30)]
        if not out:
            raise _err("no_status")
        columns = row.columns if v.get("ext") else row.columns[:11]
        return ";".join(format_row(columns, r) for r in out)

    def _op_get_day_statistics(
        self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]
    ) -> str:
        row = SERVICE.row(op.reply.row)
        d = v.get("d", self._now(system).date())
        day = [(t, s) for t, s in self._day(system, d) if v.get("from", time(0)) <= t <= v.get("to", time(23, 59))]
        if not day:
            raise _err("no_status")

        def series(k: str) -> list[tuple[time, float]]:
            return [(t, s[k]) for t, s in day if s.get(k) is not None]

        gen, pw, cons, cpw, temp = series("v1"), series("v2"), series("v3"), series("v4"), series("v5")
        values: dict[str, Any] = {}
        if gen or pw:
            peak = max(pw, key=lambda x: x[1]) if pw else None
            values.update(
                energy_generated=max(x[1] for x in gen) if gen else None,
                power_generated=round(sum(x[1] for x in pw) / len(pw)) if pw else None,
                peak_power=peak[1] if peak else None,
                peak_time=peak[0] if peak else None,
            )
        if cons or cpw:
            low = min(cpw, key=lambda x: x[1]) if cpw else None
            values.update(
                energy_consumed=max(x[1] for x in cons) if cons else None,
                power_consumed=round(sum(x[1] for x in cpw) / len(cpw)) if cpw else None,
                standby_power=low[1] if low else None,
                standby_time=low[0] if low else None,
            )
        if temp:
            values.update(
                temperature_min=min(x[1] for x in temp),
                temperature_max=max(x[1] for x in temp),
                temperature_average=round(sum(x[1] for x in temp) / len(temp), 1),
            )
        return ";".join(format_row(sec.columns, values) for sec in row.sections)

    def _output(self, system: System, d: date) -> dict[str, Any]:
        """getoutput's view of a day: explicit add-output fields over what statuses imply."""
        day = self._day(system, d)
        derived: dict[str, Any] = {"date": d}
        gens = [s["v1"] for _, s in day if s.get("v1") is not None]
        powers = [(s["v2"], t) for t, s in day if s.get("v2") is not None]
        cons = [s["v3"] for _, s in day if s.get("v3") is not None]
        if gens:
            derived["generated"] = max(gens)
        if powers:
            peak = max(powers)
            derived["peak_power"], derived["peak_time"] = peak
        if cons:
            derived["consumed"] = max(cons)
        names = {
            "g": "generated",
            "e": "exported",
            "pp": "peak_power",
            "pt": "peak_time",
            "cd": "condition",
            "tm": "temperature_min",
            "tx": "temperature_max",
            "ip": "import_peak",
            "io": "import_off_peak",
            "is": "import_shoulder",
            "ih": "import_high_shoulder",
            "c": "consumed",
            "ep": "export_peak",
            "eo": "export_off_peak",
            "es": "export_shoulder",
            "eh": "export_high_shoulder",
            "cm": "comments",
        }
        for k, val in system.outputs.get(d, {}).items():
            derived[names.get(k, k)] = val
        if derived.get("generated") is not None:
            derived["efficiency"] = round(derived["generated"] / system.size, 3)
        return derived

    def _days(self, system: System, v: dict[str, Any]) -> list[date]:
        days = set(system.outputs) | {d for d, _ in system.statuses}
        lo: date = v.get("df", date.min)
        hi: date = v.get("dt", date.max)
        return sorted((d for d in days if lo <= d <= hi), reverse=True)

    def _op_get_output(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        row = SERVICE.row(op.reply.row)
        p = op.param("limit")
        top = int((p.max_donation if system.donation else p.max_free) or 50) if p else 50
        limit = min(v.get("limit", 30), top)
        columns = row.columns if v.get("timeofexport") else row.columns[:14]
        return ";".join(format_row(columns, self._output(system, d)) for d in self._days(system, v)[:limit])

    def _op_get_missing(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        have = set(system.outputs) | {d for d, _ in system.statuses}
        missing: list[str] = []
        d = v["df"]
        while d <= v["dt"]:
            if d not in have:
                missing.append(format_date(d))
            d += timedelta(days=1)
        return ",".join(missing)

    def _op_get_extended(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        row = SERVICE.row(op.reply.row)
        out: list[str] = []
        for d in self._days(system, v):
            ext = [s for _, s in self._day(system, d) if any(f"v{i}" in s for i in range(7, 13))]
            if ext:
                values = {"date": d, **{f"extended_{i}": ext[-1].get(f"v{i + 6}") for i in range(1, 7)}}
                out.append(format_row(row.columns, values))
        return ";".join(out[: v.get("limit", 50)])

    def _op_get_statistic(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        row = SERVICE.row(op.reply.row)
        days = sorted(self._days(system, v))
        outs = [self._output(system, d) for d in days]
        gens = [(o["generated"], o["date"]) for o in outs if o.get("generated") is not None]
        if not gens:
            raise _err("no_status")
        best = max(gens)
        values: dict[str, Any] = {
            "energy_generated": sum(g for g, _ in gens),
            "energy_exported": sum(o.get("exported") or 0 for o in outs),
            "average_generation": round(sum(g for g, _ in gens) / len(gens)),
            "minimum_generation": min(g for g, _ in gens),
            "maximum_generation": best[0],
            "average_efficiency": round(sum(g for g, _ in gens) / len(gens) / system.size, 3),
            "outputs": len(gens),
            "actual_date_from": days[0],
            "actual_date_to": days[-1],
            "record_efficiency": round(best[0] / system.size, 3),
            "record_date": best[1],
        }
        columns = row.columns[:11]
        if v.get("c"):
            cons = [o["consumed"] for o in outs if o.get("consumed") is not None]
            values.update(
                energy_consumed=sum(cons),
                peak_energy_import=sum(o.get("import_peak") or 0 for o in outs),
                off_peak_energy_import=sum(o.get("import_off_peak") or 0 for o in outs),
                shoulder_energy_import=sum(o.get("import_shoulder") or 0 for o in outs),
                high_shoulder_energy_import=sum(o.get("import_high_shoulder") or 0 for o in outs),
                average_consumption=round(sum(cons) / len(cons)) if cons else None,
                minimum_consumption=min(cons) if cons else None,
                maximum_consumption=max(cons) if cons else None,
            )
            columns = row.columns
        return format_row(columns, values)

    def _op_get_system(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        row = SERVICE.row(op.reply.row)
        base = {
            "name": system.name,
            "size": system.size,
            "postcode": system.postcode,
            "panels": system.panels,
            "panel_power": system.panel_power,
            "panel_brand": system.panel_brand,
            "inverters": system.inverters,
            "inverter_power": system.inverter_power,
            "inverter_brand": system.inverter_brand,
            "orientation": system.orientation,
            "array_tilt": system.array_tilt,
            "shade": system.shade,
            "install_date": system.install_date,
            "latitude": system.latitude,
            "longitude": system.longitude,
            "status_interval": system.status_interval,
        }
        sections = row.sections
        tariffs = ""
        if v.get("tariffs"):
            tariffs = format_row(
                sections[1].columns, dict(zip([c.name for c in sections[1].columns], system.tariffs, strict=False))
            )
        donations = format_row(sections[2].columns, {"donations": 1 if system.donation else 0})
        return ";".join((format_row(sections[0].columns, base), tariffs, donations))

    def _op_get_insolation(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        zone = ZoneInfo(v["tz"]) if "tz" in v else system.zone
        d = v.get("d", datetime.fromtimestamp(self.clock(), zone).date())
        lat, lon = v.get("ll", (system.latitude, system.longitude))
        out: list[str] = []
        energy = 0.0
        step = system.status_interval
        for minute in range(0, 24 * 60, step):
            moment = datetime.combine(d, time(minute // 60, minute % 60), zone)
            power = max(0.0, system.size * _sin_deg(elevation(moment, lat, lon)))
            energy += power * step / 60
            if power > 0:
                out.append(f"{format_time(moment.time())},{round(power)},{round(energy)}")
        return ";".join(out)

    def _op_search(self, op: OperationDef, system: System, v: dict[str, Any], params: dict[str, str]) -> str:
        query = str(v["q"]).strip()
        centre = v.get("ll")
        radius: float | None = None
        if query.lower().endswith("km") and query[:-2].strip().replace(".", "", 1).isdigit():
            radius = min(float(query[:-2]), 25.0)
            centre = centre or (system.latitude, system.longitude)
        lines: list[str] = []
        for other in sorted(self.systems.values(), key=lambda s: s.system_id):
            distance = _distance_km(centre, (other.latitude, other.longitude)) if centre else None
            if radius is not None:
                if distance is None or distance > radius:
                    continue
            elif query.lower() not in other.name.lower():
                continue
            outs = sorted({d for d, _ in other.statuses} | set(other.outputs))
            last = "NaN"
            if outs:
                ago = (self._now(other).date() - outs[-1]).days
                last = "Today" if ago == 0 else f"{ago} days ago"
            values = {
                "name": other.name,
                "size": other.size,
                "postcode": ("Australia " if v.get("country") else "") + other.postcode,
                "orientation": other.orientation,
                "outputs": len(outs),
                "last_output": last,
                "system_id": other.system_id,
                "panel": other.panel_brand,
                "inverter": other.inverter_brand,
                "distance": round(distance, 1) if distance is not None and radius is not None else None,
                "latitude": other.latitude,
                "longitude": other.longitude,
            }
            lines.append(format_row(SERVICE.row(op.reply.row).columns, values))
        return "\n".join(lines[:30])

    def _ignore_write(self) -> bool:
        fault = self._take_fault_kind("ignore_write")
        return fault is not None

    def _take_fault_kind(self, kind: str) -> Fault | None:
        for fault in self._faults:
            if fault.kind == kind and fault.times > 0:
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return fault
        return None


class _RateReply(_Reply):
    def __init__(self, status: int, body: str, headers: dict[str, str]) -> None:
        super().__init__(status, body)
        self.headers = headers


def _sin_deg(deg: float) -> float:
    return math.sin(math.radians(deg))


def _distance_km(a: tuple[float, float] | None, b: tuple[float, float]) -> float | None:
    if a is None:
        return None
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(h))


class _Handler(BaseHTTPRequestHandler):
    server_version = "PVOutputFake/1.0"
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes; without this, Nagle + delayed ACK add 40 ms a request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        service: PVOutputService = self.server.service  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            body = self.rfile.read(length).decode("utf-8", "replace")
            params.update(parse_qsl(body, keep_blank_values=True))
        headers = dict(self.headers.items())
        fault = service._take_fault_for(self.command, url.path, params, headers)
        if fault is not None:
            if fault.kind == "drop":
                self.close_connection = True
                self.connection.shutdown(2)  # no reply at all: the client sees a dropped connection
                return
            if fault.kind == "delay":
                _time.sleep(fault.delay)
            elif fault.kind == "http":
                self._send(fault.status, fault.body, {})
                return
            elif fault.kind == "load_in_progress":
                self._send(400, SERVICE.error_text("load_in_progress"), {})
                return
        status, text, extra = service.handle(self.command, url.path, params, headers)
        self._send(status, text, extra)

    def _send(self, status: int, text: str, headers: dict[str, str]) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("fake pvoutput: %s", self.requestline.split("?", 1)[0])
