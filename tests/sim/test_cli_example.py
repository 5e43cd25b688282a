"""``python -m pvapp.sim`` (= ``pv simulate``) as a separate process, and the pv 0.2 example program against it.

The example is the lead's ``examples/legacy_example.py`` (pv 0.2 calls only),
run unchanged as a subprocess: once on the simulator's pseudo-terminal, opened
with plain ``serial.Serial(path)`` (pyserial's ``serial_for_url`` of a device
path), once on a ``sim://`` URL.  What it prints is checked against the
simulator's own JSONL record of the status it served.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pv.cms
import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "legacy_example.py"
PY = sys.executable
DAY = ["--start", "2026-12-21T11:00", "--tz", "+10:00"]


def _readline(proc: subprocess.Popen[str]) -> str:
    """Next stdout line; the child always ends (--duration), so this cannot hang for good."""
    assert proc.stdout is not None
    return proc.stdout.readline().strip()


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path, Path]]:
    link = tmp_path / "ttyCMS"
    record = tmp_path / "record.jsonl"
    proc = subprocess.Popen(
        [PY, "-m", "pvapp.sim", "--link", str(link), "--record", str(record), *DAY, "--duration", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = _readline(proc)
        assert first.startswith("pty: /dev/pts/"), first
        assert _readline(proc) == f"link: {link}"
        assert _readline(proc).startswith("simulating 1 x CMS 2000 (cms), serials 0905BO0139")
        yield proc, link, record
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # our own child, by its pid
        proc.wait(timeout=10)


def _check_example_output(out: str, record: Path) -> None:
    lines = out.splitlines()
    model = pv.cms.SPEC.model("cms2000")
    assert lines[0] == pv.cms.decode_version(pv.cms.encode_version(dict(model.version))).text
    params = dict(line.split(": ", 1) for line in lines[1:9])
    assert {k.strip(): v for k, v in params.items()} == {
        "Vpc-start": "150.0",  # pv 0.2's labels (sic)
        "T-start": "30",
        "Vac-Min": "192.0",
        "Vac-Max": "256.0",
        "Fac-Min": "47.51",
        "Fac-Max": "50.19",
        "Zac-Max": "65535",
        "DZac": "65535",
    }
    status = [line.split(": ", 1) for line in lines[9:]]
    labels = [k.strip() for k, _ in status]
    # 21 codes, 3 two-word values: pv 0.2's 11 pairs first, then E-Today and the six fault values
    assert labels[:3] == ["Temp-inv", "Vpv", "Iac"] and labels[10] == "Error" and len(labels) == 18
    assert labels[11:] == ["E-Today", "Error-GV", "Error-GF", "Error-GZ", "Error-Temp", "Error-PV1", "Error-GFC1"]
    printed = {k.strip(): v for k, v in status}
    served = json.loads(record.read_text().splitlines()[-1])["values"]
    for label, fid in [
        ("Pac", "pac"),
        ("E-Total", "e_total"),
        ("E-Today", "e_today"),
        ("Vac", "vac"),
        ("Mode", "mode"),
    ]:
        assert printed[label] == str(served[fid]), label
    assert 0 < int(printed["Pac"]) <= 2000 and printed["Mode"] == "1"


def test_legacy_example_runs_unchanged_on_the_pty(simulator: tuple[subprocess.Popen[str], Path, Path]) -> None:
    proc, link, record = simulator
    run = subprocess.run([PY, str(EXAMPLE), str(link)], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    _check_example_output(run.stdout, record)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert not link.exists()  # the stable link is removed on exit


def test_legacy_example_runs_unchanged_on_a_sim_url(tmp_path: Path) -> None:
    record = tmp_path / "r.jsonl"
    url = f"sim://cms?start=2026-12-21T11:00&tz=%2B10:00&record={record}"
    run = subprocess.run([PY, str(EXAMPLE), url], capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    _check_example_output(run.stdout, record)


def test_legacy_example_at_night_reports_no_inverter(tmp_path: Path) -> None:
    url = "sim://cms?start=2026-12-21T23:00&tz=%2B10:00"
    run = subprocess.run([PY, str(EXAMPLE), url], capture_output=True, text=True, timeout=30)
    assert (run.returncode, run.stdout.strip()) == (1, "Inverter is not connected.")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--speed", "0"], "option speed='0': must be a positive number"),
        (["--inverters", "300"], "option inverters='300': must be between 1 and 254"),
        (["--spec", "nosuch"], "no generated spec module pv.nosuch"),
        (["--start", "yesterday"], "option start='yesterday': expected an ISO time"),
        (["--fault", "slow:forever"], "fault 'slow': expected seconds"),
        (["--latency", "110-60"], "range upper bound is below the lower one"),
        (["--tcp", "70000"], "--tcp: port 70000 out of range"),
        (["--connect", "nohost"], "--connect: expected HOST:PORT"),
        (["--spec", "cms", "--connect", "127.0.0.1:1200"], "serial protocol"),
        (["--serials", "A,B", "--inverters", "3"], "serials: 2 given for 3 inverter(s)"),
        (["--duration", "-1"], "--duration: must be positive"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--speed"], "argument --speed: expected one argument"),
        (["--record", "/nonexistent/dir/r.jsonl"], "record: cannot write /nonexistent/dir/r.jsonl: No such file"),
        (["--spec", "samil_tcp", "--connect", "h:1", "--discovery", "1300"], "exclude each other"),
        (["--spec", "samil_tcp", "--inverters", "2"], "no addresses, so one inverter per connection"),
    ],
)
def test_bad_options_one_line_exit_2(args: list[str], message: str) -> None:
    run = subprocess.run([PY, "-m", "pvapp.sim", *args], capture_output=True, text=True, timeout=30)
    assert run.returncode == 2
    err = run.stderr.strip().splitlines()
    assert len(err) == 1, run.stderr
    assert err[0].startswith("python -m pvapp.sim: error: ") and message in err[0], err[0]
    assert "Traceback" not in run.stderr


def test_cli_tcp_with_duration_exits_cleanly(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [PY, "-m", "pvapp.sim", "--tcp", "0", "--inverters", "2", "--verbose", *DAY, "--duration", "1.5"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = _readline(proc)
        assert line.startswith("tcp: socket://127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        import serial

        ser = serial.serial_for_url(f"socket://127.0.0.1:{port}", timeout=1)
        inv = pv.cms.Inverter(ser, sleep=lambda s: None)
        assert inv.handshake(1) == "0905BO0139"
        assert inv.discover() == "0905BO0140"
        ser.close()
        t0 = time.monotonic()
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert time.monotonic() - t0 < 5
        assert "0905BO0139 addr 1 normal Pac" in out  # the --verbose summary line
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_port_in_use_is_a_one_line_runtime_error() -> None:
    import socket

    busy = socket.create_server(("127.0.0.1", 0))
    try:
        port = busy.getsockname()[1]
        run = subprocess.run(
            [PY, "-m", "pvapp.sim", "--tcp", str(port), "--duration", "1"], capture_output=True, text=True, timeout=30
        )
        assert run.returncode == 1
        assert run.stderr.strip().count("\n") == 0 and "Address already in use" in run.stderr
    finally:
        busy.close()


def test_cli_module_is_importable_for_the_pv_command() -> None:
    import argparse

    from pvapp.sim import cli

    parser = argparse.ArgumentParser(prog="pv simulate")
    cli.add_arguments(parser)
    args = parser.parse_args(["--spec", "orion", "--inverters", "2", "--fault", "drop@0.1", "--fault", "garbage"])
    opts = cli.options_from_args(args)
    assert (opts.spec, opts.inverters, [f.kind for f in opts.fault]) == ("orion", 2, ["drop", "garbage"])
    assert os.environ.get("PV_SIM_UNUSED") is None
