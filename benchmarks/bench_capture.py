"""Capture decoding (issue 7): frames per second of ``pv decode``'s library on a big capture.

The capture is generated on the fly in a temporary directory: one status-layout
exchange, then status request/reply pairs whose values change from reply to
reply (a pool of replies built with the generated encoder from a day-shaped
power curve), one million frames in all (100,000 with ``--quick``).  It is
decoded the way ``pv decode`` does: read the file, decide raw or text, frame
with the spec's framer, decode every reply through the layout seen on the wire.
The same traffic is also written as a pyserial ``spy://`` log (by pyserial's own
formatter) to measure the text path, at a tenth of the size.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import tempfile
import time
from pathlib import Path

from pvapp.decode import decode_stream, read_capture

from . import Row, child_env, python


def build_capture(frames: int) -> tuple[bytes, int]:
    """Wire bytes of ``frames`` frames of a CMS 2000 session; returns (bytes, status replies)."""
    import pv.cms as cms

    layout = cms.SPEC.model("cms2000").status_layout
    build = cms.CODEC.build
    host, inverter = cms.SPEC.frame.host_address, 1
    status = cms.SPEC.command("status")
    layout_cmd = cms.SPEC.command("status_layout")
    assert status.reply_function is not None and layout_cmd.reply_function is not None
    request = build(status.control, status.function, src=host, dst=inverter)
    pool: list[bytes] = []
    for i in range(1000):
        sun = max(0.0, math.sin(math.pi * i / 1000))
        values = {
            "temperature": 25 + 20 * sun,
            "e_today": round(9.9 * i / 1000, 2),
            "vpv": 250 + 100 * sun,
            "iac": round(8 * sun, 1),
            "vac": 238.0 + (i % 7),
            "fac": 50.0 + (i % 5) / 100,
            "pac": int(2000 * sun),
            "e_total": 1636.3 + i / 100,
            "h_total": 4354 + i // 60,
            "mode": 1,
        }
        payload = cms.encode_status(layout, values)
        pool.append(request + build(status.control, status.reply_function, payload, src=inverter, dst=host))
    out = bytearray(build(layout_cmd.control, layout_cmd.function, src=host, dst=inverter))
    out += build(layout_cmd.control, layout_cmd.reply_function, cms.encode_layout(layout), src=inverter, dst=host)
    pairs = (frames - 2) // 2
    for i in range(pairs):
        out += pool[i % len(pool)]
    return bytes(out), pairs


def spy_log(data: bytes, chunk_sizes: tuple[int, int]) -> str:
    """The same traffic as pyserial's spy:// hexdump log, written by pyserial's own formatter."""
    from serial.urlhandler.protocol_spy import FormatHexdump

    text = io.StringIO()
    fmt = FormatHexdump(text, False)
    pos = 0
    request_len, reply_len = chunk_sizes
    tx = True
    while pos < len(data):
        size = request_len if tx else reply_len
        (fmt.tx if tx else fmt.rx)(data[pos : pos + size])
        pos += size
        tx = not tx
    return text.getvalue()


def measure(path: Path, expected_frames: int, *, as_json: bool = False) -> float:
    start = time.perf_counter()
    data = read_capture(path.read_bytes())
    n = 0
    replies = 0
    for rec in decode_stream(data, "cms"):
        n += 1
        if as_json:
            json.dumps(rec)
        if rec["command"] == "status" and rec["direction"] == "reply":
            replies += 1
            if "values" not in rec:
                raise AssertionError(f"status reply not decoded: {rec}")
    elapsed = time.perf_counter() - start
    if n != expected_frames:
        raise AssertionError(f"decoded {n} frames of {expected_frames} in {path.name}")
    return n / elapsed


# Runs a command and reports its own peak RSS.  A child spawned straight from
# the benchmark inherits the benchmark's high-water mark: Linux keeps the old
# address space's peak in ru_maxrss across exec, and subprocess spawns with
# vfork, so ru_maxrss would be this (big) process's peak, not the command's.
# Forked from a small interpreter instead, the command's figure is its own.
_MEASURE = r"""
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
os.write(int(os.environ["PV_BENCH_RSS_FD"]), str(usage.ru_maxrss).encode())
sys.exit(os.waitstatus_to_exitcode(status))
"""


def cli_decode(path: Path, frames: int, *, as_json: bool, stdin: bool = False) -> tuple[float, float, str]:
    """``pv decode`` itself on the capture: (frames/s, peak RSS MB, error) -- the user-facing command.

    The peak is the command's own ``ru_maxrss`` (start-up included), measured
    as above; with ``stdin`` the capture is piped in instead of named.
    """
    from .bench_startup import pv_command

    pv = pv_command()
    if pv is None:
        return 0.0, 0.0, "not yet available: pvapp.cli has not landed"
    argv = [*pv, "decode", "--spec", "cms", *(["--json"] if as_json else []), "-" if stdin else str(path)]
    read_fd, write_fd = os.pipe()
    start = time.perf_counter()
    try:
        with path.open("rb") as source:
            proc = subprocess.Popen(
                [python(), "-c", _MEASURE, *argv],
                stdin=source if stdin else subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env={**child_env(), "PV_BENCH_RSS_FD": str(write_fd)},
                pass_fds=(write_fd,),
            )
        os.close(write_fd)
        write_fd = -1
        _, err_bytes = proc.communicate()
        elapsed = time.perf_counter() - start
        peak_kb = os.read(read_fd, 64).decode() or "0"
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
    err = err_bytes.decode(errors="replace").strip()
    if proc.returncode != 0:
        return 0.0, 0.0, f"pv decode exited {proc.returncode}: {err[-200:]}"
    return frames / elapsed, int(peak_kb) / 1024, ""


def run(quick: bool) -> list[Row]:
    frames = 100_000 if quick else 1_000_000
    data, _pairs = build_capture(frames)
    small, _ = build_capture(frames // 10)
    with tempfile.TemporaryDirectory(prefix="pv-bench-capture-") as tmp:
        raw_path = Path(tmp) / "capture.bin"
        raw_path.write_bytes(data)
        spy_path = Path(tmp) / "capture.spy.log"
        # layout request (11) + reply (32) first, then 11-byte requests and 53-byte replies
        head = small[:43]
        spy_path.write_text(spy_log(head[:11], (11, 32)) + spy_log(head[11:], (32, 32)) + spy_log(small[43:], (11, 53)))
        raw_rate = measure(raw_path, frames)
        json_rate = measure(raw_path, frames, as_json=True)
        spy_rate = measure(spy_path, frames // 10)
        cli_rate, cli_rss, cli_err = cli_decode(raw_path, frames, as_json=False)
        hex_path = Path(tmp) / "capture.hex"
        with hex_path.open("w", encoding="ascii") as out:
            for start in range(0, len(data), 1 << 20):  # 32 bytes a line, as "hh hh ..." text
                block = data[start : start + (1 << 20)]
                out.write("\n".join(block[i : i + 32].hex(" ") for i in range(0, len(block), 32)) + "\n")
        hex_mb = hex_path.stat().st_size / 1e6
        hex_rate, hex_rss, hex_err = cli_decode(hex_path, frames, as_json=True, stdin=True)
        size_mb = len(data) / 1e6
        spy_mb = spy_path.stat().st_size / 1e6
    label = f"{frames:,}"
    return [
        Row(
            f"capture: decode {label}-frame raw capture",
            raw_rate,
            "frames/s",
            "",
            None,
            f"{size_mb:.0f} MB file: {frames / raw_rate:.1f} s; read + frame + decode every reply",
        ),
        Row(
            "capture: same, each frame also serialised as JSON",
            json_rate,
            "frames/s",
            "",
            None,
            f"{frames / json_rate:.1f} s; what pv decode --json adds",
        ),
        Row(
            f"capture: pv decode (CLI) on the {label}-frame capture",
            cli_rate or None,
            "frames/s",
            "",
            None,
            cli_err or f"text output to /dev/null; peak RSS {cli_rss:.0f} MB (the command's own, start-up included)",
        ),
        Row(
            f"capture: pv decode peak memory, {label}-frame raw capture",
            cli_rss or None,
            "MB",
            "< 100",
            cli_rss < 100 if cli_rss else None,
            cli_err or f"{size_mb:.0f} MB file; pv decode --spec cms FILE > /dev/null; ru_maxrss of the command",
        ),
        Row(
            "capture: pv decode peak memory, same as hex text on stdin",
            hex_rss or None,
            "MB",
            "< 100",
            hex_rss < 100 if hex_rss else None,
            hex_err
            or f"{hex_mb:.0f} MB text; pv decode --spec cms --json - < FILE > /dev/null; {hex_rate:,.0f} frames/s",
        ),
        Row(
            f"capture: decode {frames // 10:,}-frame spy:// log",
            spy_rate,
            "frames/s",
            "",
            None,
            f"{spy_mb:.0f} MB text written by pyserial's spy formatter",
        ),
    ]
