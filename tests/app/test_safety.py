"""Issue 16: nothing `pv` does deletes or overwrites a file it did not create for that purpose.

Each test states the file contents and row counts before and after, and the exit status.
"""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pvapp.reading import InverterInfo, Reading
from pvapp.storage import Storage

from .conftest import pv_env, run_pv


def newcomer_env(home: Path, **extra: str) -> dict[str, str]:
    """No configuration anywhere: HOME, XDG dirs in a temporary folder."""
    return pv_env(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".data"),
        **extra,
    )


def real_database(path: Path, rows: int) -> str:
    """A user's database with ``rows`` readings from a real port; returns its sha256."""
    db = Storage(path)
    info = InverterInfo(serial="REAL000001", spec_id="cms", port="/dev/ttyUSB0", address=1)
    t0 = datetime(2026, 1, 10, 2, 0, tzinfo=UTC)
    for i in range(rows):
        db.store_poll(Reading(inverter=info, time=t0 + timedelta(seconds=10 * i), values={"pac": 100.0}, raw_frame=b""))
    db.close()
    return digest(path)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def count_rows(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0])


# -- defect 1: the demo deletes a real database ---------------------------------------------------


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_demo_refuses_a_storage_path_and_leaves_the_file_alone(tmp_path: Path, how: str) -> None:
    real = tmp_path / "real.sqlite"
    before = real_database(real, 355)
    if how == "flag":
        proc = run_pv("monitor", "--storage", str(real), "--duration", "3", cwd=tmp_path, env=newcomer_env(tmp_path))
        named = "--storage"
    else:
        env = newcomer_env(tmp_path, PV_STORAGE=str(real))
        proc = run_pv("monitor", "--duration", "3", cwd=tmp_path, env=env)
        named = "PV_STORAGE"
    assert proc.returncode == 2, proc.stderr
    assert named in proc.stderr and "--port" in proc.stderr and "demo" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert digest(real) == before and count_rows(real) == 355
    assert not (tmp_path / "pv-demo.sqlite").exists()


