"""Backfill over real HTTP: minimum requests, the hourly quota, the window, bad rows."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from typing import Any

import requests
from pv.pvoutput import BatchStatus, PVOutputClient

from pvapp.pvoutput_service import PVOutputService

from .conftest import BRISBANE, KEY, SID, FakeClock, make_client

BATCH = "/service/r2/addbatchstatus.jsp"
HOUR = 3600


def sunny_day(day: date, peak: float = 4000.0) -> list[BatchStatus]:
    """288 five-minute statuses of a clear Brisbane summer day: no power before 05:30 or after 18:30."""
    rows: list[BatchStatus] = []
    energy = 0.0
    for i in range(288):
        t = time(i // 12, (i % 12) * 5)
        hours = t.hour + t.minute / 60
        power = peak * math.sin(math.pi * (hours - 5.5) / 13) if 5.5 < hours < 18.5 else 0.0
        energy += power * 5 / 60
        rows.append(
            BatchStatus(
                day, t, energy_generation=round(energy), power_generation=round(power), temperature=25.0, voltage=240.0
            )
        )
    return rows


class SharedKeySession(requests.Session):
    """Another app on the same key: spends quota behind the client's back once, at batch ``at``."""

    def __init__(self, service: PVOutputService, at: int, count: int) -> None:
        super().__init__()
        self.service, self.at, self.count, self.batches = service, at, count, 0

    def post(self, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if str(url).endswith("addbatchstatus.jsp"):
            self.batches += 1
            if self.batches == self.at:
                self.service.consume(KEY, self.count)
        return super().post(url, *args, **kwargs)


def test_fourteen_days_in_135_batches_across_the_hourly_limit(service: PVOutputService, clock: FakeClock) -> None:
    clock.set(datetime(2026, 1, 15, 6, 0, 30, tzinfo=BRISBANE))
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(14)]
    statuses = [s for d in days for s in sunny_day(d)]
    assert len(statuses) == 4032
    session = SharedKeySession(service, at=57, count=3)  # when the client believes 3 requests are left
    client = make_client(service, clock, session=session)
    report = client.backfill(statuses[::-1])  # order does not matter: sent oldest first

    assert (len(report.stored), report.rejected, report.too_old, report.in_future, report.pending) == (
        4032,
        [],
        [],
        [],
        [],
    )
    assert report.rate_limited == 1 and report.requests == 136

    batches = [r for r in service.requests if r.path == BATCH]
    ok = [r for r in batches if r.status == 200]
    assert len(ok) == 135  # ceil(4032 / 30): the minimum for a free account
    assert [r.status for r in batches].count(403) == 1  # the surprise from the other app, once
    assert all(r.status in (200, 403) for r in service.requests)  # no 400 at all, so none retried
    sent: list[tuple[str, str]] = []
    for r in ok:
        rows = [tuple(row.split(",")[:2]) for row in r.params["data"].split(";")]
        assert len(rows) <= 30
        sent.extend(rows)  # type: ignore[arg-type]
    assert len(sent) == len(set(sent)) == 4032  # every status sent (and so stored) exactly once
    assert sent == sorted(sent)  # oldest first, so the window edge is never missed
    stored = service.statuses(SID)
    assert len(stored) == 4032
    for s in statuses[::97]:
        assert stored[(s.date, s.time)] == {
            "v1": s.energy_generation,
            "v2": s.power_generation,
            "v5": 25.0,
            "v6": 240.0,
        }

    # Never sent while the quota was known to be used up: after a reply that said
    # "0 left" (or a 403), the next request waits for the top of the hour.
    for before, after in zip(service.requests, service.requests[1:], strict=False):
        known_empty = before.status == 403 or before.quota_used_before == 59
        if known_empty:
            assert after.at >= (before.at // HOUR + 1) * HOUR
    hours = {int(r.at // HOUR) for r in service.requests}
    assert len(hours) == 3  # spread over three hourly buckets
    assert sum(clock.sleeps) < 3 * HOUR  # simulated waiting only


def test_backfill_stop_mode_returns_what_is_left_then_resumes(service: PVOutputService, clock: FakeClock) -> None:
    clock.set(datetime(2026, 1, 15, 9, 0, 30, tzinfo=BRISBANE))
    statuses = sunny_day(date(2026, 1, 14)) + sunny_day(date(2026, 1, 13))  # 576 rows: 20 batches
    service.consume(KEY, 50)
    client = make_client(service, clock, donation=False, status_interval=5)
    first = client.backfill(statuses, on_rate_limit="stop")
    assert len(first.stored) == 300 and len(first.pending) == 276 and first.rate_limited == 0
    assert "quota used up" in first.stopped_reason
    assert clock.sleeps == []  # the caller chose not to wait
    assert service.request_count(BATCH) == 10  # stopped before the quota was known exhausted, no 403
    clock.set(datetime(2026, 1, 15, 10, 0, 5, tzinfo=BRISBANE))
    second = client.backfill(first.pending, on_rate_limit="stop")
    assert second.complete and len(second.stored) == 276
    assert len(service.statuses(SID)) == 576


def test_backfill_reports_rows_outside_the_window(client: PVOutputClient, service: PVOutputService) -> None:
    old = BatchStatus(date(2025, 12, 31), time(12, 0), energy_generation=100, power_generation=10)
    edge = BatchStatus(date(2026, 1, 1), time(12, 0), energy_generation=100, power_generation=10)
    future = BatchStatus(date(2026, 1, 15), time(12, 30), energy_generation=100, power_generation=10)
    report = client.backfill([old, edge, future, edge])
    assert report.too_old == [old] and report.in_future == [future] and report.stored == [edge]
    assert report.duplicates == 1 and report.requests == 1


def test_batch_with_one_moon_powered_row(client: PVOutputClient, service: PVOutputService) -> None:
    """The server flags the bad row 0 and stores the others; backfill reports it, never drops it."""
    rows = sunny_day(date(2026, 1, 14))[120:150]  # 10:00 to 12:25
    night = BatchStatus(date(2026, 1, 14), time(23, 55), energy_generation=30000, power_generation=250)
    batch = [*rows[:15], night, *rows[15:29]]
    reply = client.add_batch_status(batch)
    assert [r.added for r in reply.data] == [True] * 15 + [False] + [True] * 14  # in the order sent
    assert (reply.data[15].date, reply.data[15].time) == (night.date, night.time)
    service.systems[SID].statuses.clear()  # start over: the backfill must store the 29 itself
    report = client.backfill(batch)
    assert len(report.stored) == 29 and report.rejected == [(night, "not added or updated (batch flag 0)")]
    assert (night.date, night.time) not in service.statuses(SID)
    assert service.request_count(BATCH) == 2


def test_batch_blocked_by_one_oversize_row_is_split(client: PVOutputClient, service: PVOutputService) -> None:
    """An INT_MAX reading refuses the whole batch (sma-bluetooth#92): split until the row is isolated."""
    rows = sunny_day(date(2026, 1, 14))[120:150]
    bad = BatchStatus(rows[17].date, rows[17].time, energy_generation=2147483647, power_generation=2147483647)
    batch = [*rows[:17], bad, *rows[18:]]
    report = client.backfill(batch)
    assert len(report.stored) == 29
    assert report.rejected == [(bad, "Power value [2147483647] too high for system size [5000]")]
    stored = service.statuses(SID)
    assert len(stored) == 29 and (bad.date, bad.time) not in stored
    statuses = [r.status for r in service.requests if r.path == BATCH]
    assert statuses.count(400) == 6  # 30 -> 15 -> 7 -> 4 -> 2 -> 1: each refused request is a different one
    datas = [r.params["data"] for r in service.requests if r.path == BATCH and r.status == 400]
    assert len(datas) == len(set(datas))  # no 400 was ever resent


def test_donation_backfill_uses_batches_of_100(donor: PVOutputClient, service: PVOutputService) -> None:
    statuses = [s for d in range(1, 15) for s in sunny_day(date(2026, 1, d), peak=2500)]
    report = donor.backfill(statuses)
    assert len(report.stored) == 4032
    assert service.request_count(BATCH) == 41  # ceil(4032 / 100)


def test_reserve_keeps_requests_for_live_uploads(service: PVOutputService, clock: FakeClock) -> None:
    clock.set(datetime(2026, 1, 15, 9, 0, 30, tzinfo=BRISBANE))
    service.consume(KEY, 40)
    client = make_client(service, clock, donation=False, status_interval=5)
    report = client.backfill(sunny_day(date(2026, 1, 14)), on_rate_limit="stop", reserve=15)
    assert service.quota_used(KEY) == 45  # 5 sent; 15 of the hour left for live statuses
    assert len(report.stored) == 150 and len(report.pending) == 138
    assert (
        client.add_status(date(2026, 1, 15), time(9, 0), energy_generation=100, power_generation=300).rate is not None
    )


def test_waiting_across_midnight_moves_the_window(service: PVOutputService, clock: FakeClock) -> None:
    """A wait for the quota reset that crosses local midnight drops the oldest day out of the window."""
    clock.set(datetime(2026, 1, 15, 23, 59, 0, tzinfo=BRISBANE))
    service.consume(KEY, 60)
    oldest = sunny_day(date(2026, 1, 1))[120:130]
    newer = sunny_day(date(2026, 1, 2))[120:130]
    client = make_client(service, clock, donation=False, status_interval=5)
    report = client.backfill(oldest + newer)
    assert report.too_old == oldest  # 2026-01-01 is 15 days old after midnight
    assert report.stored == newer and report.rate_limited == 1
    assert service.requests[-1].at >= datetime(2026, 1, 16, 0, 0, tzinfo=BRISBANE).timestamp()
