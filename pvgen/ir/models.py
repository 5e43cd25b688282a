"""The ``models`` section, and the version text fields the models' captured texts fill."""

from __future__ import annotations

from pvgen.runtime.model import FIXED_SLOT_BASE, CommandDef, FieldDef, ModelDef, TextField

from ..yamlsrc import LDict
from .check import Checker
from .model import TypeIR


def build_version(
    doc: LDict, chk: Checker, commands: list[CommandDef], types: list[TypeIR]
) -> tuple[TypeIR | None, tuple[TextField, ...]]:
    """Version text fields come from the reply type of the version command."""
    vcmd = next((c for c in commands if c.id == "version"), None)
    if vcmd is None or not vcmd.reply_type:
        return None, ()
    version_type = next((t for t in types if t.id == vcmd.reply_type), None)
    if version_type is None or version_type.kind != "struct" or any(k != "text" for _, k, _ in version_type.members):
        chk.error("commands", "version", ("reply_type",), "the version reply must be a struct of text members")
        return None, ()
    member_docs = {m["id"]: m.get("doc", "") for m in doc["types"][version_type.id]["struct"]}
    fields = tuple(TextField(mid, width, member_docs.get(mid, "")) for mid, _, width in version_type.members)
    return version_type, fields


def _layout(m: LDict, queried: str, fixed: str) -> tuple[tuple[int, ...], bool]:
    """A model's layout and whether it is fixed; unused fixed positions get pseudo-codes."""
    if fixed in m:
        return tuple(FIXED_SLOT_BASE + i if code is None else int(code) for i, code in enumerate(m[fixed])), True
    return tuple(m.get(queried, ())), False


def _check_layouts(mid: str, m: LDict, chk: Checker, commands: list[CommandDef]) -> None:
    """Exactly one kind of layout per reply, consistent with the commands the spec has."""
    command_ids = {c.id for c in commands}
    for queried, fixed, query, read in (
        ("status_layout", "fixed_status", "status_layout", "status"),
        ("param_layout", "fixed_params", "param_layout", "parameters"),
    ):
        if queried in m and fixed in m:
            chk.error("models", mid, (fixed,), f"expected exactly one of: {fixed}, {queried}")
            continue
        if read == "status" and queried not in m and fixed not in m:
            chk.error("models", mid, (), f"expected exactly one of: {fixed}, {queried}")
            continue
        if read == "parameters" and read not in command_ids and (queried in m or fixed in m):
            key = queried if queried in m else fixed
            chk.error("models", mid, (key,), f"{key} has no effect: the spec has no {read!r} command")
            continue
        if queried in m and query not in command_ids and read in command_ids:
            chk.error(
                "models",
                mid,
                (queried,),
                f"the spec has no {query!r} command to ask for this layout: give {fixed} (the unit's word order)",
            )
        if fixed in m:
            codes = [c for c in m[fixed] if c is not None]
            for i, code in enumerate(m[fixed]):
                if code is not None and codes.count(code) > 1 and m[fixed].index(code) != i:
                    chk.error("models", mid, (fixed, i), f"code 0x{code:02x} is listed twice")
    if "status_reply" in m:
        status = next((c for c in commands if c.id == "status"), None)
        reply = int(m["status_reply"])
        if "fixed_status" not in m:
            chk.error(
                "models",
                mid,
                ("status_reply",),
                "status_reply picks a fixed layout by reply code: it has no effect without fixed_status",
            )
        elif status is not None and (reply >> 8 != status.control or (reply & 0xFF) not in status.reply_functions):
            replies = ", ".join(f"0x{status.control:02x}{f:02x}" for f in status.reply_functions)
            chk.error(
                "models", mid, ("status_reply",), f"0x{reply:04x} is not a reply of the status command ({replies})"
            )


def build_models(
    doc: LDict,
    chk: Checker,
    params: list[FieldDef],
    version_fields: tuple[TextField, ...],
    abstract: bool,
    commands: list[CommandDef] | None = None,
) -> list[ModelDef]:
    commands = commands or []
    param_by_id = {p.id: p for p in params}
    models: list[ModelDef] = []
    version_ids = {t.id for t in version_fields}
    for mid, m in (doc.get("models") or {}).items():
        _check_layouts(mid, m, chk, commands)
        version = m.get("version") or {}
        if version and not version_fields:
            chk.error(
                "models", mid, ("version",), "version has no effect: the spec has no version reply with text fields"
            )
        for key, text in version.items():
            if not version_fields:
                break
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
        status_layout, status_fixed = _layout(m, "status_layout", "fixed_status")
        param_layout, param_fixed = _layout(m, "param_layout", "fixed_params")
        models.append(
            ModelDef(
                id=mid,
                title=m["title"],
                status_layout=status_layout,
                param_layout=param_layout,
                version=tuple((k, v) for k, v in version.items()),
                parameters=tuple(mparams),
                rated_power=int(m.get("rated_power", 2000)),
                status_fixed=status_fixed,
                param_fixed=param_fixed,
                status_reply=int(m["status_reply"]) & 0xFF if "status_reply" in m else None,
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
    return models
