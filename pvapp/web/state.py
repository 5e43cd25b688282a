"""The monitor's live state, handed to the web server as a thread-safe snapshot.

:class:`WebOutput` is a monitor output (``pvapp.reading.Output``) marked
``inline``: the output runner calls it directly on the port thread with every
stored reading and every awake / asleep / lost change (a queue and a thread
wake-up per poll would cost more than the work), and it stores a reference to
the immutable reading in :class:`LiveState` under a lock held for
microseconds.  The web server's threads only ever read copies, and wait on a
condition for the next change (server-sent events), so an open page costs the
poller nothing but that hand-over.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pvapp.reading import InverterInfo, InverterState, Reading


@dataclass(slots=True)
class InverterLive:
    info: InverterInfo
    state: str = "waiting"  # awake | asleep | lost | waiting (not heard from since the start)
    state_since: datetime | None = None
    reading: Reading | None = None
    readings: int = 0  # readings received this run
    refused: dict[str, int] = field(default_factory=dict)  # field id -> readings with it refused


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    inverters: dict[str, InverterLive]  # copies; the Reading objects are immutable and shared
    started: datetime


class LiveState:
    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._inverters: dict[str, InverterLive] = {}
        self._version = 0
        self.started = now()

    def seed(self, info: InverterInfo, reading: Reading | None) -> None:
        """What the database knew at start-up: the last totals show at once, even at night."""
        with self._lock:
            if info.serial not in self._inverters:
                self._inverters[info.serial] = InverterLive(info=info, reading=reading)
                self._bump()

    def update_reading(self, reading: Reading) -> None:
        with self._lock:
            inv = self._inverters.get(reading.inverter.serial)
            if inv is None:
                inv = self._inverters[reading.inverter.serial] = InverterLive(info=reading.inverter)
            inv.info = reading.inverter
            inv.reading = reading
            inv.readings += 1
            if inv.state != "awake":
                inv.state, inv.state_since = "awake", reading.time
            for fid in reading.rejected:
                inv.refused[fid] = inv.refused.get(fid, 0) + 1
            self._bump()

    def update_state(self, info: InverterInfo, state: InverterState) -> None:
        with self._lock:
            inv = self._inverters.get(info.serial)
            if inv is None:
                inv = self._inverters[info.serial] = InverterLive(info=info)
            if inv.state != state:
                inv.state, inv.state_since = state, self._now()
            self._bump()

    def _bump(self) -> None:
        self._version += 1
        self._changed.notify_all()

    @property
    def version(self) -> int:
        return self._version

    def snapshot(self) -> Snapshot:
        with self._lock:
            copies = {
                k: InverterLive(
                    info=v.info,
                    state=v.state,
                    state_since=v.state_since,
                    reading=v.reading,
                    readings=v.readings,
                    refused=dict(v.refused),
                )
                for k, v in self._inverters.items()
            }
            return Snapshot(self._version, copies, self.started)

    def wait_change(self, version: int, timeout: float) -> int:
        """Block until the version differs from ``version`` (or ``timeout``); the new version."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._version == version:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return self._version

    def wake_all(self) -> None:
        """Wake every waiting stream (shutdown)."""
        with self._lock:
            self._changed.notify_all()


class WebOutput:
    """The monitor output that feeds :class:`LiveState` (runs in its own output-runner thread)."""

    name = "web"
    inline = True  # called on the port thread: a lock held for microseconds, no queue, no thread wake-up

    def __init__(self, live: LiveState) -> None:
        self.live = live

    def start(self) -> None:
        pass

    def publish(self, reading: Reading) -> None:
        self.live.update_reading(reading)

    def inverter_state(self, inverter: InverterInfo, state: InverterState) -> None:
        self.live.update_state(inverter, state)

    def stop(self) -> None:
        self.live.wake_all()


def reading_from_row(info: InverterInfo, row: dict[str, Any]) -> Reading:
    """A stored reading (``queries.decode_row``) as a ``Reading`` (no raw frame)."""
    return Reading(
        inverter=info,
        time=row["time"],
        values=row["values"],
        raw_frame=b"",
        mode=row["mode"],
        faults=tuple(row["faults"]),
        rejected=row["rejected"],
        id=row["id"],
    )
