"""Discovery of every real spec equals the checked-in expectation (regenerate: see expected_discovery.py)."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from pvapp.outputs import hass

from . import expected_discovery as ed


@pytest.mark.parametrize("spec_id", ed.SPEC_IDS)
def test_discovery_matches_expectation(spec_id: str) -> None:
    d = ed.diff(spec_id)
    assert not d, (
        f"discovery for {spec_id} changed; if intended, run "
        f"`.venv/bin/python -m tests.mqtt.expected_discovery` and review:\n{d}"
    )


@pytest.mark.parametrize("spec_id", ed.SPEC_IDS)
def test_spec_metadata_is_valid_for_home_assistant(spec_id: str) -> None:
    assert hass.spec_problems(importlib.import_module(f"pv.{spec_id}").SPEC) == []


DASHBOARD_CASES = [
    (spec_id, model.id) for spec_id in ed.SPEC_IDS for model in importlib.import_module(f"pv.{spec_id}").SPEC.models
]


@pytest.mark.parametrize(("spec_id", "model_id"), DASHBOARD_CASES)
def test_expectation_has_what_the_energy_dashboard_needs(spec_id: str, model_id: str) -> None:
    """Independent of the file's exact bytes: the properties users notice at once."""
    data = json.loads((ed.EXPECTED_DIR / f"{spec_id}.json").read_text(encoding="utf-8"))
    messages = data[model_id]
    by_object = {m["topic"].split("/")[-2]: m["payload"] for m in messages}
    e_total = by_object["e_total"]
    assert (e_total["device_class"], e_total["state_class"], e_total["unit_of_measurement"]) == (
        "energy", "total_increasing", "kWh"), model_id  # fmt: skip
    assert len(e_total["availability"]) == 1  # stays available overnight
    assert by_object["pac"]["unit_of_measurement"] == "W" and by_object["pac"]["state_class"] == "measurement"
    spec = importlib.import_module(f"pv.{spec_id}").SPEC
    mode = next((f for f in spec.fields if f.id == "mode"), None)
    if mode is not None and mode.enum:  # a mode in words: HA's enum sensor with the spec's words as options
        words = [v.label for v in spec.enum(mode.enum).values]
        assert by_object["mode"]["device_class"] == "enum" and by_object["mode"]["options"][: len(words)] == words
    elif mode is not None:  # a mode whose values are unpublished (Eversolar): a plain number, not an enum
        assert "device_class" not in by_object["mode"] and "options" not in by_object["mode"]
    fields = hass.layout_fields(spec, spec.model(model_id).status_layout)
    if any(f.flags for f in spec.fields if f.id in fields):  # a model that reports a fault word
        assert "error_problem" in by_object and by_object["error_problem"]["device_class"] == "problem"
    assert by_object["temperature"]["entity_category"] == "diagnostic"
    serials = {p["device"]["serial_number"] for p in by_object.values()}
    assert len(serials) == 1 and all(p["unique_id"].startswith("pv_") for p in by_object.values())
    assert len({p["unique_id"] for p in by_object.values()}) == len(by_object)


def test_a_changed_expectation_fails_with_a_readable_diff(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ed, "EXPECTED_DIR", tmp_path)
    text = ed.render("cms").replace('"unit_of_measurement": "kWh"', '"unit_of_measurement": "Wh"', 1)
    (tmp_path / "cms.json").write_text(text, encoding="utf-8")
    d = ed.diff("cms")
    changed = [(line[0], line[1:].strip()) for line in d.splitlines() if line[:1] in "+-" and line[1:2] == " "]
    assert changed == [("-", '"unit_of_measurement": "Wh",'), ("+", '"unit_of_measurement": "kWh",')]
