"""Simulator options: one table, read from a ``sim://`` URL query or from the command line.

Keeping a single table means the URL handler, ``pv simulate`` and the docs
cannot drift apart: every option has one name, one parser and one help text.
Bad values raise ``OptionError`` with a one-line message naming the option,
which the CLI prints (exit 2) and the URL handler turns into a SerialException.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

from .faults import FaultSpec, parse_fault


class OptionError(ValueError):
    """A simulator option has a bad value; the message is one line and names the option."""


def _int_range(lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text, 0)
        except ValueError:
            raise ValueError(f"expected an integer, got {text!r}") from None
        if not lo <= value <= hi:
            raise ValueError(f"must be between {lo} and {hi}, got {value}")
        return value

    return parse


def _float_range(lo: float, hi: float | None) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
        if not lo <= value <= (float("inf") if hi is None else hi) or value == float("inf"):
            bound = f"between {lo:g} and {hi:g}" if hi is not None else f"at least {lo:g}"
            raise ValueError(f"must be {bound}, got {text}")
        return value

    return parse


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"must be a positive number, got {text}")
    return value


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on", ""):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected 1/0, yes/no or true/false, got {text!r}")


def parse_tz(text: str) -> tzinfo:
    """'local', 'UTC', 'Z' or an offset like '+10:00' / '-0330'."""
    low = text.strip().lower()
    if low == "local":
        tz = datetime.now().astimezone().tzinfo
        assert tz is not None
        return tz
    if low in ("utc", "z"):
        return UTC
    m = re.fullmatch(r"([+-])(\d{1,2}):?(\d{2})?", text.strip())
    if not m:
        raise ValueError(f"expected 'local', 'UTC' or an offset like +10:00, got {text!r}")
    hours, minutes = int(m.group(2)), int(m.group(3) or 0)
    if hours > 14 or minutes > 59:
        raise ValueError(f"offset out of range: {text!r}")
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if m.group(1) == "-" else delta)


START_NOW = "now"


def _start(text: str) -> datetime | str:
    if text.strip().lower() == START_NOW:
        return START_NOW
    try:
        return datetime.fromisoformat(text.strip().replace(" ", "T"))
    except ValueError:
        raise ValueError(f"expected an ISO time like 2026-12-21T05:30, or 'now', got {text!r}") from None


def _latency(text: str) -> tuple[float, float]:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:-\s*(\d+(?:\.\d+)?)\s*)?", text)
    if not m:
        raise ValueError(f"expected milliseconds like 80 or a range like 60-110, got {text!r}")
    lo = float(m.group(1))
    hi = float(m.group(2)) if m.group(2) else lo
    if hi < lo:
        raise ValueError(f"range upper bound is below the lower one: {text!r}")
    return lo, hi


def unescape(text: str) -> str:
    r"""``\xNN`` escapes to the bytes they name: how a hostile device's text is written in an option."""
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), text)


def _one_byte_text(text: str, what: str) -> str:
    if "\0" in text or any(ord(c) > 0xFF for c in text):
        raise ValueError(f"{what} {text!r} must be single bytes without NUL (write controls as \\xNN)")
    return text


def _serials(text: str) -> tuple[str, ...]:
    items = tuple(unescape(s.strip()) for s in text.split(",") if s.strip())
    if not items:
        raise ValueError("expected a comma-separated list of serial numbers")
    for s in items:
        _one_byte_text(s, "serial")
    if len(set(items)) != len(items):
        raise ValueError("serial numbers must be distinct")
    return items


def _version_text(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"expected FIELD:TEXT, e.g. model:SolarRiver, got {text!r}")
    return name, _one_byte_text(unescape(value), f"version field {name}")


def _awake(text: str) -> str:
    low = text.strip().lower()
    if low not in ("sun", "always"):
        raise ValueError(f"expected 'sun' or 'always', got {text!r}")
    return low


@dataclass(frozen=True, slots=True)
class Option:
    name: str  # attribute and URL query name
    parse: Callable[[str], Any]
    metavar: str
    help: str
    repeat: bool = False  # may be given several times (faults)
    flag: bool = False  # CLI switch without a value


