"""Render a ServiceModel into the generated Python client module and the Markdown reference.

Every piece of spec text reaches the output only through ``pystr`` (a Python string
literal) or ``md`` (escaped Markdown), so a spec cannot inject code.  The Python is
emitted already in ``ruff format`` style (exploded calls with magic trailing commas),
so formatting it again changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import jinja2

from pvgen.runtime.pvoutput.model import ColumnDef, OperationDef, ParamDef

from .loader import ERROR_CLASS_NAMES
from .model import RowType, ServiceModel

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
INDENT = "    "


def pystr(text: str) -> str:
    """A Python string literal in ruff's preferred quotes."""
    if '"' in text and "'" not in text:
        return repr(text)
    return json.dumps(text, ensure_ascii=False)


def pylit(value: Any, level: int = 0) -> str:
    """A Python literal for runtime model data, exploded one item per line."""
    pad = INDENT * (level + 1)
    end = INDENT * level
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        parts = []
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            default = f.default if f.default is not dataclasses.MISSING else None
            if f.default is not dataclasses.MISSING and v == default:
                continue
            if f.default_factory is not dataclasses.MISSING and v == f.default_factory():
                continue
            parts.append(f"{pad}{f.name}={pylit(v, level + 1)},")
        if not parts:
            return f"{type(value).__name__}()"
        return f"{type(value).__name__}(\n" + "\n".join(parts) + f"\n{end})"
    if isinstance(value, tuple):
        if not value:
            return "()"
        if len(value) == 1 and not dataclasses.is_dataclass(value[0]) and not isinstance(value[0], tuple):
            return f"({pylit(value[0], level)},)"  # ruff keeps a one-item tuple inline
        return "(\n" + "\n".join(f"{pad}{pylit(v, level + 1)}," for v in value) + f"\n{end})"
    if isinstance(value, str):
        return pystr(value)
    if isinstance(value, bool | int) or value is None:
        return repr(value)
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() else repr(value)
    raise TypeError(f"cannot render {type(value).__name__}")


