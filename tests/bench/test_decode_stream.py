"""``pv decode`` reads captures in chunks: same bytes as the whole-file parse, bounded memory, errors by line.

Frames are the CMS 2000 session of "smarthall/ArduinoCMS2000DataLogger
docs/SCOTTY-PC.LOG" as the cms spec's EXAMPLES carry it (vectors.json v25..v33).
"""

from __future__ import annotations

import io
import subprocess
import sys
import tracemalloc
from collections.abc import Callable

import pytest

from pvapp.decode import MAX_LINE, TEXT_PROBE, CaptureError, StreamDecoder, TextCapture, iter_capture, parse_capture

from .test_decode import CMS, check_session, hexdump_c, wire, xxd

FORMATS: dict[str, Callable[[bytes], str]] = {
    "hexdump-C": hexdump_c,
    "xxd": xxd,
    "hex-lines-crlf": lambda d: "\r\n".join(f[3].hex(" ") for f in CMS) + "\r\n",
    "marked-cr-only": lambda d: "\r".join(("TX: " if f[2] == "request" else "< ") + f[3].hex(":") for f in CMS),
    "c-array": lambda d: ",\n".join(f"0x{b:02X}" for b in d),
}


def stream_all(text: bytes, chunk: int) -> bytes:
    return b"".join(iter_capture(io.BytesIO(text), chunk))


@pytest.mark.parametrize("render", list(FORMATS.values()), ids=list(FORMATS))
@pytest.mark.parametrize("chunk", [1, 7, 64, 65536])
def test_chunked_text_gives_the_same_bytes(render: Callable[[bytes], str], chunk: int) -> None:
    data = wire(CMS)
    text = render(data)
    assert parse_capture(text) == data
    assert stream_all(text.encode(), chunk) == data


def test_raw_and_text_decode_the_session_from_a_stream() -> None:
    data = wire(CMS)
    for source in (data, hexdump_c(data).encode(), b"# pasted\n" + xxd(data).encode()):
        decoder = StreamDecoder("cms")
        records = [r for chunk in iter_capture(io.BytesIO(source), 5) for r in decoder.feed(chunk)]
        decoder.finish()
        check_session(records, CMS)


def test_raw_is_recognised_even_when_it_starts_with_printable_garbage() -> None:
    data = b"U" * 100 + wire(CMS)  # 0x55 is 'U': a Samil sync byte, or noise, before the first frame
    assert stream_all(data, 1) == data


@pytest.mark.parametrize(
    ("prefix", "sep", "token"),
    [("", "", "{:02x}"), ("TX: ", " ", "{:02X}"), ("", ", ", "0x{:02X}"), ("> ", ":", "{:02x}"), ("", "", "0x{:02x}")],
    ids=["one-token", "spaced", "c-array", "colons", "0x-then-one-token"],
)
def test_a_line_longer_than_max_line_is_taken_in_pieces(prefix: str, sep: str, token: str) -> None:
    data = wire(CMS) * (3 * MAX_LINE // len(wire(CMS)))
    if token.startswith("0x") and not sep:  # a single 0x-prefixed token: "0xAAAA0001..."
        line = prefix + "0x" + data.hex()
    else:
        line = prefix + sep.join(token.format(b) for b in data)
    text = (f"# one line of {len(data)} bytes\n{line}\naa bb\n").encode()
    parser = TextCapture()
    out = bytearray()
    held = 0
    for i in range(0, len(text), 4093):
        out += parser.feed(text[i : i + 4093])
        held = max(held, len(parser._partial))
    out += parser.finish()
    assert bytes(out) == data + b"\xaa\xbb"
    assert held <= MAX_LINE + 4093  # never the whole line


def test_bad_text_names_its_line_even_far_into_the_stream() -> None:
    good = "\n".join(f[3].hex(" ") for f in CMS) + "\n"
    lines = good.count("\n")
    with pytest.raises(CaptureError, match=rf"^line {3 * lines + 2}: not a hex dump, xxd, hexdump -C or spy://"):
        stream_all((good * 3 + "aa bb\nhello world\n" + good).encode(), 10)
    text = (good * 200).encode()
    assert len(text) > TEXT_PROBE
    with pytest.raises(CaptureError, match=rf"^line {200 * lines + 1}: byte 0xaa in a text capture"):
        stream_all(text + b"\xaa\xaa\n", 1000)
    with pytest.raises(CaptureError, match=r"^line 2: not a hex dump"):
        stream_all(b"aa\n" + b"z" * (3 * MAX_LINE), 4096)  # an over-long line that is not hex


class Endless(io.RawIOBase):
    """A capture of ``size`` bytes made on the fly, so the test itself never holds it."""

    def __init__(self, pattern: bytes, size: int) -> None:
        self.block = pattern * (1 + (1 << 16) // len(pattern))
        self.period = len(pattern)
        self.pos = 0
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left, len(self.block) - self.period)
        buffer[:n] = self.block[self.pos : self.pos + n]
        self.pos = (self.pos + n) % self.period
        self.left -= n
        return n


def traced_peak(session: bytes, size: int) -> tuple[int, int]:
    """(frames decoded, peak bytes allocated) reading a ``size``-byte capture made of ``session``."""
    decoder = StreamDecoder("cms")
    for _ in decoder.feed(wire(CMS)):  # one-time costs (plans compiled, caches) before measuring
        pass
    stream = io.BufferedReader(Endless(session, size - size % len(session)))
    frames = 0
    tracemalloc.start()
    try:
        for chunk in iter_capture(stream):
            for _ in decoder.feed(chunk):
                frames += 1
        return frames, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", ["raw", "text"])
def test_memory_stays_bounded_whatever_the_capture_size(kind: str) -> None:
    session = wire(CMS) if kind == "raw" else ("\n".join(f[3].hex(" ") for f in CMS) + "\n").encode()
    small_frames, small = traced_peak(session, 200_000)
    frames, peak = traced_peak(session, 1_000_000)
    assert frames == len(CMS) * (1_000_000 // len(session)) and frames > 4 * small_frames
    # five times the capture, the same peak: nothing grows with the input (the whole of it is 1 MB)
    assert peak < small + 64_000 and peak < 1_000_000, f"{small:,} then {peak:,} bytes at the peak"


def test_pv_decode_reads_a_text_capture_from_stdin_in_chunks() -> None:
    text = "\n".join(f[3].hex(" ") for f in CMS * 400) + "\n"
    assert len(text) > 4 * TEXT_PROBE
    run = subprocess.run(
        [sys.executable, "-m", "pvapp.cli", "decode", "--spec", "cms", "-"],
        input=text.encode(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.decode().splitlines()
    assert lines[-1] == f"{len(CMS) * 400} frames; discarded: nothing"
    bad = subprocess.run(
        [sys.executable, "-m", "pvapp.cli", "decode", "-"],
        input=text.encode() + b"zz top\n",
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2
    assert (
        bad.stderr.decode()
        .strip()
        .splitlines()[-1]
        .endswith(f"FILE: line {len(CMS) * 400 + 1}: not a hex dump, xxd, hexdump -C or spy:// log line: 'zz top'")
    )
