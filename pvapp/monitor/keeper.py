"""Storing readings when the database misbehaves: keep them, retry, say so once, give up visibly.

A full disk or a database turned read-only must neither lose readings that could
be kept nor fill the log (one line per poll is thousands a day) nor leave a
service that looks healthy while it records nothing.  So:

* a reading that cannot be stored is kept in memory, in order, and retried
  (at most every ``RETRY_EVERY`` seconds, and on every later reading); the
  memory is bounded (``max_backlog`` readings; beyond that the oldest go, counted);
* the episode is logged once when it starts and once when storage works again,
  with what was kept and what was lost; the episode is also recorded as an event
  in the database once it can be written again;
* ``failing_for`` tells the monitor how long it has been failing: its systemd
  status says so at once, and after ``retry_for`` seconds the monitor stops the
  watchdog pings and exits with status 1, so that systemd restarts it and the
  failure shows in ``systemctl status`` instead of hiding for months.

A reading refused as a duplicate (``IntegrityError``) is a bug upstream, not a
storage failure: it is logged and dropped, so it cannot block the ones after it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from pvapp.clock import Clock
from pvapp.reading import Reading
from pvapp.storage import SlotUpdate, Storage

log = logging.getLogger("pv.monitor")

RETRY_EVERY = 5.0  # real seconds between attempts while failing
MAX_BACKLOG = 10000  # readings kept in memory while storage fails (a few MB)


class StoreKeeper:
    def __init__(
        self,
        storage: Storage,
        *,
        clock: Clock,
        retry_for: float = 900.0,
        max_backlog: int = MAX_BACKLOG,
        retry_every: float = RETRY_EVERY,
    ) -> None:
        self.storage = storage
        self.clock = clock
        self.retry_for = retry_for
        self.retry_every = retry_every
        self.backlog: deque[tuple[Reading, Sequence[SlotUpdate]]] = deque()
        self.max_backlog = max_backlog
        self.lost = 0  # readings dropped from a full backlog, this episode
        self.lost_total = 0
        self.events_lost = 0
        self.error = ""
        self._since: float | None = None  # monotonic start of the failing episode
        self._since_clock: datetime | None = None
        self._last_try = 0.0
        self._lock = threading.RLock()

    # -- state ---------------------------------------------------------------------

    @property
    def failing(self) -> bool:
        return self._since is not None

    def failing_for(self) -> float:
        return 0.0 if self._since is None else time.monotonic() - self._since

    @property
    def gave_up(self) -> bool:
        return self._since is not None and self.failing_for() >= self.retry_for

    def status(self) -> str:
        """One line for systemd's status: empty while storage works."""
        if self._since is None:
            return ""
        left = max(0.0, self.retry_for - self.failing_for())
        return (
            f"STORAGE FAILING for {self.failing_for():.0f} s: {self.error}; {len(self.backlog)} reading(s) held in "
            f"memory, retrying; giving up in {left:.0f} s"
        )

    # -- writes --------------------------------------------------------------------

    def store(self, reading: Reading, slots: Sequence[SlotUpdate]) -> list[Reading]:
        """Store ``reading`` after anything held back; returns what was stored now, with row ids, in order."""
        with self._lock:
            if len(self.backlog) >= self.max_backlog:
                self.backlog.popleft()
                self.lost += 1
                self.lost_total += 1
                if self.lost == 1:
                    log.error(
                        "storage still failing: %d readings held in memory, the limit; dropping the oldest",
                        self.max_backlog,
                    )
            self.backlog.append((reading, slots))
            if self._since is not None and time.monotonic() - self._last_try < self.retry_every:
                return []
            return self._flush()

    def retry(self) -> list[Reading]:
        """Called regularly by the monitor: retry held readings, or probe when none are held."""
        with self._lock:
            if self._since is None or time.monotonic() - self._last_try < self.retry_every:
                return []
            if self.backlog:
                return self._flush()
            self._last_try = time.monotonic()
            try:
                self._record_episode()
            except Exception as exc:
                self._fail(exc)
                return []
            self._recovered(0)
            return []

    def final(self) -> tuple[list[Reading], int]:
        """At shutdown: one last attempt, whatever the timing; returns (stored, still held)."""
        with self._lock:
            stored = self._flush() if self.backlog else []
            return stored, len(self.backlog)

    def record_event(
        self, time_: datetime, kind: str, *, serial: str | None = None, port: str = "", detail: str = ""
    ) -> None:
        """Record an event; while storage fails events are counted, not kept (readings are)."""
        with self._lock:
            if self._since is not None:
                self.events_lost += 1
                return
            try:
                self.storage.record_event(time_, kind, serial=serial, port=port, detail=detail)
            except Exception as exc:
                self.events_lost += 1
                self._fail(exc)

    def _flush(self) -> list[Reading]:
        self._last_try = time.monotonic()
        stored: list[Reading] = []
        while self.backlog:
            reading, slots = self.backlog[0]
            try:
                row_id = self.storage.store_poll(reading, slots)
            except sqlite3.IntegrityError as exc:
                self.backlog.popleft()
                log.error("reading of %s at %s refused by the database: %s", reading.inverter.serial, reading.time, exc)
                continue
            except Exception as exc:
                self._fail(exc)
                break
            self.backlog.popleft()
            stored.append(replace(reading, id=row_id))
        else:
            if self._since is not None:
                held = len(stored)
                try:
                    self._record_episode()
                except Exception as exc:  # readings went in but an event does not: keep trying
                    self._fail(exc)
                    return stored
                self._recovered(held)
        return stored

    def _fail(self, exc: BaseException) -> None:
        text = str(exc) or type(exc).__name__
        if self._since is None:
            self._since = time.monotonic()
            self._since_clock = self.clock.now()
            self.error = text
            log.error(
                "cannot store readings in %s: %s; keeping them in memory and retrying for up to %.0f s "
                "(further failures are not logged until it works again)",
                self.storage.path,
                text,
                self.retry_for,
            )
        self.error = text

    def _record_episode(self) -> None:
        assert self._since_clock is not None
        self.storage.record_event(
            self.clock.now(),
            "storage",
            detail=f"could not write from {self._since_clock.isoformat()}: {self.error}; "
            f"{self.lost} reading(s) and {self.events_lost} event(s) lost",
        )

    def _recovered(self, held: int) -> None:
        log.info(
            "storage works again after %.0f s: %d reading(s) held in memory stored, %d lost, %d event(s) not recorded",
            self.failing_for(),
            held,
            self.lost,
            self.events_lost,
        )
        self._since = None
        self._since_clock = None
        self.lost = 0
        self.events_lost = 0
        self.error = ""
