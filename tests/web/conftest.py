"""Fixtures: a database of known history, the web server on it (real HTTP on loopback), HTTP helpers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pvapp.config import Config, from_table
from pvapp.storage import Storage
from pvapp.web.server import WebServer

from . import synthetic

TZ = ZoneInfo("Australia/Brisbane")  # no DST
NOW = datetime(2026, 1, 15, 14, 0, 30, tzinfo=TZ)
SERIALS = ["SYN0000001", "SYN0000002"]
DENSE_DAY = date(2026, 1, 14)  # SERIALS[0] polled every 10 s from 10:00 to 11:00 that day
SYSTEM = 101


@dataclass
class Site:
    path: Path
    hist: synthetic.History
    rows: list[Any]


def make_config(db: Path, **web: Any) -> Config:
    table: dict[str, Any] = {
        "timezone": "Australia/Brisbane",
        "poll_interval": 300,
        "storage": {"path": str(db), "synchronous": "NORMAL"},
        "pvoutput": {"status_interval": 5},
        "ports": [
            {
                "port": "sim://cms",
                "inverters": [
                    {"serial": SERIALS[0], "name": "garage", "pvoutput_system": SYSTEM},
                    {"serial": SERIALS[1], "pvoutput_system": SYSTEM},
                ],
            }
        ],
        "web": {"listen": "127.0.0.1:0", **web},
    }
    return from_table(table, env={}, source="test")


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    path = tmp_path_factory.mktemp("web") / "pv.sqlite"
    hist, rows = synthetic.readings(
        SERIALS,
        TZ,
        date(2025, 12, 20),
        NOW.date(),
        until=NOW,
        dense=(DENSE_DAY, SERIALS[0], synthetic.timedelta(seconds=10), 10, 11),
    )
    synthetic.store(path, rows, system=SYSTEM, tz=TZ)
    db = Storage(path, synchronous="OFF")
    db.record_event(
        datetime(2026, 1, 15, 5, 1, tzinfo=TZ), "awake", serial=SERIALS[0], port="sim://cms", detail="was asleep"
    )
    db.record_event(
        datetime(2026, 1, 15, 9, 0, tzinfo=TZ), "fault", serial=SERIALS[1], port="sim://cms", detail="GFCI <b>x</b>"
    )
    db.record_event(datetime(2026, 1, 15, 9, 5, tzinfo=TZ), "reconnect", port="sim://cms", detail="port reopened")
    db.mark_statuses(
        SYSTEM, [("20260115", "06:00"), ("20260115", "06:05")], "sent", now=datetime(2026, 1, 15, 6, 20, tzinfo=TZ)
    )
    db.close()
    return Site(path, hist, rows)


@pytest.fixture
def serve(site: Site) -> Iterator[Callable[..., WebServer]]:
    """Start a WebServer on the known history (``monitor`` optional); stopped at the end."""
    started: list[WebServer] = []

    def start(*, monitor: Any = None, now: datetime = NOW, path: Path | None = None, **web: Any) -> WebServer:
        server = WebServer(make_config(path or site.path, **web), now=lambda: now, monitor=monitor)
        server.start()
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()


def get(url: str, headers: dict[str, str] | None = None, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    status, _, body = get(url, headers)
    assert status == 200, (url, status, body[:300])
    return json.loads(body)
