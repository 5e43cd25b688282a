"""Upload a backlog of statuses with add-batch-status in as few requests as possible.

Rules, each learnt from users' trouble (see API.md 4.2): oldest first, chunks of
30 (100 with donation); statuses outside the 14/90-day window are reported, not
sent; nothing is sent while the hourly quota is known to be used up (other apps may
share the key, so a surprise 403 is handled too); a batch the server refuses as a
whole is split to isolate the bad row, and a refused row is reported with the
server's words, never silently dropped and never resent.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Generic, Literal, Protocol, TypeVar

from .client import BaseClient
from .errors import NoStatusesAdded, RateLimited, Rejected, ServiceUnavailable
from .timeutil import align, next_hour


class StatusLike(Protocol):
    @property
    def date(self) -> date: ...

    @property
    def time(self) -> time: ...


S = TypeVar("S", bound=StatusLike)


@dataclass
class BackfillReport(Generic[S]):
    """What happened to every status handed in: each one ends up in exactly one list."""

    stored: list[S] = field(default_factory=list)
    rejected: list[tuple[S, str]] = field(default_factory=list)  # (status, server's reason)
    too_old: list[S] = field(default_factory=list)
    in_future: list[S] = field(default_factory=list)
    pending: list[S] = field(default_factory=list)  # not sent: quota used up (mode "stop") or service down
    duplicates: int = 0  # same date+time handed in more than once; the last one was sent
    requests: int = 0  # add-batch requests that reached the server
    rate_limited: int = 0  # 403 rate-limit replies met on the way
    stopped_reason: str = ""

    @property
    def complete(self) -> bool:
        return not self.pending


def _key(s: StatusLike, interval: int) -> tuple[date, time]:
    """The slot the server files a status under (two readings in one slot are one status)."""
    return (s.date, align(s.time, interval))


def backfill(
    client: BaseClient,
    statuses: Iterable[S],
    *,
    on_rate_limit: Literal["wait", "stop"] = "wait",
    reserve: int = 0,
) -> BackfillReport[S]:
    """Send ``statuses`` (any objects with ``date``/``time`` the client's batch call accepts).

    ``on_rate_limit="wait"`` sleeps (with the client's injectable sleep) until the quota
    resets; ``"stop"`` returns at once with the unsent statuses in ``pending``.
    ``reserve`` keeps that many requests of the hourly budget for live uploads.
    """
    report: BackfillReport[S] = BackfillReport()
    interval = client.account().status_interval
    latest: dict[tuple[date, time], S] = {}
    for s in statuses:
        if _key(s, interval) in latest:
            report.duplicates += 1
        latest[_key(s, interval)] = s
    ordered = [latest[k] for k in sorted(latest)]
    size = client.batch_size()
    days = client.status_window_days()

    def window_filter(rows: list[S]) -> list[S]:
        now = client.now()
        oldest = now.date() - timedelta(days=days)
        keep: list[S] = []
        for s in rows:
            if s.date < oldest:
                report.too_old.append(s)
            elif _key(s, interval) > (now.date(), now.time()):
                report.in_future.append(s)
            else:
                keep.append(s)
        return keep

    ordered = window_filter(ordered)
    work: deque[list[S]] = deque(ordered[i : i + size] for i in range(0, len(ordered), size))
    saved_mode = client.on_rate_limit
    client.on_rate_limit = "raise"  # this loop decides about waiting itself
    try:
        while work:
            chunk = window_filter(work.popleft())
            if not chunk:
                continue
            reset = _exhausted(client, reserve)
            if reset is not None:
                if on_rate_limit == "stop":
                    work.appendleft(chunk)
                    report.stopped_reason = f"rate limit: quota used up until {reset.isoformat()}"
                    break
                _wait(client, reset)
                work.appendleft(chunk)
                continue
            try:
                report.requests += 1
                results = client._send_batch(chunk)
            except RateLimited as err:
                report.rate_limited += 1
                work.appendleft(chunk)
                if on_rate_limit == "stop":
                    report.stopped_reason = str(err)
                    break
                _wait(client, err.reset_at or next_hour(client.clock()))
                continue
            except NoStatusesAdded as err:
                # The server looked at every row and stored none: each row is refused.
                report.rejected.extend((s, err.server_text) for s in chunk)
                continue
            except Rejected as err:
                if err.retryable:  # Load in progress after all client retries: try later
                    work.appendleft(chunk)
                    report.stopped_reason = str(err)
                    break
                if len(chunk) == 1:
                    report.rejected.append((chunk[0], err.server_text))
                else:  # one bad row blocks the batch: split to find it
                    half = len(chunk) // 2
                    work.appendleft(chunk[half:])
                    work.appendleft(chunk[:half])
                continue
            except ServiceUnavailable as err:
                work.appendleft(chunk)
                report.stopped_reason = str(err)
                break
            flags = {(d, t): added for d, t, added in results}
            for s in chunk:
                added = flags.get(_key(s, interval))
                if added:
                    report.stored.append(s)
                elif added is None:
                    report.rejected.append((s, "no result for this row in the batch reply"))
                else:
                    report.rejected.append((s, "not added or updated (batch flag 0)"))
    finally:
        client.on_rate_limit = saved_mode
    for chunk in work:
        report.pending.extend(chunk)
    return report


def _exhausted(client: BaseClient, reserve: int) -> datetime | None:
    reset = client.quota_exhausted()
    if reset is not None:
        return reset
    rate = client.rate
    if (
        reserve
        and rate
        and rate.remaining is not None
        and rate.remaining <= reserve
        and rate.reset_at
        and rate.reset_at.timestamp() > client.clock()
    ):
        return rate.reset_at
    return None


def _wait(client: BaseClient, reset: datetime) -> None:
    delay = reset.timestamp() - client.clock() + client.retry.rate_margin
    if delay > 0:
        client.sleep(delay)
