"""Frames on a noisy line: building them, and finding them again in a byte stream.

A serial line to an inverter delivers garbage at power-up, frames cut short when
the inverter browns out at dusk, and (through some RS-485 bridges) stray bytes
after a checksum.  The framer therefore never trusts a byte: it hunts for the
sync bytes, checks the length against the spec's maximum, waits for the whole
frame and verifies the checksum before handing anything on.  Whatever it throws
away is counted, so the monitor can report line quality instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from .model import FrameFormat


class FrameError(Exception):
    """A single frame (not a stream) is malformed; the message names the fault."""


def checksum16(data: bytes | bytearray | memoryview) -> int:
    """The family's checksum: the byte sum of everything before it, modulo 65536."""
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
    implausible: int = 0  # checksum held, but neither address was the host's or broadcast

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


class FrameCodec:
    """Builds and parses single frames for one frame format."""

    def __init__(self, fmt: FrameFormat) -> None:
        self.fmt = fmt
        self._len_pos = fmt.header_size - fmt.length_width
        self._max_len = (1 << (8 * fmt.length_width)) - 1
        # hot-path constants, so parsing a good frame reads no attributes of fmt
        self._hs = fmt.header_size
        self._sync = fmt.sync
        self._aw = fmt.address_width
        self._slack = frozenset(fmt.checksum_slack)
        self._iw = fmt.ident_width
        self._lw1 = fmt.length_width == 1
        self._max_payload = fmt.max_payload

    def build(
        self,
        control: int,
        function: int,
        payload: bytes = b"",
        *,
        src: int | None = None,
        dst: int | None = None,
        ident: int | None = None,
    ) -> bytes:
        fmt = self.fmt
        if len(payload) > min(self._max_len, fmt.max_payload):
            raise FrameError(f"payload of {len(payload)} bytes is longer than the frame allows")
        out = bytearray(fmt.sync)
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
        return bytes(out)

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

    def _diagnose(self, data: bytes) -> Frame:
        fmt = self.fmt
        if len(data) < fmt.min_size:
            raise FrameError(f"truncated frame: {len(data)} bytes, a frame has at least {fmt.min_size}")
        if not data.startswith(fmt.sync):
            raise FrameError(f"bad sync bytes {data[: len(fmt.sync)].hex()}, expected {fmt.sync.hex()}")
        length = int.from_bytes(data[self._len_pos : fmt.header_size], "big")
        if length > fmt.max_payload:
            raise FrameError(f"length {length} exceeds the maximum payload of {fmt.max_payload}")
        total = fmt.header_size + length + 2
        if len(data) < total:
            raise FrameError(f"truncated frame: length field says {total} bytes, got {len(data)}")
        if len(data) > total:
            raise FrameError(f"{len(data) - total} trailing bytes after the checksum")
        frame = self._finish(data, length)
        if frame is None:
            got = int.from_bytes(data[-2:], "big")
            raise FrameError(f"bad checksum: frame says 0x{got:04x}, bytes sum to 0x{checksum16(data[:-2]):04x}")
        return frame

    def _finish(self, data: bytes, length: int) -> Frame | None:
        """Verify the checksum of a complete frame and split it into fields."""
        hs = self._hs
        body_end = hs + length
        slack = ((data[body_end] << 8 | data[body_end + 1]) - sum(data[:body_end])) & 0xFFFF
        if slack and slack not in self._slack:
            return None
        pos = len(self._sync)
        aw = self._aw
        if aw == 2:
            src: int | None = data[pos] << 8 | data[pos + 1]
            dst: int | None = data[pos + 2] << 8 | data[pos + 3]
            pos += 4
        elif aw:
            src = int.from_bytes(data[pos : pos + aw], "big")
            dst = int.from_bytes(data[pos + aw : pos + 2 * aw], "big")
            pos += 2 * aw
        else:
            src = dst = None
        ident = int.from_bytes(data[pos + 2 : pos + 2 + self._iw], "big") if self._iw else None
        raw = data if type(data) is bytes else bytes(data)
        return Frame(src, dst, data[pos], data[pos + 1], raw[hs:body_end], raw, ident, slack)


