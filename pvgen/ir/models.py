"""The ``models`` section, and the version text fields the models' captured texts fill."""

from __future__ import annotations

from pvgen.runtime.model import CommandDef, FieldDef, ModelDef, TextField

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


def build_models(
    doc: LDict, chk: Checker, params: list[FieldDef], version_fields: tuple[TextField, ...], abstract: bool
) -> list[ModelDef]:
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
    return models
