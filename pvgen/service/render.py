"""Render a ServiceModel into the generated Python client module and the Markdown reference.

Every piece of spec text reaches the Python output only through ``pvgen.pysrc``
(``py_str`` literals, ``py_doc`` docstrings, data laid out by ``literal``) and the
Markdown only through ``md``, so a spec cannot inject code; nothing from the spec
is written into a comment.  The Python is the final text (the same layout
``ruff format`` gives), so rendering needs no formatter.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jinja2

from pvgen.pysrc import INDENT, assignment, py_doc, py_str
from pvgen.render import header_lines as _header_lines
from pvgen.runtime.pvoutput.model import ColumnDef, OperationDef, ParamDef

from .loader import ERROR_CLASS_NAMES
from .model import RowType, ServiceModel

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _class_names(value: Any) -> set[str]:
    """Names of the dataclasses a literal of ``value`` constructs (what the module must import)."""
    names: set[str] = set()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names.add(type(value).__name__)
        for f in dataclasses.fields(value):
            names |= _class_names(getattr(value, f.name))
    elif isinstance(value, tuple | list):
        for item in value:
            names |= _class_names(item)
    return names


def _num(value: float) -> str:
    """A limit as the reference shows it: whole numbers without a decimal point."""
    return repr(int(value)) if float(value).is_integer() else repr(value)


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
    return f"need({expr}, {py_str(c.name)})" if c.required else expr


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


def _doc_lines(text: str, what: str) -> str:
    return py_doc(text if text.strip() else what)


def _method_doc(op: OperationDef) -> str:
    """The operation's doc, then one line per parameter: the wire key, unit and meaning."""
    lines = [op.doc if op.doc.strip() else op.name]
    if op.params:
        lines.append("")
        for p in op.params:
            extra = ", ".join(x for x in (p.key, p.unit, "donation" if p.donation else "") if x)
            lines.append(f"{p.name} ({extra})" + (f": {p.doc}" if p.doc else ""))
    return py_doc(*lines, "", indent=INDENT * 2) if len(lines) > 1 else py_doc(*lines)


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=False,  # noqa: S701 - output is Python/Markdown; values pass through py_str()/md()
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["pystr"] = py_str
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
                "separator": py_str(op.reply.separator),
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
                        "doc": py_doc(f"{f.key} [{f.unit}]" if f.unit else f.key),
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
    literal = assignment("SERVICE", svc)
    candidates = ("ColumnDef", "Limits", "ParamDef", "RecordDef", "ReplyDef", "RowDef", "SectionDef", "ServiceDef")
    model_imports = sorted({"OperationDef", *(n for n in candidates if n in _class_names(svc))})
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
            module_doc=py_doc(f"{model.title}: typed client.", "", model.doc)
            if model.doc.strip(" ")
            else py_doc(f"{model.title}: typed client."),
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
    return _header_lines(model.header_files or (model.source,), model.sha256)


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
        parts.append(f"≥ {_num(p.min)}")
    if p.max is not None:
        parts.append(f"≤ {_num(p.max)}")
    if p.max_free is not None:
        parts.append(f"≤ {_num(p.max_free)} (free)")
    if p.max_donation is not None:
        parts.append(f"≤ {_num(p.max_donation)} (donation)")
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
