"""The MQTT output against a real mosquitto: state, discovery, availability, removal, auth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pvapp.outputs import hass
from pvapp.outputs.mqtt import MqttOutput, validate_config

from . import synthetic
from .broker import Broker, Recorder, free_port, retained
from .conftest import StartOutput
from .synthetic import SPEC

pytestmark = pytest.mark.mqtt
SERIAL = "0905BO0139"
STATE = f"pv/{SERIAL}/state"


def test_state_messages_match_readings(start_output: StartOutput, recorder: Recorder) -> None:
    out = start_output(per_value_topics=True)
    readings = [synthetic.reading(i) for i in range(20)]
    for r in readings:
        out.publish(r)
    got = [m.json() for m in recorder.wait_count(STATE, 20)]
    for r, doc in zip(readings, got, strict=True):
        assert doc["time"] == r.time.isoformat()
        for key in ("temperature", "e_today", "vpv", "pac", "e_total", "h_total"):
            assert doc[key] == r.values[key], key
        assert doc["mode"] == "Normal" and doc["error"] == [] and "zac" not in doc
    # one topic per value: plain text, last one equals the last reading
    recorder.wait_count(f"pv/{SERIAL}/e_total", 20)
    assert recorder.on(f"pv/{SERIAL}/e_total")[-1].text == str(readings[-1].values["e_total"])
    assert recorder.on(f"pv/{SERIAL}/mode")[-1].text == "Normal"
    assert recorder.on(f"pv/{SERIAL}/error")[-1].text == "[]"
    assert not recorder.on(f"pv/{SERIAL}/zac")
    assert recorder.on(STATE)[-1].retain is False  # live delivery; retained copy checked below
    assert json.loads(retained(recorder_broker(recorder))[STATE]) == got[-1]
    assert out.stats.published == 20


def recorder_broker(rec: Recorder) -> Broker:
    host, port = rec.client.host, rec.client.port
    b = Broker.__new__(Broker)
    b.host, b.port = host, port
    return b


def test_discovery_is_retained_for_newcomers(start_output: StartOutput, broker: Broker) -> None:
    out = start_output(serials=(SERIAL,))
    r = synthetic.reading(1)
    out.publish(r)
    assert out.wait_idle()
    kept = retained(broker, "homeassistant/#")
    expected = hass.discovery_messages(
        SPEC, r.inverter, hass.reading_fields(SPEC, r), hass.Topics(), version=out._version
    )
    assert {t: json.loads(p) for t, p in kept.items()} == dict(expected)
    record = json.loads(retained(broker, "pv/announced")["pv/announced"])
    assert set(record) == {SERIAL}
    assert set(kept) | {STATE, f"pv/{SERIAL}/availability"} == set(record[SERIAL])
    assert retained(broker, "pv/status")["pv/status"] == b"online"
    assert retained(broker, f"pv/{SERIAL}/availability")[f"pv/{SERIAL}/availability"] == b"awake"


def test_home_assistant_birth_triggers_reannouncement(
    start_output: StartOutput, broker: Broker, recorder: Recorder
) -> None:
    out = start_output()
    out.publish(synthetic.reading(1))
    config_topic = f"homeassistant/sensor/pv_{SERIAL.lower()}/e_total/config"
    recorder.wait_count(config_topic, 1)
    recorder.client.publish("homeassistant/status", "offline", qos=1)
    recorder.client.publish("homeassistant/status", "online", qos=1)
    recorder.wait_count(config_topic, 2)
    n = len(retained(broker, "homeassistant/#"))
    # every entity again, not just one
    recorder.wait_for(lambda ms: sum(m.topic.endswith("/config") for m in ms) >= 2 * n, what="all configs twice")
    assert out.wait_idle()
    assert len(recorder.matching(lambda m: m.topic.endswith("/config"))) == 2 * n


def test_new_fields_and_new_firmware_are_announced(start_output: StartOutput, recorder: Recorder) -> None:
    out = start_output()
    out.publish(synthetic.reading(1, values={"zac": None}))
    zac = f"homeassistant/sensor/pv_{SERIAL.lower()}/zac/config"
    out.publish(synthetic.reading(2, values={"zac": 540}))  # the unit started measuring Zac
    recorder.wait_count(zac, 1)
    assert out.stats.announcements == 2
    r = synthetic.reading(3)
    out.publish(type(r)(**{**{f: getattr(r, f) for f in r.__dataclass_fields__},
                           "inverter": synthetic.info(firmware="A4.14")}))  # fmt: skip
    recorder.wait_count(zac, 2)
    assert recorder.on(zac)[-1].json()["device"]["sw_version"] == "A4.14"


def test_removed_inverter_is_cleared_across_restarts(start_output: StartOutput, broker: Broker) -> None:
    first = start_output(serials=("AAA0000001", "BBB0000002"))
    first.publish(synthetic.reading(1, "AAA0000001"))
    first.publish(synthetic.reading(1, "BBB0000002"))
    assert first.wait_idle()
    first.stop()
    before = retained(broker)
    assert any("pv_bbb0000002" in t for t in before) and "pv/BBB0000002/state" in before

    second = start_output(serials=("AAA0000001",))  # BBB removed from the configuration
    deadline = time.monotonic() + 10
    while "BBB0000002" not in second.stats.removed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert second.wait_idle()
    after = retained(broker)
    assert not [t for t in after if "pv_bbb0000002" in t or "BBB0000002" in t]
    assert {t for t in before if "AAA0000001" in t or "pv_aaa0000001" in t} <= set(after)
    assert set(json.loads(after["pv/announced"])) == {"AAA0000001"}
    assert second.stats.removed == ["BBB0000002"]


def test_asleep_keeps_totals_and_publishes_no_zero(
    start_output: StartOutput, broker: Broker, recorder: Recorder
) -> None:
    out = start_output()
    last = synthetic.reading(5)
    out.publish(last)
    out.inverter_state(last.inverter, "asleep")
    recorder.wait_for(lambda ms: any(m.topic == f"pv/{SERIAL}/availability" and m.payload == b"asleep" for m in ms))
    assert out.wait_idle()
    assert len(recorder.on(STATE)) == 1  # nothing published for the sleeping inverter
    kept = retained(broker)
    assert json.loads(kept[STATE])["e_total"] == last.values["e_total"]
    assert kept["pv/status"] == b"online"  # the monitor is alive: totals stay available in HA
    # a lower lifetime total (a dusk glitch that got through) is withheld, not sent
    out.inverter_state(last.inverter, "awake")
    out.publish(synthetic.reading(6, values={"e_total": 0.0}))
    doc = recorder.wait_count(STATE, 2)[-1].json()
    assert doc["rejected"]["e_total"].startswith("decreased from 1235.0")
    assert doc["e_total"] == 1235.0 and doc["carried"] == ["e_total"]  # the last accepted total, not 0
    assert out.stats.guarded == 1


LWT_SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path[:0] = [{root!r}, {tests!r}]
    from pvapp.outputs.mqtt import MqttOutput, validate_config
    from mqtt import synthetic
    cfg = validate_config({{"host": "127.0.0.1", "port": {port}, "client_id": "pv-dying", "keepalive": 5}}, env={{}})
    out = MqttOutput(cfg, spec_resolver=synthetic.resolver)
    out.start()
    assert out.wait_connected(10)
    out.publish(synthetic.reading(1))
    assert out.wait_idle(10)
    print("ready", flush=True)
    time.sleep(60)
    """
)


