"""The golden suite of bad specs: every message is compared to the letter.

Each ``tests/specs_err/*.yaml`` starts with ``#`` comment lines; those that
begin with the file's own path are the exact messages ``pvgen --validate``
must print (``FILE:LINE: /yaml/path: message``), in order, and nothing else.
Comparing exactly is the point: a message that drifts to the wrong line, the
wrong file or a vaguer wording is a regression for whoever edits specs.

Variants extend the real specs, so the suite runs in a scratch root where
``tests/specs_err/`` holds copies of ``specs/*.yaml`` beside the bad files
(the loader finds a parent spec in the same directory as its variant).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pvgen.cli import main

REPO = Path(__file__).resolve().parents[2]
ERR_DIR = REPO / "tests" / "specs_err"
REL_DIR = "tests/specs_err"
MESSAGE_RE = re.compile(r"^(?P<file>[^:]+\.yaml):(?P<line>\d+): (?P<path>/[^\n]*?): (?P<message>\S.*)$")

# Bad specs the generator does not yet reject as it should; each is a bug
# reported to the lead.  strict: once fixed, the XPASS fails and the marker
# must go (and the header wording be checked against the fix).
KNOWN_BUGS: dict[str, str] = {}  # case name -> reason, for a bug found but not fixed yet (strict xfail)


def expected_messages(path: Path) -> list[str]:
    """The header's message lines (description lines do not start with the file path)."""
    out: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        text = line[1:].strip()
        if text.startswith(f"{REL_DIR}/"):
            out.append(text)
    return out


CASES = sorted(ERR_DIR.glob("*.yaml"))


@pytest.fixture(scope="module")
def scratch_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("specs_err_root")
    (root / "pyproject.toml").write_text("", encoding="utf-8")
    target = root / REL_DIR
    target.mkdir(parents=True)
    for spec in (REPO / "specs").glob("*.yaml"):
        shutil.copy(spec, target / spec.name)
    for case in CASES:
        assert not (target / case.name).exists(), f"{case.name} would shadow a real spec"
        shutil.copy(case, target / case.name)
    return root


def test_suite_is_large_enough_and_well_formed() -> None:
    assert len(CASES) >= 18
    for case in CASES:
        messages = expected_messages(case)
        assert messages, f"{case.name}: no expected message in the header"
        for message in messages:
            m = MESSAGE_RE.match(message)
            assert m, f"{case.name}: {message!r} is not FILE:LINE: /path: message"
            assert m.group("file").startswith(f"{REL_DIR}/"), message


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, id=c.stem, marks=[pytest.mark.xfail(reason=KNOWN_BUGS[c.stem], strict=True)])
        if c.stem in KNOWN_BUGS
        else pytest.param(c, id=c.stem)
        for c in CASES
    ],
)
def test_bad_spec_message(case: Path, scratch_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["--root", str(scratch_root), "--validate", str(scratch_root / REL_DIR / case.name)])
    captured = capsys.readouterr()
    assert captured.err.splitlines() == expected_messages(case)
    assert rc == 1
    assert captured.out == ""


def test_cli_prints_one_line_per_problem_and_no_traceback(scratch_root: Path) -> None:
    """The real console entry point, as a user runs it: exit 1, the message, nothing else."""
    case = ERR_DIR / "inject_name.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "pvgen.cli", "--root", str(scratch_root), "--validate", f"{REL_DIR}/{case.name}"],
        cwd=scratch_root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == expected_messages(case)


def test_real_specs_validate_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    """Every shipped inverter spec, examples decoded included; success is one summary line."""
    inverter_specs = [p for p in sorted((REPO / "specs").glob("*.yaml")) if "kind: service" not in p.read_text()]
    assert inverter_specs
    rc = main(["--root", str(REPO), "--validate", *map(str, inverter_specs)])
    captured = capsys.readouterr()
    assert captured.err == ""
    assert rc == 0
    (summary,) = captured.out.splitlines()
    assert summary.startswith(f"pvgen --validate: {len(inverter_specs)} spec(s) valid, ")