def md(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    out = text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return out.replace("`", "\\`").replace("\n", " ").replace("*", "\\*").replace("_", "\\_")


def snake_to_const(name: str) -> str:
    return "_OP_" + name.upper()


def _param_type(p: ParamDef) -> str:
    base = {
        "int": "float",
        "decimal": "float",
        "date": "datetime.date | str",
        "time": "datetime.time | str",
        "text": "str",
        "flag": "bool",
        "latlon": "tuple[float, float] | str",
    }[p.type]
    if p.type == "int" and (p.choices or not p.unit):
        base = "int"  # ids, counts, flags: whole numbers; W/Wh/min take floats and are rounded
    return base


def _record_field_type(p: ParamDef) -> str:
    if p.type == "int" and not p.unit:
        return "int"
    return {
        "int": "float",
        "decimal": "float",
        "date": "datetime.date",
        "time": "datetime.time",
        "text": "str",
        "flag": "bool",
        "latlon": "tuple[float, float]",
    }[p.type]


_COL_PY = {
    "int": "int",
    "decimal": "float",
    "date": "datetime.date",
    "time": "datetime.time",
    "text": "str",
    "flag": "bool",
    "period": "str",
}


@dataclasses.dataclass
class _Arg:
    name: str
    key: str
    annotation: str
    default: str | None  # None = required positional


def _method_args(op: OperationDef, model: ServiceModel) -> list[_Arg]:
    args: list[_Arg] = []
    for p in op.params:
        ann = f"Sequence[{p.record}]" if p.type == "records" else _param_type(p)
        if p.required:
            args.append(_Arg(p.name, p.key, ann, None))
        elif p.type == "flag":
            args.append(_Arg(p.name, p.key, ann, "False"))
        else:
            args.append(_Arg(p.name, p.key, f"{ann} | None", "None"))
    return args


def _return_type(op: OperationDef) -> str:
    if op.reply.kind == "message":
        return "str"
    if op.reply.kind == "record":
        return op.reply.row
    return f"list[{op.reply.row}]"


def _column_expr(c: ColumnDef, fields: str, index: int) -> str:
    expr = f"col_{c.type}({fields}, {index})"
    return f"need({expr}, {pystr(c.name)})" if c.required else expr


def _parser_lines(row: RowType) -> list[str]:
    """Body lines of ``_parse_<row>(text)`` returning the row."""
    lines: list[str] = []
    if row.sections:
        lines.append(f"s = split_sections(text, {len(row.sections)})")
        exprs = [
            (c, _column_expr(c, f"s[{si}]", ci))
            for si, sec in enumerate(row.sections)
            for ci, c in enumerate(sec.columns)
        ]
    else:
        lines.append("f = split_fields(text)")
        exprs = [(c, _column_expr(c, "f", ci)) for ci, c in enumerate(row.columns)]
    lines.append(f"return {row.name}(")
    lines.extend(f"{INDENT}{c.name}={e}," for c, e in exprs)
    lines.append(")")
    return lines


def pydoc(text: str, indent: str) -> str:
    """A triple-quoted docstring for any spec text: backslashes and quotes are escaped, so
    the text can never close the string early (the loader already refused control characters)."""
    body = text.strip().replace("\\", "\\\\").replace('"', '\\"')
    lines = [line.rstrip() for line in body.split("\n")]
    if len(lines) == 1:
        return f'"""{lines[0]}"""'
    rest = "\n".join(f"{indent}{line}" if line else "" for line in lines[1:])
    return f'"""{lines[0]}\n{rest}\n{indent}"""'


def _doc_lines(text: str, what: str) -> str:
    return pydoc(text.strip() or what, INDENT)


def _method_doc(op: OperationDef) -> str:
    """The operation's doc, then one line per parameter: the wire key, unit and meaning."""
    lines = [op.doc.strip() or op.name]
    if op.params:
        lines.append("")
        for p in op.params:
            extra = ", ".join(x for x in (p.key, p.unit, "donation" if p.donation else "") if x)
            lines.append(f"{p.name} ({extra})" + (f": {p.doc}" if p.doc else ""))
    return pydoc("\n".join(lines), INDENT * 2)


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=False,  # noqa: S701 - output is Python/Markdown; values pass through pystr()/md()
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["pystr"] = pystr
    env.filters["md"] = md
    return env


def render_python(model: ServiceModel) -> str:
    svc = model.service
    ops = []
    for op in svc.operations:
        args = _method_args(op, model)
        ops.append(
            {
                "name": op.name,
                "const": snake_to_const(op.name),
                "doc": _method_doc(op),
                "positional": [a for a in args if a.default is None],
                "keyword": [a for a in args if a.default is not None],
                "returns": _return_type(op),
                "kind": op.reply.kind,
                "row": op.reply.row,
                "separator": pystr(op.reply.separator),
            }
        )
    records = []
    for rec in svc.records:
        records.append(
            {
                "name": rec.name,
                "doc": _doc_lines(model.record_doc(rec.name), rec.name),
                "fields": [
                    {
                        "name": f.name,
                        "annotation": _record_field_type(f) if f.required else f"{_record_field_type(f)} | None",
                        "default": None if f.required else "None",
                        "comment": " ".join(x for x in (f.key, f.unit) if x),
                    }
                    for f in rec.fields
                ],
            }
        )
    rows: list[dict[str, Any]] = []
    for row in model.rows:
        rows.append(
            {
                "name": row.name,
                "doc": _doc_lines(row.doc, row.name),
                "fields": [
                    {"name": c.name, "annotation": _COL_PY[c.type] if c.required else f"{_COL_PY[c.type]} | None"}
                    for c in row.all_columns()
                ],
                "parser": _parser_lines(row),
            }
        )
    backfill: dict[str, str] | None = None
    if model.backfill_operation:
        op = svc.operation(model.backfill_operation)
        batch_param = next(p for p in op.params if p.type == "records")
        flag = next(c.name for c in model.row(op.reply.row).all_columns() if c.type == "flag")
        backfill = {"op": op.name, "record": batch_param.record, "flag": flag}
    exports = sorted(
        [
            "SERVICE",
            "PVOutputClient",
            "Connection",
            "backfill",
            "BackfillReport",
            "AccountInfo",
            "RateInfo",
            "Reply",
            "RetryPolicy",
            *ERROR_NAMES,
            *[r.name for r in svc.records],
            *[r.name for r in model.rows],
        ],
        key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n),
    )
    literal = pylit(svc)
    candidates = ("ColumnDef", "Limits", "ParamDef", "RecordDef", "ReplyDef", "RowDef", "SectionDef", "ServiceDef")
    model_imports = sorted({"OperationDef", *(n for n in candidates if f"{n}(" in literal)})
    body = "\n".join(line for r in rows for line in r["parser"])
    value_imports = sorted(
        {n for n in ("need", "split_fields", "split_sections") if f"{n}(" in body}
        | {f"col_{t}" for t in _COL_PY if f"col_{t}(" in body}
    )
    text = (
        _env()
        .get_template("service_module.jinja")
        .render(
            model=model,
            header=header_lines(model),
            module_doc=pystr(f"{model.title}: typed client.\n\n{model.doc}".strip()),
            service_literal=literal,
            model_imports=model_imports,
            value_imports=value_imports,
            ops=ops,
            records=records,
            rows=rows,
            account=(model.account_operation, model.account_donation_column, model.account_interval_column),
            backfill=backfill,
            exports=exports,
            errors=sorted(ERROR_NAMES, key=str.lower),
        )
    )
    return text


