"""Configuration layering (file, environment, flags), the usual places, the demo default, the MQTT table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pvapp import config as config_mod
from pvapp.clock import ScaledClock, SystemClock, parse_clock
from pvapp.config import ConfigError
from pvapp.config import locate as config_locate  # where find_config looks its paths up
from pvapp.monitor.run import build_outputs, sim_url_for_clock
from pvapp.reading import InverterInfo, Reading
from pvapp.storage import SlotUpdate, Storage

BASE = """
poll_interval = 20
timezone = "Australia/Sydney"
[storage]
path = "/tmp/pv-test-config.sqlite"
[pvoutput]
system_id = 77
[[ports]]
port = "sim://cms"
  [[ports.inverters]]
  serial = "auto"
  [[ports.inverters]]
  serial = "B2"
  pvoutput_system = 78
"""


def test_file_then_environment_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "pv.toml"
    path.write_text(BASE)
    cfg = config_mod.load(str(path), env={})
    assert cfg.poll_interval == 20 and cfg.timezone_name == "Australia/Sydney"
    assert cfg.pvoutput_systems == {77: ("ports[0].inverters[0]",), 78: ("ports[0].inverters[1]",)}
    assert cfg.pvoutput is not None and cfg.pvoutput.api_key is None
    env = {
        "PV_POLL_INTERVAL": "30",
        "PV_TIMEZONE": "UTC",
        "PV_PVOUTPUT_API_KEY": "k",
        "PV_STORAGE": str(tmp_path / "e.db"),
    }
    cfg = config_mod.load(str(path), env=env)
    assert (cfg.poll_interval, cfg.timezone_name, cfg.storage.path) == (30, "UTC", tmp_path / "e.db")
    assert cfg.pvoutput is not None and cfg.pvoutput.api_key == "k"
    cfg = config_mod.load(str(path), env=env, overrides={"poll_interval": 5.0, "port": "sim://samil", "spec": "samil"})
    assert cfg.poll_interval == 5 and [p.port for p in cfg.ports] == ["sim://samil"] and cfg.ports[0].spec == "samil"


def test_usual_places_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    xdg = tmp_path / "xdg"
    (xdg / "pv").mkdir(parents=True)
    (xdg / "pv" / "pv.toml").write_text(BASE.replace("poll_interval = 20", "poll_interval = 40"))
    env = {"XDG_CONFIG_HOME": str(xdg), "HOME": str(tmp_path)}
    assert config_mod.load(env=env).poll_interval == 40
    (tmp_path / "pv.toml").write_text(BASE)
    assert config_mod.load(env=env).poll_interval == 20  # ./pv.toml wins over XDG
    other = tmp_path / "other.toml"
    other.write_text(BASE.replace("poll_interval = 20", "poll_interval = 60"))
    assert config_mod.load(env={**env, "PV_CONFIG": str(other)}).poll_interval == 60


def test_no_configuration_is_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(config_locate, "candidate_paths", lambda env: [Path("pv.toml"), tmp_path / "none" / "pv.toml"])
    cfg = config_mod.load(env={"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "none")})
    assert cfg.demo and cfg.ports[0].port == "sim://cms" and cfg.storage.path == Path("pv-demo.sqlite")


def test_secrets_are_refused_in_the_file_and_mqtt_is_validated_by_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "pv.toml"
    path.write_text(BASE + '[mqtt]\nhost = "broker.lan"\nport = 8883\nusername = "pv"\n')
    cfg = config_mod.load(str(path), env={"PV_MQTT_PASSWORD": "pw"})
    assert cfg.mqtt_config is not None and cfg.mqtt_config.host == "broker.lan"
    assert cfg.mqtt_config.password == "pw"
    path.write_text(BASE + "[mqtt]\nport = 99999\n")
    with pytest.raises(ConfigError, match=r"^config error: mqtt\.port"):
        config_mod.load(str(path), env={})


def test_mqtt_output_is_built_from_the_table(tmp_path: Path) -> None:
    path = tmp_path / "pv.toml"
    path.write_text(BASE + '[mqtt]\nhost = "127.0.0.1"\n')
    cfg = config_mod.load(str(path), env={})
    storage = Storage(tmp_path / "pv.sqlite")
    outputs = build_outputs(cfg, live=False, storage=storage)
    assert [o.name for o in outputs] == ["console", "mqtt"]
    storage.close()


def test_clock_texts_and_sim_urls() -> None:
    assert isinstance(parse_clock("real"), SystemClock)
    clock = parse_clock("2026-01-10T09:00:00+10:00*500@1000.5")
    assert isinstance(clock, ScaledClock) and clock.speed == 500 and clock.anchor == 1000.5
    assert parse_clock(clock.spec()).start == clock.start  # type: ignore[attr-defined]
    for bad in ("2026-01-10T09:00:00*5", "soon*5", "2026-01-10T09:00:00+10:00*fast", "tomorrow"):
        with pytest.raises(ValueError):
            parse_clock(bad)
    scaled = ScaledClock(datetime(2026, 1, 10, 9, 0, tzinfo=UTC), 100)
    url = sim_url_for_clock("sim://cms?inverters=2", scaled)
    assert "speed=100" in url and "start=2026-01-10T09%3A00" in url and "inverters=2" in url
    assert sim_url_for_clock("sim://cms?speed=3", scaled) == "sim://cms?speed=3"
    assert sim_url_for_clock("/dev/ttyUSB0", scaled) == "/dev/ttyUSB0"


def test_claimed_slots_no_longer_follow_readings_and_are_released_after_a_crash(tmp_path: Path) -> None:
    db = Storage(tmp_path / "pv.sqlite")
    inv = InverterInfo(serial="C1", spec_id="cms", port="sim://cms", address=1)
    t = datetime(2026, 6, 1, 10, 1, tzinfo=UTC)
    start = t.replace(minute=0)
    slot = SlotUpdate(5, "20260601", "10:00", start, start + timedelta(minutes=5), start.replace(hour=0), ("C1",))
    db.store_poll(Reading(inverter=inv, time=t, values={"pac": 100, "e_today": 1.0}, raw_frame=b""), [slot])
    (claimed,) = db.claim_statuses(5, started_by=start)
    assert claimed.status == "sending" and db.claim_statuses(5, started_by=start) == []
    late = t + timedelta(minutes=3)  # a poll that began before the slot closed commits now
    db.store_poll(Reading(inverter=inv, time=late, values={"pac": 999, "e_today": 1.1}, raw_frame=b""), [slot])
    (row,) = db.queue(5)
    assert (row.status, row.power_w) == ("sending", 100)
    assert db.release_claims(5) == 1
    assert db.queue(5)[0].status == "pending"
    db.close()


def test_port_flag_without_configuration_is_not_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(config_locate, "candidate_paths", lambda env: [Path("pv.toml")])
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}
    cfg = config_mod.load(env=env, overrides={"port": "/dev/ttyUSB0", "spec": "samil"})
    assert not cfg.demo and cfg.clock == "real"
    assert [(p.port, p.spec) for p in cfg.ports] == [("/dev/ttyUSB0", "samil")]
    assert cfg.storage.path == tmp_path / "data" / "pv" / "pv.sqlite" and cfg.storage.synchronous == "FULL"
