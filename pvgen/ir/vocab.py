"""The ``enums`` and ``flags`` sections: named values and named bits, and their class names."""

from __future__ import annotations

from pvgen.runtime.model import EnumDef, EnumValue, FlagBit, FlagsDef

from ..yamlsrc import LDict
from .check import Checker
from .model import RESERVED_CLASS_NAMES, pascal


def build_enums(doc: LDict, chk: Checker) -> tuple[list[EnumDef], dict[str, str]]:
    enums: list[EnumDef] = []
    enum_classes: dict[str, str] = {}
    for eid, values in (doc.get("enums") or {}).items():
        items = []
        seen_ids: set[str] = set()
        for raw_key, v in values.items():
            if v["id"] in seen_ids:
                chk.error("enums", eid, (raw_key, "id"), f"duplicate enum value id {v['id']!r}")
            seen_ids.add(v["id"])
            number = int(raw_key, 0) if isinstance(raw_key, str) else int(raw_key)
            items.append(
                EnumValue(number, v["id"], v.get("label", v["id"].replace("_", " ").capitalize()), v.get("doc", ""))
            )
        enums.append(EnumDef(eid, tuple(sorted(items, key=lambda e: e.value))))
        enum_classes[eid] = pascal(eid)
    return enums, enum_classes


def build_flags(doc: LDict, chk: Checker) -> tuple[list[FlagsDef], dict[str, str]]:
    flags: list[FlagsDef] = []
    flag_classes: dict[str, str] = {}
    for fid, f in (doc.get("flags") or {}).items():
        width = int(f.get("width", 16))
        bits = []
        for raw_key, b in (f.get("bits") or {}).items():
            bit = int(raw_key, 0) if isinstance(raw_key, str) else int(raw_key)
            if bit >= width:
                chk.error("flags", fid, ("bits", raw_key), f"bit {bit} does not fit in width {width}")
            bits.append(FlagBit(bit, b["id"], b.get("label", b["id"]), b.get("doc", "")))
        flags.append(FlagsDef(fid, width, tuple(sorted(bits, key=lambda b: b.bit))))
        flag_classes[fid] = pascal(fid)
    return flags, flag_classes


def check_class_names(enum_classes: dict[str, str], flag_classes: dict[str, str], chk: Checker) -> None:
    """Enum and flag classes share the module namespace with each other and the generated classes."""
    owners: dict[str, tuple[str, str]] = {}
    for section, classes in (("enums", enum_classes), ("flags", flag_classes)):
        for entry_id, name in classes.items():
            if name in RESERVED_CLASS_NAMES:
                chk.error(section, entry_id, (), f"class name {name!r} is reserved for the generated {name} class")
            elif name in owners:
                other = "/".join(owners[name])
                chk.error(section, entry_id, (), f"class name {name!r} is already generated for /{other}")
            owners[name] = (section, entry_id)
