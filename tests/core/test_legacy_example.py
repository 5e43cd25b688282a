"""The pv 0.2 example program, unchanged, against the captured CMS 2000 session.

The session is smarthall/ArduinoCMS2000DataLogger docs/SCOTTY-PC.LOG
(ProControl.exe talking to CMS 2000 serial 0905BO0139, vectors.json #19-#41).
That log does not contain the register request; the identical frame for the
same inverter is in the same repository's docs/"Inverter Chat" (vectors.json
#42, also #44 from invert.txt).  ``examples/legacy_example.py`` opens its port
with ``serial.serial_for_url(sys.argv[1])``; the test registers a ``replay://``
URL handler, so the example runs exactly as a user would run it, and its
output is compared with the values recorded in vectors.json (decoded there,
independently of this code), printed with pv 0.2's ``"%-10s: %s"``.
"""

from __future__ import annotations

import json
import re
import runpy
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import serial
from pv import cms

from .replayport.protocol_replay import SESSIONS, Session

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "legacy_example.py"
VECTORS_PATH = REPO.parent / "shared" / "protocol" / "vectors.json"
SCOTTY = "smarthall/ArduinoCMS2000DataLogger docs/SCOTTY-PC.LOG"
CHAT = "smarthall/ArduinoCMS2000DataLogger docs/Inverter Chat"
HANDLER_PACKAGE = f"{__package__}.replayport"

if not VECTORS_PATH.exists():
    pytest.skip(f"reference vectors not present at {VECTORS_PATH}", allow_module_level=True)

VECTORS: list[dict[str, Any]] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))

PARAM_KEYS = {"t_start_s": "t_start", "zac_max_mohm": "zac_max", "dzac_mohm": "dzac"}
STATUS_KEYS = {
    "e_total_kwh": "e_total",
    "h_total_h": "h_total",
    "temp_internal": "temperature",
    "e_today_kwh": "e_today",
    "pac_w": "pac",
    "zac_mohm": "zac",
    "err_gv": "gv_fault",
    "err_gf": "gf_fault",
    "err_gz": "gz_fault",
    "err_temp": "tmp_fault",
    "err_pv1": "pv1_fault",
    "err_gfc1": "gfc1_fault",
}


# pv 0.2's labels (issue 14, from pv 0.2's source), by spec field id; written
# out here rather than taken from the code under test.
PV02_PARAMS = {
    "vpv_start": "Vpc-start",
    "t_start": "T-start",
    "vac_min": "Vac-Min",
    "vac_max": "Vac-Max",
    "fac_min": "Fac-Min",
    "fac_max": "Fac-Max",
    "zac_max": "Zac-Max",
    "dzac": "DZac",
}
PV02_STATUS = {
    "temperature": "Temp-inv",
    "vpv": "Vpv",
    "iac": "Iac",
    "vac": "Vac",
    "fac": "Fac",
    "pac": "Pac",
    "zac": "Zac",
    "e_total": "E-Total",
    "h_total": "h-Total",
    "mode": "Mode",
    "error": "Error",
}


def base_command(name: str) -> str:
    name = name.removesuffix("_reply").removesuffix("_ack")
    return {"params": "parameters"}.get(name, name)


def scotty_session() -> Session:
    requests: dict[str, bytes] = {}
    replies: dict[str, list[tuple[int, bytes]]] = {}
    for index, v in enumerate(VECTORS):
        if v["source"] == SCOTTY or (v["source"] == CHAT and v["command"] == "register"):
            cmd = base_command(v["command"])
            if v["direction"] == "request":
                requests[cmd] = bytes.fromhex(v["hex"])
            else:
                replies.setdefault(cmd, []).append((index, bytes.fromhex(v["hex"])))
    assert set(replies) <= set(requests), "every captured reply answers a captured request"
    return Session(
        replies={frame: list(replies.get(cmd, [])) for cmd, frame in requests.items()},
        names={frame: cmd for cmd, frame in requests.items()},
    )


@pytest.fixture
def replay(monkeypatch: pytest.MonkeyPatch) -> Iterator[Session]:
    session = scotty_session()
    monkeypatch.setitem(SESSIONS, "scotty-pc", session)
    monkeypatch.setattr(serial, "protocol_handler_packages", [*serial.protocol_handler_packages, HANDLER_PACKAGE])
    yield session


def vector(index: int) -> dict[str, Any]:
    return VECTORS[index]


def codes(layout_reply: dict[str, Any]) -> list[int]:
    """Layout codes as vectors.json records them (hex text)."""
    return [int(c, 16) for c in layout_reply["decoded"]["codes"]]


