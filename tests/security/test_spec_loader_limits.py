"""Medium/Low: the YAML loader's limits (aliases, size, depth, numbers), each a one-line file:line error.

Each hostile file runs through the real ``pvgen --validate`` in a subprocess
with an address-space limit, so a loader without limits fails the test (memory
error, traceback, or the timeout) instead of taking the machine down.
"""

from __future__ import annotations

import re
import resource
from pathlib import Path

import pytest

from .spec_scratch import run_pvgen, scratch_root

LIMIT_BYTES = 1 << 30  # 1 GiB of address space is plenty for pvgen and far too little for a billion laughs

ONE_LINE = re.compile(r"^specs/(?P<name>\w+)\.yaml:(?P<line>\d+): (?P<path>/\S*): (?P<message>.+)$")


def limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_BYTES, LIMIT_BYTES))


def validate(root: Path, name: str, text: str) -> tuple[int, list[str]]:
    path = root / "specs" / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    result = run_pvgen(root, "--validate", str(path), preexec=limited)
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    return result.returncode, result.stderr.splitlines()


def billion_laughs() -> str:
    lines = [
        "meta: {id: bomb, title: Bomb, extends: cms}",
        'x-a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    ]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"x-{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return scratch_root(tmp_path, service=False)


def test_billion_laughs_is_refused_at_the_alias_that_overflows(root: Path) -> None:
    text = billion_laughs()
    assert len(text) < 4096
    rc, lines = validate(root, "bomb", text)
    assert rc == 1
    [line] = lines
    m = ONE_LINE.match(line)
    assert m, line
    assert "alias" in m["message"]
    assert 3 <= int(m["line"]) <= 10


def test_an_alias_to_its_own_ancestor_is_refused(root: Path) -> None:
    rc, lines = validate(root, "loop", "meta: {id: loop, title: Loop, extends: cms}\nx-a: &a [1, *a]\n")
    assert rc == 1
    [line] = lines
    assert line.startswith("specs/loop.yaml:2: "), line
    assert "alias" in line


def test_ordinary_aliases_still_work(root: Path) -> None:
    text = (
        "meta: {id: alias_ok, title: Aliases, extends: cms}\n"
        "fields:\n"
        "  pac: &power {code: 0x44, label: Pac, unit: W}\n"
        "x-copy: *power\n"
    )
    rc, lines = validate(root, "alias_ok", text)
    assert (rc, lines) == (0, [])


def test_deep_nesting_is_an_error_not_a_recursion_traceback(root: Path) -> None:
    depth = 50_000
    text = "meta: {id: deep, title: Deep, extends: cms}\nx-deep: " + "[" * depth + "]" * depth + "\n"
    rc, lines = validate(root, "deep", text)
    assert rc == 1
    [line] = lines
    assert line.startswith("specs/deep.yaml:2: "), line
    assert "nested" in line


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(root: Path) -> None:
    text = "meta: {id: big, title: Big, extends: cms}\n" + ("# padding\n" * 300_000)
    rc, lines = validate(root, "big", text)
    assert rc == 1
    [line] = lines
    assert line.startswith("specs/big.yaml:0: /: "), line
    assert "larger than" in line


@pytest.mark.parametrize(
    ("name", "yaml_fragment", "line", "path"),
    [
        (
            "inf_valid",
            "fields:\n  pac: {code: 0x44, label: Pac, unit: W, valid: [0, .inf]}\n",
            3,
            "/fields/pac/valid/1",
        ),
        (
            "nan_valid",
            "fields:\n  pac: {code: 0x44, label: Pac, unit: W, valid: [.nan, 10]}\n",
            3,
            "/fields/pac/valid/0",
        ),
        (
            "overflow_float",
            "models:\n  m:\n    title: M\n    status_layout: [0x44]\n    parameters: {vac_min: 1.0e+400}\n",
            6,
            "/models/m/parameters/vac_min",
        ),
        (
            "huge_int",
            "fields:\n  pac: {code: 0x44, label: Pac, unit: W, valid: [0, " + "9" * 5000 + "]}\n",
            3,
            "/fields/pac/valid/1",
        ),
        ("huge_key", "enums:\n  mode:\n    ? " + "7" * 5000 + "\n    : {id: x}\n", 4, "/enums/mode"),
    ],
    ids=["inf", "nan", "overflow", "huge_int", "huge_key"],
)
def test_non_finite_and_oversized_numbers_are_refused_where_read(
    root: Path, name: str, yaml_fragment: str, line: int, path: str
) -> None:
    text = f"meta: {{id: {name}, title: Numbers, extends: cms}}\n" + yaml_fragment
    rc, lines = validate(root, name, text)
    assert rc == 1
    assert lines, "refused"
    m = ONE_LINE.match(lines[0])
    assert m, lines
    assert (int(m["line"]), m["path"]) == (line, path) or m["path"].startswith(path), lines
    assert "number" in m["message"]
