"""The resolved protocol description that every generated module carries as ``SPEC``.

Generated modules are mostly data: a ``ProtocolSpec`` literal built from these
frozen classes, plus typed wrappers.  Keeping the description as plain data at
run time is what lets one simulator, one monitor and one Home Assistant
publisher serve every spec without per-model code.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field

FIXED_SLOT_BASE = 0x100
"""Unused word positions of a fixed layout get the pseudo-code ``FIXED_SLOT_BASE + position``.

Field codes are one byte, so a pseudo-code can never name a field: the word is
kept raw (``Status.raw`` and ``Status.unknown``) and never decoded."""


def code_label(code: int) -> str:
    """How a layout code is shown: ``0x2F``, or ``word 12`` for an unused position of a fixed layout."""
    return f"0x{code:02X}" if code < FIXED_SLOT_BASE else f"word {code - FIXED_SLOT_BASE}"


@dataclass(frozen=True, slots=True)
class FrameFormat:
    """Byte layout of one frame: [prefix], sync, [src, dst], control, function, [ident], length, payload, checksum.

    The sync and the prefix may differ by direction (KLNE requests start
    ``43 5A`` and replies ``AA AA``; SISER puts ``02`` before every frame).  The
    prefix is outside the checksum; the sync is inside it.

    Addresses follow the spec's rules (docs/specs.md, "How a reply is matched"):
    requests come from ``host_address``; a request to a registered inverter
    goes to ``inverter_address | bus address``, a broadcast to
    ``broadcast_address``; a reply comes from ``reply_from | bus address`` (bus
    address 0 before registration) and goes to the host, or, with
    ``reply_to_request``, to the request's destination with its bus-address
    byte cleared.
    """

    sync: bytes  # sync bytes of requests (and of replies when reply_sync is empty)
    address_width: int  # bytes per address; 0 = no addresses (Samil TCP)
    ident_width: int  # extra identifier bytes after the function code (Samil TCP: 1)
    request_ident: int  # value sent in the identifier byte(s) of requests
    length_width: int  # 1 or 2
    checksum_slack: tuple[int, ...]  # tolerated checksum offsets (Samil's +0x100), empty = exact
    host_address: int
    broadcast_address: int
    max_payload: int
    reply_bit: int = 0x80
    reply_sync: bytes = b""  # sync bytes of replies; empty: the same as requests
    request_prefix: bytes = b""  # bytes before the sync of every request, outside the checksum
    reply_prefix: bytes = b""  # bytes before the sync of every reply, outside the checksum
    inverter_address: int = 0  # a request to bus address n goes to inverter_address | n
    reply_from: int = 0  # a reply from bus address n comes from reply_from | n
    reply_to_request: bool = False  # replies go to the request's destination base, not to the host
    first_address: int = 1  # the bus address the first registered inverter gets (the next n + 1, ...)
    line_addresses: tuple[int, ...] = ()  # a frame on the line has one of these as src or dst; () = host, broadcast

    @property
    def header_size(self) -> int:
        """Bytes before the payload of a reply (prefix and sync included)."""
        return len(self.lead(reply=True)) + self.core_size

    @property
    def core_size(self) -> int:
        """Header bytes after the sync: addresses, command, ident, length."""
        return 2 * self.address_width + 2 + self.ident_width + self.length_width

    @property
    def min_size(self) -> int:
        return min(self.header_size, len(self.lead(reply=False)) + self.core_size) + 2

    def lead(self, *, reply: bool) -> bytes:
        """Prefix and sync: the bytes every frame of one direction starts with."""
        if reply:
            return self.reply_prefix + (self.reply_sync or self.sync)
        return self.request_prefix + self.sync

    def leads(self) -> tuple[tuple[bytes, bool | None], ...]:
        """The distinct leads on the line, each with its direction (None: both directions share it)."""
        request, reply = self.lead(reply=False), self.lead(reply=True)
        if request == reply:
            return ((request, None),)
        return ((request, False), (reply, True))

    @property
    def asymmetric(self) -> bool:
        """True when a frame's first bytes tell a request from a reply."""
        return len(self.leads()) > 1

    def destination(self, bus_address: int) -> int:
        """Where a request to the inverter at ``bus_address`` goes."""
        return self.inverter_address | bus_address

    def reply_source(self, bus_address: int) -> int:
        """Where the inverter at ``bus_address`` (0: not registered) sends its replies from."""
        return self.reply_from | bus_address

    def bus_address(self, address: int, base: int) -> int:
        """The bus-address part of a frame address whose base is ``base``."""
        return address & ~base & ((1 << (8 * self.address_width)) - 1)

    def reply_destination(self, request_src: int, request_dst: int) -> int:
        """Where the reply to a request goes: the host, or the request's destination base."""
        if self.reply_to_request:
            return request_dst & ~0xFF & ((1 << (8 * self.address_width)) - 1)
        return request_src

    @property
    def plausible_addresses(self) -> tuple[int, ...]:
        """Every real frame has one of these as its source or destination (the framer's noise rule)."""
        return self.line_addresses or (self.host_address, self.broadcast_address)


