"""A safe YAML loader that remembers where every value came from.

Specs are hand-written, so errors must point at a line.  PyYAML's safe loader
throws node positions away; this one keeps them on the containers it builds
(``LDict.lines[key]``, ``LList.lines[index]``) without changing how the data
behaves, and refuses duplicate keys instead of silently keeping the last one.
Nothing but the safe constructors is ever used: a spec cannot run code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import SpecError, SpecProblem


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


class _DuplicateKey(Exception):
    def __init__(self, path: tuple[str | int, ...], line: int, first: int) -> None:
        super().__init__(str(path))
        self.path = path
        self.line = line
        self.first = first


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: tuple[str | int, ...]) -> Any:
    """Turn a composed node tree into LDict/LList/scalars, knowing the path."""
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        mapping = LDict()
        mapping.line = node.start_mark.line + 1
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            key = key if isinstance(key, str) else str(key)
            line = key_node.start_mark.line + 1
            if key in mapping:
                raise _DuplicateKey((*path, key), line, mapping.lines[key])
            mapping[key] = _build(loader, value_node, (*path, key))
            mapping.lines[key] = line
        return mapping
    if isinstance(node, yaml.SequenceNode):
        seq = LList()
        seq.line = node.start_mark.line + 1
        for index, item in enumerate(node.value):
            seq.append(_build(loader, item, (*path, index)))
            seq.lines.append(item.start_mark.line + 1)
        return seq
    return loader.construct_object(node, deep=True)


def load_yaml(path: Path, display: str | None = None) -> Any:
    """Load one YAML file safely, turning syntax errors into SpecErrors."""
    name = display or path.name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError([SpecProblem(name, 0, (), f"cannot read file: {exc.strerror}")]) from None
    return loads_yaml(text, name)


def loads_yaml(text: str, name: str) -> Any:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        return None if node is None else _build(loader, node, ())
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
    finally:
        loader.dispose()
