"""Frames on a noisy line: building them, and finding them again in a byte stream.

A serial line to an inverter delivers garbage at power-up, frames cut short when
the inverter browns out at dusk, and (through some RS-485 bridges) stray bytes
after a checksum.  The framer therefore never trusts a byte: it hunts for the
frame's lead (prefix and sync bytes, which may differ between requests and
replies), checks the length against the spec's maximum, waits for the whole
frame and verifies the checksum before handing anything on.  Whatever it throws
away is counted, so the monitor can report line quality instead of guessing.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import NamedTuple
from zlib import adler32

from .model import FrameFormat


class FrameError(Exception):
    """A single frame (not a stream) is malformed; the message names the fault."""


# The byte sum in C: the low half of Adler-32 is 1 + the byte sum, modulo 65521.  Up to 256
# bytes the sum is at most 65280, never reduced, so it is exactly the low half minus one; a
# third of the cost of ``sum()`` on a status reply, which sums 51 bytes on every poll.
SUM_BY_ADLER = 256


def checksum16(data: bytes | bytearray | memoryview) -> int:
    """The family's checksum: the byte sum of everything before it, modulo 65536."""
    if len(data) <= SUM_BY_ADLER:
        return (adler32(data) & 0xFFFF) - 1
    return sum(data) & 0xFFFF


class Frame(NamedTuple):
    """One verified frame.  ``src``/``dst`` are None where the format has no addresses.

    A NamedTuple rather than a frozen dataclass: frames are made on every poll
    and tuple construction is several times cheaper, with the same immutability.
    """

    src: int | None
    dst: int | None
    control: int
    function: int
    payload: bytes
    raw: bytes
    ident: int | None = None
    checksum_slack: int = 0  # non-zero when accepted only thanks to a tolerated quirk

    @property
    def command(self) -> int:
        return self.control << 8 | self.function


@dataclass(slots=True)
class FramerStats:
    """What the framer discarded, by kind."""

    frames: int = 0
    garbage_bytes: int = 0
    bad_checksum: int = 0
    bad_length: int = 0
    truncated: int = 0
    slack_accepted: int = 0
    implausible: int = 0  # checksum held, but neither address is one a real frame has (FrameFormat.plausible_addresses)

    def as_dict(self) -> dict[str, int]:
        return {
            "frames": self.frames,
            "garbage_bytes": self.garbage_bytes,
            "bad_checksum": self.bad_checksum,
            "bad_length": self.bad_length,
            "truncated": self.truncated,
            "slack_accepted": self.slack_accepted,
            "implausible": self.implausible,
        }


_new_tuple = tuple.__new__


class _Lead(NamedTuple):
    """One way a frame can start on the line."""

    lead: bytes  # prefix + sync
    skip: int  # prefix length: bytes before the checksummed part
    hs: int  # header size: lead + addresses + command + ident + length
    reply: bool | None  # direction; None when requests and replies share this lead
    at: int  # len(lead): where the addresses (or, without them, the command) start


