"""pvgen.pysrc: the one escaping path, and the layout that makes ruff unnecessary.

``py_str`` must give back exactly the text for any text at all, in one line of
printable characters; ``py_doc`` the same for docstrings.  The layout must be a
fixed point of ``ruff format`` (line length 120): a batch of random literals and
docstrings is formatted once by ruff, when it is installed, and must not change.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pvgen.pysrc import INDENT, assignment, py_bytes, py_doc, py_str

ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=60)


@given(ANY_TEXT)
def test_py_str_round_trips_any_text_in_one_printable_line(text: str) -> None:
    literal = py_str(text)
    assert ast.literal_eval(literal) == text
    assert "\n" not in literal and "\r" not in literal
    assert literal.isprintable()


@given(st.binary(max_size=40))
def test_py_bytes_round_trips(data: bytes) -> None:
    literal = py_bytes(data)
    assert ast.literal_eval(literal) == data
    assert literal.isascii() and literal.isprintable()


@given(st.lists(ANY_TEXT, min_size=1, max_size=4))
def test_py_doc_is_one_docstring_holding_each_line(lines: list[str]) -> None:
    source = f"def f():\n    {py_doc(*lines, indent=INDENT)}\n"
    body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
    assert len(body) == 1 and isinstance(body[0], ast.Expr)
    value = body[0].value.value
    for line in lines:
        assert line.strip(" ") in value


@dataclass(frozen=True)
class Node:
    name: str
    items: tuple[object, ...] = ()
    value: float = 0.0
    note: str | None = None


def nodes(depth: int) -> st.SearchStrategy[object]:
    leaves = st.one_of(
        st.text(st.characters(codec=None), max_size=30),
        st.integers(-(2**40), 2**40),
        st.floats(allow_nan=False, allow_infinity=False, width=32),
        st.none(),
        st.booleans(),
    )
    if depth == 0:
        return leaves
    inner = nodes(depth - 1)
    return st.one_of(
        leaves,
        st.tuples(inner),
        st.lists(inner, max_size=6).map(tuple),
        st.builds(
            Node,
            name=st.text(min_size=10, max_size=50),
            items=st.lists(inner, min_size=1, max_size=5).map(tuple),
            value=st.floats(allow_nan=False, allow_infinity=False),
            note=st.one_of(st.none(), st.text(max_size=80)),
        ),
        st.dictionaries(st.text(max_size=10), inner, max_size=4),
    )


RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")


@pytest.mark.skipif(RUFF is None, reason="ruff is not installed (it is in the dev extra)")
@settings(max_examples=10, deadline=None)
@given(st.lists(st.tuples(nodes(3), st.lists(st.text(max_size=60), min_size=1, max_size=3)), min_size=40, max_size=40))
@example(
    [
        (
            Node("n" * 40, tuple(Node(f"item {i}", ("x" * i, i, None), 1.5, "note") for i in range(12)), 2.5, "y" * 90),
            ["first line", "", 'third "quoted" line'],
        ),
        (Node("short", (1, 2, 3)), ["one line"]),
        (tuple(range(60)), ["numbers"]),
        (("only one element that is very long " * 4,), ["one-item tuple"]),
        ({"key " * 10: Node("a" * 100), "b": (1,)}, ["dict"]),
    ]
    * 8
)
def test_layout_is_a_fixed_point_of_ruff_format(tmp_path_factory: pytest.TempPathFactory, cases: list) -> None:
    """One file of 40 random laid-out literals and docstrings; ruff must leave it as it is."""
    out = ["from __future__ import annotations", ""]
    for i, (value, doc_lines) in enumerate(cases):
        out.append(assignment(f"VALUE_{i}", value))
        out.append(py_doc(*doc_lines))
        out.append("")
        out.append("")
        out.append(f"class C{i}:")
        out.append(f"    {py_doc(*doc_lines, '', indent=INDENT)}")
        out.append("")
        out.append("")
    text = "\n".join(out).rstrip("\n") + "\n"
    target = tmp_path_factory.mktemp("layout") / "module.py"
    target.write_text(text, encoding="utf-8")
    ast.parse(text)
    result = subprocess.run(
        [str(RUFF), "format", "--isolated", "--line-length", "120", "--target-version", "py311", "--diff", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
