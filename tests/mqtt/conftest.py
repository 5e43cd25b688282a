"""Fixtures: a real mosquitto per test (skipped only when the binary is absent)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pvapp.outputs.mqtt import MqttConfig, MqttOutput, ReadingHistory, validate_config

from . import synthetic
from .broker import Broker, Recorder, find_mosquitto

StartOutput = Callable[..., MqttOutput]


@pytest.fixture(scope="session")
def mosquitto_bin() -> str:
    binary = find_mosquitto()
    if binary is None:
        pytest.skip("mosquitto broker binary not installed (apt-get install mosquitto); .ci/run installs it")
    return binary


@pytest.fixture
def broker(mosquitto_bin: str) -> Iterator[Broker]:
    b = Broker(mosquitto_bin)
    b.start()
    yield b
    b.close()


@pytest.fixture
def make_config(broker: Broker) -> Callable[..., MqttConfig]:
    def make(**table: object) -> MqttConfig:
        base: dict[str, object] = {
            "host": broker.host,
            "port": broker.port,
            "client_id": "pv-test",
            "reconnect_min_delay": 0.05,
            "reconnect_max_delay": 0.2,
        }
        base.update(table)
        return validate_config(base, env={})

    return make


@pytest.fixture
def outputs() -> Iterator[list[MqttOutput]]:
    """Outputs a test started; stopped at the end even when the test fails."""
    started: list[MqttOutput] = []
    yield started
    for out in started:
        out.stop(timeout=2)


@pytest.fixture
def start_output(make_config: Callable[..., MqttConfig], outputs: list[MqttOutput]) -> StartOutput:
    def start(
        serials: tuple[str, ...] | None = None, history: ReadingHistory | None = None, **table: Any
    ) -> MqttOutput:
        out = MqttOutput(
            make_config(**table), configured_serials=serials, history=history, spec_resolver=synthetic.resolver
        )
        out.start()
        outputs.append(out)
        assert out.wait_connected(), "the output did not connect to the test broker"
        return out

    return start


@pytest.fixture
def recorder(broker: Broker) -> Iterator[Recorder]:
    rec = Recorder(broker, ["#"])
    yield rec
    rec.close()


@pytest.fixture(autouse=True)
def _mqtt_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="pv.mqtt")
