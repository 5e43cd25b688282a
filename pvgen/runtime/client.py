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
from logging import DEBUG
from typing import Any, ClassVar, Generic, NamedTuple, Protocol, TypedDict, TypeVar

from .codec import WordRecord, decode_layout, decode_payload, encode_layout, encode_payload
from .debug import FRAME_LOG, log_frame
from .errors import IncompleteReply, NoReply, PortGone, ProtocolError, UnsafeWriteRefused, UnsupportedCommand
from .framing import Frame, FrameCodec, Framer
from .model import CommandDef, FieldDef, ModelDef, ProtocolSpec, TypeDef

ACK = 0x06
MAX_PREPARED = 1024  # prepared requests kept per client: (command, destination) pairs in use
MAX_FUSED = 64  # compiled exchanges kept per client (fused.py): (call, layout, destination) in use


def _nothing_fused(_inv: object) -> Any:
    raise AssertionError("no compiled exchange yet")  # never called: no layout or address is its sentinels


_NOTHING_FUSED: tuple[object, object, Callable[[Any], Any]] = (object(), object(), _nothing_fused)
_frames_logged = FRAME_LOG.isEnabledFor  # checked before building a log call on the per-poll path
_LAST_EXCHANGE = "_pv_last_exchange"  # attribute noted on a port: when its last exchange ended (command_delay)


class PortLike(Protocol):
    """What the client needs from a port: pyserial's Serial, a socket:// URL, sim://, a test double."""

    timeout: float | None

    def write(self, data: bytes, /) -> int | None: ...

    def read(self, size: int = 1, /) -> bytes: ...


def _port_gone(exc: Exception, doing: str) -> PortGone:
    """PortGone for a port that failed (``doing``: "read from", "write to"); anything else is re-raised."""
    # pyserial's SerialException is not an OSError subclass
    if isinstance(exc, OSError | ValueError) or type(exc).__name__ in ("SerialException", "PortNotOpenError"):
        return PortGone(f"cannot {doing} the port: {exc}")
    raise exc


class _Match(NamedTuple):
    """What a reply must be to answer a request (``InverterBase._pick``)."""

    control: int
    functions: tuple[int | None, ...]  # reply function codes taken
    src: int | None  # the address it must come from; None: any
    dst: int | None  # the address it must go to; None: any
    series: bool  # part of a series: further matching frames of one read are kept for the next call


class _Prepared(NamedTuple):
    """A request ready to write, and what its reply must be (``InverterBase._prepare``)."""

    cmd: CommandDef
    data: bytes
    target: int  # the frame's destination address
    match: _Match
    # the first bytes of every reply ``match`` takes (lead, addresses, command), when they are fixed
    # and the framer's plausibility rule accepts them: a reply starting so is matched by one compare
    expect: tuple[bytes, ...] | None


class InverterOptions(TypedDict, total=False):
    """Keyword options of every ``Inverter`` constructor (after ``port`` and ``my_addr``)."""

    address: int | None
    timeout: float | None
    sleep: Callable[[float], None]
    clock: Callable[[], float]
    model: str | None


S = TypeVar("S", bound=WordRecord)
P = TypeVar("P", bound=WordRecord)
V = TypeVar("V")


