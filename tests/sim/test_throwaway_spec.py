"""A spec nobody shipped, from a temporary folder, through the whole chain.

pvgen validates and renders it, Python imports it, the simulator serves it,
the client and the monitor talk to it, ``pvapp.decode`` reads the traffic and
the MQTT output builds its Home Assistant discovery, with no code written for
it.  The spec is deliberately unlike the shipped ones: its own leads per
direction and a prefix, address bases, a first bus address of 5, a fixed
word order, a status answered by two reply codes, and a canonical quantity
read from an alternative code.

The folder goes through the users' own mechanism (docs/user-specs.md):
``pvgen --specs DIR --check`` validates it, and ``userspecs.activate(DIR)``
(what ``PV_SPECS=DIR`` does at ``import pv``) generates it into a private
cache and lets ``from pv import zephyr_tmp``, ``sim://zephyr_tmp`` and the
configuration find it.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType

import pv
import pytest
import serial

from pvapp import config as config_mod
from pvapp.clock import ScaledClock
from pvapp.decode import StreamDecoder
from pvapp.monitor.run import make_open_port
from pvapp.monitor.service import Monitor
from pvapp.outputs import hass
from pvapp.reading import InverterInfo
from pvapp.sim import forget_simulator, get_simulator
from pvapp.storage import Storage
from pvgen.runtime import userspecs

PVGEN = Path(sys.executable).parent / "pvgen"

SPEC = """\
meta:
  id: zephyr_tmp
  title: Zephyr Z-3 (imaginary, a test spec)
  manufacturer: Nobody
  doc: Exists only in a temporary folder.

frame:
  sync: {request: 5a 5a, reply: a5 a5}
  prefix: {request: "7e"}
  addresses: {width: 2, host: 0x0200, broadcast: 0xFF00, inverter: 0x0300, reply_from: 0x0400, first: 5}
  length_width: 1
  checksum: {rule: sum16}
  max_payload: 255

transport: {reply_timeout: 0.3, command_delay: 0.05, rts: false}

types:
  serial_number: {text: 8}
  register_request:
    struct:
      - {id: serial, type: serial_number}
      - {id: address, type: u8}
  ack:
    struct:
      - {id: code, type: u8}
  word_list: {array: u16}
  version_info:
    struct:
      - {id: model, type: {text: 12}}
      - {id: serial, type: {text: 8}}

commands:
  reset: {request: 0x2004, reply: none, to: broadcast}
  discover: {request: 0x2000, reply: 0x2080, reply_type: serial_number, to: broadcast}
  register: {request: 0x2001, request_type: register_request, reply: 0x2081, reply_type: ack, to: broadcast}
  status: {request: 0x2102, reply: [0x2182, 0x21A2], reply_type: word_list}
  version: {request: 0x2103, reply: 0x2183, reply_type: version_info}

fields:
  temperature: {code: 0x01, unit: °C, scale: 0.1, signed: true, label: Temp}
  pac: {code: 0x02, alternatives: [{code: 0x12}], unit: W, label: Pac, device_class: power, state_class: measurement}
  e_today: {code: 0x03, unit: kWh, scale: 0.01, label: E-Today, device_class: energy, state_class: total_increasing}
  e_total: {codes: [0x04, 0x05], unit: kWh, scale: 0.1, label: E-Total, monotonic: true, device_class: energy, state_class: total_increasing}
  h_total: {codes: [0x06, 0x07], unit: h, label: h-Total, monotonic: true}
  vac: {code: 0x08, unit: V, scale: 0.1, label: Vac, device_class: voltage, state_class: measurement}
  iac: {code: 0x09, unit: A, scale: 0.01, label: Iac, device_class: current, state_class: measurement}
  mode: {code: 0x0A, enum: mode, label: Mode, device_class: enum}

enums:
  mode:
    3: {id: waiting, label: Waiting}
    5: {id: normal, label: Normal}

models:
  z3:
    title: Zephyr Z-3
    rated_power: 3000
    status_reply: 0x2182
    fixed_status: [0x01, 0x02, 0x03, 0x04, 0x05, ~, 0x06, 0x07, 0x08, 0x09, 0x0A]
    version: {model: "Zephyr Z-3", serial: "ZP000042"}
  z3b:
    title: Zephyr Z-3B
    rated_power: 3000
    status_reply: 0x21A2
    fixed_status: [0x0A, 0x12, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x01]
    version: {model: "Zephyr Z-3B", serial: "ZP000043"}
