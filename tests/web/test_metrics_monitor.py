"""``/metrics`` of a running monitor: the counters say what happened, checked against what did.

Real parts: the monitor polling the simulator behind ``sim://`` (faults
injected into it in process), its SQLite database, the web server over HTTP,
Prometheus' own parser and a real mosquitto for the MQTT output.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from mqtt.broker import Broker
from mqtt.conftest import broker, mosquitto_bin  # noqa: F401  (fixtures)
from prometheus_client.parser import text_string_to_metric_families

from pvapp import config as pvconfig
from pvapp.clock import ScaledClock
from pvapp.monitor.run import make_open_port
from pvapp.monitor.service import Monitor
from pvapp.outputs.mqtt import MqttOutput
from pvapp.storage import Storage
from pvapp.web.server import WebServer

from .conftest import get

SITE = timezone(timedelta(hours=10))
SERIAL = "0905BO0139"  # the CMS 2000 model's captured serial (specs/cms.yaml)
PORT = "sim://cms?awake=always&seed=3&clouds=0"


def wait(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Site:
    def __init__(self, monitor: Monitor, web: WebServer, mqtt: MqttOutput, storage: Storage) -> None:
        self.monitor, self.web, self.mqtt, self.storage = monitor, web, mqtt, storage

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        status, _, body = get(self.web.url + "metrics")
        assert status == 200
        out = {}
        for family in text_string_to_metric_families(body.decode()):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out

    def readings(self) -> list[Any]:
        return list(self.storage.readings(serial=SERIAL))

    @property
    def sim(self) -> Any:
        return self.monitor.pollers[0].port.simulator  # type: ignore[union-attr]


@pytest.fixture
def site(broker: Broker, tmp_path: Path) -> Iterator[Site]:  # noqa: F811
    table = {
        "timezone": "Etc/GMT-10",
        "poll_interval": 5,
        "storage": {"path": str(tmp_path / "pv.sqlite"), "synchronous": "NORMAL"},
        "ports": [{"port": PORT, "timeout": 0.3, "inverters": [{"serial": SERIAL}]}],
        "mqtt": {"host": broker.host, "port": broker.port, "reconnect_min_delay": 0.05, "reconnect_max_delay": 0.2},
        "web": {"listen": "127.0.0.1:0"},
    }
    cfg = pvconfig.from_table(table, env={})
    clock = ScaledClock(datetime(2026, 1, 12, 11, 0, tzinfo=SITE), 10)  # a poll every 0.5 real seconds
    storage = Storage(cfg.storage.path, synchronous="NORMAL")
    web = WebServer(cfg, now=clock.now)
    web.start()
    mqtt = MqttOutput(cfg.mqtt_config, configured_serials=[SERIAL], history=storage.history)
    monitor = Monitor(cfg, clock=clock, storage=storage, outputs=[mqtt, web.output], open_port=make_open_port(clock))
    web.attach(monitor)
    thread = threading.Thread(target=monitor.run, kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        yield Site(monitor, web, mqtt, storage)
    finally:
        monitor.request_stop()
        thread.join(30)
        web.stop()
        storage.close()
    assert not thread.is_alive()


def test_discarded_frames_refused_values_and_mqtt_connected_have_their_values(site: Site, broker: Broker) -> None:  # noqa: F811
    wait("first readings", lambda: len(site.readings()) >= 2)
    labels_port = (("port", PORT),)

    # three status replies with a broken checksum, one at a time (each followed by a good reading)
    for n in range(1, 4):
        site.sim.faults.once("corrupt")
        wait(f"corrupt reply {n}", lambda n=n: sum("corrupt" in e.faults for e in site.sim.record.entries()) == n)
        count = len(site.readings())
        wait("a good reading after it", lambda count=count: len(site.readings()) > count)
    got = site.metrics()
    discarded = {dict(k[1])["reason"]: v for k, v in got.items() if k[0] == "pv_frames_discarded_total"}
    assert discarded == {"bad_checksum": 3.0, "bad_length": 0.0, "truncated": 0.0, "implausible": 0.0}
    assert got[("pv_frames_total", labels_port)] >= len(site.readings())  # each stored reading was a good frame
    assert got[("pv_polls_total", (("result", "no_reply"), ("serial", SERIAL)))] == 3.0

    # E-Total served as all ones for a few polls: refused by the guard, counted as the database holds it
    inverter = site.sim.inverters[0]
    inverter.set_wild("e_total")

    def refused_rows() -> int:
        return sum("e_total" in r.rejected for r in site.readings())

    wait("refused E-Totals", lambda: refused_rows() >= 2)
    inverter.clear_wild()
    count = len(site.readings())
    wait("good readings again", lambda: len(site.readings()) >= count + 2)
    got = site.metrics()
    refused = {dict(k[1])["quantity"]: v for k, v in got.items() if k[0] == "pv_values_refused_total"}
    stored: dict[str, int] = {}
    for r in site.readings():
        for fid in r.rejected:
            stored[fid] = stored.get(fid, 0) + 1
    assert refused == {fid: float(n) for fid, n in stored.items()} and refused["e_total"] >= 2

    # the MQTT connection: 1, 0 while the broker is down, 1 again
    assert site.mqtt.wait_connected(10)
    assert site.metrics()[("pv_mqtt_connected", ())] == 1.0
    broker.stop()
    wait("the loss", lambda: not site.mqtt.connected)
    assert site.metrics()[("pv_mqtt_connected", ())] == 0.0
    broker.start()
    assert site.mqtt.wait_connected(20)
    assert site.metrics()[("pv_mqtt_connected", ())] == 1.0
