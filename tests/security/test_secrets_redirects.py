"""The API key header never follows a redirect to another host (requests keeps custom headers).

Two real HTTP servers on loopback: a redirector on one port, the local PVOutput
service on another (another origin, as another host would be).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pv.pvoutput import PVOutputClient, RetryPolicy, ServiceUnavailable

from pvapp.pvoutput_service import PVOutputService
from pvgen.runtime.pvoutput.client import MAX_REDIRECTS, RedirectRefused

BRISBANE = ZoneInfo("Australia/Brisbane")
KEY = "redirect-test-key-0123456789abcdef"
SID = 7


class Redirector:
    """Answers every request with ``status`` and ``Location: target + path``; records what it got."""

    def __init__(self, status: int, target: str | None = None) -> None:
        self.status = status
        self.target = target
        self.seen: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                outer.seen.append(dict(self.headers.items()))
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                base = outer.target or f"http://127.0.0.1:{outer.port}/moved"
                self.send_response(outer.status)
                self.send_header("Location", base + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def service() -> Iterator[PVOutputService]:
    now = datetime(2026, 1, 15, 12, 0, tzinfo=BRISBANE).timestamp()
    svc = PVOutputService(clock=lambda: now)
    svc.add_system(SID, tz="Australia/Brisbane")
    svc.add_key(KEY, SID)
    with svc:
        yield svc


def _client(host: str) -> PVOutputClient:
    return PVOutputClient(KEY, SID, host=host, tz=BRISBANE, retry=RetryPolicy(attempts=1), status_interval=5)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_host_is_refused_and_the_key_stays_home(service: PVOutputService, status: int) -> None:
    redirector = Redirector(status, target=service.url)
    try:
        client = _client(redirector.url)
        with pytest.raises(RedirectRefused) as err:
            client.get_status()
        with pytest.raises(RedirectRefused):
            client.add_status(date(2026, 1, 15), time(11, 0), energy_generation=10, power_generation=100)
    finally:
        redirector.close()
    assert service.request_count() == 0  # not one byte went to the other origin, let alone the key
    assert all(h.get("X-Pvoutput-Apikey") == KEY for h in redirector.seen)  # the configured host did get it
    assert f"redirect to http://127.0.0.1:{service.port}" in str(err.value)
    assert KEY not in str(err.value)


def test_a_redirect_within_the_same_origin_is_followed_a_few_times() -> None:
    """Same scheme, host and port: the same request again at the new path (key included), at most 3 hops."""
    redirector = Redirector(307)  # to itself, at /moved/...: a loop
    try:
        with pytest.raises(ServiceUnavailable, match="more than 3 redirects"):
            _client(redirector.url).add_status(date(2026, 1, 15), time(11, 0), energy_generation=10)
    finally:
        redirector.close()
    assert len(redirector.seen) == 1 + MAX_REDIRECTS
    assert all(h.get("X-Pvoutput-Apikey") == KEY for h in redirector.seen)
