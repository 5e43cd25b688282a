"""Warnings for secrets that travel or rest where others can read them; `pv config init --env-file` is mode 600."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
from pv.pvoutput import PVOutputClient

from pvgen.runtime.pvoutput import client as client_mod

from .clirun import pv_env, run_pv

KEY = "files-test-key-0123456789abcdef"
MQTT = '[mqtt]\nhost = "127.0.0.1"\nusername = "pv"\npassword = "hunter2-broker"\n'
PORTS = '[[ports]]\nport = "sim://cms"\n'


@pytest.mark.parametrize(
    ("host", "warned"),
    [
        ("http://pvoutput.example.org", True),
        ("http://192.168.1.20:8080", True),
        ("https://pvoutput.org", False),
        ("http://127.0.0.1:8089", False),
        ("http://localhost:8089", False),
        ("http://[::1]:8089", False),
    ],
)
def test_plain_http_pvoutput_host_is_warned_about(host: str, warned: bool, caplog: pytest.LogCaptureFixture) -> None:
    client_mod._warned_hosts.clear()
    with caplog.at_level(logging.WARNING, logger="pv.pvoutput"):
        PVOutputClient(KEY, 1, host=host, tz="UTC")
    assert any("unencrypted" in r.getMessage() for r in caplog.records) is warned
    assert KEY not in caplog.text


def test_config_check_warns_about_an_http_host(tmp_path: Path) -> None:
    path = tmp_path / "pv.toml"
    path.write_text(f'[pvoutput]\nhost = "http://pvoutput.org"\nsystem_id = 1\n{PORTS}', encoding="utf-8")
    proc = run_pv("--config", str(path), "config", "check", env=pv_env(PV_PVOUTPUT_API_KEY=KEY))
    assert proc.returncode == 0, proc.stderr
    assert "http://pvoutput.org is not https" in proc.stderr


@pytest.mark.parametrize(("mode", "warned"), [(0o644, True), (0o640, True), (0o600, False)])
def test_a_secret_in_a_file_others_can_read_is_warned_about(tmp_path: Path, mode: int, warned: bool) -> None:
    path = tmp_path / "pv.toml"
    path.write_text(MQTT + PORTS, encoding="utf-8")
    path.chmod(mode)
    proc = run_pv("--config", str(path), "config", "check")
    assert proc.returncode == 0, proc.stderr
    assert ("holds mqtt.password but other accounts can read it" in proc.stderr) is warned
    assert "hunter2-broker" not in proc.stdout + proc.stderr


def test_config_init_env_file_is_private_from_the_first_byte(tmp_path: Path) -> None:
    target = tmp_path / "etc" / "pv.env"
    old = os.umask(0)  # the most permissive umask: the mode must not depend on it
    try:
        proc = run_pv("config", "init", "--env-file", str(target), env=pv_env(PV_PVOUTPUT_API_KEY=KEY + "\r\n"))
    finally:
        os.umask(old)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    text = target.read_text(encoding="utf-8")
    assert f"PV_PVOUTPUT_API_KEY='{KEY}'\n" in text and "# PV_MQTT_PASSWORD=" in text
    assert KEY not in proc.stdout + proc.stderr
    again = run_pv("config", "init", "--env-file", str(target))
    assert again.returncode == 2 and "exists" in again.stderr


def test_config_init_writes_no_secret_into_the_toml(tmp_path: Path) -> None:
    proc = run_pv("config", "init", str(tmp_path / "pv.toml"), env=pv_env(PV_PVOUTPUT_API_KEY=KEY))
    assert proc.returncode == 0, proc.stderr
    assert KEY not in (tmp_path / "pv.toml").read_text(encoding="utf-8")