OPTIONS: tuple[Option, ...] = (
    Option("model", str, "ID", "model of the spec to simulate (default: the spec's first model)"),
    Option("inverters", _int_range(1, 254), "N", "number of inverters on the line (default 1)"),
    Option("serials", _serials, "SN,SN", "serial numbers, comma-separated (default: derived from the model's)"),
    Option("speed", _positive_float, "X", "simulated seconds per real second (default 1)"),
    Option(
        "max_leap",
        _float_range(0.001, 3600.0),
        "SECONDS",
        "count at most this much real time between two requests (stalls slow simulated time; default off)",
    ),
    Option(
        "start",
        _start,
        "ISO-TIME|now",
        "simulated start time; without offset it is in --tz (default: now if the simulated sun is up, else 12:00 "
        "today, so that it answers at any hour; 'now': follow the real clock, nights included)",
    ),
    Option("tz", parse_tz, "TZ", "time zone of the simulated site: local, UTC or +HH:MM (default local)"),
    Option("seed", _int_range(0, 2**63 - 1), "N", "seed for clouds, grid noise and random faults (default 0)"),
    Option("latitude", _float_range(-66.0, 66.0), "DEG", "site latitude, sets day length (default -33.87)"),
    Option("clouds", _float_range(0.0, 1.0), "0..1", "cloudiness: 0 clear sky, 1 heavy cloud (default 0.4)"),
    Option("awake", _awake, "sun|always", "'sun': asleep at night (default); 'always': never sleeps"),
    Option("latency", _latency, "MS[-MS]", "reply latency in real ms, fixed or a range; real units: 60-110"),
    Option("baud_pacing", _bool, "0|1", "send replies at the line's baud rate (10 bits per byte)", flag=True),
    Option("baud", _int_range(50, 4_000_000), "BAUD", "baud rate for pacing (default: the spec's, 9600)"),
    Option("stale_etoday", _float_range(0.0, 600.0), "MIN", "keep reporting yesterday's E-Today this long after dawn"),
    Option("e_total", _float_range(0.0, None), "KWH", "E-Total of the first inverter at start (default 1500)"),
    Option("h_total", _float_range(0.0, None), "H", "h-Total of the first inverter at start (default 4000)"),
    Option("fault", parse_fault, "KIND[:ARG]", "inject a fault (repeatable); see docs/simulator.md", repeat=True),
    Option(
        "version_text",
        _version_text,
        "FIELD:TEXT",
        "replace one text field of the version reply (repeatable; \\xNN for any byte: a hostile device)",
        repeat=True,
    ),
    Option("record", str, "PATH", "append every status served, with its values, to this JSONL file"),
)

OPTION_NAMES = tuple(o.name for o in OPTIONS)


@dataclass(slots=True)
class SimOptions:
    """Everything that shapes a simulator (transports are configured separately)."""

    spec: str = "cms"
    model: str | None = None
    inverters: int = 1
    serials: tuple[str, ...] = ()
    speed: float = 1.0
    max_leap: float | None = None
    start: datetime | str | None = None  # None: daytime (now or 12:00); "now": the real clock
    tz: tzinfo | None = None
    seed: int = 0
    latitude: float = -33.87
    clouds: float = 0.4
    awake: str = "sun"
    latency: tuple[float, float] = (0.0, 0.0)
    baud_pacing: bool = False
    baud: int | None = None
    stale_etoday: float = 0.0
    e_total: float = 1500.0
    h_total: float = 4000.0
    fault: list[FaultSpec] = field(default_factory=list)
    version_text: list[tuple[str, str]] = field(default_factory=list)
    record: str | None = None

    def __post_init__(self) -> None:
        if self.serials and len(self.serials) != self.inverters:
            raise OptionError(f"serials: {len(self.serials)} given for {self.inverters} inverter(s)")

    @classmethod
    def from_pairs(cls, spec: str, pairs: Mapping[str, Sequence[str]]) -> SimOptions:
        """Build from name -> raw values (URL query or argparse strings)."""
        by_name = {o.name: o for o in OPTIONS}
        kwargs: dict[str, Any] = {}
        for raw_name, values in pairs.items():
            name = raw_name.replace("-", "_")
            opt = by_name.get(name)
            if opt is None:
                raise OptionError(f"unknown option {raw_name!r} (known: {', '.join(OPTION_NAMES)})")
            parsed = []
            for text in values:
                try:
                    parsed.append(opt.parse(text))
                except ValueError as exc:
                    raise OptionError(f"option {opt.name}={text!r}: {exc}") from None
            if opt.repeat:
                kwargs[name] = parsed
            else:
                if len(parsed) > 1:
                    raise OptionError(f"option {opt.name} given {len(parsed)} times")
                kwargs[name] = parsed[0]
        if "serials" in kwargs and "inverters" not in kwargs:
            kwargs["inverters"] = len(kwargs["serials"])
        try:
            return cls(spec=spec, **kwargs)
        except OptionError:
            raise

    def describe(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}
