"""Intermediate model of a service spec: the runtime ServiceDef plus what only rendering needs."""

from __future__ import annotations

from dataclasses import dataclass

from pvgen.runtime.pvoutput.model import RowDef, ServiceDef

RowType = RowDef


@dataclass(frozen=True)
class ServiceModel:
    id: str
    title: str
    doc: str
    source: str
    sha256: str
    service: ServiceDef
    record_docs: tuple[tuple[str, str], ...]
    account_operation: str
    account_donation_column: str
    account_interval_column: str
    backfill_operation: str
    header_files: tuple[str, ...] = ()  # the names the generated header shows (validated <id>.yaml)

    @property
    def rows(self) -> tuple[RowDef, ...]:
        return self.service.rows

    def row(self, name: str) -> RowDef:
        return self.service.row(name)

    def record_doc(self, name: str) -> str:
        return dict(self.record_docs).get(name, "")
