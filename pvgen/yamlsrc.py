"""A safe YAML loader that remembers where every value came from, with limits.

Specs are hand-written, so errors must point at a line.  PyYAML's safe loader
throws node positions away; this one keeps them on the containers it builds
(``LDict.lines[key]``, ``LList.lines[index]``) without changing how the data
behaves, and refuses duplicate keys instead of silently keeping the last one.
Nothing but the safe constructors is ever used: a spec cannot run code.

Specs are also untrusted input, so the loader bounds what a file can cost
before anything else looks at it, each refusal one ``file:line`` problem:

* the file's size (``MAX_BYTES``);
* nesting depth (``MAX_DEPTH``), checked while composing, so no input reaches
  Python's recursion limit;
* the number of values after alias expansion (``MAX_VALUES``): every node's
  expanded size is known when it is composed, so a "billion laughs" file is
  refused at the node that overflows, in milliseconds, before anything is
  expanded; an alias to a value that contains it is refused too;
* numbers: non-finite floats (``.nan``, ``.inf``, ``1.0e+400``) and numbers
  beyond ±2**63 are refused where they are read, with their path;
* text: every string, key or value, follows ``pvgen.rules.text_problem``
  (no control, format or bidirectional characters; captured device texts may
  hold any byte) for every kind of spec.
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import Any, cast

import yaml

from .errors import PathPart, SpecError, SpecProblem
from .rules import is_data_path, text_problem

MAX_BYTES = 1 << 20
MAX_DEPTH = 40
MAX_VALUES = 100_000
MAX_NUMBER = 2**63
_MAX_DIGITS = 40  # longer integer literals are out of range whatever they say; never parse them

TOO_LARGE = f"file is larger than {MAX_BYTES // 1024} KiB; refusing to parse it"

_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"


class LDict(dict[str, Any]):
    """A mapping with the source line of itself and of each key."""

    line: int = 0
    lines: dict[str, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines = {}

    def line_of(self, key: str) -> int:
        return self.lines.get(key, self.line)


class LList(list[Any]):
    """A sequence with the source line of itself and of each item."""

    line: int = 0
    lines: list[int]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.lines = []

    def line_of(self, index: int) -> int:
        return self.lines[index] if 0 <= index < len(self.lines) else self.line


class _Refused(Exception):
    """A limit or rule broken while loading: one problem, loading stops."""

    def __init__(self, line: int, path: tuple[PathPart, ...], message: str) -> None:
        super().__init__(message)
        self.line = line
        self.path = path
        self.message = message


class _Loader(yaml.SafeLoader):
    """The safe loader, counting depth and expanded size while it composes the node graph."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._depth = 0
        self._size: dict[int, int] = {}  # id(node) -> values it stands for, aliases expanded

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = cast(Any, self).peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._size:
                raise _Refused(
                    event.start_mark.line + 1, (), f"alias *{event.anchor} refers to a value that contains it"
                )
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = cast(Any, self).peek_event().start_mark
                raise _Refused(mark.line + 1, (), f"values nested more than {MAX_DEPTH} levels deep")
            node = super().compose_node(parent, index)
            assert node is not None  # compose_node is only called when an event for a node is waiting
        finally:
            self._depth -= 1
        size = 1
        if isinstance(node, yaml.SequenceNode):
            size += sum(self._size[id(item)] for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            size += sum(self._size[id(k)] + self._size[id(v)] for k, v in node.value)
        if size > MAX_VALUES:
            raise _Refused(
                node.start_mark.line + 1,
                (),
                f"more than {MAX_VALUES} values once aliases are expanded (an alias bomb?)",
            )
        self._size[id(node)] = size
        return node


class _DuplicateKey(Exception):
    def __init__(self, path: tuple[str | int, ...], line: int, first: int) -> None:
        super().__init__(str(path))
        self.path = path
        self.line = line
        self.first = first


def _scalar(loader: yaml.SafeLoader, node: yaml.Node, path: tuple[PathPart, ...]) -> Any:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.ScalarNode) and node.tag in (_INT_TAG, _FLOAT_TAG):
        digits = sum(ch.isdigit() for ch in node.value)
        if node.tag == _INT_TAG and digits > _MAX_DIGITS:
            raise _Refused(line, path, f"number with {digits} digits is out of range (at most ±2**63)")
    try:
        value = loader.construct_object(node, deep=True)
    except ValueError as exc:
        raise _Refused(line, path, f"not a number pvgen can read: {exc}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise _Refused(line, path, f"{node.value!r} is not a finite number")
    if isinstance(value, int | float) and not isinstance(value, bool) and abs(value) >= MAX_NUMBER:
        raise _Refused(line, path, f"number {node.value} is out of range (at most ±2**63)")
    return value


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: tuple[PathPart, ...], texts: list[SpecProblem]) -> Any:
    """Turn a composed node tree into LDict/LList/scalars, knowing the path."""
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        mapping = LDict()
        mapping.line = node.start_mark.line + 1
        for key_node, value_node in node.value:
            raw_key = _scalar(loader, key_node, path) if isinstance(key_node, yaml.ScalarNode) else None
            if raw_key is None and not isinstance(key_node, yaml.ScalarNode):
                raise _Refused(key_node.start_mark.line + 1, path, "a key must be a plain value, not a list or mapping")
            key = raw_key if isinstance(raw_key, str) else str(raw_key)
            line = key_node.start_mark.line + 1
            _check_text(key, line, (*path, key), texts)
            if key in mapping:
                raise _DuplicateKey((*path, key), line, mapping.lines[key])
            mapping[key] = _build(loader, value_node, (*path, key), texts)
            mapping.lines[key] = line
        return mapping
    if isinstance(node, yaml.SequenceNode):
        seq = LList()
        seq.line = node.start_mark.line + 1
        for index, item in enumerate(node.value):
            seq.append(_build(loader, item, (*path, index), texts))
            seq.lines.append(item.start_mark.line + 1)
        return seq
    value = _scalar(loader, node, path)
    if isinstance(value, str):
        _check_text(value, node.start_mark.line + 1, path, texts)
    return value


