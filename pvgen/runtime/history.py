"""The Samil TCP history reply: hourly energy per day, as text, spread over many packets.

REFERENCE section 2 ([mhvis], captured): the request ``06 01`` carries a start
and an end year (two digits each); the inverter answers with many ``06 61``
packets and ends with an empty ``06 81``.  Each packet is

=======  ====  ==========================================================
offset   size  content
=======  ====  ==========================================================
0        3     YY MM DD: the day the text belongs to
3        4     unknown (``00 00 01 38`` in the capture), kept as bytes
7        4     u32: how many packets that day's text takes
11       4     u32: this packet's sequence number within the day
15       n     ASCII fragment of ``HH:MM,kWh \\r\\n`` lines
=======  ====  ==========================================================

A line may be cut between two packets, so a day's fragments are joined in
sequence order before the lines are read.  The spec language describes the
exchange (the command, its request type, the series ended by ``06 81``); the
packet's inner layout, a fixed header followed by free text, is read here.

What the figures mean is not settled by a capture: they are read as the energy
produced in the hour that *ends* at HH:MM of the inverter's own clock (a
logger stamps a record when it takes it); REFERENCE calls them "hourly
energy".  If a unit turns out to report running totals, this is the one place
to change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from .errors import ProtocolError

HEADER_SIZE = 15
UNKNOWN_BYTES = bytes.fromhex("00000138")  # what the captured packets carry at offset 3
MAX_FRAGMENT = 240  # text bytes per packet the simulator sends (a guess; any size parses)
_LINE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*,\s*(\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True, slots=True)
class HistoryPacket:
    day: date
    packets: int  # packets the day's text takes
    sequence: int
    text: bytes
    unknown: bytes = UNKNOWN_BYTES


@dataclass(frozen=True, slots=True)
class HourEnergy:
    """Energy produced in the hour ending at ``hour``:``minute`` (inverter clock) of ``day``."""

    day: date
    hour: int  # 1..24 for whole hours (24 = midnight at the end of the day)
    minute: int
    energy_kwh: float

    @property
    def label(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"


def history_request(start_year: int, end_year: int) -> bytes:
    """The ``06 01`` payload: two-digit start and end years."""
    for y in (start_year, end_year):
        if not 2000 <= y <= 2255:
            raise ValueError(f"year {y} cannot be asked for (the request carries years 2000-2255)")
    if end_year < start_year:
        raise ValueError(f"end year {end_year} is before start year {start_year}")
    return bytes([start_year - 2000, end_year - 2000])


def decode_request(payload: bytes) -> tuple[int, int]:
    if len(payload) != 2:
        raise ProtocolError(f"history request of {len(payload)} bytes, expected 2 (start and end year)")
    return 2000 + payload[0], 2000 + payload[1]


def decode_packet(payload: bytes) -> HistoryPacket:
    """One ``06 61`` payload; ProtocolError naming the fault for anything malformed."""
    if len(payload) < HEADER_SIZE:
        raise ProtocolError(f"history packet of {len(payload)} bytes is shorter than its {HEADER_SIZE}-byte header")
    yy, mm, dd = payload[0], payload[1], payload[2]
    try:
        day = date(2000 + yy, mm, dd)
    except ValueError:
        raise ProtocolError(f"history packet for an impossible day {yy:02d}-{mm:02d}-{dd:02d}") from None
    packets = int.from_bytes(payload[7:11], "big")
    sequence = int.from_bytes(payload[11:15], "big")
    return HistoryPacket(day, packets, sequence, bytes(payload[HEADER_SIZE:]), bytes(payload[3:7]))


def encode_packet(packet: HistoryPacket) -> bytes:
    d = packet.day
    return (
        bytes([d.year - 2000, d.month, d.day])
        + packet.unknown
        + packet.packets.to_bytes(4, "big")
        + packet.sequence.to_bytes(4, "big")
        + packet.text
    )


def day_text(hours: Iterable[tuple[int, int, float]]) -> bytes:
    """``HH:MM,kWh \\r\\n`` lines (as in the capture) for (hour, minute, kWh) items."""
    return "".join(f"{h:02d}:{m:02d},{kwh:.2f} \r\n" for h, m, kwh in hours).encode("ascii")


def encode_day(day: date, text: bytes, *, fragment: int = MAX_FRAGMENT) -> list[bytes]:
    """A day's text cut into packets of at most ``fragment`` text bytes, numbered from 1."""
    parts = [text[i : i + fragment] for i in range(0, len(text), fragment)] or [b""]
    return [encode_packet(HistoryPacket(day, len(parts), n, part)) for n, part in enumerate(parts, 1)]


def decode_history(payloads: Sequence[bytes]) -> tuple[list[HourEnergy], list[str]]:
    """Hourly records from a series of ``06 61`` payloads, and the problems met (one line each).

    A malformed packet or line is reported and skipped; the rest of the day
    still counts.  Days are joined by sequence number, so packets may arrive
    in any order.
    """
    problems: list[str] = []
    by_day: dict[date, dict[int, bytes]] = {}
    expected: dict[date, int] = {}
    for payload in payloads:
        try:
            p = decode_packet(payload)
        except ProtocolError as exc:
            problems.append(str(exc))
            continue
        by_day.setdefault(p.day, {})[p.sequence] = p.text
        expected[p.day] = p.packets
    out: list[HourEnergy] = []
    for day in sorted(by_day):
        parts = by_day[day]
        if expected[day] and len(parts) < expected[day]:
            problems.append(f"{day}: {len(parts)} of {expected[day]} packets arrived; the day is incomplete")
        text = b"".join(parts[k] for k in sorted(parts)).decode("ascii", "replace")
        seen: set[tuple[int, int]] = set()
        for line in text.splitlines():
            if not line.strip():
                continue
            m = _LINE.match(line)
            if m is None:
                problems.append(f"{day}: unreadable history line {line.strip()[:40]!r}")
                continue
            hour, minute, kwh = int(m.group(1)), int(m.group(2)), float(m.group(3))
            if not (0 <= hour <= 24 and 0 <= minute < 60) or (hour == 24 and minute):
                problems.append(f"{day}: impossible time {hour:02d}:{minute:02d} in the history")
                continue
            if kwh > 1000:
                problems.append(f"{day} {hour:02d}:{minute:02d}: {kwh} kWh in one hour is not plausible")
                continue
            if (hour, minute) in seen:
                problems.append(f"{day} {hour:02d}:{minute:02d}: given twice, first kept")
                continue
            seen.add((hour, minute))
            out.append(HourEnergy(day, hour, minute, kwh))
    return out, problems


__all__ = [
    "HEADER_SIZE",
    "HistoryPacket",
    "HourEnergy",
    "day_text",
    "decode_history",
    "decode_packet",
    "decode_request",
    "encode_day",
    "encode_packet",
    "history_request",
]
