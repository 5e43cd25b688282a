"""pv 0.2's ``cms.Inverter``, call by call, against the simulator, a real pty and captured frames.

The interface under test is issue 14's list (pv 0.2's source); the expected
pairs come from ``pv02.py``, computed from the bytes on the wire, never from
the code under test.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pickle
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pv
import pytest
import serial
from pv import cms

from pvapp.sim import ManualClock, PtyServer, SimOptions, Simulator

from .pv02 import PARAMETER_LABELS, PARAMETERS, STATUS, STATUS_LABELS, CannedPort, Tap, check_pairs, frames_in, vectors

EMPTY = inspect.Parameter.empty
PK = "POSITIONAL_OR_KEYWORD"
CMS2000_PARAM_LAYOUT = (0x40, 0x41, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49)  # SCOTTY-PC.LOG, vectors.json #28
# The CMS 2000's captured parameters (REFERENCE 3.3), which the simulator serves, in pv 0.2's words
CMS2000_PARAMETERS = [
    ("Vpc-start", 150.0),
    ("T-start", 30),
    ("Vac-Min", 192.0),
    ("Vac-Max", 256.0),
    ("Fac-Min", 47.51),
    ("Fac-Max", 50.19),
    ("Zac-Max", 65535),
    ("DZac", 65535),
]
CMS2000_STATUS_LABELS = [label for label in STATUS_LABELS if label[-1] not in "123"]  # no Vpv1..Ipv3 on it

SimLine = Callable[..., tuple[Tap, Simulator]]


def shape(fn: Any) -> list[tuple[str, str, object]]:
    return [(p.name, p.kind.name, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("spec_id", pv.SPECS)
def test_every_call_has_pv02_names_keywords_and_defaults(spec_id: str) -> None:
    inverter = importlib.import_module(f"pv.{spec_id}").Inverter
    host = importlib.import_module(f"pv.{spec_id}").SPEC.frame.host_address
    assert shape(inverter)[:2] == [("port", PK, EMPTY), ("my_addr", PK, host)]
    assert shape(inverter.reset) == [("self", PK, EMPTY)]
    assert shape(inverter.discover) == [("self", PK, EMPTY)]
    assert shape(inverter.register) == [("self", PK, EMPTY), ("sn", PK, EMPTY), ("addr", PK, 1)]
    for name in ("version", "status_layout", "param_layout"):
        assert shape(getattr(inverter, name)) == [("self", PK, EMPTY), ("dst", PK, 1)], name
    for name in ("status", "parameters"):
        assert shape(getattr(inverter, name)) == [("self", PK, EMPTY), ("layout", PK, EMPTY), ("dst", PK, 1)], name


def test_cms_inverter_default_host_address_is_pv02s() -> None:
    assert inspect.signature(cms.Inverter).parameters["my_addr"].default == 0x0100


STYLES = {
    # how a pv 0.2 script may spell each call
    "defaults": lambda inv, sn, layout: (
        inv.register(sn),
        inv.version(),
        inv.param_layout(),
        inv.status_layout(),
    ),
    "positional": lambda inv, sn, layout: (
        inv.register(sn, 1),
        inv.version(1),
        inv.param_layout(1),
        inv.status_layout(1),
    ),
    "keywords": lambda inv, sn, layout: (
        inv.register(sn=sn, addr=1),
        inv.version(dst=1),
        inv.param_layout(dst=1),
        inv.status_layout(dst=1),
    ),
}
READS = {
    "defaults": lambda inv, which, layout: getattr(inv, which)(layout),
    "positional": lambda inv, which, layout: getattr(inv, which)(layout, 1),
    "keywords": lambda inv, which, layout: getattr(inv, which)(layout=layout, dst=1),
}
CONSTRUCT = {
    "defaults": lambda port: cms.Inverter(port),
    "positional": lambda port: cms.Inverter(port, 0x0100),
    "keywords": lambda port: cms.Inverter(port=port, my_addr=0x0100),
}


@pytest.mark.parametrize("style", list(STYLES))
def test_the_pv02_session_on_the_simulator(sim_line: SimLine, style: str) -> None:
    tap, sim = sim_line()
    inv = CONSTRUCT[style](tap)
    assert inv.reset() is None
    sn = inv.discover()
    assert sn == "0905BO0139"
    registered, version, param_layout, status_layout = STYLES[style](inv, sn, None)
    assert registered is True
    assert isinstance(version, str) and "CMS 2000" in version and "0905BO0139" in version
    assert tuple(param_layout) == CMS2000_PARAM_LAYOUT

    parameters = READS[style](inv, "parameters", param_layout)
    check_pairs(parameters, PARAMETERS, param_layout, tap.last_reply(0x84))
    assert parameters == CMS2000_PARAMETERS
    assert parameters["T-start"] == 30 and parameters["Vpc-start"] == 150.0  # pv 0.2's labels (sic)

    status = READS[style](inv, "status", status_layout)
    check_pairs(status, STATUS, status_layout, tap.last_reply(0x82))
    assert [label for label, _ in status][: len(CMS2000_STATUS_LABELS)] == CMS2000_STATUS_LABELS
    assert [label for label, _ in status][len(CMS2000_STATUS_LABELS) :] == [
        "E-Today",
        "Error-GV",
        "Error-GF",
        "Error-GZ",
        "Error-Temp",
        "Error-PV1",
        "Error-GFC1",
    ]
    served = sim.record.last(sn)
    assert served is not None and served.frame[9:-2] == tap.last_reply(0x82)
    assert status["Pac"] == served.values["pac"] > 0
    # raw words are not hidden: the CMS 2000 reports Zac 0xFFFF ("not measured")
    assert status["Zac"] == 65535 and served.values["zac"] is None
    # every request went to dst 1 from pv 0.2's host address 0x0100
    sent = frames_in(bytes(tap.tx))
    reads = [f for f in sent if f[6] == 1]
    assert reads and all(f[2:6] == b"\x01\x00\x00\x01" for f in reads)


def test_all_pv02_labels_on_a_captured_sunezy_600e_session(need_vectors: None) -> None:
    """Every one of pv 0.2's 17 status labels: SunEzy 600E capture (smarthall/ArduinoCMS2000DataLogger
    docs/Protocol.txt, vectors.json #5-#14: version, layouts, parameters, status)."""
    v = vectors()
    assert all(v[i]["source"].endswith("docs/Protocol.txt") for i in range(5, 15))
    port = CannedPort({bytes.fromhex(v[i]["hex"]): bytes.fromhex(v[i + 1]["hex"]) for i in (5, 7, 9, 11, 13)})
    inv = cms.Inverter(port, timeout=0.2)
    assert "SunEzy 600E" in inv.version()
    layout = inv.status_layout()
    status = inv.status(layout)
    payload = bytes.fromhex(v[14]["hex"])[9:-2]
    check_pairs(status, STATUS, layout, payload)
    assert [label for label, _ in status][:17] == STATUS_LABELS
    decoded = v[14]["decoded"]  # values recorded in vectors.json, decoded there
    assert status["Pac"] == decoded["pac_w"] == 2178
    assert status["E-Total"] == decoded["e_total_kwh"] == 1569.7
    assert status["Temp-inv"] == decoded["temp_internal"] == 37.9
    assert (status["Vpv1"], status["Ipv2"], status["Zac"]) == (decoded["vpv1"], decoded["ipv2"], decoded["zac_mohm"])
    assert status["h-Total"] == decoded["h_total_h"] and status["Mode"] == decoded["mode"] == 1
    assert status["E-Today"] == decoded["e_today_kwh"]  # an extra pair, after pv 0.2's
    param_layout = inv.param_layout()
    parameters = inv.parameters(param_layout)
    check_pairs(parameters, PARAMETERS, param_layout, bytes.fromhex(v[12]["hex"])[9:-2])
    assert [label for label, _ in parameters] == PARAMETER_LABELS
    assert (parameters["Zac-Max"], parameters["DZac"]) == (2500, 750)
    assert port.written == [bytes.fromhex(v[i]["hex"]) for i in (5, 7, 13, 9, 11)]


