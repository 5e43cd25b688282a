"""Issue 15: what a monitor says from its first second, before any inverter has answered.

Real parts: the simulator behind ``sim://`` (asleep at night, as a real unit),
the monitor and its SQLite history, mosquitto, and a subscriber standing in
for Home Assistant.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from pvapp import config as pvconfig
from pvapp.clock import ScaledClock
from pvapp.monitor.run import make_open_port
from pvapp.monitor.service import Monitor
from pvapp.outputs.mqtt import MqttOutput
from pvapp.reading import InverterInfo, Reading
from pvapp.storage import Storage

from .broker import Broker, Recorder, retained

pytestmark = pytest.mark.mqtt
SITE = timezone(timedelta(hours=10))
SERIAL = "0905BO0139"  # the CMS 2000 model's serial in specs/cms.yaml (captured unit)
STATE, AVAILABILITY = f"pv/{SERIAL}/state", f"pv/{SERIAL}/availability"


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
        self.storage.close()


@pytest.fixture
def start_monitor(broker: Broker, tmp_path: Path) -> Iterator[Any]:
    runs: list[Run] = []

    def start(begin: datetime, speed: float, *, asleep_after: float = 600) -> Run:
        table = {
            "timezone": "Etc/GMT-10",
            "poll_interval": 60,
            "asleep_after": asleep_after,
            "storage": {"path": str(tmp_path / "pv.sqlite")},
            "ports": [{"port": "sim://cms?seed=7&clouds=0.2", "spec": "cms", "timeout": 0.02,
                       "inverters": [{"serial": SERIAL}]}],
            "mqtt": {"host": broker.host, "port": broker.port, "reconnect_min_delay": 0.05,
                     "reconnect_max_delay": 0.2},
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


def wait(cond, timeout: float = 20.0, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def afternoon(start_monitor: Any, broker: Broker) -> dict[str, bytes]:
    """A first run in the afternoon that stops while the inverter is awake; returns what it left retained."""
    day = start_monitor(datetime(2026, 12, 21, 14, 0, tzinfo=SITE), 600)
    wait(lambda: day.output.stats.published >= 5, what="afternoon readings")
    day.stop()
    left = retained(broker)
    assert left[AVAILABILITY] == b"awake" and left["pv/status"] == b"offline"
    return left


def test_started_at_night_says_asleep_with_the_last_totals_before_any_poll(start_monitor: Any, broker: Broker) -> None:
    left = afternoon(start_monitor, broker)
    ha = Recorder(broker, ["pv/#"])
    try:
        # 23:00, real-time clock, and an asleep_after (1 h) the test never reaches: the poller itself
        # cannot declare the inverter asleep during this test, so whatever says so came from the database
        night = start_monitor(datetime(2026, 12, 21, 23, 0, tzinfo=SITE), 1, asleep_after=3600)
        ha.wait_for(lambda ms: any(m.topic == AVAILABILITY and m.payload == b"asleep" for m in ms), 20, "asleep")
        ha.wait_for(lambda ms: any(m.topic == STATE and not m.retain for m in ms), 20, "the state sent anew")
        assert night.output.wait_idle()
        stored = list(night.storage.readings())
        last = stored[-1]
        kept = retained(broker)
        doc = json.loads(kept[STATE])
        assert kept[AVAILABILITY] == b"asleep" and kept["pv/status"] == b"online"
        assert doc["time"] == last.time.isoformat()
        assert (doc["e_total"], doc["e_today"], doc["h_total"]) == (last.e_total, last.e_today, last.h_total)
        assert json.loads(left[STATE]) == doc  # the same truth the afternoon left, now sent by this run
        assert night.output.stats.published == 0  # no inverter answered: nothing here came from a poll
        assert [e["kind"] for e in night.storage.events() if e["kind"] == "asleep"] == []
        assert len(list(night.storage.readings())) == len(stored)
    finally:
        ha.close()


def test_restarted_at_night_and_broker_without_persistence_gets_discovery_back(
    start_monitor: Any, broker: Broker
) -> None:
    afternoon(start_monitor, broker)
    night = start_monitor(datetime(2026, 12, 21, 23, 0, tzinfo=SITE), 1, asleep_after=3600)
    wait(lambda: night.output.wait_connected(0.1) and night.output.wait_idle(0.1), what="night start")
    before = retained(broker)
    broker.stop()
    wait(lambda: not night.output.connected, what="the loss")
    broker.forget_retained()
    broker.start()
    wait(lambda: night.output.wait_connected(0.1) and night.output.wait_idle(0.1), what="the reconnect")
    after = retained(broker)
    configs = [t for t in after if t.startswith("homeassistant/") and t.endswith("/config")]
    assert any(t.endswith("/e_total/config") for t in configs) and len(configs) >= 10
    assert after[AVAILABILITY] == b"asleep" and json.loads(after[STATE])["e_total"] > 0
    assert after == before


def test_a_refused_last_total_is_restored_from_the_last_accepted(
    start_monitor: Any, broker: Broker, tmp_path: Path
) -> None:
    """The newest stored reading had E-Total refused: the restored state carries the last good one."""
    db = Storage(tmp_path / "pv.sqlite")
    inv = InverterInfo(serial=SERIAL, spec_id="cms", port="sim://cms?seed=7&clouds=0.2", address=1,
                       model="CMS 2000", manufacturer="PHOENIXTEC")  # fmt: skip
    t = datetime(2026, 12, 21, 18, 40, tzinfo=SITE)
    good = {"pac": 12, "e_today": 9.87, "e_total": 1503.4, "h_total": 4012, "mode": 1, "error": 0, "temperature": 31.0}
    db.store_poll(Reading(inv, t, dict(good), b"\x01"))
    refused = {**good, "pac": 3, "e_total": None, "e_today": 9.88}
    db.store_poll(Reading(inv, t + timedelta(minutes=1), refused, b"\x02", rejected={"e_total": "jump of 6553.5 kWh"}))
    db.close()
    night = start_monitor(datetime(2026, 12, 21, 23, 0, tzinfo=SITE), 1, asleep_after=3600)
    wait(lambda: night.output.wait_connected(0.1) and night.output.wait_idle(0.1), what="night start")
    doc = json.loads(retained(broker)[STATE])
    assert doc["e_total"] == 1503.4 and doc["carried"] == ["e_total"]
    assert doc["e_today"] == 9.88 and doc["rejected"] == {"e_total": "jump of 6553.5 kWh"}
    assert doc["time"] == (t + timedelta(minutes=1)).astimezone(UTC).isoformat()
    assert retained(broker)[AVAILABILITY] == b"asleep"


def test_a_recent_reading_restores_awake(start_monitor: Any, broker: Broker, tmp_path: Path) -> None:
    """Restarted at noon two minutes after the last reading: still awake (the poller says otherwise if not)."""
    db = Storage(tmp_path / "pv.sqlite")
    inv = InverterInfo(serial=SERIAL, spec_id="cms", port="sim://cms", address=1)
    noon = datetime(2026, 12, 21, 12, 0, tzinfo=SITE)
    db.store_poll(Reading(inv, noon - timedelta(minutes=2), {"pac": 1500, "e_total": 1503.4}, b"\x01"))
    db.close()
    rec = Recorder(broker, [AVAILABILITY])
    try:
        start_monitor(noon, 1, asleep_after=600)
        rec.wait_for(lambda ms: bool(ms), 20, "availability")
        assert rec.messages[0].payload == b"awake"
    finally:
        rec.close()


LISTEN = "listen://127.0.0.1:0"
TLD = "S221151415"  # a SolarRiver TL-D's serial as the Samil TCP spec's model carries it


def _listen_auto_table(db: Path, broker: Broker | None) -> dict[str, Any]:
    table: dict[str, Any] = {
        "timezone": "Etc/GMT-10",
        "poll_interval": 60,
        "asleep_after": 3600,
        "storage": {"path": str(db)},
        "ports": [{"port": LISTEN, "advertise": False, "inverters": [{"serial": "auto", "pvoutput_system": 7}]}],
        "pvoutput": {},  # the key stays unset: nothing is uploaded here
    }
    if broker is not None:
        table["mqtt"] = {"host": broker.host, "port": broker.port, "reconnect_min_delay": 0.05,
                         "reconnect_max_delay": 0.2}  # fmt: skip
    return table


def _seen_on_the_listen_port(db: Path, serial: str, t: datetime) -> None:
    """An `auto` unit of an earlier run: it connected in, so its row has the port and no bus address."""
    storage = Storage(db)
    inv = InverterInfo(serial=serial, spec_id="samil_tcp", port=LISTEN, address=None, model="River 4500TL-D")
    storage.store_poll(Reading(inv, t, {"pac": 40, "e_today": 12.5, "e_total": 3210.9, "h_total": 812}, b"\x01"))
    storage.close()


def test_a_listen_ports_earlier_auto_units_are_restored_asleep(broker: Broker, tmp_path: Path) -> None:
    """Samil TCP `auto` units seen in earlier runs (address NULL) get their night state before any connects."""
    db = tmp_path / "pv.sqlite"
    _seen_on_the_listen_port(db, TLD, datetime(2026, 12, 21, 18, 40, tzinfo=SITE))
    cfg = pvconfig.from_table(_listen_auto_table(db, broker), env={})
    storage = Storage(cfg.storage.path)
    output = MqttOutput(cfg.mqtt_config, configured_serials=[], history=storage.history)
    clock = ScaledClock(datetime(2026, 12, 21, 23, 0, tzinfo=SITE), 1)
    mon = Monitor(cfg, clock=clock, storage=storage, outputs=[output])
    thread = threading.Thread(target=mon.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        wait(lambda: output.wait_connected(0.1) and output.wait_idle(0.1), what="night start")
        wait(lambda: f"pv/{TLD}/availability" in retained(broker), what="the restored availability")
        kept = retained(broker)
        assert kept[f"pv/{TLD}/availability"] == b"asleep"
        doc = json.loads(kept[f"pv/{TLD}/state"])
        assert (doc["e_total"], doc["e_today"], doc["h_total"]) == (3210.9, 12.5, 812)
        assert any(t.startswith("homeassistant/") and TLD.lower() in t.lower() for t in kept), sorted(kept)
    finally:
        mon.request_stop()
        thread.join(30)
        storage.close()
    assert not thread.is_alive()


def test_a_listen_ports_earlier_auto_units_hold_their_claims_and_systems(tmp_path: Path) -> None:
    """Before any unit connects: a serial clashing with a known auto unit is refused; it counts in its system."""
    db = tmp_path / "pv.sqlite"
    _seen_on_the_listen_port(db, "AB/CD+0003", datetime(2026, 12, 21, 18, 40, tzinfo=SITE))
    cfg = pvconfig.from_table(_listen_auto_table(db, None), env={})
    storage = Storage(cfg.storage.path)
    try:
        mon = Monitor(cfg, clock=ScaledClock(datetime(2026, 12, 21, 23, 0, tzinfo=SITE), 1), storage=storage)
        assert not mon._accept_serial("AB_CD#0003")  # same topic level and HA id as the known unit
        assert mon._accept_serial("AB/CD+0003")
        assert mon._serials_of[7] == {"AB/CD+0003"}
    finally:
        storage.close()