@dataclass(frozen=True, slots=True)
class TransportDefaults:
    """Serial line defaults and timing for one protocol."""

    baudrate: int
    bytesize: int
    parity: str
    stopbits: float
    reply_timeout: float  # seconds to wait for a reply
    command_delay: float  # seconds to leave between commands (waited before each one, from the last exchange)
    tcp_port: int | None = None
    dtr: bool | None = None  # DTR level held while the port is open (None: pyserial's default)
    rts: bool | None = None  # RTS level held while the port is open


@dataclass(frozen=True, slots=True)
class CommandDef:
    """One request and its reply, as the command table describes it."""

    id: str
    control: int
    function: int
    reply_function: int | None  # None: the device never answers (reset); else the first reply code
    request_type: str | None
    reply_type: str | None
    broadcast: bool  # sent to the broadcast address rather than the inverter
    unsafe: bool  # writes to the inverter: needs validation and confirmation
    doc: str
    # A reply that is a series (Samil TCP history: many 06 61, then an empty 06 81):
    # the function code of the frame that ends it; None for a single reply.
    end_function: int | None = None
    destination: int | None = None  # a fixed destination address (KLNE register: 0x7F01)
    more_replies: tuple[int, ...] = ()  # further reply function codes (SISER 01 10 -> 01 90 or 01 82)

    @property
    def expects_reply(self) -> bool:
        return self.reply_function is not None

    @property
    def reply_functions(self) -> tuple[int, ...]:
        """Every function code a reply to this command may carry."""
        if self.reply_function is None:
            return ()
        return (self.reply_function, *self.more_replies)

    @property
    def to_inverter(self) -> bool:
        """Sent to one registered inverter's address (not to broadcast nor to a fixed address)."""
        return not self.broadcast and self.destination is None


@dataclass(frozen=True, slots=True)
class EnumValue:
    value: int
    name: str
    label: str
    doc: str


@dataclass(frozen=True, slots=True)
class EnumDef:
    id: str
    values: tuple[EnumValue, ...]

    def label_of(self, value: int) -> str:
        for item in self.values:
            if item.value == value:
                return item.label
        return f"unknown ({value})"


@dataclass(frozen=True, slots=True)
class FlagBit:
    bit: int
    name: str
    label: str
    doc: str