def test_readings_are_a_list_of_pairs_and_answer_by_label(need_vectors: None) -> None:
    v = vectors()
    port = CannedPort({bytes.fromhex(v[i]["hex"]): bytes.fromhex(v[i + 1]["hex"]) for i in (7, 13)})
    inv = cms.Inverter(port, timeout=0.2)
    status = inv.status(inv.status_layout())
    assert status is not None
    assert isinstance(status, list) and status == list(status)
    assert status[0] == ("Temp-inv", 37.9) and status[-1][0] == "Error-GFC1"
    assert status[1:3] == [("Vpv1", 265.4), ("Vpv2", 261.0)]
    assert "%-10s: %s" % status[11] == "Pac       : 2178"  # noqa: UP031 - pv 0.2's own print
    assert status["Pac"] == 2178 and status.get("Pac") == 2178 and status.get("Nope") is None
    assert "Pac" in status and ("Pac", 2178) in status and "Vpv-Start" not in status
    assert dict(status)["E-Total"] == 1569.7 and status.keys()[0] == "Temp-inv"
    with pytest.raises(KeyError):
        status["pac"]
    assert json.loads(json.dumps(status))[11] == ["Pac", 2178]
    assert pickle.loads(pickle.dumps(status)) == status


def test_none_when_the_reply_does_not_unpack(sim_line: SimLine) -> None:
    tap, _ = sim_line()
    inv = cms.Inverter(tap)
    inv.reset()
    assert inv.register(inv.discover() or "")
    layout = inv.status_layout()
    assert inv.status(layout[:-1]) is None
    assert inv.status((*layout, 0x01)) is None
    sunezy_600e = (0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, *layout[1:])  # another model's layout
    assert inv.status(sunezy_600e) is None
    param_layout = inv.param_layout()
    assert inv.parameters(param_layout[:-1]) is None
    # the line is still in step: the next call with the right layout reads normally
    assert inv.status(layout)["Mode"] == 1  # type: ignore[index]
    assert inv.parameters(param_layout) == CMS2000_PARAMETERS