class FrameCodec:
    """Builds and parses single frames for one frame format."""

    def __init__(self, fmt: FrameFormat) -> None:
        self.fmt = fmt
        self._max_len = (1 << (8 * fmt.length_width)) - 1
        core = fmt.core_size
        self._all_leads = tuple(
            _Lead(
                lead,
                len(fmt.reply_prefix if direction else fmt.request_prefix),
                len(lead) + core,
                direction,
                len(lead),
            )
            for lead, direction in fmt.leads()
        )
        self._first = first = self._all_leads[0]
        # hot-path constants, so parsing a good frame of the first lead reads no attributes of fmt
        self._hs = first.hs
        self._sync = first.lead
        self._skip = first.skip
        self._aw = fmt.address_width
        # addresses and command in one C call where the address width has a struct code
        code = {0: "", 1: "BB", 2: "HH", 4: "II"}.get(fmt.address_width)
        self._head = None if code is None else struct.Struct(f">{code}BB").unpack_from
        self._slack = frozenset(fmt.checksum_slack)
        self._iw = fmt.ident_width
        self._lw = fmt.length_width
        self._lw1 = fmt.length_width == 1
        self._max_payload = fmt.max_payload

    def leads(self, expect: str | None = None) -> tuple[_Lead, ...]:
        """The leads a framer hunts for: requests only, replies only, or both (None)."""
        if expect is None:
            return self._all_leads
        want = expect == "reply"
        return tuple(x for x in self._all_leads if x.reply is None or x.reply == want)

    def build(
        self,
        control: int,
        function: int,
        payload: bytes = b"",
        *,
        src: int | None = None,
        dst: int | None = None,
        ident: int | None = None,
        reply: bool = False,
    ) -> bytes:
        """One frame as it goes on the wire: prefix and sync of its direction (``reply``), checksum last."""
        fmt = self.fmt
        if len(payload) > min(self._max_len, fmt.max_payload):
            raise FrameError(f"payload of {len(payload)} bytes is longer than the frame allows")
        out = bytearray(fmt.reply_sync or fmt.sync) if reply else bytearray(fmt.sync)
        if fmt.address_width:
            aw = fmt.address_width
            out += (fmt.host_address if src is None else src).to_bytes(aw, "big")
            out += (fmt.broadcast_address if dst is None else dst).to_bytes(aw, "big")
        out.append(control)
        out.append(function)
        if fmt.ident_width:
            out += (fmt.request_ident if ident is None else ident).to_bytes(fmt.ident_width, "big")
        out += len(payload).to_bytes(fmt.length_width, "big")
        out += payload
        out += checksum16(out).to_bytes(2, "big")
        prefix = fmt.reply_prefix if reply else fmt.request_prefix
        return prefix + bytes(out) if prefix else bytes(out)

    def direction_of(self, raw: bytes) -> bool | None:
        """True for a reply, False for a request, None when the lead does not tell (shared by both)."""
        for x in self._all_leads:
            if raw.startswith(x.lead):
                return x.reply
        return None

    def parse(self, data: bytes) -> Frame:
        """Parse exactly one frame; raise FrameError naming the first fault found.

        Length and checksum are verified before any field is looked at; the
        common case (a well-formed frame) takes one straight path.
        """
        hs = self._hs
        n = len(data)
        if n >= hs + 2 and data.startswith(self._sync):
            length = data[hs - 1] if self._lw1 else data[hs - 2] << 8 | data[hs - 1]
            if n == hs + length + 2 and length <= self._max_payload:
                frame = self._finish(data, length)
                if frame is not None:
                    return frame
        return self._diagnose(data)

    def _lead_of(self, data: bytes | bytearray, pos: int = 0) -> _Lead | None:
        for x in self._all_leads:
            if data.startswith(x.lead, pos):
                return x
        return None

    def _length(self, data: bytes | bytearray, lead: _Lead, pos: int = 0) -> int:
        end = pos + lead.hs
        return int.from_bytes(data[end - self._lw : end], "big")

    def _diagnose(self, data: bytes) -> Frame:
        fmt = self.fmt
        if len(data) < fmt.min_size:
            raise FrameError(f"truncated frame: {len(data)} bytes, a frame has at least {fmt.min_size}")
        lead = self._lead_of(data)
        if lead is None:
            want = " or ".join(x.lead.hex() for x in self._all_leads)
            width = len(self._all_leads[0].lead)
            raise FrameError(f"bad sync bytes {data[:width].hex()}, expected {want}")
        length = self._length(data, lead)
        if length > fmt.max_payload:
            raise FrameError(f"length {length} exceeds the maximum payload of {fmt.max_payload}")
        total = lead.hs + length + 2
        if len(data) < total:
            raise FrameError(f"truncated frame: length field says {total} bytes, got {len(data)}")
        if len(data) > total:
            raise FrameError(f"{len(data) - total} trailing bytes after the checksum")
        frame = self._finish(data, length, lead)
        if frame is None:
            got = int.from_bytes(data[-2:], "big")
            raise FrameError(
                f"bad checksum: frame says 0x{got:04x}, bytes sum to 0x{checksum16(data[lead.skip : -2]):04x}"
            )
        return frame

    def _finish(self, data: bytes, length: int, lead: _Lead | None = None) -> Frame | None:
        """Verify the checksum of a complete frame and split it into fields."""
        _lead, skip, hs, _reply, pos = self._first if lead is None else lead
        body_end = hs + length
        body = data[skip:body_end]
        summed = (adler32(body) & 0xFFFF) - 1 if body_end - skip <= SUM_BY_ADLER else sum(body)
        slack = ((data[body_end] << 8 | data[body_end + 1]) - summed) & 0xFFFF
        if slack and slack not in self._slack:
            return None
        aw = self._aw
        head = self._head
        if head is None:
            src: int | None = int.from_bytes(data[pos : pos + aw], "big")
            dst: int | None = int.from_bytes(data[pos + aw : pos + 2 * aw], "big")
            control, function = data[pos + 2 * aw], data[pos + 2 * aw + 1]
        elif aw:
            src, dst, control, function = head(data, pos)
        else:
            src = dst = None
            control, function = head(data, pos)
        pos += 2 * aw + 2
        ident = int.from_bytes(data[pos : pos + self._iw], "big") if self._iw else None
        raw = data if type(data) is bytes else bytes(data)
        # tuple.__new__ straight away: NamedTuple's Python-level __new__ doubles the cost of a frame
        return _new_tuple(Frame, (src, dst, control, function, raw[hs:body_end], raw, ident, slack))


