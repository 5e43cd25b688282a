"""From a folder of specs to the text of every file generated from it: one path for both kinds.

``render_folder`` reads each ``*.yaml`` of a folder through the one loader
(``pvgen.loader.read_spec``: file rules, limits, text and id rules), sends
inverter specs through ``build_ir`` and the inverter templates and service specs
through the service renderer, and collects every problem.  The repository build
(``render_all``: the shipped specs into ``generated/pv``) and users' own specs
(``render_user_specs``: a folder of theirs, extending the shipped ones, into a
cache the ``pv`` package finds) are both this one function with different folders.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from .errors import SpecError, SpecProblem
from .ir import build_ir
from .loader import SpecDir, SpecFile, check_id, display_name, load_spec, read_spec
from .render import combined_digest, environment, render_inverter, render_package_init
from .rules import SPEC_SUFFIX
from .runtime.userspecs import SHIPPED_DIR as SHIPPED_SPECS_DIR
from .runtime.userspecs import shipped_specs_dir
from .schema import json_schema

PACKAGE_DIR = "generated/pv"
SCHEMA_PATH = "pvgen/schema/spec.schema.json"


@dataclass
class Rendered:
    """What one folder of specs renders to."""

    outputs: dict[str, str] = field(default_factory=dict)  # path (relative to where it goes) -> text
    problems: list[SpecProblem] = field(default_factory=list)
    inverters: list[str] = field(default_factory=list)  # ids of the generated inverter modules
    modules: list[str] = field(default_factory=list)  # ids of every generated module
    digests: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)  # file name -> text of each spec read


def spec_paths(folder: Path) -> list[Path]:
    """The spec files of a folder: every ``*.yaml`` (hidden files aside), sorted."""
    return sorted(p for p in folder.glob(f"*{SPEC_SUFFIX}") if not p.name.startswith("."))


def render_folder(
    folder: SpecDir,
    root: Path | None,
    *,
    parents: Sequence[SpecDir] = (),
    taken: dict[str, str] | None = None,
    module_prefix: str = "",
    docs_prefix: str | None = None,
    env: jinja2.Environment | None = None,
) -> Rendered:
    """Render every spec of ``folder``; modules go to ``module_prefix + <id>.py``, service docs
    to ``docs_prefix + <id>-api.md`` (none when ``docs_prefix`` is None)."""
    env = env or environment()
    out = Rendered()
    cache: dict[Path, SpecFile] = {}  # every file parsed once per run, however many specs extend it
    for path in spec_paths(folder.path):
        display = display_name(path, root)
        try:
            spec = cache.get(path) or read_spec(path, display, folder.header_name(path.name[: -len(SPEC_SUFFIX)]))
            cache[path] = spec
            check_id(spec, taken)  # also when the file was first read as another spec's parent
            out.sources[path.name] = spec.data.decode("utf-8")
            if spec.kind == "service":
                from .service import render_service

                rendered = render_service(spec.doc, display, spec.data, (spec.header,))
                for rel, text in rendered.items():
                    name = Path(rel).name
                    if rel.endswith(".py"):
                        out.outputs[module_prefix + name] = text
                    elif docs_prefix is not None:
                        out.outputs[docs_prefix + name] = text
                out.modules.append(spec.id)
                continue
            loaded = load_spec(path, root, parents=parents, label=folder.label, taken=taken, cache=cache)
            ir = build_ir(loaded, root or folder.path)
            if ir.abstract:
                continue
            out.outputs[f"{module_prefix}{ir.spec.id}.py"] = render_inverter(ir, env, loaded.headers)
            out.inverters.append(ir.spec.id)
            out.modules.append(ir.spec.id)
            out.digests.append(ir.digest)
        except SpecError as exc:
            out.problems.extend(exc.problems)
    return out


def render_all(root: Path, spec_dir: Path | None = None) -> tuple[dict[str, str], list[SpecProblem]]:
    """The repository build: every shipped spec; returns repo-relative path -> text, and all problems."""
    env = environment()
    folder = SpecDir(spec_dir or root / "specs", "specs")
    done = render_folder(folder, root, module_prefix=f"{PACKAGE_DIR}/", docs_prefix="docs/", env=env)
    outputs = dict(done.outputs)
    outputs[f"{PACKAGE_DIR}/__init__.py"] = render_package_init(done.inverters, combined_digest(done.digests), env)
    outputs[f"{PACKAGE_DIR}/py.typed"] = ""
    for name, text in done.sources.items():
        outputs[f"{PACKAGE_DIR}/{SHIPPED_SPECS_DIR}/{name}"] = text
    outputs[SCHEMA_PATH] = json.dumps(json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    return outputs, done.problems


def installed_specs_dir() -> Path | None:
    """The shipped specs as installed with the ``pv`` package, found without importing it."""
    return shipped_specs_dir("pv")


def shipped_ids(shipped: Path) -> dict[str, str]:
    """Ids a user's spec may not take: every shipped spec, by where it is."""
    return {p.name[: -len(SPEC_SUFFIX)]: f"pv/{SHIPPED_SPECS_DIR}/{p.name}" for p in spec_paths(shipped)}


def render_user_specs(folder: Path, shipped: Path) -> Rendered:
    """A user's folder of specs (which may extend the shipped ones): modules named ``<id>.py``."""
    return render_folder(
        SpecDir(folder, ""),
        None,
        parents=(SpecDir(shipped, f"pv/{SHIPPED_SPECS_DIR}"),),
        taken=shipped_ids(shipped),
    )
