"""Discovery and state documents, derived from spec metadata alone (no broker)."""

from __future__ import annotations

import dataclasses

from pvapp.outputs import hass

from . import synthetic
from .synthetic import SPEC

TOPICS = hass.Topics()


def configs(fields: tuple[str, ...] | None = None) -> dict[str, dict[str, object]]:
    ids = fields if fields is not None else hass.layout_fields(SPEC, SPEC.model().status_layout)
    msgs = hass.discovery_messages(SPEC, synthetic.info(), ids, TOPICS, version="1.0")
    return dict(msgs)


def test_layout_selects_fields_with_all_their_codes() -> None:
    # h_total needs 0x49 and 0x4A: absent from the toy layout; e_total has both words.
    assert hass.layout_fields(SPEC, SPEC.model().status_layout) == (
        "temperature",
        "e_today",
        "vpv",
        "pac",
        "zac",
        "e_total",
        "mode",
        "error",
    )
    assert hass.layout_fields(SPEC, [0x47]) == ()


def test_one_device_with_stable_ids() -> None:
    c = configs()
    pac = c["homeassistant/sensor/pv_0905bo0139/pac/config"]
    assert pac["unique_id"] == "pv_0905bo0139_pac"
    assert pac["device"] == {
        "identifiers": ["pv_0905bo0139"],
        "name": "CMS 2000 0905BO0139",
        "manufacturer": "PHOENIXTEC",
        "model": "CMS 2000",
        "serial_number": "0905BO0139",
        "sw_version": "A1.00",
    }
    assert len({p["unique_id"] for p in c.values()}) == len(c)
    assert all(p["device"] == pac["device"] for p in c.values())


def test_units_and_classes_come_from_metadata() -> None:
    c = configs()
    get = lambda oid: c[f"homeassistant/sensor/pv_0905bo0139/{oid}/config"]  # noqa: E731
    assert (get("pac")["unit_of_measurement"], get("pac")["device_class"], get("pac")["state_class"]) == (
        "W",
        "power",
        "measurement",
    )
    assert (get("e_total")["unit_of_measurement"], get("e_total")["state_class"]) == ("kWh", "total_increasing")
    assert get("temperature")["unit_of_measurement"] == "°C"  # spec says degC: HA wants °C
    assert get("temperature")["entity_category"] == "diagnostic"
    assert get("zac")["unit_of_measurement"] == "mΩ" and "device_class" not in get("zac")
    assert "entity_category" not in get("pac")
    assert get("e_today")["suggested_display_precision"] == 2


def test_totals_survive_a_sleeping_inverter_measurements_do_not() -> None:
    c = configs()
    monitor = {"topic": "pv/status", "payload_available": "online", "payload_not_available": "offline"}
    e_total = c["homeassistant/sensor/pv_0905bo0139/e_total/config"]
    assert e_total["availability"] == [monitor]
    pac = c["homeassistant/sensor/pv_0905bo0139/pac/config"]
    assert pac["availability"][0] == monitor  # type: ignore[index]
    assert pac["availability"][1]["topic"] == "pv/0905BO0139/availability"  # type: ignore[index]
    assert pac["availability_mode"] == "all"


def test_mode_and_fault_are_enums_plus_problem() -> None:
    c = configs()
    mode = c["homeassistant/sensor/pv_0905bo0139/mode/config"]
    assert mode["device_class"] == "enum" and mode["options"] == ["Wait", "Normal", "Fault", "unknown"]
    assert "state_class" not in mode and "unit_of_measurement" not in mode
    error = c["homeassistant/sensor/pv_0905bo0139/error/config"]
    assert error["options"] == ["none", "GFCI ckt fails", "bit 1", "Ref fails", "bit 3", "unknown"]
    problem = c["homeassistant/binary_sensor/pv_0905bo0139/error_problem/config"]
    assert problem["device_class"] == "problem" and problem["name"] == "Problem"
    state = c["homeassistant/sensor/pv_0905bo0139/inverter_state/config"]
    assert state["state_topic"] == "pv/0905BO0139/availability"
    assert state["options"] == ["awake", "asleep", "lost"]


def test_only_requested_fields_are_announced() -> None:
    c = configs(("pac", "e_total", "not_a_field"))
    assert sorted(t.split("/")[3] for t in c) == ["e_total", "inverter_state", "pac"]


def test_reading_fields_are_those_with_a_value() -> None:
    r = synthetic.reading(1, values={"e_total": None}, rejected={"e_total": "decreased", "zac": "sentinel"})
    fields = hass.reading_fields(SPEC, r)
    assert "zac" not in fields  # not measured on this unit: an entity would never show a value
    assert "e_total" not in fields  # announced with its next good value (the output keeps the union)
    assert "h_total" in fields and "mode" in fields and "error" in fields


def test_state_payload() -> None:
    r = synthetic.reading(3, values={"error": 0b101, "mode": 2, "pac": None})
    doc = hass.state_payload(SPEC, r, {"e_total": "decreased"})
    assert "pac" not in doc and "zac" not in doc and "e_total" not in doc  # never a stand-in 0
    assert doc["mode"] == "Fault" and doc["error"] == ["GFCI ckt fails", "Ref fails"]
    assert doc["raw"] == {"mode": 2, "error": 5}
    assert doc["rejected"] == {"e_total": "decreased"}
    assert doc["e_today"] == 0.15 and doc["time"] == "2026-06-21T04:00:30+00:00"
    unknown = hass.state_payload(SPEC, synthetic.reading(1, values={"mode": 9}))
    assert unknown["mode"] == "unknown" and unknown["raw"] == {"mode": 9, "error": 0}


def test_spec_problems_catch_units_home_assistant_rejects() -> None:
    assert hass.spec_problems(SPEC) == []
    bad_fields = tuple(
        dataclasses.replace(f, unit="VDC")
        if f.id == "vpv"
        else dataclasses.replace(f, state_class="measurement")
        if f.id == "e_total"
        else f
        for f in SPEC.fields
    )
    bad = dataclasses.replace(SPEC, fields=bad_fields)
    assert hass.spec_problems(bad) == [
        "toy: field vpv: unit 'VDC' is not one HA accepts for voltage",
        "toy: field e_total: energy needs state_class total or total_increasing",
    ]


def test_serials_are_topic_safe() -> None:
    assert hass.Topics().state("AB/12+#") == "pv/AB_12__/state"
    assert hass.node_id("AB/12 x") == "pv_ab_12_x"
