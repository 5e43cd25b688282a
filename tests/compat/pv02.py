"""pv 0.2's interface as issue 14 states it (from pv 0.2's source), written out as test data.

Nothing here comes from the code under test: the labels and the values'
divisors are the issue's list, the codes and scales REFERENCE.md sections 3.1
and 3.3 ([pv] among the sources), so the expected pairs are computed from the
bytes on the wire independently of ``pv``.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
VECTORS_PATH = REPO.parent / "shared" / "protocol" / "vectors.json"

# (label, codes high word first, divisor, signed); divisor 1: an int, else a float
STATUS: tuple[tuple[str, tuple[int, ...], int, bool], ...] = (
    ("Temp-inv", (0x00,), 10, True),  # two's complement (REFERENCE 3.1, [mhvis]); see docs/legacy.md
    ("Vpv1", (0x01,), 10, False),
    ("Vpv2", (0x02,), 10, False),
    ("Vpv3", (0x03,), 10, False),
    ("Ipv1", (0x04,), 10, False),
    ("Ipv2", (0x05,), 10, False),
    ("Ipv3", (0x06,), 10, False),
    ("Vpv", (0x40,), 10, False),
    ("Iac", (0x41,), 10, False),
    ("Vac", (0x42,), 10, False),
    ("Fac", (0x43,), 100, False),
    ("Pac", (0x44,), 1, False),
    ("Zac", (0x45,), 1, False),
    ("E-Total", (0x47, 0x48), 10, False),
    ("h-Total", (0x49, 0x4A), 1, False),
    ("Mode", (0x4C,), 1, False),
    ("Error", (0x7E, 0x7F), 1, False),
)
PARAMETERS: tuple[tuple[str, tuple[int, ...], int, bool], ...] = (
    ("Vpc-start", (0x40,), 10, False),  # sic
    ("T-start", (0x41,), 1, False),
    ("Vac-Min", (0x44,), 10, False),
    ("Vac-Max", (0x45,), 10, False),
    ("Fac-Min", (0x46,), 100, False),
    ("Fac-Max", (0x47,), 100, False),
    ("Zac-Max", (0x48,), 1, False),
    ("DZac", (0x49,), 1, False),
)
STATUS_LABELS = [label for label, *_ in STATUS]
PARAMETER_LABELS = [label for label, *_ in PARAMETERS]


def expected_pairs(
    table: Sequence[tuple[str, tuple[int, ...], int, bool]], layout: Sequence[int], payload: bytes
) -> list[tuple[str, float | int]]:
    """The pairs pv 0.2 returns for ``payload`` under ``layout``: its own labels, in layout order."""
    words = struct.unpack(f">{len(layout)}H", payload)
    position = {code: i for i, code in enumerate(layout)}
    found: list[tuple[int, str, float | int]] = []
    for label, codes, divisor, signed in table:
        if not all(c in position for c in codes):
            continue
        number = 0
        for c in codes:
            number = number << 16 | words[position[c]]
        if signed and number >= 1 << (16 * len(codes) - 1):
            number -= 1 << (16 * len(codes))
        found.append((position[codes[0]], label, number / divisor if divisor > 1 else number))
    return [(label, value) for _, label, value in sorted(found)]


def check_pairs(
    got: Any, table: Sequence[tuple[str, tuple[int, ...], int, bool]], layout: Sequence[int], payload: bytes
) -> None:
    """``got`` is pv 0.2's result: a list, pv 0.2's pairs first (exact values and types), extras after."""
    assert isinstance(got, list), type(got)
    want = expected_pairs(table, layout, payload)
    assert list(got[: len(want)]) == want
    for (label, value), (_, expected) in zip(got, want, strict=False):
        assert type(value) is type(expected), (label, value, expected)
    own = {label for label, *_ in table}
    extras = [label for label, _ in got[len(want) :]]
    assert not own.intersection(extras), f"pv 0.2 labels among the extras: {own.intersection(extras)}"
    assert len({label for label, _ in got}) == len(got), "a label appears twice"


def vectors() -> list[dict[str, Any]]:
    return json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


def frames_in(data: bytes) -> list[bytes]:
    """Split concatenated AA AA frames (sync, addresses, control, function, length, payload, checksum)."""
    out: list[bytes] = []
    pos = data.find(b"\xaa\xaa")
    while pos >= 0 and pos + 11 <= len(data):
        end = pos + 11 + data[pos + 8]
        out.append(data[pos:end])
        pos = data.find(b"\xaa\xaa", end)
    return out


class Tap:
    """A port wrapper that keeps every byte written and read, to check what was on the wire."""

    def __init__(self, port: Any) -> None:
        self.port = port
        self.tx = bytearray()
        self.rx = bytearray()

    @property
    def timeout(self) -> float | None:
        return self.port.timeout  # type: ignore[no-any-return]

    @timeout.setter
    def timeout(self, value: float | None) -> None:
        self.port.timeout = value

    @property
    def in_waiting(self) -> int:
        return int(self.port.in_waiting)

    def write(self, data: bytes) -> int | None:
        self.tx += data
        return self.port.write(data)  # type: ignore[no-any-return]

    def flush(self) -> None:
        self.port.flush()

    def read(self, size: int = 1) -> bytes:
        data: bytes = self.port.read(size)
        self.rx += data
        return data

    def last_reply(self, function: int, src: int = 1) -> bytes:
        """Payload of the last frame read with this function code from ``src``."""
        for frame in reversed(frames_in(bytes(self.rx))):
            if frame[7] == function and int.from_bytes(frame[2:4], "big") == src:
                return frame[9:-2]
        raise AssertionError(f"no reply 0x{function:02x} from {src} on the wire")


class CannedPort:
    """Answers each captured request with its captured reply (bytes from vectors.json)."""

    def __init__(self, answers: dict[bytes, bytes]) -> None:
        self.answers = answers
        self.timeout: float | None = 0.2
        self.pending = bytearray()
        self.written: list[bytes] = []

    @property
    def in_waiting(self) -> int:
        return len(self.pending)

    def write(self, data: bytes) -> int:
        self.written.append(bytes(data))
        self.pending += self.answers.get(bytes(data), b"")
        return len(data)

    def read(self, size: int = 1) -> bytes:
        out = bytes(self.pending[:size])
        del self.pending[:size]
        return out