def _check_text(text: str, line: int, path: tuple[PathPart, ...], texts: list[SpecProblem]) -> None:
    problem = text_problem(text, data=is_data_path(path))
    if problem:
        texts.append(SpecProblem("", line, path, problem))


def read_spec_bytes(path: Path, display: str) -> bytes:
    """A spec file's bytes: a regular file (never through a symbolic link), at most MAX_BYTES."""
    problem = SpecProblem(display, 0, (), "")
    try:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags)
    except OSError as exc:
        if path.is_symlink():
            raise SpecError([_with(problem, "is a symbolic link; pvgen reads only regular files")]) from None
        raise SpecError([_with(problem, f"cannot read file: {exc.strerror}")]) from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SpecError([_with(problem, "is not a regular file")])
        if info.st_size > MAX_BYTES:
            raise SpecError([_with(problem, TOO_LARGE)])
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise SpecError([_with(problem, TOO_LARGE)])
    return data


def _with(problem: SpecProblem, message: str) -> SpecProblem:
    return SpecProblem(problem.file, problem.line, problem.path, message)


def decode_spec(data: bytes, display: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SpecError([SpecProblem(display, line, (), f"not UTF-8 text (byte 0x{data[exc.start]:02x})")]) from None


def load_yaml(path: Path, display: str | None = None) -> Any:
    """Load one YAML file safely, turning every problem into a SpecError."""
    name = display or path.name
    return loads_yaml(decode_spec(read_spec_bytes(path, name), name), name)


def loads_yaml(text: str, name: str) -> Any:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise SpecError([SpecProblem(name, 0, (), TOO_LARGE)])
    loader = _Loader(text)
    texts: list[SpecProblem] = []
    try:
        node = loader.get_single_node()
        result = None if node is None else _build(loader, node, (), texts)
    except _Refused as exc:
        raise SpecError([SpecProblem(name, exc.line, exc.path, exc.message)]) from None
    except _DuplicateKey as exc:
        key = exc.path[-1]
        raise SpecError(
            [SpecProblem(name, exc.line, exc.path, f"duplicate key {key!r} (first defined on line {exc.first})")]
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise SpecError([SpecProblem(name, line, (), f"YAML syntax error: {exc.problem or exc.context}")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([SpecProblem(name, 0, (), f"YAML error: {exc}")]) from None
    except RecursionError:  # the depth limit should make this unreachable; never a traceback regardless
        raise SpecError([SpecProblem(name, 0, (), "values nested too deeply")]) from None
    finally:
        loader.dispose()
    if texts:
        raise SpecError([SpecProblem(name, p.line, p.path, p.message) for p in texts])
    return result
