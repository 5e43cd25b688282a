"""The intermediate model the templates render, and the names generated code reserves.

The model reuses the runtime's own frozen classes (``ProtocolSpec`` and
friends), so what the generator renders is exactly what the generated module
holds at run time; only what has no run-time use (payload types, examples)
gets classes of its own here.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from pvgen.runtime.model import ProtocolSpec

PRIMITIVES = {"u8": 1, "u16": 2, "u32": 4, "s8": 1, "s16": 2, "s32": 4}
RESERVED_FIELD_IDS = {"layout", "raw", "unknown", "values", "raw_value", "labelled", "mode_label", "faults", "text"}
RESERVED_CLASS_NAMES = {"Status", "Parameters", "VersionInfo", "Inverter", "Frame"}
# Every name the generated inverter module imports or defines besides the spec's own classes
# (tests/security/test_spec_ids.py reads a generated module to keep these lists true).
MODULE_IMPORTS = frozenset(
    {
        "annotations",
        "enum",
        "Callable",
        "Mapping",
        "Sequence",
        "dataclass",
        "ClassVar",
        "Unpack",
        "cs",
        "_client",
        "_codec",
        "_legacy",
        "FrameCodec",
        "CommandDef",
        "EnumDef",
        "EnumValue",
        "FieldDef",
        "FlagBit",
        "FlagsDef",
        "FrameFormat",
        "ModelDef",
        "ProtocolSpec",
        "TextField",
        "TransportDefaults",
        "TypeDef",
    }
)
MODULE_DEFINES = frozenset(
    {
        "SPEC",
        "CODEC",
        "EXAMPLES",
        "REJECTED",
        "FrameStruct",
        "Status",
        "Parameters",
        "VersionInfo",
        "Inverter",
        "_STATUS",
        "_PARAMETERS",
        "decode_status",
        "encode_status",
        "decode_parameters",
        "encode_parameters",
        "decode_version",
        "encode_version",
        "decode_layout",
        "encode_layout",
        "encode_register",
        "decode_register",
        "Frame",
        "parse_frame",
        "checksum",
        "bin2hex",
    }
)
RESERVED_TYPE_IDS = {"frame"}  # its construct struct would replace FrameStruct
BUILTIN_NAMES = frozenset(n for n in dir(builtins) if not n.startswith("_"))
REQUIRED_COMMANDS = ("status",)  # status_layout: unless every model is fixed (ir/models.py)


@dataclass(frozen=True)
class TypeIR:
    id: str
    kind: str  # struct | text | array
    class_name: str
    size: int | None  # fixed size in bytes, None when greedy
    members: tuple[tuple[str, str, int], ...] = ()  # (id, kind, width) kind: u8.. | text | bytes
    item: str = ""  # array item primitive
    doc: str = ""


@dataclass(frozen=True)
class ExampleIR:
    id: str
    source: str
    command: str
    direction: str
    hex: str
    model: str | None
    values: tuple[tuple[str, Any], ...]
    doc: str
    reject: str | None = None  # the frame must be refused with a reason containing this


@dataclass
class SpecIR:
    spec: ProtocolSpec
    source: str
    chain_files: tuple[str, ...]
    digest: str
    abstract: bool
    types: tuple[TypeIR, ...]
    examples: tuple[ExampleIR, ...]
    enum_classes: dict[str, str] = field(default_factory=dict)
    flag_classes: dict[str, str] = field(default_factory=dict)
    version_type: TypeIR | None = None


def pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def decimal_text(value: Any) -> str:
    try:
        dec = Decimal(str(value))
    except InvalidOperation:
        return ""
    text = format(dec.normalize(), "f")
    return text
