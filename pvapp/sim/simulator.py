"""The bus: inverters sharing one line, answering requests with the spec's own builders.

``Simulator`` is the single engine behind every way in (``sim://`` URL,
pseudo-terminal, TCP).  It is driven by a spec module ``pv.<id>`` and only
uses what that module and its ``SPEC`` provide: the frame format, the command
table, the models' captured layouts and version texts, and the generated
encoders.  A new spec therefore gets a simulated inverter without new code.

Addressing follows REFERENCE section 1 and 6 and the spec's address rules
(docs/specs.md, "How a reply is matched"): reset/discover/register go to the
broadcast address (or the command's fixed address); an unregistered inverter
answers discover from ``reply_from`` (bus address 0) with its serial; register
makes it answer from ``reply_from`` | its new address; data requests to any
other address are ignored.  Replies go to the host, or to the request's
destination base where the spec says so (KLNE).  With no address bytes in the
frame (Samil TCP) there is no registration and every request is for the one
inverter on the connection.

A unit whose model has a fixed word order has no layout query: it leaves
that request unanswered, as the real unit does.
"""

from __future__ import annotations

import importlib
import random
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from types import ModuleType
from typing import Any

from pvgen.runtime.codec import encode_payload
from pvgen.runtime.errors import ProtocolError
from pvgen.runtime.framing import Frame, Framer
from pvgen.runtime.history import day_text, decode_request, encode_day
from pvgen.runtime.model import CommandDef, ModelDef, ProtocolSpec

from .clock import Clock, ScaledClock
from .device import SimInverter
from .faults import LINE_FAULTS, FaultPlan, FaultSpec
from .options import OptionError, SimOptions
from .record import Record, StatusRecord
from .weather import Sky

ACK = b"\x06"

# What a command does, by the words specs use for it.  Matching on the command's
# id and its request/reply payload types (not on its codes) is what keeps the
# engine spec-agnostic.
_KINDS: dict[str, tuple[str, ...]] = {
    "reset": ("reset", "logout", "reset_communication", "reset_comms"),
    "discover": ("discover", "offline_query", "query_serial"),
    "register": ("register", "login", "send_address", "assign_address"),
    "status_layout": ("status_layout", "read_status_layout"),
    "param_layout": ("param_layout", "parameter_layout", "read_param_layout", "read_parameter_layout"),
    "status": ("status", "read_status", "data"),
    "version": ("version", "read_version", "id_info", "identity", "info"),
    "parameters": ("parameters", "params", "read_parameters", "read_params"),
    "history": ("history", "read_history"),
}
_BY_TYPE: dict[str, str] = {
    "serial_number": "discover",
    "register_request": "register",
    "version_info": "version",
}


def command_kind(cmd: CommandDef, spec: ProtocolSpec | None = None) -> str | None:
    """What the simulator should do for a command, or None if it has no model of it.

    Known command ids first, then payload types, then "it is some parameter's
    set command" (kind ``set``).
    """
    cid = cmd.id.lower()
    for kind, names in _KINDS.items():
        if cid in names:
            return kind
    for typ in (cmd.request_type, cmd.reply_type):
        if typ and typ.lower() in _BY_TYPE:
            return _BY_TYPE[typ.lower()]
    if spec is not None and any(p.set_command == cmd.id for p in spec.parameters):
        return "set"
    return None


DAY_ELEVATION = 10.0  # degrees: the sun high enough for visible production


def daytime_start(opts: SimOptions) -> datetime | None:
    """Where a simulator without ``start`` begins: now if it is day there, else noon today.

    One-shot commands (``pv status sim://cms``, the pv 0.2 example) and a quick
    ``pv simulate`` must find the inverter awake at any hour, as the demo does;
    ``start=now`` keeps the real clock's nights.  None means "now".
    """
    if opts.awake == "always":
        return None
    now = datetime.now(opts.tz or datetime.now().astimezone().tzinfo)
    if Sky(latitude=opts.latitude).sun_elevation(now) > DAY_ELEVATION:
        return None
    return now.replace(hour=12, minute=0, second=0, microsecond=0)


