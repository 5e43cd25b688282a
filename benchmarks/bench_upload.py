"""Upload efficiency (issue 7): requests used to upload a 14-day backlog, divided by the minimum.

Both paths run against the local PVOutput service (a real HTTP server on
loopback, ``pvapp.pvoutput_service``) with a simulated clock shared by service
and client, so the hourly rate limit (60 requests on a free account) is real
but waiting for its reset costs no wall time:

* the monitor's path: a SQLite database holding 14 days of daytime readings
  (06:00-17:55 in Brisbane, December, one reading per 5-minute slot) and the
  PVOutput queue they fed, drained by ``PVOutputUploader.upload_round`` exactly
  as ``pv monitor``/``pv upload`` do, round after round until nothing is left;
* the library's path: ``PVOutputClient.backfill`` with the same statuses.

The minimum is ceil(statuses / batch size): 30 per add-batch-status on a free
account, 100 with donation.  Every HTTP request the service received counts,
including the getstatus/getsystem the client needs to learn where PVOutput
stands and what the account allows.
"""

from __future__ import annotations

import logging
import math
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from . import Row, pending

TZ = ZoneInfo("Australia/Brisbane")
NOW = datetime(2026, 12, 21, 20, 0, tzinfo=TZ)  # evening: the 14th day's daylight is complete
DAYS = 14
INTERVAL = 5
KEY = "bench-key"
SYSTEM = 4242


@dataclass
class FakeTime:
    """Simulated time for service, client and uploader: sleeping advances it instantly."""

    t: float

    def time(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)

    # pvapp.clock.Clock
    speed = 1.0

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.t, UTC)

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        self.sleep(seconds)
        return stop.is_set()


