"""Check a service spec and build the ServiceModel, reporting every problem with file, line and path.

All problems are collected before raising, so one run shows everything wrong.  The
file itself was read by the one spec loader (``pvgen.loader.read_spec``: limits,
text rules, ``meta.id`` equal to the file name); here names must be plain Python
names (full match, not keywords, not a name the generated module already uses).
Text needs no check of its own: the renderer emits it only through ``pvgen.pysrc``.
"""

from __future__ import annotations

import hashlib
import keyword
import re
from collections.abc import Sequence
from typing import Any

from pvgen.errors import PathPart, SpecError, SpecProblem, expected_keys
from pvgen.rules import NAME_RE
from pvgen.runtime.pvoutput.model import (
    COLUMN_TYPES,
    PARAM_TYPES,
    ColumnDef,
    Limits,
    OperationDef,
    ParamDef,
    RecordDef,
    ReplyDef,
    RowDef,
    SectionDef,
    ServiceDef,
)

from .model import ServiceModel

_IDENT = NAME_RE  # the id rules every spec shares (pvgen.rules); always full matches
_WIRE_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_PATH = re.compile(r"[a-z][a-z0-9_]*\.jsp")

TOP_KEYS = ("meta", "base_path", "limits", "errors", "account", "backfill", "records", "rows", "operations")
META_KEYS = ("id", "kind", "title", "doc")
LIMIT_KEYS = (
    "rate_free",
    "rate_donation",
    "statistic_rate_free",
    "statistic_rate_donation",
    "status_days_free",
    "status_days_donation",
    "delete_days_free",
    "delete_days_donation",
    "status_intervals",
)
PARAM_KEYS = (
    "key",
    "name",
    "type",
    "doc",
    "unit",
    "required",
    "donation",
    "min",
    "max",
    "max_free",
    "max_donation",
    "max_len",
    "aligned",
    "choices",
    "record",
    "batch_free",
    "batch_donation",
    "donation_only_batch",
)
COLUMN_KEYS = ("name", "type", "doc", "unit", "required")
OP_KEYS = (
    "path",
    "methods",
    "write",
    "doc",
    "params",
    "reply",
    "fixed",
    "donation",
    "rate_bucket",
    "need_one_of",
    "need_one_of_donation",
)
REPLY_KEYS = ("kind", "row", "separator", "empty_ok")
REPLY_KINDS = ("message", "record", "records")
ACCOUNT_KEYS = ("operation", "donation_column", "interval_column")
BACKFILL_KEYS = ("operation",)


# Names the generated module itself uses: a spec name equal to one would shadow it.
RESERVED_NAMES = frozenset(
    {"self", "values", "text", "rate", "datetime", "dataclass", "Sequence", "Any", "Literal", "Reply", "SERVICE"}
)
# BaseClient attributes: an operation with one of these names would replace the engine.
CLIENT_MEMBERS = frozenset(
    {
        "account",
        "backfill",
        "batch_size",
        "call",
        "clock",
        "donation",
        "encode",
        "host",
        "https",
        "now",
        "on_rate_limit",
        "quota_exhausted",
        "requests_sent",
        "retry",
        "session",
        "sleep",
        "slot",
        "status_interval",
        "status_window_days",
        "system_id",
        "timeout",
        "tz",
        "url",
    }
)


# Exception classes the generated module re-exports from pvgen.runtime.pvoutput.errors.
ERROR_CLASS_NAMES = (
    "AuthError",
    "CouldNotRead",
    "DateInFuture",
    "DateTooOld",
    "DonationRequired",
    "InvalidData",
    "LoadInProgress",
    "MethodNotAllowed",
    "MoonPowered",
    "NoStatusFound",
    "NoStatusesAdded",
    "PVOutputError",
    "RateLimited",
    "ReadOnlyKey",
    "Rejected",
    "ReplyFormatError",
    "ServiceUnavailable",
    "TooHighForSystemSize",
)
# Every class name the generated module imports or defines besides the spec's rows and records.
TAKEN_CLASS_NAMES = (
    *ERROR_CLASS_NAMES,
    "AccountInfo",
    "BackfillReport",
    "BaseClient",
    "ColumnDef",
    "Connection",
    "Limits",
    "OperationDef",
    "PVOutputClient",
    "ParamDef",
    "RateInfo",
    "RecordDef",
    "ReplyDef",
    "RetryPolicy",
    "RowDef",
    "SectionDef",
    "ServiceDef",
    # functions the module imports from the runtime
    "annotations",
    "backfill",
    "need",
    "split_fields",
    "split_sections",
    "col_int",
    "col_decimal",
    "col_date",
    "col_time",
    "col_text",
    "col_flag",
    "col_period",
)


