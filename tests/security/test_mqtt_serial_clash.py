"""Issue 12: two serials that become the same MQTT topics / Home Assistant ids are refused.

``AB/CD+0003`` and ``AB_CD#0003`` both became ``pv/AB_CD_0003/...`` and
``pv_ab_cd_0003_*``: Home Assistant merged them into one device and counted
each one's E-Total as a meter reset of the other's.  Configuration refuses
such a pair with one line; registration refuses the second inverter that
answers; the MQTT output itself never publishes a second serial onto taken
topics.
"""

from __future__ import annotations

import logging
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
from pvapp.outputs import hass
from pvapp.outputs.mqtt import MqttOutput
from pvapp.storage import Storage

REPO = Path(__file__).resolve().parents[2]


def table(*serials: str) -> dict[str, object]:
    return {"ports": [{"port": "sim://cms", "inverters": [{"serial": s} for s in serials]}]}


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("AB/CD+0003", "AB_CD#0003", "'AB_CD_0003'"),  # the pair: the same topic level
        ("0905BO0139", "0905bo0139", "'pv_0905bo0139'"),  # case only: the same Home Assistant id
    ],
)
def test_configuration_refuses_a_clashing_pair(first: str, second: str, same: str) -> None:
    with pytest.raises(pvconfig.ConfigError) as info:
        pvconfig.from_table(table(first, second), env={})
    text = str(info.value)
    assert text.startswith(f"config error: ports[0].inverters[1].serial: {second!r} and {first!r} (at ports[0].")
    assert same in text and "\n" not in text


def test_configuration_refuses_a_clash_across_ports() -> None:
    t = {"ports": [{"port": "sim://cms", "inverters": [{"serial": "SN_0001"}]},
                   {"port": "sim://cms?seed=2", "inverters": [{"serial": "SN/0001"}]}]}  # fmt: skip
    with pytest.raises(pvconfig.ConfigError, match=r"ports\[1\]\.inverters\[0\]\.serial: 'SN/0001' and 'SN_0001'"):
        pvconfig.from_table(t, env={})


def test_distinct_serials_still_pass() -> None:
    cfg = pvconfig.from_table(table("0905BO0139", "0905BO0138", "S22A0001"), env={})
    assert [i.serial for i in cfg.ports[0].inverters] == ["0905BO0139", "0905BO0138", "S22A0001"]


def test_config_check_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    cfg = tmp_path / "pv.toml"
    cfg.write_text('[[ports]]\nport = "sim://cms"\n[[ports.inverters]]\nserial = "AB/CD+0003"\n'
                   '[[ports.inverters]]\nserial = "AB_CD#0003"\n')  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "pvapp.cli", "--config", str(cfg), "config", "check"],
                          capture_output=True, text=True, timeout=60, cwd=REPO, check=False)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "would share" in proc.stderr


