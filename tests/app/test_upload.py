"""The uploader's round on its own: the 14-day window, resuming from PVOutput's last status, `pv upload` errors."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path

from pvapp.config import PVOutputConfig
from pvapp.outputs.pvoutput_upload import PVOutputUploader
from pvapp.storage import Storage, utc_text

from .conftest import API_KEY, BRISBANE, accepted_rows, make_clock, run_pv, write_config

NOW = datetime(2026, 2, 20, 12, 0, tzinfo=BRISBANE)


def _plant(storage: Storage, system: int, when: datetime, power: int) -> None:
    storage._conn().execute(
        "INSERT INTO pvoutput_queue(system_id, date, time, slot_utc, energy_wh, power_w, updated)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (system, when.strftime("%Y%m%d"), when.strftime("%H:%M"), utc_text(when), power * 2, power, utc_text(when)),
    )


def _uploader(storage: Storage, service_url: str, clock: object, system: int) -> PVOutputUploader:
    cfg = PVOutputConfig(api_key=API_KEY, host=service_url, rate_reserve=0)
    return PVOutputUploader(cfg, [system], storage=storage, clock=clock, tz=BRISBANE, stop=threading.Event())  # type: ignore[arg-type]


def test_old_slots_are_rejected_not_sent_and_pvoutput_s_statuses_are_not_sent_again(
    tmp_path: Path, pvoutput_factory
) -> None:
    shared = make_clock(NOW, 1.0)
    service = pvoutput_factory(shared, 401)
    # PVOutput already has 11:00 (sent by us before a crash, say)
    service.systems[401].statuses[(NOW.date(), NOW.replace(hour=11).time())] = {"v2": 300}
    storage = Storage(tmp_path / "pv.sqlite")
    _plant(storage, 401, NOW - timedelta(days=20), 500)  # outside the free 14-day window
    for hour, power in ((10, 100), (11, 300), (11.5, 350)):
        _plant(storage, 401, NOW.replace(hour=int(hour), minute=30 if hour % 1 else 0), power)
    result = _uploader(storage, service.url, shared.clock, 401).upload_round(401)
    queue = {(q.date, q.time): q for q in storage.queue(401)}
    old = queue[((NOW - timedelta(days=20)).strftime("%Y%m%d"), "12:00")]
    assert old.status == "rejected" and old.reason == "older than 14 days"
    assert queue[("20260220", "10:00")].reason == "already on PVOutput"  # covered by PVOutput's last status
    assert queue[("20260220", "11:00")].status == "sent"
    assert queue[("20260220", "11:30")].status == "sent"
    assert result.sent == 1 and result.rejected == 1
    rows = accepted_rows(service)
    assert set(rows) == {("401", "20260220", "11:30")}
    storage.close()


def test_pv_upload_without_a_key_or_systems_is_a_usage_error(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "pv.toml",
        '[pvoutput]\n[[ports]]\nport = "sim://cms"\n  [[ports.inverters]]\n  pvoutput_system = 3\n',
    )
    proc = run_pv("--config", str(cfg), "upload")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "config error: PV_PVOUTPUT_API_KEY: the PVOutput API key is not set in the environment"
    )
    cfg.write_text('[[ports]]\nport = "sim://cms"\n')
    proc = run_pv("--config", str(cfg), "backfill")
    assert proc.returncode == 2 and "no [pvoutput] table" in proc.stderr
