"""Device text is data, not terminal control: every command that prints inverter text, and the logs.

The simulator plays a hostile inverter: its serial number carries "clear screen"
(ESC [2J), its model text an OSC 52 "set the clipboard" sequence ending in BEL,
its manufacturer a C1 CSI (0x9B, which a UTF-8 terminal may take as ESC [).  Each
command must show those bytes as visible escapes and never write them raw.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pv import cms

from pvapp.sim import SimOptions, Simulator
from pvapp.sim.servers import TcpConnector, TcpServer

from .clirun import EPHEMERAL_WEB, port_from_stderr, pv_cmd, pv_env, run_pv, start_pv

SERIAL = "AB\x1b[2J01"  # 8 bytes: fits the 10-byte serial of the AA AA family
MODEL = "\x1b]52;c;cHduZWQ=\x07"  # 16 bytes: OSC 52 writes "pwned" to the clipboard
MAKER = "\x9b31mRED"  # C1 CSI: ESC [ on terminals that honour 8-bit controls
HOSTILE = (
    "sim://cms?awake=always&serials=AB\\x1b[2J01"
    "&version_text=model:\\x1b]52;c;cHduZWQ=\\x07&version_text=manufacturer:\\x9b31mRED"
)
RAW = ("\x1b", "\x07", "\x9b")


def assert_no_raw_controls(*texts: str) -> None:
    for text in texts:
        for ch in RAW:
            assert ch not in text, f"raw {ch!r} written: {text!r}"


@pytest.mark.parametrize("command", ["status", "info", "discover", "params"])
def test_one_shot_commands_show_device_text_escaped(command: str) -> None:
    proc = run_pv(command, HOSTILE)
    assert proc.returncode == 0, proc.stderr
    assert_no_raw_controls(proc.stdout, proc.stderr)
    assert "AB\\x1b[2J01" in proc.stdout  # the serial is there, visibly
    if command in ("info", "params"):
        assert "\\x1b]52;c;cHduZWQ=\\x07" in proc.stdout


@pytest.mark.parametrize("command", ["status", "info", "discover"])
def test_json_output_escapes_controls_and_keeps_the_raw_value(command: str) -> None:
    proc = run_pv(command, HOSTILE, "--json")
    assert proc.returncode == 0, proc.stderr
    assert_no_raw_controls(proc.stdout)
    data = json.loads(proc.stdout)
    serials = [i["serial"] for i in data["inverters"]] if command == "discover" else [data["serial"]]
    assert serials == [SERIAL]  # JSON carries the value itself, escaped by the format


def test_set_confirmation_shows_the_serial_escaped() -> None:
    proc = run_pv("set", HOSTILE, "t_start", "40", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert_no_raw_controls(proc.stdout, proc.stderr)
    assert proc.stdout.startswith("AB\\x1b[2J01: T-Start (t_start) is 30 s; new value 40 s")


def test_decode_shows_a_captured_serial_escaped(tmp_path: Path) -> None:
    discover = cms.SPEC.command("discover")
    frame = cms.CODEC.build(discover.control, discover.reply_function, SERIAL.encode("latin-1"), src=0, dst=0x100)
    capture = tmp_path / "capture.bin"
    capture.write_bytes(frame)
    proc = run_pv("decode", str(capture), "--spec", "cms")
    assert proc.returncode == 0, proc.stderr
    assert_no_raw_controls(proc.stdout)
    assert "AB\\x1b[2J01" in proc.stdout


def test_error_messages_echo_input_escaped(tmp_path: Path) -> None:
    """A file name or a TOML key is echoed in the error: as data."""
    proc = run_pv("decode", str(tmp_path / "no\x1b[2Jsuch"))
    assert proc.returncode == 2
    assert_no_raw_controls(proc.stderr)
    assert "no\\x1b[2Jsuch" in proc.stderr
    config = tmp_path / "pv.toml"
    config.write_text('"\\u001b]0;title\\u0007" = 1\n[[ports]]\nport = "sim://cms"\n', encoding="utf-8")
    proc = run_pv("--config", str(config), "config", "check")
    assert proc.returncode == 2
    assert_no_raw_controls(proc.stderr)
    assert "\\x1b]0;title\\x07: unknown key" in proc.stderr


def _monitor(tmp_path: Path, url: str, seconds: float = 4.0) -> subprocess.CompletedProcess[str]:
    env = pv_env(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "cfg"), XDG_DATA_HOME=str(tmp_path / "data"))
    args = ("monitor", "--port", url, "--storage", str(tmp_path / "pv.sqlite"), "--display", "lines")
    args += ("--poll-interval", "0.5", "--duration", str(seconds), "--no-upload")
    return subprocess.run(pv_cmd(*args), env=env, capture_output=True, text=True, timeout=60, check=False)


def test_monitor_screen_and_logs_show_version_text_escaped_and_store_it_raw(tmp_path: Path) -> None:
    url = "sim://cms?awake=always&version_text=model:\\x1b]52;c;cHduZWQ=\\x07&version_text=manufacturer:\\x9b31mRED"
    proc = _monitor(tmp_path, url)
    assert proc.returncode == 0, proc.stderr
    assert_no_raw_controls(proc.stdout, proc.stderr)
    assert "Pac" in proc.stdout  # it did poll and print readings
    assert "\\x1b]52;c;cHduZWQ=\\x07" in proc.stderr  # the "found ... model" log line, escaped
    assert EPHEMERAL_WEB.search(proc.stderr), proc.stderr  # its page never on 8780: parallel runs do not clash
    with sqlite3.connect(tmp_path / "pv.sqlite") as db:
        models = {row[0] for row in db.execute("SELECT model FROM inverters")}
    assert models == {MODEL}  # storage keeps what the device said


def test_monitor_refuses_a_malformed_serial_once(tmp_path: Path) -> None:
    proc = _monitor(tmp_path, "sim://cms?awake=always&serials=AB\\x1b[2J01")
    assert proc.returncode == 0, proc.stderr
    assert_no_raw_controls(proc.stdout, proc.stderr)
    refusals = [line for line in proc.stderr.splitlines() if "serial" in line and "malformed" in line]
    assert len(refusals) == 1, proc.stderr  # once, not every cycle
    assert "\\x1b[2J" in refusals[0] and "not visible ASCII" in refusals[0]
    with sqlite3.connect(tmp_path / "pv.sqlite") as db:
        assert db.execute("SELECT count(*) FROM readings").fetchone()[0] == 0


@pytest.mark.parametrize("serial", ["AB\\u001b[2J01", "AB CD", "X0905BO0139X0905BO0139X0905BO0139"])
def test_configured_serials_are_validated(tmp_path: Path, serial: str) -> None:
    config = tmp_path / "pv.toml"
    config.write_text(f'[[ports]]\nport = "sim://cms"\n[[ports.inverters]]\nserial = "{serial}"\n', encoding="utf-8")
    proc = run_pv("--config", str(config), "config", "check")
    assert proc.returncode == 2
    assert proc.stderr.startswith("config error: ports[0].inverters[0].serial: ")
    assert_no_raw_controls(proc.stderr)
    assert len(proc.stderr.splitlines()) == 1


def test_history_shows_the_serial_and_its_problems_escaped(tmp_path: Path) -> None:
    """`pv history` prints the serial (a heading, the problem lines): as data.

    A unit that connects in (``listen://``) with such a serial is refused
    before it gets this far (``test_listen_refuses_a_malformed_serial``); a
    Samil TCP port reached through a bridge (``socket://``) is dialled and
    shown whatever it says.
    """
    start = datetime.now().astimezone().replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    serial = "S2\x1b]0;pwned\x07X"  # OSC 0 renames the terminal window
    sim = Simulator("samil_tcp", SimOptions(spec="samil_tcp", serials=(serial,), start=start, clouds=0))
    today = sim.clock.now().date()
    sim.inverters[0].hourly.setdefault(today, {})[0] = 5000.0  # logged by the "unit": a problem line names it
    server = TcpServer(sim)
    server.start()
    try:
        proc = run_pv(
            "history", f"socket://127.0.0.1:{server.port}", "--spec", "samil_tcp",
            "--from", today.isoformat(), "--to", today.isoformat(), "--no-store", cwd=tmp_path,
        )  # fmt: skip
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stderr
    assert_no_raw_controls(proc.stdout, proc.stderr)
    assert proc.stdout.startswith(f"S2\\x1b]0;pwned\\x07X on socket://127.0.0.1:{server.port}\n"), proc.stdout
    problems = [line for line in proc.stderr.splitlines() if line.startswith("pv history: ")]
    assert problems and problems[0].startswith("pv history: S2\\x1b]0;pwned\\x07X: "), proc.stderr
    assert "not plausible" in problems[0]


BAD_SERIAL = "A B/+#\u00c4\u00d60003"  # a space, MQTT wildcards, non-ASCII: the serial line refuses it too


@pytest.fixture
def bad_unit() -> Iterator[TcpConnector]:
    """A TL-D in connect-in mode whose version reply carries a malformed serial, calling back every 0.2 s."""
    start = datetime.now().astimezone().replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    sim = Simulator("samil_tcp", SimOptions(spec="samil_tcp", serials=(BAD_SERIAL,), start=start, clouds=0))
    conn = TcpConnector(sim, None, port=1, udp_port=0, udp_host="127.0.0.1", retry=0.2)
    conn.start()
    yield conn
    conn.stop()


def test_listen_refuses_a_malformed_serial_once(tmp_path: Path, bad_unit: TcpConnector) -> None:
    """`pv monitor --listen` applies the serial rule: refused, logged once however often it calls."""
    db = tmp_path / "pv.sqlite"
    proc = start_pv(
        tmp_path, "monitor", "--listen", "127.0.0.1:0", "--advertise", f"127.0.0.1:{bad_unit.udp_port}",
        "--storage", str(db), "--poll-interval", "1", "--duration", "8", "--display", "lines", "--no-upload",
        "--no-web",
    )  # fmt: skip
    seen: list[str] = []
    bad_unit.port, rest = port_from_stderr(proc, r"listening on 127\.0\.0\.1:(\d+) for Samil TCP", seen)
    proc.wait(timeout=60)
    rest.join(timeout=10)
    out, err = (tmp_path / "stdout").read_text(encoding="utf-8"), "".join(seen)
    assert proc.returncode == 0, err
    assert bad_unit.connects >= 2  # it called again and again
    refusals = [line for line in err.splitlines() if "serial" in line and "malformed" in line]
    assert len(refusals) == 1, err
    assert f"its serial {BAD_SERIAL!r} is malformed: character ' ' is not visible ASCII" in refusals[0]
    assert "0003" not in out  # no reading shown
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM readings").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM inverters").fetchone()[0] == 0


def test_listen_one_shot_refuses_a_malformed_serial(tmp_path: Path, bad_unit: TcpConnector) -> None:
    """`pv status listen://` waits past a unit with a malformed serial (said once) instead of showing it."""
    proc = start_pv(
        tmp_path, "status", "listen://127.0.0.1:0", "--advertise", f"127.0.0.1:{bad_unit.udp_port}", "--wait", "6"
    )
    seen: list[str] = []
    bad_unit.port, rest = port_from_stderr(proc, r"connect on 127\.0\.0\.1:(\d+)", seen)
    proc.wait(timeout=60)
    rest.join(timeout=10)
    out, err = (tmp_path / "stdout").read_text(encoding="utf-8"), "".join(seen)
    assert proc.returncode == 1, err
    assert bad_unit.connects >= 2
    refusals = [line for line in err.splitlines() if "serial" in line and "malformed" in line]
    assert len(refusals) == 1, err
    assert "no inverter connected" in err and "0003" not in out
