"""``pvgen``: validate every spec and render the ``pv`` package (or check it is fresh).

One command regenerates everything, so adding a model is: write a YAML file,
run ``pvgen``.  ``pvgen --check`` renders in memory and fails when anything
committed under ``generated/`` (or the generated docs) differs, which is how CI
catches stale generated code.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
import time
from pathlib import Path
from typing import Any

from .errors import SpecError, SpecProblem
from .ir import build_ir
from .loader import load_spec
from .render import combined_digest, environment, format_python_files, render_inverter, render_package_init
from .schema import json_schema
from .yamlsrc import load_yaml

SCHEMA_PATH = "pvgen/schema/spec.schema.json"


def find_root(start: Path) -> Path:
    for candidate in (start, *start.parents):
        if (candidate / "specs").is_dir() and (candidate / "pyproject.toml").exists():
            return candidate
    return start


def render_all(root: Path, spec_dir: Path | None = None) -> tuple[dict[str, str], list[SpecProblem]]:
    """Render every spec; returns repo-relative path -> text, and all problems found."""
    spec_dir = spec_dir or root / "specs"
    env = environment()
    outputs: dict[str, str] = {}
    problems: list[SpecProblem] = []
    modules: list[str] = []
    digests: list[str] = []
    for path in sorted(spec_dir.glob("*.yaml")):
        try:
            raw: Any = load_yaml(path, path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path))
            kind = raw.get("meta", {}).get("kind", "inverter") if isinstance(raw, dict) else "inverter"
            if kind == "service":
                try:
                    from .service import render_service
                except ImportError as exc:
                    problems.append(SpecProblem(path.name, 1, ("meta", "kind"), f"no service renderer: {exc}"))
                    continue
                rendered = render_service(raw, path.relative_to(root).as_posix())
                outputs.update(rendered)
                modules.append(path.stem)
                continue
            loaded = load_spec(path, root)
            ir = build_ir(loaded, root)
            if ir.abstract:
                continue
            rel = f"generated/pv/{ir.spec.id}.py"
            outputs[rel] = render_inverter(ir, env)
            modules.append(ir.spec.id)
            digests.append(ir.digest)
        except SpecError as exc:
            problems.extend(exc.problems)
    inverter_modules = [m for m in modules if f"generated/pv/{m}.py" in outputs and m != "pvoutput"]
    outputs["generated/pv/__init__.py"] = render_package_init(inverter_modules, combined_digest(digests), env)
    outputs.update(format_python_files({rel: text for rel, text in outputs.items() if rel.endswith(".py")}))
    outputs["generated/pv/py.typed"] = ""
    outputs[SCHEMA_PATH] = json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return outputs, problems


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
    args = parser.parse_args(argv)
    root = (args.root or find_root(Path.cwd())).resolve()
    if args.validate:
        problems: list[SpecProblem] = []
        for name in args.validate:
            path = Path(name).resolve()
            try:
                loaded = load_spec(path, root)
                build_ir(loaded, root)
            except SpecError as exc:
                problems.extend(exc.problems)
        for p in problems:
            print(p, file=sys.stderr)
        return 1 if problems else 0
    if not (root / "specs").is_dir():
        print(f"pvgen: no specs/ directory under {root}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    outputs, problems = render_all(root)
    if problems:
        for p in problems:
            print(p, file=sys.stderr)
        print(f"pvgen: {len(problems)} problem(s); nothing written", file=sys.stderr)
        return 1
    stale: list[str] = []
    for rel, text in sorted(outputs.items()):
        target = root / rel
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        stale.append(rel)
        if args.check:
            diff = difflib.unified_diff(
                (current or "").splitlines(keepends=True), text.splitlines(keepends=True), f"a/{rel}", f"b/{rel}", n=1
            )
            sys.stderr.writelines(list(diff)[:40])
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
    known = set(outputs)
    extra = sorted(
        p.relative_to(root).as_posix()
        for p in (root / "generated" / "pv").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.relative_to(root).as_posix() not in known
    )
    for rel in extra:
        stale.append(rel)
        if not args.check:
            (root / rel).unlink()
    elapsed = time.perf_counter() - started
    if args.check:
        if stale:
            print(f"pvgen --check: stale or unexpected generated files: {', '.join(stale)}; run pvgen", file=sys.stderr)
            return 1
        print(f"pvgen --check: {len(outputs)} generated files are up to date ({elapsed:.2f} s)")
        return 0
    print(f"pvgen: {len(outputs)} files, {len(stale)} updated ({elapsed:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
