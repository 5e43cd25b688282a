"""Bounded memory against a hostile line: decoding plans, unknown serials; wrong-length replies logged."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from pv import cms

from pvapp.clock import ScaledClock
from pvapp.config import InverterConfig, PortConfig
from pvapp.monitor.poller import InverterSlot, PortPoller
from pvgen.runtime import codec
from pvgen.runtime.errors import ProtocolError


def test_decoding_plan_cache_is_bounded() -> None:
    """Every distinct layout compiles a plan; a line inventing layouts must not grow memory forever."""
    decoder = next(v for v in vars(cms).values() if isinstance(v, codec.WordDecoder) and v.cls is cms.Status)
    decoder._plans.clear()
    for n in range(1, 200):
        layout = (0x0D, *range(0x100 - n, 0x100))  # unknown codes: every layout distinct
        cms.decode_status(layout, bytes(2 * len(layout)))
    assert len(decoder._plans) <= codec.MAX_PLANS
    # and it still decodes correctly after evictions
    st = cms.decode_status((0x0D,), b"\x00\x2a")
    assert st.raw == (42,)


def _poller(serials: int = 1) -> PortPoller:
    inv = tuple(InverterConfig(spec="cms", serial=None, pvoutput_system=None) for _ in range(serials))
    cfg = PortConfig(port="sim://cms", spec="cms", inverters=inv)
    return PortPoller(
        cfg,
        clock=ScaledClock(datetime(2026, 2, 1, 2, 0, tzinfo=UTC), 1.0),
        poll_interval=1,
        asleep_after=60,
        stop=threading.Event(),
        on_reading=lambda *a: None,
        on_state=lambda *a: None,
        on_port_event=lambda *a: None,
        make_guard=lambda slot: None,  # type: ignore[arg-type,return-value]
    )


class _Bus:
    """Answers discover with a new stranger each time (a line that never repeats itself)."""

    def __init__(self) -> None:
        self.n = 0

    def reset(self) -> None:
        pass

    def discover(self) -> str:
        self.n += 1
        return f"STRANGER{self.n:06d}"

    def register(self, sn: str, address: int) -> bool:
        raise AssertionError("a stranger must never be registered")


def test_unknown_serial_set_is_bounded() -> None:
    poller = _poller()
    poller.slots[0].cfg = InverterConfig(spec="cms", serial="0905BO0139", pvoutput_system=None)
    poller.slots[0].serial = "0905BO0139"
    bus = _Bus()
    poller._client = lambda address: bus  # type: ignore[method-assign]
    for _ in range(2000):
        poller._register_missing()
    assert bus.n == 2000
    assert len(poller.strangers) <= 256


class _Client:
    def __init__(self, script: list[bool]) -> None:
        self.script = script

    def read_status(self, layout: Any) -> object:
        if self.script.pop(0):
            return object()
        raise ProtocolError("status payload has 40 bytes but the layout has 21 codes (42 bytes)")


def test_wrong_length_replies_are_logged_once_per_episode(caplog: pytest.LogCaptureFixture) -> None:
    poller = _poller()
    slot: InverterSlot = poller.slots[0]
    slot.serial = "0905BO0139"
    slot.client = _Client([False] * 5 + [True] + [False] * 3)
    with caplog.at_level(logging.DEBUG, logger="pv.monitor"):
        for _ in range(9):
            poller._poll(slot)
    bad = [r for r in caplog.records if "40 bytes" in r.getMessage()]
    assert [r.levelno for r in bad].count(logging.WARNING) == 2  # two episodes
    assert len(bad) == 8  # the rest at DEBUG: the reply is still counted and visible with -vv
    assert slot.errors["protocol"] == 8
