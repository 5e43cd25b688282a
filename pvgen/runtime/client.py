"""Request/reply over any pyserial-like port, and the inverter client every spec shares.

Generated ``Inverter`` classes only bind their spec, codecs and dataclasses to
this base; the conversation (handshake, waiting for exactly the reply asked
for, ignoring other inverters on the bus, the pv 0.2 call names) is written
once, here.  pv 0.2's reading calls (``status(layout, dst)`` ...) are in
``legacy.py``, on top of this base.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import ClassVar, Generic, Protocol, TypedDict, TypeVar

from .codec import WordRecord, decode_layout, encode_layout
from .debug import log_frame
from .errors import IncompleteReply, NoReply, PortGone, ProtocolError, UnsafeWriteRefused, UnsupportedCommand
from .framing import Frame, FrameCodec, Framer
from .model import CommandDef, FieldDef, ProtocolSpec

ACK = 0x06


class PortLike(Protocol):
    """What the client needs from a port: pyserial's Serial, a socket:// URL, sim://, a test double."""

    timeout: float | None

    def write(self, data: bytes, /) -> int | None: ...

    def read(self, size: int = 1, /) -> bytes: ...


class InverterOptions(TypedDict, total=False):
    """Keyword options of every ``Inverter`` constructor (after ``port`` and ``my_addr``)."""

    address: int | None
    timeout: float | None
    sleep: Callable[[float], None]
    clock: Callable[[], float]


S = TypeVar("S", bound=WordRecord)
P = TypeVar("P", bound=WordRecord)
V = TypeVar("V")


