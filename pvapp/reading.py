"""What the monitor hands to storage and to every output.

This is the contract between the poller and the outputs (SQLite, PVOutput,
MQTT): outputs see only these objects, never a port or a client, so that a slow
or broken output can never reach back into polling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

InverterState = Literal["awake", "asleep", "lost"]


@dataclass(frozen=True, slots=True)
class InverterInfo:
    """Identity of one inverter, known after the handshake and version reply."""

    serial: str
    spec_id: str  # 'cms', 'samil', ...: the generated module pv.<spec_id>
    port: str
    address: int | None
    model: str = ""
    manufacturer: str = ""
    firmware: str = ""
    va_rating: str = ""


@dataclass(frozen=True, slots=True)
class Reading:
    """One accepted status poll of one inverter.

    ``values`` holds scaled values by field id (``pac``, ``e_total``...), with
    ``None`` for values the guards rejected; ``rejected`` says why for each.
    ``time`` is timezone-aware (UTC).
    """

    inverter: InverterInfo
    time: datetime
    values: dict[str, float | int | None]
    raw_frame: bytes
    mode: str = ""
    faults: tuple[str, ...] = ()
    rejected: dict[str, str] = field(default_factory=dict)
    id: int | None = None  # storage row id once stored


class Output(Protocol):
    """An output of the monitor.  ``publish`` must never block polling for long."""

    name: str

    def start(self) -> None: ...

    def publish(self, reading: Reading) -> None: ...

    def inverter_state(self, inverter: InverterInfo, state: InverterState) -> None: ...

    def stop(self) -> None: ...
