"""Broker stopped and restarted during a run: reconnect, re-announce, and the missed-readings policies."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest

from pvapp.outputs.mqtt import MqttOutput
from pvapp.reading import Reading

from . import synthetic
from .broker import Broker, Recorder
from .conftest import StartOutput

pytestmark = pytest.mark.mqtt
SERIAL = "0905BO0139"
STATE = f"pv/{SERIAL}/state"


def wait(cond: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def subscriber(broker: Broker) -> Iterator[Recorder]:
    """A subscriber with a persistent session: it misses nothing the broker accepted, across the restart."""
    rec = Recorder(broker, ["pv/#", "homeassistant/#"], client_id="ha-like", persistent=True)
    yield rec
    rec.close()


def outage(broker: Broker, out: MqttOutput, during: list[Reading]) -> float:
    """Stop the broker, publish ``during`` while it is down, start it again; returns the restart time."""
    broker.stop()
    wait(lambda: not out.connected, what="the output to notice the outage")
    for r in during:
        out.publish(r)
    assert out.wait_idle()
    restarted = time.monotonic()
    broker.start()
    return restarted


def state_times(rec: Recorder) -> list[str]:
    """Reading times in first-arrival order.

    mosquitto 2.0 redelivers some already-acknowledged messages to a persistent
    session after a restart, so duplicates seen by the subscriber are dropped here;
    ``stats.duplicates`` checks the output side.
    """
    return list(dict.fromkeys(m.json()["time"] for m in rec.on(STATE)))


@pytest.mark.parametrize("policy", ["buffer", "republish"])
def test_restart_loses_no_reading(policy: str, broker: Broker, start_output: StartOutput, subscriber: Recorder) -> None:
    readings = [synthetic.reading(i) for i in range(30)]
    calls: list[datetime] = []

    def history(since: datetime) -> Iterator[Reading]:
        """What the monitor's storage provides: every stored reading at or after ``since``, oldest first."""
        calls.append(since)
        stored = readings[:25]  # the poller stored these before the broker came back (20..24 also queued live)
        return iter([r for r in stored if r.time >= since])

    out = start_output(missed=policy, history=history if policy == "republish" else None)
    for r in readings[:10]:
        out.publish(r)
    subscriber.wait_count(STATE, 10)
    restarted = outage(broker, out, readings[10:20])
    for r in readings[20:25]:
        out.publish(r)  # right after the restart, possibly before the reconnect
    wait(lambda: out.connected, what="reconnect")
    for r in readings[25:]:
        out.publish(r)
    subscriber.wait_for(lambda ms: len({m.json()["time"] for m in ms if m.topic == STATE}) == 30, 15, "30 readings")

    times = state_times(subscriber)
    assert sorted(times) == [r.time.isoformat() for r in readings]  # none lost
    assert times == sorted(times)  # never a step back in time on the retained state
    assert out.stats.duplicates == 0 or policy == "republish"  # republish overlaps with live readings 20..24
    values = {m.json()["time"]: m.json()["e_total"] for m in subscriber.on(STATE)}
    assert all(values[r.time.isoformat()] == r.values["e_total"] for r in readings)
    if policy == "buffer":
        assert out.stats.buffered >= 10 and out.stats.republished >= 10
    else:
        assert out.stats.missed >= 10 and calls and calls[0] == readings[10].time
    # discovery re-announced on the new connection, not just left from before
    configs_after = subscriber.matching(lambda m: m.topic.endswith("/config") and m.at >= restarted)
    assert len({m.topic for m in configs_after}) == len(
        {m.topic for m in subscriber.messages if m.topic.endswith("/config")}
    )
    assert [m.text for m in subscriber.on("pv/status")][-1] == "online"
    assert out.stats.connects == 2


def test_skip_policy_drops_what_the_broker_missed(
    broker: Broker, start_output: StartOutput, subscriber: Recorder
) -> None:
    readings = [synthetic.reading(i) for i in range(20)]
    out = start_output(missed="skip")
    for r in readings[:5]:
        out.publish(r)
    subscriber.wait_count(STATE, 5)
    outage(broker, out, readings[5:15])
    wait(lambda: out.connected and out.wait_idle(), what="reconnect")
    for r in readings[15:]:
        out.publish(r)
    subscriber.wait_for(lambda ms: readings[-1].time.isoformat() in state_times(subscriber), what="last reading")
    assert out.wait_idle()
    assert state_times(subscriber) == [r.time.isoformat() for r in readings[:5] + readings[15:]]
    assert out.stats.skipped == 10


def test_buffer_keeps_the_newest_when_full(broker: Broker, start_output: StartOutput, subscriber: Recorder) -> None:
    readings = [synthetic.reading(i) for i in range(30)]
    out = start_output(missed="buffer", buffer_size=8)
    out.publish(readings[0])
    subscriber.wait_count(STATE, 1)
    outage(broker, out, readings[1:30])
    wait(lambda: out.connected, what="reconnect")
    subscriber.wait_for(lambda ms: readings[-1].time.isoformat() in state_times(subscriber), what="last reading")
    assert out.wait_idle()
    assert state_times(subscriber) == [r.time.isoformat() for r in readings[:1] + readings[22:]]
    assert out.stats.dropped_buffer_full == 21