class InverterBase(Generic[S, P, V]):
    """One inverter reached through one port.  Not thread-safe: one poller per port.

    ``model`` names the spec model the unit is, when the caller knows it: a
    model with a fixed word order is then read without any layout query.
    Without it, the layout comes from the unit's answer to the layout query;
    units that have none (or do not answer it while a fixed-layout model
    exists) are matched to a fixed-layout model by the status reply itself
    (its reply code, then its length).
    """

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
        model: str | None = None,
    ) -> None:
        self.port = port
        spec = self.SPEC
        self.timeout = spec.transport.reply_timeout if timeout is None else timeout
        if getattr(port, "timeout", None) is None or (port.timeout or 0) > self.timeout:
            try:
                port.timeout = self.timeout
            except AttributeError:
                pass
        self._requests: dict[tuple[str, int | None], _Prepared] = {}  # by (command, frame destination)
        self._bus_requests: dict[tuple[str, int], _Prepared] = {}  # by (command, bus address): pv 0.2's dst
        self._address = address if address is not None else (None if spec.registration else 0)
        self.serial: str | None = None
        # pv 0.2's my_addr: the host's own address, the source of every request
        # and the destination of every reply (the spec's host address by default)
        fmt = spec.frame
        self._my_addr = fmt.host_address if my_addr is None else my_addr
        codec = self.CODEC if self.my_addr == fmt.host_address else FrameCodec(replace(fmt, host_address=self.my_addr))
        self.framer = Framer(codec, expect="reply")
        self.model: ModelDef | None = spec.model(model) if model is not None else None
        self.last_frame: bytes = b""
        self._sleep = sleep
        self._clock = clock
        self._last_exchange: float | None = None  # when the previous command's exchange ended
        self._discovered: dict[str, bytes] = {}  # serial -> the discover payload exactly as received
        self._status_layout: tuple[int, ...] | None = None
        self._status_model: ModelDef | None = None  # the fixed-layout model _status_layout came from
        self._param_layout: tuple[int, ...] | None = None
        self._queued: list[Frame] = []  # frames of a reply series read ahead of the caller
        self._command_delay = spec.transport.command_delay
        # fused.py's compiled exchanges by (call, layout, destination), and the last one used with its
        # (layout, destination) for an identity check; both dropped with the kept requests they wrote in
        self._fused: dict[tuple[object, ...], Callable[[Any], Any]] = {}
        self._fused_last = _NOTHING_FUSED

    @property
    def address(self) -> int | None:
        """The inverter's bus address (None: not registered yet)."""
        return self._address

    @address.setter
    def address(self, value: int | None) -> None:
        self._address = value
        self._requests.clear()  # prepared requests went to the old address

    @property
    def my_addr(self) -> int:
        """The host's own address: the source of every request (pv 0.2's ``my_addr``)."""
        return self._my_addr

    @my_addr.setter
    def my_addr(self, value: int) -> None:
        self._my_addr = value
        self._requests.clear()
        self._bus_requests.clear()
        self._fused.clear()
        self._fused_last = _NOTHING_FUSED

    # -- binding points filled in by the generated subclass ------------------------
    def _decode_status(self, layout: Sequence[int], payload: bytes) -> S:
        raise NotImplementedError

    def _decode_parameters(self, layout: Sequence[int], payload: bytes) -> P:
        raise NotImplementedError

    def _decode_version(self, payload: bytes) -> V:
        raise NotImplementedError

    # -- transport -----------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if _frames_logged(DEBUG):
            log_frame("tx", data, self.SPEC.frame)
        try:
            self.port.write(data)
            flush = getattr(self.port, "flush", None)
            if flush is not None:
                flush()
        except Exception as exc:
            raise _port_gone(exc, "write to") from exc

    def _read(self, size: int) -> bytes:
        try:
            return self.port.read(size)
        except Exception as exc:
            raise _port_gone(exc, "read from") from exc

    def _drain(self) -> None:
        """Take in anything that arrived unasked (a reply too late for the last request).

        Without this a late reply would be taken as the answer to the next
        request of the same kind, and every later poll would lag one reply
        behind.  The bytes go through the framer, so stray bytes are still
        counted as garbage, and late frames are logged and dropped.
        """
        if self._queued:
            self._queued.clear()
        if self._waiting():  # nothing waiting is the common case: skip the chunk loop
            for chunk in self._waiting_bytes():
                for frame in self.framer.feed(chunk):
                    log_frame("rx", frame.raw, self.SPEC.frame, "late, dropped")
        if self.framer._buf:
            self.framer.flush()

    def _pause(self) -> None:
        """The spec's ``command_delay`` between commands: wait until it has passed since the last exchange.

        The pause belongs to the line, not to one client: every client on a
        port notes on the port when its exchange ended, so commands of several
        inverters' clients on one bus are spaced too.  With nothing noted yet
        the whole delay is waited; otherwise only what is left of it, so a poll
        that comes long after the previous reply is not slowed down.
        """
        delay = self._command_delay
        if delay <= 0:
            return
        last = getattr(self.port, _LAST_EXCHANGE, self._last_exchange)
        wait = delay if last is None else delay - (self._clock() - last)
        if wait > 0:
            self._sleep(min(wait, delay))

    def _exchange_ended(self) -> None:
        now = self._clock()
        self._last_exchange = now
        try:
            setattr(self.port, _LAST_EXCHANGE, now)
        except (AttributeError, TypeError):  # a port object that takes no attributes: this client's own
            pass

    def destination(self, cmd: CommandDef) -> int:
        """Where ``cmd`` goes on this line (the spec's address rules)."""
        fmt = self.SPEC.frame
        if not fmt.address_width or cmd.broadcast:
            return fmt.broadcast_address
        if cmd.destination is not None:
            return cmd.destination
        if self.address is None:
            raise NoReply(f"{cmd.id}: the inverter is not registered yet (run the handshake first)")
        return fmt.destination(self.address)

    def build_request(self, command_id: str, payload: bytes = b"", *, dst: int | None = None) -> bytes:
        """The bytes ``request`` would write for this command (prefix, sync and addresses by the spec)."""
        spec = self.SPEC
        if not spec.has_command(command_id):
            raise UnsupportedCommand(f"{spec.title} has no {command_id!r} command")
        cmd = spec.command(command_id)
        target = self.destination(cmd) if dst is None else dst
        return self.CODEC.build(cmd.control, cmd.function, payload, src=self.my_addr, dst=target)

    def _prepare(self, command_id: str, payload: bytes, dst: int | None) -> _Prepared:
        """The command, its request bytes, where they go and what its reply must be.

        Requests without a payload (every reading command) are built once per
        (command, destination) and kept until the bus address or ``my_addr``
        changes, so a poll writes bytes already made.
        """
        data = self.build_request(command_id, payload, dst=dst)
        cmd = self.SPEC.command(command_id)
        target = self.destination(cmd) if dst is None else dst
        match = self._match_for(cmd, self._reply_addresses(cmd, target))
        prepared = _Prepared(cmd, data, target, match, self._reply_heads(match))
        if not payload:
            if len(self._requests) >= MAX_PREPARED:  # a script sweeping every dst must not grow memory
                self._requests.clear()
            self._requests[command_id, dst] = prepared
        return prepared

    def _reply_heads(self, match: _Match) -> tuple[bytes, ...] | None:
        """The header bytes before the length field (ident excluded) of every reply ``match`` takes.

        None where they are not fixed (a reply from whichever unit answers, a
        series) or the framer would not take such a frame as plausible: those
        replies are found by the framer's hunt and ``_pick`` alone.
        """
        framer = self.framer
        lead = framer._sole
        fmt = framer.codec.fmt
        if lead is None or match.series:
            return None
        addresses = b""
        if fmt.address_width:
            ends = framer._ends
            if match.src is None or match.dst is None or ends is None or not {match.src, match.dst} & ends:
                return None
            addresses = match.src.to_bytes(fmt.address_width, "big") + match.dst.to_bytes(fmt.address_width, "big")
        return tuple(lead.lead + addresses + bytes([match.control, f]) for f in match.functions if f is not None)

    def _prepare_for_bus(self, command_id: str, bus_address: int) -> _Prepared:
        """A request without payload to the inverter at ``bus_address`` (the spec's address rules), kept."""
        prepared = self._prepare(command_id, b"", self.SPEC.frame.destination(bus_address))
        if len(self._bus_requests) >= MAX_PREPARED:
            self._bus_requests.clear()
        self._bus_requests[command_id, bus_address] = prepared
        return prepared

    def request(self, command_id: str, payload: bytes = b"", *, dst: int | None = None) -> Frame | None:
        """Send one command and return its reply frame (None for commands without one)."""
        prepared = None if payload else self._requests.get((command_id, dst))
        if prepared is None:
            prepared = self._prepare(command_id, payload, dst)
        return self._exchange(prepared)

    def _exchange(self, prepared: _Prepared) -> Frame | None:
        """Drain what came unasked, pause for the line, write, and wait for the reply."""
        if self._queued or self.framer._buf or self._waiting():
            self._drain()
        if self._command_delay > 0:
            self._pause()
        cmd, data, _target, match, expect = prepared
        self._write(data)
        if cmd.reply_function is None:
            self._exchange_ended()
            return None
        try:
            return self._await(cmd, match, expect)
        finally:
            self._exchange_ended()

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
        dst = self.destination(cmd)
        data = self.build_request(command_id, payload)
        self._drain()
        self._pause()
        self._write(data)
        frames: list[Frame] = []
        match = self._match_for(cmd, self._reply_addresses(cmd, dst), (cmd.reply_function, cmd.end_function))
        while len(frames) < limit:
            try:
                frame = self._await(cmd, match)
            except NoReply:
                if not frames:
                    raise
                raise IncompleteReply(
                    f"{command_id}: the reply stopped after {len(frames)} frame(s) without its end frame",
                    tuple(frames),
                ) from None
            if frame.function == cmd.end_function:
                self._exchange_ended()
                return tuple(frames), frame
            frames.append(frame)
        raise IncompleteReply(f"{command_id}: more than {limit} reply frames without an end frame", tuple(frames))

    def _await_reply(self, cmd: CommandDef, dst: int, functions: tuple[int | None, ...] = ()) -> Frame:
        return self._await(cmd, self._match_for(cmd, self._reply_addresses(cmd, dst), functions))

    def _await(self, cmd: CommandDef, match: _Match, expect: tuple[bytes, ...] | None = None) -> Frame:
        """The reply to ``cmd`` that ``match`` describes; NoReply when the line stays quiet.

        A reply usually arrives whole: its header is read, then exactly the
        rest.  When its first bytes are one of ``expect`` (the reply's lead,
        addresses and command, ``_reply_heads``) it is the reply asked for as
        soon as the framer takes it (``take``: length, checksum).  Anything else
        (noise, a frame cut short, a reply split over reads, another unit's
        frame) goes through the framer's resynchronising path and ``_pick``.

        The steps after the first read are methods of their own
        (``_await_head``, ``_await_whole``, ``_await_frames``, ``_await_more``)
        so that the fused exchange (``fused.py``) can hand over the bytes it
        has read at exactly the point it stopped, and both paths stay one.
        """
        framer = self.framer
        deadline = self._clock() + self.timeout
        if expect is not None and not self._queued and not framer._buf:
            try:
                head = self.port.read(framer._min_hs)
            except Exception as exc:
                raise _port_gone(exc, "read from") from exc
            return self._await_head(cmd, match, expect, head, deadline)
        return self._await_more(cmd, match, deadline)

    def _await_head(
        self, cmd: CommandDef, match: _Match, expect: tuple[bytes, ...], head: bytes, deadline: float
    ) -> Frame:
        """``_await`` once the first header's worth of bytes (``head``) has been read."""
        framer = self.framer
        rest = framer.header(head) if head.startswith(expect) else -1
        if rest >= 0 and self._clock() < deadline:
            try:
                data = head + self.port.read(rest)
            except Exception as exc:
                raise _port_gone(exc, "read from") from exc
            return self._await_whole(cmd, match, data, deadline)
        return self._await_frames(cmd, match, framer.feed(head) if head else [], deadline)

    def _await_whole(self, cmd: CommandDef, match: _Match, data: bytes, deadline: float) -> Frame:
        """``_await`` once a header it accepted and the rest it asked for (``data``) have been read."""
        framer = self.framer
        frame = framer.take(data)
        if frame is not None:
            if _frames_logged(DEBUG):
                log_frame("rx", data, self.SPEC.frame)
            self.last_frame = data
            return frame
        return self._await_frames(cmd, match, framer.feed(data), deadline)

    def _await_frames(self, cmd: CommandDef, match: _Match, frames: list[Frame], deadline: float) -> Frame:
        """``_await`` once the first bytes read have been framed (``frames``, maybe none)."""
        found = self._pick(frames, match) if frames else None
        if found is not None:
            return found
        if self._clock() >= deadline:
            return self._last_chance(cmd, match)
        return self._await_more(cmd, match, deadline)

    def _await_more(self, cmd: CommandDef, match: _Match, deadline: float) -> Frame:
        """The general loop: read what the framer needs until the reply is found or the deadline passes."""
        framer = self.framer
        read = self._read
        clock = self._clock
        while True:
            if self._queued:
                return self._queued.pop(0)
            chunk = read(framer.needed())
            if not chunk:
                frames = []
            else:
                rest = framer.header(chunk)
                if rest < 0:
                    frames = framer.feed(chunk)
                elif clock() >= deadline:
                    frames = framer.feed(chunk)  # out of time: _last_chance takes what waits
                else:
                    frames = framer.whole(chunk + read(rest))
            if frames:
                found = self._pick(frames, match)
                if found is not None:
                    return found
            if clock() >= deadline:
                return self._last_chance(cmd, match)

    def _last_chance(self, cmd: CommandDef, match: _Match) -> Frame:
        """Out of time: the reply if it is among the bytes already waiting, else NoReply.

        The deadline is for the line going quiet, not for bytes already here.
        """
        framer = self.framer
        for chunk in self._waiting_bytes():
            frame = self._pick(framer.feed(chunk), match)
            if frame is not None:
                return frame
        if framer.pending():
            log_frame("rx", bytes(framer._buf), self.SPEC.frame, "incomplete, dropped")
        framer.flush()
        raise NoReply(f"no reply to {cmd.id} within {self.timeout:g} s")

    def _reply_addresses(self, cmd: CommandDef, dst: int) -> tuple[int | None, int | None]:
        """(src, dst) the reply to a request sent to ``dst`` must carry; None where any is accepted.

        The reply goes to the host (or, by the spec's ``reply_to: request``,
        to the request's destination without its bus address).  A request to
        one inverter is answered from that inverter (``reply_from`` | its bus
        address); a broadcast or a request to a fixed address from whichever
        unit answers it.
        """
        fmt = self.SPEC.frame
        if not fmt.address_width:
            return None, None
        reply_dst = fmt.reply_destination(self.my_addr, dst)
        if dst == fmt.broadcast_address or cmd.broadcast or cmd.destination is not None:
            return None, reply_dst
        return fmt.reply_source(fmt.bus_address(dst, fmt.inverter_address)), reply_dst

    @staticmethod
    def _match_for(
        cmd: CommandDef, want: tuple[int | None, int | None], functions: tuple[int | None, ...] = ()
    ) -> _Match:
        """The reply to ``cmd`` from and to the addresses ``want`` (``_reply_addresses``).

        ``functions`` widens the reply codes taken (a series and its end frame).
        """
        return _Match(cmd.control, functions or cmd.reply_functions, want[0], want[1], bool(functions))

    def _match(
        self,
        chunk: bytes,
        cmd: CommandDef,
        want: tuple[int | None, int | None],
        functions: tuple[int | None, ...] = (),
    ) -> Frame | None:
        """Feed bytes to the framer; return the reply to ``cmd`` if it is among them (see ``_pick``)."""
        return self._pick(self.framer.feed(chunk), self._match_for(cmd, want, functions))

    def _pick(self, frames: list[Frame], match: _Match) -> Frame | None:
        """The reply ``match`` describes among ``frames``, or None.

        Further matching frames of a series are kept for the next call, since
        one read may carry several frames of it.
        """
        logged = _frames_logged(DEBUG)
        control, functions, src, dst, series = match
        found: Frame | None = None
        for frame in frames:
            if logged:
                log_frame("rx", frame.raw, self.SPEC.frame)
            if frame.control != control or frame.function not in functions:
                continue
            if dst is not None and frame.dst != dst:
                continue
            if src is not None and frame.src != src:
                continue
            if found is None:
                self.last_frame = frame.raw
                found = frame
            elif series:
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

    def _reply(self, command_id: str, payload: bytes = b"") -> Frame:
        frame = self.request(command_id, payload)
        assert frame is not None
        return frame

    def _payload(self, command_id: str, payload: bytes = b"") -> bytes:
        return self._reply(command_id, payload).payload

    def encode_request(self, command_id: str, value: object) -> bytes:
        """A request payload built through the command's request type (widths and padding by the spec)."""
        cmd = self.SPEC.command(command_id)
        t = self.SPEC.payload_type(cmd.request_type)
        if t is None:
            raise ProtocolError(f"{command_id}: the spec gives no payload type for its request")
        try:
            return encode_payload(t, value)
        except ValueError as exc:
            raise ProtocolError(f"{command_id}: {exc}") from None

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
        sn = payload.replace(b"\x00", b"").decode("latin-1").strip()
        self._discovered[sn] = payload
        return sn

    def register(self, sn: str, addr: int = 1) -> bool:
        """Give the inverter with serial ``sn`` the bus address ``addr``; True when it acknowledged.

        ``addr`` defaults to 1 as in pv 0.2; ``handshake()``, the monitor and
        the CLI use the spec's first address instead (SISER 33, Eversolar
        0x10).  The request is built through the spec's register type: the
        serial goes into its text member exactly as discover received it
        (padding included), the address into its integer member.
        """
        payload = self.register_payload(sn, addr)
        try:
            frame = self.request("register", payload)
        except NoReply:
            return False
        assert frame is not None
        if frame.payload[:1] != bytes([ACK]):
            return False
        self.address = addr
        self.serial = sn
        return True

    def register_payload(self, sn: str, address: int) -> bytes:
        """The register request's payload for ``sn`` and ``address`` (the serial as discover received it)."""
        raw = self._discovered.get(sn)
        try:
            return register_payload(self.SPEC, raw if raw is not None else sn, address)
        except ValueError as exc:
            raise ProtocolError(f"register: {exc}") from None

    def handshake(self, address: int | None = None, resets: int = 3) -> str:
        """reset x3, discover, register: what the official software does. Returns the serial."""
        if not self.SPEC.registration:
            return self.serial or ""
        if address is None:
            address = self.SPEC.frame.first_address
        for _ in range(resets if self.SPEC.has_command("reset") else 0):
            self.reset()
        sn = self.discover()
        if sn is None:
            raise NoReply("no unregistered inverter answered discover")
        if not self.register(sn, address):
            raise NoReply(f"inverter {sn} did not acknowledge registration at address {address}")
        return sn

    # -- layouts -------------------------------------------------------------------
    def _fixed_layout(self, what: str) -> tuple[int, ...] | None:
        """The fixed layout known without asking: the given model's, or the spec's only one."""
        spec = self.SPEC
        model = self.model
        if model is not None and (model.status_fixed if what == "status" else model.param_fixed):
            return model.status_layout if what == "status" else model.param_layout
        query = "status_layout" if what == "status" else "param_layout"
        fixed = spec.fixed_models(what)
        if fixed and not spec.has_command(query):
            layouts = {m.status_layout if what == "status" else m.param_layout for m in fixed}
            if len(layouts) == 1:
                return layouts.pop()
        return None

    def _fixed_for(self, what: str, frame: Frame) -> tuple[int, ...]:
        """The fixed layout a reply is decoded with, chosen by its reply code and length."""
        model = self.SPEC.fixed_model_for(what, frame.function, len(frame.payload), prefer=self.model)
        if model is None:
            have = ", ".join(
                f"{m.id} ({2 * len(m.status_layout if what == 'status' else m.param_layout)} bytes)"
                for m in self.SPEC.fixed_models(what)
            )
            raise ProtocolError(
                f"{what} reply 0x{frame.control:02x}{frame.function:02x} of {len(frame.payload)} bytes matches"
                f" no fixed layout of the {self.SPEC.id} spec (have: {have or 'none'})"
            )
        if what == "status":
            self._status_model = model
            self._status_layout = model.status_layout
            return model.status_layout
        self._param_layout = model.param_layout
        return model.param_layout

    def _query_layout(self, what: str) -> tuple[int, ...] | None:
        """Ask the unit for its layout; None when it has no query (or ignores it and a fixed layout may fit)."""
        query = "status_layout" if what == "status" else "param_layout"
        if not self.SPEC.has_command(query):
            return None
        try:
            layout = decode_layout(self._payload(query))
        except NoReply:
            if not self.SPEC.fixed_models(what):
                raise
            return None
        if what == "status":
            self._status_layout, self._status_model = layout, None
        else:
            self._param_layout = layout
        return layout

    # -- typed reads ---------------------------------------------------------------
    def read_version(self) -> V:
        return self._decode_version(self._payload("version"))

    def read_status_layout(self) -> tuple[int, ...]:
        """The layout status replies are decoded with.

        The unit's answer to the layout query where it has one; the fixed
        word order of its model where it has none.  When the model is not
        known, one status read tells it (reply code, then payload length).
        """
        fixed = self._fixed_layout("status")
        if fixed is not None:
            self._status_layout = fixed
            return fixed
        layout = self._query_layout("status")
        if layout is not None:
            return layout
        return self._fixed_for("status", self._reply("status"))

    def read_param_layout(self) -> tuple[int, ...]:
        fixed = self._fixed_layout("parameters")
        if fixed is not None:
            self._param_layout = fixed
            return fixed
        layout = self._query_layout("parameters")
        if layout is not None:
            return layout
        return self._fixed_for("parameters", self._reply("parameters"))

    def read_status(self, layout: Sequence[int] | None = None) -> S:
        if layout is None:
            layout = self._status_layout or self._fixed_layout("status")
            if layout is None and self.SPEC.has_command("status_layout"):
                layout = self._query_layout("status")
        frame = self._reply("status")
        model = self._status_model
        if layout is None or (
            model is not None and model.status_reply is not None and model.status_reply != frame.function
        ):
            layout = self._fixed_for("status", frame)
        return self._decode_status(layout, frame.payload)

    def read_parameters(self, layout: Sequence[int] | None = None) -> P:
        if layout is None:
            layout = self._param_layout if self._param_layout is not None else self._fixed_layout("parameters")
            if layout is None and self.SPEC.has_command("param_layout"):
                layout = self._query_layout("parameters")
        frame = self._reply("parameters")
        if layout is None:
            layout = self._fixed_for("parameters", frame)
        return self._decode_parameters(layout, frame.payload)

    def set_parameter(self, param_id: str, value: float, *, confirm: bool = False) -> None:
        """Write one parameter, only inside the spec's safe range and only when confirmed."""
        p = self._settable(param_id)
        check_safe(p, value)
        if not confirm:
            raise UnsafeWriteRefused(f"writing {p.label} = {value} {p.unit} needs confirm=True")
        assert p.set_command is not None
        raw = p.to_raw(value)
        cmd = self.SPEC.command(p.set_command)
        t = self.SPEC.payload_type(cmd.request_type)
        if t is not None and t.kind == "struct" and len(t.members) == 1:
            payload = self.encode_request(p.set_command, {t.members[0][0]: raw})
        else:
            payload = raw.to_bytes(2 * len(p.codes), "big")
        frame = self.request(p.set_command, payload)
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
    """Serial then one address byte: the register payload of a spec without a register type."""
    return serial.encode("latin-1") + bytes([address])


