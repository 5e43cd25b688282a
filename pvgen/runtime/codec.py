"""Turning layout-driven word lists into typed dataclasses, and back.

A status reply is just big-endian words; which word means what is given by the
layout the inverter sent (or, for units without a layout query, the fixed word
order its model declares), and differs between models and firmware.  For each
layout seen, a decoding plan is compiled once into a small Python function
(one ``struct.unpack`` and one constructor call), then reused for every poll:
that keeps the per-poll cost close to a hand-written decoder while staying
entirely spec-driven.  Multi-word values combine by code, never by position;
a field with alternatives takes, per layout, the first set of codes present.

The other payloads (serial numbers, register requests, set values) are built
and read through the spec's own payload types (``encode_payload`` and
``decode_payload``), so widths and padding are the spec's, not the caller's.
"""

from __future__ import annotations

import struct
import types
from collections.abc import Callable, Mapping, Sequence
from enum import IntEnum, IntFlag
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

from .errors import ProtocolError
from .model import FieldDef, ProtocolSpec, TextField, TypeDef, code_label

RUNTIME_API = 2
MAX_PLANS = 64  # compiled layouts kept per record class; an inverter has one or two

T = TypeVar("T")


def require_api(version: int) -> None:
    """Generated modules call this so stale generated code fails loudly at import."""
    if version != RUNTIME_API:
        raise ImportError(f"generated code needs runtime API {version}, this runtime has {RUNTIME_API}: run pvgen")


class WordRecord:
    """Behaviour shared by generated Status/Parameters dataclasses (which add the fields)."""

    __slots__ = ()
    _SPEC: ClassVar[ProtocolSpec]
    _FIELDS: ClassVar[tuple[FieldDef, ...]]
    layout: tuple[int, ...]
    raw: tuple[int, ...]
    unknown: tuple[tuple[int, int], ...]

    def values(self) -> dict[str, float | int | None]:
        """Scaled values by field id, enums and flags as plain ints."""
        out: dict[str, float | int | None] = {}
        for f in self._FIELDS:
            value = getattr(self, f.id)
            out[f.id] = None if value is None else (int(value) if isinstance(value, IntEnum | IntFlag) else value)
        return out

    def raw_value(self, field_id: str) -> int | None:
        """The unscaled integer behind a field, from the words as received."""
        for f in self._FIELDS:
            if f.id == field_id:
                codes = f.codes_in(self.layout)
                if codes is None:
                    return None
                raw = 0
                for c in codes:
                    raw = raw << 16 | self.raw[self.layout.index(c)]
                return raw
        raise KeyError(field_id)

    def labelled(self) -> list[tuple[str, float | int]]:
        """(label, value) pairs in layout order: what pv 0.2 returned."""
        order: list[tuple[int, str, float | int]] = []
        for f in self._FIELDS:
            value = getattr(self, f.id)
            if value is None:
                raw = self.raw_value(f.id)
                if raw is None:
                    continue
                value = raw
            codes = f.codes_in(self.layout) or ()
            position = min((self.layout.index(c) for c in codes), default=len(self.layout))
            order.append((position, f.label, int(value) if isinstance(value, IntEnum | IntFlag) else value))
        for code, raw in self.unknown:
            order.append((self.layout.index(code), code_label(code), raw))
        order.sort(key=lambda item: item[0])
        return [(label, value) for _, label, value in order]


class StatusRecord(WordRecord):
    __slots__ = ()

    @property
    def mode_label(self) -> str:
        mode = getattr(self, "mode", None)
        if mode is None:
            return ""
        for f in self._FIELDS:
            if f.id == "mode" and f.enum:
                return self._SPEC.enum(f.enum).label_of(int(mode))
        return str(mode)

    @property
    def faults(self) -> tuple[str, ...]:
        """Every fault bit set, in words."""
        out: list[str] = []
        for f in self._FIELDS:
            if f.flags:
                value = getattr(self, f.id)
                if value:
                    out.extend(self._SPEC.flag_set(f.flags).words(int(value)))
        return tuple(out)


def _scale_expr(f: FieldDef, raw: str) -> str:
    """Python expression scaling ``raw``; division by 10**n rounds exactly to the resolution."""
    if f.signed:
        bits = 16 * len(f.codes)
        raw = f"(({raw}) - {1 << bits} if ({raw}) >= {1 << (bits - 1)} else ({raw}))"
    scale = f.scale
    if scale == "1":
        return raw
    decimals = f.decimals
    digits = scale.replace(".", "").lstrip("0")
    if digits == "1":  # 10**-n
        return f"{raw} / {10**decimals}"
    if "." not in scale:
        return f"{raw} * {scale}"
    return f"round({raw} * {scale}, {decimals})"


