"""Simulated time: a wall clock that may run many times faster than real time.

Everything the simulated inverters do (sun position, energy counters,
sleeping at night) is a function of *simulated* time, so a whole day can be
run in seconds.  Line timing (reply latency, baud pacing, slow replies) stays
in *real* time, because that is what a client's read timeout measures.
Both clocks are injectable so tests can step simulated time by hand.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Protocol


class Clock(Protocol):
    """What the simulator needs from a clock: the current simulated time."""

    def now(self) -> datetime: ...


class ScaledClock:
    """Simulated time = start + (real time elapsed) x speed.

    ``speed`` may be changed while running; the simulated time stays
    continuous across the change (it is re-anchored at the current instant).

    ``max_leap`` (real seconds, default off) bounds how much real time counts
    between two readings of the clock: when the process stalls (a loaded CI
    machine), simulated time slows down instead of leaping ahead by
    stall x speed.  It suits a client polling back to back at a high speed; a
    client that sleeps between polls on purpose wants it off.
    """

    def __init__(
        self,
        start: datetime | None = None,
        speed: float = 1.0,
        *,
        tz: tzinfo | None = None,
        max_leap: float | None = None,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        if max_leap is not None and max_leap <= 0:
            raise ValueError(f"max_leap must be > 0, got {max_leap}")
        self.max_leap = max_leap
        if start is None:
            start = datetime.now(tz or UTC).astimezone(tz)
        elif start.tzinfo is None:
            start = start.replace(tzinfo=tz or datetime.now().astimezone().tzinfo)
        self._lock = threading.Lock()
        self._anchor_sim = start
        self._anchor_real = time.monotonic()
        self._last_real = self._anchor_real
        self._speed = float(speed)

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if value <= 0:
            raise ValueError(f"speed must be > 0, got {value}")
        with self._lock:
            now_real = time.monotonic()
            self._anchor_sim += timedelta(seconds=(now_real - self._anchor_real) * self._speed)
            self._anchor_real = now_real
            self._speed = float(value)

    def now(self) -> datetime:
        with self._lock:
            real = time.monotonic()
            if self.max_leap is not None and real - self._last_real > self.max_leap:
                # count only max_leap of the stall: shift the anchor by the rest
                self._anchor_real += real - self._last_real - self.max_leap
            self._last_real = real
            elapsed = (real - self._anchor_real) * self._speed
            return self._anchor_sim + timedelta(seconds=elapsed)

    def jump(self, to: datetime) -> None:
        """Move simulated time forward (never backward: energy counters are monotonic)."""
        with self._lock:
            now_real = time.monotonic()
            current = self._anchor_sim + timedelta(seconds=(now_real - self._anchor_real) * self._speed)
            if to.tzinfo is None:
                to = to.replace(tzinfo=current.tzinfo)
            if to < current:
                raise ValueError(f"cannot move simulated time backwards ({to.isoformat()} < {current.isoformat()})")
            self._anchor_sim = to
            self._anchor_real = now_real


class ManualClock:
    """A clock that only moves when told to; for deterministic tests."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0.0, **kw: float) -> datetime:
        delta = timedelta(seconds=seconds, **kw)
        if delta < timedelta(0):
            raise ValueError("a ManualClock only moves forward")
        self._now += delta
        return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            when = when.replace(tzinfo=self._now.tzinfo)
        if when < self._now:
            raise ValueError("a ManualClock only moves forward")
        self._now = when
