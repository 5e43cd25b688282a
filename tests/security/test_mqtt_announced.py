"""Issue 12: the retained ``pv/announced`` record is untrusted input, and the MQTT worker must not die.

Anyone allowed to publish ``pv/announced`` on the broker used to be able to
make the monitor clear any retained topic (it cleared whatever the record
listed for an unconfigured serial), and a topic with ``#`` in it made paho
raise inside the worker's after-connect work, ending publishing for the rest
of the run without the systemd watchdog noticing.  Real mosquitto throughout.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mqtt import synthetic
from mqtt.broker import Broker, Recorder, retained
from mqtt.conftest import StartOutput

from pvapp import config as pvconfig
from pvapp.clock import ScaledClock
from pvapp.monitor.run import make_open_port
from pvapp.monitor.service import Monitor
from pvapp.outputs.mqtt import MqttOutput
from pvapp.service.notify import Notifier
from pvapp.storage import Storage

pytestmark = pytest.mark.mqtt
SERIAL = "0905BO0139"


def plant(broker: Broker, messages: dict[str, str]) -> None:
    """What an attacker with publish rights leaves on the broker, retained."""
    rec = Recorder(broker, ["pv-never/#"])
    try:
        for topic, payload in messages.items():
            rec.client.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
    finally:
        rec.close()


def wait(cond, timeout: float = 10.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_announced_record_cannot_clear_topics_outside_our_own(broker: Broker, start_output: StartOutput) -> None:
    foreign = {
        "victim/important": "keep me",
        "homeassistant/sensor/pv_someone_else/pac/config": '{"name": "theirs"}',
        "homeassistant/switch/pv_evil0001/pac/config": '{"name": "not a component we create"}',
        "pv/status_of_something_else": "keep",
    }
    own_stale = {
        "homeassistant/sensor/pv_evil0001/pac/config": '{"name": "stale"}',
        "pv/EVIL0001/state": '{"pac": 1}',
    }
    record = {"EVIL0001": [*foreign, *own_stale], SERIAL: ["victim/important"]}
    plant(broker, {**foreign, **own_stale, "pv/announced": json.dumps(record)})

    out = start_output(serials=(SERIAL,))
    wait(lambda: "EVIL0001" in out.stats.removed, what="the unconfigured serial to be removed")
    assert out.wait_idle()
    kept = retained(broker)
    for topic, payload in foreign.items():
        assert kept.get(topic) == payload.encode(), f"{topic} was cleared on the record's word"
    for topic in own_stale:
        assert topic not in kept, f"{topic} (ours, stale) should have been cleared"
    assert out.healthy()


@pytest.mark.parametrize("bad", ["#", "pv/#", "pv/EVIL0001/+", "homeassistant/sensor/pv_evil0001/+/config"])
def test_wildcard_in_the_record_does_not_stop_publishing(
    bad: str, broker: Broker, start_output: StartOutput, recorder: Recorder
) -> None:
    plant(broker, {"pv/announced": json.dumps({"EVIL0001": [bad, "pv/EVIL0001/state"]})})
    out = start_output(serials=(SERIAL,))
    out.publish(synthetic.reading(1))
    recorder.wait_count(f"pv/{SERIAL}/state", 1)
    assert out.healthy() and out.connected
    out.publish(synthetic.reading(2))
    recorder.wait_count(f"pv/{SERIAL}/state", 2)


def test_a_wildcard_topic_never_reaches_paho(start_output: StartOutput) -> None:
    out = start_output()
    before = out.stats.messages
    for topic in ("a/#", "+", "pv/x\0y", ""):
        assert out._conn.send(topic, "x", 1, True) is None
    assert out.stats.messages == before and out.healthy()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_watchdog_stops_when_the_mqtt_worker_dies(broker: Broker, tmp_path: Path) -> None:
    """If the worker dies anyway (a BaseException), the monitor stops pinging systemd's watchdog."""
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(0.2)
    table = {
        "storage": {"path": str(tmp_path / "pv.sqlite")},
        "ports": [{"port": "sim://cms?awake=always", "timeout": 0.05, "inverters": [{"serial": SERIAL}]}],
        "mqtt": {"host": broker.host, "port": broker.port, "reconnect_min_delay": 0.05},
    }
    cfg = pvconfig.from_table(table, env={})
    clock = ScaledClock(datetime(2026, 12, 21, 1, 0, tzinfo=UTC), 60)
    storage = Storage(cfg.storage.path)
    out = MqttOutput(cfg.mqtt_config, configured_serials=[SERIAL], history=storage.history)
    notifier = Notifier(env={"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "1500000"})
    mon = Monitor(cfg, clock=clock, storage=storage, outputs=[out], open_port=make_open_port(clock), notifier=notifier)
    thread = threading.Thread(target=mon.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()

    def received(seconds: float) -> list[str]:
        got: list[str] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                got.append(sock.recv(4096).decode())
            except TimeoutError:
                pass
        return got

    try:
        assert "WATCHDOG=1" in received(3.0)  # pinged every 0.5 s while everything runs
        assert out.wait_connected(10) and out.healthy()

        def die(*args: object) -> None:
            raise SystemExit("simulated death of the worker")

        out._handle_state = die  # type: ignore[method-assign]
        out.inverter_state(synthetic.info(SERIAL), "asleep")
        worker = next(t for t in out.threads if t.name == "pv-mqtt")
        worker.join(5)
        assert not worker.is_alive()
        received(0.6)  # a ping already on its way
        assert not mon.healthy()
        assert "WATCHDOG=1" not in received(2.0)
    finally:
        mon.request_stop()
        thread.join(30)
        storage.close()
        sock.close()
