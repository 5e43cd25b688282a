"""The one-shot commands against the simulator, `pv export`, `pv decode`, `pv config`, `pv service`,
and the README's main-job command: `pv monitor` with no configuration at all."""

from __future__ import annotations

import csv
import io
import json
import selectors
import signal
import subprocess
import time
from pathlib import Path

from pvapp.reading import InverterInfo, Reading
from pvapp.storage import Storage

from .conftest import pv_cmd, pv_env, run_pv

AWAKE = "sim://cms?awake=always"
VECTORS = Path("/work/shared/protocol/vectors.json")


def test_status_json_has_units_mode_and_faults() -> None:
    proc = run_pv("status", AWAKE, "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["spec"] == "cms" and data["serial"] == "0905BO0139"
    values = {v["id"]: v for v in data["values"]}
    assert values["pac"]["unit"] == "W" and values["e_total"]["unit"] == "kWh"
    assert values["mode"]["text"] == data["mode"]
    assert data["faults"] == [] and values["error"]["text"] == "none"
    assert bytes.fromhex(data["frame"])[:2] == b"\xaa\xaa"


def test_status_shows_fault_words() -> None:
    proc = run_pv("status", AWAKE + "&fault=error:0x0201")
    assert proc.returncode == 0, proc.stderr
    first_lines = proc.stdout.splitlines()[:2]
    assert "faults: none" not in first_lines[1]
    assert len(first_lines[1].split(";")) == 2  # two bits set, two words


def test_discover_registers_every_inverter_with_distinct_addresses() -> None:
    proc = run_pv("discover", AWAKE + "&inverters=3", "--json")
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)["inverters"]
    assert [f["address"] for f in found] == [1, 2, 3]
    assert len({f["serial"] for f in found}) == 3


def test_discover_at_night_says_so_and_fails() -> None:
    proc = run_pv("discover", "sim://cms?start=2026-01-10T01:00:00%2B10:00")
    assert proc.returncode == 1
    assert "no inverter answered discover" in proc.stdout


def test_info_and_params() -> None:
    info = json.loads(run_pv("info", AWAKE, "--json").stdout)
    assert info["version"]["model"].strip() == "CMS 2000"
    params = json.loads(run_pv("params", AWAKE, "--json").stdout)
    by_id = {p["id"]: p for p in params["parameters"]}
    assert by_id["vpv_start"]["safe_min"] == 120 and by_id["vpv_start"]["settable"]