def test_no_reply_at_all_raises_no_reply(sim_line: SimLine) -> None:
    """Not in the issue; the choice documented in docs/legacy.md: silence is NoReply, not None."""
    tap, _ = sim_line()
    inv = cms.Inverter(tap, timeout=0.2)
    inv.reset()
    assert inv.register(inv.discover() or "")
    layout = inv.status_layout()
    with pytest.raises(pv.NoReply) as err:
        inv.status(layout, dst=7)  # nobody has address 7
    assert isinstance(err.value, TimeoutError)


def test_one_object_polls_two_inverters_by_dst(sim_line: SimLine) -> None:
    tap, sim = sim_line(inverters=2)
    inv = cms.Inverter(tap)
    inv.reset()
    sn1 = inv.discover()
    assert sn1 is not None and inv.register(sn1, 1)
    sn2 = inv.discover()  # the registered one stays silent; the other answers
    assert sn2 is not None and sn2 != sn1 and inv.register(sn2, addr=2)
    assert inv.discover() is None
    readings = {}
    for dst, sn in ((1, sn1), (2, sn2), (1, sn1)):
        assert sn in inv.version(dst)
        layout = inv.status_layout(dst=dst)
        status = inv.status(layout, dst)
        check_pairs(status, STATUS, layout, tap.last_reply(0x82, src=dst))
        served = sim.record.last(sn)
        assert served is not None and served.address == dst and served.frame[9:-2] == tap.last_reply(0x82, src=dst)
        readings[dst] = status
        assert inv.parameters(inv.param_layout(dst), dst=dst) == CMS2000_PARAMETERS
    assert readings[1]["E-Total"] != readings[2]["E-Total"]
    status_requests = [f for f in frames_in(bytes(tap.tx)) if f[6:8] == b"\x01\x02"]
    assert [int.from_bytes(f[4:6], "big") for f in status_requests] == [1, 2, 1]


@pytest.mark.parametrize("make", [lambda p: cms.Inverter(p, 0x0200), lambda p: cms.Inverter(p, my_addr=0x0200)])
def test_my_addr_is_the_source_of_every_request(sim_line: SimLine, make: Callable[[Any], Any]) -> None:
    tap, _ = sim_line()
    inv = make(tap)
    inv.reset()
    sn = inv.discover()
    assert sn == "0905BO0139" and inv.register(sn)
    layout = inv.status_layout()
    status = inv.status(layout)
    check_pairs(status, STATUS, layout, tap.last_reply(0x82))
    sent, got = frames_in(bytes(tap.tx)), frames_in(bytes(tap.rx))
    assert sent and all(f[2:4] == b"\x02\x00" for f in sent)
    assert got and all(f[4:6] == b"\x02\x00" for f in got)  # the simulator answers whoever asked


def test_on_a_real_pty_opened_with_pyserial() -> None:
    """The pv 0.2 session on a pseudo-terminal, as a script opening a device path would run it."""
    noon = datetime(2026, 12, 21, 12, 0, tzinfo=timezone(timedelta(hours=10)))
    sim = Simulator("cms", SimOptions(spec="cms", awake="always", clouds=0.0), clock=ManualClock(noon))
    with PtyServer(sim) as pty:
        port = serial.Serial(pty.device, 9600, timeout=1)
        try:
            tap = Tap(port)
            inv = cms.Inverter(tap)
            inv.reset()
            sn = inv.discover()
            assert sn is not None and inv.register(sn)
            assert "CMS 2000" in inv.version()
            parameters = inv.parameters(inv.param_layout())
            assert parameters == CMS2000_PARAMETERS
            layout = inv.status_layout()
            status = inv.status(layout)
            check_pairs(status, STATUS, layout, tap.last_reply(0x82))
            served = sim.record.last(sn)
            assert served is not None and status["Pac"] == served.values["pac"] > 0
        finally:
            port.close()


def test_the_typed_api_keeps_its_own_labels_and_values(sim_line: SimLine) -> None:
    """Beside the pv 0.2 calls the typed API is unchanged: spec labels, None for 'not measured'."""
    tap, _ = sim_line()
    inv = cms.Inverter(tap)
    assert inv.handshake() == "0905BO0139"
    assert inv.read_status().zac is None
    params = inv.read_parameters()
    assert params.vpv_start == 150.0 and params.labelled()[0] == ("Vpv-Start", 150.0)
    assert cms.SPEC.parameter("t_start").label == "T-Start"
