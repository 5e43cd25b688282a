"""Crash safety: `pv monitor` killed with SIGKILL at random moments, 20 times, then stopped with SIGTERM.

The simulated inverter lives in this test process behind a pseudo-terminal, so
it keeps running (and counting) across monitor restarts, like a real inverter
when the computer next to it crashes.  The monitor polls and uploads fast, so
kills land while it is polling, storing and uploading.  After every kill the
database must open cleanly with every poll complete (reading and upload slot
together); at the end the rows must match what the simulator served.
"""

from __future__ import annotations

import os
import random
import select
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from pvapp.sim.options import SimOptions
from pvapp.sim.servers import PtyServer
from pvapp.sim.simulator import Simulator
from pvapp.storage import SCHEMA_VERSION, Storage

from .conftest import API_KEY, BRISBANE, accepted_rows, make_clock, pv_cmd, pv_env, write_config

KILLS = 20
SPEED = 1500.0
START = datetime(2026, 1, 13, 9, 0, tzinfo=BRISBANE)


def _check_database(path: Path) -> tuple[int, int]:
    """Open as a fresh process would; every reading has its slot (no half poll). Returns (readings, slots)."""
    db = Storage(path, synchronous="NORMAL")
    try:
        assert db.integrity_check() == "ok"
        assert db.schema_version == SCHEMA_VERSION
        conn = sqlite3.connect(path)
        orphans = conn.execute(
            "SELECT COUNT(*) FROM readings r WHERE NOT EXISTS (SELECT 1 FROM pvoutput_queue q"
            " WHERE q.slot_utc <= r.time AND r.time < strftime('%Y-%m-%dT%H:%M:%fZ', q.slot_utc, '+5 minutes'))"
        ).fetchone()[0]
        n_readings = conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0]
        n_slots = conn.execute("SELECT COUNT(*) FROM pvoutput_queue").fetchone()[0]
        conn.close()
        assert orphans == 0, f"{orphans} readings without their upload slot: a poll was half committed"
        return n_readings, n_slots
    finally:
        db.close()


def _wait_for_line(proc: subprocess.Popen[str], text: str, timeout: float) -> None:
    """Read the run's stderr until a line containing ``text`` (the rest stays in the pipe)."""
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    deadline = time.monotonic() + timeout
    seen = b""
    while text.encode() not in seen:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(left, 0))
        if not ready:
            raise AssertionError(f"no {text!r} within {timeout} s: {seen.decode(errors='replace')[-2000:]}")
        chunk = os.read(fd, 4096)
        if not chunk:
            raise AssertionError(f"the monitor ended before {text!r}: {seen.decode(errors='replace')[-2000:]}")
        seen += chunk


@pytest.mark.slow
def test_sigkill_at_random_moments_never_corrupts_or_duplicates(tmp_path: Path, pvoutput_factory) -> None:
    rng = random.Random(20261124)
    shared = make_clock(START, SPEED)
    service = pvoutput_factory(shared, 301)
    sim = Simulator(
        "cms",
        SimOptions(spec="cms", serials=("CRASH00001",), inverters=1, latitude=-27.47, seed=5, clouds=0.0),
        clock=shared.clock,
    )
    pty = PtyServer(sim)
    pty.start()
    db_path = tmp_path / "pv.sqlite"
    cfg = write_config(
        tmp_path / "pv.toml",
        f"""
        timezone = "Australia/Brisbane"
        poll_interval = 15
        [storage]
        path = "{db_path}"
        [pvoutput]
        upload_interval = 30
        status_interval = 5
        rate_reserve = 0
        [[ports]]
        port = "{pty.device}"
        spec = "cms"
        timeout = 0.2
          [[ports.inverters]]
          pvoutput_system = 301
        """,
    )
    env = pv_env(PV_PVOUTPUT_API_KEY=API_KEY, PV_PVOUTPUT_HOST=service.url)
    cmd = pv_cmd("--config", str(cfg), "monitor", "--clock", shared.spec, "--display", "lines")
    grew = 0
    last = (0, 0)
    try:
        for i in range(KILLS):
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            early = i % 4 == 3  # killed during start-up: migrations, locks, the port being opened
            if early:
                time.sleep(rng.uniform(0.05, 0.6))
            else:  # killed while polling: the moment counted from the unit's identification, not
                # from the spawn, so a loaded machine's slow start-up does not move it into start-up
                _wait_for_line(proc, "found on", 30)
                time.sleep(rng.uniform(0.1, 0.9))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            counts = _check_database(db_path)
            grew += not early and counts[0] > last[0]
            last = counts
        # a last run, stopped the polite way: SIGTERM gives a clean exit status
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(2.0)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err[-2000:]
        assert "Traceback" not in err
    finally:
        pty.stop()
    polling_kills = KILLS - KILLS // 4
    assert grew >= polling_kills // 2, "most runs killed while polling should have stored readings"
    _check_database(db_path)

    db = Storage(db_path, synchronous="NORMAL")
    rows = list(db.readings())
    served = Counter(e.frame.hex() for e in sim.record.entries(usable_only=True))
    stored = Counter(r.raw_frame.hex() for r in rows)
    # nothing stored that was not served, nothing stored twice
    assert not stored - served
    assert len({(r.serial, r.time) for r in rows}) == len(rows)
    # a reading served but not yet committed when the kill landed is the only kind of loss: one per kill at most
    missing = sum((served - stored).values())
    assert missing <= KILLS, missing
    # E-Total never went down across all the restarts
    totals = [r.e_total for r in rows if r.e_total is not None]
    assert totals == sorted(totals)
    # PVOutput: no slot accepted twice across all the killed uploads
    sent = accepted_rows(service)
    assert sent, "uploads should have happened between the kills"
    assert max(sent.values()) == 1, [k for k, n in sent.items() if n > 1]
    db.close()
