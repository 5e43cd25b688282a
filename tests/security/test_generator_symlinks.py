"""Low: pvgen followed symlinks in specs/ and wrote through a symlink in generated/pv.

A link in ``specs/`` can pull in any readable file; a link in ``generated/pv``
turned ``pvgen`` into "overwrite that file".  Both are refused with one line,
and nothing is written.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .spec_scratch import REPO, run_pvgen, scratch_root


def with_generated(tmp_path: Path) -> Path:
    root = scratch_root(tmp_path)
    shutil.copytree(REPO / "generated", root / "generated", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_a_symlinked_spec_is_refused(tmp_path: Path) -> None:
    root = with_generated(tmp_path)
    outside = tmp_path / "outside.yaml"
    outside.write_text("meta: {id: linked, title: Linked, extends: cms}\n", encoding="utf-8")
    (root / "specs" / "linked.yaml").symlink_to(outside)
    result = run_pvgen(root)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == "specs/linked.yaml:0: /: is a symbolic link; pvgen reads only regular files"
    assert not (root / "generated" / "pv" / "linked.py").exists()


def test_extends_through_a_symlinked_parent_is_refused(tmp_path: Path) -> None:
    root = with_generated(tmp_path)
    (root / "specs" / "phoenixtec.yaml").rename(tmp_path / "phoenixtec.yaml")
    (root / "specs" / "phoenixtec.yaml").symlink_to(tmp_path / "phoenixtec.yaml")
    result = run_pvgen(root, "--validate", str(root / "specs" / "orion.yaml"))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "specs/phoenixtec.yaml:0: /: is a symbolic link; pvgen reads only regular files"
    ]


def test_pvgen_never_writes_through_a_symlink_in_generated(tmp_path: Path) -> None:
    root = with_generated(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    target = root / "generated" / "pv" / "cms.py"
    target.unlink()
    target.symlink_to(victim)
    result = run_pvgen(root)
    assert result.returncode == 1
    assert "generated/pv/cms.py" in result.stderr and "symbolic link" in result.stderr
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert target.is_symlink()


def test_pvgen_never_writes_into_a_symlinked_package_directory(tmp_path: Path) -> None:
    root = with_generated(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(root / "generated" / "pv", elsewhere)
    (root / "generated" / "pv").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "cms.py").write_text("old\n", encoding="utf-8")
    result = run_pvgen(root)
    assert result.returncode == 1
    assert "generated/pv" in result.stderr and "symbolic link" in result.stderr
    assert (elsewhere / "cms.py").read_text(encoding="utf-8") == "old\n"
