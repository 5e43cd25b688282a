"""Issue 16, defect 3: a monitor that cannot store is not healthy.

The database is made unwritable for real: read-only (``chattr +i`` as root, who
ignores file modes; ``chmod 444`` otherwise) before start-up, and at run time by
lowering the running monitor's file-size limit (``prlimit``), so that SQLite's
writes fail with EFBIG, as they would on a full disk, and then raising it again.
The monitor's systemd notifications arrive on a real datagram socket.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import resource
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pvapp.storage import Storage

from .conftest import pv_cmd, pv_env, run_pv, write_config

STORAGE_ERROR_WORDS = ("cannot store", "storage still failing")


@pytest.fixture
def read_only() -> Iterator[object]:
    made: list[Path] = []

    def make(path: Path) -> None:
        if os.geteuid() == 0:
            done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
            if done.returncode != 0:  # e.g. overlayfs: root ignores modes, and nothing else is at hand
                pytest.skip(f"cannot make {path} read-only for root here: chattr: {done.stderr.strip()}")
        else:
            path.chmod(0o555 if path.is_dir() else 0o444)
        made.append(path)

    yield make
    for path in made:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=False)
        else:
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_start_up_fails_when_the_database_is_read_only(tmp_path: Path, read_only: object) -> None:
    db = tmp_path / "pv.sqlite"
    Storage(db).close()
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    read_only(db)  # type: ignore[operator]
    proc = run_pv(
        "monitor",
        "--port",
        "sim://cms?awake=always",
        "--storage",
        str(db),
        "--duration",
        "20",
        "--display",
        "lines",
        env=pv_env(HOME=str(tmp_path)),
        cwd=tmp_path,
    )
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "cannot" in line or "ERROR" in line]
    assert len(errors) == 1 and "cannot write" in errors[0] and "read-only" in errors[0], proc.stderr
    assert "Pac" not in proc.stdout
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


class Watched:
    """A monitor subprocess whose stderr lines and systemd notifications are collected with times."""

    def __init__(self, tmp_path: Path, retry_for: float) -> None:
        self.sock_path = tmp_path / "notify.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.sock_path))
        self.sock.settimeout(0.2)
        self.db = tmp_path / "pv.sqlite"
        cfg = write_config(
            tmp_path / "pv.toml",
            f"""
            poll_interval = 0.5
            [storage]
            path = "{self.db}"
            retry_for = {retry_for}
            [[ports]]
            port = "sim://cms?awake=always"
            """,
        )
        env = pv_env(NOTIFY_SOCKET=str(self.sock_path), WATCHDOG_USEC="1500000", HOME=str(tmp_path))
        self.proc = subprocess.Popen(
            pv_cmd("--config", str(cfg), "monitor", "--display", "lines"),
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.notes: list[tuple[float, str]] = []
        self.errors: list[tuple[float, str]] = []
        self.readings = 0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._read_notes, daemon=True),
            threading.Thread(target=self._read_err, daemon=True),
            threading.Thread(target=self._read_out, daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _read_notes(self) -> None:
        while not self._stop.is_set():
            try:
                self.notes.append((time.monotonic(), self.sock.recv(4096).decode()))
            except TimeoutError:
                continue
            except OSError:
                return

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.errors.append((time.monotonic(), line.rstrip("\n")))

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if "Pac" in line:
                self.readings += 1

    def wait_for(self, what: str, timeout: float = 20) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for t, line in self.errors:
                if what in line:
                    return t
            if self.proc.poll() is not None and what not in "".join(line for _, line in self.errors):
                time.sleep(0.3)  # let the reader catch the last lines
                if not any(what in line for _, line in self.errors):
                    break
            time.sleep(0.05)
        raise AssertionError(f"no {what!r} in: " + "\n".join(line for _, line in self.errors))

    def wait_readings(self, n: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while self.readings < n and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.readings >= n, "\n".join(line for _, line in self.errors)

    def limit_file_size(self, size: int | None) -> None:
        """The monitor's file-size limit: its writes past ``size`` bytes fail like those on a full disk."""
        limit = resource.RLIM_INFINITY if size is None else size
        hard = resource.prlimit(self.proc.pid, resource.RLIMIT_FSIZE)[1]
        resource.prlimit(self.proc.pid, resource.RLIMIT_FSIZE, (limit, hard))

    def storage_error_lines(self) -> list[str]:
        return [line for _, line in self.errors if any(w in line for w in STORAGE_ERROR_WORDS)]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait(timeout=30)
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        self.sock.close()


def test_a_storage_failure_is_logged_once_told_to_systemd_and_no_reading_is_lost(tmp_path: Path) -> None:
    mon = Watched(tmp_path, retry_for=120)
    try:
        mon.wait_readings(3)
        mon.limit_file_size(1)
        failed_at = mon.wait_for("cannot store")
        time.sleep(6)  # a dozen polls while it fails
        mon.limit_file_size(None)
        mon.wait_for("storage works again")
        mon.wait_readings(mon.readings + 3)
        mon.proc.terminate()
        mon.proc.wait(timeout=30)
    finally:
        mon.close()
    assert mon.proc.returncode == 0
    # one line when it starts failing, one when it works again: not one per poll
    assert len(mon.storage_error_lines()) == 1, mon.storage_error_lines()
    assert sum("storage works again" in line for _, line in mon.errors) == 1
    # systemd is told while it fails, and the watchdog is still pinged (it is retrying, within its time)
    failing_notes = [m for t, m in mon.notes if t > failed_at and m.startswith("STATUS=STORAGE FAILING")]
    assert failing_notes, mon.notes
    assert any(m == "WATCHDOG=1" for t, m in mon.notes if failed_at + 2 < t < failed_at + 6)
    # every poll made while failing was kept in memory and stored afterwards: no gap in the readings
    db = Storage(mon.db, readonly=True)
    times = [r.time for r in db.readings()]
    events = db.events(kind="storage")
    db.close()
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert len(times) > 15 and max(gaps) < 2.0, max(gaps)
    assert len(events) == 1 and "disk I/O error" in events[0]["detail"]


def test_a_monitor_that_cannot_store_gives_up_stops_the_watchdog_and_exits_1(tmp_path: Path) -> None:
    mon = Watched(tmp_path, retry_for=4)
    try:
        mon.wait_readings(2)
        mon.limit_file_size(1)
        failed_at = mon.wait_for("cannot store")
        gave_up_at = mon.wait_for("giving up", timeout=30)
        mon.proc.wait(timeout=30)
    finally:
        mon.close()
    assert mon.proc.returncode == 1
    assert 3.0 < gave_up_at - failed_at < 15
    assert len(mon.storage_error_lines()) == 1, mon.storage_error_lines()
    assert not any(m == "WATCHDOG=1" for t, m in mon.notes if t > gave_up_at)
    assert any("STORAGE FAILING" in m for t, m in mon.notes if t > failed_at)
    assert any(m.startswith("STOPPING=1") for _, m in mon.notes)
