"""The HTTP side of the local PVOutput service, with limits: body size, client timeouts, connections.

The service is for tests and demos on loopback, but it is a listener like any
other: a client that sends a huge body, never finishes its request, or opens
connections without end must cost bounded memory and threads.  Bodies over
``max_body`` get ``413``; a client silent for ``timeout`` seconds is
disconnected; past ``max_connections`` at once a new connection gets ``503``
and is closed.
"""

from __future__ import annotations

import logging
import socket
import time as _time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from pv.pvoutput import SERVICE

from ..httpserver import BoundedHTTPServer

if TYPE_CHECKING:
    from .service import PVOutputService

log = logging.getLogger("pvapp.pvoutput_service")

DEFAULT_MAX_BODY = 256 * 1024  # a 100-row donation batch is about 10 KB
DEFAULT_TIMEOUT = 30.0  # seconds a client may stay silent, mid-request or idle between requests
DEFAULT_MAX_CONNECTIONS = 32


class LimitedHTTPServer(BoundedHTTPServer):
    """The service's server: bounded connections, plus the body size and client timeout its handler applies."""

    def __init__(
        self,
        address: tuple[str, int],
        service: PVOutputService,
        *,
        max_body: int = DEFAULT_MAX_BODY,
        timeout: float = DEFAULT_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> None:
        self.service = service
        self.max_body = max_body
        self.client_timeout = timeout
        # StreamRequestHandler puts the class's timeout on every accepted socket
        handler = type("Handler", (Handler,), {"timeout": timeout})
        super().__init__(address, handler, max_connections=max_connections)


class Handler(BaseHTTPRequestHandler):
    server_version = "PVOutputFake/1.0"
    protocol_version = "HTTP/1.1"
    server: LimitedHTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes; without this, Nagle + delayed ACK add 40 ms a request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        service = self.server.service
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        if self.headers.get("Transfer-Encoding"):
            self._refuse(411, "Length Required 411: send a Content-Length")
            return
        text = (self.headers.get("Content-Length") or "0").strip()
        if not text.isdigit() or not text.isascii():
            self._refuse(400, "Bad request 400: Content-Length is not a number")
            return
        length = int(text)
        if length > self.server.max_body:
            self._refuse(413, f"Payload Too Large 413: more than {self.server.max_body} bytes")
            return
        if length:
            try:
                raw = self.rfile.read(length)
            except TimeoutError:
                self.close_connection = True  # a client that stops mid-body is dropped
                return
            if len(raw) < length:
                self.close_connection = True
                return
            params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
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

    def _refuse(self, status: int, text: str) -> None:
        """Answer without reading the body, then close: the rest of it is never taken in."""
        self.close_connection = True
        self._send(status, text, {"Connection": "close"})

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