def test_last_will_marks_a_dead_monitor_unavailable(broker: Broker, recorder: Recorder) -> None:
    root = Path(__file__).resolve().parents[2]
    script = LWT_SCRIPT.format(root=str(root), tests=str(root / "tests"), port=broker.port)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        recorder.wait_for(lambda ms: any(m.topic == "pv/status" and m.payload == b"online" for m in ms))
        proc.kill()  # no clean disconnect: the broker must send the will
        recorder.wait_for(lambda ms: any(m.topic == "pv/status" and m.payload == b"offline" for m in ms), 10)
    finally:
        proc.kill()
        proc.wait()
    kept = retained(broker)
    assert kept["pv/status"] == b"offline"
    assert kept[f"pv/{SERIAL}/availability"] == b"awake"  # the inverter was not asleep: a different state
    assert STATE in kept


def test_clean_stop_marks_offline(start_output: StartOutput, broker: Broker) -> None:
    out = start_output()
    out.publish(synthetic.reading(1))
    assert out.wait_idle()
    out.stop()
    assert retained(broker, "pv/status")["pv/status"] == b"offline"


def test_publish_never_waits_for_an_unreachable_broker(
    outputs: list[MqttOutput], caplog: pytest.LogCaptureFixture
) -> None:
    cfg = validate_config({"host": "127.0.0.1", "port": free_port(), "buffer_size": 500,
                           "reconnect_min_delay": 0.05, "reconnect_max_delay": 0.1}, env={})  # fmt: skip
    out = MqttOutput(cfg, spec_resolver=synthetic.resolver)
    out.start()
    outputs.append(out)
    started = time.monotonic()
    for i in range(2000):
        out.publish(synthetic.reading(i))
    elapsed = time.monotonic() - started
    assert out.wait_idle()
    assert not out.connected
    # everything was accepted or counted; the in-memory buffer kept the newest 500
    assert out.stats.buffered + out.stats.dropped_queue_full == 2000
    assert len(out._buffer) == 500
    assert elapsed < 5  # generous: the point is that nothing waits for a TCP timeout
    failures = [r.getMessage() for r in caplog.records if "cannot connect" in r.getMessage()]
    assert len(failures) == 1 and "Connection refused" in failures[0], failures


