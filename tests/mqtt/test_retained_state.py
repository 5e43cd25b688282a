"""Issue 15: the retained state stays true through refused totals and brokers that forget.

A Home Assistant that starts (or re-subscribes) reads only what the broker
retains: the last state message must carry the last accepted totals, and a
broker restarted without persistence must get discovery, availability and
state back as soon as the monitor reconnects.
"""

from __future__ import annotations

import json
import time

import pytest

from pvapp.outputs import hass

from . import synthetic
from .broker import Broker, Recorder, retained
from .conftest import StartOutput
from .synthetic import SPEC

pytestmark = pytest.mark.mqtt
SERIAL = "0905BO0139"
STATE = f"pv/{SERIAL}/state"


def wait(cond, timeout: float = 15.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_a_refused_total_never_blanks_the_retained_one(start_output: StartOutput, broker: Broker) -> None:
    out = start_output(per_value_topics=True)
    good = synthetic.reading(5)
    out.publish(good)
    refused = synthetic.reading(
        6,
        values={"e_total": None, "e_today": None, "h_total": None, "pac": None},
        rejected={"e_total": "jump of 900 kWh", "e_today": "above the day's possible", "h_total": "jump",
                  "pac": "above rated power"},
    )  # fmt: skip
    out.publish(refused)
    assert out.wait_idle()
    kept = retained(broker)
    doc = json.loads(kept[STATE])
    assert doc["time"] == refused.time.isoformat()  # the newest reading's message...
    for total in ("e_total", "e_today", "h_total"):  # ...with the last accepted totals in it
        assert doc[total] == good.values[total], total
        assert kept[f"pv/{SERIAL}/{total}"] == str(good.values[total]).encode()
    assert sorted(doc["carried"]) == ["e_today", "e_total", "h_total"]
    assert doc["rejected"]["e_total"] == "jump of 900 kWh"
    assert "pac" not in doc  # a measurement is not carried: it was not measured now
    # what Home Assistant renders from it, with the discovery's own template
    assert set(hass.total_fields(SPEC)) == {"e_today", "e_total", "h_total"}


def test_broker_restarted_without_persistence_gets_everything_back(start_output: StartOutput, broker: Broker) -> None:
    out = start_output(serials=(SERIAL,))
    last = synthetic.reading(7)
    out.publish(synthetic.reading(6))
    out.publish(last)
    out.inverter_state(last.inverter, "asleep")
    assert out.wait_idle()
    before = retained(broker)
    broker.stop()
    wait(lambda: not out.connected, what="the loss")
    broker.forget_retained()
    broker.start()
    assert retained(broker) == {}  # the broker really forgot
    wait(lambda: out.wait_connected(0.1), what="the reconnect")
    assert out.wait_idle()
    after = retained(broker)
    assert after == before  # discovery, availability (asleep), state, record, online: all back, byte for byte
    assert json.loads(after[STATE])["e_total"] == last.values["e_total"]
    assert after[f"pv/{SERIAL}/availability"] == b"asleep"
    assert sum(t.endswith("/config") for t in after) == len(hass.reading_fields(SPEC, last)) + 2


def test_home_assistant_restart_gets_state_even_without_retain(start_output: StartOutput, recorder: Recorder) -> None:
    """With ``retain = false`` Home Assistant's birth message is the only moment it can get the state."""
    out = start_output(retain=False)
    out.publish(synthetic.reading(1))
    recorder.wait_count(STATE, 1)
    recorder.client.publish("homeassistant/status", "online", qos=1)
    recorder.wait_count(STATE, 2)
    assert recorder.on(STATE)[-1].json() == recorder.on(STATE)[0].json()
