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
