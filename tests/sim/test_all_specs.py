"""One engine, every generated spec and model: each gets a working simulated inverter with no code."""

from __future__ import annotations

import importlib

import pv
import pytest
import serial
from pv import cms

from pvapp.sim import SimOptions, Simulator


def _pac_pending(spec_id: str, model_id: str) -> bool:
    """A model whose AC power only a spec-language change can map onto ``pac`` (SolarLake: code 0x0B)."""
    spec = importlib.import_module(f"pv.{spec_id}").SPEC
    layout = set(spec.model(model_id).status_layout)
    return not any(f.id == "pac" and set(f.codes) <= layout for f in spec.fields)


CASES = [
    pytest.param(
        spec_id,
        model.id,
        marks=[
            pytest.mark.xfail(
                strict=True, reason="waits for issue 10: three-phase codes 0x0B, 0x07/0x08 onto pac, e_total"
            )
        ]
        if _pac_pending(spec_id, model.id)
        else [],
    )
    for spec_id in pv.SPECS
    for model in importlib.import_module(f"pv.{spec_id}").SPEC.models
]


@pytest.mark.parametrize(("spec_id", "model_id"), CASES)
def test_every_spec_and_model_is_simulated(spec_id: str, model_id: str) -> None:
    module = importlib.import_module(f"pv.{spec_id}")
    model = module.SPEC.model(model_id)
    url = f"sim://{spec_id}?model={model_id}&start=2026-12-21T11:00&tz=%2B10:00"
    port = serial.serial_for_url(url, timeout=0.5)
    try:
        inv = module.Inverter(port, sleep=lambda s: None)
        serial_no = inv.handshake()
        version = inv.read_version()
        expected = dict(model.version)
        for field_id, text in expected.items():
            assert getattr(version, field_id) == text.strip("\0 "), field_id
        if module.SPEC.registration:
            assert serial_no == expected["serial"]
        assert inv.read_status_layout() == model.status_layout
        status = inv.read_status()
        assert status.mode_label == "Normal"
        assert status.pac is not None and 0 < status.pac <= model.rated_power
        assert status.e_total is not None and status.e_total >= 1500
        if status.vac is not None and status.iac is not None:
            assert abs(status.vac * status.iac - status.pac) <= 0.05 * status.pac + 25
        if module.SPEC.has_command("parameters"):
            params = inv.read_parameters()
            assert params.raw == tuple(raw for _, raw in model.parameters)
    finally:
        port.close()


def test_keep_alive_is_answered_from_the_spec_example_alone() -> None:
    """samil_tcp's keep-alive reply exists only as a spec example (mhvis): the engine answers it with no code."""
    sim = Simulator("samil_tcp", SimOptions(spec="samil_tcp", awake="always"))
    cmd = sim.spec.command("keep_alive")
    reply = sim.codec.parse(sim.feed(sim.codec.build(cmd.control, cmd.function, b"")))
    assert (reply.control, reply.function, reply.payload) == (0x01, 0x89, bytes.fromhex("550c0000"))
    assert sim.unanswered == {}


def test_set_parameter_is_acknowledged_and_read_back() -> None:
    """Set commands were never captured: the simulator presumes raw words in, ACK out (REFERENCE 2)."""
    port = serial.serial_for_url("sim://cms?awake=always", timeout=0.5)
    try:
        inv = cms.Inverter(port, sleep=lambda s: None)
        inv.handshake()
        inv.set_parameter("t_start", 60, confirm=True)
        assert inv.read_parameters().t_start == 60
    finally:
        port.close()


def test_pv02_two_byte_address_register_is_accepted() -> None:
    """pv 0.2 and arduino-pv send the address as two bytes (length 0x0C) and report it works (REFERENCE 3.5)."""
    sim = Simulator("cms", SimOptions(spec="cms", awake="always"))
    req = sim.codec.build(0x00, 0x01, b"0905BO0139" + b"\x00\x01", src=0x0100, dst=0x0000)
    ack = sim.codec.parse(sim.feed(req))
    assert (ack.src, ack.dst, ack.payload) == (1, 0x0100, b"\x06")


def test_serial_longer_than_the_spec_allows_is_refused() -> None:
    from pvapp.sim import OptionError

    with pytest.raises(OptionError, match="longer than the 10 characters a cms serial has"):
        Simulator("cms", SimOptions(spec="cms", serials=("X" * 17,)))