def test_username_and_password_from_environment(
    mosquitto_bin: str, tmp_path: Path, outputs: list[MqttOutput], caplog: pytest.LogCaptureFixture
) -> None:
    pwfile = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pwfile), "pv", "s3cret"], check=True)
    os.chmod(pwfile, 0o600)
    b = Broker(mosquitto_bin, extra_config=f"allow_anonymous false\npassword_file {pwfile}\n")
    b.start()
    try:
        table = {"host": b.host, "port": b.port, "username": "pv", "client_id": "pv-auth",
                 "reconnect_min_delay": 0.05, "reconnect_max_delay": 0.1}  # fmt: skip
        good = MqttOutput(validate_config(table, env={"PV_MQTT_PASSWORD": "s3cret"}), spec_resolver=synthetic.resolver)
        bad = MqttOutput(
            validate_config({**table, "client_id": "pv-bad"}, env={"PV_MQTT_PASSWORD": "wrong"}),
            spec_resolver=synthetic.resolver,
        )
        for o in (good, bad):
            o.start()
            outputs.append(o)
        rec = Recorder(b, ["pv/#"], username="pv", password="s3cret")
        try:
            good.publish(synthetic.reading(1))
            rec.wait_count(STATE, 1)
        finally:
            rec.close()
        time.sleep(0.5)  # several refused attempts
        assert not bad.connected
        refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert len(refused) == 1, refused  # logged once, not once per retry
        assert "Not authorized" in refused[0] or "not authorised" in refused[0].lower()
    finally:
        b.close()


def test_worker_waits_for_the_broker_instead_of_overfilling_paho(
    start_output: StartOutput, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """paho's ids are 16 bits: unbounded in-flight messages would make it refuse (lose) new ones.

    The benchmark pushes 90000 messages through with the real limit; here a
    small limit shows the worker holds back and still delivers everything.
    """
    from pvapp.outputs.mqtt import connection

    monkeypatch.setattr(connection, "MAX_PENDING", 20)
    out = start_output(per_value_topics=True)
    peak = 0
    original = out._send

    def watched(topic: str, payload: str, qos: int, retain: bool):  # type: ignore[no-untyped-def]
        nonlocal peak
        info = original(topic, payload, qos, retain)
        peak = max(peak, out._pending())
        return info

    monkeypatch.setattr(out, "_send", watched)
    for i in range(300):
        out.publish(synthetic.reading(i))
    recorder.wait_count(STATE, 300, timeout=20)
    assert out.wait_idle()
    assert peak <= 21
    assert out.stats.published == 300 and out.stats.messages > 300 * 8