def asleep_note(sim: Simulator) -> str:
    """Why a simulated line is silent, when it is because every inverter sleeps (else empty)."""
    now = sim.advance()
    if any(inv.awake for inv in sim.inverters):
        return ""
    return (
        f"the simulated inverter is asleep: it is night ({now:%H:%M}) on the simulator's clock; "
        "without a start time (or with awake=always) it answers at any hour"
    )


class SpecNotFound(OptionError):
    """No generated module for the requested spec id."""


def load_spec_module(spec_id: str) -> ModuleType:
    """Import ``pv.<spec_id>``; a one-line error lists the ids that exist."""
    if not spec_id.isidentifier():
        raise SpecNotFound(f"spec {spec_id!r} is not a valid spec id")
    try:
        module = importlib.import_module(f"pv.{spec_id}")
    except ModuleNotFoundError as exc:
        if exc.name not in (f"pv.{spec_id}", "pv"):
            raise
        raise SpecNotFound(
            f"no generated spec module pv.{spec_id} (available: {', '.join(available_specs()) or 'none'})"
        ) from None
    if not hasattr(module, "SPEC") or not hasattr(module, "CODEC"):
        raise SpecNotFound(f"pv.{spec_id} is not a generated spec module (no SPEC/CODEC)")
    return module


def available_specs() -> list[str]:
    import pkgutil

    try:
        pv = importlib.import_module("pv")
    except ModuleNotFoundError:
        return []
    out = []
    for info in pkgutil.iter_modules(getattr(pv, "__path__", [])):
        if not info.name.startswith("_"):
            out.append(info.name)
    return sorted(out)