class _Checker:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[SpecProblem] = []

    def add(self, line: int, path: Sequence[PathPart], message: str) -> None:
        self.problems.append(SpecProblem(self.file, line, tuple(path), message))

    @staticmethod
    def line(container: Any, key: PathPart) -> int:
        if isinstance(key, int) and hasattr(container, "lines") and isinstance(container.lines, list):
            return int(container.line_of(key))
        if isinstance(key, str) and hasattr(container, "line_of"):
            return int(container.line_of(key))
        return int(getattr(container, "line", 0))

    def mapping(
        self,
        value: Any,
        path: Sequence[PathPart],
        line: int,
        allowed: Sequence[str],
        required: Sequence[str] = (),
    ) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.add(line, path, f"expected a mapping, got {_kind(value)}")
            return None
        for key in value:
            if key not in allowed:
                self.add(
                    self.line(value, key),
                    (*path, key),
                    f"unknown key {key!r}; expected one of: {expected_keys(allowed)}",
                )
        for key in required:
            if key not in value:
                self.add(getattr(value, "line", line), path, f"missing required key {key!r}")
        return value

    def string(self, parent: Any, key: str, path: Sequence[PathPart], *, default: str | None = None) -> str:
        if key not in parent:
            return default if default is not None else ""
        value = parent[key]
        here = (*path, key)
        if not isinstance(value, str):
            self.add(self.line(parent, key), here, f"expected text, got {_kind(value)}")
            return default or ""
        return value

    def ident(
        self, parent: Any, key: PathPart, value: Any, path: Sequence[PathPart], what: str, reserved: Sequence[str] = ()
    ) -> str:
        if not isinstance(value, str) or not _IDENT.fullmatch(value) or keyword.iskeyword(value):
            self.add(
                self.line(parent, key), path, f"{what} must be a plain Python identifier (not a keyword), got {value!r}"
            )
            return ""
        if value in RESERVED_NAMES or value in reserved or value.startswith("__"):
            self.add(self.line(parent, key), path, f"{what} {value!r} is reserved by the generated code")
            return ""
        return value

    def boolean(self, parent: Any, key: str, path: Sequence[PathPart]) -> bool:
        if key not in parent:
            return False
        value = parent[key]
        if not isinstance(value, bool):
            self.add(self.line(parent, key), (*path, key), f"expected true or false, got {_kind(value)}")
            return False
        return value

    def number(self, parent: Any, key: str, path: Sequence[PathPart], *, integer: bool = False) -> float | None:
        if key not in parent:
            return None
        value = parent[key]
        ok = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok:
            want = "an integer" if integer else "a number"
            self.add(self.line(parent, key), (*path, key), f"expected {want}, got {_kind(value)}")
            return None
        result: float = value
        return result

    def str_list(self, parent: Any, key: str, path: Sequence[PathPart]) -> tuple[str, ...]:
        if key not in parent:
            return ()
        value = parent[key]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.add(self.line(parent, key), (*path, key), f"expected a list of text, got {_kind(value)}")
            return ()
        return tuple(value)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    return f"text {value!r}" if isinstance(value, str) else type(value).__name__


