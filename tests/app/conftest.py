"""Shared fixtures: a sped-up clock every party agrees on, the local PVOutput service, `pv monitor` runs."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pvapp.clock import ScaledClock

REPO = Path(__file__).resolve().parents[2]
BRISBANE = ZoneInfo("Australia/Brisbane")  # no DST; the local PVOutput service's default system zone
API_KEY = "test-key-0123456789abcdef"
_LOCK_DIR = Path(tempfile.mkdtemp(prefix="pv-test-locks-"))


def pv_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pvapp.cli", *args]


def pv_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PV_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PV_WEB"] = "127.0.0.1:0"  # `pv monitor` serves its page on an ephemeral loopback port in tests
    # port locks of this test run only: another checkout's tests on this machine never hold ours
    env["PV_LOCK_DIR"] = str(_LOCK_DIR)
    env.update(extra)
    return env


def run_pv(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        pv_cmd(*args), cwd=cwd, env=env or pv_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


@dataclass
class SharedClock:
    clock: ScaledClock

    @property
    def spec(self) -> str:
        return self.clock.spec()

    def timestamp(self) -> float:
        return self.clock.now().timestamp()


def make_clock(start: datetime, speed: float) -> SharedClock:
    return SharedClock(ScaledClock(start, speed))


@pytest.fixture
def pvoutput_factory() -> Iterator[object]:
    """Start local PVOutput services on loopback with a given clock; stopped at the end."""
    from pvapp.pvoutput_service.service import PVOutputService

    started: list[PVOutputService] = []

    def make(clock: SharedClock, *systems: int) -> PVOutputService:
        svc = PVOutputService(clock=clock.timestamp)
        for sid in systems:
            svc.add_system(sid, tz="Australia/Brisbane", latitude=-27.47, longitude=153.03, size=5000)
        svc.add_key(API_KEY, *systems)
        svc.start()
        started.append(svc)
        return svc

    yield make
    for svc in started:
        svc.stop()


def accepted_rows(service: object) -> Counter[tuple[str, str, str]]:
    """(system id, d, t) of every batch row the local PVOutput service accepted, counted."""
    rows: Counter[tuple[str, str, str]] = Counter()
    for req in service.requests:  # type: ignore[attr-defined]
        if req.path.endswith("addbatchstatus.jsp") and req.status == 200:
            sid = {k.lower(): v for k, v in req.headers.items()}.get("x-pvoutput-systemid", "")
            for row in req.params.get("data", "").split(";"):
                d, t = row.split(",")[:2]
                rows[(sid, d, t)] += 1
    return rows


def write_config(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path