def test_set_inside_safe_range_shows_old_and_new() -> None:
    proc = run_pv("set", AWAKE, "t_start", "60", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert "T-Start (t_start) is 30 s; new value 60 s" in proc.stdout
    assert "T-Start is now 60 s (was 30 s)" in proc.stdout


def test_set_without_yes_and_without_terminal_refuses() -> None:
    proc = run_pv("set", AWAKE, "t_start", "60")
    assert proc.returncode == 2
    assert "refusing to write without confirmation: add --yes" in proc.stderr


def test_config_init_writes_a_file_config_check_accepts(tmp_path: Path) -> None:
    target = tmp_path / "pv.toml"
    assert run_pv("config", "init", str(target)).returncode == 0
    again = run_pv("config", "init", str(target))
    assert again.returncode == 2 and "exists (use --force" in again.stderr
    proc = run_pv("--config", str(target), "config", "check", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["ports"][0]["spec"] == "cms" and data["pvoutput_systems"] == {"12345": ["ports[0].inverters[0]"]}


def _fill(db_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    db = Storage(db_path)
    inv = InverterInfo(serial="EXP0000001", spec_id="cms", port="sim://cms", address=1)
    t0 = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)  # 10:00 in Brisbane on the 2nd
    for i in range(5):
        db.store_poll(
            Reading(
                inverter=inv,
                time=t0 + timedelta(days=i),
                values={"pac": 100 * i, "e_total": 10.0 + i},
                raw_frame=bytes([i]),
                rejected={"pac": "just because"} if i == 2 else {},
            )
        )
    db.close()


def test_export_csv_and_json_for_a_local_date_range(tmp_path: Path) -> None:
    db = tmp_path / "pv.sqlite"
    _fill(db)
    proc = run_pv(
        "export", "--storage", str(db), "--timezone", "Australia/Brisbane", "--from", "2026-03-03", "--to", "2026-03-04"
    )
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [r["pac"] for r in rows] == ["100", "200"]
    assert rows[1]["rejected"] == "pac: just because"
    assert rows[0]["local_time"].startswith("2026-03-03T09:00")
    proc = run_pv("export", "--storage", str(db), "--format", "json", "--timezone", "UTC")
    items = json.loads(proc.stdout)
    assert len(items) == 5 and items[0]["frame"] == "00"


def test_export_without_database_is_a_clear_error(tmp_path: Path) -> None:
    proc = run_pv("export", "--storage", str(tmp_path / "none.sqlite"))
    assert proc.returncode == 1 and "no database at" in proc.stderr
    proc = run_pv("export", "--storage", "/dev/null")
    assert proc.returncode == 1 and "/dev/null is not a usable SQLite database" in proc.stderr
    _fill(tmp_path / "pv.sqlite")
    proc = run_pv("export", "--storage", str(tmp_path / "pv.sqlite"), "-o", str(tmp_path / "no" / "such" / "out.csv"))
    assert proc.returncode == 2 and "--output: cannot write" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_decode_a_captured_session() -> None:
    # source: smarthall/ArduinoCMS2000DataLogger docs/SCOTTY-PC.LOG (vectors.json, ProControl vs CMS 2000)
    vectors = json.loads(VECTORS.read_text())
    session = [e for e in vectors if e["source"].endswith("SCOTTY-PC.LOG") and e["variant"] == "cms_aaaa_serial"]
    dump = "\n".join(" ".join(e["hex"][i : i + 2] for i in range(0, len(e["hex"]), 2)) for e in session[:14])
    proc = subprocess.run(
        pv_cmd("decode", "--json"), input=dump, capture_output=True, text=True, env=pv_env(), check=False
    )
    assert proc.returncode == 0, proc.stderr
    frames = json.loads(proc.stdout)["frames"]
    status = [f for f in frames if f["command"] == "status" and f["direction"] == "reply"]
    expected = next(e for e in session if e["command"] == "status_reply")["decoded"]
    assert status[0]["values"]["e_total"] == expected["e_total_kwh"]
    assert status[0]["values"]["pac"] == expected["pac_w"]
    assert any(f.get("values", {}).get("serial") == "0905BO0139" for f in frames)


def test_service_install_dry_run_prints_a_notify_unit(tmp_path: Path) -> None:
    proc = run_pv(
        "service", "install", "--dry-run", "--config-path", str(tmp_path / "pv.toml"), "--pv-path", "/usr/bin/pv"
    )
    assert proc.returncode == 0, proc.stderr
    assert "Type=notify" in proc.stdout and "WatchdogSec=" in proc.stdout
    assert f'ExecStart="/usr/bin/pv" --config "{tmp_path / "pv.toml"}" monitor' in proc.stdout
    account = "daemon"  # any unprivileged account that exists (the default, pv, is created by the user)
    written = run_pv("service", "install", "--unit-dir", str(tmp_path), "--pv-path", "/usr/bin/pv", "--user", account)
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "pv-monitor.service").read_text().startswith("# systemd unit")


def test_ports_lists_devices_as_json() -> None:
    proc = run_pv("ports", "--json")
    assert proc.returncode == 0, proc.stderr
    ports = json.loads(proc.stdout)
    assert isinstance(ports, list)
    assert all({"device", "by_id", "description", "hwid"} <= set(p) for p in ports)


def test_simulate_and_pvoutput_service_are_reachable_through_pv() -> None:
    sim = run_pv("simulate", "--help")
    assert sim.returncode == 0 and "--pty" in sim.stdout and "pv simulate" in sim.stdout
    svc = run_pv("pvoutput-service", "--help")
    assert svc.returncode == 0 and "--port" in svc.stdout


def test_help_explains_every_command() -> None:
    proc = run_pv("--help")
    assert proc.returncode == 0
    for cmd in ("ports", "discover", "status", "set", "monitor", "upload", "export", "simulate", "config"):
        assert cmd in proc.stdout
    assert "built-in simulator" in proc.stdout


def test_main_job_without_configuration_shows_live_values_within_ten_seconds(tmp_path: Path) -> None:
    """README: `pv monitor` on a fresh machine, nothing configured: the simulator, values at once."""
    env = pv_env(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / ".config"), XDG_DATA_HOME=str(tmp_path / ".data"))
    started = time.monotonic()
    proc = subprocess.Popen(
        pv_cmd("monitor"), cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    notice = ""
    try:
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ)
        sel.register(proc.stderr, selectors.EVENT_READ)
        while time.monotonic() - started < 10 and not lines:
            for key, _ in sel.select(timeout=0.2):
                line = key.fileobj.readline()
                if key.fileobj is proc.stdout and "Pac" in line:
                    lines.append(line)
                elif "built-in simulator" in line:
                    notice = line
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    elapsed = time.monotonic() - started
    assert lines, f"no reading within {elapsed:.1f} s"
    assert "no configuration found, running the built-in simulator" in notice
    assert "W" in lines[0] and "kWh" in lines[0]
    assert proc.returncode == 0
    assert (tmp_path / "pv-demo.sqlite").exists()  # the demo database goes into the current directory
