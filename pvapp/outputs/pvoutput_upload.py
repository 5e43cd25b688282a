"""Drain the durable PVOutput queue in the database, on its own interval and thread.

The uploader never sees readings in memory: the poll transaction has already
written the status slot each reading feeds, so the queue survives crashes,
outages and restarts.  Each round, per system:

1. on the first round (and after every restart) ask PVOutput for its latest
   status and mark every queued slot up to it as sent: a crash between
   PVOutput's reply and our commit must not make us send those again;
2. learn the system's status interval and donation state (getsystem, cached
   by the client) and send only slots that have closed;
3. send the backlog oldest first with add-batch-status (30 per request, 100
   with donation), within the 14/90-day window, keeping ``rate_reserve``
   requests of the hourly budget for other apps on the same key; on the rate
   limit stop and come back after the reset rather than sleeping inside;
4. record each slot's outcome: sent, rejected with PVOutput's words (a 400 is
   never retried), or still pending (network down, quota used up).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from datetime import tzinfo as TzInfo
from typing import Any

from pvapp.clock import Clock
from pvapp.config import PVOutputConfig
from pvapp.storage import QueuedStatus, Storage

log = logging.getLogger("pv.pvoutput")


@dataclass
class RoundResult:
    sent: int = 0
    rejected: int = 0
    pending: int = 0
    requests: int = 0
    stopped: str = ""
    resume_at: datetime | None = None


def default_client_factory(
    cfg: PVOutputConfig, tz: TzInfo, clock: Clock, stop: threading.Event
) -> Callable[[int], Any]:
    """Build ``pv.pvoutput`` clients that share the monitor's (possibly sped-up) clock."""
    module = importlib.import_module("pv.pvoutput")
    client_cls = module.PVOutputClient
    retry_policy = importlib.import_module("pvgen.runtime.pvoutput.client").RetryPolicy

    def make(system_id: int) -> Any:
        if not cfg.api_key:
            raise ValueError("no PVOutput API key: set the environment variable PV_PVOUTPUT_API_KEY")
        return client_cls(
            cfg.api_key,
            system_id,
            host=cfg.host,
            tz=tz,
            clock=lambda: clock.now().timestamp(),
            sleep=lambda seconds: clock.wait(seconds, stop),
            on_rate_limit="raise",
            # one attempt per round: the queue is durable and the next round comes soon, so
            # in-call retries would only spend the hourly budget and hold up the round
            retry=retry_policy(attempts=1),
            donation=cfg.donation,
            status_interval=cfg.status_interval,
            timeout=20.0,
        )

    return make


