"""Turning layout-driven word lists into typed dataclasses, and back.

A status reply is just big-endian words; which word means what is given by the
layout the inverter sent, and differs between models and firmware.  For each
layout seen, a decoding plan is compiled once into a small Python function
(one ``struct.unpack`` and one constructor call), then reused for every poll:
that keeps the per-poll cost close to a hand-written decoder while staying
entirely spec-driven.  Multi-word values combine by code, never by position.
"""

from __future__ import annotations

import struct
import types
from collections.abc import Callable, Mapping, Sequence
from enum import IntEnum, IntFlag
from typing import Any, ClassVar, Generic, TypeVar

from .errors import ProtocolError
from .model import FieldDef, ProtocolSpec, TextField

RUNTIME_API = 1
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
                positions = [self.layout.index(c) if c in self.layout else -1 for c in f.codes]
                if any(p < 0 for p in positions):
                    return None
                raw = 0
                for p in positions:
                    raw = raw << 16 | self.raw[p]
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
            position = min(self.layout.index(c) for c in f.codes if c in self.layout)
            order.append((position, f.label, int(value) if isinstance(value, IntEnum | IntFlag) else value))
        for code, raw in self.unknown:
            order.append((self.layout.index(code), f"0x{code:02X}", raw))
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
        self._by_code = {c: f for f in self.fields for c in f.codes}

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
        for f in self.fields:
            if not all(c in position for c in f.codes):
                values.append((f.id, "None"))
                continue
            words = [f"w[{position[c]}]" for c in f.codes]
            raw = words[0] if len(words) == 1 else f"({words[0]} << 16 | {words[1]})"
            if f.enum:
                expr = f"_e_{f.enum}.get({raw}, {raw})"
            elif f.flags:
                expr = f"_f_{f.flags}({raw})"
            else:
                expr = _scale_expr(f, raw)
            if f.na_values:
                expr = f"None if {raw} in {tuple(f.na_values)!r} else {expr}"
            values.append((f.id, expr))
        unknown = [(c, i) for i, c in enumerate(layout) if c not in self._by_code]
        unknown_expr = "(" + "".join(f"({c}, w[{i}]), " for c, i in unknown) + ")"
        values += [("layout", "_layout"), ("raw", "w"), ("unknown", unknown_expr)]
        lines = ["def plan(payload):", "    w = _unpack(payload)"]
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
        exec(compile(self.source(layout), f"<pv plan {self.what} {bytes(layout).hex()}>", "exec"), namespace)  # noqa: S102 - source built from validated spec data only
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
    for f in fields:
        if f.id not in values:
            continue
        value = values[f.id]
        number = (
            f.to_raw(float(value))
            if not isinstance(value, int) or f.scale != "1"
            else value & ((1 << (16 * len(f.codes))) - 1)
        )
        if len(f.codes) == 1:
            words[f.codes[0]] = number & 0xFFFF
        else:
            words[f.codes[0]] = number >> 16 & 0xFFFF
            words[f.codes[1]] = number & 0xFFFF
    if raw:
        words.update(raw)
    return struct.pack(f">{len(layout)}H", *(words.get(code, 0) & 0xFFFF for code in layout))


def decode_layout(payload: bytes) -> tuple[int, ...]:
    return tuple(payload)


def encode_layout(codes: Sequence[int]) -> bytes:
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
