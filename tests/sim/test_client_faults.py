"""Every fault kind, seen through the real client ``pv.cms.Inverter`` over a ``sim://`` port.

Each test checks the error the client reports (NoReply, PortGone, framer
counters, Fault mode) and that the next poll succeeds with a fresh reply: the
simulator's record says which frame was served last, and the client's
``last_frame`` must be that frame.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import pv
import pytest
import serial
from pv import cms

from pvapp.sim import Simulator, forget_simulator, get_simulator

TIMEOUT = 0.25
_names = itertools.count()


@pytest.fixture
def rig() -> Iterator[tuple[cms.Inverter, Simulator, serial.SerialBase, str]]:
    name = f"faults{next(_names)}"
    # 600x: values change between polls, so a stale reply can be told from a fresh one
    url = f"sim://cms?name={name}&speed=600&start=2026-12-21T10:00&tz=%2B10:00&seed=4"
    port = serial.serial_for_url(url, timeout=TIMEOUT)
    inv = cms.Inverter(port, timeout=TIMEOUT, sleep=lambda s: None)
    inv.handshake()
    inv.read_status_layout()  # cached: every faulted request below is a status request
    sim = get_simulator(name)
    sim.faults.slow_seconds = 2 * TIMEOUT
    yield inv, sim, port, url
    port.close()
    forget_simulator(name)


def _fresh(inv: cms.Inverter, sim: Simulator) -> cms.Status:
    status = inv.read_status()
    last = sim.record.last()
    assert last is not None and inv.last_frame == last.frame, "client got a stale or foreign reply"
    assert status.values() == last.values
    return status


def test_clean_polls_are_fresh(rig) -> None:  # type: ignore[no-untyped-def]
    inv, sim, _, _ = rig
    first = _fresh(inv, sim)
    time.sleep(0.05)
    second = _fresh(inv, sim)
    assert first.pac is not None and second.pac is not None
    assert all(v == 0 for k, v in inv.framer.stats.as_dict().items() if k != "frames")


def test_dropped_reply_is_noreply_then_recovers(rig) -> None:  # type: ignore[no-untyped-def]
    inv, sim, _, _ = rig
    sim.faults.once("drop")
    with pytest.raises(pv.NoReply):
        inv.read_status()
    assert sim.record.last().faults == ("drop",)
    assert not sim.record.last().usable
    _fresh(inv, sim)


def test_corrupted_checksum_counted_then_recovers(rig) -> None:  # type: ignore[no-untyped-def]
    inv, sim, _, _ = rig
    sim.faults.once("corrupt")
    with pytest.raises(pv.NoReply):
        inv.read_status()
    assert inv.framer.stats.bad_checksum == 1
    _fresh(inv, sim)


def test_truncated_frame_counted_then_recovers(rig) -> None:  # type: ignore[no-untyped-def]
    inv, sim, _, _ = rig
    sim.faults.once("truncate")
    with pytest.raises(pv.NoReply):
        inv.read_status()
    assert inv.framer.stats.truncated == 1
    _fresh(inv, sim)
    _fresh(inv, sim)


def test_garbage_before_a_frame_is_skipped_and_counted(rig) -> None:  # type: ignore[no-untyped-def]
    inv, sim, _, _ = rig
    sim.faults.once("garbage", 3)
    for _ in range(3):
        _fresh(inv, sim)
    assert 9 <= inv.framer.stats.garbage_bytes <= 48


def test_reply_split_across_reads_is_reassembled(rig) -> None:  # type: ignore[no-untyped-def]
    inv, sim, _, _ = rig
    sim.faults.split_gap = 0.05
    sim.faults.once("split")
    t0 = time.monotonic()
    _fresh(inv, sim)
    assert time.monotonic() - t0 >= 0.05  # the second half really came later
    assert inv.framer.stats.bad_checksum == inv.framer.stats.truncated == 0


def test_slow_reply_is_noreply(rig) -> None:  # type: ignore[no-untyped-def]
    inv, sim, _, _ = rig
    sim.faults.once("slow")
    t0 = time.monotonic()
    with pytest.raises(pv.NoReply):
        inv.read_status()
    assert TIMEOUT <= time.monotonic() - t0 < TIMEOUT + 0.2


def test_after_a_slow_reply_the_next_poll_is_fresh(rig) -> None:  # type: ignore[no-untyped-def]
    """The late reply lands in the input buffer; the client must not take it for the next answer."""
    inv, sim, _, _ = rig
    sim.faults.once("slow")
    with pytest.raises(pv.NoReply):
        inv.read_status()
    time.sleep(sim.faults.slow_seconds)  # the late reply lands in the input buffer
    _fresh(inv, sim)
    _fresh(inv, sim)


def test_port_vanishing_is_portgone_and_reopen_recovers(rig) -> None:  # type: ignore[no-untyped-def]
    inv, sim, _, url = rig
    sim.faults.vanish()
    with pytest.raises(pv.PortGone):
        inv.read_status()
    with pytest.raises(serial.SerialException, match="vanished"):
        serial.serial_for_url(url, timeout=TIMEOUT)
    sim.faults.restore()
    with pytest.raises(pv.PortGone):  # the old handle stays dead, as with a replugged USB adapter
        inv.read_status()
    port2 = serial.serial_for_url(url, timeout=TIMEOUT)
    try:
        inv2 = cms.Inverter(port2, timeout=TIMEOUT, address=1)
        _fresh(inv2, sim)  # the inverter itself kept its registration
    finally:
        port2.close()


def test_fault_mode_with_error_bits(rig) -> None:  # type: ignore[no-untyped-def]
    inv, sim, _, _ = rig
    sim.inverters[0].set_error(cms.ErrorBits(1 << 9) | cms.ErrorBits(1 << 13))
    status = _fresh(inv, sim)
    assert status.mode == cms.Mode(2)
    assert status.mode_label == "Fault"
    assert set(status.faults) == {"No-Utility", "Temperature high"}
    assert status.pac == 0
    sim.inverters[0].set_error(0)
    time.sleep(0.1)
    status = _fresh(inv, sim)
    assert status.mode_label == "Normal" and status.faults == ()


def test_wild_values_reach_the_client_unchanged(rig) -> None:  # type: ignore[no-untyped-def]
    inv, sim, _, _ = rig
    sim.inverters[0].set_wild("pac")
    sim.inverters[0].set_wild("e_total", 0x7FFFFFFF)
    sim.inverters[0].set_wild("temperature", 0x8000)
    status = _fresh(inv, sim)
    assert status.pac == 0xFFFF
    assert status.e_total == pytest.approx(0x7FFFFFFF / 10)
    assert status.temperature == pytest.approx(-3276.8)
    sim.inverters[0].clear_wild()
    pac = _fresh(inv, sim).pac
    assert pac is not None and pac <= 2000


def test_faults_given_as_url_options() -> None:
    url = "sim://cms?fault=drop@0.5&fault=garbage&speed=600&start=2026-12-21T10:00&tz=%2B10:00&seed=9"
    port = serial.serial_for_url(url, timeout=TIMEOUT)
    try:
        inv = cms.Inverter(port, timeout=TIMEOUT, sleep=lambda s: None)
        outcomes = []
        for _ in range(3):
            try:
                inv.handshake()
                break
            except pv.NoReply:
                continue
        for _ in range(12):
            try:
                inv.read_status()
                outcomes.append("ok")
            except pv.NoReply:
                outcomes.append("lost")
        assert "ok" in outcomes and "lost" in outcomes  # about half are dropped
        assert inv.framer.stats.garbage_bytes > 0  # and every reply came after garbage
    finally:
        port.close()


def test_samil_quirks_checksum_slack_and_trailing_byte() -> None:
    """Two oddities of real Samil lines (REFERENCE 6, lmartorella): tolerated, and counted."""
    from pv import samil

    port = serial.serial_for_url("sim://samil?name=quirks&awake=always", timeout=TIMEOUT)
    try:
        inv = samil.Inverter(port, timeout=TIMEOUT, sleep=lambda s: None)
        inv.handshake()
        inv.read_status_layout()
        sim = get_simulator("quirks")
        sim.faults.once("slack")
        _fresh_any(inv, sim)
        assert inv.framer.stats.slack_accepted == 1
        sim.faults.once("trailer", 2)
        _fresh_any(inv, sim)
        _fresh_any(inv, sim)
        _fresh_any(inv, sim)
        assert inv.framer.stats.garbage_bytes == 2
        assert inv.framer.stats.bad_checksum == 0
    finally:
        port.close()
        forget_simulator("quirks")


def _fresh_any(inv: Any, sim: Simulator) -> None:
    status = inv.read_status()
    last = sim.record.last()
    assert last is not None and status.values() == last.values


def test_vanish_given_as_an_option_comes_and_goes_by_itself() -> None:
    url = "sim://cms?name=vanisher&awake=always&fault=vanish:0.3,0.4"
    port = serial.serial_for_url(url, timeout=TIMEOUT)
    try:
        inv = cms.Inverter(port, timeout=TIMEOUT, sleep=lambda s: None)
        inv.handshake()
        time.sleep(0.45)
        with pytest.raises(pv.PortGone):
            inv.read_status()
        time.sleep(0.45)  # back after 0.4 s; a new open works and the inverter kept its address
        port2 = serial.serial_for_url(url, timeout=TIMEOUT)
        assert cms.Inverter(port2, timeout=TIMEOUT, address=1).read_status().pac is not None
        port2.close()
    finally:
        port.close()
        forget_simulator("vanisher")
