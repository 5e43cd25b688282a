"""A reply that is a series (spec key ``until``), and the Samil TCP history packets it carries.

The frames are built from the layout REFERENCE section 2 documents ([mhvis]);
no captured history exchange was published, so none is replayed here.
"""

from __future__ import annotations

from datetime import date

import pytest
from pv import samil_tcp

from pvgen.runtime import history
from pvgen.runtime.errors import IncompleteReply, NoReply, UnsupportedCommand


class ScriptPort:
    """Answers each write with the next scripted chunk of bytes (everything at once, as TCP may)."""

    def __init__(self, *answers: bytes) -> None:
        self.timeout: float | None = 0.05
        self.answers = list(answers)
        self.buf = bytearray()
        self.written: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.written.append(bytes(data))
        if self.answers:
            self.buf += self.answers.pop(0)
        return len(data)

    def read(self, size: int = 1) -> bytes:
        out = bytes(self.buf[:size])
        del self.buf[:size]
        return out


def reply(function: int, payload: bytes) -> bytes:
    return samil_tcp.CODEC.build(0x06, function, payload, ident=0)


def day_packets(day: date, hours: list[tuple[int, int, float]], fragment: int) -> list[bytes]:
    return history.encode_day(day, history.day_text(hours), fragment=fragment)


def test_series_is_collected_until_its_end_frame_even_when_lines_are_cut_between_packets() -> None:
    d1, d2 = date(2026, 1, 11), date(2026, 1, 12)
    hours1 = [(7, 0, 0.07), (8, 0, 0.52), (9, 0, 1.13)]
    hours2 = [(10, 0, 2.5)]
    packets = day_packets(d1, hours1, fragment=7) + day_packets(d2, hours2, fragment=240)
    # all in one chunk (one TCP read), out of order within the first day
    wire = b"".join(reply(0x61, p) for p in [packets[1], packets[0], *packets[2:]]) + reply(0x81, b"")
    port = ScriptPort(wire)
    inv = samil_tcp.Inverter(port, timeout=0.05)
    frames, end = inv.request_series("history", history.history_request(2026, 2026))
    assert port.written == [bytes.fromhex("55aa0601020002" + "1a1a") + b"\x01\x3e"]
    assert end.function == 0x81 and end.payload == b""
    assert len(frames) == len(packets) > 3
    records, problems = history.decode_history([f.payload for f in frames])
    assert problems == []
    assert [(r.day, r.label, r.energy_kwh) for r in records] == [
        (d1, "07:00", 0.07),
        (d1, "08:00", 0.52),
        (d1, "09:00", 1.13),
        (d2, "10:00", 2.5),
    ]


def test_series_cut_short_keeps_what_arrived() -> None:
    packets = day_packets(date(2026, 1, 11), [(9, 0, 1.0)], fragment=240)
    port = ScriptPort(reply(0x61, packets[0]))
    inv = samil_tcp.Inverter(port, timeout=0.05)
    with pytest.raises(IncompleteReply) as info:
        inv.request_series("history", history.history_request(2026, 2026))
    assert len(info.value.frames) == 1


def test_no_answer_at_all_is_no_reply() -> None:
    inv = samil_tcp.Inverter(ScriptPort(), timeout=0.05)
    with pytest.raises(NoReply) as info:
        inv.request_series("history", history.history_request(2026, 2026))
    assert not isinstance(info.value, IncompleteReply)


def test_a_single_reply_command_is_not_a_series() -> None:
    inv = samil_tcp.Inverter(ScriptPort(), timeout=0.05)
    with pytest.raises(UnsupportedCommand):
        inv.request_series("version")


def test_bad_packets_and_lines_are_named_and_skipped() -> None:
    good = day_packets(date(2026, 1, 11), [(9, 0, 1.0), (10, 0, 1.5)], fragment=240)[0]
    bad_day = bytes([26, 2, 30]) + good[3:]
    short = good[:10]
    garbage = history.encode_packet(history.HistoryPacket(date(2026, 1, 12), 2, 1, b"11:00,abc \r\n25:00,1.0 \r\n"))
    records, problems = history.decode_history([good, bad_day, short, garbage])
    assert [(r.label, r.energy_kwh) for r in records] == [("09:00", 1.0), ("10:00", 1.5)]
    assert any("impossible day 26-02-30" in p for p in problems)
    assert any("shorter than its 15-byte header" in p for p in problems)
    assert any("unreadable history line '11:00,abc'" in p for p in problems)
    assert any("impossible time 25:00" in p for p in problems)
    assert any("1 of 2 packets arrived" in p for p in problems)


def test_request_years_are_checked() -> None:
    assert history.history_request(2025, 2026) == bytes([25, 26])
    with pytest.raises(ValueError, match="before start year"):
        history.history_request(2026, 2025)
    with pytest.raises(ValueError, match="cannot be asked for"):
        history.history_request(1999, 2026)
