"""A local PVOutput service for honest tests: real HTTP on loopback, PVOutput's rules and texts.

It validates requests with the same ``SERVICE`` declaration the client is generated
from (``pv.pvoutput.SERVICE``) and answers with the exact reply formats and error texts
of API.md.  Behaviour the real service has and clients trip over is reproduced on
purpose: the hourly quota with its 403 text, the 14/90-day window, Moon Powered at
night at the system's location, per-row batch flags, upserts, silently ignored
exports.  Faults (5xx, timeouts, dropped connections, Load in progress, OK-but-ignored
writes) are scripted through ``inject``; everything received can be inspected.

The module is split along its seams: ``records`` (systems, keys, faults, what
was received), ``state`` (rules shared by every operation), ``writes`` and
``reads`` (the operations), ``http`` (the server and its limits) and this
class, which ties them together: setup, authentication, the hourly quota,
dispatch and inspection.  Memory stays bounded on a long run: the log of
requests keeps the last ``keep_requests`` (counts are kept for all of them),
and quota buckets of past hours are dropped.
"""

from __future__ import annotations

import logging
import threading
import time as _time
from collections import Counter, deque
from collections.abc import Callable
from datetime import date, time
from typing import Any

from pv.pvoutput import SERVICE

from pvgen.runtime.pvoutput.model import OperationDef
from pvgen.runtime.pvoutput.values import ParamError, decode_param

from .http import DEFAULT_MAX_BODY, DEFAULT_MAX_CONNECTIONS, DEFAULT_TIMEOUT, LimitedHTTPServer
from .reads import ReadOps
from .records import Fault, FaultKind, Key, KeyMode, RateReply, Reply, RequestRecord, System, err
from .writes import WriteOps

__all__ = ["Fault", "FaultKind", "Key", "KeyMode", "PVOutputService", "RequestRecord", "System"]

log = logging.getLogger("pvapp.pvoutput_service")


class PVOutputService(WriteOps, ReadOps):
    """The fake service.  Use as a context manager or call ``start()``/``stop()``."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = _time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        spec_rate_text: bool = False,
        keep_requests: int | None = 10_000,
        max_body: int = DEFAULT_MAX_BODY,
        timeout: float = DEFAULT_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        """``keep_requests=None`` keeps every request (a benchmark that audits all of them)."""
        self.clock = clock
        self.systems: dict[int, System] = {}
        self.keys: dict[str, Key] = {}
        self.spec_rate_text = spec_rate_text  # the spec's generic 403 wording instead of the live one
        self._requests: deque[RequestRecord] = deque(maxlen=keep_requests)
        self._request_counts: Counter[str] = Counter()  # path -> requests, for every request ever received
        self._faults: list[Fault] = []
        self._counts: dict[tuple[str, str, int], int] = {}  # (key, bucket, hour) -> requests
        self._lock = threading.RLock()
        self._httpd = LimitedHTTPServer(
            (host, port), self, max_body=max_body, timeout=timeout, max_connections=max_connections
        )
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

    @property
    def requests(self) -> list[RequestRecord]:
        """The requests received, oldest first (the last ``keep_requests`` of them)."""
        with self._lock:
            return list(self._requests)

    def request_count(self, path: str | None = None) -> int:
        """Requests received since start, for one path or all (never forgotten, unlike ``requests``)."""
        with self._lock:
            return self._request_counts.total() if path is None else self._request_counts[path]

    def _record(self, record: RequestRecord) -> None:
        self._requests.append(record)
        self._request_counts[record.path] += 1

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
                        self._record(
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
                    raise err("method_not_allowed", 405)
                if not path.startswith(SERVICE.base_path):
                    raise Reply(404, "Not Found 404: Unknown service")
                name = path[len(SERVICE.base_path) :]
                if name not in SERVICE.paths():
                    raise Reply(404, f"Not Found 404: Unknown service [{name}]")
                key, system = self._authenticate(params, headers)
                op = SERVICE.resolve(name, params)
                if op is None:  # no operation of this path takes these parameters: an answer, not a crash
                    raise Reply(400, f"Bad request 400: unsupported parameters for {name}")
                used_before, extra = self._count(key, system, op, headers)
                if op.write and key.mode == "read_only":
                    raise err("read_only", 403)
                status, body = 200, self._dispatch(op, system, key, params)
            except Reply as reply:
                status, body = reply.status, reply.body
                if isinstance(reply, RateReply):
                    extra = reply.headers
            self._record(
                RequestRecord(self.clock(), method, path, dict(params), dict(headers), status, body, used_before)
            )
        return status, body, extra

    def _authenticate(self, params: dict[str, str], headers: dict[str, str]) -> tuple[Key, System]:
        low = {k.lower(): v for k, v in headers.items()}
        sid = low.get("x-pvoutput-systemid", params.get("sid", "")).strip()
        raw_key = low.get("x-pvoutput-apikey", params.get("key", "")).strip()
        if not sid.isdigit():
            raise err("invalid_system_id", 401)
        key = self.keys.get(raw_key)
        if key is None:
            raise err("invalid_key", 401)
        if key.mode == "disabled":
            raise err("disabled_key", 401)
        system = self.systems.get(int(sid))
        if system is None or system.system_id not in key.system_ids:
            raise err("key_mismatch", 401)
        return key, system

    def _count(self, key: Key, system: System, op: OperationDef, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
        """Hourly buckets per key that refill on the hour; headers only if asked for."""
        lim = SERVICE.limits
        hour = self._hour()
        for old in [k for k in self._counts if k[2] < hour - 1]:  # past buckets never refill: drop them
            del self._counts[old]
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
            raise RateReply(403, text.format(limit=limit), extra)
        if op.rate_bucket == "statistic":
            stat = (key.key, "statistic", hour)
            stat_limit = lim.statistic_rate_donation if system.donation else lim.statistic_rate_free
            if self._counts.get(stat, 0) >= stat_limit:
                text = SERVICE.error_text("rate_limit").format(limit=stat_limit)
                raise RateReply(403, text, rate_headers(used))
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
                    raise err("could_not_read", key=p.key)
                continue
            if p.donation and not system.donation:
                raise err("donation", 403)
            try:
                value = decode_param(p, raw)
            except ParamError as exc:
                raise err("could_not_read", key=exc.key) from None
            if p.max_len is not None and isinstance(value, str) and len(value) > p.max_len:
                raise err("could_not_read", key=p.key)
            self._check_limits(p, value, system, params)
            values[p.key] = value
        if op.donation and not system.donation:
            raise err("donation", 403)
        return values

    # ---- operations -----------------------------------------------------------

    def _dispatch(self, op: OperationDef, system: System, key: Key, params: dict[str, str]) -> str:
        values = self._read(op, system, params)
        if "sid1" in values:
            other = self.systems.get(values["sid1"])
            if other is None:
                raise err("inaccessible_system", 401)
            system = other
        handler = getattr(self, f"_op_{op.name}")
        result: str = handler(op, system, values, params)
        return result