def day_slots() -> list[tuple[date, time, float, float]]:
    """(day, slot start, E-Today kWh, Pac W) for every daytime slot of the backlog."""
    out = []
    for back in range(DAYS - 1, -1, -1):
        day = NOW.date() - timedelta(days=back)
        energy = 0.0
        for minute in range(6 * 60, 18 * 60, INTERVAL):
            sun = math.sin(math.pi * (minute - 6 * 60) / (12 * 60))
            pac = round(3000 * sun * (0.8 + 0.2 * ((back + minute) % 7) / 6))
            energy += pac * INTERVAL / 60 / 1000
            out.append((day, time(minute // 60, minute % 60), round(energy, 2), float(pac)))
    return out


def service(donation: bool, clock: FakeTime) -> Any:
    from pvapp.pvoutput_service import PVOutputService

    svc = PVOutputService(clock=clock.time)
    svc.add_system(SYSTEM, size=5000, tz="Australia/Brisbane", donation=donation, status_interval=INTERVAL)
    svc.add_key(KEY, SYSTEM)
    return svc


def monitor_path(donation: bool, configured: bool = False) -> tuple[int, int, int, dict[str, int]]:
    """Drain a stored 14-day queue with the monitor's uploader; (requests, statuses, stored, by path).

    ``configured``: the account's donation state and status interval are in
    the configuration, so the client need not ask getsystem.
    """
    from pvapp.config import PVOutputConfig
    from pvapp.outputs.pvoutput_upload import PVOutputUploader
    from pvapp.reading import InverterInfo, Reading
    from pvapp.storage import SlotUpdate, Storage

    clock = FakeTime(NOW.timestamp())
    slots = day_slots()
    with tempfile.TemporaryDirectory(prefix="pv-bench-upload-") as tmp:
        storage = Storage(Path(tmp) / "pv.sqlite", synchronous="NORMAL")
        info = InverterInfo(serial="0905BO0139", spec_id="cms", port="/dev/ttyUSB0", address=1, model="CMS 2000")
        for day, start, e_today, pac in slots:
            at = datetime.combine(day, start, TZ) + timedelta(minutes=1)
            midnight = datetime.combine(day, time(0), TZ)
            slot_start = datetime.combine(day, start, TZ)
            reading = Reading(
                inverter=info,
                time=at.astimezone(UTC),
                values={"pac": pac, "e_today": e_today, "e_total": 1500 + e_today, "temperature": 35.0, "vac": 240.0},
                raw_frame=b"\xaa\xaa",
                mode="Normal",
            )
            storage.store_poll(
                reading,
                [
                    SlotUpdate(
                        system_id=SYSTEM,
                        date=day.strftime("%Y%m%d"),
                        time=start.strftime("%H:%M"),
                        slot_start=slot_start,
                        slot_end=slot_start + timedelta(minutes=INTERVAL),
                        day_start=midnight,
                        serials=(info.serial,),
                    )
                ],
            )
        with service(donation, clock) as svc:
            cfg = PVOutputConfig(
                api_key=KEY,
                host=svc.url,
                rate_reserve=0,
                donation=donation if configured else None,
                status_interval=INTERVAL if configured else None,
            )
            stop = threading.Event()
            # the monitor's own client factory (default_client_factory), on the simulated clock
            uploader = PVOutputUploader(cfg, [SYSTEM], storage=storage, clock=clock, tz=TZ, stop=stop)
            for _ in range(50):
                result = uploader.upload_round(SYSTEM, now=clock.now())
                if result.rejected:
                    raise RuntimeError(f"the service refused {result.rejected} statuses: {result.stopped}")
                if not result.pending and not result.stopped:
                    break
                clock.t = max(clock.t + 60, result.resume_at.timestamp() if result.resume_at else 0)
            else:
                raise RuntimeError("the backlog was not drained in 50 rounds")
            stored = len(svc.statuses(SYSTEM))
            by_path: dict[str, int] = {}
            for r in svc.requests:
                by_path[r.path.rsplit("/", 1)[-1]] = by_path.get(r.path.rsplit("/", 1)[-1], 0) + 1
            requests = len(svc.requests)
        storage.close()
    return requests, len(slots), stored, by_path


def library_path(donation: bool) -> tuple[int, int, int, dict[str, int]]:
    from pv.pvoutput import BatchStatus, PVOutputClient

    clock = FakeTime(NOW.timestamp())
    rows = [
        BatchStatus(day, start, energy_generation=round(e * 1000), power_generation=pac, temperature=35.0)
        for day, start, e, pac in day_slots()
    ]
    with service(donation, clock) as svc:
        client = PVOutputClient(KEY, SYSTEM, host=svc.url, tz=TZ, clock=clock.time, sleep=clock.sleep)
        report = client.backfill(rows, on_rate_limit="wait")
        if report.rejected or report.pending or report.too_old or report.in_future:
            raise RuntimeError(f"backfill left statuses behind: {report}")
        by_path: dict[str, int] = {}
        for r in svc.requests:
            by_path[r.path.rsplit("/", 1)[-1]] = by_path.get(r.path.rsplit("/", 1)[-1], 0) + 1
        return len(svc.requests), len(rows), len(svc.statuses(SYSTEM)), by_path


def _exists(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def run(quick: bool) -> list[Row]:
    missing = [m for m in ("pv.pvoutput", "pvapp.outputs.pvoutput_upload", "pvapp.pvoutput_service") if not _exists(m)]
    if missing:
        why = f"not yet available: {', '.join(missing)}"
        return [pending("upload: 14-day backlog, requests / minimum", "x", "1.0", why)]
    rows = []
    cases = [
        ("monitor uploader, free account", lambda: monitor_path(False), False),
        ("monitor uploader, donation account", lambda: monitor_path(True), True),
        ("monitor uploader, donation account configured", lambda: monitor_path(True, configured=True), True),
        ("PVOutputClient.backfill, free account", lambda: library_path(False), False),
        ("PVOutputClient.backfill, donation account", lambda: library_path(True), True),
    ]
    quiet = logging.getLogger("pv")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "upload postponed: rate limit" is expected here, not news
    try:
        results = [(label, donation, fn()) for label, fn, donation in cases]
    finally:
        quiet.setLevel(level)
    for label, donation, (requests, statuses, stored, by_path) in results:
        if stored != statuses:
            raise RuntimeError(f"{label}: the service stored {stored} of {statuses} statuses")
        minimum = math.ceil(statuses / (100 if donation else 30))
        detail = ", ".join(f"{k} {v}" for k, v in sorted(by_path.items()))
        rows.append(
            Row(
                f"upload: {label}",
                requests / minimum,
                "x",
                "1.0",
                requests <= minimum,
                f"{requests} requests for {statuses} statuses, minimum {minimum}: {detail}",
            )
        )
    return rows
