"""``pvgen``: validate every spec and render the ``pv`` package (or check it is fresh).

One command regenerates everything, so adding a model is: write a YAML file,
run ``pvgen``.  ``pvgen --check`` renders in memory and fails when anything
committed under ``generated/`` (or the generated docs) differs, which is how CI
catches stale generated code.  The text ``pvgen`` writes is final (no formatter
involved), so ``--check`` gives the same answer on a plain ``pip install .``.

``pvgen --specs DIR`` is for a user's own specs: it validates them (they may
``extends`` any shipped spec) and generates their modules into the per-user
cache that ``import pv`` uses with ``PV_SPECS=DIR``; it never writes into the
installed package.

``pvgen`` never reads a spec through a symbolic link and never writes through
one: a link anywhere in what it would write is refused before anything is written.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile
import time
from pathlib import Path

from .errors import SpecError, SpecProblem
from .generate import PACKAGE_DIR, SCHEMA_PATH, installed_specs_dir, render_all
from .ir import build_ir
from .loader import SpecDir, display_name, load_spec, read_spec
from .runtime.text import shown

__all__ = ["SCHEMA_PATH", "find_root", "main", "render_all"]


def find_root(start: Path) -> Path:
    for candidate in (start, *start.parents):
        if (candidate / "specs").is_dir() and (candidate / "pyproject.toml").exists():
            return candidate
    return start


def validate_files(names: list[str], root: Path) -> tuple[list[SpecProblem], int]:
    """Check spec files of either kind; parents are looked up beside each file, then among the shipped specs.

    Returns the problems and how many inverter examples were decoded and checked.
    """
    parents = [SpecDir(d, "specs") for d in (root / "specs", installed_specs_dir()) if d is not None and d.is_dir()]
    problems: list[SpecProblem] = []
    examples = 0
    for name in names:
        path = Path(name)
        path = path if path.is_absolute() else Path.cwd() / path
        display = display_name(path, root)
        try:
            spec = read_spec(path, display)
            if spec.kind == "service":
                from .service import render_service

                render_service(spec.doc, display, spec.data, (spec.header,))
            else:
                examples += len(build_ir(load_spec(path, root, parents=parents), root).examples)
        except SpecError as exc:
            problems.extend(exc.problems)
    return problems, examples


def _symlinks(root: Path, rels: list[str]) -> list[str]:
    """Every symbolic link pvgen would write through, or below ``generated/pv``: refused, all of them."""
    found: set[str] = set()
    for rel in rels:
        parts = Path(rel).parts
        for i in range(1, len(parts) + 1):
            here = root.joinpath(*parts[:i])
            if here.is_symlink():
                found.add(Path(*parts[:i]).as_posix())
                break
    package = root / PACKAGE_DIR
    if package.is_dir() and not package.is_symlink():
        for base, dirs, files in os.walk(package, followlinks=False):
            for name in (*dirs, *files):
                if (Path(base) / name).is_symlink():
                    found.add((Path(base) / name).relative_to(root).as_posix())
    return sorted(found)


def write_text(target: Path, text: str) -> None:
    """Replace ``target`` atomically, never following a link: a new file renamed over the old name."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _generate_repo(root: Path, check: bool) -> int:
    if not (root / "specs").is_dir():
        print(f"pvgen: no specs/ directory under {shown(str(root))}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    outputs, problems = render_all(root)
    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        print(f"pvgen: {len(problems)} problem(s); nothing written", file=sys.stderr)
        return 1
    links = _symlinks(root, sorted(outputs))
    if links:
        for rel in links:
            print(f"pvgen: {shown(rel)} is a symbolic link; pvgen never writes through one", file=sys.stderr)
        print(f"pvgen: {len(links)} problem(s); nothing written", file=sys.stderr)
        return 1
    stale: list[str] = []
    for rel, text in sorted(outputs.items()):
        target = root / rel
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        stale.append(rel)
        if check:
            diff = difflib.unified_diff(
                (current or "").splitlines(keepends=True), text.splitlines(keepends=True), f"a/{rel}", f"b/{rel}", n=1
            )
            sys.stderr.writelines(shown(line.rstrip("\n")) + "\n" for line in list(diff)[:40])
        else:
            write_text(target, text)
    known = set(outputs)
    package = root / PACKAGE_DIR
    extra = sorted(
        p.relative_to(root).as_posix()
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.relative_to(root).as_posix() not in known
    )
    for rel in extra:
        stale.append(rel)
        if not check:
            (root / rel).unlink()
    elapsed = time.perf_counter() - started
    if check:
        if stale:
            names = ", ".join(shown(s) for s in stale)
            print(f"pvgen --check: stale or unexpected generated files: {names}; run pvgen", file=sys.stderr)
            return 1
        print(f"pvgen --check: {len(outputs)} generated files are up to date ({elapsed:.2f} s)")
        return 0
    print(f"pvgen: {len(outputs)} files, {len(stale)} updated ({elapsed:.2f} s)")
    return 0


def _user_specs(folder: Path, check: bool) -> int:
    from .runtime import userspecs

    if not folder.is_dir():
        print(f"pvgen --specs: no such folder: {shown(str(folder))}", file=sys.stderr)
        return 2
    result = userspecs.check(folder) if check else userspecs.prepare(folder)
    for p in result.problems:
        print(p, file=sys.stderr)
    if result.problems:
        print(f"pvgen: {len(result.problems)} problem(s); nothing written", file=sys.stderr)
        return 1
    ids = ", ".join(result.modules) or "none"
    if check:
        print(f"pvgen --specs: {len(result.modules)} spec(s) valid in {shown(str(folder))}: {ids}")
        return 0
    print(f"pvgen --specs: {len(result.modules)} module(s) ({ids}) in {shown(str(result.module_dir))}")
    print(f"use them with PV_SPECS={shown(str(folder.absolute()))} (or specs_dir in pv.toml)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pvgen",
        description="Validate the protocol specs in specs/ and render the pv package into generated/pv/.",
    )
    parser.add_argument("--check", action="store_true", help="render in memory; exit 1 if generated files are stale")
    parser.add_argument("--root", type=Path, default=None, help="project root (default: found from the cwd)")
    parser.add_argument(
        "--validate", nargs="+", metavar="SPEC", help="only validate these spec files and report problems"
    )
    parser.add_argument(
        "--specs",
        type=Path,
        metavar="DIR",
        help="your own specs: validate and generate them for PV_SPECS=DIR (with --check: only validate);"
        " never writes into the installed package",
    )
    parser.add_argument(
        "--shipped", action="store_true", help="print the folder of the specs installed with pv (to copy or extend)"
    )
    args = parser.parse_args(argv)
    if args.shipped:
        shipped = installed_specs_dir()
        if shipped is None:
            print("pvgen --shipped: the pv package is not installed", file=sys.stderr)
            return 1
        print(shown(str(shipped)))
        return 0
    if args.specs is not None:
        return _user_specs(args.specs, args.check)
    root = (args.root or find_root(Path.cwd())).absolute()
    if args.validate:
        problems, examples = validate_files(args.validate, root)
        for p in problems:
            print(p, file=sys.stderr)
        if not problems:
            print(f"pvgen --validate: {len(args.validate)} spec(s) valid, {examples} example(s) checked")
        return 1 if problems else 0
    return _generate_repo(root, args.check)


if __name__ == "__main__":
    sys.exit(main())
