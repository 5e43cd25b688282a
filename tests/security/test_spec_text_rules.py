"""Low: C1 control and bidirectional characters were allowed in docs and labels.

A right-to-left override in a doc or label makes the text read differently in
an editor, a terminal or generated documentation than it is (Trojan Source); C1
controls such as CSI (U+009B) are terminal escape sequences on their own.  One
text rule now serves both kinds of spec.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .spec_scratch import REPO, run_pvgen, scratch_root


@pytest.mark.parametrize(
    ("fragment", "line", "path", "shown"),
    [
        (
            'fields:\n  pac: {code: 0x44, label: Pac, unit: W, doc: "AC power \\u202e)lanretni("}\n',
            3,
            "/fields/pac/doc",
            "U+202E",
        ),
        ('enums:\n  mode:\n    0: {id: wait, label: "Wait\\x9b2J"}\n', 4, "/enums/mode/0/label", "U+009B"),
        (
            'flags:\n  error_bits:\n    width: 32\n    bits: {0: {id: a, doc: "x\\u2066y"}}\n',
            5,
            "/flags/error_bits/bits/0/doc",
            "U+2066",
        ),
        ('models:\n  m:\n    title: "M\\x85"\n    status_layout: [0x44]\n', 4, "/models/m/title", "U+0085"),
        ('models:\n  m:\n    title: "M\\u2028x"\n    status_layout: [0x44]\n', 4, "/models/m/title", "U+2028"),
        ('x-note: "\\u200fhidden"\n', 2, "/x-note", "U+200F"),
    ],
    ids=["bidi_doc", "c1_label", "isolate", "nel", "line_separator", "extension_key"],
)
def test_control_and_bidi_characters_are_refused_in_inverter_specs(
    tmp_path: Path, fragment: str, line: int, path: str, shown: str | None
) -> None:
    root = scratch_root(tmp_path, service=False)
    spec = root / "specs" / "texts.yaml"
    spec.write_text("meta: {id: texts, title: Texts, extends: cms}\n" + fragment, encoding="utf-8")
    result = run_pvgen(root, "--validate", str(spec))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert any(ln.startswith(f"specs/texts.yaml:{line}: {path}") for ln in lines), lines
    if shown:
        assert any(shown in ln and "control characters are not allowed" in ln for ln in lines), lines


def test_bidi_characters_are_refused_in_service_specs(tmp_path: Path) -> None:
    root = scratch_root(tmp_path)
    spec = root / "specs" / "pvoutput.yaml"
    text = spec.read_text(encoding="utf-8")
    old = "doc: One status in an add-batch-status upload; fields in wire order."
    assert old in text
    spec.write_text(text.replace(old, 'doc: "One status \\u202eredro eriw"'), encoding="utf-8")
    result = run_pvgen(root, "--validate", str(spec))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "specs/pvoutput.yaml:73: /records/BatchStatus/doc: control characters are not allowed"
        " (U+202E RIGHT-TO-LEFT OVERRIDE)"
    ]
    assert "doc: One status" in (REPO / "specs" / "pvoutput.yaml").read_text(encoding="utf-8")
