"""docs/specs.md must stay true: its worked example generates, decodes and errs as printed.

The worked example is the first thing a spec author copies, so it is run like
a real spec: written to a scratch ``specs/helios.yaml``, rendered by ``pvgen``,
imported, its examples decoded; and the error listing in the Errors section
is reproduced by making the two mistakes it describes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "specs.md"
TEXT = DOC.read_text(encoding="utf-8")
PVGEN = Path(sys.executable).parent / "pvgen"


def block_after(marker: str) -> str:
    m = re.search(rf"<!-- {marker}:.*?-->\n```[a-z]*\n(.*?)```", TEXT, re.S)
    assert m, f"docs/specs.md lost its {marker} block"
    return m.group(1)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "specs").mkdir(parents=True)
    (root / "pyproject.toml").write_text("", encoding="utf-8")
    for spec in ("phoenixtec", "cms"):
        shutil.copy(REPO / "specs" / f"{spec}.yaml", root / "specs")
    return root


def pvgen(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [str(PVGEN)] if PVGEN.exists() else [sys.executable, "-m", "pvgen.cli"]
    return subprocess.run(
        [*cmd, "--root", str(root), *args], cwd=root, capture_output=True, text=True, timeout=120, check=False
    )


PROBE = """\
import construct
from pv import helios
assert "helios" in __import__("pv").SPECS
layout = helios.SPEC.model("h1500").status_layout
for _id, command, direction, hexdata, model, values in helios.EXAMPLES:
    frame = helios.CODEC.parse(bytes.fromhex(hexdata))
    cmd = helios.SPEC.command(command)
    assert frame.function == (cmd.function if direction == "request" else cmd.reply_function)
    if command == "status":
        s = helios.decode_status(helios.SPEC.model(model).status_layout, frame.payload)
        assert s.values() | dict(values) == s.values(), (s.values(), values)
        print((s.pac, s.e_total, s.relay, s.faults))
    else:
        print(helios.PercentStruct.parse(frame.payload).value)
assert not hasattr(helios.Status, "vpv1") and "zac" not in helios.Status.__dataclass_fields__
assert helios.SPEC.frame.checksum_slack == (0x100,)
assert helios.SPEC.transport.command_delay == 0.2 and helios.SPEC.transport.baudrate == 9600
assert not helios.SPEC.has_command("set_fac_min")
print(helios.SPEC.parameter("power_limit").safe_min, helios.SPEC.parameter("power_limit").safe_max)
"""


def test_worked_example_generates_and_decodes_as_documented(scratch: Path) -> None:
    (scratch / "specs" / "helios.yaml").write_text(block_after("worked-example"), encoding="utf-8")
    result = pvgen(scratch)
    assert result.returncode == 0, result.stderr
    generated = scratch / "generated"
    probe = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**os.environ, "PYTHONPATH": str(generated)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    status_line, percent, safe = probe.stdout.splitlines()
    # the same tuple the document shows in its interactive session
    assert status_line == "(1321, 8123.4, <RelayState.CLOSED: 1>, ('Derating',))"
    assert f">>> s.pac, s.e_total, s.relay, s.faults\n{status_line}\n" in TEXT
    assert percent == "80"
    assert safe == "10 100"


def test_error_listing_is_what_pvgen_prints(scratch: Path) -> None:
    good = block_after("worked-example")
    bad = good.replace("enum: relay_state,", "enum: relay_states,").replace(
        "set: set_power_limit, safe: [10, 100],", "set: set_power_limit,"
    )
    assert bad.count("\n") == good.count("\n") and bad != good
    (scratch / "specs" / "helios.yaml").write_text(bad, encoding="utf-8")
    result = pvgen(scratch, "--validate", "specs/helios.yaml")
    listing = block_after("error-example").splitlines()
    assert listing[0] == "$ pvgen --validate specs/helios.yaml"
    assert result.stderr.splitlines() == listing[1:-2]
    assert listing[-2:] == ["$ echo $?", str(result.returncode)]


def test_canonical_quantity_table_matches_the_runtime() -> None:
    """The documented vocabulary is quantities.py's, id by id and unit by unit, in display order."""
    from pvgen.runtime.quantities import QUANTITIES

    section = TEXT.split("## Canonical quantities", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z0-9_]+)` \| ([^|]+) \|", section, re.M)
    assert documented == [(q.id, q.unit or "—") for q in QUANTITIES]


def test_construct_excerpts_are_still_in_the_specs_they_quote() -> None:
    """Each `<!-- excerpt: specs/X.yaml -->` block is made of lines of that spec, in the file's order."""
    blocks = re.findall(r"<!-- excerpt: (specs/[a-z0-9_]+\.yaml) -->\n```yaml\n(.*?)```", TEXT, re.S)
    assert len(blocks) >= 8
    for path, block in blocks:
        lines = (REPO / path).read_text(encoding="utf-8").splitlines()
        pos = 0
        for wanted in block.rstrip("\n").splitlines():
            try:
                pos = lines.index(wanted, pos) + 1
            except ValueError:
                raise AssertionError(
                    f"docs/specs.md quotes {wanted!r} from {path}, which does not have it there"
                ) from None