"""


@pytest.fixture(scope="module")
def zephyr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    folder = tmp_path_factory.mktemp("my-specs")
    (folder / "zephyr_tmp.yaml").write_text(SPEC, encoding="utf-8")
    cache = tmp_path_factory.mktemp("spec-cache")
    saved = os.environ.get(userspecs.CACHE_ENV_VAR)
    os.environ[userspecs.CACHE_ENV_VAR] = str(cache)
    try:
        cmd = [str(PVGEN)] if PVGEN.exists() else [sys.executable, "-m", "pvgen.cli"]
        validated = subprocess.run(
            [*cmd, "--specs", str(folder), "--check"], capture_output=True, text=True, timeout=120, check=False
        )
        assert validated.returncode == 0, validated.stderr
        assert validated.stdout.startswith("pvgen --specs: 1 spec(s) valid")
        result = userspecs.activate(folder)  # what PV_SPECS=folder does at import pv
        assert result is not None and not result.problems, result
        assert "zephyr_tmp" in pv.SPECS
        yield importlib.import_module("pv.zephyr_tmp")
    finally:
        userspecs.activate(None)
        sys.modules.pop("pv.zephyr_tmp", None)
        if saved is None:
            os.environ.pop(userspecs.CACHE_ENV_VAR, None)
        else:
            os.environ[userspecs.CACHE_ENV_VAR] = saved


def test_the_throwaway_spec_is_generated_and_served(zephyr: ModuleType) -> None:
    """Client <-> simulator: leads per direction, prefix, address bases, first address, fixed order by reply code."""
    for model_id, reply in (("z3", 0x82), ("z3b", 0xA2)):
        name = f"zephyr-{model_id}"
        port = serial.serial_for_url(
            f"sim://zephyr_tmp?model={model_id}&awake=always&start=2026-12-21T11:00&tz=%2B10:00&name={name}",
            timeout=0.3,
        )
        try:
            sim = get_simulator(name)
            inv = zephyr.Inverter(port, sleep=lambda s: None)
            sn = inv.handshake()
            assert sn == dict(zephyr.SPEC.model(model_id).version)["serial"]
            assert inv.address == 5
            status = inv.read_status()
            assert status.layout == zephyr.SPEC.model(model_id).status_layout
            assert status.mode_label == "Normal" and status.pac is not None and status.pac > 0
            assert status.e_total is not None and status.e_total >= 1500
            requests = [e.request for e in sim.log]
            assert all(r.startswith(b"\x7e\x5a\x5a") for r in requests)
            replies = [zephyr.CODEC.parse(r) for e in sim.log for r in e.replies]
            assert all(r.raw.startswith(b"\xa5\xa5") for r in replies)
            data = replies[-1]
            assert (data.src, data.dst, data.function) == (0x0405, 0x0200, reply)
            assert zephyr.CODEC.parse(requests[-1]).dst == 0x0305
            # the capture decodes with the spec's own decoder, fixed order picked by reply code
            decoder = StreamDecoder(zephyr)
            records = list(decoder.feed(b"".join([*requests[-1:], data.raw])))
            assert [r["direction"] for r in records] == ["request", "reply"]
            assert records[1]["values"]["pac"] == status.pac
        finally:
            port.close()
            forget_simulator(name)


def test_the_spec_s_line_levels_are_applied_when_the_port_is_opened(zephyr: ModuleType) -> None:
    """transport.rts: false holds RTS low (pyserial raises it by default); the cms spec leaves it alone."""
    port = pv.open_port("sim://zephyr_tmp?awake=always", zephyr.SPEC)
    try:
        assert port.rts is False
    finally:
        port.close()
    other = pv.open_port("sim://cms?awake=always", importlib.import_module("pv.cms").SPEC)
    try:
        assert other.rts is True
    finally:
        other.close()


def test_the_throwaway_spec_runs_in_the_monitor_and_announces_itself(zephyr: ModuleType, tmp_path: Path) -> None:
    """Config finds the spec, the monitor stores canonical columns, discovery names the entities."""
    db_path = tmp_path / "pv.sqlite"
    cfg_path = tmp_path / "pv.toml"
    cfg_path.write_text(
        textwrap.dedent(
            f"""
            poll_interval = 10
            [storage]
            path = "{db_path}"
            [[ports]]
            port = "sim://zephyr_tmp?model=z3b&awake=always"
              [[ports.inverters]]
            """
        ),
        encoding="utf-8",
    )
    cfg = config_mod.load(str(cfg_path), env={})
    assert cfg.ports[0].spec == "zephyr_tmp"
    clock = ScaledClock(datetime(2026, 12, 21, 12, 0, tzinfo=timezone(timedelta(hours=10))), 20.0)
    storage = Storage(db_path)
    try:
        monitor = Monitor(cfg, clock=clock, storage=storage, open_port=make_open_port(clock))
        runner = threading.Thread(target=monitor.run, kwargs={"install_signals": False, "duration": 2.5}, daemon=True)
        runner.start()
        runner.join(timeout=30)
        rows = list(storage.readings())
        assert rows
        assert all(r.pac is not None and r.pac > 0 for r in rows)  # read from the alternative code 0x12
        assert all(None not in (r.e_today, r.e_total, r.h_total) for r in rows)
        (inverter,) = storage.inverters()
        assert (inverter["spec_id"], inverter["serial"], inverter["model"]) == ("zephyr_tmp", "ZP000043", "Zephyr Z-3B")
    finally:
        storage.close()
    spec = zephyr.SPEC
    info = InverterInfo(
        serial="ZP000043", spec_id="zephyr_tmp", port="sim://zephyr_tmp", address=5, model="Zephyr Z-3B"
    )
    fields = hass.layout_fields(spec, spec.model("z3b").status_layout)
    assert "pac" in fields and "e_total" in fields
    messages = dict(hass.discovery_messages(spec, info, fields, hass.Topics(), version="1.0.0"))
    by_object = {topic.split("/")[-2]: payload for topic, payload in messages.items()}
    assert by_object["pac"]["unit_of_measurement"] == "W"
    assert by_object["e_total"]["state_class"] == "total_increasing"
    assert "Normal" in by_object["mode"]["options"]
    assert hass.spec_problems(spec) == []
