"""Low: a safe range that is not a multiple of the value's resolution let a rounded value past its end.

``safe: [0, 100.6]`` with ``scale: 1`` accepted 100.6, which is written as raw
101: one step beyond the range the spec author declared safe.  The generator
now requires each end of a safe range to be a whole number of steps and to fit
the value's words.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .spec_scratch import run_pvgen, scratch_root

BASE = "meta: {id: res, title: Resolution, extends: cms}\nparameters:\n"


def validate(tmp_path: Path, parameter: str) -> tuple[int, list[str]]:
    root = scratch_root(tmp_path, service=False)
    path = root / "specs" / "res.yaml"
    path.write_text(BASE + parameter, encoding="utf-8")
    result = run_pvgen(root, "--validate", str(path))
    assert "Traceback" not in result.stderr
    return result.returncode, result.stderr.splitlines()


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        (
            "  vac_min: {code: 0x44, label: Vac-Min, unit: V, scale: 1, set: set_vac_min, safe: [90, 100.6]}\n",
            "specs/res.yaml:3: /parameters/vac_min/safe: 100.6 is not a whole number of steps of 1 V (the value is written as a raw word; use 100 or 101)",
        ),
        (
            "  vac_min: {code: 0x44, label: Vac-Min, unit: V, scale: 0.1, set: set_vac_min, safe: [180.05, 215]}\n",
            "specs/res.yaml:3: /parameters/vac_min/safe: 180.05 is not a whole number of steps of 0.1 V (the value is written as a raw word; use 180 or 180.1)",
        ),
        (
            "  vac_min: {code: 0x44, label: Vac-Min, unit: V, scale: 0.1, set: set_vac_min, safe: [180, 7000]}\n",
            "specs/res.yaml:3: /parameters/vac_min/safe: 7000 does not fit in an unsigned 16-bit word at scale 0.1 (0..6553.5)",
        ),
        (
            "  vac_min: {code: 0x44, label: Vac-Min, unit: V, scale: 0.1, set: set_vac_min, safe: [-5, 215]}\n",
            "specs/res.yaml:3: /parameters/vac_min/safe: -5 does not fit in an unsigned 16-bit word at scale 0.1 (0..6553.5)",
        ),
    ],
    ids=["scale_1", "scale_0.1", "overflow", "negative"],
)
def test_safe_range_ends_must_be_representable(tmp_path: Path, parameter: str, message: str) -> None:
    rc, lines = validate(tmp_path, parameter)
    assert (rc, lines) == (1, [message])


def test_a_range_on_the_resolution_passes(tmp_path: Path) -> None:
    parameter = "  vac_min: {code: 0x44, label: Vac-Min, unit: V, scale: 0.1, set: set_vac_min, safe: [180.1, 215]}\n"
    assert validate(tmp_path, parameter) == (0, [])