@pytest.mark.mqtt
def test_registration_refuses_the_second_of_a_clashing_pair(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two "auto" inverters on one simulated line whose serials differ only in case."""
    first, second = "CASE000001", "case000001"
    t = {
        "storage": {"path": str(tmp_path / "pv.sqlite")},
        "poll_interval": 10,
        "ports": [{"port": f"sim://cms?awake=always&serials={first},{second}", "timeout": 0.05,
                   "inverters": [{"serial": "auto"}, {"serial": "auto"}]}],
        "mqtt": {"host": broker.host, "port": broker.port, "reconnect_min_delay": 0.05},
    }  # fmt: skip
    cfg = pvconfig.from_table(t, env={})
    clock = ScaledClock(datetime(2026, 12, 21, 1, 0, tzinfo=UTC), 60)
    storage = Storage(cfg.storage.path)
    out = MqttOutput(cfg.mqtt_config, configured_serials=None, history=storage.history)
    mon = Monitor(cfg, clock=clock, storage=storage, outputs=[out], open_port=make_open_port(clock))
    thread = threading.Thread(target=mon.run, kwargs={"install_signals": False}, daemon=True)
    rec = Recorder(broker, ["pv/+/state"])
    try:
        with caplog.at_level(logging.INFO, logger="pv.monitor"):
            thread.start()
            rec.wait_for(lambda ms: len(ms) >= 5, 30, "readings")
            time.sleep(0.5)  # a few more cycles in which the second one keeps answering discover
            mon.request_stop()
            thread.join(30)
        serials = {r.serial for r in storage.readings()}
        assert len(serials) == 1, serials  # one of the two, whichever answered first
        refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert len(refused) == 1 and "would share" in refused[0], refused  # once, not every cycle
        nodes = {t.split("/")[2] for t in retained(broker, "homeassistant/#")}
        assert nodes == {hass.node_id(first)}
        assert {m.topic for m in rec.messages} == {f"pv/{serials.pop()}/state"}
    finally:
        rec.close()
        if thread.is_alive():
            mon.request_stop()
            thread.join(30)
        storage.close()


@pytest.mark.mqtt
def test_the_output_never_publishes_a_second_serial_onto_taken_topics(
    start_output: StartOutput, broker: Broker, caplog: pytest.LogCaptureFixture
) -> None:
    out = start_output()
    out.publish(synthetic.reading(1, "AB/CD+0003"))
    out.publish(synthetic.reading(2, "AB_CD#0003", values={"e_total": 7.0}))
    out.publish(synthetic.reading(3, "AB/CD+0003"))
    assert out.wait_idle()
    doc = retained(broker, "pv/AB_CD_0003/state")["pv/AB_CD_0003/state"]
    assert b'"e_total":1234.8' in doc  # reading 3 of the first serial, never the 7.0 of the second
    assert out.stats.published == 2
    assert sum("not publishing 'AB_CD#0003'" in r.getMessage() for r in caplog.records) == 1


def test_listen_port_refuses_the_second_of_a_clashing_pair(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Samil TCP units connecting in (listen://) to one "auto" entry: the same rule."""
    from pvapp.monitor.listener import ListenPoller
    from pvapp.sim import SimOptions, Simulator
    from pvapp.sim.servers import TcpConnector

    first, second = "S2211514AB", "s2211514ab"
    t = {
        "storage": {"path": str(tmp_path / "pv.sqlite")},
        "poll_interval": 10,
        "ports": [{"port": "listen://127.0.0.1:0", "advertise": False, "timeout": 1.0,
                   "inverters": [{"serial": "auto"}]}],
    }  # fmt: skip
    cfg = pvconfig.from_table(t, env={})
    clock = ScaledClock(datetime(2026, 1, 12, 0, 0, tzinfo=UTC), 30)
    storage = Storage(cfg.storage.path)
    mon = Monitor(cfg, clock=clock, storage=storage)
    poller = mon.pollers[0]
    assert isinstance(poller, ListenPoller)
    thread = threading.Thread(target=mon.run, kwargs={"install_signals": False}, daemon=True)
    connectors: list[TcpConnector] = []
    try:
        with caplog.at_level(logging.INFO, logger="pv.monitor"):
            thread.start()
            assert poller.listening.wait(10) and poller.address is not None
            for serial in (first, second):
                opts = SimOptions(spec="samil_tcp", serials=(serial,), awake="always", latency=(5, 10))
                conn = TcpConnector(Simulator("samil_tcp", opts, clock=clock), "127.0.0.1", poller.address[1],
                                    retry=0.3)  # fmt: skip
                connectors.append(conn)
                conn.start()
                if serial == first:  # the first is in before the second calls
                    deadline = time.monotonic() + 30
                    while not list(storage.readings(serial=first)):
                        assert time.monotonic() < deadline, "the first unit was never polled"
                        time.sleep(0.05)
            deadline = time.monotonic() + 30
            while connectors[1].connects < 3:
                assert time.monotonic() < deadline, "the second unit did not call again"
                time.sleep(0.05)
        assert {r.serial for r in storage.readings()} == {first}
        refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage() and second in r.getMessage()]
        assert len(refused) == 1 and "would share" in refused[0], refused
    finally:
        mon.request_stop()
        thread.join(30)
        for c in connectors:
            c.stop()
        storage.close()
