"""``[mqtt]`` validation: one line naming the key for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from pvapp.outputs.mqtt import MqttConfigError, validate_config


def error(table: dict[str, object], env: dict[str, str] | None = None) -> str:
    with pytest.raises(MqttConfigError) as info:
        validate_config(table, env=env or {})
    text = str(info.value)
    assert "\n" not in text
    return text


def test_defaults() -> None:
    cfg = validate_config({}, env={})
    assert (cfg.host, cfg.port, cfg.qos, cfg.retain, cfg.missed) == ("localhost", 1883, 1, True, "buffer")
    assert cfg.base_topic == "pv" and cfg.discovery_prefix == "homeassistant"
    assert cfg.ha_status_topic == "homeassistant/status"
    assert cfg.tls is None and cfg.username is None and cfg.password is None
    assert cfg.client_id.startswith("pv-pv-")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"port": "abc"}, "mqtt.port: expected an integer 1-65535, got 'abc'"),
        ({"port": 0}, "mqtt.port: expected an integer 1-65535, got 0"),
        ({"port": True}, "mqtt.port: expected an integer 1-65535, got True"),
        ({"qos": 3}, "mqtt.qos: expected an integer 0-2, got 3"),
        ({"host": ""}, "mqtt.host: expected a non-empty string, got ''"),
        ({"retain": "yes"}, "mqtt.retain: expected true or false, got 'yes'"),
        ({"missed": "later"}, "mqtt.missed: expected 'skip' or 'buffer' or 'republish', got 'later'"),
        ({"base_topic": "pv/#"}, "mqtt.base_topic: expected a topic without wildcards or empty levels, got 'pv/#'"),
        ({"base_topic": "/pv"}, "mqtt.base_topic: expected a topic without wildcards or empty levels, got '/pv'"),
        ({"buffer_size": 0}, "mqtt.buffer_size: expected an integer 1-10000000, got 0"),
        ({"tls": "on"}, "mqtt.tls: expected true, false or a table, got 'on'"),
        ({"tls": {"ca_file": "/nonexistent/ca.pem"}}, "mqtt.tls.ca_file: no such file '/nonexistent/ca.pem'"),
        ({"tls": {"verify": False}}, "mqtt.tls.verify: unknown key (known: ca_file, cert_file, key_file, insecure)"),
        ({"password": "secret"}, "mqtt.password: set mqtt.username too (a password alone is never sent)"),
        (
            {"reconnect_min_delay": 5, "reconnect_max_delay": 1},
            "mqtt.reconnect_max_delay: expected a number >= reconnect_min_delay (5), got 1.0",
        ),
    ],
)
def test_errors_name_the_key(table: dict[str, object], message: str) -> None:
    assert error(table) == message


def test_unknown_key_lists_the_known_ones() -> None:
    text = error({"hostname": "x"})
    assert text.startswith("mqtt.hostname: unknown key (known: host, port,")


def test_password_from_environment_overrides_file() -> None:
    cfg = validate_config({"username": "pv", "password": "file"}, env={"PV_MQTT_PASSWORD": "env"})
    assert cfg.password == "env"
    assert "env" not in repr(cfg)  # never echoed into logs


def test_tls_switches_default_port(tmp_path: Path) -> None:
    assert validate_config({"tls": True}, env={}).port == 8883
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    cfg = validate_config({"tls": {"ca_file": str(ca), "insecure": True}, "port": 8884}, env={})
    assert cfg.tls is not None and cfg.tls.ca_file == str(ca) and cfg.tls.insecure and cfg.port == 8884


def test_through_the_monitor_configuration() -> None:
    """The monitor's config loader hands [mqtt] to validate_config and keeps the one-line message."""
    config = pytest.importorskip("pvapp.config")
    env = {"PV_MQTT_PASSWORD": "from-env"}
    ports = [{"port": "sim://cms", "spec": "cms"}]
    cfg = config.from_table({"ports": ports, "mqtt": {"port": 1884, "username": "pv"}}, env=env)
    assert cfg.mqtt_config.port == 1884 and cfg.mqtt_config.password == "from-env"
    with pytest.raises(config.ConfigError) as info:
        config.from_table({"ports": ports, "mqtt": {"port": "abc"}}, env={})
    assert str(info.value) == "config error: mqtt.port: expected an integer 1-65535, got 'abc'"