def _param(ck: _Checker, item: Any, path: Sequence[PathPart], line: int, records: set[str]) -> ParamDef | None:
    m = ck.mapping(item, path, line, PARAM_KEYS, ("key", "name", "type"))
    if m is None or not all(k in m for k in ("key", "name", "type")):
        return None
    key = m["key"]
    if not isinstance(key, str) or not _WIRE_KEY.fullmatch(key):
        ck.add(
            ck.line(m, "key"),
            (*path, "key"),
            f"wire key must be letters, digits and _ (starting with a letter), got {key!r}",
        )
    name = ck.ident(m, "name", m["name"], (*path, "name"), "name")
    ptype = m["type"]
    if ptype not in PARAM_TYPES:
        ck.add(
            ck.line(m, "type"),
            (*path, "type"),
            f"unknown type {ptype!r}; expected one of: {expected_keys(PARAM_TYPES)}",
        )
    record = ck.string(m, "record", path)
    if ptype == "records":
        if not record:
            ck.add(m.line, path, "a records parameter needs 'record'")  # type: ignore[attr-defined]
        elif record not in records:
            ck.add(
                ck.line(m, "record"),
                (*path, "record"),
                f"unknown record {record!r}; expected one of: {expected_keys(sorted(records))}",
            )
    elif record:
        ck.add(ck.line(m, "record"), (*path, "record"), "'record' is only for type records")
    choices = tuple(str(c) for c in m.get("choices", ()) or ()) if isinstance(m.get("choices", ()), list) else ()
    if "choices" in m and not isinstance(m["choices"], list):
        ck.add(ck.line(m, "choices"), (*path, "choices"), f"expected a list, got {_kind(m['choices'])}")
    for c in choices:
        if any(ch in c for ch in ",;\n"):
            ck.add(ck.line(m, "choices"), (*path, "choices"), f"choice {c!r} must not contain ',', ';' or a newline")
    mn, mx = ck.number(m, "min", path), ck.number(m, "max", path)
    if mn is not None and mx is not None and mn > mx:
        ck.add(ck.line(m, "min"), (*path, "min"), f"min {mn} is above max {mx}")
    max_len = ck.number(m, "max_len", path, integer=True)
    return ParamDef(
        key=str(key),
        name=name,
        type=str(ptype),
        doc=ck.string(m, "doc", path),
        unit=ck.string(m, "unit", path),
        required=ck.boolean(m, "required", path),
        donation=ck.boolean(m, "donation", path),
        min=mn,
        max=mx,
        max_free=ck.number(m, "max_free", path),
        max_donation=ck.number(m, "max_donation", path),
        max_len=int(max_len) if max_len is not None else None,
        aligned=ck.boolean(m, "aligned", path),
        choices=choices,
        record=record,
        batch_free=int(ck.number(m, "batch_free", path, integer=True) or 0),
        batch_donation=int(ck.number(m, "batch_donation", path, integer=True) or 0),
        donation_only_batch=ck.boolean(m, "donation_only_batch", path),
    )


def _params(ck: _Checker, value: Any, path: Sequence[PathPart], line: int, records: set[str]) -> tuple[ParamDef, ...]:
    if not isinstance(value, list):
        ck.add(line, path, f"expected a list, got {_kind(value)}")
        return ()
    out: list[ParamDef] = []
    seen_keys: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    for i, item in enumerate(value):
        p = _param(ck, item, (*path, i), ck.line(value, i), records)
        if p is None:
            continue
        for seen, attr in ((seen_keys, p.key), (seen_names, p.name)):
            if attr and attr in seen:
                ck.add(ck.line(value, i), (*path, i), f"{attr!r} already used by item {seen[attr]}")
            seen[attr] = i
        out.append(p)
    return tuple(out)


def _columns(ck: _Checker, value: Any, path: Sequence[PathPart], line: int) -> tuple[ColumnDef, ...]:
    if not isinstance(value, list) or not value:
        ck.add(line, path, f"expected a non-empty list of columns, got {_kind(value)}")
        return ()
    out: list[ColumnDef] = []
    for i, item in enumerate(value):
        here = (*path, i)
        m = ck.mapping(item, here, ck.line(value, i), COLUMN_KEYS, ("name", "type"))
        if m is None or "name" not in m or "type" not in m:
            continue
        name = ck.ident(m, "name", m["name"], (*here, "name"), "column name")
        if m["type"] not in COLUMN_TYPES:
            ck.add(
                ck.line(m, "type"),
                (*here, "type"),
                f"unknown type {m['type']!r}; expected one of: {expected_keys(COLUMN_TYPES)}",
            )
        out.append(
            ColumnDef(
                name=name,
                type=str(m["type"]),
                doc=ck.string(m, "doc", here),
                unit=ck.string(m, "unit", here),
                required=ck.boolean(m, "required", here),
            )
        )
    return tuple(out)