@dataclass(frozen=True, slots=True)
class FlagsDef:
    id: str
    width: int  # bits
    bits: tuple[FlagBit, ...]

    def words(self, value: int) -> tuple[str, ...]:
        """Every set bit as words; bits the spec does not name are kept as 'bit N'."""
        named = {b.bit: b.label for b in self.bits}
        return tuple(named.get(i, f"bit {i}") for i in range(self.width) if value >> i & 1)


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One status value or parameter: where its words are and what they mean."""

    id: str
    label: str  # display name ('Pac', 'E-Total'); pv 0.2's own labels are in legacy.py
    codes: tuple[int, ...]  # one code per 16-bit word, high word first
    unit: str
    scale: str  # decimal text, e.g. '0.1'; kept as text so rounding is exact
    signed: bool
    enum: str | None
    flags: str | None
    doc: str
    device_class: str | None = None
    state_class: str | None = None
    diagnostic: bool = False
    monotonic: bool = False  # must never decrease (lifetime counters)
    na_values: tuple[int, ...] = ()  # raw values that mean "not measured"
    valid_min: float | None = None  # plausible range, in scaled units
    valid_max: float | None = None
    # parameters only
    set_command: str | None = None
    safe_min: float | None = None
    safe_max: float | None = None
    # other codes carrying the same value, tried in order when ``codes`` are not all in a layout
    # (a three-phase Samil reports Pac at 0x0B, E-Total at 0x07/0x08); same word count as ``codes``
    alternatives: tuple[tuple[int, ...], ...] = ()

    @property
    def all_codes(self) -> tuple[int, ...]:
        """Every code this field may be read from (its own first, then each alternative's)."""
        out = list(self.codes)
        for alt in self.alternatives:
            out.extend(alt)
        return tuple(out)

    def codes_in(self, layout: Container[int]) -> tuple[int, ...] | None:
        """The codes this field is read from in ``layout``: its own, else the first alternative all present."""
        for codes in (self.codes, *self.alternatives):
            if all(c in layout for c in codes):
                return codes
        return None

    @property
    def decimals(self) -> int:
        return len(self.scale.split(".")[1]) if "." in self.scale else 0

    def to_value(self, raw: int) -> float | int:
        """Scale a raw integer, rounded to the field's resolution."""
        if self.signed:
            bits = 16 * len(self.codes)
            if raw >= 1 << (bits - 1):
                raw -= 1 << bits
        if self.scale == "1":
            return raw
        return round(raw * float(self.scale), self.decimals)

    def to_raw(self, value: float) -> int:
        """Inverse of to_value, for builders and the simulator."""
        raw = round(value / float(self.scale))
        bits = 16 * len(self.codes)
        if raw < 0:
            raw += 1 << bits
        if not 0 <= raw < 1 << bits:
            raise ValueError(f"{self.id}: {value} {self.unit} does not fit in {bits} bits")
        return raw


@dataclass(frozen=True, slots=True)
class TextField:
    """One fixed-width text field of the version reply."""

    id: str
    width: int
    doc: str


@dataclass(frozen=True, slots=True)
class ModelDef:
    """A device the spec covers, with the layouts captured from a real unit (or its fixed word order)."""

    id: str
    title: str
    status_layout: tuple[int, ...]  # queried layout as captured, or the fixed word order
    param_layout: tuple[int, ...]
    version: tuple[tuple[str, str], ...]  # text field id -> value
    parameters: tuple[tuple[int, int], ...]  # parameter code -> raw value
    rated_power: int  # W, used by the simulator and plausibility checks
    status_fixed: bool = False  # status words sit at fixed positions: no layout query is sent or answered
    param_fixed: bool = False  # the same for the parameter reply
    status_reply: int | None = None  # the reply function code this model's status arrives with


@dataclass(frozen=True, slots=True)
class TypeDef:
    """A payload type at run time, so requests are built (and payloads read) through the spec's types."""

    id: str
    kind: str  # struct | text | array
    members: tuple[tuple[str, str, int], ...] = ()  # (id, kind, width); kind: u8..s32 | text | bytes
    width: int = 0  # text: its width in bytes
    item: str = ""  # array: u8 | u16

    @property
    def size(self) -> int | None:
        """Fixed size in bytes, None for arrays (greedy)."""
        if self.kind == "struct":
            return sum(w for _, _, w in self.members)
        if self.kind == "text":
            return self.width
        return None


@dataclass(frozen=True, slots=True)
class ProtocolSpec:
    id: str
    title: str
    doc: str
    manufacturer: str
    frame: FrameFormat
    transport: TransportDefaults
    registration: bool  # reset/discover/register handshake needed
    commands: tuple[CommandDef, ...]
    fields: tuple[FieldDef, ...]
    parameters: tuple[FieldDef, ...]
    enums: tuple[EnumDef, ...]
    flags: tuple[FlagsDef, ...]
    version_fields: tuple[TextField, ...]
    models: tuple[ModelDef, ...]
    types: tuple[TypeDef, ...] = ()
    _by_id: dict[str, CommandDef] = field(default_factory=dict, compare=False, repr=False)

    def command(self, command_id: str) -> CommandDef:
        if not self._by_id:
            self._by_id.update({c.id: c for c in self.commands})
        try:
            return self._by_id[command_id]
        except KeyError:
            raise KeyError(f"{self.id}: no command {command_id!r}") from None

    def has_command(self, command_id: str) -> bool:
        return any(c.id == command_id for c in self.commands)

    def field(self, field_id: str) -> FieldDef:
        for f in self.fields:
            if f.id == field_id:
                return f
        raise KeyError(f"{self.id}: no field {field_id!r}")

    def parameter(self, param_id: str) -> FieldDef:
        for p in self.parameters:
            if p.id == param_id:
                return p
        raise KeyError(f"{self.id}: no parameter {param_id!r}")

    def enum(self, enum_id: str) -> EnumDef:
        for e in self.enums:
            if e.id == enum_id:
                return e
        raise KeyError(enum_id)

    def flag_set(self, flags_id: str) -> FlagsDef:
        for f in self.flags:
            if f.id == flags_id:
                return f
        raise KeyError(flags_id)

    def model(self, model_id: str | None = None) -> ModelDef:
        if model_id is None:
            return self.models[0]
        for m in self.models:
            if m.id == model_id:
                return m
        raise KeyError(f"{self.id}: no model {model_id!r} (have {', '.join(m.id for m in self.models)})")

    def payload_type(self, type_id: str | None) -> TypeDef | None:
        """The payload type ``type_id`` (None when there is none, or it is a primitive)."""
        for t in self.types:
            if t.id == type_id:
                return t
        return None

    def fixed_models(self, what: str = "status") -> tuple[ModelDef, ...]:
        """Models whose ``what`` (status or parameters) words sit at fixed positions."""
        if what == "status":
            return tuple(m for m in self.models if m.status_fixed)
        return tuple(m for m in self.models if m.param_fixed)

    def fixed_model_for(
        self, what: str, reply_function: int | None, payload_length: int, prefer: ModelDef | None = None
    ) -> ModelDef | None:
        """The fixed-layout model a ``what`` reply is decoded with, when no layout was queried.

        Candidates are the fixed-layout models whose ``status_reply`` (if they
        name one) is the reply's function code.  The preferred model (the one
        the caller was told) wins when it is a candidate; otherwise the first
        whose layout is as long as the payload.  None when nothing fits.
        """
        candidates = [
            m
            for m in self.fixed_models(what)
            if what != "status" or m.status_reply is None or m.status_reply == reply_function
        ]
        if prefer is not None and prefer in candidates:
            return prefer
        for m in candidates:
            layout = m.status_layout if what == "status" else m.param_layout
            if 2 * len(layout) == payload_length:
                return m
        return None

    def identify_model(self, layout: tuple[int, ...] | None = None, version_model: str = "") -> ModelDef | None:
        """The spec model a unit is: the one whose (queried or fixed) status layout it uses, else the
        one whose captured version model text it sends; None when neither tells."""
        if layout is not None:
            same = [m for m in self.models if m.status_layout == tuple(layout)]
            if len(same) == 1:
                return same[0]
        text = version_model.replace("\x00", " ").strip()
        if text:
            for m in self.models:
                captured = dict(m.version).get("model", "").replace("\x00", " ").strip()
                if captured == text:
                    return m
        return None
