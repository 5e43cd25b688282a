"""pvapp.decode: captures in every accepted format decode to the values recorded for real frames.

The frames are the generated modules' EXAMPLES, which the specs took from
/work/shared/protocol/vectors.json: the CMS 2000 session of
"smarthall/ArduinoCMS2000DataLogger docs/SCOTTY-PC.LOG" (v19..v33) and the
SolarRiver 1100TL-S session of "lmartorella/Samil-SolarRiver-logger
analysis.txt" (v56..v73).  The spy:// log is written by pyserial itself over a
real pseudo-terminal, and hexdump/xxd text by the real tools when installed.
"""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
import tty
from pathlib import Path
from types import ModuleType
from typing import Any

import pv.cms as cms
import pv.samil as samil
import pytest
import serial

from pvapp.decode import CaptureError, StreamDecoder, decode_stream, describe, parse_capture, read_capture
from pvgen.runtime.framing import FramerStats


def session(
    module: ModuleType, first: str, last: str
) -> list[tuple[str, str, str, bytes, tuple[tuple[str, Any], ...]]]:
    names = [e[0] for e in module.EXAMPLES]
    chosen = module.EXAMPLES[names.index(first) : names.index(last) + 1]
    return [(name, cmd, direction, bytes.fromhex(hx), values) for name, cmd, direction, hx, _m, values in chosen]


CMS = session(cms, "v25_status_layout", "v33_status_reply")
SAMIL = session(samil, "v56_reset", "v73_status_reply")


def wire(frames: list[tuple[str, str, str, bytes, Any]]) -> bytes:
    return b"".join(f[3] for f in frames)


def na_values(field_id: str) -> tuple[int, ...]:
    return tuple(
        v
        for spec in (cms.SPEC, samil.SPEC)
        for f in (*spec.fields, *spec.parameters)
        if f.id == field_id
        for v in f.na_values
    )


def check_session(records: list[dict[str, Any]], frames: list[tuple[str, str, str, bytes, Any]]) -> None:
    assert len(records) == len(frames)
    for rec, (name, cmd, direction, raw, values) in zip(records, frames, strict=True):
        assert rec["hex"] == raw.hex(), name
        assert (rec["command"], rec["direction"]) == (cmd, direction), name
        assert "error" not in rec, (name, rec)
        got = dict(rec.get("values", {}))
        if "layout" in rec:
            got["codes"] = rec["layout"]
        for key, expected in values:
            if got.get(key) is None and expected in na_values(key):
                continue  # recorded as the raw "not measured" word; decoded as None
            assert got[key] == pytest.approx(expected), (name, key, got)


def test_raw_cms_session_decodes_to_recorded_values() -> None:
    stats: list[FramerStats] = []
    records = list(decode_stream(wire(CMS), "cms", stats=stats))
    check_session(records, CMS)
    assert stats[0].frames == len(CMS) and stats[0].garbage_bytes == 0
    status = next(r for r in records if r["command"] == "status" and r["direction"] == "reply")
    assert status["mode"] == "Normal" and status["faults"] == []


def test_samil_session_with_unspecified_command_and_module_argument() -> None:
    records = list(decode_stream(wire(SAMIL), samil))
    check_session(records, SAMIL)
    assert [r["n"] for r in records] == list(range(1, len(SAMIL) + 1))


def test_spy_log_from_pyserial_over_a_real_pty(tmp_path: Path) -> None:
    log = tmp_path / "spy.log"
    master, slave = pty.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    port = serial.serial_for_url(f"spy://{os.ttyname(slave)}?file={log}", timeout=1)
    try:
        for name, _cmd, direction, raw, _values in CMS:
            if direction == "request":
                port.write(raw)
                assert os.read(master, 256) == raw, name
            else:
                os.write(master, raw)
                assert port.read(len(raw)) == raw, name
        port.reset_input_buffer()  # logged as a control line, which must be skipped
    finally:
        port.close()
        os.close(master)
        os.close(slave)
    text = log.read_text()
    assert " TX " in text and " RX " in text and "Q-RX" in text
    assert parse_capture(text) == wire(CMS)
    check_session(list(decode_stream(read_capture(log.read_bytes()), "cms")), CMS)


