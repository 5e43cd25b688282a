"""High: a service spec's record-field ``unit`` reached a ``#`` comment, so a newline in it made code.

The review's attack: a unit with a newline and a statement after it became a
statement in the class body, run on import (and ``pv info`` without ``--spec``
imports every ``pv.*`` module).  Now every spec text reaches the module only as
a literal made by one escaping function, or is refused where it is read.
"""

from __future__ import annotations

from pathlib import Path

from pvgen.cli import render_all

from .spec_scratch import REPO, import_in_subprocess, scratch_root, shape, strings

ORIGINAL = "{key: v1, name: energy_generation, type: int, unit: Wh, min: 0, doc: Energy generated today (or lifetime with c1).}"


def hostile_service(root: Path, unit: str) -> None:
    path = root / "specs" / "pvoutput.yaml"
    text = path.read_text(encoding="utf-8")
    assert ORIGINAL in text
    escaped = unit.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    path.write_text(text.replace(ORIGINAL, ORIGINAL.replace("unit: Wh", f'unit: "{escaped}"')), encoding="utf-8")


def test_unit_with_a_newline_and_code_never_runs_on_import(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    root = scratch_root(tmp_path)
    benign, problems = render_all(root)
    assert problems == []
    unit = f"Wh\n    __import__('pathlib').Path({str(marker)!r}).touch()\n    x: int = 0  #"
    hostile_service(root, unit)
    outputs, problems = render_all(root)
    if problems:  # refused where it is read: one problem, at the unit
        assert [p.path for p in problems] == [("records", "BatchStatus", "fields", 2, "unit")], problems
        return
    module = outputs["generated/pv/pvoutput.py"]
    assert shape(module) == shape(benign["generated/pv/pvoutput.py"]), "the unit changed the module's code"
    target = tmp_path / "pvoutput_hostile.py"
    target.write_text(module, encoding="utf-8")
    done = import_in_subprocess(target, marker, "pvoutput_hostile")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "clean"
    assert unit in strings(module)  # kept, as data


def test_the_committed_service_module_carries_no_spec_text_in_comments() -> None:
    """Comments are where text escapes literals: the generated module has only the two header lines."""
    lines = (REPO / "generated/pv/pvoutput.py").read_text(encoding="utf-8").splitlines()
    comments = [line for line in lines if line.lstrip().startswith("#") or "  # " in line]
    assert comments == lines[:2]
