"""The MQTT output inside ``pv monitor``: simulator -> monitor -> SQLite + mosquitto.

Real parts only: the built-in simulator behind ``sim://``, the monitor's
port thread and guards, SQLite storage, mosquitto, and a subscriber with a
persistent session standing in for Home Assistant.  Simulated time runs
thousands of times faster than real time.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from pvapp import config as pvconfig
from pvapp.clock import ScaledClock
from pvapp.monitor.run import make_open_port
from pvapp.monitor.service import Monitor
from pvapp.outputs.mqtt import MqttOutput
from pvapp.storage import Storage

from .broker import Broker, Message, Recorder

pytestmark = pytest.mark.mqtt
SITE = timezone(timedelta(hours=10))  # Sydney standard time; the simulator's default latitude is Sydney's
SERIAL = "0905BO0139"  # the CMS 2000 model's serial in specs/cms.yaml (captured unit)
STATE = f"pv/{SERIAL}/state"


@dataclass
class Run:
    monitor: Monitor
    output: MqttOutput
    storage: Storage
    clock: ScaledClock
    thread: threading.Thread

    def stop(self) -> None:
        self.monitor.request_stop()
        self.thread.join(30)
        assert not self.thread.is_alive()

    def stored(self) -> list[Any]:
        return list(self.storage.readings())


@pytest.fixture
def monitor_run(broker: Broker, tmp_path: Path) -> Iterator[Any]:
    runs: list[Run] = []

    def start(begin: datetime, speed: float, **mqtt: Any) -> Run:
        table = {
            "timezone": "Etc/GMT-10",
            "poll_interval": 60,
            "asleep_after": 600,
            "storage": {"path": str(tmp_path / "pv.sqlite")},
            "ports": [{"port": "sim://cms?seed=7&clouds=0.2", "spec": "cms", "timeout": 0.02, "inverters": [{"serial": SERIAL}]}],
            "mqtt": {"host": broker.host, "port": broker.port, "reconnect_min_delay": 0.05,
                     "reconnect_max_delay": 0.2, **mqtt},
        }  # fmt: skip
        cfg = pvconfig.from_table(table, env={})
        clock = ScaledClock(begin, speed)
        storage = Storage(cfg.storage.path)
        output = MqttOutput(cfg.mqtt_config, configured_serials=[SERIAL], history=storage.history)
        mon = Monitor(cfg, clock=clock, storage=storage, outputs=[output], open_port=make_open_port(clock))
        thread = threading.Thread(target=mon.run, kwargs={"install_signals": False}, daemon=True)
        thread.start()
        run = Run(mon, output, storage, clock, thread)
        runs.append(run)
        return run

    yield start
    for run in runs:
        if run.thread.is_alive():
            run.stop()
        run.storage.close()


def wait_clock(run: Run, until: datetime, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while run.clock.now() < until:
        assert time.monotonic() < deadline, f"simulated clock stuck at {run.clock.now()}"
        time.sleep(0.02)


def assert_matches_database(states: list[Message], stored: list[Any]) -> None:
    """Every stored reading was published once per time, with the stored values."""
    by_time: dict[datetime, dict[str, Any]] = {}
    for m in states:
        by_time.setdefault(datetime.fromisoformat(m.json()["time"]), m.json())
    assert sorted(by_time) == sorted(r.time for r in stored)
    for r in stored:
        doc = by_time[r.time]
        for key, value in r.values.items():
            if value is None:  # not measured or refused: absent, except a total carried from the last accepted
                assert key not in doc or key in doc.get("carried", []), key
            elif key in ("mode", "error"):
                assert doc["raw"][key] == value, key
            else:
                assert doc[key] == value, (key, r.time)


def test_night_keeps_totals_and_publishes_no_zero(monitor_run: Any, broker: Broker) -> None:
    rec = Recorder(broker, ["pv/#"], client_id="ha", persistent=True)
    try:
        begin = datetime(2026, 6, 20, 15, 30, tzinfo=SITE)  # winter: sunset ~17:00, sunrise ~07:00
        run = monitor_run(begin, 5000, per_value_topics=True)
        wait_clock(run, datetime(2026, 6, 21, 8, 30, tzinfo=SITE))
        run.stop()
        stored = len(run.stored())
        rec.wait_for(
            lambda ms: (
                sum(m.topic == STATE for m in ms) >= stored
                and any(m.topic == "pv/status" and m.text == "offline" for m in ms)
            ),
            10,
            "every reading and the clean stop's offline",
        )  # the stop's offline can reach the subscriber after the last reading
        sequence = [m for m in rec.messages if m.topic in (STATE, f"pv/{SERIAL}/availability")]
        states = [m.text if m.topic.endswith("availability") else "reading" for m in sequence]
        compact = [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]]
        assert compact == ["awake", "reading", "asleep", "awake", "reading"], compact

        asleep_at = states.index("asleep")
        before = sequence[asleep_at - 1].json()  # last reading before sunset
        after = sequence[asleep_at + 2].json()  # first reading after sunrise
        assert before["e_total"] == after["e_total"], (before, after)
        assert before["h_total"] <= after["h_total"]
        # nothing published for the sleeping inverter, and no zero lifetime total ever
        totals = [m.json().get("e_total") for m in sequence if m.topic == STATE]
        assert None not in totals and 0 not in totals and totals == sorted(totals)
        per_value = [m.text for m in rec.messages if m.topic == f"pv/{SERIAL}/e_total"]
        assert "0" not in per_value and "0.0" not in per_value
        # the monitor stayed alive all night: Home Assistant keeps showing the totals
        assert [m.text for m in rec.on("pv/status")] == ["online", "offline"]  # offline: clean stop at the end
        assert_matches_database(rec.on(STATE), run.stored())
        # Zac is 0xFFFF ("not measured") on a CMS 2000: no entity that would never show a value
        assert not rec.matching(lambda m: m.topic.startswith("homeassistant/") and "/zac/" in m.topic)
    finally:
        rec.close()


@pytest.mark.parametrize("policy", ["republish", "buffer"])
def test_broker_restart_loses_nothing_from_the_database(policy: str, monitor_run: Any, broker: Broker) -> None:
    rec = Recorder(broker, ["pv/#", "homeassistant/#"], client_id="ha", persistent=True)
    try:
        begin = datetime(2026, 12, 21, 11, 0, tzinfo=SITE)
        run = monitor_run(begin, 600, missed=policy)
        rec.wait_for(lambda ms: sum(m.topic == STATE for m in ms) >= 5, 20, "first readings")
        stored_before = len(run.stored())
        broker.stop()
        time.sleep(1.0)  # 10 simulated minutes: polling and storage go on without the broker
        stored_during = len(run.stored()) - stored_before
        restarted = time.monotonic()
        broker.start()
        time.sleep(1.0)
        run.stop()
        stored = run.stored()
        rec.wait_for(
            lambda ms: len({m.json()["time"] for m in ms if m.topic == STATE}) >= len(stored), 15, "all stored readings"
        )
        assert stored_during >= 5  # the outage did not stop polling or storage
        assert_matches_database(rec.on(STATE), stored)
        configs_after = {m.topic for m in rec.messages if m.topic.endswith("/config") and m.at >= restarted}
        assert configs_after == {m.topic for m in rec.messages if m.topic.endswith("/config")}  # re-announced
        assert run.output.stats.connects == 2
        if policy == "republish":
            assert run.output.stats.missed > 0 and run.output.stats.republished > 0
        else:
            assert run.output.stats.buffered > 0
    finally:
        rec.close()


def test_removed_from_configuration_disappears_from_home_assistant(monitor_run: Any, broker: Broker) -> None:
    """A record left by a previous run with another inverter: the monitor's start removes it."""
    from .broker import retained

    rec = Recorder(broker, ["pv/#"])
    stale = {"OLD0000001": ["homeassistant/sensor/pv_old0000001/pac/config", "pv/OLD0000001/state"]}
    rec.client.publish("pv/announced", json.dumps(stale), qos=1, retain=True).wait_for_publish(5)
    for topic in stale["OLD0000001"]:
        rec.client.publish(topic, "{}", qos=1, retain=True).wait_for_publish(5)
    rec.close()
    run = monitor_run(datetime(2026, 12, 21, 11, 0, tzinfo=SITE), 600)
    deadline = time.monotonic() + 20
    while "OLD0000001" not in run.output.stats.removed or run.output.stats.published == 0:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    run.stop()
    kept = retained(broker)
    assert not [t for t in kept if "OLD0000001" in t or "old0000001" in t]
    assert set(json.loads(kept["pv/announced"])) == {SERIAL}
