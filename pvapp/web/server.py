"""The HTTP server: the page, ``/api/``, ``/chart/``, ``/metrics``; read-only, on its own threads.

Standard library ``ThreadingHTTPServer``: a home page with a handful of clients
and a Prometheus scrape every 15 s needs nothing more, and it adds no
dependency.  Each request runs on its own daemon thread, bounded in number
(``MAX_CLIENTS``, ``MAX_STREAMS`` for server-sent event streams): a misbehaving
client gets a 503, never a thread per connection without end.

Only GET and HEAD exist: the page can never write to an inverter or the
database.  Responses carry a strict Content-Security-Policy (scripts and styles
only from this server) and, on loopback without a password, requests must name
this machine in their Host header, so a web site in the owner's browser cannot
read the page through DNS rebinding.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Hashable
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from importlib import resources
from typing import Any

from pvapp.config import Config
from pvapp.httpserver import BoundedHTTPServer
from pvapp.monitor.bounded import SeenOnce
from pvapp.storage.records import StoredReading, parse_utc, readings_query, utc_text

from . import svg
from .api import Api, BadRequest, parse_date, parse_int, parse_month, parse_year, site_from_config
from .auth import Verifier
from .config import host_allowed
from .metrics import CONTENT_TYPE as METRICS_TYPE
from .metrics import Metrics
from .queries import ReadOnlyDB, decode_row, month_days, summed
from .state import LiveState, WebOutput

log = logging.getLogger("pv.web")

MAX_CLIENTS = 32
MAX_STREAMS = 8
STREAM_MIN_GAP = 1.0  # s between two events on one stream: a fast poller does not flood the page
STREAM_KEEPALIVE = 15.0
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
    "/static/icon.svg": ("icon.svg", "image/svg+xml"),
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
    " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class WebError(Exception):
    """The server cannot start (address in use...): one line."""


def static_bytes(name: str) -> bytes:
    return (resources.files("pvapp.web") / "static" / name).read_bytes()


class WebServer:
    """Owns the live state, the read-only database connection and the HTTP server thread."""

    def __init__(
        self,
        cfg: Config,
        *,
        now: Callable[[], datetime],
        monitor: Any = None,
        live: LiveState | None = None,
    ) -> None:
        self.cfg = cfg
        self.web = cfg.web
        self.live = live or LiveState(now)
        self.output = WebOutput(self.live)
        self.db = ReadOnlyDB(cfg.storage.path)
        self.api = Api(site_from_config(cfg, now), self.db, self.live, monitor)
        self.metrics = Metrics(self.api, cfg.timezone)
        self.verifier = Verifier(self.web.password_hash) if self.web.password_hash else None
        self.streams = threading.BoundedSemaphore(MAX_STREAMS)
        self.stopping = threading.Event()
        self._static = {path: (static_bytes(name), ctype) for path, (name, ctype) in STATIC.items()}
        self.httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.api.seed()

    def attach(self, monitor: Any) -> None:
        """The monitor, for its counters (set once it exists; it is created after its outputs)."""
        self.api.monitor = monitor

    @property
    def address(self) -> tuple[str, int]:
        assert self.httpd is not None
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.web.host else socket.AF_INET
        _Server.address_family = family
        try:
            self.httpd = _Server((self.web.host, self.web.port), _Handler, self)
        except OSError as exc:
            self.db.close()
            raise WebError(f"cannot listen on {self.web.listen}: {exc.strerror or exc}") from None
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="web", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.live.wake_all()
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.db.close()

    # -- routing ----------------------------------------------------------------------------

    def route(self, path: str, query: dict[str, str]) -> tuple[int, str, bytes | Callable[[Any], None]]:
        """(status, content type, body or a writer taking the output stream)."""
        api = self.api
        if path in self._static:
            body, ctype = self._static[path]
            return 200, ctype, body
        if path == "/metrics":
            if not self.web.metrics:
                return _not_found(path)
            return 200, METRICS_TYPE, self.metrics.render()
        handlers: dict[str, Callable[[], Any]] = {
            "/api/overview": api.overview,
            "/api/day": lambda: api.day(query.get("date")),
            "/api/month": lambda: api.month(query.get("month")),
            "/api/year": lambda: api.year(query.get("year")),
            "/api/years": api.years,
            "/api/events": lambda: self.events(query),
            "/api/pvoutput": api.pvoutput,
            "/api/mqtt": api.mqtt,
            "/api/quantities": api.quantities,
            "/api/health": self.health,
        }
        if path in handlers:
            return 200, "application/json", _json(handlers[path]())
        if path == "/api/export.csv" or path == "/api/export.json":
            fmt = "csv" if path.endswith(".csv") else "json"
            return self.export(query, fmt)
        if path.startswith("/chart/"):
            width = parse_int(query.get("width"), "width", svg.W, svg.MIN_W, svg.MAX_W)
            charts: dict[str, Callable[[], str]] = {
                "/chart/day.svg": lambda: self.day_svg(query.get("date"), width),
                "/chart/month.svg": lambda: self.month_svg(query.get("month"), width),
                "/chart/year.svg": lambda: self.year_svg(query.get("year"), width),
                "/chart/years.svg": lambda: self.years_svg(width),
            }
            if path in charts:
                return 200, "image/svg+xml", charts[path]().encode()
        return _not_found(path)

    def events(self, query: dict[str, str]) -> dict[str, Any]:
        out = self.api.events(query.get("limit"), query.get("before"))
        out["uploads"] = self.upload_events()
        return out

    def upload_events(self, limit: int = 20) -> list[dict[str, Any]]:
        """Upload rounds, read from the queue: slots marked sent or rejected at the same instant."""
        if not self.api.site.pvoutput:
            return []
        rows = self.db.rows(
            "SELECT system_id, updated, status, COUNT(*) AS n, MIN(date || ' ' || time) AS first,"
            " MAX(date || ' ' || time) AS last, MAX(reason) AS reason FROM pvoutput_queue"
            " WHERE status IN ('sent', 'rejected') GROUP BY system_id, updated, status ORDER BY updated DESC LIMIT ?",
            (limit,),
        )
        out = []
        for r in rows:
            t = parse_utc(r["updated"])
            verb = "uploaded" if r["status"] == "sent" else "PVOutput refused"
            text = f"{verb} {r['n']} status(es) for system {r['system_id']} ({r['first']} to {r['last']})"
            if r["status"] == "rejected" and r["reason"]:
                text += f": {r['reason']}"
            out.append(
                {
                    "time": t.isoformat(),
                    "local": self.api.local(t),
                    "kind": "upload",
                    "system": r["system_id"],
                    "text": text,
                }
            )
        return out

    def health(self) -> dict[str, Any]:
        status = self.api.monitor_status(self.live.snapshot())
        return {"ok": status.get("healthy", True) is not False, **status}

    # -- charts ---------------------------------------------------------------------------------

    def _labels(self) -> dict[str, str]:
        return self.api.labels()

    def day_svg(self, day_text: str | None, width: int | None = None) -> str:
        api = self.api
        day = parse_date(day_text, api.today())
        _, series = self.db.day_series(day, self.cfg.timezone)
        labels = self._labels()
        lines = [(s, labels.get(s, s), [(p.t, p.w) for p in pts]) for s, pts in sorted(series.items())]
        return svg.day_chart(day, self.cfg.timezone, lines, summed(series), width)

    def month_svg(self, month_text: str | None, width: int | None = None) -> str:
        data = self.api.month(month_text)
        labels = data["labels"]
        serials = data["serials"]
        bars = [(str(d["day"]), d["date"], [d["energy_kwh"][s] for s in serials]) for d in data["days"]]
        names = [(s, labels.get(s, s)) for s in serials]
        return svg.bar_chart(f"Energy per day, {data['month']}", bars, names, width=width)

    def year_svg(self, year_text: str | None, width: int | None = None) -> str:
        data = self.api.year(year_text)
        labels = data["labels"]
        serials = data["serials"]
        initials = ["J", "F", "M", "A", "M", "J", "J", "A", "S", "O", "N", "D"]
        bars = [(initials[i], m["month"], [m["energy_kwh"][s] for s in serials]) for i, m in enumerate(data["months"])]
        names = [(s, labels.get(s, s)) for s in serials]
        return svg.bar_chart(f"Energy per month, {data['year']}", bars, names, width=width)

    def years_svg(self, width: int | None = None) -> str:
        data = self.api.years()
        labels = data["labels"]
        serials = data["serials"]
        bars = [(str(y["year"]), str(y["year"]), [y["energy_kwh"][s] for s in serials]) for y in data["years"]]
        return svg.bar_chart("Energy per year", bars, [(s, labels.get(s, s)) for s in serials], width=width)

    # -- CSV / JSON export, as `pv export` writes it --------------------------------------------------

    def export(self, query: dict[str, str], fmt: str) -> tuple[int, str, Callable[[Any], None]]:
        from pvapp.cli.export import value_columns, write_export

        tz = self.cfg.timezone
        today = self.api.today()
        first = parse_date(query["from"], today, "from") if query.get("from") else None
        last = parse_date(query["to"], today, "to") if query.get("to") else None
        if query.get("month"):
            first, last = month_days(*parse_month(query["month"], today))
        if query.get("year"):
            y = parse_year(query["year"], today)
            first, last = date(y, 1, 1), date(y, 12, 31)
        if query.get("date"):
            first = last = parse_date(query["date"], today)
        if first and last and last < first:
            raise BadRequest(f"to: {last} is before from {first}")
        start = datetime(first.year, first.month, first.day, tzinfo=tz) if first else None
        end = datetime(last.year, last.month, last.day, tzinfo=tz) + timedelta(days=1) if last else None
        serial = query.get("serial") or None

        def write(stream: Any) -> None:
            text = io.TextIOWrapper(stream, encoding="utf-8", newline="", write_through=True)
            conn = ReadOnlyDB(self.cfg.storage.path)  # its own connection: a long export holds no shared lock
            try:
                fields = value_columns(_field_ids(conn, serial, start, end))
                write_export(_readings(conn, serial, start, end), text, fmt, tz, fields)
                text.flush()
            finally:
                text.detach()
                conn.close()

        ctype = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
        return 200, ctype, write


def _range(serial: str | None, start: datetime | None, end: datetime | None) -> tuple[str, list[Any]]:
    where, args = "1=1", list[Any]()
    if serial is not None:
        where, args = where + " AND readings.serial = ?", [*args, serial]
    if start is not None:
        where, args = where + " AND readings.time >= ?", [*args, utc_text(start)]
    if end is not None:
        where, args = where + " AND readings.time < ?", [*args, utc_text(end)]
    return where, args


def _field_ids(db: ReadOnlyDB, serial: str | None, start: datetime | None, end: datetime | None) -> set[str]:
    """Every field id stored in the range: the export's columns must be known before its first row."""
    where, args = _range(serial, start, end)
    sql = f"SELECT DISTINCT j.key FROM readings, json_each(readings.values_json) AS j WHERE {where}"  # noqa: S608
    return {str(r[0]) for r in db.rows(sql, args)}


