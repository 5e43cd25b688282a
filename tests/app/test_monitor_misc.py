"""Unplug and return, systemd notify/watchdog, the live table, one output failing."""

from __future__ import annotations

import io
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pvapp import config as config_mod
from pvapp.clock import ScaledClock
from pvapp.monitor.display import ConsoleOutput
from pvapp.monitor.run import make_open_port
from pvapp.monitor.service import Monitor
from pvapp.reading import InverterInfo, InverterState, Reading
from pvapp.storage import Storage

from .conftest import pv_cmd, pv_env, write_config


def _run_monitor(monitor: Monitor, seconds: float) -> None:
    runner = threading.Thread(target=monitor.run, kwargs={"install_signals": False, "duration": seconds}, daemon=True)
    runner.start()
    runner.join(timeout=seconds + 20)
    assert not runner.is_alive()


def test_vanished_port_is_reopened_and_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The USB adapter disappears for 1.5 s (simulator fault) and comes back: readings resume."""
    db_path = tmp_path / "pv.sqlite"
    cfg_path = write_config(
        tmp_path / "pv.toml",
        f"""
        poll_interval = 2
        asleep_after = 600
        [storage]
        path = "{db_path}"
        [[ports]]
        port = "sim://cms?awake=always&name=unplug-test&fault=vanish:1,1.5"
        timeout = 0.1
        """,
    )
    cfg = config_mod.load(str(cfg_path), env={})
    clock = ScaledClock(datetime(2026, 2, 1, 2, 0, tzinfo=UTC), 10.0)
    storage = Storage(db_path)
    monitor = Monitor(cfg, clock=clock, storage=storage, open_port=make_open_port(clock))
    with caplog.at_level(logging.INFO, logger="pv.monitor"):
        _run_monitor(monitor, 4.5)
    rows = list(storage.readings())
    port_events = [e["kind"] for e in storage.events() if e["serial"] is None]
    inverter_events = [e["kind"] for e in storage.events() if e["serial"] is not None]
    gone = [r for r in caplog.records if "gone" in r.getMessage() or "unavailable" in r.getMessage()]
    back = [r for r in caplog.records if "is back" in r.getMessage()]
    assert len(gone) == 1, [r.getMessage() for r in gone]
    assert len(back) == 1
    assert port_events == ["lost", "reconnect"]
    assert inverter_events == ["found", "lost", "awake"]  # the inverter: lost with its port, then back
    lost_at = next(e["time"] for e in storage.events() if e["kind"] == "lost")
    after = [r for r in rows if r.time.strftime("%Y-%m-%dT%H:%M:%S.%fZ") > lost_at]
    assert after, "no reading after the port came back"
    totals = [r.e_total for r in rows]
    assert totals == sorted(totals)
    storage.close()


class _Broken:
    name = "broken"

    def start(self) -> None:
        pass

    def publish(self, reading: Reading) -> None:
        raise ConnectionError("broker down")

    def inverter_state(self, inverter: InverterInfo, state: InverterState) -> None:
        raise ConnectionError("broker down")

    def stop(self) -> None:
        pass


class _Slow:
    name = "slow"

    def __init__(self) -> None:
        self.seen = 0

    def start(self) -> None:
        pass

    def publish(self, reading: Reading) -> None:
        time.sleep(0.5)
        self.seen += 1

    def inverter_state(self, inverter: InverterInfo, state: InverterState) -> None:
        pass

    def stop(self) -> None:
        pass


def test_a_failing_or_slow_output_never_blocks_storage(tmp_path: Path) -> None:
    db_path = tmp_path / "pv.sqlite"
    cfg_path = write_config(
        tmp_path / "pv.toml",
        f"""
        poll_interval = 0.5
        [storage]
        path = "{db_path}"
        [[ports]]
        port = "sim://cms?awake=always"
        timeout = 0.1
        """,
    )
    cfg = config_mod.load(str(cfg_path), env={})
    storage = Storage(db_path)
    slow = _Slow()
    clock = ScaledClock(datetime(2026, 2, 1, 2, 0, tzinfo=UTC), 5.0)
    monitor = Monitor(cfg, clock=clock, storage=storage, outputs=[_Broken(), slow], open_port=make_open_port(clock))
    _run_monitor(monitor, 2.0)
    stored = len(list(storage.readings()))
    # polls every 0.1 s real: about 20 in 2 s; the slow output managed only a few
    assert stored >= 8, stored
    assert slow.seen < stored
    assert monitor.runners[0].failures >= stored - 1
    storage.close()


def test_live_table_redraws_in_place_and_plain_lines_otherwise() -> None:
    inv = InverterInfo(serial="LIVE000001", spec_id="cms", port="sim://cms", address=1)
    reading = Reading(
        inverter=inv,
        time=datetime(2026, 2, 1, 2, 0, tzinfo=UTC),
        values={"pac": 765, "e_total": 1636.3, "e_today": 9.67},
        raw_frame=b"",
        mode="Normal",
    )
    live = io.StringIO()
    out = ConsoleOutput(live, live=True)
    out.publish(reading)
    out.publish(reading)
    out.inverter_state(inv, "asleep")
    text = live.getvalue()
    assert text.count("\x1b[2F") == 2  # cursor back over the 2-line table before each redraw
    assert "765 W" in text and "1636.3 kWh" in text and "asleep" in text.splitlines()[-1]
    plain = io.StringIO()
    ConsoleOutput(plain, live=False).publish(reading)
    assert plain.getvalue() == (
        "2026-02-01 02:00:00  LIVE000001  Pac 765 W  E-Today 9.67 kWh  E-Total 1636.3 kWh  mode Normal\n"
    )


def test_systemd_notify_ready_watchdog_and_stopping(tmp_path: Path) -> None:
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(10)
    cfg = write_config(
        tmp_path / "pv.toml",
        f"""
        [storage]
        path = "{tmp_path / "pv.sqlite"}"
        [[ports]]
        port = "sim://cms?awake=always"
        """,
    )
    env = pv_env(NOTIFY_SOCKET=str(sock_path), WATCHDOG_USEC="1500000")
    proc = subprocess.Popen(
        pv_cmd("--config", str(cfg), "monitor"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    got: list[str] = []
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any(m.startswith("WATCHDOG=1") for m in got):
            got.append(sock.recv(4096).decode())
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not any(m.startswith("STOPPING=1") for m in got):
            got.append(sock.recv(4096).decode())
        _out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert got[0].startswith("READY=1")
    assert any(m == "WATCHDOG=1" for m in got)
    assert any(m.startswith("STOPPING=1") for m in got)
    assert proc.returncode == 0, err
    assert os.path.exists(tmp_path / "pv.sqlite")


def test_a_slow_port_and_a_dead_port_never_delay_a_good_one(tmp_path: Path) -> None:
    db_path = tmp_path / "pv.sqlite"
    cfg_path = write_config(
        tmp_path / "pv.toml",
        f"""
        poll_interval = 0.5
        [storage]
        path = "{db_path}"
        synchronous = "NORMAL"
        [[ports]]
        port = "sim://cms?awake=always&latency=300&serials=SLOW000001"
        timeout = 1.0
        [[ports]]
        port = "/dev/pv-test-no-such-device"
        spec = "cms"
        [[ports]]
        port = "sim://cms?awake=always&serials=FAST000001"
        timeout = 1.0
        """,
    )
    cfg = config_mod.load(str(cfg_path), env={})
    storage = Storage(db_path, synchronous="NORMAL")
    clock = ScaledClock(datetime.now(UTC), 5.0)  # polls every 0.1 s real; the slow port's replies take 0.3 s
    monitor = Monitor(cfg, clock=clock, storage=storage, open_port=make_open_port(clock))
    _run_monitor(monitor, 2.5)
    rows = list(storage.readings())
    slow = sum(1 for r in rows if r.serial == "SLOW000001")
    fast = sum(1 for r in rows if r.serial == "FAST000001")
    assert slow >= 2
    assert fast >= 3 * slow, (fast, slow)
    assert [e["kind"] for e in storage.events() if e["serial"] is None] == ["lost"]  # the dead port, logged once
    storage.close()


def test_lost_replies_on_a_shared_line_never_strand_an_inverter(tmp_path: Path) -> None:
    """Two inverters on one line, 30 % of replies dropped: both keep being read.

    A registered inverter never answers discover, so an inverter whose replies were lost
    must be asked again at its address; a reset would unregister the other one too.
    """
    db_path = tmp_path / "pv.sqlite"
    cfg_path = write_config(
        tmp_path / "pv.toml",
        f"""
        poll_interval = 0.5
        asleep_after = 3600
        [storage]
        path = "{db_path}"
        synchronous = "NORMAL"
        [[ports]]
        port = "sim://cms?awake=always&inverters=2&fault=drop@0.3&seed=7"
        timeout = 0.05
          [[ports.inverters]]
          [[ports.inverters]]
        """,
    )
    cfg = config_mod.load(str(cfg_path), env={})
    storage = Storage(db_path, synchronous="NORMAL")
    clock = ScaledClock(datetime.now(UTC), 5.0)
    monitor = Monitor(cfg, clock=clock, storage=storage, open_port=make_open_port(clock))
    _run_monitor(monitor, 4.0)
    rows = list(storage.readings())
    counts = Counter(r.serial for r in rows)
    assert len(counts) == 2, counts
    assert min(counts.values()) >= 0.6 * max(counts.values()), counts
    # and in the last second both were still being read
    last = max(r.time for r in rows)
    recent = {r.serial for r in rows if (last - r.time).total_seconds() < 5.0 * 1.0}
    assert len(recent) == 2, counts
    storage.close()


def test_an_aggregated_system_counts_inverters_known_from_earlier_runs(tmp_path: Path) -> None:
    """After a restart, an inverter not heard from yet still belongs to its system's total."""
    db_path = tmp_path / "pv.sqlite"
    cfg_path = write_config(
        tmp_path / "pv.toml",
        f"""
        [storage]
        path = "{db_path}"
        [pvoutput]
        system_id = 5
        [[ports]]
        port = "sim://cms?inverters=2"
          [[ports.inverters]]
          [[ports.inverters]]
        [[ports]]
        port = "sim://orion"
          [[ports.inverters]]
          serial = "FIXED00001"
        """,
    )
    cfg = config_mod.load(str(cfg_path), env={})
    storage = Storage(db_path)
    now = datetime(2026, 2, 1, 2, 0, tzinfo=UTC)
    storage.upsert_inverter(InverterInfo("EARLIER002", "cms", "sim://cms?inverters=2", 2), now)
    storage.upsert_inverter(InverterInfo("OTHERPORT1", "cms", "sim://elsewhere", 1), now)
    monitor = Monitor(cfg, clock=ScaledClock(now, 1.0), storage=storage)
    assert monitor._serials_of == {5: {"EARLIER002", "FIXED00001"}}
    storage.close()
