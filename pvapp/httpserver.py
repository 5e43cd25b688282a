"""A threading HTTP server with a cap on simultaneous connections.

Both of pv's listeners (the web page and the local PVOutput service) run one
thread per connection; a client that opens connections without end must cost
bounded threads.  Past the cap, a new connection is answered ``503`` and
closed at once, before a handler thread exists for it.
"""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from typing import Any

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
