"""Faults on demand: what a real line and a real inverter do to a client on a bad day.

Line faults act on one reply on its way out (dropped, checksum corrupted,
truncated, garbage before it, slow, split across reads, and two quirks seen on
Samil lines: the checksum off by a tolerated +0x100, one stray byte after the
frame).  They can be armed
for the next N replies (deterministic, for tests) or given a probability
(seeded, for soak runs).  Device faults (Fault mode with error bits, wild
values) live on the inverter; the port vanishing lives on the transports,
which watch ``FaultPlan.vanished``.
"""

from __future__ import annotations

import contextlib
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

LINE_FAULTS = ("drop", "corrupt", "truncate", "garbage", "slow", "split", "slack", "trailer")
DEVICE_FAULTS = ("error", "wild")
PORT_FAULTS = ("vanish",)
FAULT_KINDS = LINE_FAULTS + DEVICE_FAULTS + PORT_FAULTS

DEFAULT_SLOW_SECONDS = 1.5  # longer than the usual 1 s read timeout, shorter than a poll interval
DEFAULT_SPLIT_GAP = 0.05  # pause between the two halves of a split reply (real seconds)


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """One ``--fault`` / ``fault=`` item: ``KIND[:ARG][@PROBABILITY]``."""

    kind: str
    arg: str | None = None
    probability: float = 1.0


def parse_fault(text: str) -> FaultSpec:
    """Parse ``KIND[:ARG][@P]``; raise ValueError with a one-line reason."""
    m = re.fullmatch(r"\s*([a-z_]+)(?::([^@]*))?(?:@([0-9.]+))?\s*", text)
    if not m:
        raise ValueError(f"expected KIND[:ARG][@PROBABILITY], got {text!r}")
    kind, arg, prob = m.group(1), m.group(2), m.group(3)
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r} (known: {', '.join(FAULT_KINDS)})")
    p = 1.0
    if prob is not None:
        try:
            p = float(prob)
        except ValueError:
            raise ValueError(f"bad probability {prob!r}") from None
        if not 0.0 < p <= 1.0:
            raise ValueError(f"probability must be in (0, 1], got {prob}")
        if kind not in LINE_FAULTS:
            raise ValueError(f"fault {kind!r} takes no probability")
    if kind in ("drop", "corrupt", "truncate", "garbage", "split", "slack", "trailer") and arg:
        raise ValueError(f"fault {kind!r} takes no argument (use {kind}@P for a probability)")
    if kind == "slow" and arg:
        _seconds(arg, "slow")
    if kind == "error":
        if not arg:
            raise ValueError("fault 'error' needs the error bits, e.g. error:0x200")
        try:
            if int(arg, 0) < 0:
                raise ValueError
        except ValueError:
            raise ValueError(f"fault 'error': bad error bits {arg!r}") from None
    if kind == "wild":
        if not arg:
            raise ValueError("fault 'wild' needs a field id, e.g. wild:pac or wild:e_total=0x7fffffff")
        if "=" in arg:
            try:
                int(arg.split("=", 1)[1], 0)
            except ValueError:
                raise ValueError(f"fault 'wild': bad raw value in {arg!r}") from None
    if kind == "vanish":
        if not arg:
            raise ValueError("fault 'vanish' needs AFTER[,FOR] in seconds, e.g. vanish:30,10")
        parts = arg.split(",")
        if len(parts) > 2:
            raise ValueError(f"fault 'vanish': expected AFTER[,FOR], got {arg!r}")
        for part in parts:
            _seconds(part, "vanish")
    return FaultSpec(kind, arg or None, p)


def _seconds(text: str, kind: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"fault {kind!r}: expected seconds, got {text!r}") from None
    if not 0 <= value < 86400:
        raise ValueError(f"fault {kind!r}: seconds out of range: {text}")
    return value


class FaultPlan:
    """Which line faults hit the next replies, and whether the port is currently gone."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed ^ 0x5EED)
        self._once: dict[str, int] = {}
        self._rates: dict[str, float] = {}
        self.slow_seconds = DEFAULT_SLOW_SECONDS
        self.split_gap = DEFAULT_SPLIT_GAP
        self._vanished = False
        self.generation = 0  # bumps on every vanish: ports opened before are dead for good
        self._listeners: list[Callable[[bool], None]] = []

    # -- arming ---------------------------------------------------------------
    def once(self, kind: str, count: int = 1) -> None:
        """Apply ``kind`` to each of the next ``count`` replies."""
        self._check(kind)
        with self._lock:
            self._once[kind] = self._once.get(kind, 0) + count

    def set_rate(self, kind: str, probability: float) -> None:
        """Apply ``kind`` to each reply with this probability (0 disables)."""
        self._check(kind)
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"probability must be in [0, 1], got {probability}")
        with self._lock:
            if probability:
                self._rates[kind] = probability
            else:
                self._rates.pop(kind, None)

    def clear(self) -> None:
        with self._lock:
            self._once.clear()
            self._rates.clear()

    @staticmethod
    def _check(kind: str) -> None:
        if kind not in LINE_FAULTS:
            raise ValueError(f"{kind!r} is not a line fault (line faults: {', '.join(LINE_FAULTS)})")

    def choose(self) -> frozenset[str]:
        """The faults that hit the reply being sent now (consumes one-shot faults)."""
        with self._lock:
            chosen = set()
            for kind in LINE_FAULTS:
                if self._once.get(kind, 0) > 0:
                    self._once[kind] -= 1
                    chosen.add(kind)
                elif kind in self._rates and self._rng.random() < self._rates[kind]:
                    chosen.add(kind)
            return frozenset(chosen)

    def garbage(self, sync: bytes) -> bytes:
        """A few random bytes that cannot be mistaken for the start of a frame."""
        with self._lock:
            n = self._rng.randint(3, 16)
            avoid = set(sync)
            return bytes(b for b in (self._rng.randrange(256) for _ in range(n * 2)) if b not in avoid)[:n] or b"\x00"

    # -- the port vanishing ---------------------------------------------------
    @property
    def vanished(self) -> bool:
        return self._vanished

    def on_vanish(self, callback: Callable[[bool], None]) -> None:
        """``callback(gone)`` runs on every vanish (True) and restore (False)."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[bool], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(callback)

    def vanish(self) -> None:
        """The device disappears (USB adapter unplugged): open ports fail, new opens fail."""
        with self._lock:
            if self._vanished:
                return
            self._vanished = True
            self.generation += 1
        for cb in list(self._listeners):
            cb(True)

    def restore(self) -> None:
        """The device is back; clients must reopen it (old handles stay dead, as with real USB)."""
        with self._lock:
            if not self._vanished:
                return
            self._vanished = False
        for cb in list(self._listeners):
            cb(False)
