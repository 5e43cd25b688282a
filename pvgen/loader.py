"""Loading spec files of every kind, and flattening ``extends``.

One entry point reads every spec, inverter or service: ``read_spec`` refuses
symbolic links and files not named ``<id>.yaml``, loads the YAML with its limits
and text rules (``pvgen.yamlsrc``), and checks ``meta.id`` by the id rules of
``pvgen.rules``.  Inverter specs then go through ``load_spec``: a variant names
the spec it extends; its sections add entries or replace them whole, and
``remove`` drops inherited ones.  The result is one flat spec, so generated code
never has ``base.base.field``.  Every entry remembers the file it came from, so
problems found after merging still point at the right file.

A parent is looked up in the variant's own folder, then in the folders given as
``parents`` (a user's spec folder extends the specs shipped with ``pv``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SpecError, SpecProblem
from .rules import SPEC_SUFFIX, spec_file_problem, spec_id_problem
from .schema import SPEC, Ctx
from .yamlsrc import LDict, decode_spec, loads_yaml, read_spec_bytes

MERGED_SECTIONS = ("types", "commands", "fields", "parameters", "enums", "flags", "models")
SHALLOW_SECTIONS = ("frame", "transport")
KINDS = ("inverter", "service")


@dataclass(frozen=True)
class SpecDir:
    """A folder of specs, and the name its files carry in generated headers (``specs``, ``pv/specs``, none)."""

    path: Path
    label: str = "specs"

    def header_name(self, spec_id: str) -> str:
        return f"{self.label}/{spec_id}{SPEC_SUFFIX}" if self.label else f"{spec_id}{SPEC_SUFFIX}"


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


@dataclass(frozen=True)
class SpecFile:
    """One spec file as read: its id, kind, data and bytes, and the names it is shown by."""

    id: str
    kind: str
    path: Path
    display: str  # in messages: relative to the root when under it
    header: str  # in generated headers: <label>/<id>.yaml
    doc: LDict
    data: bytes


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
    headers: tuple[str, ...] = ()  # header names of the chain's files, base first
    data: tuple[bytes, ...] = ()  # the bytes of the chain's files as read, base first

    @property
    def files(self) -> tuple[str, ...]:
        """Display names of the chain's files, base first (for messages)."""
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


