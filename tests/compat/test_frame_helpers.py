"""pv 0.2's module helpers, kept (deprecated): ``Frame`` constants, ``checksum``, ``parse_frame``, ``bin2hex``.

The constant names are this project's choice (the issue does not list pv
0.2's); their values are the command words of REFERENCE.md section 2.  Frames
are the captured ones in vectors.json, each named by its source.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

import pytest
from pv import cms

from pvapp.sim import Simulator

from .pv02 import Tap, vectors

SCOTTY = "smarthall/ArduinoCMS2000DataLogger docs/SCOTTY-PC.LOG"


def test_command_constants_are_the_command_words() -> None:
    # REFERENCE.md section 2 (request codes, captured or [pv] code-only)
    assert (cms.Frame.DISCOVER, cms.Frame.REGISTER, cms.Frame.RESET) == (0x0000, 0x0001, 0x0004)
    assert (cms.Frame.STATUS_LAYOUT, cms.Frame.PARAM_LAYOUT, cms.Frame.STATUS) == (0x0100, 0x0101, 0x0102)
    assert (cms.Frame.VERSION, cms.Frame.PARAMETERS) == (0x0103, 0x0104)
    assert (cms.Frame.SET_VPV_START, cms.Frame.SET_T_START) == (0x0200, 0x0201)
    assert {"checksum", "parse_frame", "bin2hex", "Frame"} <= set(cms.__all__)


def test_checksum_and_bin2hex_on_captured_frames(need_vectors: None) -> None:
    frames = [v for v in vectors() if v["variant"] == "cms_aaaa_serial" and v["checksum_ok"]]
    assert len(frames) > 30
    for v in frames:
        data = bytes.fromhex(v["hex"])
        assert cms.checksum(data[:-2]) == struct.unpack(">H", data[-2:])[0], v["source"]
        assert cms.bin2hex(data) == v["hex"].lower()
    assert cms.bin2hex(bytearray(b"\xaa\xaa\x01")) == "aaaa01"
    assert cms.checksum(b"") == 0 and cms.checksum(b"\xff" * 300) == (255 * 300) & 0xFFFF


def test_parse_frame_on_captured_frames(need_vectors: None) -> None:
    v = vectors()
    for entry in v:
        if entry["variant"] != "cms_aaaa_serial" or not entry["checksum_ok"]:
            continue
        data = bytes.fromhex(entry["hex"])
        frame = cms.parse_frame(data)
        assert frame is not None, entry["source"]
        assert isinstance(frame, cms.Frame) and frame.raw == data and frame.payload == data[9:-2]
        assert (frame.src, frame.dst) == (data[2] << 8 | data[3], data[4] << 8 | data[5])
        assert frame.command == data[6] << 8 | data[7]
    # SCOTTY-PC.LOG (vectors.json #19): the reset request is a complete 11-byte frame with no payload
    reset = cms.parse_frame(bytes.fromhex(v[19]["hex"]))
    assert reset is not None and reset.command == cms.Frame.RESET and reset.payload == b""
    # SCOTTY-PC.LOG (vectors.json #32): a status reply
    reply = cms.parse_frame(bytes.fromhex(v[32]["hex"]))
    assert reply is not None and reply.command == cms.Frame.STATUS | 0x80 and len(reply.payload) == 42


def test_parse_frame_returns_none_for_anything_but_one_whole_frame(need_vectors: None) -> None:
    v = vectors()
    good = bytes.fromhex(v[32]["hex"])  # SCOTTY-PC.LOG status reply
    reset = bytes.fromhex(v[19]["hex"])  # SCOTTY-PC.LOG reset request, 11 bytes
    assert cms.parse_frame(reset[:10]) is None  # under the 11-byte minimum
    assert cms.parse_frame(b"") is None
    assert cms.parse_frame(good[:-1]) is None  # cut short
    assert cms.parse_frame(good + b"\x00") is None  # trailing byte
    assert cms.parse_frame(good[:-1] + bytes([good[-1] ^ 1])) is None  # bad checksum
    assert cms.parse_frame(b"\x55" + good[1:]) is None  # wrong sync
    # [pv-wiki]'s worked example, vectors.json #47: its printed checksum is one below the byte sum
    assert "codeplex" in v[47]["source"] and v[47]["checksum_ok"] is False
    assert cms.parse_frame(bytes.fromhex(v[47]["hex"])) is None
    assert cms.parse_frame(memoryview(good)) is not None


def test_a_raw_frame_script_still_works(sim_line: Callable[..., tuple[Tap, Simulator]], need_vectors: None) -> None:
    """How pv 0.2 scripts built frames by hand: struct, a command constant and checksum()."""

    def frame(src: int, dst: int, command: int, payload: bytes = b"") -> bytes:
        head = struct.pack(">HHHHB", 0xAAAA, src, dst, command, len(payload)) + payload
        return head + struct.pack(">H", cms.checksum(head))

    # byte for byte the request ProControl sent (SCOTTY-PC.LOG, vectors.json #25)
    v = vectors()
    assert v[25]["source"] == SCOTTY and v[25]["command"] == "status_layout"
    assert frame(0x0100, 0x0001, cms.Frame.STATUS_LAYOUT) == bytes.fromhex(v[25]["hex"])

    tap, _ = sim_line()
    inv = cms.Inverter(tap)
    inv.reset()
    assert inv.register(inv.discover() or "")
    tap.port.write(frame(0x0100, 0x0001, cms.Frame.STATUS_LAYOUT))
    head = tap.port.read(9)
    reply = cms.parse_frame(head + tap.port.read(head[8] + 2))
    assert reply is not None and reply.command == cms.Frame.STATUS_LAYOUT | 0x80
    assert tuple(reply.payload) == inv.status_layout()


@pytest.mark.parametrize("name", ["samil", "sunezy", "orion", "samil_tcp"])
def test_every_inverter_module_has_the_helpers(name: str) -> None:
    module = __import__(f"pv.{name}", fromlist=["Frame"])
    assert module.Frame.STATUS == 0x0102 and module.checksum(b"\x01\x02") == 3
    assert module.parse_frame(b"\x00" * 3) is None
