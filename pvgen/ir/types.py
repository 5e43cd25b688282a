"""The ``types`` section: payload structs, fixed-width texts and arrays."""

from __future__ import annotations

from ..yamlsrc import LDict
from .check import Checker
from .model import BUILTIN_NAMES, PRIMITIVES, RESERVED_TYPE_IDS, TypeIR, pascal


def build_types(doc: LDict, chk: Checker) -> tuple[list[TypeIR], set[str]]:
    """The spec's payload types, and every type id a command may name (primitives included)."""
    types: list[TypeIR] = []
    type_ids = set(PRIMITIVES)
    section = doc.get("types") or {}
    for tid, t in section.items():
        if tid in RESERVED_TYPE_IDS or tid in BUILTIN_NAMES:
            chk.error("types", tid, (), f"type id {tid!r} is reserved in generated code")
            continue
        kinds = [k for k in ("struct", "text", "array") if k in t]
        if len(kinds) != 1:
            chk.error("types", tid, (), "expected exactly one of: array, struct, text")
            continue
        type_ids.add(tid)
    for tid, t in section.items():
        if "struct" in t:
            members: list[tuple[str, str, int]] = []
            size: int | None = 0
            seen: set[str] = set()
            for i, m in enumerate(t["struct"]):
                mid = m["id"]
                if mid in seen:
                    chk.error(
                        "types", tid, ("struct", i, "id"), f"duplicate member id {mid!r}", t["struct"][i].line_of("id")
                    )
                seen.add(mid)
                mtype = m["type"]
                if isinstance(mtype, dict):
                    kind = "text" if "text" in mtype else "bytes"
                    width = int(mtype.get("text") or mtype.get("bytes") or 0)
                elif mtype in PRIMITIVES:
                    kind, width = mtype, PRIMITIVES[mtype]
                else:
                    ref = section.get(mtype)
                    if ref is not None and "text" in ref:
                        kind, width = "text", int(ref["text"])
                    else:
                        chk.error(
                            "types",
                            tid,
                            ("struct", i, "type"),
                            f"unknown member type {mtype!r}, expected a primitive or a text type",
                            t["struct"][i].line_of("type"),
                        )
                        continue
                members.append((mid, kind, width))
                size = None if size is None else size + width
            types.append(TypeIR(tid, "struct", pascal(tid) + "Struct", size, tuple(members), doc=t.get("doc", "")))
        elif "text" in t:
            types.append(TypeIR(tid, "text", pascal(tid) + "Struct", int(t["text"]), doc=t.get("doc", "")))
        elif "array" in t:
            types.append(TypeIR(tid, "array", pascal(tid) + "Struct", None, item=t["array"], doc=t.get("doc", "")))
    return types, type_ids