def _raw_expr(positions: Sequence[int]) -> str:
    """Python expression of the unsigned integer in the words at ``positions`` (high word first).

    Plans unpack the words into locals ``w0``, ``w1``... (``_unpack_words``):
    a local is read faster than a tuple item, and a value used twice (a
    signed word's test and its value) is read twice at no cost.
    """
    words = [f"w{p}" for p in positions]
    return words[0] if len(words) == 1 else f"({words[0]} << 16 | {words[1]})"


def _unpack_words(size: int) -> str:
    """The plan line binding every word of the tuple ``w`` to its local ``w0``..."""
    names = ", ".join(f"w{i}" for i in range(size))
    return f"    {names}, = w" if size else "    pass"


class PairEntry(NamedTuple):
    """One ``(label, value)`` pair of a layout, as ``compile_pairs`` is given it."""

    label: str
    field: FieldDef | None  # the field whose value this is; None: the raw word(s), unnamed
    positions: tuple[int, ...]  # word positions in the layout, high word first


def pair_expression(entries: Sequence[PairEntry]) -> str:
    """The Python expression ``_make([(label, value), ...])`` of a pairs plan, on the word locals ``w0``...

    The values are the typed plan's (``_scale_expr``), with its two
    exceptions made plain the way pv 0.2 showed them: a "not measured" raw
    value is given as the raw number, and an enum or flags value as its
    number (the typed value's ``int``).  The fused exchange (``fused.py``)
    inlines the same expression, so both give the same pairs by construction.
    """
    items: list[str] = []
    for label, f, positions in entries:
        raw = _raw_expr(positions)
        if f is None or f.enum or f.flags:
            expr = raw
        else:
            expr = _scale_expr(f, raw)
            if f.na_values and expr != raw:
                expr = f"({raw} if {raw} in {tuple(f.na_values)!r} else {expr})"
        items.append(f"({label!r}, {expr})")
    return "_make([" + ", ".join(items) + "])"


def pair_source(entries: Sequence[PairEntry], size: int) -> str:
    """Python source of a pairs plan for a layout of ``size`` words: ``plan(payload)`` and ``from_words(w)``,
    both returning ``pair_expression``."""
    body = pair_expression(entries)
    unpack = _unpack_words(size)
    lines = ["def from_words(w):", unpack, f"    return {body}"]
    lines += ["def plan(payload):", "    w = _unpack(payload)", unpack, f"    return {body}"]
    return "\n".join(lines)


class PairPlan(NamedTuple, Generic[T]):
    """A compiled pairs plan for one layout: from a word payload, or from words already unpacked."""

    plan: Callable[[bytes], T]
    from_words: Callable[[tuple[int, ...]], T]
    size: int  # payload bytes the layout has


def compile_pairs(
    entries: Sequence[PairEntry], layout: tuple[int, ...], make: Callable[[list[tuple[str, float | int]]], T], what: str
) -> PairPlan[T]:
    """Compile ``entries`` (in the order the pairs come out) for ``layout``; ``make`` wraps the list."""
    namespace: dict[str, Any] = {"_unpack": struct.Struct(f">{len(layout)}H").unpack, "_make": make}
    name = " ".join(f"{c:02x}" for c in layout)
    exec(compile(pair_source(entries, len(layout)), f"<pv pairs {what} {name}>", "exec"), namespace)  # noqa: S102 - source built from validated spec data and fixed label tables only
    return PairPlan(namespace["plan"], namespace["from_words"], 2 * len(layout))


