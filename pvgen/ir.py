"""From a flattened spec to the intermediate model the templates render.

Structural checks happened in the schema; here are the checks that need the
whole spec at once (duplicate codes, dangling references, reserved names, doc
text that could break out of a docstring).  The model reuses the runtime's own
frozen classes, so what the generator renders is exactly what the generated
module will hold at run time.
"""

from __future__ import annotations

import builtins
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pvgen.runtime.model import (
    CommandDef,
    EnumDef,
    EnumValue,
    FieldDef,
    FlagBit,
    FlagsDef,
    FrameFormat,
    ModelDef,
    ProtocolSpec,
    TextField,
    TransportDefaults,
)

from .errors import PathPart, SpecError, SpecProblem
from .loader import LoadedSpec
from .yamlsrc import LDict

PRIMITIVES = {"u8": 1, "u16": 2, "u32": 4, "s8": 1, "s16": 2, "s32": 4}
RESERVED_FIELD_IDS = {"layout", "raw", "unknown", "values", "raw_value", "labelled", "mode_label", "faults", "text"}
RESERVED_CLASS_NAMES = {"Status", "Parameters", "VersionInfo", "Inverter", "Frame"}
RESERVED_TYPE_IDS = {"frame"}  # its construct struct would replace FrameStruct
BUILTIN_NAMES = frozenset(n for n in dir(builtins) if not n.startswith("_"))
REQUIRED_COMMANDS = ("status_layout", "status", "version")


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


class _Checker:
    def __init__(self, loaded: LoadedSpec) -> None:
        self.loaded = loaded
        self.problems: list[SpecProblem] = []

    def error(
        self, section: str, key: str | None, sub: tuple[PathPart, ...], message: str, line: int | None = None
    ) -> None:
        file = self.loaded.file_of(section, key)
        path: tuple[PathPart, ...] = (section,) if key is None else (section, key)
        path = (*path, *sub)
        if line is None:
            entry = self.loaded.doc.get(section)
            line = self.loaded.line_of(section, key)
            if key is not None and sub and isinstance(entry, LDict) and isinstance(entry.get(key), LDict):
                line = entry[key].line_of(str(sub[0]))
        self.problems.append(SpecProblem(file, line, path, message))


def _doc_ok(text: str) -> bool:
    """Docs are rendered inside triple-quoted docstrings: nothing may end them early."""
    return (
        '"""' not in text
        and "\\" not in text
        and not text.endswith('"')
        and all(ch >= " " or ch in "\n\t" for ch in text)
    )


