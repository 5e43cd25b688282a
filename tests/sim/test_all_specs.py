"""One engine, every generated spec and model: each gets a working simulated inverter with no code."""

from __future__ import annotations

import importlib

import pv
import pytest
import serial
from pv import cms

from pvapp.sim import SimOptions, Simulator, forget_simulator, get_simulator
from pvgen.runtime.model import ProtocolSpec

CASES = [(spec_id, model.id) for spec_id in pv.SPECS for model in importlib.import_module(f"pv.{spec_id}").SPEC.models]


def normal_label(spec: ProtocolSpec) -> str | None:
    """The label of the 'normal' value of the spec's mode enum, if it has one (not every spec names modes)."""
    mode = next((f for f in spec.fields if f.id == "mode"), None)
    if mode is None or mode.enum is None:
        return None
    return next((v.label for v in spec.enum(mode.enum).values if v.name == "normal"), None)


@pytest.mark.parametrize(("spec_id", "model_id"), CASES)
def test_every_spec_and_model_is_simulated(spec_id: str, model_id: str) -> None:
    """Handshake, identity, layout (queried or fixed), status in canonical quantities: from the spec alone."""
    module = importlib.import_module(f"pv.{spec_id}")
    spec = module.SPEC
    model = spec.model(model_id)
    name = f"all-{spec_id}-{model_id}"
    url = f"sim://{spec_id}?model={model_id}&start=2026-12-21T11:00&tz=%2B10:00&name={name}"
    port = serial.serial_for_url(url, timeout=0.5)
    try:
        sim = get_simulator(name)
        inv = module.Inverter(port, sleep=lambda s: None, timeout=0.5)
        serial_no = inv.handshake()
        if spec.registration:
            # the serial comes from discover, whatever the version reply holds (KLNE's has none)
            assert serial_no == sim.inverters[0].serial
        if spec.has_command("version"):
            version = inv.read_version()
            for field_id, text in dict(model.version).items():
                assert getattr(version, field_id) == text.strip("\0 "), field_id
        sim.log.clear()
        assert inv.read_status_layout() == model.status_layout
        asked = [e.command for e in sim.log]
        if model.status_fixed:
            # no layout reply from a unit without the query (if the spec has the query, it went unanswered)
            assert all(not e.replies for e in sim.log if e.command == "status_layout")
        else:
            assert asked == ["status_layout"] and sim.log[0].replies
        status = inv.read_status()
        label = normal_label(spec)
        if label is not None:
            assert status.mode_label == label
        assert status.pac is not None and 0 < status.pac <= model.rated_power
        assert status.e_total is not None and status.e_total >= 1500
        assert status.e_today is not None and status.e_today > 0
        phases = [
            (getattr(status, f"vac{sfx}", None), getattr(status, f"iac{sfx}", None)) for sfx in ("", "_l2", "_l3")
        ]
        measured = [(v, i) for v, i in phases if v is not None and i is not None]
        if measured:
            assert abs(sum(v * i for v, i in measured) - status.pac) <= 0.05 * status.pac + 25 * len(measured)
        if spec.has_command("parameters") and (model.param_layout or model.param_fixed):
            params = inv.read_parameters()
            assert params.raw == tuple(raw for _, raw in model.parameters)
    finally:
        port.close()
        forget_simulator(name)


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