@dataclass(slots=True)
class Framer:
    """Incremental frame finder: feed bytes as they arrive, take frames out.

    ``needed()`` says how many more bytes would complete the frame in progress,
    so a reader can ask the port for exactly that many and wake up the moment
    the last byte lands, instead of polling.
    """

    codec: FrameCodec
    stats: FramerStats = field(default_factory=FramerStats)
    _buf: bytearray = field(default_factory=bytearray)

    @property
    def fmt(self) -> FrameFormat:
        return self.codec.fmt

    def pending(self) -> int:
        return len(self._buf)

    def needed(self) -> int:
        fmt = self.codec.fmt
        buf = self._buf
        if len(buf) < fmt.header_size:
            return fmt.header_size - len(buf)
        length = int.from_bytes(buf[fmt.header_size - fmt.length_width : fmt.header_size], "big")
        if length > fmt.max_payload:
            return 1
        return max(1, fmt.header_size + length + 2 - len(buf))

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
            if self._buf.startswith(self.codec.fmt.sync[: len(self._buf)]) or self._buf.startswith(self.codec.fmt.sync):
                self.stats.truncated += 1
            else:
                self.stats.garbage_bytes += len(self._buf)
            self._buf.clear()

    def _discard(self, count: int) -> None:
        self.stats.garbage_bytes += count
        del self._buf[:count]

    def _plausible(self, frame: Frame) -> bool:
        fmt = self.codec.fmt
        if not fmt.address_width:
            return True
        ends = (fmt.host_address, fmt.broadcast_address)
        return frame.src in ends or frame.dst in ends

    def _complete_frame_after(self, start: int) -> int:
        """Offset of the first complete, checksum-valid frame at or after ``start``, or -1."""
        fmt = self.codec.fmt
        buf = self._buf
        hs = fmt.header_size
        pos = buf.find(fmt.sync, start)
        while pos >= 0:
            if len(buf) - pos >= hs + 2:
                length = int.from_bytes(buf[pos + hs - fmt.length_width : pos + hs], "big")
                total = hs + length + 2
                complete = length <= fmt.max_payload and len(buf) - pos >= total
                frame = self.codec._finish(bytes(buf[pos : pos + total]), length) if complete else None
                if frame is not None and self._plausible(frame):
                    return pos
            pos = buf.find(fmt.sync, pos + 1)
        return -1

    def _next(self) -> Frame | None:
        fmt = self.codec.fmt
        buf = self._buf
        sync = fmt.sync
        while True:
            start = buf.find(sync)
            if start < 0:
                # keep a possible partial sync at the end
                keep = 0
                for k in range(len(sync) - 1, 0, -1):
                    if buf.endswith(sync[:k]):
                        keep = k
                        break
                if len(buf) > keep:
                    self._discard(len(buf) - keep)
                return None
            if start:
                self._discard(start)
            if len(buf) < fmt.header_size:
                return None
            length = int.from_bytes(buf[fmt.header_size - fmt.length_width : fmt.header_size], "big")
            if length > fmt.max_payload:
                self.stats.bad_length += 1
                self._discard(1)
                continue
            total = fmt.header_size + length + 2
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
            frame = self.codec._finish(bytes(buf[:total]), length)
            if frame is None:
                # A truncated frame followed by a good one looks like this too:
                # step past the sync and hunt again, so the good one is found.
                self.stats.bad_checksum += 1
                self._discard(1)
                continue
            if not self._plausible(frame):
                # A 16-bit byte sum is weak and shift-invariant: noise ending in a
                # sync can frame a run of real bytes with a "valid" checksum.  Every
                # real frame involves the host or the broadcast address.
                self.stats.implausible += 1
                self._discard(1)
                continue
            del buf[:total]
            self.stats.frames += 1
            if frame.checksum_slack:
                self.stats.slack_accepted += 1
            return frame
