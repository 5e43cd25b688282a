"""Reconnecting: soon after the broker returns, without hammering one that stays down.

How soon is a benchmark figure (``python -m benchmarks --only mqtt_reconnect``:
a 30 s outage), not a timed assertion here; these tests pin the policy that
makes it short, and count attempts (a loaded machine only ever makes fewer).
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from pvapp.outputs.mqtt import MqttOutput, validate_config
from pvapp.outputs.mqtt.connection import RetryPolicy, unreachable

from . import synthetic
from .broker import Broker, Recorder, free_port

pytestmark = pytest.mark.mqtt


def test_policy_probes_an_unreachable_broker_and_backs_off_from_a_refusing_one() -> None:
    p = RetryPolicy(min_delay=1.0, max_delay=60.0, probe_interval=2.0)
    assert [p.unreachable() for _ in range(5)] == [1.0, 2.0, 2.0, 2.0, 2.0]  # never the 32 s of issue 15
    p.reset()
    assert [p.refused() for _ in range(8)] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    assert p.lost() == 1.0 and p.unreachable() == 2.0
    # a probe interval above the backoff's ceiling is capped by it, below the floor raised to it
    assert RetryPolicy(1.0, 1.5, 10.0).probe_cap == 1.5 and RetryPolicy(3.0, 60.0, 2.0).probe_cap == 3.0


def test_what_counts_as_unreachable() -> None:
    with socket.socket() as s, pytest.raises(OSError) as refused:
        s.connect(("127.0.0.1", free_port()))
    assert unreachable(refused.value)
    assert unreachable(socket.gaierror(-2, "Name or service not known"))
    assert unreachable(TimeoutError("timed out"))
    assert not unreachable(ssl.SSLCertVerificationError(1, "certificate verify failed"))
    assert not unreachable(None)


def wait(cond, timeout: float = 15.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_a_stopped_broker_is_probed_at_the_probe_interval_and_rejoined(
    broker: Broker, outputs: list[MqttOutput]
) -> None:
    cfg = validate_config({"host": broker.host, "port": broker.port, "client_id": "pv-probe",
                           "reconnect_min_delay": 0.05, "reconnect_max_delay": 30, "probe_interval": 0.5}, env={})  # fmt: skip
    out = MqttOutput(cfg, spec_resolver=synthetic.resolver)
    out.start()
    outputs.append(out)
    assert out.wait_connected()
    broker.stop()
    wait(lambda: not out.connected, what="the loss")
    before = out.stats.connect_attempts
    down = 3.0
    time.sleep(down)
    attempts = out.stats.connect_attempts - before
    # ramp 0.05, 0.1, 0.2, 0.4, then one every 0.5 s: about 9; never the doubling to 30 s (3 attempts)
    assert 4 <= attempts <= down / 0.5 + 5, attempts
    assert out._conn._client._reconnect_max_delay == 0.5  # the wait paho will use next: the probe interval
    broker.start()
    wait(lambda: out.connected, what="the reconnect")
    assert out.stats.connects == 2


def test_a_refusing_broker_gets_the_full_backoff(mosquitto_bin: str, tmp_path: Path, outputs: list[MqttOutput]) -> None:
    pwfile = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pwfile), "pv", "s3cret"], check=True)
    b = Broker(mosquitto_bin, extra_config=f"allow_anonymous false\npassword_file {pwfile}\n")
    b.start()
    try:
        cfg = validate_config({"host": b.host, "port": b.port, "username": "pv", "client_id": "pv-refused",
                               "reconnect_min_delay": 0.05, "reconnect_max_delay": 30, "probe_interval": 0.05},
                              env={"PV_MQTT_PASSWORD": "wrong"})  # fmt: skip
        out = MqttOutput(cfg, spec_resolver=synthetic.resolver)
        out.start()
        outputs.append(out)
        time.sleep(3.0)
        # 0.05, 0.1, 0.2, 0.4, 0.8, 1.6 s: at most 7 attempts in 3 s, although probe_interval is 0.05
        assert 2 <= out.stats.connect_attempts <= 7, out.stats.connect_attempts
        assert not out.connected
    finally:
        b.close()


def test_rejoin_after_restart_publishes_again(broker: Broker, outputs: list[MqttOutput]) -> None:
    cfg = validate_config({"host": broker.host, "port": broker.port, "client_id": "pv-rejoin",
                           "reconnect_min_delay": 0.05, "reconnect_max_delay": 0.2}, env={})  # fmt: skip
    out = MqttOutput(cfg, spec_resolver=synthetic.resolver)
    out.start()
    outputs.append(out)
    assert out.wait_connected()
    broker.stop()
    wait(lambda: not out.connected, what="the loss")
    broker.start()
    rec = Recorder(broker, ["pv/#"])
    try:
        wait(lambda: out.connected, what="the reconnect")
        out.publish(synthetic.reading(1))
        rec.wait_count("pv/0905BO0139/state", 1)
    finally:
        rec.close()
