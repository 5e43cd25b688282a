"""The PVOutput service description as plain data, shared by client, fake service and docs.

The generated module ``pv.pvoutput`` carries one ``ServiceDef`` literal (``SERVICE``)
rendered from ``specs/pvoutput.yaml``.  Keeping the declaration as data at run time
is what lets the client and the local fake service validate with exactly the same
rules: if the two ever disagreed, tests against the fake would prove nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PARAM_TYPES = ("int", "decimal", "date", "time", "text", "flag", "records", "latlon")
COLUMN_TYPES = ("int", "decimal", "date", "time", "text", "flag", "period")


@dataclass(frozen=True, slots=True)
class ParamDef:
    """One request parameter (or one field of a batch record)."""

    key: str  # wire name, e.g. "v1"
    name: str  # Python name, e.g. "energy_generation"
    type: str  # one of PARAM_TYPES
    doc: str = ""
    unit: str = ""
    required: bool = False
    donation: bool = False  # only accepted from donation accounts
    min: float | None = None
    max: float | None = None  # hard limit, any account
    max_free: float | None = None  # server-side limit for free accounts (fake service; docs)
    max_donation: float | None = None  # server-side limit for donation accounts
    max_len: int | None = None
    aligned: bool = False  # time filed under the status interval (floored)
    choices: tuple[str, ...] = ()
    record: str = ""  # records type: name of the RecordDef
    batch_free: int = 0  # records type: rows per request for free accounts
    batch_donation: int = 0  # records type: rows per request for donation accounts
    donation_only_batch: bool = False  # records type: the whole batch form needs donation


@dataclass(frozen=True, slots=True)
class RecordDef:
    """A positional CSV record sent inside a ``records`` parameter (batch ``data``)."""

    name: str
    fields: tuple[ParamDef, ...]


@dataclass(frozen=True, slots=True)
class ColumnDef:
    """One column of a reply row."""

    name: str
    type: str  # one of COLUMN_TYPES
    doc: str = ""
    unit: str = ""
    required: bool = False


@dataclass(frozen=True, slots=True)
class SectionDef:
    """One ``;``-separated section of a sectioned reply (getsystem, day statistics)."""

    name: str
    columns: tuple[ColumnDef, ...]


@dataclass(frozen=True, slots=True)
class RowDef:
    """A reply row type: flat ``columns``, or ``sections`` flattened into one row."""

    name: str
    doc: str = ""
    columns: tuple[ColumnDef, ...] = ()
    sections: tuple[SectionDef, ...] = ()

    def all_columns(self) -> tuple[ColumnDef, ...]:
        if self.sections:
            return tuple(c for s in self.sections for c in s.columns)
        return self.columns


@dataclass(frozen=True, slots=True)
class ReplyDef:
    """How a reply body is shaped.

    ``message``: one ``OK 200: ...`` line.  ``record``: one row (a sectioned row is
    ``;``-separated sections).  ``records``: rows joined by ``separator``.
    """

    kind: str
    row: str = ""  # name of the RowDef
    separator: str = ";"
    empty_ok: bool = False  # an empty body is a valid (empty) reply


@dataclass(frozen=True, slots=True)
class OperationDef:
    """One typed call: a path, fixed parameters selecting a mode, parameters, reply."""

    name: str
    path: str  # e.g. "addstatus.jsp"
    methods: tuple[str, ...]
    write: bool
    doc: str
    params: tuple[ParamDef, ...]
    reply: ReplyDef
    fixed: tuple[tuple[str, str], ...] = ()
    donation: bool = False  # the whole operation needs donation
    rate_bucket: str = "default"  # "default" or "statistic"
    need_one_of: tuple[str, ...] = ()  # at least one of these keys must be sent
    need_one_of_donation: tuple[str, ...] = ()  # with donation these also satisfy need_one_of

    def param(self, key: str) -> ParamDef | None:
        for p in self.params:
            if p.key == key:
                return p
        return None


@dataclass(frozen=True, slots=True)
class Limits:
    """Account limits that both sides must agree on."""

    rate_free: int
    rate_donation: int
    statistic_rate_free: int
    statistic_rate_donation: int
    status_days_free: int
    status_days_donation: int
    delete_days_free: int
    delete_days_donation: int
    status_intervals: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ServiceDef:
    """The whole service: base path, limits, input records and operations."""

    id: str
    title: str
    base_path: str
    limits: Limits
    records: tuple[RecordDef, ...]
    operations: tuple[OperationDef, ...]
    rows: tuple[RowDef, ...] = ()
    errors: tuple[tuple[str, str], ...] = field(default=())  # (kind, exact server text template)

    def operation(self, name: str) -> OperationDef:
        for op in self.operations:
            if op.name == name:
                return op
        raise KeyError(name)

    def record(self, name: str) -> RecordDef:
        for rec in self.records:
            if rec.name == name:
                return rec
        raise KeyError(name)

    def row(self, name: str) -> RowDef:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    def paths(self) -> list[str]:
        return sorted({op.path for op in self.operations})

    def resolve(self, path: str, params: dict[str, str]) -> OperationDef | None:
        """Pick the operation a request means: same path, most matching fixed params."""
        best: OperationDef | None = None
        best_score = -1
        batch_keys = {p.key for op in self.operations if op.path == path for p in op.params if p.type == "records"}
        sent = any(k in params for k in batch_keys)  # a batch form was sent
        for op in self.operations:
            if op.path != path:
                continue
            if not all(params.get(k) == v for k, v in op.fixed):
                continue
            batch = any(p.type == "records" for p in op.params)
            score = 2 * len(op.fixed) + (1 if batch == sent else 0)
            if score > best_score:
                best, best_score = op, score
        return best

    def error_text(self, kind: str) -> str:
        for k, text in self.errors:
            if k == kind:
                return text
        raise KeyError(kind)
