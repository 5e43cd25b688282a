"""Filling a daylight gap from the inverter's own hourly log (Samil TCP history).

When the monitor was down, or an inverter could not be reached, while the sun
was up, the live readings of those hours are gone for good; but a Samil TCP
unit logs its hourly energy itself and hands it out on request (``06 01``,
REFERENCE section 2).  So when an inverter comes back (its first reading on a
new connection) and its E-Total grew since the last stored reading (energy was
produced while nobody looked; a night gap produces none and costs nothing),
the monitor asks it for the missed days and

* stores the hours as history records (table ``history``), apart from the
  live readings, which they never replace;
* queues a PVOutput status at each hour the inverter logged inside the gap
  (energy so far that day, the hour's average power), where no live slot
  exists and PVOutput's window (14 days, 90 with donation) still takes it.
  For a system of several inverters, the others count with their own history
  of that day if they have one, else with their live readings.

``fetch_history`` is also what ``pv history`` uses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from datetime import tzinfo as TzInfo
from typing import Any

from pvapp.storage import GapStatus, HistoryRecord, LastGood, Storage
from pvgen.runtime.errors import IncompleteReply, NoReply
from pvgen.runtime.history import HourEnergy, decode_history, history_request

from .poller import InverterSlot

log = logging.getLogger("pv.monitor")

MIN_PRODUCED_KWH = 0.05  # E-Total grows in 0.1 kWh steps: less than that is no production


@dataclass(frozen=True, slots=True)
class Fetched:
    records: list[HourEnergy]
    problems: list[str]
    complete: bool


def fetch_history(client: Any, first: date, last: date) -> Fetched:
    """Ask the inverter for the years ``first``..``last`` span; keep the days in between.

    NoReply propagates when nothing came back; a series cut short keeps what
    arrived (``complete`` False).
    """
    spec = client.SPEC
    if not spec.has_command("history"):
        raise NoReply(f"{spec.title} has no history request")
    complete = True
    try:
        frames, _end = client.request_series("history", history_request(first.year, last.year))
    except IncompleteReply as exc:
        frames, complete = tuple(exc.frames), False
    records, problems = decode_history([f.payload for f in frames])
    return Fetched([r for r in records if first <= r.day <= last], problems, complete)


def as_records(serial: str, hours: Sequence[HourEnergy], fetched: datetime) -> list[HistoryRecord]:
    return [HistoryRecord(serial, r.day.isoformat(), r.hour, r.minute, r.energy_kwh, fetched) for r in hours]


class HistoryFiller:
    """The monitor's side of a reconnect: was a daylight gap missed? then fetch, store and queue."""

    def __init__(
        self,
        storage: Storage,
        *,
        tz: TzInfo,
        clock: Any,
        poll_interval: float,
        systems: Callable[[str], Sequence[tuple[int, Sequence[str]]]],
        window_days: Callable[[int], int],
    ) -> None:
        self.storage = storage
        self.tz = tz
        self.clock = clock
        self.poll_interval = poll_interval
        self.systems = systems
        self.window_days = window_days
        self.fetches = 0

    def before_first(self, slot: InverterSlot) -> LastGood | None:
        if not slot.serial:
            return None
        try:
            return self.storage.last_good(slot.serial)
        except Exception as exc:  # no history to compare with only costs the gap fill
            log.warning("inverter %s: cannot read its last reading: %s", slot.label, exc)
            return None

    def after_first(self, slot: InverterSlot, client: Any, before: Any, status: Any, now: datetime) -> None:
        if not isinstance(before, LastGood) or before.time is None or not slot.serial:
            return
        start, end = before.time, now
        if not self._hour_inside(start, end) or not self._produced(before, status.values(), start, end):
            return
        first, last = start.astimezone(self.tz).date(), end.astimezone(self.tz).date()
        try:
            got = fetch_history(client, first, last)
        except NoReply as exc:
            log.warning("inverter %s: no history for the gap since %s: %s", slot.label, self._local(start), exc)
            return
        self.fetches += 1
        for problem in got.problems[:5]:
            log.warning("inverter %s: history: %s", slot.label, problem)
        stored = self.storage.store_history(slot.serial, as_records(slot.serial, got.records, self.clock.now()))
        queued = self.fill(slot.serial, got.records, start, end)
        kwh = sum(r.energy_kwh for r in got.records if start < self._at(r) < end)
        log.info(
            "inverter %s: missed %s to %s; read %d hours of its own history (%d new, %.2f kWh in the gap%s), "
            "%d PVOutput statuses queued",
            slot.label,
            self._local(start),
            self._local(end),
            len(got.records),
            stored,
            kwh,
            "" if got.complete else ", the reply was cut short",
            queued,
        )

    # -- the decisions -------------------------------------------------------------

    def _hour_inside(self, start: datetime, end: datetime) -> bool:
        """A status can only be made at an hour the gap contains."""
        local = start.astimezone(self.tz)
        nxt = local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        return nxt < end

    def _produced(self, before: LastGood, values: dict[str, Any], start: datetime, end: datetime) -> bool:
        """Energy went in while nobody looked: E-Total grew (E-Today when a unit has no E-Total)."""
        e_total = values.get("e_total")
        if isinstance(e_total, int | float) and before.e_total is not None:
            return float(e_total) - before.e_total >= MIN_PRODUCED_KWH
        e_today = values.get("e_today")
        if not isinstance(e_today, int | float):
            return False
        same_day = start.astimezone(self.tz).date() == end.astimezone(self.tz).date()
        base = (before.e_today or 0.0) if same_day else 0.0
        return float(e_today) - base >= MIN_PRODUCED_KWH / 5

    def _at(self, r: HourEnergy) -> datetime:
        """When an hourly record was taken, as an aware time of the site (hour 24 is the next midnight)."""
        return datetime.combine(r.day, time(0, r.minute), tzinfo=self.tz) + timedelta(hours=r.hour)

    def _local(self, t: datetime) -> str:
        return t.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")

    # -- PVOutput -------------------------------------------------------------------

    def fill(self, serial: str, records: Sequence[HourEnergy], start: datetime, end: datetime) -> int:
        """Queue a status at each logged hour inside the gap, for every system the inverter is in."""
        inside = [r for r in records if start < self._at(r) < end and r.hour < 24]
        if not inside:
            return 0
        now_day = self.clock.now().astimezone(self.tz).date()
        rows: list[GapStatus] = []
        for system_id, serials in self.systems(serial):
            oldest = now_day - timedelta(days=self.window_days(system_id))
            days: dict[str, dict[tuple[int, int], float]] = {}
            for r in inside:
                if r.day <= oldest:
                    continue
                day_key = r.day.isoformat()
                if day_key not in days:
                    days[day_key] = {}
                    for other in sorted(set(serials) | {serial}):
                        for h in self.storage.history_records(serial=other, first=day_key, last=day_key):
                            days.setdefault(f"{day_key}/{other}", {})[(h.hour, h.minute)] = h.energy_kwh
                at = self._at(r)
                energy = power = 0.0
                for other in sorted(set(serials) | {serial}):
                    logged = days.get(f"{day_key}/{other}")
                    if logged:
                        energy += sum(v for k, v in logged.items() if k <= (r.hour, r.minute))
                        power += 1000.0 * logged.get((r.hour, r.minute), 0.0)
                    else:
                        midnight = datetime.combine(r.day, time(0), tzinfo=self.tz)
                        energy += self.storage.latest_value(other, "e_today", midnight, at) or 0.0
                        power += self.storage.latest_value(other, "pac", at - timedelta(hours=1), at) or 0.0
                if energy <= 0 and power <= 0:
                    continue
                local = at.astimezone(self.tz)
                rows.append(
                    GapStatus(
                        system_id=system_id,
                        date=local.strftime("%Y%m%d"),
                        time=local.strftime("%H:%M"),
                        slot_start=at,
                        energy_wh=round(energy * 1000),
                        power_w=round(power),
                    )
                )
        return self.storage.fill_statuses(rows) if rows else 0
