"""The resolved protocol description that every generated module carries as ``SPEC``.

Generated modules are mostly data: a ``ProtocolSpec`` literal built from these
frozen classes, plus typed wrappers.  Keeping the description as plain data at
run time is what lets one simulator, one monitor and one Home Assistant
publisher serve every spec without per-model code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Field ids with a meaning the application relies on (monitor guards, PVOutput
# mapping, MQTT availability).  A spec that has the quantity must use the id.
WELL_KNOWN_FIELDS = (
    "pac",  # AC output power, W
    "e_today",  # energy produced today, kWh
    "e_total",  # lifetime energy, kWh
    "h_total",  # lifetime operating hours, h
    "mode",  # operating mode enum
    "error",  # fault bit field
    "temperature",  # inverter temperature, degC
    "vpv",  # PV voltage, V
    "vac",  # grid voltage, V
    "iac",  # grid current, A
    "fac",  # grid frequency, Hz
)


@dataclass(frozen=True, slots=True)
class FrameFormat:
    """Byte layout of one frame: sync, [src, dst], control, function, [ident], length, payload, checksum."""

    sync: bytes
    address_width: int  # bytes per address; 0 = no addresses (Samil TCP)
    ident_width: int  # extra identifier bytes after the function code (Samil TCP: 1)
    request_ident: int  # value sent in the identifier byte(s) of requests
    length_width: int  # 1 or 2
    checksum_slack: tuple[int, ...]  # tolerated checksum offsets (Samil's +0x100), empty = exact
    host_address: int
    broadcast_address: int
    max_payload: int
    reply_bit: int = 0x80

    @property
    def header_size(self) -> int:
        return len(self.sync) + 2 * self.address_width + 2 + self.ident_width + self.length_width

    @property
    def min_size(self) -> int:
        return self.header_size + 2


@dataclass(frozen=True, slots=True)
class TransportDefaults:
    """Serial line defaults and timing for one protocol."""

    baudrate: int
    bytesize: int
    parity: str
    stopbits: float
    reply_timeout: float  # seconds to wait for a reply
    command_delay: float  # seconds to leave between commands
    tcp_port: int | None = None


@dataclass(frozen=True, slots=True)
class CommandDef:
    """One request and its reply, as the command table describes it."""

    id: str
    control: int
    function: int
    reply_function: int | None  # None: the device never answers (reset)
    request_type: str | None
    reply_type: str | None
    broadcast: bool  # sent to the broadcast address rather than the inverter
    unsafe: bool  # writes to the inverter: needs validation and confirmation
    doc: str
    # A reply that is a series (Samil TCP history: many 06 61, then an empty 06 81):
    # the function code of the frame that ends it; None for a single reply.
    end_function: int | None = None

    @property
    def expects_reply(self) -> bool:
        return self.reply_function is not None


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
    """A device the spec covers, with the layouts captured from a real unit."""

    id: str
    title: str
    status_layout: tuple[int, ...]
    param_layout: tuple[int, ...]
    version: tuple[tuple[str, str], ...]  # text field id -> value
    parameters: tuple[tuple[int, int], ...]  # parameter code -> raw value
    rated_power: int  # W, used by the simulator and plausibility checks


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