class WordDecoder(Generic[T]):
    """Decodes word payloads for one record class, one compiled plan per layout."""

    def __init__(
        self,
        cls: type[T],
        fields: Sequence[FieldDef],
        enums: Mapping[str, type[IntEnum]],
        flags: Mapping[str, type[IntFlag]],
        what: str,
    ) -> None:
        self.cls = cls
        self.fields = tuple(fields)
        self.enums = dict(enums)
        self.flags = dict(flags)
        self.what = what
        self._plans: dict[tuple[int, ...], Callable[[bytes], T]] = {}

    def decode(self, layout: Sequence[int], payload: bytes) -> T:
        key = layout if type(layout) is tuple else tuple(layout)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) >= MAX_PLANS:  # a line sending ever new layouts must not grow memory
                del self._plans[next(iter(self._plans))]
            plan = self._plans[key] = self.compile(key)
        if len(payload) != len(key) << 1:
            raise ProtocolError(
                f"{self.what} payload has {len(payload)} bytes but the layout has"
                f" {len(key)} codes ({2 * len(key)} bytes)"
            )
        return plan(payload)

    def _slotted(self) -> bool:
        """True when every attribute of the record class is a slot the plan can fill directly."""
        names = [f.id for f in self.fields] + ["layout", "raw", "unknown"]
        return all(isinstance(getattr(self.cls, n, None), types.MemberDescriptorType) for n in names)

    def source(self, layout: tuple[int, ...]) -> str:
        """Python source of the plan for one layout (kept inspectable for debugging).

        For frozen slotted dataclasses the plan fills the slots through their
        descriptors instead of calling ``__init__``, whose frozen-dataclass
        ``object.__setattr__`` per field costs more than all the decoding.
        """
        position = {code: i for i, code in enumerate(layout)}
        values: list[tuple[str, str]] = []
        used: set[int] = set()
        for f in self.fields:
            codes = f.codes_in(position)
            if codes is None:
                values.append((f.id, "None"))
                continue
            used.update(codes)
            raw = _raw_expr([position[c] for c in codes])
            if f.enum:
                expr = f"_e_{f.enum}.get({raw}, {raw})"
            elif f.flags:
                expr = f"_f_{f.flags}({raw})"
            else:
                expr = _scale_expr(f, raw)
            if f.na_values:
                expr = f"None if {raw} in {tuple(f.na_values)!r} else {expr}"
            values.append((f.id, expr))
        # every word no field consumed is kept: unnamed codes, unused positions of a
        # fixed layout, and codes of alternatives this layout did not need
        unknown = [(c, i) for i, c in enumerate(layout) if c not in used]
        unknown_expr = "(" + "".join(f"({c}, w{i}), " for c, i in unknown) + ")"
        values += [("layout", "_layout"), ("raw", "w"), ("unknown", unknown_expr)]
        lines = ["def plan(payload):", "    w = _unpack(payload)", _unpack_words(len(layout))]
        if self._slotted():
            lines.append("    o = _new(_cls)")
            lines += [f"    _s_{name}(o, {expr})" for name, expr in values]
            lines.append("    return o")
        else:
            present = [f"{name}={expr}" for name, expr in values if expr != "None"]
            lines.append(f"    return _cls({', '.join(present)})")
        return "\n".join(lines)

    def compile(self, layout: tuple[int, ...]) -> Callable[[bytes], T]:
        namespace: dict[str, Any] = {
            "_unpack": struct.Struct(f">{len(layout)}H").unpack,
            "_cls": self.cls,
            "_layout": layout,
            "_new": object.__new__,
        }
        if self._slotted():
            for name in [f.id for f in self.fields] + ["layout", "raw", "unknown"]:
                namespace[f"_s_{name}"] = getattr(self.cls, name).__set__
        for enum_id, enum_cls in self.enums.items():
            namespace[f"_e_{enum_id}"] = {int(m): m for m in enum_cls}
        for flags_id, flags_cls in self.flags.items():
            namespace[f"_f_{flags_id}"] = _memo_flags(flags_cls)
        name = " ".join(f"{c:02x}" for c in layout)  # fixed layouts hold pseudo-codes above 0xff
        exec(compile(self.source(layout), f"<pv plan {self.what} {name}>", "exec"), namespace)  # noqa: S102 - source built from validated spec data only
        plan: Callable[[bytes], T] = namespace["plan"]
        return plan


def _memo_flags(cls: type[IntFlag]) -> Callable[[int], IntFlag]:
    """IntFlag construction is slow and its members immutable: make each value once."""
    cache: dict[int, IntFlag] = {}

    def make(value: int) -> IntFlag:
        found = cache.get(value)
        if found is None:
            if len(cache) >= 4096:  # noise could produce many values: keep memory bounded
                cache.clear()
            found = cache[value] = cls(value)
        return found

    return make


def encode_words(
    fields: Sequence[FieldDef],
    layout: Sequence[int],
    values: Mapping[str, float | int],
    raw: Mapping[int, int] | None = None,
) -> bytes:
    """Build a word payload for ``layout`` from scaled values (the simulator's path).

    ``raw`` overrides words by code, which is how wild values (0xFFFF,
    INT_MAX-like garbage) are injected on purpose.
    """
    words: dict[int, int] = {}
    present = set(layout)
    for f in fields:
        if f.id not in values:
            continue
        codes = f.codes_in(present)
        if codes is None:
            continue
        value = values[f.id]
        number = (
            f.to_raw(float(value))
            if not isinstance(value, int) or f.scale != "1"
            else value & ((1 << (16 * len(f.codes))) - 1)
        )
        if len(codes) == 1:
            words[codes[0]] = number & 0xFFFF
        else:
            words[codes[0]] = number >> 16 & 0xFFFF
            words[codes[1]] = number & 0xFFFF
    if raw:
        words.update(raw)
    return struct.pack(f">{len(layout)}H", *(words.get(code, 0) & 0xFFFF for code in layout))