class PVOutputUploader(threading.Thread):
    def __init__(
        self,
        cfg: PVOutputConfig,
        systems: Sequence[int],
        *,
        storage: Storage,
        clock: Clock,
        tz: TzInfo,
        stop: threading.Event,
        client_factory: Callable[[int], Any] | None = None,
    ) -> None:
        super().__init__(name="pvoutput uploader", daemon=True)
        self.cfg = cfg
        self.systems = list(systems)
        self.storage = storage
        self.clock = clock
        self.tz = tz
        self.stop = stop
        self._factory = client_factory or default_client_factory(cfg, tz, clock, stop)
        self._clients: dict[int, Any] = {}
        self._resumed: set[int] = set()
        self._intervals: dict[int, int] = {}
        self._resume_at: dict[int, datetime] = {}
        self._failing: dict[int, str] = {}
        self.rounds = 0

    # -- public ------------------------------------------------------------------

    def status_interval(self, system_id: int) -> int | None:
        return self._intervals.get(system_id)

    def window_days(self, system_id: int) -> int | None:
        """Days back PVOutput takes statuses for this system (14, 90 with donation), once known."""
        client = self._clients.get(system_id)
        if client is None or system_id not in self._intervals:
            return None
        return int(client.status_window_days())

    def run(self) -> None:
        while not self.stop.is_set():
            for sid in self.systems:
                if self.stop.is_set():
                    break
                try:
                    self.upload_round(sid)
                except Exception:  # never let a bug end the uploader; storage is unaffected
                    log.exception("PVOutput upload round for system %s failed", sid)
            self.rounds += 1
            self.clock.wait(self.cfg.upload_interval, self.stop)

    def upload_round(self, system_id: int, *, now: datetime | None = None) -> RoundResult:
        """One pass over one system's queue (also used by ``pv upload``)."""
        from pvgen.runtime.pvoutput.errors import (
            AuthError,
            DonationRequired,
            NoStatusFound,
            PVOutputError,
            RateLimited,
        )

        result = RoundResult()
        now = now or self.clock.now()
        wait_until = self._resume_at.get(system_id)
        if wait_until is not None and now < wait_until:
            result.stopped = f"waiting for the rate limit reset at {wait_until.isoformat()}"
            result.pending = self._due(system_id, now)
            return result
        try:
            client = self._client(system_id)
            account = client.account()
            interval = int(account.status_interval)
            self._intervals[system_id] = interval
            if system_id not in self._resumed:
                self.storage.release_claims(system_id)
                try:
                    last = client.get_status().data
                except NoStatusFound:
                    last = None
                if last is not None and getattr(last, "date", None) and getattr(last, "time", None):
                    d, t = _fmt_date(last.date), _fmt_time(last.time)
                    # slots outside the upload window were never deliverable: they are left to
                    # be marked rejected ("older than N days") rather than counted as sent
                    oldest = now.astimezone(self.tz).date() - timedelta(days=client.status_window_days())
                    n = self.storage.mark_sent_through(
                        system_id, d, t, "already on PVOutput", now=now, not_before=oldest.strftime("%Y%m%d")
                    )
                    if n:
                        log.info(
                            "system %s: %d queued statuses up to %s %s were already on PVOutput", system_id, n, d, t
                        )
                self._resumed.add(system_id)
        except RateLimited as exc:
            self._resume_at[system_id] = exc.reset_at or now + timedelta(hours=1)
            result.stopped = str(exc)
            result.pending = self._due(system_id, now)
            return result
        except (AuthError, DonationRequired, ValueError) as exc:
            self._complain(system_id, str(exc))
            result.stopped = str(exc)
            result.pending = self._due(system_id, now)
            return result
        except PVOutputError as exc:
            self._complain(system_id, str(exc))
            result.stopped = str(exc)
            result.pending = self._due(system_id, now)
            return result

        queued = self.storage.claim_statuses(system_id, started_by=now - timedelta(minutes=interval))
        if not queued:
            return result
        try:
            return self._send(client, system_id, queued, interval, now, result)
        finally:
            # whatever this round claimed and did not settle (a bug, an exception) goes back to pending
            self.storage.release_claims(system_id, [(q.date, q.time) for q in queued])

    def _send(
        self,
        client: Any,
        system_id: int,
        queued: Sequence[QueuedStatus],
        interval: int,
        now: datetime,
        result: RoundResult,
    ) -> RoundResult:
        from pvgen.runtime.pvoutput.backfill import backfill

        rows, groups = self._rows(queued, interval)

        def keys(items: Sequence[Any]) -> list[tuple[str, str]]:
            return [k for s in items for k in groups[(s.date, s.time)]]

        report = backfill(client, rows, on_rate_limit="stop", reserve=self.cfg.rate_reserve)
        result.requests = report.requests
        sent_keys = keys(report.stored)
        if sent_keys:
            self.storage.mark_statuses(system_id, sent_keys, "sent", now=now)
        for s, why in report.rejected:
            self.storage.mark_statuses(system_id, keys([s]), "rejected", f"PVOutput: {why}", now=now)
            log.warning("system %s: PVOutput refused the status of %s %s: %s", system_id, s.date, s.time, why)
        days = client.status_window_days()
        for s in report.too_old:
            self.storage.mark_statuses(system_id, keys([s]), "rejected", f"older than {days} days", now=now)
        result.sent = len(sent_keys)
        result.rejected = len(report.rejected) + len(report.too_old)
        result.pending = len(report.pending) + len(report.in_future)
        result.stopped = report.stopped_reason
        if report.in_future:
            self.storage.note_attempt(system_id, keys(report.in_future), "in the future for PVOutput's clock")
        if report.pending:
            self.storage.note_attempt(system_id, keys(report.pending), report.stopped_reason)
            reset = client.quota_exhausted()
            if reset is not None:
                self._resume_at[system_id] = reset
                result.resume_at = reset
            self._complain(system_id, report.stopped_reason or "not sent yet")
        elif system_id in self._failing:
            log.info("system %s: PVOutput uploads work again", system_id)
            del self._failing[system_id]
        if result.sent:
            log.debug("system %s: %d statuses sent in %d requests", system_id, result.sent, result.requests)
        return result

    # -- helpers -------------------------------------------------------------------

    def _due(self, system_id: int, now: datetime) -> int:
        """Closed slots still waiting: what a round stopped early should have sent (``pending``)."""
        interval = self._intervals.get(system_id) or self.cfg.status_interval or 5
        return len(self.storage.pending_statuses(system_id, started_by=now - timedelta(minutes=interval), limit=10**9))

    def _client(self, system_id: int) -> Any:
        if system_id not in self._clients:
            self._clients[system_id] = self._factory(system_id)
        return self._clients[system_id]

    def _complain(self, system_id: int, why: str) -> None:
        """Log an upload problem once per episode, not once per round."""
        if self._failing.get(system_id) != why.split(":")[0]:
            log.warning("system %s: PVOutput upload postponed: %s (data stays queued)", system_id, why)
            self._failing[system_id] = why.split(":")[0]

    def _rows(
        self, queued: Sequence[QueuedStatus], interval: int
    ) -> tuple[list[Any], dict[tuple[date, time], tuple[tuple[str, str], ...]]]:
        """Queue rows as batch rows, re-aligned to the system's interval (latest slot wins).

        Also returns which queue keys each batch row stands for, to record the outcome.
        """
        batch_status = importlib.import_module("pv.pvoutput").BatchStatus
        grouped: dict[tuple[date, time], list[QueuedStatus]] = {}
        for q in queued:
            d = datetime.strptime(q.date, "%Y%m%d").date()
            hh, mm = (int(x) for x in q.time.split(":"))
            t = time(hh, mm - mm % interval)
            grouped.setdefault((d, t), []).append(q)
        rows: list[Any] = []
        groups: dict[tuple[date, time], tuple[tuple[str, str], ...]] = {}
        for (d, t), group in sorted(grouped.items()):
            last = group[-1]
            rows.append(
                batch_status(
                    date=d,
                    time=t,
                    energy_generation=last.energy_wh,
                    power_generation=last.power_w,
                    temperature=last.temperature if self.cfg.send_temperature else None,
                    voltage=last.voltage if self.cfg.send_voltage else None,
                )
            )
            groups[(d, t)] = tuple((q.date, q.time) for q in group)
        return rows, groups


def _fmt_date(d: Any) -> str:
    return d.strftime("%Y%m%d") if hasattr(d, "strftime") else str(d)


def _fmt_time(t: Any) -> str:
    return t.strftime("%H:%M") if hasattr(t, "strftime") else str(t)
