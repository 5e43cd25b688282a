"""The layers may only depend downwards; this reads every import statement to prove it.

Protocol code (``pv`` generated, ``pvgen`` generator and runtime) must stand
alone so that it can be used as a library without the application; within the
application, the simulator and storage sit below the monitor and the CLI.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package prefix -> prefixes it must never import
FORBIDDEN = {
    "pvgen": ("pvapp",),
    "pv": ("pvapp",),
    "pvapp.sim": ("pvapp.monitor", "pvapp.cli", "pvapp.storage", "pvapp.outputs"),
    "pvapp.storage": ("pvapp.monitor", "pvapp.cli", "pvapp.sim", "pvapp.outputs"),
    "pvapp.outputs": ("pvapp.monitor", "pvapp.cli"),
    "pvapp.monitor": ("pvapp.cli",),
}


def modules() -> list[tuple[str, Path]]:
    out = []
    for base, pkg in ((ROOT, "pvgen"), (ROOT, "pvapp"), (ROOT / "generated", "pv")):
        for path in sorted((base / pkg).rglob("*.py")):
            rel = path.relative_to(base).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            out.append((".".join(parts), path))
    return out


def imported(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize(("module", "path"), modules(), ids=lambda v: str(v) if isinstance(v, str) else "")
def test_layering(module: str, path: Path) -> None:
    rules = [bad for owner, bad in FORBIDDEN.items() if module == owner or module.startswith(owner + ".")]
    offenders = sorted(
        name
        for name in imported(path, module)
        for bad in (b for rule in rules for b in rule)
        if name == bad or name.startswith(bad + ".")
    )
    assert not offenders, f"{module} imports {offenders}"


def test_rules_cover_real_modules() -> None:
    names = {m for m, _ in modules()}
    assert {"pv.cms", "pvgen.runtime.client", "pvapp.sim"} <= names


def test_checker_sees_relative_and_absolute_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "pvapp" / "sim"
    pkg.mkdir(parents=True)
    bad = pkg / "x.py"
    bad.write_text("from ..monitor import poller\nimport pvapp.cli\n")
    found = imported(bad, "pvapp.sim.x")
    assert "pvapp.monitor.poller" in found and "pvapp.cli" in found