def display_name(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return path.absolute().relative_to(root.absolute()).as_posix()
        except ValueError:
            pass
    return path.as_posix()


def spec_kind(doc: LDict) -> str:
    meta = doc.get("meta")
    kind = meta.get("kind", "inverter") if isinstance(meta, dict) else "inverter"
    return kind if kind in KINDS else "inverter"


def read_spec(path: Path, display: str, header: str | None = None, taken: dict[str, str] | None = None) -> SpecFile:
    """Read one spec file of either kind: file rules, YAML with limits and text rules, and the id rules."""
    problem = spec_file_problem(path)
    if problem:
        raise SpecError([SpecProblem(display, 0, (), problem)])
    data = read_spec_bytes(path, display)
    doc = loads_yaml(decode_spec(data, display), display)
    if not isinstance(doc, LDict):
        raise SpecError([SpecProblem(display, 1, (), "expected a mapping at the top of the spec")])
    stem = path.name[: -len(SPEC_SUFFIX)]
    spec = SpecFile(stem, spec_kind(doc), path, display, header or f"{stem}{SPEC_SUFFIX}", doc, data)
    check_id(spec, taken)
    return spec


def check_id(spec: SpecFile, taken: dict[str, str] | None = None) -> None:
    """``meta.id`` by the id rules: the file's name, a free id (``taken``: ids in use, and where)."""
    meta = spec.doc.get("meta")
    if isinstance(meta, LDict) and "id" in meta:
        problem = spec_id_problem(meta["id"], spec.id, taken)
        if problem:
            raise SpecError([SpecProblem(spec.display, meta.line_of("id"), ("meta", "id"), problem)])


def read_one(path: Path, display: str) -> LDict:
    """An inverter spec file, checked against the schema (a variant only for what it gives)."""
    return _checked(read_spec(path, display))


def _checked(spec: SpecFile) -> LDict:
    doc = spec.doc
    meta = doc.get("meta")
    ctx = Ctx(spec.display, partial=isinstance(meta, dict) and "extends" in meta)
    SPEC.check(doc, ctx, (), doc.line)
    if ctx.problems:
        raise SpecError(ctx.problems)
    return doc


def load_spec(
    path: Path,
    root: Path | None,
    *,
    parents: Sequence[SpecDir] = (),
    label: str = "specs",
    taken: dict[str, str] | None = None,
    cache: dict[Path, SpecFile] | None = None,
) -> LoadedSpec:
    """Load ``path`` and everything it extends (from its own folder, then from ``parents``).

    ``cache`` keeps the files read during one run, so a base that many specs extend
    is parsed once (callers pass the same dict for every spec of a run).
    """
    own = SpecDir(path.parent, label)
    return _load(path, root, (), (own, *parents), own, taken, {} if cache is None else cache)


def _load(
    path: Path,
    root: Path | None,
    seen: tuple[str, ...],
    search: Sequence[SpecDir],
    here: SpecDir,
    taken: dict[str, str] | None,
    cache: dict[Path, SpecFile],
) -> LoadedSpec:
    display = display_name(path, root)
    spec = cache.get(path)
    if spec is None:
        spec = read_spec(path, display, here.header_name(path.name[: -len(SPEC_SUFFIX)]))
        cache[path] = spec
    check_id(spec, None if seen else taken)
    if spec.kind != "inverter" and seen:
        meta = spec.doc["meta"]
        raise SpecError(
            [SpecProblem(display, meta.line_of("kind"), ("meta", "kind"), "a spec can only extend an inverter spec")]
        )
    doc = _checked(spec)
    meta = doc["meta"]
    spec_id = meta["id"]
    if spec_id in seen:
        cycle = " -> ".join((*seen, spec_id))
        raise SpecError([SpecProblem(display, meta.line_of("extends"), ("meta", "extends"), f"extends cycle: {cycle}")])
    parent_id = meta.get("extends")
    if parent_id is None:
        if "remove" in doc:
            raise SpecError([SpecProblem(display, doc.line_of("remove"), ("remove",), "remove needs meta.extends")])
        loaded = LoadedSpec(
            spec_id,
            display,
            doc,
            chain=(spec_id,),
            paths=(path,),
            _files=(display,),
            headers=(spec.header,),
            data=(spec.data,),
        )
        for section in MERGED_SECTIONS:
            for key in doc.get(section, {}) or {}:
                loaded.origin[(section, str(key))] = display
        return loaded
    found = _find_parent(parent_id, search)
    if found is None:
        first = (search[0].path if search else path.parent) / f"{parent_id}{SPEC_SUFFIX}"
        raise SpecError(
            [
                SpecProblem(
                    display,
                    meta.line_of("extends"),
                    ("meta", "extends"),
                    f"extends unknown spec {parent_id!r} (no file {display_name(first, root)})",
                )
            ]
        )
    parent_dir, parent_path = found
    # a parent found beside the variant keeps the variant's search order; one found further on
    # looks for its own parents from there on (a shipped spec never extends a user's)
    rest = search[search.index(parent_dir) :]
    parent = _load(parent_path, root, (*seen, spec_id), rest, parent_dir, None, cache)
    merged = _merge(parent, doc, display, spec_id)
    merged.paths = (*parent.paths, path)
    merged._files = (*parent.files, display)
    merged.headers = (*parent.headers, spec.header)
    merged.data = (*parent.data, spec.data)
    ctx = Ctx(display)
    SPEC.check(merged.doc, ctx, (), merged.doc.line)
    if ctx.problems:
        raise SpecError(ctx.problems)
    return merged


def _find_parent(parent_id: str, search: Sequence[SpecDir]) -> tuple[SpecDir, Path] | None:
    for folder in search:
        candidate = folder.path / f"{parent_id}{SPEC_SUFFIX}"
        if candidate.exists() or candidate.is_symlink():  # a link is found, then refused by read_spec
            return folder, candidate
    return None


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
