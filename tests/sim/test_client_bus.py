"""Device behaviour as the real client ``pv.cms.Inverter`` sees it, on one ``sim://`` line with two inverters."""

from __future__ import annotations

import pv
import pytest
import serial
from pv import cms

from pvapp.sim import forget_simulator, get_simulator


def test_two_inverters_discovered_and_registered_in_turn() -> None:
    port = serial.serial_for_url("sim://cms?name=bus2&inverters=2&awake=always", timeout=0.2)
    try:
        sim = get_simulator("bus2")
        first = cms.Inverter(port, timeout=0.2, sleep=lambda s: None)
        first.reset()
        sn1 = first.discover()
        assert sn1 == "0905BO0139"
        assert first.register(sn1, 1)
        second = cms.Inverter(port, timeout=0.2, sleep=lambda s: None)
        sn2 = second.discover()  # the registered one stays silent, the other answers
        assert sn2 == "0905BO0140"
        assert second.register(sn2, 2)
        assert first.discover() is None  # everyone is registered now
        assert first.read_version().serial == sn1
        assert second.read_version().serial == sn2
        s1, s2 = first.read_status(), second.read_status()
        assert s1.e_total != s2.e_total
        assert [(r.serial, r.address) for r in sim.record.entries()] == [(sn1, 1), (sn2, 2)]
        # a request to an address nobody has: silence
        stray = cms.Inverter(port, address=7, timeout=0.2)
        with pytest.raises(pv.NoReply):
            stray.read_status_layout()
        # reset makes both forget; they answer discover again, one at a time
        first.reset()
        with pytest.raises(pv.NoReply):
            first.read_status_layout()
        assert first.discover() == sn1
    finally:
        port.close()
        forget_simulator("bus2")


def test_register_with_a_wrong_serial_is_not_acknowledged() -> None:
    port = serial.serial_for_url("sim://cms?awake=always", timeout=0.2)
    try:
        inv = cms.Inverter(port, timeout=0.2, sleep=lambda s: None)
        inv.reset()
        assert not inv.register("0000XX0000", 1)
        assert inv.discover() == "0905BO0139"
    finally:
        port.close()


def test_requests_built_once_follow_the_address_and_the_host_address() -> None:
    """Requests are built once per destination and kept: moving the client to another bus address
    (or another host address, pv 0.2's my_addr) must send the next request there, not to the old one."""
    port = serial.serial_for_url("sim://cms?name=bus3&inverters=2&awake=always", timeout=0.2)
    try:
        first = cms.Inverter(port, timeout=0.2, sleep=lambda s: None)
        first.reset()
        sn1 = first.discover()
        assert sn1 is not None and first.register(sn1, 1)
        second = cms.Inverter(port, timeout=0.2, sleep=lambda s: None)
        sn2 = second.discover()
        assert sn2 is not None and second.register(sn2, 2)
        assert first.read_version().serial == sn1
        first.address = 2  # the same object, now speaking to the other inverter
        assert first.read_version().serial == sn2
        assert first.status(first.status_layout(), 1) is not None  # pv 0.2's dst: its own requests, kept apart
        assert first.read_version().serial == sn2
    finally:
        port.close()
        forget_simulator("bus3")

    class Recorder:
        def __init__(self) -> None:
            self.timeout: float | None = 0.01
            self.written: list[bytes] = []

        def write(self, data: bytes) -> int:
            self.written.append(bytes(data))
            return len(data)

        def read(self, size: int = 1) -> bytes:
            return b""

    rec = Recorder()
    inv = cms.Inverter(rec, address=1, timeout=0.01, sleep=lambda s: None)
    for my_addr in (0x0100, 0x0123):
        inv.my_addr = my_addr
        for _ in range(2):
            with pytest.raises(pv.NoReply):
                inv.read_status()
            with pytest.raises(pv.NoReply):
                inv.status((0x44,))
    sources = [cms.CODEC.parse(frame).src for frame in rec.written]
    assert sources == [0x0100] * 4 + [0x0123] * 4
