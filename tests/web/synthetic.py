"""A database of known history for the web page's tests and benchmark.

Readings of a few CMS 2000 inverters on a bell-shaped day, with E-Today and
E-Total accumulated from the power (what the generator wrote is returned, so a
test compares the page with these numbers, computed independently of
``pvapp.web``).  Small sets go through ``Storage.store_poll`` exactly as the
monitor stores them; the benchmark's year of readings is written in bulk with
the same columns (one transaction), which takes seconds instead of minutes.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path

from pvapp.reading import InverterInfo, Reading
from pvapp.storage import SlotUpdate, Storage, utc_text


def info(serial: str, address: int = 1) -> InverterInfo:
    return InverterInfo(
        serial=serial,
        spec_id="cms",
        port="sim://cms",
        address=address,
        model="CMS 2000",
        manufacturer="PHOENIXTEC",
        firmware="A1.00",
    )


def power(serial_index: int, local: datetime, peak: float) -> float:
    """Bell-shaped power between 06:00 and 18:00 local, 0 outside."""
    hours = local.hour + local.minute / 60 + local.second / 3600
    if not 6.0 <= hours <= 18.0:
        return 0.0
    return round(peak * math.sin(math.pi * (hours - 6.0) / 12.0) ** 2 * (1 - 0.1 * serial_index))


@dataclass
class History:
    serials: list[str]
    tz: tzinfo
    day_energy: dict[tuple[str, date], float] = field(default_factory=dict)  # serial, day -> last E-Today
    latest: dict[str, dict[str, float]] = field(default_factory=dict)  # serial -> values of its last reading
    latest_time: dict[str, datetime] = field(default_factory=dict)
    times: dict[str, list[datetime]] = field(default_factory=lambda: defaultdict(list))  # serial -> reading times


def readings(
    serials: list[str],
    tz: tzinfo,
    first: date,
    last: date,
    *,
    step: timedelta = timedelta(minutes=5),
    until: datetime | None = None,
    dense: tuple[date, str, timedelta, int, int] | None = None,
    peak: float = 2000.0,
    all_day: bool = False,
) -> tuple[History, list[Reading]]:
    """Readings from ``first`` to ``last`` (local days), daytime only unless ``all_day``.

    ``dense``: (day, serial, step, from hour, to hour) adds readings that often for
    that inverter in those hours (to exercise decimation).
    """
    hist = History(serials=list(serials), tz=tz)
    out: list[Reading] = []
    e_total = {s: 1000.0 + 500 * i for i, s in enumerate(serials)}
    h_total = {s: 4000 + 100 * i for i, s in enumerate(serials)}
    d = first
    while d <= last:
        for i, s in enumerate(serials):
            e_today = 0.0
            times: list[datetime] = []
            t = datetime(d.year, d.month, d.day, 0 if all_day else 5, 0, tzinfo=tz).astimezone(UTC)
            end = datetime(d.year, d.month, d.day, 23 if all_day else 19, 59 if all_day else 0, tzinfo=tz)
            while t <= end:  # stepped in UTC: a DST day has its 23 or 25 hours, no repeated instant
                times.append((t + timedelta(seconds=7 * i)).astimezone(tz))  # inverters polled at different instants
                t += step
            if dense and dense[0] == d and dense[1] == s:
                t = datetime(d.year, d.month, d.day, dense[3], 0, tzinfo=tz) + timedelta(seconds=3)
                stop = datetime(d.year, d.month, d.day, dense[4], 0, tzinfo=tz)
                while t < stop:
                    times.append(t)
                    t += dense[2]
            times = sorted(set(times))
            prev: datetime | None = None
            for t in times:
                if until is not None and t > until:
                    break
                pac = power(i, t, peak)
                if prev is not None:
                    gained = pac * (t - prev).total_seconds() / 3600 / 1000
                    e_today = round(e_today + gained, 4)
                    e_total[s] = round(e_total[s] + gained, 4)
                prev = t
                if pac > 0 and t.minute == 0 and t.second < 60:
                    h_total[s] += 1
                values: dict[str, float | int | None] = {
                    "pac": pac,
                    "e_today": round(e_today, 2),
                    "e_total": round(e_total[s], 1),
                    "h_total": h_total[s],
                    "vac": 230.0 + i,
                    "fac": 50.0,
                    "temperature": 30.5,
                    "vpv": 250.0 if pac else 0.0,
                    "iac": round(pac / 230.0, 1),
                }
                r = Reading(
                    inverter=info(s, i + 1),
                    time=t.astimezone(UTC),
                    values=values,
                    raw_frame=b"\xaa\xaa",
                    mode="Normal" if pac else "Wait",
                )
                out.append(r)
                hist.times[s].append(r.time)
                hist.day_energy[(s, d)] = round(e_today, 2)
                hist.latest[s] = {k: float(v) for k, v in values.items() if v is not None}
                hist.latest_time[s] = r.time
        d += timedelta(days=1)
    out.sort(key=lambda r: (r.time, r.inverter.serial))
    return hist, out


def store(path: Path, rows: list[Reading], *, system: int | None = None, tz: tzinfo | None = None) -> None:
    """Through ``Storage.store_poll``, as the monitor does (with PVOutput slots when ``system``)."""
    db = Storage(path, synchronous="OFF")
    try:
        for r in rows:
            slots = []
            if system is not None and tz is not None:
                local = r.time.astimezone(tz)
                start = local.replace(minute=local.minute - local.minute % 5, second=0, microsecond=0)
                slots = [
                    SlotUpdate(
                        system_id=system,
                        date=start.strftime("%Y%m%d"),
                        time=start.strftime("%H:%M"),
                        slot_start=start,
                        slot_end=start + timedelta(minutes=5),
                        day_start=local.replace(hour=0, minute=0, second=0, microsecond=0),
                        serials=(r.inverter.serial,),
                    )
                ]
            db.store_poll(r, slots)
    finally:
        db.close()


def store_bulk(path: Path, rows: list[Reading]) -> None:
    """The same rows in one transaction (the benchmark's year of history)."""
    Storage(path, synchronous="OFF").close()  # schema
    conn = sqlite3.connect(path)
    try:
        with conn:
            seen: set[str] = set()
            for r in rows:
                if r.inverter.serial in seen:
                    continue
                seen.add(r.inverter.serial)
                i = r.inverter
                conn.execute(
                    "INSERT INTO inverters(serial, spec_id, port, address, model, manufacturer, firmware, va_rating,"
                    " first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, ?)",
                    (
                        i.serial,
                        i.spec_id,
                        i.port,
                        i.address,
                        i.model,
                        i.manufacturer,
                        i.firmware,
                        utc_text(r.time),
                        utc_text(rows[-1].time),
                    ),
                )
            conn.executemany(
                "INSERT INTO readings(time, serial, pac, e_today, e_total, h_total, mode, faults_json, values_json,"
                " rejected_json, raw_frame) VALUES (?, ?, ?, ?, ?, ?, ?, '[]', ?, '{}', ?)",
                (
                    (
                        utc_text(r.time),
                        r.inverter.serial,
                        r.values.get("pac"),
                        r.values.get("e_today"),
                        r.values.get("e_total"),
                        r.values.get("h_total"),
                        r.mode,
                        json.dumps(r.values, sort_keys=True),
                        r.raw_frame,
                    )
                    for r in rows
                ),
            )
    finally:
        conn.close()
