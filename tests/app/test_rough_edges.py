"""Issue 16's rough edges, each as the newcomer met it: exit statuses, messages, file contents."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import serial

from pvapp.reading import InverterInfo, Reading
from pvapp.storage import Storage

from .conftest import pv_env, run_pv, write_config
from .test_storage_health import read_only  # noqa: F401  (fixture)

AWAKE = "sim://cms?awake=always"


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "unexpected" not in lines[0] and "Traceback" not in proc.stderr
    return lines[0]


# -- [pvoutput] without a system id ------------------------------------------------------------------


def test_pvoutput_table_without_a_system_is_a_configuration_error(tmp_path: Path) -> None:
    cfg = write_config(
        tmp_path / "pv.toml",
        f"""
        [storage]
        path = "{tmp_path / "pv.sqlite"}"
        [pvoutput]
        upload_interval = 300
        [[ports]]
        port = "{AWAKE}"
        """,
    )
    for args in (["config", "check"], ["monitor", "--duration", "3"]):
        proc = run_pv("--config", str(cfg), *args, env=pv_env(PV_PVOUTPUT_API_KEY="k" * 20))
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert one_line(proc).startswith("config error: pvoutput.system_id: missing")
    assert not (tmp_path / "pv.sqlite").exists()


# -- `pv config` without an action, -vv, global options after the command ---------------------------


def test_config_without_an_action_shows_the_config_help() -> None:
    proc = run_pv("config")
    assert proc.returncode == 2
    assert "usage: pv config" in proc.stderr and "init" in proc.stderr and "check" in proc.stderr
    assert "pv service" not in proc.stderr and "install" not in proc.stderr


def test_vv_prints_no_empty_frame_lines() -> None:
    proc = run_pv("-vv", "info", AWAKE)
    assert proc.returncode == 0, proc.stderr
    assert "DEBUG" in proc.stderr or proc.stderr == ""  # debug on, but
    assert not [line for line in proc.stderr.splitlines() if line.rstrip().endswith("pv.frames:")]


def test_global_options_after_the_command(tmp_path: Path) -> None:
    common = ["--port", AWAKE, "--duration", "2", "--display", "lines"]
    debug = run_pv("monitor", *common, "--storage", str(tmp_path / "a.sqlite"), "-vv")
    assert debug.returncode == 0, debug.stderr
    frames = run_pv("monitor", *common, "--storage", str(tmp_path / "b.sqlite"), "--debug-frames")
    assert frames.returncode == 0, frames.stderr
    assert re.search(r"^-> aa aa ", frames.stderr, re.M) and re.search(r"^<- aa aa ", frames.stderr, re.M)
    status = run_pv("status", AWAKE, "--debug-frames", "-v")
    assert status.returncode == 0 and re.search(r"^<- aa aa ", status.stderr, re.M)
    cfg = write_config(tmp_path / "pv.toml", f'[[ports]]\nport = "{AWAKE}"\n')
    check = run_pv("config", "check", "--config", str(cfg))
    assert check.returncode == 0 and f"configuration OK ({cfg})" in check.stdout


# -- usage errors instead of "unexpected ..." --------------------------------------------------------


def test_configuration_file_that_is_not_utf8(tmp_path: Path) -> None:
    cfg = tmp_path / "pv.toml"
    cfg.write_bytes(b'poll_interval = 10\n# caf\xe9\n[[ports]]\nport = "sim://cms"\n')
    proc = run_pv("--config", str(cfg), "config", "check")
    assert proc.returncode == 2
    assert one_line(proc) == f"config error: {cfg}: not UTF-8 text (byte 0xe9 at offset 24); save it as UTF-8"


def test_config_init_where_nothing_can_be_written() -> None:
    proc = run_pv("config", "init", "/proc/x")
    assert proc.returncode == 2
    assert one_line(proc).startswith("pv config: PATH: cannot write /proc/x:")


def test_params_of_a_spec_without_parameters() -> None:
    proc = run_pv("params", "sim://samil_tcp")
    assert proc.returncode == 2
    assert "samil_tcp inverters have no command to read parameters" in one_line(proc)


@pytest.mark.parametrize("value", ["-5", "0", "255"])
def test_discover_first_address_out_of_range(value: str) -> None:
    proc = run_pv("discover", AWAKE, "--first-address", value)
    assert proc.returncode == 2
    assert "is not a bus address (1 to 254)" in one_line(proc)


def test_control_characters_in_errors_are_shown_not_obeyed(tmp_path: Path) -> None:
    port = "/dev/tty\x1b[2J\x1b]0;owned\x07"
    proc = run_pv("status", port)
    assert proc.returncode == 1
    line = one_line(proc)
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr
    assert "\\x1b[2J" in line
    cfg = tmp_path / "pv.toml"
    cfg.write_text('"po\\u001b[31mll" = 10\n[[ports]]\nport = "sim://cms"\n', encoding="utf-8")
    proc = run_pv("--config", str(cfg), "config", "check")
    assert proc.returncode == 2 and "\x1b" not in proc.stderr and "\\x1b[31m" in proc.stderr


# -- pv export -----------------------------------------------------------------------------------------


def _database(path: Path, rows: int) -> None:
    from datetime import UTC, datetime, timedelta

    db = Storage(path)
    info = InverterInfo(serial="EXP0000001", spec_id="cms", port="/dev/ttyUSB0", address=1)
    t0 = datetime(2026, 1, 10, 2, 0, tzinfo=UTC)
    for i in range(rows):
        db.store_poll(Reading(inverter=info, time=t0 + timedelta(minutes=i), values={"pac": 100.0 + i}, raw_frame=b""))
    db.close()


def test_export_needs_no_write_access_to_the_database_or_its_folder(tmp_path: Path, read_only) -> None:  # noqa: F811
    folder = tmp_path / "history"
    folder.mkdir()
    _database(folder / "pv.sqlite", 5)
    before = sorted(os.listdir(folder))
    read_only(folder / "pv.sqlite")
    read_only(folder)
    proc = run_pv("export", "--storage", str(folder / "pv.sqlite"), "--timezone", "UTC")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("time_utc,local_time,serial") and len(lines) == 6
    assert sorted(os.listdir(folder)) == before  # no -wal, -shm or anything else was made


def test_an_empty_export_still_prints_the_csv_header(tmp_path: Path) -> None:
    _database(tmp_path / "pv.sqlite", 3)
    proc = run_pv("export", "--storage", str(tmp_path / "pv.sqlite"), "--from", "2030-01-01")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("time_utc,local_time,serial,") and "faults" in lines[0]


# -- the demo's first screen ----------------------------------------------------------------------------


def test_demo_says_its_readings_carry_simulated_time_and_its_rate(tmp_path: Path) -> None:
    env = pv_env(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "c"), XDG_DATA_HOME=str(tmp_path / "d"))
    proc = run_pv("monitor", "--duration", "2", "--display", "lines", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    first = proc.stderr.splitlines()[:2]
    assert "60x" in first[1] and "6 readings per real second" in first[1]
    assert "simulated time of day" in first[1] and "log lines carry the real time" in first[1]


# -- sim:// with a vanish fault and no name --------------------------------------------------------


def test_vanish_fault_without_a_name_stays_gone_for_its_time_then_returns() -> None:
    import pv  # noqa: F401  (registers sim://)

    url = "sim://cms?awake=always&fault=vanish:0.5,3"
    port = serial.serial_for_url(url, timeout=0.2)
    started = time.monotonic()
    while time.monotonic() - started < 3:
        try:
            port.in_waiting  # noqa: B018  (raises once the device vanished)
        except serial.SerialException:
            break
        time.sleep(0.05)
    gone_at = time.monotonic()
    reopened: list[float] = []
    while time.monotonic() - gone_at < 10 and not reopened:
        try:
            serial.serial_for_url(url, timeout=0.2).close()
            reopened.append(time.monotonic())
        except serial.SerialException:
            time.sleep(0.1)
    port.close()
    assert reopened, "the port never came back"
    # gone for its 3 s (not back at the next open, as a fresh simulator would be)
    assert reopened[0] - gone_at > 2.0


# -- pv service install -------------------------------------------------------------------------------


def test_service_unit_documentation_is_a_uri_and_root_is_not_told_it_cannot_open_serial_ports(tmp_path: Path) -> None:
    root = run_pv("service", "install", "--dry-run", "--user", "root", "--pv-path", "/usr/bin/pv")
    assert "cannot open serial ports" not in root.stderr  # root can; whatever else is said
    proc = run_pv("service", "install", "--dry-run", "--pv-path", "/usr/bin/pv")
    assert proc.returncode == 0, proc.stderr
    docs = [line for line in proc.stdout.splitlines() if line.startswith("Documentation=")]
    assert docs
    for line in docs:
        for uri in line.split("=", 1)[1].split():
            assert re.match(r"^(https?://|file:|info:|man:)", uri), line
    if shutil.which("systemd-analyze"):
        unit = tmp_path / "pv-monitor.service"
        unit.write_text(proc.stdout, encoding="utf-8")
        check = subprocess.run(
            ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
        )
        assert "Invalid URL" not in check.stderr, check.stderr


# -- number formats --------------------------------------------------------------------------------------


def test_status_and_the_monitor_format_numbers_alike(tmp_path: Path) -> None:
    status = run_pv("status", AWAKE)
    assert status.returncode == 0, status.stderr
    shown = {
        m.group(1): m.group(2) for m in re.finditer(r"^(Fac|Vac|E-Total|E-Today|Vpv)\s+(\S+)", status.stdout, re.M)
    }
    mon = run_pv(
        "monitor", "--port", AWAKE, "--storage", str(tmp_path / "m.sqlite"), "--duration", "2", "--display", "lines"
    )
    line = next(x for x in mon.stdout.splitlines() if "Pac" in x)
    in_monitor = dict(re.findall(r"(Fac|Vac|E-Total|E-Today|Vpv) (\S+)", line))

    def decimals(text: str) -> int:
        return len(text.partition(".")[2])

    assert set(shown) == set(in_monitor) == {"Fac", "Vac", "E-Total", "E-Today", "Vpv"}
    assert {k: decimals(v) for k, v in shown.items()} == {k: decimals(v) for k, v in in_monitor.items()}
    assert decimals(shown["Fac"]) == 2


def test_export_of_a_database_written_by_an_older_pv_upgrades_it_first(tmp_path: Path) -> None:
    import sqlite3

    from pvapp.storage.db import _statements
    from pvapp.storage.schema import MIGRATIONS, SCHEMA_VERSION

    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in _statements(MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version=1")
    conn.close()
    proc = run_pv("export", "--storage", str(path))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("time_utc,local_time,serial,")
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