def expected_lines(served: list[int]) -> list[str]:
    """What the capture decodes to, in pv 0.2's format, for the replies the example received."""
    lines: list[str] = []
    by_cmd = {base_command(vector(i)["command"]): vector(i) for i in served}
    version = bytes.fromhex(by_cmd["version"]["hex"])[9:-2]
    lines.append(version.replace(b"\x00", b" ").decode("ascii").strip())
    param_layout = codes(by_cmd["param_layout"])
    params = {PARAM_KEYS.get(k, k): v for k, v in by_cmd["parameters"]["decoded"].items()}
    lines += fmt_in_layout_order(cms.SPEC.parameters, param_layout, params, PV02_PARAMS)
    status_layout = codes(by_cmd["status_layout"])
    decoded = by_cmd["status"]["decoded"]
    status = {STATUS_KEYS.get(k, k): v for k, v in decoded.items() if k not in ("error_hi", "error_lo")}
    status["error"] = decoded["error_hi"] << 16 | decoded["error_lo"]
    lines += fmt_in_layout_order(cms.SPEC.fields, status_layout, status, PV02_STATUS)
    return lines


def fmt_in_layout_order(fields: Any, layout: list[int], values: dict[str, Any], pv02: dict[str, str]) -> list[str]:
    """pv 0.2's pairs first (its labels, layout order), then the values it did not know (layout order)."""
    by_id = {f.id: f for f in fields}
    assert set(values) <= set(by_id), set(values) - set(by_id)
    order = sorted(values, key=lambda fid: (fid not in pv02, layout.index(by_id[fid].codes[0])))
    return ["%-10s: %s" % (pv02.get(fid, by_id[fid].label), values[fid]) for fid in order]  # noqa: UP031 - pv 0.2's format


def run_example(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setattr(sys, "argv", [str(EXAMPLE), url])
    runpy.run_path(str(EXAMPLE), run_name="__main__")


def test_example_prints_what_the_capture_decodes_to(
    replay: Session, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert EXAMPLE.exists(), "examples/legacy_example.py (the pv 0.2 example) is missing"
    run_example(monkeypatch, "replay://scotty-pc")
    out = capsys.readouterr().out.splitlines()

    assert replay.unexpected == []
    # the pv 0.2 call sequence, each request byte-identical to the captured one
    assert replay.written == [
        "reset",
        "discover",
        "register",
        "version",
        "param_layout",
        "parameters",
        "status_layout",
        "status",
    ]
    assert replay.served == [21, 22, 24, 28, 30, 26, 32]
    assert out == expected_lines(replay.served)

    # spot checks against the numbers a reader of SCOTTY-PC.LOG sees (vectors.json #32)
    assert "Pac       : 10" in out
    assert "E-Total   : 1626.4" in out
    assert "Temp-inv  : 32.4" in out
    assert "Zac       : 65535" in out
    assert "Vpc-start : 150.0" in out and "T-start   : 30" in out  # pv 0.2's spelling (sic)
    assert re.fullmatch(r"1\s+2000A1\.00\s+CMS 2000\s+PHOENIXTEC\s+0905BO0139\s+3600", out[0])


def test_example_says_not_connected_when_nobody_answers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same session without the discover reply: pv 0.2's 'not connected' path, exit status 1."""
    session = scotty_session()
    discover = next(frame for frame, name in session.names.items() if name == "discover")
    session.replies[discover] = []
    monkeypatch.setitem(SESSIONS, "silent", session)
    monkeypatch.setattr(serial, "protocol_handler_packages", [*serial.protocol_handler_packages, HANDLER_PACKAGE])
    with pytest.raises(SystemExit) as exit_:
        run_example(monkeypatch, "replay://silent")
    assert exit_.value.code == 1
    assert capsys.readouterr().out == "Inverter is not connected.\n"
    assert session.written == ["reset", "discover"]


def test_typed_api_over_the_same_session(replay: Session) -> None:
    """The typed calls beside the legacy ones read the same captured values."""
    port = serial.serial_for_url("replay://scotty-pc", 9600, timeout=1)
    inv = cms.Inverter(port)
    assert inv.handshake(resets=1) == "0905BO0139"
    assert inv.read_version().model == "CMS 2000"
    status = inv.read_status()
    assert replay.written == ["reset", "discover", "register", "version", "status_layout", "status"]
    assert (status.pac, status.e_total, status.h_total, status.temperature, status.zac) == (
        10,
        1626.4,
        4344,
        32.4,
        None,
    )
    assert inv.last_frame == bytes.fromhex(vector(32)["hex"])
    status = inv.read_status()  # the layout is cached: only a status request goes out
    assert replay.written[-1] == "status" and replay.written[-2] == "status"
    assert status.vpv == vector(33)["decoded"]["vpv"]
    assert inv.framer.stats.bad_checksum == 0