def _readings(db: ReadOnlyDB, serial: str | None, start: datetime | None, end: datetime | None) -> Any:
    """``Storage.readings`` on a read-only connection, streamed."""
    sql, args = readings_query(serial, start, end)
    cur: sqlite3.Cursor = db._conn.execute(sql, args)
    for row in cur:
        d = decode_row(row)
        yield StoredReading(
            id=d["id"],
            time=d["time"],
            serial=d["serial"],
            pac=row["pac"],
            e_today=row["e_today"],
            e_total=row["e_total"],
            h_total=row["h_total"],
            mode=d["mode"],
            faults=tuple(d["faults"]),
            values=d["values"],
            rejected=d["rejected"],
            raw_frame=bytes(row["raw_frame"]),
        )


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), allow_nan=False).encode()


def _not_found(path: str) -> tuple[int, str, bytes]:
    return 404, "application/json", _json({"error": f"no such page: {path[:100]}"})


class LockedSeenOnce(SeenOnce):
    """``SeenOnce`` for the server's request threads."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def first(self, key: Hashable) -> bool:
        with self._lock:
            return super().first(key)


class _Server(BoundedHTTPServer):
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], web: WebServer) -> None:
        self.web = web
        self.failures = LockedSeenOnce()  # (path, exception type) already logged as a warning
        super().__init__(address, handler, max_connections=MAX_CLIENTS)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "pv-web"
    sys_version = ""
    timeout = 30  # an idle or slow client cannot hold a thread for ever

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    # -- request checks -----------------------------------------------------------------------

    def _allowed_host(self) -> bool:
        web = self.server.web.web
        if not web.loopback or web.password_hash:
            return True
        return host_allowed(self.headers.get("Host") or "", web.host)

    def _authorised(self) -> bool:
        verifier = self.server.web.verifier
        return verifier is None or verifier.check_header(self.headers.get("Authorization"))

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _refuse_method(self) -> None:
        self._send(
            405, "application/json", _json({"error": "read-only: only GET and HEAD"}), extra={"Allow": "GET, HEAD"}
        )

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse_method

    def _serve(self, head: bool) -> None:
        if not self._allowed_host():
            self._send(421, "application/json", _json({"error": "this page answers only to its loopback address"}))
            return
        if not self._authorised():
            self._send(
                401,
                "application/json",
                _json({"error": "a password or token is required"}),
                extra={"WWW-Authenticate": 'Basic realm="pv", charset="UTF-8"'},
            )
            return
        parts = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(parts.query, keep_blank_values=True).items()}
        path = parts.path
        if path == "/api/stream":
            self._stream()
            return
        try:
            status, ctype, body = self.server.web.route(path, query)
        except BadRequest as exc:
            self._send(400, "application/json", _json({"error": str(exc)}))
            return
        except Exception as exc:  # a bug or an unreadable database: one line, not a dropped connection
            # once per page and kind of failure, or every reload of an open page would add a warning
            first = self.server.failures.first((path, type(exc).__name__))
            log.log(logging.WARNING if first else logging.DEBUG, "web: %s failed: %s", path, exc)
            self._send(500, "application/json", _json({"error": f"{type(exc).__name__}: {exc}"[:300]}))
            return
        if callable(body):
            self._start(status, ctype, None)
            if not head:
                try:
                    body(self.wfile)
                except (BrokenPipeError, ConnectionResetError):
                    pass
            return
        self._send(status, ctype, b"" if head else body, length=len(body))

    def _start(self, status: int, ctype: str, length: int | None, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()

    def _send(
        self, status: int, ctype: str, body: bytes, *, length: int | None = None, extra: dict[str, str] | None = None
    ) -> None:
        self._start(status, ctype, len(body) if length is None else length, extra)
        if body:
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

    # -- server-sent events ------------------------------------------------------------------------

    def _stream(self) -> None:
        """``/api/stream``: an ``overview`` event at once and after every change (at most one a second)."""
        web = self.server.web
        if not web.streams.acquire(blocking=False):
            self._send(503, "application/json", _json({"error": "too many live pages open; the page polls instead"}))
            return
        try:
            self._start(200, "text/event-stream", None, {"X-Accel-Buffering": "no"})
            self.connection.settimeout(None)
            version = -1
            last_sent = 0.0
            while not web.stopping.is_set():
                if web.live.version != version:
                    wait = STREAM_MIN_GAP - (time.monotonic() - last_sent)
                    if wait > 0 and web.stopping.wait(wait):
                        break
                    snap = web.live.snapshot()
                    version = snap.version
                    data = json.dumps(web.api.overview(snap), separators=(",", ":"))
                    self.wfile.write(f"event: overview\nid: {version}\ndata: {data}\n\n".encode())
                    self.wfile.flush()
                    last_sent = time.monotonic()
                    continue
                if web.live.wait_change(version, STREAM_KEEPALIVE) == version and not web.stopping.is_set():
                    self.wfile.write(b": keep-alive\n\n")
                    self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError, OSError):
            pass
        finally:
            web.streams.release()
