"""Rendering the intermediate model with Jinja2, then formatting it.

Templates are small, one per kind of output.  Literal data (the ``SPEC``
description) is rendered with ``repr`` so that no spec text can ever become
code; ruff formats the result so that whitespace in templates never reaches a
diff, and the output is byte-for-byte deterministic.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
import tempfile
from dataclasses import MISSING, is_dataclass
from dataclasses import fields as dc_fields
from pathlib import Path
from typing import Any

import jinja2

from pvgen.runtime.model import FieldDef

from .ir import SpecIR

_PRIMITIVE_CONSTRUCT = {
    "u8": "cs.Int8ub",
    "u16": "cs.Int16ub",
    "u32": "cs.Int32ub",
    "s8": "cs.Int8sb",
    "s16": "cs.Int16sb",
    "s32": "cs.Int32sb",
}


def literal(value: Any) -> str:
    """Python source for a runtime-model value (frozen dataclasses, tuples, scalars)."""
    if is_dataclass(value) and not isinstance(value, type):
        args = []
        for f in dc_fields(value):
            if f.name.startswith("_"):
                continue
            item = getattr(value, f.name)
            if f.default is not MISSING and item == f.default:
                continue
            args.append(f"{f.name}={literal(item)}")
        return f"{type(value).__name__}({', '.join(args)})"
    if isinstance(value, tuple):
        if not value:
            return "()"
        return "(" + ", ".join(literal(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return repr(value)


def _isort_key(name: str) -> tuple[int, str]:
    """Constants, then classes, then functions: the order ruff's RUF022 expects in __all__."""
    if name.isupper():
        return (0, name)
    return (1, name) if name[0].isupper() else (2, name)


def construct_type(kind: str, width: int) -> str:
    if kind in _PRIMITIVE_CONSTRUCT:
        return _PRIMITIVE_CONSTRUCT[kind]
    if kind == "text":
        return f'cs.PaddedString({width}, "ascii")'
    return f"cs.Bytes({width})"


def field_type(f: FieldDef, ir: SpecIR) -> str:
    if f.enum:
        return f"{ir.enum_classes[f.enum]} | int | None"
    if f.flags:
        return f"{ir.flag_classes[f.flags]} | None"
    if f.scale == "1" or f.scale.isdigit():
        return "int | None"
    return "float | None"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pvgen", "templates"),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701 - renders Python source; all data goes through repr
    )
    env.filters["pyrepr"] = literal
    env.filters["construct_type"] = construct_type
    env.filters["field_type"] = field_type
    return env


def render_inverter(ir: SpecIR, env: jinja2.Environment) -> str:
    spec = ir.spec
    exports = ["SPEC", "CODEC", "Status", "Parameters", "VersionInfo", "Inverter", "EXAMPLES", "FrameStruct"]
    exports += list(ir.enum_classes.values()) + list(ir.flag_classes.values())
    exports += [t.class_name for t in ir.types]
    exports += [
        "decode_status",
        "encode_status",
        "decode_parameters",
        "encode_parameters",
        "decode_version",
        "encode_version",
        "decode_layout",
        "encode_layout",
        "encode_register",
        "decode_register",
        "Frame",
        "parse_frame",
        "checksum",
        "bin2hex",
    ]
    examples = tuple((e.id, e.command, e.direction, e.hex, e.model, e.values) for e in ir.examples)
    template = env.get_template("inverter_module.py.jinja")
    enum_titles = {e.id: f"{e.id.replace('_', ' ').capitalize()} values of the {spec.id} spec." for e in spec.enums}
    return template.render(
        ir=ir,
        spec=spec,
        types=ir.types,
        exports=sorted(set(exports), key=_isort_key),
        spec_literal=literal(spec),
        examples_literal=literal(examples),
        enum_titles=enum_titles,
        flag_titles={f.id: f"{f.id.replace('_', ' ').capitalize()} of the {spec.id} spec" for f in spec.flags},
    )


def render_package_init(modules: list[str], digest: str, env: jinja2.Environment) -> str:
    return env.get_template("package_init.py.jinja").render(modules=sorted(modules), digest=digest)


def combined_digest(parts: list[str]) -> str:
    h = hashlib.sha256()
    for p in sorted(parts):
        h.update(p.encode())
    return h.hexdigest()


RUFF_SETTINGS = ("--isolated", "--line-length", "120", "--target-version", "py311")
"""The formatter settings for generated code, fixed here so output never depends on the cwd."""


def _ruff_command() -> list[str] | None:
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    exe = shutil.which("ruff")
    return [exe] if exe else None


def format_python_files(sources: dict[str, str]) -> dict[str, str]:
    """Format many generated files with one ruff run (one process start, not one per file).

    Without ruff the sources come back unchanged: still valid Python, but
    ``pvgen --check`` will then report them as stale, which is the honest answer.
    """
    cmd = _ruff_command()
    if cmd is None or not sources:
        return dict(sources)
    with tempfile.TemporaryDirectory(prefix="pvgen-") as tmp:
        base = Path(tmp)
        for rel, text in sources.items():
            target = base / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        result = subprocess.run(
            [*cmd, "format", *RUFF_SETTINGS, "--quiet", *sorted(sources)],
            cwd=base,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"ruff could not format the generated files:\n{result.stderr}")
        return {rel: (base / rel).read_text(encoding="utf-8") for rel in sources}
