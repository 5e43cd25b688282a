"""Loading specs and flattening ``extends``.

A variant names the spec it extends; its sections add entries or replace them
whole, and ``remove`` drops inherited ones.  The result is one flat spec, so
generated code never has ``base.base.field``.  Every entry remembers the file it
came from, so problems found after merging still point at the right file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SpecError, SpecProblem
from .schema import SPEC, Ctx
from .yamlsrc import LDict, load_yaml

MERGED_SECTIONS = ("types", "commands", "fields", "parameters", "enums", "flags", "models")
SHALLOW_SECTIONS = ("frame", "transport")


@dataclass
class Located:
    """A value and where it was written."""

    value: Any
    file: str
    line: int


@dataclass(frozen=True)
class Removal:
    """Where a variant removed an inherited entry, so later problems can point there."""

    file: str
    line: int
    path: tuple[str | int, ...]


@dataclass
class LoadedSpec:
    """A flattened spec: plain data plus the origin of every entry."""

    id: str
    file: str  # the spec's own file (display name)
    doc: LDict
    origin: dict[tuple[str, str], str] = field(default_factory=dict)  # (section, key) -> file
    chain: tuple[str, ...] = ()
    paths: tuple[Path, ...] = ()  # the files of the chain, base first
    removed: dict[tuple[str, str], Removal] = field(default_factory=dict)

    @property
    def files(self) -> tuple[str, ...]:
        """Display names of the chain's files, base first (for headers and messages)."""
        return self._files

    _files: tuple[str, ...] = ()

    def file_of(self, section: str, key: str | None = None) -> str:
        if key is None:
            return self.file
        return self.origin.get((section, key), self.file)

    def line_of(self, section: str, key: str | None = None) -> int:
        sec = self.doc.get(section)
        if key is None or not isinstance(sec, LDict):
            return self.doc.line_of(section)
        return sec.line_of(key)


def read_one(path: Path, display: str) -> LDict:
    doc = load_yaml(path, display)
    if not isinstance(doc, LDict):
        raise SpecError([SpecProblem(display, 1, (), "expected a mapping at the top of the spec")])
    meta = doc.get("meta")
    ctx = Ctx(display, partial=isinstance(meta, dict) and "extends" in meta)
    SPEC.check(doc, ctx, (), doc.line)
    if ctx.problems:
        raise SpecError(ctx.problems)
    return doc


def load_spec(path: Path, root: Path) -> LoadedSpec:
    """Load ``path`` and everything it extends (from the same directory)."""
    return _load(path, root, ())


def _display(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _load(path: Path, root: Path, seen: tuple[str, ...]) -> LoadedSpec:
    display = _display(path, root)
    doc = read_one(path, display)
    meta = doc["meta"]
    spec_id = meta["id"]
    if spec_id != path.stem:
        raise SpecError(
            [
                SpecProblem(
                    display,
                    meta.line_of("id"),
                    ("meta", "id"),
                    f"id {spec_id!r} must match the file name {path.stem!r}",
                )
            ]
        )
    if spec_id in seen:
        cycle = " -> ".join((*seen, spec_id))
        raise SpecError([SpecProblem(display, meta.line_of("extends"), ("meta", "extends"), f"extends cycle: {cycle}")])
    parent_id = meta.get("extends")
    if parent_id is None:
        if "remove" in doc:
            raise SpecError([SpecProblem(display, doc.line_of("remove"), ("remove",), "remove needs meta.extends")])
        loaded = LoadedSpec(spec_id, display, doc, chain=(spec_id,), paths=(path,), _files=(display,))
        for section in MERGED_SECTIONS:
            for key in doc.get(section, {}) or {}:
                loaded.origin[(section, str(key))] = display
        return loaded
    parent_path = path.parent / f"{parent_id}.yaml"
    if not parent_path.exists():
        raise SpecError(
            [
                SpecProblem(
                    display,
                    meta.line_of("extends"),
                    ("meta", "extends"),
                    f"extends unknown spec {parent_id!r} (no file {_display(parent_path, root)})",
                )
            ]
        )
    parent = _load(parent_path, root, (*seen, spec_id))
    merged = _merge(parent, doc, display, spec_id)
    merged.paths = (*parent.paths, path)
    merged._files = (*parent.files, display)
    ctx = Ctx(display)
    SPEC.check(merged.doc, ctx, (), merged.doc.line)
    if ctx.problems:
        raise SpecError(ctx.problems)
    return merged


def _merge(parent: LoadedSpec, child: LDict, display: str, spec_id: str) -> LoadedSpec:
    merged = LDict()
    merged.line = child.line
    base = parent.doc
    for key, value in base.items():
        merged[key] = value
        merged.lines[key] = base.line_of(key)
    origin = dict(parent.origin)
    removed = dict(parent.removed)
    problems: list[SpecProblem] = []
    # meta: the child's own identity; abstract is never inherited
    meta = LDict(child["meta"])
    meta.line = child["meta"].line
    meta.lines = dict(child["meta"].lines)
    for key in ("manufacturer", "doc", "kind"):
        if key not in meta and key in base["meta"]:
            meta[key] = base["meta"][key]
    merged["meta"] = meta
    merged.lines["meta"] = child.line_of("meta")
    for section in SHALLOW_SECTIONS:
        if section in child:
            combined = LDict(base.get(section) or {})
            combined.line = child[section].line
            combined.lines = dict(getattr(base.get(section), "lines", {}))
            for key, value in child[section].items():
                combined[key] = value
                combined.lines[key] = child[section].line_of(key)
            merged[section] = combined
            merged.lines[section] = child.line_of(section)
    if "registration" in child:
        merged["registration"] = child["registration"]
        merged.lines["registration"] = child.line_of("registration")
    for section in MERGED_SECTIONS:
        if section not in child:
            continue
        combined = LDict(base.get(section) or {})
        combined.line = child[section].line
        combined.lines = dict(getattr(base.get(section), "lines", {}))
        for key, value in child[section].items():
            combined[key] = value
            combined.lines[key] = child[section].line_of(key)
            origin[(section, str(key))] = display
        merged[section] = combined
        merged.lines[section] = child.line_of(section)
    if "examples" in child:
        merged["examples"] = child["examples"]
        merged.lines["examples"] = child.line_of("examples")
    elif "examples" in merged:
        del merged["examples"]  # examples belong to the file that captured them
    removals: LDict = child.get("remove") or LDict()
    for section, ids in removals.items():
        line = removals.line_of(section)
        if section not in MERGED_SECTIONS:
            problems.append(
                SpecProblem(
                    display,
                    line,
                    ("remove", section),
                    f"cannot remove from {section!r}, expected one of: {', '.join(MERGED_SECTIONS)}",
                )
            )
            continue
        target: Any = merged.get(section)
        for index, item in enumerate(ids):
            if not isinstance(target, LDict) or item not in target:
                problems.append(
                    SpecProblem(
                        display,
                        ids.line_of(index),
                        ("remove", section, index),
                        f"no inherited {section} entry {item!r} to remove",
                    )
                )
                continue
            copy = LDict(target)
            copy.line = target.line
            copy.lines = {k: v for k, v in target.lines.items() if k != item}
            del copy[item]
            merged[section] = target = copy
            origin.pop((section, item), None)
            removed[(section, item)] = Removal(display, ids.line_of(index), ("remove", section, index))
    if problems:
        raise SpecError(problems)
    return LoadedSpec(spec_id, display, merged, origin, (*parent.chain, spec_id), removed=removed)