def test_storage_with_a_port_monitors_into_that_file_and_keeps_its_rows(tmp_path: Path) -> None:
    """With --port the real monitor runs (never the demo) and appends to the user's file."""
    real = tmp_path / "real.sqlite"
    real_database(real, 20)
    proc = run_pv(
        "monitor",
        "--port",
        "sim://cms?awake=always",
        "--storage",
        str(real),
        "--duration",
        "4",
        "--display",
        "lines",
        cwd=tmp_path,
        env=newcomer_env(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    assert count_rows(real) > 20
    assert "built-in simulator" not in proc.stderr


@pytest.mark.parametrize("content", ["user-database", "text"])
def test_demo_does_not_replace_a_file_it_did_not_write(tmp_path: Path, content: str) -> None:
    demo = tmp_path / "pv-demo.sqlite"
    if content == "text":
        demo.write_text("my notes, not a database\n", encoding="utf-8")
        before = digest(demo)
    else:
        before = real_database(demo, 7)
    proc = run_pv("monitor", "--duration", "3", cwd=tmp_path, env=newcomer_env(tmp_path))
    assert proc.returncode == 1, proc.stderr
    assert "pv-demo.sqlite" in proc.stderr and "not written by the demo" in proc.stderr
    assert digest(demo) == before
    if content == "user-database":
        assert count_rows(demo) == 7


def test_demo_replaces_its_own_database_of_the_previous_run(tmp_path: Path) -> None:
    env = newcomer_env(tmp_path)
    first = run_pv("monitor", "--duration", "3", "--display", "lines", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    rows_first = count_rows(tmp_path / "pv-demo.sqlite")
    assert rows_first > 0
    second = run_pv("monitor", "--duration", "3", "--display", "lines", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    # recreated: the simulated day started over, so only the second run's "found" event is there
    with sqlite3.connect(tmp_path / "pv-demo.sqlite") as conn:
        found = conn.execute("SELECT COUNT(*) FROM events WHERE kind = 'found'").fetchone()[0]
    assert found == 1


# -- defect 2: `pv simulate --link f` deletes a user's file ----------------------------------------


@pytest.mark.parametrize("kind", ["file", "directory", "link-to-file"])
def test_simulate_link_refuses_an_existing_path(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "f"
    mine = tmp_path / "mine.txt"
    mine.write_text("a user's file\n", encoding="utf-8")
    if kind == "file":
        target.write_text("a user's file\n", encoding="utf-8")
    elif kind == "directory":
        target.mkdir()
    else:
        target.symlink_to(mine)
    proc = run_pv("simulate", "--link", str(target), "--duration", "1", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--link" in proc.stderr and str(target) in proc.stderr
    if kind == "file":
        assert not target.is_symlink() and target.read_text(encoding="utf-8") == "a user's file\n"
    elif kind == "directory":
        assert target.is_dir() and not target.is_symlink()
    else:
        assert target.is_symlink() and target.resolve() == mine.resolve()
    assert mine.read_text(encoding="utf-8") == "a user's file\n"


def test_simulate_link_replaces_its_own_stale_link_and_removes_it_on_exit(tmp_path: Path) -> None:
    link = tmp_path / "inverter"
    link.symlink_to("/dev/pts/999999")  # left behind by a simulator that was killed
    proc = run_pv("simulate", "--link", str(link), "--duration", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"link: {link}" in proc.stdout
    assert not link.exists() and not link.is_symlink()


def test_simulate_link_refuses_the_link_of_a_running_simulator(tmp_path: Path) -> None:
    from .conftest import pv_cmd

    link = tmp_path / "inverter"
    first = subprocess.Popen(
        pv_cmd("simulate", "--link", str(link), "--duration", "30"), stdout=subprocess.PIPE, text=True
    )
    try:
        assert first.stdout is not None
        while not first.stdout.readline().startswith("link:"):
            time.sleep(0.05)
        pty = link.resolve()
        proc = run_pv("simulate", "--link", str(link), "--duration", "1", cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert "in use" in proc.stderr
        assert link.resolve() == pty  # still the first simulator's
    finally:
        first.terminate()
        first.communicate(timeout=20)


# -- defect 5: two monitors on one database or one port ---------------------------------------------


def _start_monitor(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    from .conftest import pv_cmd

    return subprocess.Popen(
        pv_cmd("monitor", "--display", "lines", *args),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_reading(proc: subprocess.Popen[str], timeout: float = 20) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "Pac" in line:
            return
        if proc.poll() is not None:
            break
    raise AssertionError("no reading from the first monitor: " + (proc.stderr.read() if proc.stderr else ""))


def _stop(proc: subprocess.Popen[str]) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    return out, err


def test_two_demo_runs_in_one_folder_do_not_delete_each_others_database(tmp_path: Path) -> None:
    env = newcomer_env(tmp_path)
    first = _start_monitor([], tmp_path, env)
    try:
        _wait_for_reading(first)
        rows_before = count_rows(tmp_path / "pv-demo.sqlite")
        second = run_pv("monitor", "--duration", "3", cwd=tmp_path, env=env)
        assert second.returncode == 1, second.stderr
        assert f"pid {first.pid}" in second.stderr and "pv-demo.sqlite" in second.stderr
        assert "in use" in second.stderr
        assert first.poll() is None  # the first run carries on
        assert count_rows(tmp_path / "pv-demo.sqlite") >= rows_before
    finally:
        _stop(first)
    assert first.returncode == 0
    with sqlite3.connect(tmp_path / "pv-demo.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM events WHERE kind = 'found'").fetchone()[0] == 1
    assert not (tmp_path / "pv-demo.sqlite.lock").exists()  # removed on a clean exit


def test_two_monitors_on_one_database_the_second_is_refused(tmp_path: Path) -> None:
    env = newcomer_env(tmp_path)
    db = tmp_path / "pv.sqlite"
    first = _start_monitor(["--port", "sim://cms?awake=always", "--storage", str(db)], tmp_path, env)
    try:
        _wait_for_reading(first)
        second = run_pv("monitor", "--port", "sim://cms?awake=always", "--storage", str(db), "--duration", "3", env=env)
        assert second.returncode == 1
        assert f"pid {first.pid}" in second.stderr and str(db) in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1, second.stderr
    finally:
        _stop(first)


def test_two_monitors_on_one_port_the_second_is_refused_even_through_a_link(tmp_path: Path) -> None:
    from .conftest import pv_cmd

    env = newcomer_env(tmp_path, PV_LOCK_DIR=str(tmp_path / "locks"))
    (tmp_path / "locks").mkdir()
    link = tmp_path / "ttyINV"
    sim = subprocess.Popen(
        pv_cmd("simulate", "--link", str(link), "--awake", "always"), stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert sim.stdout is not None
        pty = sim.stdout.readline().split(": ", 1)[1].strip()
        first = _start_monitor(["--port", pty, "--storage", str(tmp_path / "a.sqlite")], tmp_path, env)
        try:
            _wait_for_reading(first)
            second = run_pv(
                "monitor", "--port", str(link), "--storage", str(tmp_path / "b.sqlite"), "--duration", "3", env=env
            )
            assert second.returncode == 1
            assert f"port {link}" in second.stderr and f"pid {first.pid}" in second.stderr
            assert not (tmp_path / "b.sqlite").exists()  # refused before touching anything
        finally:
            _stop(first)
    finally:
        sim.terminate()
        sim.communicate(timeout=20)


def test_port_locks_name_real_ports_and_skip_ephemeral_ones(tmp_path: Path) -> None:
    """Port 0 is the kernel's to hand out: two monitors on listen://127.0.0.1:0 never share a port."""
    from pvapp.monitor.lock import port_lock

    env = {"PV_LOCK_DIR": str(tmp_path)}
    assert port_lock("listen://127.0.0.1:0", env) is None
    assert port_lock("socket://127.0.0.1:0?logging=debug", env) is None
    assert port_lock("sim://cms", env) is None
    fixed = port_lock("listen://127.0.0.1:1200", env)
    assert fixed is not None and fixed.path.parent == tmp_path
    assert port_lock("socket://10.0.0.5:8899", env) is not None