class InverterBase(Generic[S, P, V]):
    """One inverter reached through one port.  Not thread-safe: one poller per port."""

    SPEC: ClassVar[ProtocolSpec]
    CODEC: ClassVar[FrameCodec]

    def __init__(
        self,
        port: PortLike,
        my_addr: int | None = None,
        *,
        address: int | None = None,
        timeout: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.port = port
        spec = self.SPEC
        self.timeout = spec.transport.reply_timeout if timeout is None else timeout
        if getattr(port, "timeout", None) is None or (port.timeout or 0) > self.timeout:
            try:
                port.timeout = self.timeout
            except AttributeError:
                pass
        self.address = address if address is not None else (None if spec.registration else 0)
        self.serial: str | None = None
        # pv 0.2's my_addr: the host's own address, the source of every request
        # and the destination of every reply (the spec's host address by default)
        fmt = spec.frame
        self.my_addr = fmt.host_address if my_addr is None else my_addr
        codec = self.CODEC if self.my_addr == fmt.host_address else FrameCodec(replace(fmt, host_address=self.my_addr))
        self.framer = Framer(codec)
        self.last_frame: bytes = b""
        self._sleep = sleep
        self._clock = clock
        self._status_layout: tuple[int, ...] | None = None
        self._param_layout: tuple[int, ...] | None = None
        self._queued: list[Frame] = []  # frames of a reply series read ahead of the caller

    # -- binding points filled in by the generated subclass ------------------------
    def _decode_status(self, layout: Sequence[int], payload: bytes) -> S:
        raise NotImplementedError

    def _decode_parameters(self, layout: Sequence[int], payload: bytes) -> P:
        raise NotImplementedError

    def _decode_version(self, payload: bytes) -> V:
        raise NotImplementedError

    # -- transport -----------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        log_frame("tx", data, self.SPEC.frame)
        try:
            self.port.write(data)
            flush = getattr(self.port, "flush", None)
            if flush is not None:
                flush()
        except (OSError, ValueError) as exc:
            raise PortGone(f"cannot write to the port: {exc}") from exc
        except Exception as exc:  # pyserial's SerialException is not an OSError subclass
            if type(exc).__name__ in ("SerialException", "PortNotOpenError"):
                raise PortGone(f"cannot write to the port: {exc}") from exc
            raise

    def _read(self, size: int) -> bytes:
        try:
            return self.port.read(size)
        except (OSError, ValueError) as exc:
            raise PortGone(f"cannot read from the port: {exc}") from exc
        except Exception as exc:
            if type(exc).__name__ in ("SerialException", "PortNotOpenError"):
                raise PortGone(f"cannot read from the port: {exc}") from exc
            raise

    def _drain(self) -> None:
        """Take in anything that arrived unasked (a reply too late for the last request).

        Without this a late reply would be taken as the answer to the next
        request of the same kind, and every later poll would lag one reply
        behind.  The bytes go through the framer, so stray bytes are still
        counted as garbage, and late frames are logged and dropped.
        """
        self._queued.clear()
        for chunk in self._waiting_bytes():
            for frame in self.framer.feed(chunk):
                log_frame("rx", frame.raw, self.SPEC.frame, "late, dropped")
        if self.framer.pending():
            self.framer.flush()

    def request(self, command_id: str, payload: bytes = b"", *, dst: int | None = None) -> Frame | None:
        """Send one command and return its reply frame (None for commands without one)."""
        spec = self.SPEC
        if not spec.has_command(command_id):
            raise UnsupportedCommand(f"{spec.title} has no {command_id!r} command")
        cmd = spec.command(command_id)
        if dst is None:
            if cmd.broadcast or not spec.frame.address_width:
                dst = spec.frame.broadcast_address
            else:
                if self.address is None:
                    raise NoReply(f"{command_id}: the inverter is not registered yet (run the handshake first)")
                dst = self.address
        data = self.CODEC.build(cmd.control, cmd.function, payload, src=self.my_addr, dst=dst)
        self._drain()
        self._write(data)
        if not cmd.expects_reply:
            if spec.transport.command_delay:
                self._sleep(spec.transport.command_delay)
            return None
        return self._await_reply(cmd, dst)

    def request_series(
        self, command_id: str, payload: bytes = b"", *, limit: int = 100_000
    ) -> tuple[tuple[Frame, ...], Frame]:
        """Send a command whose reply is a series (spec key ``until``): its frames, then the end frame.

        Each frame must arrive within the reply timeout of the one before, so a
        long series (a year of Samil TCP history) is not cut short by one
        overall deadline.  A series that stops before its end frame raises
        ``IncompleteReply`` carrying the frames that did arrive; ``limit``
        bounds a peer that never ends one.
        """
        spec = self.SPEC
        if not spec.has_command(command_id):
            raise UnsupportedCommand(f"{spec.title} has no {command_id!r} command")
        cmd = spec.command(command_id)
        if cmd.end_function is None or cmd.reply_function is None:
            raise UnsupportedCommand(f"{command_id}: the spec does not describe its reply as a series (until)")
        dst = spec.frame.broadcast_address if not spec.frame.address_width else self.address
        if dst is None:
            raise NoReply(f"{command_id}: the inverter is not registered yet (run the handshake first)")
        data = self.CODEC.build(cmd.control, cmd.function, payload, src=spec.frame.host_address, dst=dst)
        self._drain()
        self._write(data)
        frames: list[Frame] = []
        ends = (cmd.reply_function, cmd.end_function)
        while len(frames) < limit:
            try:
                frame = self._await_reply(cmd, dst, functions=ends)
            except NoReply:
                if not frames:
                    raise
                raise IncompleteReply(
                    f"{command_id}: the reply stopped after {len(frames)} frame(s) without its end frame",
                    tuple(frames),
                ) from None
            if frame.function == cmd.end_function:
                return tuple(frames), frame
            frames.append(frame)
        raise IncompleteReply(f"{command_id}: more than {limit} reply frames without an end frame", tuple(frames))

    def _await_reply(self, cmd: CommandDef, dst: int, functions: tuple[int | None, ...] = ()) -> Frame:
        fmt = self.SPEC.frame
        deadline = self._clock() + self.timeout
        while True:
            if self._queued:
                return self._queued.pop(0)
            chunk = self._read(self.framer.needed())
            if chunk:
                frame = self._match(chunk, cmd, dst, functions)
                if frame is not None:
                    return frame
            if self._clock() >= deadline:
                # The deadline is for the line going quiet, not for bytes already
                # here: take in whatever is waiting before giving up.
                for chunk in self._waiting_bytes():
                    frame = self._match(chunk, cmd, dst, functions)
                    if frame is not None:
                        return frame
                if self.framer.pending():
                    log_frame("rx", bytes(self.framer._buf), fmt, "incomplete, dropped")
                self.framer.flush()
                raise NoReply(f"no reply to {cmd.id} within {self.timeout:g} s")

    def _match(self, chunk: bytes, cmd: CommandDef, dst: int, functions: tuple[int | None, ...] = ()) -> Frame | None:
        """Feed bytes to the framer; return the reply to ``cmd`` from ``dst`` if it is among them.

        ``functions`` widens the reply codes taken (a series and its end frame);
        further matching frames of the same chunk are kept for the next call,
        since one read may carry several frames of a series.
        """
        fmt = self.SPEC.frame
        wanted = functions or (cmd.reply_function,)
        found: Frame | None = None
        for frame in self.framer.feed(chunk):
            log_frame("rx", frame.raw, fmt)
            if frame.control != cmd.control or frame.function not in wanted:
                continue
            if fmt.address_width and frame.dst != self.my_addr:
                continue
            if fmt.address_width and dst != fmt.broadcast_address and frame.src != dst:
                continue
            if found is None:
                self.last_frame = frame.raw
                found = frame
            elif functions:
                self._queued.append(frame)
        return found

    def _waiting_bytes(self, limit: int = 65536) -> Iterator[bytes]:
        """Everything the port already holds, in chunks, without waiting for more.

        ``in_waiting`` is a byte count on serial ports but only 0 or 1 on
        pyserial's ``socket://`` (it asks select), so ask again after every
        read; ``limit`` bounds a line that never stops talking.
        """
        taken = 0
        while taken < limit:
            waiting = self._waiting()
            if not waiting:
                return
            chunk = self._read(min(waiting, limit - taken))
            if not chunk:
                return
            taken += len(chunk)
            yield chunk

    def _waiting(self) -> int:
        """Bytes the port already holds (0 for ports that cannot tell)."""
        try:
            return int(getattr(self.port, "in_waiting", 0) or 0)
        except (OSError, ValueError, TypeError):
            return 0
        except Exception as exc:  # pyserial's SerialException is not an OSError
            if type(exc).__name__ not in ("SerialException", "PortNotOpenError"):
                raise
            return 0

    def _payload(self, command_id: str, payload: bytes = b"") -> bytes:
        frame = self.request(command_id, payload)
        assert frame is not None
        return frame.payload

    # -- handshake (pv 0.2 names) ---------------------------------------------------
    def reset(self) -> None:
        """Make every inverter on the line forget its address (no reply expected)."""
        self.request("reset")
        self.address = None if self.SPEC.registration else 0

    def discover(self) -> str | None:
        """Serial number of an unregistered inverter, or None when nobody answers."""
        try:
            payload = self._payload("discover")
        except NoReply:
            return None
        return payload.replace(b"\x00", b"").decode("latin-1").strip()

    def register(self, sn: str, addr: int = 1) -> bool:
        """Give the inverter with serial ``sn`` the bus address ``addr``; True when it acknowledged."""
        serial = sn.encode("latin-1")
        try:
            frame = self.request("register", serial + bytes([addr]))
        except NoReply:
            return False
        assert frame is not None
        if frame.payload[:1] != bytes([ACK]):
            return False
        self.address = addr
        self.serial = sn
        return True

    def handshake(self, address: int = 1, resets: int = 3) -> str:
        """reset x3, discover, register: what the official software does. Returns the serial."""
        if not self.SPEC.registration:
            return self.serial or ""
        for _ in range(resets):
            self.reset()
        sn = self.discover()
        if sn is None:
            raise NoReply("no unregistered inverter answered discover")
        if not self.register(sn, address):
            raise NoReply(f"inverter {sn} did not acknowledge registration at address {address}")
        return sn

    # -- typed reads ---------------------------------------------------------------
    def read_version(self) -> V:
        return self._decode_version(self._payload("version"))

    def read_status_layout(self) -> tuple[int, ...]:
        self._status_layout = decode_layout(self._payload("status_layout"))
        return self._status_layout

    def read_param_layout(self) -> tuple[int, ...]:
        self._param_layout = decode_layout(self._payload("param_layout"))
        return self._param_layout

    def read_status(self, layout: Sequence[int] | None = None) -> S:
        if layout is None:
            layout = self._status_layout or self.read_status_layout()
        return self._decode_status(layout, self._payload("status"))

    def read_parameters(self, layout: Sequence[int] | None = None) -> P:
        if layout is None:
            layout = self._param_layout if self._param_layout is not None else self.read_param_layout()
        return self._decode_parameters(layout, self._payload("parameters"))

    def set_parameter(self, param_id: str, value: float, *, confirm: bool = False) -> None:
        """Write one parameter, only inside the spec's safe range and only when confirmed."""
        p = self._settable(param_id)
        check_safe(p, value)
        if not confirm:
            raise UnsafeWriteRefused(f"writing {p.label} = {value} {p.unit} needs confirm=True")
        assert p.set_command is not None
        frame = self.request(p.set_command, p.to_raw(value).to_bytes(2 * len(p.codes), "big"))
        if frame is not None and frame.payload[:1] not in (b"", bytes([ACK])):
            raise ProtocolError(f"inverter refused {p.label} = {value}: reply {frame.payload.hex()}")

    def _settable(self, param_id: str) -> FieldDef:
        try:
            p = self.SPEC.parameter(param_id)
        except KeyError:
            names = ", ".join(x.id for x in self.SPEC.parameters if x.set_command)
            raise UnsafeWriteRefused(f"unknown parameter {param_id!r} (settable: {names or 'none'})") from None
        if p.set_command is None:
            raise UnsafeWriteRefused(f"{p.label} is read-only in the {self.SPEC.id} spec")
        return p


def check_safe(p: FieldDef, value: float) -> None:
    """Refuse any value outside the parameter's safe range (the spec's, never the caller's)."""
    if p.safe_min is None or p.safe_max is None:
        raise UnsafeWriteRefused(f"{p.label} has no safe range in the spec: refusing to write")
    if not p.safe_min <= value <= p.safe_max:
        raise UnsafeWriteRefused(
            f"{p.label} = {value} {p.unit} is outside the safe range {p.safe_min}..{p.safe_max} {p.unit}"
        )


def encode_register(serial: str, address: int) -> bytes:
    return serial.encode("latin-1") + bytes([address])


def decode_register(payload: bytes) -> tuple[str, int]:
    if len(payload) < 2:
        raise ProtocolError(f"register payload of {len(payload)} bytes is too short")
    return payload[:-1].decode("latin-1"), payload[-1]


__all__ = [
    "ACK",
    "InverterBase",
    "InverterOptions",
    "PortLike",
    "check_safe",
    "decode_layout",
    "decode_register",
    "encode_layout",
    "encode_register",
]
