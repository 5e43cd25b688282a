"""Low: ids that pass with a trailing newline, ids that take another spec's module, ids that shadow imports.

One set of id rules serves both kinds of spec: full-match patterns (``$``
matched before a trailing newline), a spec's id is its file name, ids are
unique across all specs, and the names a spec turns into Python names stay away
from everything the generated module imports or defines.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .spec_scratch import REPO, run_pvgen, scratch_root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return scratch_root(tmp_path)


def validate(root: Path, name: str, text: str) -> tuple[int, list[str]]:
    path = root / "specs" / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    result = run_pvgen(root, "--validate", str(path))
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result.returncode, result.stderr.splitlines()


@pytest.mark.parametrize(
    ("fragment", "line", "path"),
    [
        ('fields:\n  "pac2\\n": {code: 0x50, label: Pac2}\n', 3, "/fields/pac2\\n"),
        ('enums:\n  mode:\n    9: {id: "sleep\\n"}\n', 4, "/enums/mode/9/id"),
        ('types:\n  word2:\n    struct: [{id: "a\\n", type: u16}]\n', 4, "/types/word2/struct/0/id"),
        (
            'commands:\n  status: {request: 0x0102, reply: 0x0182, reply_type: "word_list\\n"}\n',
            3,
            "/commands/status/reply_type",
        ),
    ],
    ids=["field_key", "enum_value_id", "member_id", "type_reference"],
)
def test_an_id_with_a_trailing_newline_is_refused(root: Path, fragment: str, line: int, path: str) -> None:
    rc, lines = validate(root, "trailing", "meta: {id: trailing, title: T, extends: cms}\n" + fragment)
    assert rc == 1
    assert any(ln.startswith(f"specs/trailing.yaml:{line}: {path}: ") for ln in lines), lines


def service_text(spec_id: str) -> str:
    text = (REPO / "specs" / "pvoutput.yaml").read_text(encoding="utf-8")
    assert "  id: pvoutput\n" in text
    return text.replace("  id: pvoutput\n", f"  id: {spec_id}\n", 1)


def test_a_service_spec_cannot_take_the_cms_module(root: Path) -> None:
    before = {p.name: p.read_bytes() for p in (REPO / "generated" / "pv").glob("*.py")}
    (root / "generated").mkdir()
    import shutil

    shutil.copytree(REPO / "generated" / "pv", root / "generated" / "pv", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "specs" / "steal.yaml").write_text(service_text("cms"), encoding="utf-8")
    result = run_pvgen(root)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[0].startswith("specs/steal.yaml:6: /meta/id: "), result.stderr
    after = {p.name: p.read_bytes() for p in (root / "generated" / "pv").glob("*.py")}
    assert after == before


def test_a_service_spec_in_a_file_named_after_a_shipped_spec_is_one_spec_too_many(root: Path) -> None:
    """Two files cannot both be ``cms``: the id rule is the file name, and ids are unique."""
    (root / "specs" / "pvoutput.yaml").rename(root / "specs" / "cms2.yaml")
    (root / "specs" / "cms2.yaml").write_text(service_text("cms"), encoding="utf-8")
    result = run_pvgen(root)
    assert result.returncode == 1
    assert "/meta/id: id 'cms' must match the file name 'cms2'" in result.stderr


@pytest.mark.parametrize(
    ("fragment", "line", "path", "name"),
    [
        ("enums:\n  field_def:\n    0: {id: idle}\n", 3, "/enums/field_def", "FieldDef"),
        (
            "flags:\n  protocol_spec:\n    width: 16\n    bits: {0: {id: a}}\n",
            3,
            "/flags/protocol_spec",
            "ProtocolSpec",
        ),
        ("enums:\n  frame_codec:\n    0: {id: idle}\n", 3, "/enums/frame_codec", "FrameCodec"),
        ("enums:\n  ack_struct:\n    0: {id: idle}\n", 3, "/enums/ack_struct", "AckStruct"),
        (
            "types:\n  frame_codec: {text: 4}\nenums:\n  frame_codec_struct:\n    0: {id: idle}\n",
            5,
            "/enums/frame_codec_struct",
            "FrameCodecStruct",
        ),
    ],
    ids=["FieldDef", "ProtocolSpec", "FrameCodec", "type_struct", "enum_vs_type"],
)
def test_class_names_from_ids_never_shadow_the_modules_own_names(
    root: Path, fragment: str, line: int, path: str, name: str
) -> None:
    rc, lines = validate(root, "shadow", "meta: {id: shadow, title: S, extends: cms}\n" + fragment)
    assert rc == 1
    assert any(ln.startswith(f"specs/shadow.yaml:{line}: {path}: ") and repr(name) in ln for ln in lines), lines


@pytest.mark.parametrize("spec_id", ["debug", "open_port", "annotations"])
def test_a_spec_id_never_shadows_a_name_of_the_pv_package(root: Path, spec_id: str) -> None:
    rc, lines = validate(root, spec_id, f"meta: {{id: {spec_id}, title: S, extends: cms}}\n")
    assert rc == 1
    assert any(ln.startswith(f"specs/{spec_id}.yaml:1: /meta/id: ") for ln in lines), lines


def test_the_reserved_module_names_are_exactly_what_a_generated_module_binds() -> None:
    """MODULE_IMPORTS and MODULE_DEFINES must follow the template: read them off a generated module."""
    import ast
    import enum
    import importlib

    from pvgen.ir.model import MODULE_DEFINES, MODULE_IMPORTS

    module = importlib.import_module("pv.cms")
    tree = ast.parse((REPO / "generated" / "pv" / "cms.py").read_text(encoding="utf-8"))
    imported: set[str] = set()
    defined: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            imported.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.Assign):
            defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            defined.add(node.target.id)
        elif isinstance(node, ast.ClassDef | ast.FunctionDef):
            defined.add(node.name)
    from_spec = {
        name
        for name in defined
        if (isinstance(getattr(module, name), type) and issubclass(getattr(module, name), enum.Enum))
        or (name.endswith("Struct") and name != "FrameStruct")
    }
    assert imported == MODULE_IMPORTS
    assert defined - from_spec - {"__all__"} == MODULE_DEFINES
