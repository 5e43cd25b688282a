"""Bad configuration and bad command-line input: one line naming the key or argument, exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from pvapp.config import known_specs

from .conftest import pv_env, run_pv

GOOD_PORT = """
[[ports]]
port = "sim://cms"
  [[ports.inverters]]
  serial = "auto"
"""

CONFIG_CASES = [
    (
        "unknown spec",
        GOOD_PORT + '[[ports]]\nport = "/dev/ttyUSB1"\n  [[ports.inverters]]\n  spec = "cmz"\n',
        f"config error: ports[1].inverters[0].spec: unknown spec 'cmz' (expected one of {', '.join(known_specs())})",
    ),
    (
        "misspelt key",
        "pol_interval = 10\n" + GOOD_PORT,
        "config error: pol_interval: unknown key (did you mean 'poll_interval'?)",
    ),
    (
        "wrong type",
        'poll_interval = "fast"\n' + GOOD_PORT,
        "config error: poll_interval: expected a number, got 'fast'",
    ),
    ("out of range", "poll_interval = 0\n" + GOOD_PORT, "config error: poll_interval: 0 is out of range (0.5 to 3600)"),
    ("no ports", "poll_interval = 10\n", "config error: ports: missing: add at least one [[ports]] table"),
    (
        "duplicate port",
        GOOD_PORT + GOOD_PORT,
        "config error: ports[1].port: 'sim://cms' is already used by ports[0]",
    ),
    ("port missing", '[[ports]]\nspec = "cms"\n', "config error: ports[0].port: missing"),
    (
        "api key in file",
        '[pvoutput]\napi_key = "secret"\n' + GOOD_PORT,
        "config error: pvoutput.api_key: keep the API key out of the file",
    ),
    ("bad zone", 'timezone = "Mars/Olympus"\n' + GOOD_PORT, "config error: timezone: unknown time zone 'Mars/Olympus'"),
    (
        "status interval",
        "[pvoutput]\nstatus_interval = 7\n" + GOOD_PORT,
        "config error: pvoutput.status_interval: PVOutput allows 5, 10 or 15 minutes, got 7",
    ),
    (
        "system without pvoutput",
        GOOD_PORT + "  pvoutput_system = 5\n",
        "config error: ports[0].inverters[0].pvoutput_system: needs a [pvoutput] table",
    ),
    (
        "serial twice",
        '[[ports]]\nport = "sim://cms"\n  [[ports.inverters]]\n  serial = "A1"\n  [[ports.inverters]]\n  serial = "A1"\n',
        "config error: ports[0].inverters[1].serial: 'A1' is already configured at ports[0].inverters[0]",
    ),
    (
        "storage sync",
        '[storage]\nsynchronous = "FAST"\n' + GOOD_PORT,
        "config error: storage.synchronous: expected NORMAL",
    ),
    ("not toml", "ports = [[[\n", "not valid TOML"),
    ("mqtt key", GOOD_PORT + "[mqtt]\nbrokr = 'x'\n", "config error: mqtt"),
]


def _one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(("name", "body", "message"), CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_bad_configuration(tmp_path: Path, name: str, body: str, message: str) -> None:
    _assert_config_error(tmp_path, body, message, ["config", "check"])


@pytest.mark.parametrize("case", [0, 1, 13, 14], ids=[CONFIG_CASES[i][0] for i in (0, 1, 13, 14)])
def test_monitor_refuses_bad_configuration_the_same_way(tmp_path: Path, case: int) -> None:
    _name, body, message = CONFIG_CASES[case]
    _assert_config_error(tmp_path, body, message, ["monitor", "--duration", "1"])


def _assert_config_error(tmp_path: Path, body: str, message: str, command: list[str]) -> None:
    cfg = tmp_path / "pv.toml"
    cfg.write_text(body, encoding="utf-8")
    proc = run_pv("--config", str(cfg), *command, cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    line = _one_line(proc.stderr)
    assert message in line, line
    assert proc.stdout == ""


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    cfg = tmp_path / "pv.toml"
    cfg.write_text(GOOD_PORT, encoding="utf-8")
    proc = run_pv("--config", str(cfg), "config", "check", env=pv_env(PV_POLL_INTERVAL="abc"))
    assert proc.returncode == 2
    assert _one_line(proc.stderr) == "config error: PV_POLL_INTERVAL: expected a number, got 'abc'"


def test_missing_config_file_names_the_option(tmp_path: Path) -> None:
    proc = run_pv("--config", str(tmp_path / "nope.toml"), "monitor")
    assert proc.returncode == 2
    assert _one_line(proc.stderr).startswith("config error: --config: no such file:")
    proc = run_pv("monitor", env=pv_env(PV_CONFIG=str(tmp_path / "nope.toml")))
    assert proc.returncode == 2
    assert _one_line(proc.stderr).startswith("config error: PV_CONFIG: no such file:")


CLI_CASES = [
    (["monitor", "--poll-interval", "-1"], "argument --poll-interval: '-1' must be greater than 0"),
    (["monitor", "--poll-interval", "often"], "argument --poll-interval: 'often' is not a number"),
    (["monitor", "--display", "fancy"], "argument --display: invalid choice"),
    (["status"], "the following arguments are required: PORT"),
    (["status", "sim://cms", "--spec", "cmz"], "--spec: unknown spec 'cmz'"),
    (
        ["set", "sim://cms", "vpv_start", "9999", "--yes"],
        "VALUE: 9999 V is outside the safe range 120..180 V of vpv_start",
    ),
    (["set", "sim://cms", "nope", "1", "--yes"], "NAME: cms has no parameter 'nope'"),
    (["set", "sim://cms", "zac_max", "1", "--yes"], "NAME: zac_max is read-only"),
    (["set", "sim://cms", "vpv_start", "high", "--yes"], "VALUE: 'high' is not a number"),
    (["export", "--from", "2026-13-01"], "--from: '2026-13-01' is not a date (YYYY-MM-DD)"),
    # the ends of the calendar: the day after --to, or --from's UTC instant east of Greenwich, do not exist
    (["export", "--to", "9999-12-31"], "--to: 9999-12-31 is outside the days pv handles (1900-01-01 to 9998-12-31)"),
    (["export", "--history", "--to", "9999-12-31"], "--to: 9999-12-31 is outside the days pv handles"),
    (["export", "--from", "0001-01-01", "--timezone", "Asia/Tokyo"], "--from: 0001-01-01 is outside the days"),
    (["history", "sim://cms", "--from", "9999-12-31"], "--from: 9999-12-31 is outside the days pv handles"),
    (["history", "sim://cms", "--from", "2999-01-01"], "--from: 2999-01-01 is after today ("),
    (["history", "sim://cms", "--from", "2026-01-02", "--to", "2026-01-01"], "--to: 2026-01-01 is before --from"),
    (["decode", "/nonexistent/capture.txt"], "FILE: cannot read /nonexistent/capture.txt"),
    (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
    (["config", "init", "--bogus"], "unrecognized arguments: --bogus"),
]


@pytest.mark.parametrize(("args", "message"), CLI_CASES, ids=[" ".join(c[0]) for c in CLI_CASES])
def test_bad_command_line(tmp_path: Path, args: list[str], message: str) -> None:
    proc = run_pv(*args, cwd=tmp_path, env=pv_env(HOME=str(tmp_path)))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    line = _one_line(proc.stderr)
    assert message in line, line