def hexdump_c(data: bytes) -> str:
    if shutil.which("hexdump"):
        return subprocess.run(["hexdump", "-C"], input=data, capture_output=True, check=True).stdout.decode()
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off : off + 16]
        hexpart = " ".join(f"{b:02x}" for b in chunk[:8]) + "  " + " ".join(f"{b:02x}" for b in chunk[8:])
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:08x}  {hexpart:<48}  |{text}|")
    return "\n".join([*lines, f"{len(data):08x}"]) + "\n"


def xxd(data: bytes) -> str:
    if shutil.which("xxd"):
        return subprocess.run(["xxd"], input=data, capture_output=True, check=True).stdout.decode()
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off : off + 16]
        groups = " ".join(chunk[i : i + 2].hex() for i in range(0, len(chunk), 2))
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:08x}: {groups:<39}  {text}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "render",
    [
        hexdump_c,
        xxd,
        lambda d: d.hex(),
        lambda d: "\n".join(f[3].hex(" ") for f in CMS),
        lambda d: "# a comment\n" + "\n".join(("TX: " if f[2] == "request" else "< ") + f[3].hex(":") for f in CMS),
        lambda d: ", ".join(f"0x{b:02X}" for b in d),
    ],
    ids=["hexdump-C", "xxd", "hex", "hex-spaced-lines", "marked-colon", "c-array"],
)
def test_text_formats(render: Any) -> None:
    data = wire(CMS)
    text = render(data)
    assert parse_capture(text) == data
    assert read_capture(text.encode()) == data


def test_noise_is_counted_and_good_frames_still_decode() -> None:
    by_name = {f[0]: f[3] for f in CMS}
    layout, request, reply = by_name["v26_status_layout_reply"], by_name["v31_status"], by_name["v32_status_reply"]
    bad_checksum = reply[:-1] + bytes([reply[-1] ^ 0xFF])
    stream = b"\x00\xff garbage" + layout + reply[:20] + request + reply + bad_checksum + reply[:30]
    stats: list[FramerStats] = []
    records = list(decode_stream(stream, "cms", stats=stats))
    assert [r["command"] for r in records] == ["status_layout", "status", "status"]
    assert records[2]["values"]["pac"] == 10
    assert stats[0].frames == 3
    assert stats[0].bad_checksum >= 1 and stats[0].garbage_bytes > 0 and stats[0].truncated == 1


def test_status_before_layout_reports_raw_words_unless_a_layout_is_given() -> None:
    reply = next(f[3] for f in CMS if f[0] == "v32_status_reply")
    (rec,) = decode_stream(reply, "cms")
    assert "no status layout seen yet" in rec["error"] and len(rec["words"]) == 21
    (rec,) = decode_stream(reply, "cms", status_layout=cms.SPEC.model("cms2000").status_layout)
    assert rec["values"]["e_total"] == pytest.approx(1626.4)
    assert describe(rec).startswith("#1 <- status 1->256: temperature=32.4")


def test_incremental_feed_across_chunk_boundaries() -> None:
    decoder = StreamDecoder("cms")
    data = wire(CMS)
    records = [r for i in range(len(data)) for r in decoder.feed(data[i : i + 1])]
    decoder.finish()
    check_session(records, CMS)


def test_bad_input_is_a_one_line_error_naming_the_line() -> None:
    with pytest.raises(
        CaptureError, match=r"^line 2: not a hex dump, xxd, hexdump -C or spy:// log line: 'hello world'$"
    ):
        parse_capture("aa aa\nhello world\n")
    with pytest.raises(CaptureError, match=r"^unknown spec 'nope': have cms, "):
        list(decode_stream(b"", "nope"))
    with pytest.raises(CaptureError, match=r"^unknown spec '../x'"):
        list(decode_stream(b"", "../x"))


def test_binary_capture_is_not_mistaken_for_text() -> None:
    data = wire(CMS)
    assert read_capture(data) == data
