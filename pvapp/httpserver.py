"""A threading HTTP server with a cap on simultaneous connections.

Both of pv's listeners (the web page and the local PVOutput service) run one
thread per connection; a client that opens connections without end must cost
bounded threads.  Past the cap, a new connection is answered ``503`` and
closed at once, before a handler thread exists for it.
"""

from __future__ import annotations

import logging
import sys
import threading
from http.server import ThreadingHTTPServer
from typing import Any

log = logging.getLogger("pvapp.http")

BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


class BoundedHTTPServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` that refuses (503) what exceeds ``max_connections`` at once."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: Any, *, max_connections: int) -> None:
        self._slots = threading.BoundedSemaphore(max_connections)
        self.refused_connections = 0
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.refused_connections += 1
            try:
                request.sendall(BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request is routine (a killed monitor, a closed tab): no traceback.

        socketserver's default prints a traceback to stderr for every such
        reset; anything else is still logged, with the exception, once per error.
        """
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log.debug("client %s went away: %s", client_address, exc)
        else:
            log.warning("request from %s failed: %r", client_address, exc, exc_info=exc)
