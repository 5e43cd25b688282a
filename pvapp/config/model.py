"""What a loaded configuration is: frozen dataclasses, the demo's and listen ports' constants, the error.

Everything else in the package produces or checks these; the monitor, the CLI
and the web page only read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import Any

from pvapp.web.config import WebConfig

DEMO_PORT = "sim://cms"
LISTEN_SCHEME = "listen://"  # a port the inverters connect to (Samil TCP), instead of one we open
DEFAULT_LISTEN_PORT = 1200  # where Samil TCP units connect (REFERENCE 1.3)
DEFAULT_ADVERTISE = ("255.255.255.255", 1300)  # where they listen for "I AM SERVER"
DEMO_SPEED = 60.0
DEMO_START_HOUR = 7


class ConfigError(Exception):
    """A configuration problem; ``str()`` is the one line shown to the user."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"config error: {key}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True, slots=True)
class InverterConfig:
    spec: str
    serial: str | None  # None: take whichever inverter answers discover
    pvoutput_system: int | None
    name: str = ""
    rated_power: float | None = None  # W; None: the spec model's rating


@dataclass(frozen=True, slots=True)
class PortConfig:
    port: str  # device path, by-id path or pyserial URL
    spec: str
    inverters: tuple[InverterConfig, ...]
    timeout: float | None = None  # reply timeout, s; None: the spec's default
    key: str = "ports[0]"  # where it came from, for messages
    advertise: tuple[tuple[str, int], ...] = ()  # listen:// only: where the UDP advertisement goes

    @property
    def listen(self) -> bool:
        """True for a port the inverters connect to (``listen://HOST:PORT``)."""
        return self.port.startswith(LISTEN_SCHEME)


@dataclass(frozen=True, slots=True)
class PVOutputConfig:
    api_key: str | None = field(repr=False)  # a repr goes into logs and tracebacks
    host: str = "https://pvoutput.org"
    upload_interval: float = 300.0  # seconds between upload rounds
    status_interval: int | None = None  # minutes; None: read from getsystem
    donation: bool | None = None  # None: read from getsystem
    rate_reserve: int = 10  # requests per hour left for other apps sharing the key
    send_temperature: bool = True
    send_voltage: bool = True


@dataclass(frozen=True, slots=True)
class StorageConfig:
    path: Path
    synchronous: str = "FULL"
    retry_for: float = 900.0  # real seconds of failing writes before the monitor gives up


@dataclass(frozen=True, slots=True)
class Config:
    ports: tuple[PortConfig, ...]
    storage: StorageConfig
    timezone: tzinfo
    timezone_name: str
    poll_interval: float = 10.0
    asleep_after: float = 300.0
    pvoutput: PVOutputConfig | None = None
    mqtt: Mapping[str, Any] | None = None  # opaque; validated by pvapp.outputs.mqtt
    mqtt_config: Any = None  # what pvapp.outputs.mqtt.validate_config made of it
    clock: str = "real"
    source: str = ""  # the file it came from, or "built-in demo"
    demo: bool = False
    extra_outputs: tuple[str, ...] = field(default=())
    web: WebConfig = field(default_factory=WebConfig)  # the page and /metrics (pvapp.web)
    specs_dir: Path | None = None  # the user's own specs (PV_SPECS wins), see docs/user-specs.md

    @property
    def pvoutput_systems(self) -> dict[int, tuple[str, ...]]:
        """System id -> the keys (``ports[i].inverters[j]``) of the inverters it aggregates."""
        out: dict[int, list[str]] = {}
        for p in self.ports:
            for j, inv in enumerate(p.inverters):
                if inv.pvoutput_system is not None:
                    out.setdefault(inv.pvoutput_system, []).append(f"{p.key}.inverters[{j}]")
        return {k: tuple(v) for k, v in out.items()}
