"""Issue 16, defect 4: `pv upload`'s exit status tells the truth, against the local PVOutput service."""

from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from pvapp.storage import Storage, utc_text

from .conftest import API_KEY, BRISBANE, make_clock, pv_env, run_pv, write_config

NOW = datetime(2026, 2, 20, 12, 0, tzinfo=BRISBANE)


def _queue(db: Path, system: int, slots: int) -> None:
    storage = Storage(db)
    for i in range(slots):
        when = NOW - timedelta(minutes=60 - 5 * i)
        storage._conn().execute(
            "INSERT INTO pvoutput_queue(system_id, date, time, slot_utc, energy_wh, power_w, updated)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (system, when.strftime("%Y%m%d"), when.strftime("%H:%M"), utc_text(when), 100 * i, 500, utc_text(when)),
        )
    storage.close()


def _config(tmp_path: Path, host: str) -> Path:
    return write_config(
        tmp_path / "pv.toml",
        f"""
        timezone = "Australia/Brisbane"
        [storage]
        path = "{tmp_path / "pv.sqlite"}"
        [pvoutput]
        host = "{host}"
        [[ports]]
        port = "sim://cms"
          [[ports.inverters]]
          pvoutput_system = 401
        """,
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pending(db: Path) -> int:
    storage = Storage(db, readonly=True)
    try:
        return len(storage.queue(401, status="pending"))
    finally:
        storage.close()


@pytest.mark.parametrize("trouble", ["wrong key", "unreachable"])
def test_upload_exits_1_and_says_why_while_statuses_stay_pending(
    tmp_path: Path, pvoutput_factory, trouble: str
) -> None:
    shared = make_clock(NOW, 1.0)
    service = pvoutput_factory(shared, 401)
    _queue(tmp_path / "pv.sqlite", 401, 3)
    host = service.url if trouble == "wrong key" else f"http://127.0.0.1:{_closed_port()}"
    key = "wrong-key-0000000000000000" if trouble == "wrong key" else API_KEY
    cfg = _config(tmp_path, host)
    env = pv_env(PV_PVOUTPUT_API_KEY=key)
    proc = run_pv("--config", str(cfg), "upload", "--clock", shared.spec, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    header, row = proc.stdout.splitlines()[:2]
    assert header.split()[:4] == ["SYSTEM", "SENT", "REJECTED", "PENDING"]
    assert row.split()[:4] == ["401", "0", "0", "3"]
    reason = "key" if trouble == "wrong key" else "connect"
    assert "401" in proc.stderr and reason in proc.stderr.lower(), proc.stderr
    assert _pending(tmp_path / "pv.sqlite") == 3

    proc = run_pv("--config", str(cfg), "upload", "--clock", shared.spec, "--json", env=env)
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["401"]["pending"] == 3 and data["401"]["stopped"]


def test_upload_exits_0_when_everything_went(tmp_path: Path, pvoutput_factory) -> None:
    shared = make_clock(NOW, 1.0)
    service = pvoutput_factory(shared, 401)
    _queue(tmp_path / "pv.sqlite", 401, 3)
    cfg = _config(tmp_path, service.url)
    proc = run_pv("--config", str(cfg), "upload", "--clock", shared.spec, env=pv_env(PV_PVOUTPUT_API_KEY=API_KEY))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[1].split()[:4] == ["401", "3", "0", "0"]
    assert _pending(tmp_path / "pv.sqlite") == 0


def test_upload_of_a_system_that_is_not_configured_is_a_usage_error(tmp_path: Path, pvoutput_factory) -> None:
    shared = make_clock(NOW, 1.0)
    service = pvoutput_factory(shared, 401, 99)
    _queue(tmp_path / "pv.sqlite", 401, 1)
    cfg = _config(tmp_path, service.url)
    proc = run_pv("--config", str(cfg), "upload", "--system", "99", env=pv_env(PV_PVOUTPUT_API_KEY=API_KEY))
    assert proc.returncode == 2
    assert proc.stderr.strip() == "pv upload: --system: 99 is not a configured PVOutput system (configured: 401)"
    assert service.requests == []  # PVOutput was not asked
