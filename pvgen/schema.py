"""The structure of a spec file, declared once.

The same declaration drives the validator (errors with file, line and YAML
path) and the JSON Schema that ``pvgen`` writes to
``pvgen/schema/spec.schema.json`` for editors, so the two can never disagree
about what a spec may contain.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import PathPart, SpecProblem, expected_keys
from .yamlsrc import LDict, LList

IDENT_RE = re.compile(r"^[a-z][a-z0-9_]*$")
CLASS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def is_identifier(name: object) -> bool:
    return isinstance(name, str) and bool(IDENT_RE.fullmatch(name)) and not keyword.iskeyword(name)


class Node:
    """A schema node: validates a value and describes itself as JSON Schema."""

    doc: str = ""

    def check(self, value: Any, ctx: Ctx, path: tuple[PathPart, ...], line: int) -> None:
        raise NotImplementedError

    def json(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass
class Ctx:
    file: str
    problems: list[SpecProblem] = field(default_factory=list)
    partial: bool = False  # a variant: sections may be incomplete until merged

    def error(self, line: int, path: tuple[PathPart, ...], message: str) -> None:
        self.problems.append(SpecProblem(self.file, line, path, message))


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass
class Str(Node):
    doc: str = ""
    pattern: str | None = None
    what: str = ""
    max_len: int | None = None

    def check(self, value: Any, ctx: Ctx, path: tuple[PathPart, ...], line: int) -> None:
        if not isinstance(value, str):
            ctx.error(line, path, f"expected a string, got {_type_name(value)}")
            return
        if self.pattern and not re.fullmatch(self.pattern, value):  # fullmatch: "$" accepts a trailing newline
            ctx.error(line, path, f"{_show(value)} is not {self.what or 'valid'}")
        if self.max_len is not None and len(value) > self.max_len:
            ctx.error(line, path, f"text longer than {self.max_len} characters")

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string"}
        if self.pattern:
            out["pattern"] = self.pattern
        if self.doc:
            out["description"] = self.doc
        return out


@dataclass
class IdentStr(Str):
    """An id that becomes a Python name: lower_snake and never a keyword."""

    def check(self, value: Any, ctx: Ctx, path: tuple[PathPart, ...], line: int) -> None:
        if isinstance(value, str) and IDENT_RE.fullmatch(value) and keyword.iskeyword(value):
            ctx.error(line, path, f"{value!r} is a Python keyword, not usable as an identifier")
            return
        super().check(value, ctx, path, line)


def Ident(doc: str = "") -> Str:
    """Schema node for an id that becomes a Python name."""
    return IdentStr(doc=doc, pattern=IDENT_RE.pattern, what="a lower_snake identifier ([a-z][a-z0-9_]*)")


@dataclass
class Int(Node):
    doc: str = ""
    min: int | None = None
    max: int | None = None

    def check(self, value: Any, ctx: Ctx, path: tuple[PathPart, ...], line: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            ctx.error(line, path, f"expected an integer, got {_type_name(value)}")
            return
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            ctx.error(line, path, f"{value} is out of range {self.min}..{self.max}")

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "integer"}
        if self.min is not None:
            out["minimum"] = self.min
        if self.max is not None:
            out["maximum"] = self.max
        if self.doc:
            out["description"] = self.doc
        return out


@dataclass
class Num(Node):
    doc: str = ""
    positive: bool = False

    def check(self, value: Any, ctx: Ctx, path: tuple[PathPart, ...], line: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            ctx.error(line, path, f"expected a number, got {_type_name(value)}")
            return
        if self.positive and value <= 0:
            ctx.error(line, path, f"expected a positive number, got {value}")

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "number"}
        if self.positive:
            out["exclusiveMinimum"] = 0
        if self.doc:
            out["description"] = self.doc
        return out


@dataclass
class Bool(Node):
    doc: str = ""

    def check(self, value: Any, ctx: Ctx, path: tuple[PathPart, ...], line: int) -> None:
        if not isinstance(value, bool):
            ctx.error(line, path, f"expected true or false, got {_type_name(value)}")

    def json(self) -> dict[str, Any]:
        return {"type": "boolean", **({"description": self.doc} if self.doc else {})}


@dataclass
class Choice(Node):
    options: Sequence[str] = ()
    doc: str = ""

    def check(self, value: Any, ctx: Ctx, path: tuple[PathPart, ...], line: int) -> None:
        if value not in self.options:
            ctx.error(line, path, f"{_show(value)} is not one of: {', '.join(self.options)}")

    def json(self) -> dict[str, Any]:
        return {"enum": list(self.options), **({"description": self.doc} if self.doc else {})}


@dataclass
class ListOf(Node):
    item: Node
    doc: str = ""
    min_items: int = 0

    def check(self, value: Any, ctx: Ctx, path: tuple[PathPart, ...], line: int) -> None:
        if not isinstance(value, list):
            ctx.error(line, path, f"expected a list, got {_type_name(value)}")
            return
        if len(value) < self.min_items:
            ctx.error(line, path, f"expected at least {self.min_items} item(s)")
        for i, item in enumerate(value):
            item_line = value.line_of(i) if isinstance(value, LList) else line
            self.item.check(item, ctx, (*path, i), item_line)

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "array", "items": self.item.json()}
        if self.min_items:
            out["minItems"] = self.min_items
        if self.doc:
            out["description"] = self.doc
        return out


@dataclass
class AnyOf(Node):
    """A value that may take one of several shapes, picked by a predicate."""

    shapes: Sequence[tuple[Callable[[Any], bool], Node]]
    what: str
    doc: str = ""

    def check(self, value: Any, ctx: Ctx, path: tuple[PathPart, ...], line: int) -> None:
        for accepts, node in self.shapes:
            if accepts(value):
                node.check(value, ctx, path, line)
                return
        ctx.error(line, path, f"expected {self.what}, got {_type_name(value)}")

    def json(self) -> dict[str, Any]:
        return {"anyOf": [n.json() for _, n in self.shapes], **({"description": self.doc} if self.doc else {})}


@dataclass
class Map(Node):
    """A mapping with a fixed set of keys."""

    keys: dict[str, Node]
    required: Sequence[str] = ()
    doc: str = ""

    def check(self, value: Any, ctx: Ctx, path: tuple[PathPart, ...], line: int) -> None:
        if not isinstance(value, dict):
            ctx.error(line, path, f"expected a mapping, got {_type_name(value)}")
            return
        lines = value if isinstance(value, LDict) else None
        for key in value:
            key_line = lines.line_of(key) if lines is not None else line
            if key.startswith("x-"):
                continue
            if key not in self.keys:
                ctx.error(key_line, (*path, key), f"unknown key, expected one of: {expected_keys(list(self.keys))}")
        for key in self.required:
            if ctx.partial and path and path[0] in ("frame", "transport"):
                continue
            if key not in value:
                ctx.error(line, path, f"missing required key {key!r}")
        for key, node in self.keys.items():
            if key in value:
                key_line = lines.line_of(key) if lines is not None else line
                node.check(value[key], ctx, (*path, key), key_line)

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "object",
            "properties": {k: n.json() for k, n in sorted(self.keys.items())},
            "patternProperties": {"^x-": {}},
            "additionalProperties": False,
        }
        if self.required:
            out["required"] = sorted(self.required)
        if self.doc:
            out["description"] = self.doc
        return out


@dataclass
class DictOf(Node):
    """A mapping from identifiers (or integers) to entries of one shape."""

    value: Node
    key: Str | Int | None = None
    doc: str = ""

    def check(self, value: Any, ctx: Ctx, path: tuple[PathPart, ...], line: int) -> None:
        if not isinstance(value, dict):
            ctx.error(line, path, f"expected a mapping, got {_type_name(value)}")
            return
        key_node = self.key or Ident()
        for key, item in value.items():
            key_line = value.line_of(key) if isinstance(value, LDict) else line
            if isinstance(key_node, Int):
                try:
                    number = int(key, 0) if isinstance(key, str) else int(key)
                except ValueError:
                    ctx.error(key_line, (*path, key), f"key {_show(key)} is not an integer")
                    continue
                key_node.check(number, ctx, (*path, key), key_line)
            else:
                key_node.check(key, ctx, (*path, key), key_line)
            self.value.check(item, ctx, (*path, key), key_line)

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object", "additionalProperties": self.value.json()}
        if isinstance(self.key, Str) and self.key.pattern:
            out["propertyNames"] = {"pattern": self.key.pattern}
        elif self.key is None:
            out["propertyNames"] = {"pattern": IDENT_RE.pattern}
        if self.doc:
            out["description"] = self.doc
        return out


@dataclass
class AnyValue(Node):
    doc: str = ""

    def check(self, value: Any, ctx: Ctx, path: tuple[PathPart, ...], line: int) -> None:
        return

    def json(self) -> dict[str, Any]:
        return {"description": self.doc} if self.doc else {}


# --- the inverter spec language -------------------------------------------------

HEX_BYTES = Str(
    pattern=r"^([0-9a-fA-F]{2})( ?[0-9a-fA-F]{2})*$",
    what="hex bytes such as 'aa aa'",
    doc="bytes in hex, spaces allowed",
)


def _per_direction(doc: str) -> AnyOf:
    """Hex bytes for both directions, or ``{request: .., reply: ..}``."""
    return AnyOf(
        shapes=[
            (_is_str, HEX_BYTES),
            (
                lambda v: isinstance(v, dict),
                Map(keys={"request": HEX_BYTES, "reply": HEX_BYTES}, doc="per direction"),
            ),
        ],
        what="hex bytes or {request: .., reply: ..}",
        doc=doc,
    )


CODE8 = Int(min=0, max=255, doc="one-byte field or parameter code")
CODE16 = Int(min=0, max=0xFFFF, doc="command code: control byte << 8 | function byte")
DOC = Str(doc="documentation, copied into docstrings")
ADDRESS = Int(min=0, max=0xFFFF, doc="a frame address")
UNITS = ("", "W", "kW", "Wh", "kWh", "V", "A", "Hz", "°C", "h", "s", "mΩ", "Ω", "%", "VA", "var")
DEVICE_CLASSES = ("energy", "power", "voltage", "current", "frequency", "temperature", "duration", "enum")
STATE_CLASSES = ("measurement", "total", "total_increasing")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


TYPE_REF = AnyOf(
    shapes=[
        (_is_str, Ident(doc="a primitive (u8, u16, u32, s8, s16, s32) or a type id")),
        (lambda v: isinstance(v, dict), Map(keys={"text": Int(min=1, max=255), "bytes": Int(min=1, max=255)})),
    ],
    what="a type id or {text: N} / {bytes: N}",
)

MEMBER = Map(keys={"id": Ident(), "type": TYPE_REF, "doc": DOC}, required=("id", "type"))

TYPE_DEF = Map(
    keys={
        "struct": ListOf(MEMBER, min_items=1, doc="members in wire order"),
        "text": Int(min=1, max=255, doc="fixed-width ASCII, NUL or space padded"),
        "array": Choice(("u8", "u16"), doc="items to the end of the payload"),
        "doc": DOC,
    },
    doc="a payload type: exactly one of struct, text or array",
)

ALTERNATIVE = Map(
    keys={
        "code": CODE8,
        "codes": ListOf(CODE8, min_items=1, doc="one code per 16-bit word, high word first"),
        "doc": DOC,
    },
    doc="other codes carrying the same value (exactly one of code, codes; as many words as the field)",
)

FIELD_COMMON: dict[str, Node] = {
    "code": CODE8,
    "codes": ListOf(CODE8, min_items=1, doc="one code per 16-bit word, high word first"),
    "alternatives": ListOf(ALTERNATIVE, min_items=1, doc="tried in order when a layout lacks the field's own codes"),
    "label": Str(
        doc="display label; pv 0.2 calls use their own (docs/legacy.md)", pattern=r"^[ -~]{1,24}$", what="a label"
    ),
    "unit": Choice(UNITS, doc="unit of the scaled value"),
    "scale": AnyOf(
        shapes=[(_is_number, Num(positive=True)), (_is_str, Str(pattern=r"^[0-9]+(\.[0-9]+)?$", what="a decimal"))],
        what="a positive number",
        doc="scaled = raw x scale (decimal, e.g. 0.1)",
    ),
    "signed": Bool(doc="two's complement"),
    "enum": Ident(doc="an id under enums"),
    "flags": Ident(doc="an id under flags"),
    "na": ListOf(Int(min=0, max=0xFFFFFFFF), doc="raw values meaning 'not measured'"),
    "valid": ListOf(Num(), doc="[min, max] plausible range in scaled units"),
    "doc": DOC,
}

FIELD = Map(
    keys={
        **FIELD_COMMON,
        "device_class": Choice(DEVICE_CLASSES, doc="Home Assistant device class"),
        "state_class": Choice(STATE_CLASSES, doc="Home Assistant state class"),
        "diagnostic": Bool(doc="shown as a diagnostic entity"),
        "monotonic": Bool(doc="lifetime counter that must never decrease"),
    },
    doc="a status value",
)

PARAMETER = Map(
    keys={
        **FIELD_COMMON,
        "set": Ident(doc="id of the command that writes this parameter"),
        "safe": ListOf(Num(), doc="[min, max] safe range for writes, in scaled units"),
    },
    doc="a settable or readable parameter",
)

COMMAND = Map(
    keys={
        "request": CODE16,
        "request_type": Ident(doc="payload type of the request (default: empty)"),
        "reply": AnyOf(
            shapes=[
                (lambda v: v is None or v == "none", AnyValue()),
                (_is_number, CODE16),
                (lambda v: isinstance(v, list), ListOf(CODE16, min_items=2, doc="every reply code the unit may send")),
            ],
            what="a command code, a list of codes or none",
            doc="reply command code (or codes), or none when the device never answers",
        ),
        "reply_type": Ident(doc="payload type of the reply"),
        "until": Int(
            min=0,
            max=0xFFFF,
            doc="the reply is a series: frames with the reply code repeat until a frame with this code ends it",
        ),
        "to": AnyOf(
            shapes=[
                (_is_str, Choice(("inverter", "broadcast"))),
                (_is_number, ADDRESS),
            ],
            what="inverter, broadcast or a fixed address",
            doc="destination: the registered inverter, the broadcast address, or a fixed address",
        ),
        "unsafe": Bool(doc="writes to the inverter"),
        "doc": DOC,
    },
    required=("request",),
)

ENUM_VALUE = Map(keys={"id": Ident(), "label": Str(), "doc": DOC}, required=("id",))
FLAG_BIT = Map(keys={"id": Ident(), "label": Str(), "doc": DOC}, required=("id",))

FIXED_LAYOUT = ListOf(
    AnyOf(
        shapes=[(lambda v: v is None, AnyValue()), (lambda v: not isinstance(v, bool), CODE8)],
        what="a code or ~ (an unused word)",
    ),
    min_items=1,
    doc="the word order of a unit without a layout query: one code per word, ~ for a word kept raw",
)

MODEL = Map(
    keys={
        "title": Str(),
        "rated_power": Int(min=1, max=1_000_000, doc="W"),
        "status_layout": ListOf(CODE8, doc="the unit's answer to the status layout query"),
        "param_layout": ListOf(CODE8, doc="the unit's answer to the parameter layout query"),
        "fixed_status": FIXED_LAYOUT,
        "fixed_params": FIXED_LAYOUT,
        "status_reply": CODE16,
        "version": DictOf(Str(), doc="version text field id -> exact text, padding included"),
        "parameters": DictOf(Num(), doc="parameter id -> scaled value"),
        "doc": DOC,
    },
    required=("title",),
)

EXAMPLE = Map(
    keys={
        "id": Ident(),
        "source": Str(doc="where the frame was captured"),
        "command": Ident(doc="command id"),
        "direction": Choice(("request", "reply")),
        "hex": HEX_BYTES,
        "model": Ident(doc="model whose layouts decode this frame"),
        "values": DictOf(AnyValue(), doc="expected decoded values by field id"),
        "reject": Str(doc="the frame must be refused, with a reason containing this text"),
        "doc": DOC,
    },
    required=("id", "source", "command", "direction", "hex"),
)

SPEC = Map(
    keys={
        "meta": Map(
            keys={
                "id": Ident(),
                "title": Str(),
                "doc": DOC,
                "manufacturer": Str(),
                "models": ListOf(Str()),
                "badges": ListOf(Str()),
                "extends": Ident(doc="id of the spec this one extends (file specs/<id>.yaml)"),
                "abstract": Bool(doc="a base spec: validated, not rendered"),
                "kind": Choice(("inverter", "service")),
            },
            required=("id", "title"),
        ),
        "frame": Map(
            keys={
                "sync": _per_direction("sync bytes, inside the checksum"),
                "prefix": _per_direction("bytes before the sync, outside the checksum (SISER: 02)"),
                "addresses": AnyOf(
                    shapes=[
                        (lambda v: v == "none", AnyValue()),
                        (
                            lambda v: isinstance(v, dict),
                            Map(
                                keys={
                                    "width": Int(min=1, max=2),
                                    "host": Int(min=0, doc="source of every request"),
                                    "broadcast": Int(min=0, doc="destination of broadcast requests"),
                                    "inverter": Int(
                                        min=0, doc="a request to bus address n goes to inverter | n (default 0)"
                                    ),
                                    "reply_from": Int(
                                        min=0, doc="a reply from bus address n comes from reply_from | n"
                                    ),
                                    "reply_to": Choice(
                                        ("host", "request"),
                                        doc="replies go to the host, or to the request's destination without"
                                        " its bus address",
                                    ),
                                    "first": Int(min=1, max=255, doc="bus address of the first registered inverter"),
                                },
                                required=("width", "host", "broadcast"),
                            ),
                        ),
                    ],
                    what="'none' or {width, host, broadcast, ...}",
                ),
                "ident": Map(keys={"width": Int(min=1, max=2), "request": Int(min=0)}, required=("width", "request")),
                "length_width": Int(min=1, max=2),
                "checksum": Map(
                    keys={"rule": Choice(("sum16",)), "tolerate": ListOf(Int(min=1, max=0xFFFF)), "doc": DOC},
                    required=("rule",),
                ),
                "byte_order": Choice(("big",)),
                "max_payload": Int(min=1, max=65535),
            },
            required=("sync", "addresses", "length_width", "checksum"),
        ),
        "transport": Map(
            keys={
                "baudrate": Int(min=50, max=4_000_000),
                "bytesize": Int(min=5, max=8),
                "parity": Choice(("N", "E", "O")),
                "stopbits": Num(positive=True),
                "reply_timeout": Num(positive=True),
                "command_delay": Num(doc="seconds between commands: waited before each one, from the last exchange"),
                "tcp_port": Int(min=1, max=65535),
                "dtr": Bool(doc="DTR level held while the port is open (SISER: true, it powers the receiver)"),
                "rts": Bool(doc="RTS level held while the port is open"),
            },
        ),
        "registration": Bool(doc="reset/discover/register handshake before anything else"),
        "types": DictOf(TYPE_DEF),
        "commands": DictOf(COMMAND),
        "fields": DictOf(FIELD),
        "parameters": DictOf(PARAMETER),
        "enums": DictOf(DictOf(ENUM_VALUE, key=Int(min=0, max=0xFFFF))),
        "flags": DictOf(
            Map(keys={"width": Int(min=8, max=32), "bits": DictOf(FLAG_BIT, key=Int(min=0, max=31)), "doc": DOC})
        ),
        "models": DictOf(MODEL),
        "examples": ListOf(EXAMPLE),
        "remove": DictOf(ListOf(Ident()), doc="entries of the extended spec to drop, by section"),
    },
    required=("meta",),
)


def json_schema() -> dict[str, Any]:
    out = SPEC.json()
    # A variant (meta.extends) may give only part of frame/transport; pvgen checks
    # the merged result, which a per-file JSON Schema cannot see.
    for section in ("frame", "transport"):
        out["properties"][section].pop("required", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/pv/specs/spec.schema.json",
        "title": "pv inverter protocol spec",
        **out,
    }