@dataclass(slots=True)
class Framer:
    """Incremental frame finder: feed bytes as they arrive, take frames out.

    ``needed()`` says how many more bytes would complete the frame in progress,
    so a reader can ask the port for exactly that many and wake up the moment
    the last byte lands, instead of polling.

    ``expect`` narrows the hunt to one direction where requests and replies
    start differently (the client expects ``"reply"``, the simulator
    ``"request"``); None finds both, as a capture decoder must.
    """

    codec: FrameCodec
    stats: FramerStats = field(default_factory=FramerStats)
    _buf: bytearray = field(default_factory=bytearray)
    expect: str | None = None
    _leads: tuple[_Lead, ...] = ()
    # hot-path constants, computed once (the format is frozen): see __post_init__
    _sole: _Lead | None = field(default=None, init=False, repr=False)
    _min_hs: int = field(default=0, init=False, repr=False)
    _max_payload: int = field(default=0, init=False, repr=False)
    _lw1: bool = field(default=True, init=False, repr=False)
    _ends: frozenset[int] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._leads = leads = self.codec.leads(self.expect)
        fmt = self.codec.fmt
        # one lead to hunt for (the client's replies, the simulator's requests, a symmetric line):
        # a frame at the start of the buffer can then be taken without searching
        self._sole = leads[0] if len(leads) == 1 else None
        self._min_hs = min(x.hs for x in leads)
        self._max_payload = fmt.max_payload
        self._lw1 = fmt.length_width == 1
        # the plausibility rule inline, unless a subclass widens it (the simulator's bus)
        if type(self)._plausible is Framer._plausible and fmt.address_width:
            self._ends = frozenset(fmt.plausible_addresses)

    @property
    def fmt(self) -> FrameFormat:
        return self.codec.fmt

    def pending(self) -> int:
        return len(self._buf)

    def _lead_at(self, pos: int = 0) -> _Lead | None:
        buf = self._buf
        for x in self._leads:
            if buf.startswith(x.lead, pos):
                return x
        return None

    def needed(self) -> int:
        buf = self._buf
        if not buf:
            return self._min_hs
        lead = self._lead_at()
        if lead is None:
            # not even a whole lead yet: the least any frame that could start here needs
            return max(1, self._min_hs - len(buf))
        hs = lead.hs
        if len(buf) < hs:
            return hs - len(buf)
        length = buf[hs - 1] if self._lw1 else self.codec._length(buf, lead)
        if length > self._max_payload:
            return 1
        return max(1, hs + length + 2 - len(buf))

    def header(self, head: bytes) -> int:
        """Bytes still to read after ``head`` for the whole frame it starts, or -1.

        For a reader taking a frame off the port in two reads: ``head`` is the
        first ``needed()`` bytes with nothing buffered.  Anything but a whole
        header of the lead hunted for, with a length the spec allows, is -1:
        ``feed`` it instead, the resynchronising path.
        """
        lead = self._sole
        if lead is None or self._buf:
            return -1
        hs = lead.hs
        if len(head) != hs or not head.startswith(lead.lead):
            return -1
        length = head[hs - 1] if self._lw1 else self.codec._length(head, lead)
        return length + 2 if length <= self._max_payload else -1

    def whole(self, data: bytes) -> list[Frame]:
        """The frames in ``data``, a header ``header`` accepted plus the rest it asked for.

        The common case (one complete, checksum-valid, plausible frame) is taken
        at once (``take``); anything else (a short read, a bad checksum, noise
        that framed itself) goes through ``feed``.
        """
        frame = self.take(data)
        return [frame] if frame is not None else self.feed(data)

    def take(self, data: bytes) -> Frame | None:
        """``data`` as one frame, counted as ``feed`` would count it, or None (nothing counted or kept).

        Only for exactly one whole frame of the lead hunted for, with nothing
        buffered: the lead, the length field against the bytes given, the
        spec's maximum, the checksum and the plausibility rule are all checked.
        """
        lead = self._sole
        if lead is None or self._buf:
            return None
        hs = lead.hs
        length = len(data) - hs - 2
        if (
            length < 0
            or length > self._max_payload
            or not data.startswith(lead.lead)
            or (data[hs - 1] if self._lw1 else self.codec._length(data, lead)) != length
        ):
            return None
        frame = self.codec._finish(data, length, lead)
        if frame is None:
            return None
        ends = self._ends
        if not ((frame[0] in ends or frame[1] in ends) if ends is not None else self._plausible(frame)):
            return None
        stats = self.stats
        stats.frames += 1
        if frame[7]:  # checksum_slack
            stats.slack_accepted += 1
        return frame

    def _takes(self, frame: Frame) -> bool:
        ends = self._ends
        if ends is not None:
            return frame.src in ends or frame.dst in ends
        return self._plausible(frame)

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while True:
            frame = self._next()
            if frame is None:
                return frames
            frames.append(frame)

    def flush(self) -> None:
        """Give up on a partial frame (the line went quiet): count it as truncated."""
        if self._buf:
            buf = self._buf
            if any(buf.startswith((x.lead[: len(buf)], x.lead)) for x in self._leads):
                self.stats.truncated += 1
            else:
                self.stats.garbage_bytes += len(buf)
            buf.clear()

    def _discard(self, count: int) -> None:
        self.stats.garbage_bytes += count
        del self._buf[:count]

    def _plausible(self, frame: Frame) -> bool:
        fmt = self.codec.fmt
        if not fmt.address_width:
            return True
        ends = fmt.plausible_addresses
        return frame.src in ends or frame.dst in ends

    def _find(self, start: int) -> tuple[int, _Lead | None]:
        """The first lead at or after ``start``: (offset, lead), or (-1, None)."""
        buf = self._buf
        if len(self._leads) == 1:
            x = self._leads[0]
            pos = buf.find(x.lead, start)
            return (pos, x) if pos >= 0 else (-1, None)
        best, found = -1, None
        for x in self._leads:
            pos = buf.find(x.lead, start)
            if pos >= 0 and (best < 0 or pos < best):
                best, found = pos, x
        return best, found

    def _complete_frame_after(self, start: int) -> int:
        """Offset of the first complete, checksum-valid frame at or after ``start``, or -1."""
        fmt = self.codec.fmt
        buf = self._buf
        pos, lead = self._find(start)
        while pos >= 0 and lead is not None:
            hs = lead.hs
            if len(buf) - pos >= hs + 2:
                length = self.codec._length(buf, lead, pos)
                total = hs + length + 2
                complete = length <= fmt.max_payload and len(buf) - pos >= total
                frame = self.codec._finish(bytes(buf[pos : pos + total]), length, lead) if complete else None
                if frame is not None and self._takes(frame):
                    return pos
            pos, lead = self._find(pos + 1)
        return -1

    def _keep_partial(self) -> int:
        """How many bytes at the end of the buffer could be the start of a lead."""
        buf = self._buf
        keep = 0
        for x in self._leads:
            for k in range(len(x.lead) - 1, keep, -1):
                if buf.endswith(x.lead[:k]):
                    keep = k
                    break
        return keep

    def _next(self) -> Frame | None:
        buf = self._buf
        if not buf:
            return None
        lead = self._sole
        if lead is not None and buf.startswith(lead.lead):
            # Fast path: the buffer starts with the lead hunted for.  A complete,
            # valid, plausible frame is taken; a frame still arriving waits, unless
            # a later lead could start a frame that proves this one cut short.
            # Everything else is left to the resynchronising path below.
            hs = lead.hs
            if len(buf) >= hs:
                length = buf[hs - 1] if self._lw1 else self.codec._length(buf, lead)
                total = hs + length + 2
                if length <= self._max_payload:
                    if len(buf) >= total:
                        frame = self.codec._finish(bytes(buf[:total]), length, lead)
                        if frame is not None and self._takes(frame):
                            del buf[:total]
                            self.stats.frames += 1
                            if frame.checksum_slack:
                                self.stats.slack_accepted += 1
                            return frame
                    elif buf.find(lead.lead, 1) < 0:
                        return None
        return self._resync()

    def _resync(self) -> Frame | None:
        """The slow path: hunt for a lead, discard what cannot be a frame, count every kind of loss."""
        fmt = self.codec.fmt
        buf = self._buf
        while True:
            start, lead = self._find(0)
            if lead is None:
                # keep a possible partial lead at the end
                keep = self._keep_partial()
                if len(buf) > keep:
                    self._discard(len(buf) - keep)
                return None
            if start:
                self._discard(start)
            hs = lead.hs
            if len(buf) < hs:
                return None
            length = self.codec._length(buf, lead)
            if length > fmt.max_payload:
                self.stats.bad_length += 1
                self._discard(1)
                continue
            total = hs + length + 2
            if len(buf) < total:
                # Either the rest is still on the wire, or this was a frame cut
                # short and a complete frame already follows it.  Only a later
                # frame with a valid checksum proves the second case.
                later = self._complete_frame_after(1)
                if later < 0:
                    return None
                self.stats.truncated += 1
                self._discard(later)
                continue
            frame = self.codec._finish(bytes(buf[:total]), length, lead)
            if frame is None:
                # A truncated frame followed by a good one looks like this too:
                # step past the sync and hunt again, so the good one is found.
                self.stats.bad_checksum += 1
                self._discard(1)
                continue
            if not self._takes(frame):
                # A 16-bit byte sum is weak and shift-invariant: noise ending in a
                # sync can frame a run of real bytes with a "valid" checksum.  Every
                # real frame has an address the spec's rules put on the line.
                self.stats.implausible += 1
                self._discard(1)
                continue
            del buf[:total]
            self.stats.frames += 1
            if frame.checksum_slack:
                self.stats.slack_accepted += 1
            return frame
