"""Fixtures for the security tests: the MQTT ones are the real mosquitto of tests/mqtt."""

from __future__ import annotations

from mqtt.conftest import (  # noqa: F401  (re-exported fixtures)
    _mqtt_logs,
    broker,
    make_config,
    mosquitto_bin,
    outputs,
    recorder,
    start_output,
)
