"""Issue 12: a password over plain MQTT, or ``tls.insecure``, is said out loud (config check and monitor log)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from pvapp.outputs.mqtt import MqttOutput, config_warnings, validate_config

REPO = Path(__file__).resolve().parents[2]
SECRET = "s3cret-do-not-print"


def warnings_for(table: dict[str, object], tmp_path: Path) -> list[str]:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    if isinstance(table.get("tls"), dict):
        table = {**table, "tls": {"ca_file": str(ca), **table["tls"]}}  # type: ignore[dict-item]
    env = {"PV_MQTT_PASSWORD": SECRET} if "username" in table else {}
    return config_warnings(validate_config(table, env=env))


def test_password_over_plain_mqtt_is_warned(tmp_path: Path) -> None:
    found = warnings_for({"host": "broker.lan", "username": "pv"}, tmp_path)
    assert found == [
        "mqtt: the password is sent to broker.lan:1883 in plain text (no TLS): anyone on the network path"
        " can read it; set mqtt.tls (see docs/mqtt.md)"
    ]


@pytest.mark.parametrize(
    "table",
    [
        {"host": "broker.lan", "username": "pv", "tls": {}},  # TLS: fine
        {"host": "127.0.0.1", "username": "pv"},  # loopback: nobody else reads it
        {"host": "localhost", "username": "pv"},
        {"host": "broker.lan"},  # anonymous: no password to leak
    ],
)
def test_no_warning_where_nothing_leaks(table: dict[str, object], tmp_path: Path) -> None:
    assert warnings_for(table, tmp_path) == []


def test_insecure_tls_is_warned(tmp_path: Path) -> None:
    found = warnings_for({"host": "broker.lan", "tls": {"insecure": True}}, tmp_path)
    assert len(found) == 1 and found[0].startswith("mqtt.tls.insecure = true: the broker certificate's host name")


def test_config_check_says_so_and_never_prints_the_password(tmp_path: Path) -> None:
    cfg = tmp_path / "pv.toml"
    cfg.write_text('[[ports]]\nport = "sim://cms"\n[mqtt]\nhost = "broker.lan"\nusername = "pv"\n')
    env = {"PATH": "/usr/bin:/bin", "PV_MQTT_PASSWORD": SECRET}
    proc = subprocess.run([sys.executable, "-m", "pvapp.cli", "--config", str(cfg), "config", "check"],
                          capture_output=True, text=True, timeout=60, cwd=REPO, env=env, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "  MQTT broker broker.lan:1883 (no TLS, user pv, password set); topics pv/..." in proc.stdout
    assert "  warning: mqtt: the password is sent to broker.lan:1883 in plain text" in proc.stdout
    assert SECRET not in proc.stdout + proc.stderr


def test_monitor_start_logs_the_warning(caplog: pytest.LogCaptureFixture) -> None:
    cfg = validate_config({"host": "broker.invalid", "username": "pv", "reconnect_min_delay": 0.05},
                          env={"PV_MQTT_PASSWORD": SECRET})  # fmt: skip
    out = MqttOutput(cfg)
    with caplog.at_level(logging.WARNING, logger="pv.mqtt"):
        out.start()
        out.stop(timeout=1)
    texts = [r.getMessage() for r in caplog.records]
    assert any("in plain text (no TLS)" in t for t in texts), texts
    assert all(SECRET not in t for t in texts)
