"""Issue 16, defect 6: at night something answers, and silence is described as what it is.

Each command runs with a local clock at midnight (see ``night.zone_at``), the
hour at which a newcomer found nothing answering.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import REPO, pv_cmd, pv_env, run_pv
from .night import local_hour, zone_at


def at(hour: int, home: Path, **extra: str) -> dict[str, str]:
    tz = zone_at(hour)
    assert local_hour(tz) == hour
    return pv_env(
        TZ=tz,
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".data"),
        **extra,
    )


@pytest.mark.parametrize("command", ["status", "info", "params", "discover"])
def test_one_shot_commands_on_the_simulator_answer_at_midnight(tmp_path: Path, command: str) -> None:
    proc = run_pv(command, "sim://cms", env=at(0, tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0905BO0139" in proc.stdout


def test_status_says_the_simulated_inverter_sleeps_when_asked_for_real_nights(tmp_path: Path) -> None:
    proc = run_pv("status", "sim://cms?start=now", env=at(0, tmp_path), cwd=tmp_path)
    assert proc.returncode == 1
    line = proc.stderr.strip()
    assert len(line.splitlines()) == 1
    assert "simulated inverter is asleep" in line and "night" in line and "awake=always" in line


def test_discover_says_the_simulated_inverter_sleeps(tmp_path: Path) -> None:
    proc = run_pv("discover", "sim://cms?start=now", env=at(0, tmp_path), cwd=tmp_path)
    assert proc.returncode == 1
    assert "simulated inverter is asleep" in proc.stdout


def test_legacy_example_on_the_simulator_at_midnight(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / "legacy_example.py"), "sim://cms"],
        env=at(0, tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Pac" in proc.stdout


def test_simulate_pty_at_midnight_answers_and_says_it_starts_at_noon(tmp_path: Path) -> None:
    env = at(0, tmp_path)
    sim = subprocess.Popen(pv_cmd("simulate", "--pty"), env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert sim.stdout is not None
        pty = sim.stdout.readline().split(": ", 1)[1].strip()
        banner = sim.stdout.readline()
        assert "night" in banner and "--start now" in banner and "T12:00" in banner
        proc = run_pv("status", pty, env=env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "0905BO0139" in proc.stdout
    finally:
        sim.terminate()
        sim.communicate(timeout=20)


def _monitor_stderr_until(args: list[str], env: dict[str, str], cwd: Path, want: str, timeout: float) -> str:
    proc = subprocess.Popen(
        pv_cmd("monitor", "--display", "lines", *args),
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = ""
    try:
        assert proc.stderr is not None
        sel = selectors.DefaultSelector()
        sel.register(proc.stderr, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while want not in seen and time.monotonic() < deadline:
            if sel.select(timeout=0.2):
                line = proc.stderr.readline()
                if not line:
                    break
                seen += line
    finally:
        proc.terminate()
        rest = proc.communicate(timeout=30)[1]
    return seen + (rest or "")


def test_monitor_on_a_silent_port_says_no_reply_within_seconds_not_asleep(tmp_path: Path) -> None:
    master, slave = os.openpty()  # a port where nothing will ever answer
    try:
        path = os.ttyname(slave)
        started = time.monotonic()
        err = _monitor_stderr_until(
            ["--port", path, "--storage", str(tmp_path / "pv.sqlite")],
            at(12, tmp_path),
            tmp_path,
            "no reply on",
            timeout=30,
        )
        elapsed = time.monotonic() - started
    finally:
        os.close(master)
        os.close(slave)
    lines = [line for line in err.splitlines() if "no reply on" in line]
    assert len(lines) == 1, err
    assert f"no reply on {path} since" in lines[0] and "nothing has answered yet" in lines[0]
    assert elapsed < 30
    assert "asleep" not in err


def test_monitor_on_the_simulator_at_midnight_says_it_sleeps(tmp_path: Path) -> None:
    """`pv monitor --port sim://cms` follows the real clock: at midnight it says why nothing answers."""
    err = _monitor_stderr_until(
        ["--port", "sim://cms", "--storage", str(tmp_path / "pv.sqlite")],
        at(0, tmp_path),
        tmp_path,
        "no reply on",
        timeout=30,
    )
    line = next(line for line in err.splitlines() if "no reply on sim://cms since" in line)
    assert "simulated inverter is asleep" in line