def load_service(doc: Any, source: str, data: bytes | None = None, header_files: tuple[str, ...] = ()) -> ServiceModel:
    """Validate ``doc`` (from pvgen.yamlsrc) and return the model, or raise SpecError."""
    ck = _Checker(source)
    top = ck.mapping(doc, (), 1, TOP_KEYS, ("meta", "base_path", "limits", "errors", "records", "rows", "operations"))
    if top is None:
        raise SpecError(ck.problems)

    meta = ck.mapping(top.get("meta"), ("meta",), ck.line(top, "meta"), META_KEYS, META_KEYS) or {}
    sid = meta.get("id")
    if sid is not None:
        ck.ident(meta, "id", sid, ("meta", "id"), "meta.id")
    if meta.get("kind", "service") != "service":
        ck.add(
            ck.line(meta, "kind"), ("meta", "kind"), f"this renderer handles kind 'service', got {meta.get('kind')!r}"
        )

    base_path = ck.string(top, "base_path", ())
    if base_path and not re.fullmatch(r"/([a-z0-9]+/)+", base_path):
        ck.add(ck.line(top, "base_path"), ("base_path",), f"base_path must look like /service/r2/, got {base_path!r}")

    lim = ck.mapping(top.get("limits"), ("limits",), ck.line(top, "limits"), LIMIT_KEYS, LIMIT_KEYS) or {}
    nums = {k: int(ck.number(lim, k, ("limits",), integer=True) or 0) for k in LIMIT_KEYS if k != "status_intervals"}
    intervals = lim.get("status_intervals", [])
    if not isinstance(intervals, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in intervals
    ):
        ck.add(ck.line(lim, "status_intervals"), ("limits", "status_intervals"), "expected a list of positive integers")
        intervals = [5]
    limits = Limits(status_intervals=tuple(intervals), **nums)

    errors: list[tuple[str, str]] = []
    err_map = top.get("errors")
    if isinstance(err_map, dict):
        for k, v in err_map.items():
            ck.ident(err_map, k, k, ("errors", k), "error kind")
            if not isinstance(v, str) or not re.match(r"^[A-Za-z][A-Za-z ]* \d{3}: ", v):
                ck.add(ck.line(err_map, k), ("errors", k), f"expected '<Reason> <code>: <text>', got {v!r}")
            else:
                errors.append((k, v))
    else:
        ck.add(ck.line(top, "errors"), ("errors",), f"expected a mapping, got {_kind(err_map)}")

    rec_map = top.get("records")
    records: list[RecordDef] = []
    record_docs: list[tuple[str, str]] = []
    rec_names = set(rec_map) if isinstance(rec_map, dict) else set()
    if isinstance(rec_map, dict):
        for rname, body in rec_map.items():
            here = ("records", rname)
            ck.ident(rec_map, rname, rname, here, "record name", TAKEN_CLASS_NAMES)
            m = ck.mapping(body, here, ck.line(rec_map, rname), ("doc", "fields"), ("fields",))
            if m is None:
                continue
            fields = _params(ck, m.get("fields"), (*here, "fields"), ck.line(m, "fields"), set())
            for f in fields:
                if f.type == "records":
                    ck.add(ck.line(m, "fields"), (*here, "fields"), "a record cannot contain records")
            records.append(RecordDef(rname, fields))
            record_docs.append((rname, ck.string(m, "doc", here)))
    else:
        ck.add(ck.line(top, "records"), ("records",), f"expected a mapping, got {_kind(rec_map)}")

    row_map = top.get("rows")
    rows: list[RowDef] = []
    if isinstance(row_map, dict):
        for rname, body in row_map.items():
            here = ("rows", rname)
            ck.ident(row_map, rname, rname, here, "row name", TAKEN_CLASS_NAMES)
            if rname in rec_names:
                ck.add(ck.line(row_map, rname), here, f"{rname!r} is already a record name")
            m = ck.mapping(body, here, ck.line(row_map, rname), ("doc", "columns", "sections"))
            if m is None:
                continue
            columns: tuple[ColumnDef, ...] = ()
            sections: list[SectionDef] = []
            if ("columns" in m) == ("sections" in m):
                ck.add(getattr(m, "line", 0), here, "give exactly one of 'columns' or 'sections'")
            elif "columns" in m:
                columns = _columns(ck, m["columns"], (*here, "columns"), ck.line(m, "columns"))
            else:
                secs = m["sections"]
                if not isinstance(secs, list) or not secs:
                    ck.add(ck.line(m, "sections"), (*here, "sections"), "expected a non-empty list of sections")
                    secs = []
                for i, sec in enumerate(secs):
                    sp = (*here, "sections", i)
                    sm = ck.mapping(sec, sp, ck.line(secs, i), ("name", "columns"), ("name", "columns"))
                    if sm is None or "name" not in sm or "columns" not in sm:
                        continue
                    sname = ck.ident(sm, "name", sm["name"], (*sp, "name"), "section name")
                    sections.append(
                        SectionDef(sname, _columns(ck, sm["columns"], (*sp, "columns"), ck.line(sm, "columns")))
                    )
            row = RowDef(rname, ck.string(m, "doc", here), columns, tuple(sections))
            names = [c.name for c in row.all_columns()]
            dupes = sorted({n for n in names if names.count(n) > 1 and n})
            if dupes:
                ck.add(getattr(m, "line", 0), here, f"column names used twice: {', '.join(dupes)}")
            rows.append(row)
    else:
        ck.add(ck.line(top, "rows"), ("rows",), f"expected a mapping, got {_kind(row_map)}")
    row_names = {r.name for r in rows}

    ops: list[OperationDef] = []
    op_map = top.get("operations")
    if isinstance(op_map, dict):
        for oname, body in op_map.items():
            here = ("operations", oname)
            ck.ident(op_map, oname, oname, here, "operation name", tuple(CLIENT_MEMBERS))
            if isinstance(oname, str) and oname.startswith("_"):
                ck.add(ck.line(op_map, oname), here, "operation names must not start with '_'")
            m = ck.mapping(
                body, here, ck.line(op_map, oname), OP_KEYS, ("path", "methods", "write", "doc", "params", "reply")
            )
            if m is None or not all(k in m for k in ("path", "methods", "params", "reply")):
                continue
            path = ck.string(m, "path", here)
            if path and not _PATH.fullmatch(path):
                ck.add(ck.line(m, "path"), (*here, "path"), f"path must look like name.jsp, got {path!r}")
            methods = ck.str_list(m, "methods", here)
            for meth in methods:
                if meth not in ("GET", "POST"):
                    ck.add(ck.line(m, "methods"), (*here, "methods"), f"method must be GET or POST, got {meth!r}")
            params = _params(ck, m["params"], (*here, "params"), ck.line(m, "params"), rec_names)
            keys = {p.key for p in params}
            fixed: list[tuple[str, str]] = []
            fx = m.get("fixed", {})
            if not isinstance(fx, dict):
                ck.add(ck.line(m, "fixed"), (*here, "fixed"), f"expected a mapping, got {_kind(fx)}")
            else:
                for k, v in fx.items():
                    plain = isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9]+", v)
                    if not plain or not _WIRE_KEY.fullmatch(str(k)):
                        ck.add(ck.line(fx, k), (*here, "fixed", k), f"fixed values must be short plain text, got {v!r}")
                    elif k in keys:
                        ck.add(ck.line(fx, k), (*here, "fixed", k), f"{k!r} is also a parameter")
                    else:
                        fixed.append((str(k), v))
            rm = ck.mapping(m["reply"], (*here, "reply"), ck.line(m, "reply"), REPLY_KEYS, ("kind",)) or {}
            kind = rm.get("kind", "message")
            if kind not in REPLY_KINDS:
                ck.add(
                    ck.line(rm, "kind"),
                    (*here, "reply", "kind"),
                    f"unknown reply kind {kind!r}; expected one of: {expected_keys(REPLY_KINDS)}",
                )
            row_name = ck.string(rm, "row", (*here, "reply"))
            if kind in ("record", "records") and row_name not in row_names:
                ck.add(
                    ck.line(rm, "row"),
                    (*here, "reply", "row"),
                    f"unknown row {row_name!r}; expected one of: {expected_keys(sorted(row_names))}",
                )
            if kind == "message" and row_name:
                ck.add(ck.line(rm, "row"), (*here, "reply", "row"), "a message reply has no row")
            sep = ck.string(rm, "separator", (*here, "reply"), default=";")
            if sep not in (";", ",", "\n"):
                ck.add(
                    ck.line(rm, "separator"),
                    (*here, "reply", "separator"),
                    f"separator must be ';', ',' or a newline, got {sep!r}",
                )
            bucket = ck.string(m, "rate_bucket", here, default="default")
            if bucket not in ("default", "statistic"):
                ck.add(
                    ck.line(m, "rate_bucket"),
                    (*here, "rate_bucket"),
                    f"rate_bucket must be default or statistic, got {bucket!r}",
                )
            one_of = ck.str_list(m, "need_one_of", here)
            one_of_d = ck.str_list(m, "need_one_of_donation", here)
            for k in (*one_of, *one_of_d):
                if k not in keys:
                    ck.add(
                        ck.line(m, "need_one_of"),
                        (*here, "need_one_of"),
                        f"{k!r} is not a parameter key of this operation",
                    )
            write = m.get("write")
            if not isinstance(write, bool):
                ck.add(ck.line(m, "write"), (*here, "write"), f"expected true or false, got {_kind(write)}")
            ops.append(
                OperationDef(
                    name=oname,
                    path=path,
                    methods=methods,
                    write=bool(write),
                    doc=ck.string(m, "doc", here),
                    params=params,
                    reply=ReplyDef(
                        kind=str(kind),
                        row=row_name,
                        separator=sep,
                        empty_ok=ck.boolean(rm, "empty_ok", (*here, "reply")),
                    ),
                    fixed=tuple(fixed),
                    donation=ck.boolean(m, "donation", here),
                    rate_bucket=bucket,
                    need_one_of=one_of,
                    need_one_of_donation=one_of_d,
                )
            )
    else:
        ck.add(ck.line(top, "operations"), ("operations",), f"expected a mapping, got {_kind(op_map)}")
    op_names = {o.name for o in ops}

    acc = ck.mapping(top.get("account", {}), ("account",), ck.line(top, "account"), ACCOUNT_KEYS) or {}
    acc_op = ck.string(acc, "operation", ("account",))
    acc_don = ck.string(acc, "donation_column", ("account",))
    acc_int = ck.string(acc, "interval_column", ("account",))
    if acc_op:
        if acc_op not in op_names:
            ck.add(ck.line(acc, "operation"), ("account", "operation"), f"unknown operation {acc_op!r}")
        else:
            acc_def = next(o for o in ops if o.name == acc_op)
            cols = {c.name for r in rows if r.name == acc_def.reply.row for c in r.all_columns()}
            for k, col in (("donation_column", acc_don), ("interval_column", acc_int)):
                if col not in cols:
                    ck.add(
                        ck.line(acc, k),
                        ("account", k),
                        f"{col!r} is not a column of {acc_def.reply.row or 'its reply'}",
                    )
    bf = ck.mapping(top.get("backfill", {}), ("backfill",), ck.line(top, "backfill"), BACKFILL_KEYS) or {}
    bf_op = ck.string(bf, "operation", ("backfill",))
    if bf_op:
        op = next((o for o in ops if o.name == bf_op), None)
        if op is None:
            ck.add(ck.line(bf, "operation"), ("backfill", "operation"), f"unknown operation {bf_op!r}")
        elif not any(p.type == "records" for p in op.params) or op.reply.kind != "records":
            ck.add(
                ck.line(bf, "operation"),
                ("backfill", "operation"),
                f"{bf_op!r} must take records and reply with records",
            )

    if ck.problems:
        raise SpecError(ck.problems)
    service = ServiceDef(
        id=str(sid),
        title=str(meta.get("title", "")),
        base_path=base_path,
        limits=limits,
        records=tuple(records),
        operations=tuple(ops),
        rows=tuple(rows),
        errors=tuple(errors),
    )
    digest = hashlib.sha256(data).hexdigest() if data is not None else ""
    return ServiceModel(
        id=str(sid),
        title=str(meta.get("title", "")),
        doc=str(meta.get("doc", "")),
        source=source,
        sha256=digest,
        service=service,
        record_docs=tuple(record_docs),
        account_operation=acc_op,
        account_donation_column=acc_don,
        account_interval_column=acc_int,
        backfill_operation=bf_op,
        header_files=header_files,
    )
