"""What the local PVOutput service knows: systems, keys, scripted faults, requests received, replies."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pv.pvoutput import SERVICE

KeyMode = Literal["standard", "read_only", "disabled"]
FaultKind = Literal["http", "delay", "drop", "load_in_progress", "ignore_write"]


@dataclass
class System:
    """One PVOutput system: what the server knows and enforces about it."""

    system_id: int
    name: str = "Test System"
    size: int = 5000  # W
    donation: bool = False
    status_interval: int = 5
    tz: str = "Australia/Brisbane"
    latitude: float = -27.47
    longitude: float = 153.03
    postcode: str = "4000"
    panels: int = 20
    panel_power: int = 250
    panel_brand: str = "Solarfun"
    inverters: int = 1
    inverter_power: int = 5000
    inverter_brand: str = "Samil"
    orientation: str = "N"
    array_tilt: float = 20.0
    shade: str = "No"
    install_date: date = date(2012, 1, 1)
    tariffs: tuple[float, ...] = (0.08, 0.28, 0.15, 0.2, 0.25, 1.1)
    statuses: dict[tuple[date, time], dict[str, Any]] = field(default_factory=dict)
    outputs: dict[date, dict[str, Any]] = field(default_factory=dict)  # explicit addoutput fields

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)


@dataclass
class Key:
    key: str
    system_ids: set[int]
    mode: KeyMode = "standard"


@dataclass
class Fault:
    """A scripted misbehaviour for the next ``times`` matching requests."""

    kind: FaultKind
    status: int = 503
    body: str = "Service Unavailable 503: Service Unavailable"
    delay: float = 0.0
    path: str | None = None  # e.g. "addbatchstatus.jsp"; None = any
    times: int = 1


@dataclass(frozen=True)
class RequestRecord:
    """One request as received, for tests to check effects rather than return codes."""

    at: float
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]
    status: int
    body: str
    quota_used_before: int | None  # requests already counted this hour for the key


class Reply(Exception):
    def __init__(self, status: int, body: str, blocking: bool = False) -> None:
        super().__init__(body)
        self.status = status
        self.body = body
        self.blocking = blocking  # in a batch: refuses the whole batch instead of flagging the row


# A value too high for the system size refuses a whole batch: one INT_MAX reading
# blocked every later upload in sma-bluetooth#92.  Other row problems only flag the row.
BLOCKING = ("power_too_high", "energy_too_high", "value_too_high")


def err(kind: str, status: int = 400, **values: Any) -> Reply:
    return Reply(status, SERVICE.error_text(kind).format(**values), blocking=kind in BLOCKING)


class RateReply(Reply):
    def __init__(self, status: int, body: str, headers: dict[str, str]) -> None:
        super().__init__(status, body)
        self.headers = headers
