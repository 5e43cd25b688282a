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
from datetime import UTC, datetime, timedelta
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