def decode_register(payload: bytes) -> tuple[str, int]:
    if len(payload) < 2:
        raise ProtocolError(f"register payload of {len(payload)} bytes is too short")
    return payload[:-1].decode("latin-1"), payload[-1]


def _register_type(spec: ProtocolSpec) -> TypeDef | None:
    if not spec.has_command("register"):
        return None
    t = spec.payload_type(spec.command("register").request_type)
    return t if t is not None and t.kind == "struct" else None


def register_payload(spec: ProtocolSpec, serial: str | bytes, address: int) -> bytes:
    """The register request built through the spec's register type.

    The serial goes into the type's text member, NUL-padded to its width
    (bytes are kept exactly: an echoed serial keeps the padding the unit
    sent); the address into its integer member, at that member's width.
    ValueError when either does not fit.
    """
    t = _register_type(spec)
    if t is None:
        return encode_register(serial if isinstance(serial, str) else serial.decode("latin-1"), address)
    values: dict[str, object] = {}
    for mid, kind, _width in t.members:
        values[mid] = serial if kind in ("text", "bytes") else address
    return encode_payload(t, values)


def read_register(spec: ProtocolSpec, payload: bytes) -> tuple[str, int]:
    """(serial, address) of a register request, read through the spec's register type.

    Read as a device would: the serial from the text member's bytes, the
    address from everything after them, so the two-byte address pv 0.2 sends
    (REFERENCE 3.5) reads as the same address.
    """
    t = _register_type(spec)
    if t is None:
        return decode_register(payload)
    kinds = [kind for _, kind, _ in t.members]
    if len(t.members) == 2 and kinds[0] in ("text", "bytes") and kinds[1] not in ("text", "bytes"):
        width = t.members[0][2]
        if len(payload) <= width:
            raise ProtocolError(f"register payload of {len(payload)} bytes is too short")
        serial = payload[:width].replace(b"\x00", b" ").decode("latin-1").strip()
        return serial, int.from_bytes(payload[width:], "big")
    values = decode_payload(t, payload)
    serial_text = next(values[mid] for mid, kind, _ in t.members if kind in ("text", "bytes"))
    address = next(values[mid] for mid, kind, _ in t.members if kind not in ("text", "bytes"))
    if isinstance(serial_text, bytes):
        serial_text = serial_text.decode("latin-1")
    return str(serial_text).strip("\x00 "), int(address)


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
    "read_register",
    "register_payload",
]
