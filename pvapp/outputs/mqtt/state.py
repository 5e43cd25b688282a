"""What the output knows about each inverter between two messages.

Kept apart from the worker so that the rules for what a state message may
say (never a lifetime total lower than one already sent, never a time at or
before the last one sent) live in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pvapp.outputs import hass
from pvapp.reading import InverterInfo, InverterState, Reading
from pvgen.runtime.model import ProtocolSpec


@dataclass(frozen=True, slots=True)
class Announced:
    """What discovery was last sent for: the entities exist for exactly these fields."""

    spec: ProtocolSpec
    info: InverterInfo
    fields: frozenset[str]


@dataclass
class InverterBook:
    """One inverter as the output last described it to the broker."""

    serial: str
    announced: Announced | None = None
    state: InverterState | None = None  # availability last decided (awake / asleep / lost)
    last_time: datetime | None = None  # time of the last state message sent
    monotonic: dict[str, float | int] = field(default_factory=dict)  # highest lifetime counters sent
    totals: dict[str, float | int] = field(default_factory=dict)  # last accepted value of each total field
    spec: ProtocolSpec | None = None
    doc: dict[str, object] | None = None  # the last state document, sent again after every reconnect

    def document(self, spec: ProtocolSpec, reading: Reading) -> tuple[dict[str, object], int]:
        """The state document for ``reading`` and how many counters the guard withheld.

        Totals the reading lacks are carried from the last accepted ones, so the
        retained state never blanks a total Home Assistant's Energy dashboard sums.
        """
        skip = self.guard(spec, reading)
        for fid in hass.total_fields(spec):
            value = reading.values.get(fid)
            if value is not None and fid not in skip:
                self.totals[fid] = value
        doc = hass.state_payload(spec, reading, skip, carried=self.totals)
        self.spec, self.doc = spec, doc
        return doc, len(skip)

    def is_new(self, reading: Reading) -> bool:
        """False for a reading at or before the last one sent: a republish must not move the state back."""
        return self.last_time is None or reading.time > self.last_time

    def guard(self, spec: ProtocolSpec, reading: Reading) -> dict[str, str]:
        """Lifetime counters lower than the ones last sent, with why (HA would read a meter reset)."""
        skip: dict[str, str] = {}
        for f in spec.fields:
            if not f.monotonic:
                continue
            value = reading.values.get(f.id)
            if value is None:
                continue
            before = self.monotonic.get(f.id)
            if before is not None and value < before:
                skip[f.id] = f"decreased from {before} to {value}"
            else:
                self.monotonic[f.id] = value
        return skip
