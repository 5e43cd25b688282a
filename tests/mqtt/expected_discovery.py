"""Build, or rewrite, the checked-in Home Assistant discovery expectations.

    .venv/bin/python -m tests.mqtt.expected_discovery          # rewrite tests/mqtt/expected/*.json
    .venv/bin/python -m tests.mqtt.expected_discovery --check  # exit 1 with a diff if they differ

One file per spec; for each model the spec captured from a real unit, the
discovery messages of an inverter identified by that model's version reply
(decoded by the generated codec, as the monitor does) whose every status
layout field has a value.  Review the diff before committing a rewrite: a
changed ``unique_id`` loses users' history in Home Assistant.
"""

from __future__ import annotations

import difflib
import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pv

from pvapp.outputs import hass
from pvapp.reading import InverterInfo

# Every inverter spec the package ships, not a list kept here: a new spec gets an
# expectation file (empty until written, so its test fails until reviewed).
SPEC_IDS: tuple[str, ...] = tuple(pv.SHIPPED_SPECS)
EXPECTED_DIR = Path(__file__).with_name("expected")
DISCOVERED_SERIAL = "S0000000001"  # made up: what discovery would have reported
VERSION = "1.0.0"  # fixed so the files do not change with every release


def build(spec_id: str) -> dict[str, Any]:
    module = importlib.import_module(f"pv.{spec_id}")
    spec = module.SPEC
    out: dict[str, Any] = {}
    for model in spec.models:
        # As the monitor's poller identifies a unit: the version reply where the spec has
        # one, the serial from discovery where the version carries none (KLNE, SISER,
        # Eversolar), empty text for what the reply does not say.
        has_version = spec.has_command("version")
        version = module.decode_version(module.encode_version(dict(model.version))) if has_version else None
        info = InverterInfo(
            serial=getattr(version, "serial", "") or DISCOVERED_SERIAL,
            spec_id=spec.id,
            port="/dev/ttyUSB0",
            address=1 if spec.registration else None,
            model=getattr(version, "model", "") or "",
            manufacturer=getattr(version, "manufacturer", "") or "",
            firmware=getattr(version, "firmware", "") or "",
            va_rating=getattr(version, "va_rating", "") or "",
        )
        fields = hass.layout_fields(spec, model.status_layout)
        messages = hass.discovery_messages(spec, info, fields, hass.Topics(), version=VERSION)
        out[model.id] = [{"topic": topic, "payload": payload} for topic, payload in messages]
    return out


def render(spec_id: str) -> str:
    return json.dumps(build(spec_id), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def diff(spec_id: str) -> str:
    """Unified diff expected -> actual ('' when equal)."""
    path = EXPECTED_DIR / f"{spec_id}.json"
    expected = path.read_text(encoding="utf-8") if path.exists() else ""
    actual = render(spec_id)
    return "".join(
        difflib.unified_diff(
            expected.splitlines(keepends=True),
            actual.splitlines(keepends=True),
            f"{path} (checked in)",
            f"{spec_id} (generated now)",
        )
    )


def main(argv: list[str]) -> int:
    if "--check" in argv:
        diffs = [d for d in (diff(s) for s in SPEC_IDS) if d]
        sys.stdout.write("".join(diffs))
        return 1 if diffs else 0
    EXPECTED_DIR.mkdir(exist_ok=True)
    for spec_id in SPEC_IDS:
        (EXPECTED_DIR / f"{spec_id}.json").write_text(render(spec_id), encoding="utf-8")
        print(f"wrote {EXPECTED_DIR / spec_id}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
