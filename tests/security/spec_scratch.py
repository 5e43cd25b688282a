"""Scratch repositories for the generator's security tests: real specs copied, one hostile file added.

Hostile modules are never imported into the test process: a test first compares
the generated module's syntax tree with the one a benign spec gives (so injected
statements are caught before anything runs), then imports it in a subprocess
that checks nothing happened on import.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 120


def scratch_root(tmp_path: Path, *, service: bool = True) -> Path:
    """A copy of what pvgen reads: pyproject.toml and specs/ (the service spec too unless told otherwise)."""
    root = tmp_path / "repo"
    (root / "specs").mkdir(parents=True)
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    for spec in sorted((REPO / "specs").glob("*.yaml")):
        if service or "kind: service" not in spec.read_text(encoding="utf-8"):
            shutil.copy(spec, root / "specs" / spec.name)
    return root


def pvgen_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "pvgen"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "pvgen.cli"]


def run_pvgen(root: Path, *args: str, preexec: object = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*pvgen_cmd(), "--root", str(root), *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        preexec_fn=preexec,  # type: ignore[arg-type]
    )


def shape(source: str) -> str:
    """The module's syntax tree with every string constant blanked: what the code does, not what it says."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
            node.value = ""
    return ast.dump(tree, include_attributes=False)


def strings(source: str) -> set[str]:
    return {n.value for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


IMPORT_PROBE = """\
import importlib.util, os, sys
marker = sys.argv[2]
spec = importlib.util.spec_from_file_location(sys.argv[3], sys.argv[1])
module = importlib.util.module_from_spec(spec)
sys.modules[sys.argv[3]] = module
spec.loader.exec_module(module)
print("marker" if os.path.exists(marker) else "clean")
"""


def import_in_subprocess(path: Path, marker: Path, name: str) -> subprocess.CompletedProcess[str]:
    """Import a generated module by file in a fresh interpreter; prints 'clean' when the marker was not made."""
    return subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, str(path), str(marker), name],
        cwd=path.parent,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