def derive_serials(base: str, count: int) -> tuple[str, ...]:
    """Distinct serials of the same shape as the model's: bump the trailing digits."""
    if not base:
        base = "SIM0000000"
    out = [base]
    tail = len(base) - len(base.rstrip("0123456789"))
    width = max(3, tail)
    head = base[: len(base) - width]
    start = int(base[-width:]) if base[-width:].isdigit() else 0
    for i in range(1, count):
        out.append(f"{head}{(start + i) % 10**width:0{width}d}")
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One reply on its way out: byte chunks, each after a pause (real seconds) from the previous."""

    chunks: tuple[tuple[float, bytes], ...]
    faults: frozenset[str] = frozenset()
    frame: bytes = b""


@dataclass(slots=True)
class Exchange:
    """A log line of what the simulator saw and did (for --verbose and debugging)."""

    time: datetime
    request: bytes
    command: str
    replies: list[bytes] = field(default_factory=list)


@dataclass(slots=True)
class _BusFramer(Framer):
    """The inverters' end of the line: a request to an address on the bus is real, whoever sends it.

    The runtime framer takes a frame as plausible only when it involves the
    spec's host or broadcast address (a 16-bit sum is weak).  pv 0.2 let the
    host choose its own address (``cms.Inverter(port, my_addr=...)``), so the
    bus also accepts frames sent to the addresses its inverters hold.
    """

    addresses: Callable[[], Collection[int]] = field(default=lambda: ())

    def _plausible(self, frame: Frame) -> bool:
        return Framer._plausible(self, frame) or frame.dst in self.addresses()


class Simulator:
    """Several inverters of one spec on one line."""

    def __init__(
        self,
        spec: str | ModuleType | Any = "cms",
        options: SimOptions | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        module = load_spec_module(spec) if isinstance(spec, str) else spec
        self.module = module
        self.spec: ProtocolSpec = module.SPEC
        self.codec = module.CODEC
        opts = options or SimOptions(spec=self.spec.id)
        self.options = opts
        if not self.spec.models:
            raise OptionError(f"spec {self.spec.id!r} has no models to simulate")
        try:
            self.model: ModelDef = self.spec.model(opts.model)
        except KeyError as exc:
            raise OptionError(f"model: {exc.args[0]}") from None
        if self.spec.frame.address_width == 0 and opts.inverters > 1:
            raise OptionError(f"inverters: spec {self.spec.id!r} has no addresses, so one inverter per connection")
        start = opts.start if isinstance(opts.start, datetime) else None
        if opts.start is None and clock is None:
            start = daytime_start(opts)
        self.clock: Clock = clock or ScaledClock(start, opts.speed, tz=opts.tz, max_leap=opts.max_leap)
        self.moved_to_day = start is not None and opts.start is None
        self.sky = Sky(latitude=opts.latitude, clouds=opts.clouds, seed=opts.seed)
        self.faults = FaultPlan(opts.seed)
        try:
            self.record = Record(opts.record)
        except OSError as exc:
            raise OptionError(f"record: cannot write {opts.record}: {exc.strerror or exc}") from None
        self.log: list[Exchange] = []
        self.log_limit = 1000
        self._lock = threading.RLock()
        self._latency_rng = random.Random(opts.seed ^ 0x1A7)
        base = dict(self.model.version).get("serial", "").strip("\0 ")
        serials = opts.serials or derive_serials(base, opts.inverters)
        width = self._serial_width()
        for sn in serials:
            if len(sn) > width:
                raise OptionError(f"serials: {sn!r} is longer than the {width} characters a {self.spec.id} serial has")
        widths = {tf.id: tf.width for tf in self.spec.version_fields}
        for name, text in opts.version_text:
            if name not in widths:
                raise OptionError(f"version_text: {self.spec.id} has no version field {name!r} ({', '.join(widths)})")
            if len(text) > widths[name]:
                raise OptionError(f"version_text: {text!r} is longer than the {widths[name]} bytes of {name}")
        now = self.clock.now()
        self.inverters: list[SimInverter] = [
            SimInverter(
                module,
                self.model,
                sn,
                sky=self.sky,
                start=now,
                index=i,
                e_total=opts.e_total + 137.1 * i,
                h_total=opts.h_total + 211 * i,
                stale_etoday_minutes=opts.stale_etoday,
                always_awake=opts.awake == "always",
                version_text=dict(opts.version_text),
            )
            for i, sn in enumerate(serials)
        ]
        self._commands = {(c.control, c.function): c for c in self.spec.commands}
        self._example_replies = self._captured_replies(module)
        self.unanswered: dict[str, int] = {}  # commands seen that the simulator cannot model
        for f in opts.fault:
            self.apply_fault(f)

    def _serial_width(self) -> int:
        """How long a serial may be: the discover reply's text width, else the version's serial field."""
        spec = self.spec
        if spec.has_command("discover"):
            t = spec.payload_type(spec.command("discover").reply_type)
            if t is not None and t.kind == "text":
                return t.width
        return next((tf.width for tf in spec.version_fields if tf.id == "serial"), 32)

    def _serial_payload(self, cmd: CommandDef, serial: str) -> bytes:
        """The discover reply: the serial through the reply's text type (Eversolar: 16 bytes, NUL-padded)."""
        t = self.spec.payload_type(cmd.reply_type)
        if t is not None and t.kind == "text":
            return encode_payload(t, serial)
        return serial.encode("latin-1")  # any byte: hostile devices are simulated too

    def _captured_replies(self, module: Any) -> dict[str, bytes]:
        """Payloads of the spec's captured example replies, by command id.

        For a command the engine has no model of (Samil's ``01 11``), replaying
        what a real unit answered is the only honest reply.
        """
        out: dict[str, bytes] = {}
        for ex in getattr(module, "EXAMPLES", ()):
            try:
                _id, command, direction, hexdata = ex[0], ex[1], ex[2], ex[3]
                if direction == "reply" and command not in out:
                    out[command] = self.codec.parse(bytes.fromhex(hexdata)).payload
            except (ValueError, IndexError, TypeError):
                continue
        return out

    # -- configuration ------------------------------------------------------------
    def apply_fault(self, f: FaultSpec) -> None:
        """Arm a fault given as an option (``--fault``/``fault=``)."""
        if f.kind in LINE_FAULTS:
            if f.kind == "slow" and f.arg:
                self.faults.slow_seconds = float(f.arg)
            self.faults.set_rate(f.kind, f.probability)
        elif f.kind == "error":
            for inv in self.inverters:
                inv.set_error(int(f.arg or "0", 0))
        elif f.kind == "wild":
            name, _, raw = (f.arg or "").partition("=")
            try:
                for inv in self.inverters:
                    inv.set_wild(name, int(raw, 0) if raw else None)
            except KeyError:
                raise OptionError(
                    f"fault wild:{f.arg}: spec {self.spec.id!r} has no field {name!r} "
                    f"(fields: {', '.join(x.id for x in self.spec.fields)})"
                ) from None
        elif f.kind == "vanish":
            after, _, for_ = (f.arg or "0").partition(",")
            self._schedule_vanish(float(after), float(for_) if for_ else 10.0)

    def _schedule_vanish(self, after: float, duration: float) -> None:
        def gone() -> None:
            self.faults.vanish()
            t = threading.Timer(duration, self.faults.restore)
            t.daemon = True
            t.start()

        timer = threading.Timer(after, gone)
        timer.daemon = True
        timer.start()

    def inverter(self, serial: str) -> SimInverter:
        for inv in self.inverters:
            if inv.serial == serial:
                return inv
        raise KeyError(f"no simulated inverter with serial {serial!r}")

    def new_framer(self, expect: str | None = None) -> Framer:
        """A framer for this bus: ``"request"`` for what clients write, None for both directions."""
        return _BusFramer(self.codec, expect=expect, addresses=self._bus_addresses)

    def _bus_addresses(self) -> Collection[int]:
        fmt = self.spec.frame
        return {fmt.destination(inv.address) for inv in self.inverters if inv.registered and inv.address}

    def latency(self) -> float:
        lo, hi = self.options.latency
        with self._lock:
            return (lo if hi <= lo else self._latency_rng.uniform(lo, hi)) / 1000.0

    # -- the protocol --------------------------------------------------------------
    def advance(self, now: datetime | None = None) -> datetime:
        """Bring every inverter up to the clock (or ``now``)."""
        now = now or self.clock.now()
        with self._lock:
            for inv in self.inverters:
                inv.advance(now)
        return now

    def respond(self, request: Frame) -> list[bytes]:
        """The reply frames (no line faults, no timing) the bus sends for one request frame."""
        return [out.frame for out in self._serve(request, wire=False)]

    def exchange(self, request: Frame) -> list[Outgoing]:
        """Replies with line faults applied and latency set: what goes on the wire."""
        return self._serve(request, wire=True)

    def _serve(self, request: Frame, *, wire: bool) -> list[Outgoing]:
        with self._lock:
            now = self.advance()
            produced = self._respond(request, now)
            cmd = self._commands.get((request.control, request.function))
            self.log.append(Exchange(now, request.raw, cmd.id if cmd else "unknown", [r for r, _ in produced]))
            if len(self.log) > self.log_limit:
                del self.log[: self.log_limit // 2]
            out = []
            for frame, status in produced:
                faults = self.faults.choose() if wire else frozenset()
                if status is not None:
                    when, serial, address, values = status
                    self.record.add(StatusRecord(when, serial, address, values, frame, tuple(sorted(faults))))
                out.append(self._on_the_wire(frame, faults) if wire else Outgoing(((0.0, frame),), faults, frame))
            return out

    def _on_the_wire(self, frame: bytes, faults: frozenset[str]) -> Outgoing:
        if "drop" in faults:
            return Outgoing((), faults, frame)
        data = frame
        if "slack" in faults and self.spec.frame.checksum_slack:
            # Samil's checksum that is sum + 0x100 (lmartorella f7f8329): valid, but odd
            checksum = (int.from_bytes(data[-2:], "big") + self.spec.frame.checksum_slack[0]) & 0xFFFF
            data = data[:-2] + checksum.to_bytes(2, "big")
        if "corrupt" in faults:
            data = data[:-1] + bytes([data[-1] ^ 0x5A])
        if "trailer" in faults:
            # one stray byte after the checksum, as in every reply of the lmartorella log
            data = data + self.faults.garbage(self.spec.frame.sync)[:1]
        if "truncate" in faults:
            data = data[: max(len(self.spec.frame.lead(reply=True)) + 1, len(data) // 2)]
        delay = self.latency()
        if "slow" in faults:
            delay += self.faults.slow_seconds
        chunks: list[tuple[float, bytes]] = []
        if "garbage" in faults:
            chunks.append((delay, self.faults.garbage(self.spec.frame.sync)))
            delay = 0.0
        if "split" in faults and len(data) > 2:
            cut = len(data) // 2
            chunks.append((delay, data[:cut]))
            chunks.append((self.faults.split_gap, data[cut:]))
        else:
            chunks.append((delay, data))
        return Outgoing(tuple(chunks), faults, frame)

    def _build(
        self, cmd: CommandDef, payload: bytes, *, src: int | None, dst: int | None, function: int | None = None
    ) -> bytes:
        fmt = self.spec.frame
        assert cmd.reply_function is not None
        func = cmd.reply_function if function is None else function
        if fmt.address_width:
            return bytes(self.codec.build(cmd.control, func, payload, src=src, dst=dst, reply=True))
        return bytes(self.codec.build(cmd.control, func, payload, ident=0, reply=True))

    def _network_destination(self, cmd: CommandDef) -> int:
        """Where a request that is not for one inverter (discover, register, reset) must go."""
        fmt = self.spec.frame
        return cmd.destination if cmd.destination is not None else fmt.broadcast_address

    def _respond(
        self, req: Frame, now: datetime
    ) -> list[tuple[bytes, tuple[datetime, str, int | None, dict[str, float | int | None]] | None]]:
        fmt = self.spec.frame
        if req.function & fmt.reply_bit:
            return []  # a reply (another device's, or our own echo): not for us
        if self.codec.direction_of(req.raw) is True:
            return []  # starts like a reply (KLNE): not for us
        cmd = self._commands.get((req.control, req.function))
        if cmd is None:
            return []
        kind = command_kind(cmd, self.spec)
        awake = [inv for inv in self.inverters if inv.awake]
        addressed = fmt.address_width > 0
        bcast = fmt.broadcast_address
        network = self._network_destination(cmd)
        if kind == "reset":
            for inv in awake:
                if self.spec.registration and (
                    not addressed or req.dst in (bcast, network, fmt.destination(inv.address))
                ):
                    inv.registered = False
                    inv.address = 0
            return []
        if cmd.reply_function is None:
            return []
        host = (
            fmt.reply_destination(req.src, req.dst)
            if addressed and req.src is not None and req.dst is not None
            else None
        )
        if kind == "discover":
            if addressed and req.dst != network:
                return []
            # Only one unregistered unit answers per discover: collisions on a shared
            # line are undocumented, and the official software's repeated discover
            # broadcasts pick the rest up one by one.
            for inv in awake:
                if not inv.registered:
                    payload = self._serial_payload(cmd, inv.serial)
                    return [(self._build(cmd, payload, src=fmt.reply_source(0), dst=host), None)]
            return []
        if kind == "register":
            if addressed and req.dst != network:
                return []
            try:
                serial, address = self.module.decode_register(req.payload)
            except Exception:  # a malformed register request is ignored, as a device would
                return []
            serial = serial.strip("\0 ")
            for inv in awake:
                if inv.serial == serial:
                    inv.registered = True
                    inv.address = address
                    return [(self._build(cmd, ACK, src=fmt.reply_source(address), dst=host), None)]
            return []
        # data commands: only the registered inverter at the addressed address answers
        target = None
        for inv in awake:
            if inv.registered and (not addressed or req.dst == fmt.destination(inv.address)):
                target = inv
                break
        if target is None:
            return []
        src = fmt.reply_source(target.address) if addressed else None
        model = target.model
        if kind == "status_layout":
            if model.status_fixed:
                return []  # the unit has no layout query
            return [(self._build(cmd, self.module.encode_layout(model.status_layout), src=src, dst=host), None)]
        if kind == "param_layout":
            if model.param_fixed:
                return []
            return [(self._build(cmd, self.module.encode_layout(model.param_layout), src=src, dst=host), None)]
        if kind == "version":
            return [(self._build(cmd, self.module.encode_version(target.version_fields()), src=src, dst=host), None)]
        if kind == "parameters":
            payload = self.module.encode_parameters(model.param_layout, target.parameters)
            return [(self._build(cmd, payload, src=src, dst=host), None)]
        if kind == "status":
            layout = tuple(model.status_layout)
            values, raw = target.status_values(layout, now)
            payload = self.module.encode_status(layout, values, raw)
            decoded = self.module.decode_status(layout, payload).values()
            frame = self._build(cmd, payload, src=src, dst=host, function=model.status_reply)
            return [(frame, (now, target.serial, target.address if addressed else None, dict(decoded)))]
        if kind == "set":
            # Never captured (REFERENCE 2): the payload is presumed to be the raw
            # word(s), the reply an ACK.  The new value shows in later parameter reads.
            param = next(p for p in self.spec.parameters if p.set_command == cmd.id)
            if len(req.payload) != 2 * len(param.codes):
                return []
            target.parameters[param.id] = param.to_value(int.from_bytes(req.payload, "big"))
            return [(self._build(cmd, ACK, src=src, dst=host), None)]
        if kind == "history" and cmd.end_function is not None:
            return [(frame, None) for frame in self._history(cmd, req.payload, target, now)]
        if cmd.id in self._example_replies:
            return [(self._build(cmd, self._example_replies[cmd.id], src=src, dst=host), None)]
        self.unanswered[cmd.id] = self.unanswered.get(cmd.id, 0) + 1
        return []

    def _history(self, cmd: CommandDef, payload: bytes, target: SimInverter, now: datetime) -> list[bytes]:
        """Samil TCP history: the days of the years asked for as 06 61 packets, then the empty end frame."""
        try:
            first, last = decode_request(payload)
        except ProtocolError:
            return []
        assert cmd.reply_function is not None and cmd.end_function is not None
        frames = []
        for day, hours in target.history(date(first, 1, 1), date(last, 12, 31), now).items():
            text = day_text((h, 0, round(kwh, 2)) for h, kwh in hours)
            for packet in encode_day(day, text):
                frames.append(bytes(self.codec.build(cmd.control, cmd.reply_function, packet, ident=0, reply=True)))
        frames.append(bytes(self.codec.build(cmd.control, cmd.end_function, b"", ident=0, reply=True)))
        return frames

    # -- conveniences ----------------------------------------------------------------
    def feed(self, data: bytes, framer: Framer | None = None) -> bytes:
        """Answer a byte string of requests at once (no faults, no timing): for replay tests."""
        framer = framer or self.new_framer("request")
        out = bytearray()
        for frame in framer.feed(data):
            for reply in self.respond(frame):
                out += reply
        return bytes(out)

    def registered(self) -> Sequence[SimInverter]:
        return [inv for inv in self.inverters if inv.registered and inv.awake]

    def close(self) -> None:
        self.record.close()
