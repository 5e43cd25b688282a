"""Fixtures: the local PVOutput service on loopback and clients sharing its simulated clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pv.pvoutput import PVOutputClient, RetryPolicy

from pvapp.pvoutput_service import PVOutputService

BRISBANE = ZoneInfo("Australia/Brisbane")
KEY = "0123456789abcdef0123456789abcdefSECRET"
SID = 4242
DONOR_KEY = "donor-key-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
DONOR_SID = 4343
RO_KEY = "read-only-key-77777777777777777777"
OFF_KEY = "disabled-key-8888888888888888888888"


class FakeClock:
    """Simulated wall clock shared by client and service; sleeping just moves it forward."""

    def __init__(self, start: datetime) -> None:
        self.now = start.timestamp()
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)

    def set(self, when: datetime) -> None:
        self.now = when.timestamp()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 15, 12, 0, 30, tzinfo=BRISBANE))


@pytest.fixture
def service(clock: FakeClock) -> Iterator[PVOutputService]:
    svc = PVOutputService(clock=clock)
    svc.add_system(SID, name="Kenmore Roof", size=5000, tz="Australia/Brisbane", latitude=-27.5, longitude=152.95)
    svc.add_system(
        DONOR_SID, name="Donor Shed", size=3000, donation=True, tz="Australia/Brisbane", latitude=-27.4, longitude=153.0
    )
    svc.add_key(KEY, SID)
    svc.add_key(DONOR_KEY, DONOR_SID)
    svc.add_key(RO_KEY, SID, mode="read_only")
    svc.add_key(OFF_KEY, SID, mode="disabled")
    with svc:
        yield svc


def make_client(
    service: PVOutputService, clock: FakeClock, key: str = KEY, sid: int = SID, **kw: Any
) -> PVOutputClient:
    kw.setdefault("retry", RetryPolicy(attempts=3, base=1.0, cap=4.0, load_wait=30.0))
    kw.setdefault("timeout", 5.0)
    kw.setdefault("tz", BRISBANE)
    return PVOutputClient(key, sid, host=service.url, clock=clock, sleep=clock.sleep, jitter=lambda: 0.5, **kw)


@pytest.fixture
def client(service: PVOutputService, clock: FakeClock) -> PVOutputClient:
    return make_client(service, clock)


@pytest.fixture
def donor(service: PVOutputService, clock: FakeClock) -> PVOutputClient:
    return make_client(service, clock, DONOR_KEY, DONOR_SID)
