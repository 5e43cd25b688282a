"""The monitor's notion of time: real, or sped up together with a simulator.

The monitor needs two things from a clock: the current time (to stamp readings
and pick PVOutput slots) and a way to wait until the next poll that a shutdown
can interrupt.  A sped-up clock lets a test or the built-in demo run two
simulated days in a minute.

``ScaledClock`` is anchored to the *Unix wall clock* rather than to a process's
monotonic start, on purpose: a monitor in one process, a simulator behind a
pseudo-terminal in another and a local PVOutput service in a third can all be
given the same ``start``/``speed``/``anchor`` triple and agree on the simulated
time to within a few real milliseconds.  The simulator's own clocks
(``pvapp.sim.clock``) only need ``now()``, which this class provides, so one
instance can be shared in-process as well.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """What the monitor needs: the time now, and an interruptible wait in clock seconds."""

    @property
    def speed(self) -> float: ...

    def now(self) -> datetime: ...

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        """Wait ``seconds`` of clock time; return True at once if ``stop`` is set."""
        ...


class SystemClock:
    """Real time."""

    speed = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(0.0, seconds))


class ScaledClock:
    """Clock time = ``start`` + (Unix time - ``anchor``) x ``speed``."""

    def __init__(self, start: datetime, speed: float, anchor: float | None = None) -> None:
        if start.tzinfo is None:
            raise ValueError("the clock's start time needs a time zone (e.g. 2026-06-01T05:00:00+10:00)")
        if not speed > 0:
            raise ValueError(f"clock speed must be > 0, got {speed}")
        self.start = start
        self.speed = float(speed)
        self.anchor = time.time() if anchor is None else float(anchor)

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.time() - self.anchor) * self.speed)

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(0.0, seconds) / self.speed)

    def spec(self) -> str:
        """The text form accepted by ``parse_clock`` (to hand the same clock to another process)."""
        return f"{self.start.isoformat()}*{self.speed:g}@{self.anchor:.6f}"


def parse_clock(text: str) -> Clock:
    """``real``, or ``START*SPEED[@ANCHOR]`` (ISO start with offset, speed factor, Unix anchor).

    Raises ValueError with a message fit for a one-line error.
    """
    text = text.strip()
    if text in ("", "real"):
        return SystemClock()
    start_text, star, rest = text.partition("*")
    if not star:
        raise ValueError(f"expected 'real' or START*SPEED[@ANCHOR], got {text!r}")
    speed_text, _, anchor_text = rest.partition("@")
    try:
        start = datetime.fromisoformat(start_text)
    except ValueError:
        raise ValueError(f"start {start_text!r} is not an ISO date-time") from None
    if start.tzinfo is None:
        raise ValueError(f"start {start_text!r} needs a UTC offset, e.g. {start_text}+00:00")
    try:
        speed = float(speed_text)
        anchor = float(anchor_text) if anchor_text else None
    except ValueError:
        raise ValueError(f"speed/anchor in {text!r} must be numbers") from None
    return ScaledClock(start, speed, anchor)


# -- the days a user may ask about ---------------------------------------------------

FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9998, 12, 31)
"""Days given on the command line or in a web query must lie in this range.

A day is turned into local midnight and the next local midnight, then into
UTC: for ``9999-12-31`` the next midnight does not exist, and for
``0001-01-01`` east of Greenwich the UTC instant does not (Python's
OverflowError).  A year of margin on either side keeps every neighbour that
the pages compute (the day before, the next month) representable; no solar
reading predates 1900.
"""


def day_problem(day: date) -> str | None:
    """Why ``day`` is outside the days ``pv`` handles, or None when it is inside."""
    if FIRST_DAY <= day <= LAST_DAY:
        return None
    return f"{day.isoformat()} is outside the days pv handles ({FIRST_DAY} to {LAST_DAY})"


def month_problem(year: int, month: int) -> str | None:
    if FIRST_DAY.year <= year <= LAST_DAY.year:
        return None
    return f"{year:04d}-{month:02d} is outside the months pv handles ({FIRST_DAY:%Y-%m} to {LAST_DAY:%Y-%m})"


def year_problem(year: int) -> str | None:
    if FIRST_DAY.year <= year <= LAST_DAY.year:
        return None
    return f"{year:04d} is outside the years pv handles ({FIRST_DAY.year} to {LAST_DAY.year})"