ERROR_NAMES = ERROR_CLASS_NAMES


def header_lines(model: ServiceModel) -> tuple[str, str]:
    return (
        f"Code generated by pvgen from {model.source}. DO NOT EDIT.",
        f"Source sha256: {model.sha256}; regenerate with: pvgen",
    )


def _format_of(p: ParamDef) -> str:
    return {
        "int": "integer",
        "decimal": "decimal",
        "date": "yyyymmdd",
        "time": "hh:mm",
        "text": "text",
        "flag": "1",
        "latlon": "lat,lon",
        "records": f"{p.record} rows (`,` fields, `;` rows)",
    }[p.type]


def _limits_of(p: ParamDef) -> str:
    parts: list[str] = []
    if p.min is not None:
        parts.append(f"≥ {pylit(p.min)}")
    if p.max is not None:
        parts.append(f"≤ {pylit(p.max)}")
    if p.max_free is not None:
        parts.append(f"≤ {pylit(p.max_free)} (free)")
    if p.max_donation is not None:
        parts.append(f"≤ {pylit(p.max_donation)} (donation)")
    if p.max_len is not None:
        parts.append(f"≤ {p.max_len} chars")
    if p.choices:
        parts.append("one of " + ", ".join(p.choices))
    if p.aligned:
        parts.append("floored to the status interval")
    if p.type == "records":
        if p.batch_free:
            parts.append(f"≤ {p.batch_free} rows (free)")
        if p.batch_donation:
            parts.append(f"≤ {p.batch_donation} rows (donation)")
    return "; ".join(parts)


def render_markdown(model: ServiceModel) -> str:
    svc = model.service
    params_of = {
        op.name: [
            {
                "key": p.key,
                "name": p.name,
                "format": _format_of(p),
                "unit": p.unit,
                "limits": _limits_of(p),
                "required": "yes" if p.required else "",
                "donation": "yes" if p.donation else "",
                "doc": p.doc,
            }
            for p in op.params
        ]
        for op in svc.operations
    }
    col_format = {
        "int": "integer",
        "decimal": "decimal",
        "date": "yyyymmdd",
        "time": "hh:mm",
        "text": "text",
        "flag": "0/1",
        "period": "yyyymm/yyyy",
    }
    return (
        _env()
        .get_template("service_docs.jinja")
        .render(
            model=model,
            svc=svc,
            header=header_lines(model),
            params_of=params_of,
            col_format=col_format,
            separator_name={";": "`;`", ",": "`,`", "\n": "newline"},
        )
    )
