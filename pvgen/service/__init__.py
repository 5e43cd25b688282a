"""Service specs (``meta.kind: service``): PVOutput as a declaration rendered into ``pv.pvoutput``.

Contract with ``pvgen.cli``: ``render_service(doc, source)`` returns
``{repo-relative output path: full text}`` or raises ``SpecError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pvgen.errors import SpecError, SpecProblem

from .loader import load_service
from .model import ServiceModel
from .render import render_markdown, render_python

__all__ = ["ServiceModel", "load_service", "render_service"]

_REPO = Path(__file__).resolve().parent.parent.parent


def _spec_bytes(source: str) -> bytes | None:
    """The spec file's bytes for the header hash: relative to the cwd, else to the repo."""
    for base in (Path.cwd(), _REPO):
        candidate = base / source
        if candidate.is_file():
            return candidate.read_bytes()
    return None


def render_service(
    doc: Any, source: str, data: bytes | None = None, header_files: tuple[str, ...] = ()
) -> dict[str, str]:
    """Validate a loaded service spec and render the generated module and its API reference.

    ``data`` is the file's bytes (for the header's sha256); pvgen passes what its
    loader read, callers that only have a path relative to the repository may leave it out.
    """
    data = data if data is not None else _spec_bytes(source)
    if data is None:
        raise SpecError([SpecProblem(source, 0, (), "cannot read the spec file (needed for the Source sha256 header)")])
    model = load_service(doc, source, data, header_files)
    return {
        f"generated/pv/{model.id}.py": render_python(model),
        f"docs/{model.id}-api.md": render_markdown(model),
    }