def build_ir(loaded: LoadedSpec, root: Path) -> SpecIR:
    doc = loaded.doc
    chk = _Checker(loaded)
    meta = doc["meta"]
    abstract = bool(meta.get("abstract", False))

    # docs anywhere must stay inside a docstring
    def walk_docs(node: Any, section: str, key: str | None, sub: tuple[PathPart, ...]) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("doc", "title", "label") and isinstance(v, str) and not _doc_ok(v):
                    line = node.line_of(k) if isinstance(node, LDict) else None
                    chk.error(
                        section,
                        key,
                        (*sub, k),
                        "text must not contain triple quotes, backslashes or control characters,"
                        " nor end with a double quote",
                        line,
                    )
                else:
                    walk_docs(v, section, key, (*sub, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk_docs(v, section, key, (*sub, i))

    for section, value in doc.items():
        if isinstance(value, dict) and section not in ("meta", "frame", "transport", "examples"):
            for key, entry in value.items():
                walk_docs(entry, section, str(key), ())
        else:
            walk_docs(value, section, None, ())

    # types
    types: list[TypeIR] = []
    type_ids = set(PRIMITIVES)
    for tid, t in (doc.get("types") or {}).items():
        if tid in RESERVED_TYPE_IDS or tid in BUILTIN_NAMES:
            chk.error("types", tid, (), f"type id {tid!r} is reserved in generated code")
            continue
        kinds = [k for k in ("struct", "text", "array") if k in t]
        if len(kinds) != 1:
            chk.error("types", tid, (), "expected exactly one of: array, struct, text")
            continue
        type_ids.add(tid)
    for tid, t in (doc.get("types") or {}).items():
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
                    ref = (doc.get("types") or {}).get(mtype)
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

    # enums and flags
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
    owners: dict[str, tuple[str, str]] = {}
    for section, classes in (("enums", enum_classes), ("flags", flag_classes)):
        for entry_id, name in classes.items():
            if name in RESERVED_CLASS_NAMES:
                chk.error(section, entry_id, (), f"class name {name!r} is reserved for the generated {name} class")
            elif name in owners:
                other = "/".join(owners[name])
                chk.error(section, entry_id, (), f"class name {name!r} is already generated for /{other}")
            owners[name] = (section, entry_id)

    # fields and parameters
    def build_fields(section: str) -> list[FieldDef]:
        out: list[FieldDef] = []
        used: dict[int, str] = {}
        labels: dict[str, str] = {}
        for fid, f in (doc.get(section) or {}).items():
            if fid in RESERVED_FIELD_IDS:
                chk.error(
                    section, fid, (), f"id {fid!r} is reserved (it names a method or attribute of the generated class)"
                )
                continue
            if fid in BUILTIN_NAMES:
                chk.error(section, fid, (), f"id {fid!r} would shadow the Python builtin {fid!r} in generated code")
                continue
            if ("code" in f) == ("codes" in f):
                chk.error(section, fid, (), "expected exactly one of: code, codes")
                continue
            codes = (f["code"],) if "code" in f else tuple(f["codes"])
            if len(codes) > 2:
                chk.error(section, fid, ("codes",), "at most 2 words (32 bits) per value")
                continue
            for c in codes:
                if c in used:
                    chk.error(
                        section,
                        fid,
                        ("codes" if "codes" in f else "code",),
                        f"code 0x{c:02x} already used by {used[c]!r}",
                    )
                used[c] = fid
            label = f.get("label", fid)
            if label in labels:
                chk.error(section, fid, ("label",), f"label {label!r} already used by {labels[label]!r}")
            labels[label] = fid
            scale = decimal_text(f.get("scale", 1))
            if not scale or Decimal(scale) <= 0:
                chk.error(section, fid, ("scale",), f"scale must be a positive decimal, got {f.get('scale')!r}")
                continue
            if len(scale.split(".")[1] if "." in scale else "") > 6:
                chk.error(section, fid, ("scale",), f"scale {scale} has more than 6 decimal places")
                continue
            enum = f.get("enum")
            if enum is not None and enum not in enum_classes:
                chk.error(
                    section,
                    fid,
                    ("enum",),
                    f"unknown enum {enum!r}, expected one of: {', '.join(sorted(enum_classes)) or '(none defined)'}",
                )
            fl = f.get("flags")
            if fl is not None and fl not in flag_classes:
                chk.error(
                    section,
                    fid,
                    ("flags",),
                    f"unknown flags {fl!r}, expected one of: {', '.join(sorted(flag_classes)) or '(none defined)'}",
                )
            for key in ("valid", "safe"):
                if key in f and (len(f[key]) != 2 or f[key][0] > f[key][1]):
                    chk.error(section, fid, (key,), f"{key} must be [min, max] with min <= max")
            valid = f.get("valid") or [None, None]
            safe = f.get("safe") or [None, None]
            set_cmd = f.get("set")
            if set_cmd is not None and set_cmd not in (doc.get("commands") or {}):
                chk.error(section, fid, ("set",), f"unknown command {set_cmd!r}")
            if set_cmd is not None and "safe" not in f:
                chk.error(section, fid, ("safe",), "a settable parameter needs a safe range")
            out.append(
                FieldDef(
                    id=fid,
                    label=label,
                    codes=codes,
                    unit=f.get("unit", ""),
                    scale=scale,
                    signed=bool(f.get("signed", False)),
                    enum=enum,
                    flags=fl,
                    doc=f.get("doc", ""),
                    device_class=f.get("device_class"),
                    state_class=f.get("state_class"),
                    diagnostic=bool(f.get("diagnostic", False)),
                    monotonic=bool(f.get("monotonic", False)),
                    na_values=tuple(f.get("na", ())),
                    valid_min=valid[0] if len(valid) == 2 else None,
                    valid_max=valid[1] if len(valid) == 2 else None,
                    set_command=set_cmd,
                    safe_min=safe[0] if len(safe) == 2 else None,
                    safe_max=safe[1] if len(safe) == 2 else None,
                )
            )
        return out

    fields = build_fields("fields")
    params = build_fields("parameters")

    # commands
    commands: list[CommandDef] = []
    codes_seen: dict[int, str] = {}
    for cid, c in (doc.get("commands") or {}).items():
        req = c["request"]
        if req in codes_seen:
            chk.error("commands", cid, ("request",), f"request code 0x{req:04x} already used by {codes_seen[req]!r}")
        codes_seen[req] = cid
        reply = c.get("reply")
        reply_code = None if reply in (None, "none") else int(reply)
        if reply_code is not None and reply_code >> 8 != req >> 8:
            chk.error(
                "commands",
                cid,
                ("reply",),
                f"reply 0x{reply_code:04x} must keep the request's control byte 0x{req >> 8:02x}",
            )
        for key in ("request_type", "reply_type"):
            if key in c and c[key] not in type_ids:
                chk.error(
                    "commands",
                    cid,
                    (key,),
                    f"unknown type {c[key]!r}, expected a primitive or one of: "
                    + ", ".join(sorted(type_ids - set(PRIMITIVES))),
                )
        if reply_code is None and "reply_type" in c:
            chk.error("commands", cid, ("reply_type",), "a command without a reply cannot have a reply_type")
        commands.append(
            CommandDef(
                id=cid,
                control=req >> 8,
                function=req & 0xFF,
                reply_function=None if reply_code is None else reply_code & 0xFF,
                request_type=c.get("request_type"),
                reply_type=c.get("reply_type"),
                broadcast=c.get("to", "inverter") == "broadcast",
                unsafe=bool(c.get("unsafe", False)),
                doc=c.get("doc", ""),
            )
        )
    command_ids = {c.id for c in commands}
    if not abstract:
        for needed in REQUIRED_COMMANDS:
            if needed not in command_ids and ("commands", needed) in loaded.removed:
                where = loaded.removed[("commands", needed)]
                chk.problems.append(
                    SpecProblem(where.file, where.line, where.path, f"missing required command {needed!r}")
                )
            elif needed not in command_ids:
                chk.error(
                    "commands",
                    None,
                    (),
                    f"missing required command {needed!r}",
                    doc.line_of("commands") if "commands" in doc else doc.line,
                )

    # frame and transport
    frame_doc = doc.get("frame")
    frame: FrameFormat | None = None
    if frame_doc is None:
        if not abstract:
            chk.error("meta", None, (), "missing required key 'frame'", doc.line)
    else:
        addresses = frame_doc["addresses"]
        aw = 0 if addresses == "none" else int(addresses["width"])
        host = 0 if addresses == "none" else int(addresses["host"])
        bcast = 0 if addresses == "none" else int(addresses["broadcast"])
        if aw and (host >= 1 << (8 * aw) or bcast >= 1 << (8 * aw)):
            chk.error("frame", "addresses", (), f"host/broadcast address does not fit in {aw} byte(s)")
        ident = frame_doc.get("ident") or {}
        lw = int(frame_doc["length_width"])
        frame = FrameFormat(
            sync=bytes.fromhex(frame_doc["sync"].replace(" ", "")),
            address_width=aw,
            ident_width=int(ident.get("width", 0)),
            request_ident=int(ident.get("request", 0)),
            length_width=lw,
            checksum_slack=tuple(frame_doc["checksum"].get("tolerate", ())),
            host_address=host,
            broadcast_address=bcast,
            max_payload=int(frame_doc.get("max_payload", (1 << (8 * lw)) - 1)),
        )
        if frame.max_payload >= 1 << (8 * lw):
            chk.error("frame", "max_payload", (), f"max_payload does not fit in a {lw}-byte length field")
    tr = doc.get("transport") or {}
    transport = TransportDefaults(
        baudrate=int(tr.get("baudrate", 9600)),
        bytesize=int(tr.get("bytesize", 8)),
        parity=str(tr.get("parity", "N")),
        stopbits=float(tr.get("stopbits", 1)),
        reply_timeout=float(tr.get("reply_timeout", 1.0)),
        command_delay=float(tr.get("command_delay", 0.1)),
        tcp_port=tr.get("tcp_port"),
    )

    # version text fields come from the reply type of the version command
    version_type: TypeIR | None = None
    version_fields: tuple[TextField, ...] = ()
    vcmd = next((c for c in commands if c.id == "version"), None)
    if vcmd is not None and vcmd.reply_type:
        version_type = next((t for t in types if t.id == vcmd.reply_type), None)
        if (
            version_type is None
            or version_type.kind != "struct"
            or any(k != "text" for _, k, _ in version_type.members)
        ):
            chk.error("commands", "version", ("reply_type",), "the version reply must be a struct of text members")
            version_type = None
        else:
            member_docs = {m["id"]: m.get("doc", "") for m in doc["types"][version_type.id]["struct"]}
            version_fields = tuple(
                TextField(mid, width, member_docs.get(mid, "")) for mid, _, width in version_type.members
            )

    # models
    field_ids = {f.id for f in fields}
    param_by_id = {p.id: p for p in params}
    models: list[ModelDef] = []
    version_ids = {t.id for t in version_fields}
    for mid, m in (doc.get("models") or {}).items():
        version = m.get("version") or {}
        for key, text in version.items():
            if key not in version_ids:
                chk.error("models", mid, ("version", key), f"unknown version field {key!r}")
            else:
                width = next(t.width for t in version_fields if t.id == key)
                if len(text.encode("latin-1", "replace")) > width:
                    chk.error("models", mid, ("version", key), f"text is longer than the field's {width} bytes")
        mparams: list[tuple[int, int]] = []
        for key, value in (m.get("parameters") or {}).items():
            p = param_by_id.get(key)
            if p is None:
                chk.error("models", mid, ("parameters", key), f"unknown parameter {key!r}")
                continue
            raw = p.to_raw(float(value))
            if len(p.codes) == 1:
                mparams.append((p.codes[0], raw))
            else:
                mparams.extend(((p.codes[0], raw >> 16), (p.codes[1], raw & 0xFFFF)))
        models.append(
            ModelDef(
                id=mid,
                title=m["title"],
                status_layout=tuple(m["status_layout"]),
                param_layout=tuple(m.get("param_layout", ())),
                version=tuple((k, v) for k, v in version.items()),
                parameters=tuple(mparams),
                rated_power=int(m.get("rated_power", 2000)),
            )
        )
    if not abstract and not models:
        chk.error(
            "models",
            None,
            (),
            "at least one model with its status layout is needed",
            doc.line_of("models") if "models" in doc else doc.line,
        )

    # examples
    examples: list[ExampleIR] = []
    model_ids = {m.id for m in models}
    for i, ex in enumerate(doc.get("examples") or []):
        line = doc["examples"].line_of(i)
        if ex["command"] not in command_ids:
            chk.error("examples", None, (i, "command"), f"unknown command {ex['command']!r}", ex.line_of("command"))
        if ex.get("model") is not None and ex["model"] not in model_ids:
            chk.error("examples", None, (i, "model"), f"unknown model {ex['model']!r}", ex.line_of("model"))
        for key in ex.get("values") or {}:
            if ex["direction"] == "reply" and ex["command"] in ("status",) and key not in field_ids:
                chk.error("examples", None, (i, "values", key), f"unknown field {key!r}", ex["values"].line_of(key))
        examples.append(
            ExampleIR(
                ex["id"],
                ex["source"],
                ex["command"],
                ex["direction"],
                ex["hex"].replace(" ", "").lower(),
                ex.get("model"),
                tuple((ex.get("values") or {}).items()),
                ex.get("doc", ""),
            )
        )
        del line

    if chk.problems:
        raise SpecError(sorted(chk.problems, key=lambda p: (p.file, p.line, str(p.path))))

    files = list(loaded.files)
    digest = hashlib.sha256()
    for path in loaded.paths:
        digest.update(path.read_bytes())
    spec = ProtocolSpec(
        id=meta["id"],
        title=meta["title"],
        doc=meta.get("doc", ""),
        manufacturer=meta.get("manufacturer", ""),
        frame=frame or FrameFormat(b"", 0, 0, 0, 1, (), 0, 0, 1),
        transport=transport,
        registration=bool(doc.get("registration", True)),
        commands=tuple(commands),
        fields=tuple(fields),
        parameters=tuple(params),
        enums=tuple(enums),
        flags=tuple(flags),
        version_fields=version_fields,
        models=tuple(models),
    )
    return SpecIR(
        spec=spec,
        source=files[-1],
        chain_files=tuple(files),
        digest=digest.hexdigest(),
        abstract=abstract,
        types=tuple(types),
        examples=tuple(examples),
        enum_classes=enum_classes,
        flag_classes=flag_classes,
        version_type=version_type,
    )