def word_values(
    fields: Sequence[FieldDef], layout: Sequence[int], payload: bytes
) -> dict[str, tuple[float | int | None, int | None]]:
    """Every field's (value, raw) in a word payload, without a record class (checks and tools).

    ``raw`` is None when the layout lacks the field; ``value`` is None for a
    'not measured' raw value.  Enums and flags come out as plain integers.
    """
    words = struct.unpack(f">{len(layout)}H", payload[: 2 * len(layout)])
    position = {code: i for i, code in enumerate(layout)}
    out: dict[str, tuple[float | int | None, int | None]] = {}
    for f in fields:
        codes = f.codes_in(position)
        if codes is None:
            out[f.id] = (None, None)
            continue
        raw = 0
        for c in codes:
            raw = raw << 16 | words[position[c]]
        if raw in f.na_values:
            out[f.id] = (None, raw)
        elif f.enum or f.flags:
            out[f.id] = (raw, raw)
        else:
            out[f.id] = (f.to_value(raw), raw)
    return out


def decode_layout(payload: bytes) -> tuple[int, ...]:
    return tuple(payload)


def encode_layout(codes: Sequence[int]) -> bytes:
    if any(c > 0xFF for c in codes):
        raise ValueError("a fixed layout with unused positions is never sent as a layout reply")
    return bytes(codes)


def decode_texts(fields: Sequence[TextField], payload: bytes) -> dict[str, str]:
    """Split fixed-width text fields; a short payload leaves later fields empty."""
    out: dict[str, str] = {}
    pos = 0
    for f in fields:
        chunk = payload[pos : pos + f.width]
        out[f.id] = chunk.replace(b"\x00", b" ").decode("latin-1").strip()
        pos += f.width
    return out


def encode_texts(fields: Sequence[TextField], values: Mapping[str, str]) -> bytes:
    """Fixed-width text fields, exactly as given (padding included), NUL-filled to width."""
    out = bytearray()
    for f in fields:
        data = values.get(f.id, "").encode("latin-1")
        if len(data) > f.width:
            raise ValueError(f"version field {f.id}: {len(data)} bytes do not fit in {f.width}")
        out += data + b"\x00" * (f.width - len(data))
    return bytes(out)


def version_text(payload: bytes) -> str:
    return payload.replace(b"\x00", b" ").decode("latin-1").strip()


_INTS = {"u8": (1, False), "u16": (2, False), "u32": (4, False), "s8": (1, True), "s16": (2, True), "s32": (4, True)}


def _fixed_bytes(value: str | bytes, width: int, what: str) -> bytes:
    """Text or bytes NUL-padded to ``width``; bytes are kept exactly (an echoed serial keeps its padding)."""
    data = value if isinstance(value, bytes) else value.encode("latin-1")
    if len(data) > width:
        raise ValueError(f"{what}: {len(data)} bytes do not fit in {width}")
    return data + b"\x00" * (width - len(data))


def encode_payload(t: TypeDef, value: Any) -> bytes:
    """A payload of type ``t``: a mapping by member id (struct), a text, or a list (array)."""
    if t.kind == "text":
        return _fixed_bytes(value, t.width, t.id)
    if t.kind == "array":
        width = 1 if t.item == "u8" else 2
        try:
            return b"".join(int(v).to_bytes(width, "big") for v in value)
        except OverflowError:
            raise ValueError(f"{t.id}: an item does not fit in {t.item}") from None
    out = bytearray()
    for mid, kind, width in t.members:
        if mid not in value:
            raise ValueError(f"{t.id}: no value for {mid!r}")
        item = value[mid]
        if kind in ("text", "bytes"):
            out += _fixed_bytes(item, width, f"{t.id}.{mid}")
            continue
        size, signed = _INTS[kind]
        try:
            out += int(item).to_bytes(size, "big", signed=signed)
        except OverflowError:
            raise ValueError(f"{t.id}.{mid}: {item} does not fit in {kind}") from None
    return bytes(out)


def decode_payload(t: TypeDef, payload: bytes) -> Any:
    """Read a payload of type ``t``: texts trimmed of NUL and space padding, integers big-endian."""
    if t.kind == "text":
        return payload.replace(b"\x00", b" ").decode("latin-1").strip()
    if t.kind == "array":
        if t.item == "u8":
            return list(payload)
        return [int.from_bytes(payload[i : i + 2], "big") for i in range(0, len(payload) - 1, 2)]
    size = t.size or 0
    if len(payload) < size:
        raise ProtocolError(f"{t.id} payload has {len(payload)} bytes, the type needs {size}")
    out: dict[str, Any] = {}
    pos = 0
    for mid, kind, width in t.members:
        chunk = payload[pos : pos + width]
        pos += width
        if kind == "text":
            out[mid] = chunk.replace(b"\x00", b" ").decode("latin-1").strip()
        elif kind == "bytes":
            out[mid] = chunk
        else:
            out[mid] = int.from_bytes(chunk, "big", signed=_INTS[kind][1])
    return out
