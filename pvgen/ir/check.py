"""Collecting problems with the place they were written, and the text rules for docs.

Every section builder reports through one ``Checker``, so all problems of a spec
are found in one run and each names its file, line and YAML path.
"""

from __future__ import annotations

from typing import Any

from ..errors import PathPart, SpecProblem
from ..loader import LoadedSpec
from ..yamlsrc import LDict


class Checker:
    def __init__(self, loaded: LoadedSpec) -> None:
        self.loaded = loaded
        self.problems: list[SpecProblem] = []

    def error(
        self, section: str, key: str | None, sub: tuple[PathPart, ...], message: str, line: int | None = None
    ) -> None:
        file = self.loaded.file_of(section, key)
        path: tuple[PathPart, ...] = (section,) if key is None else (section, key)
        path = (*path, *sub)
        if line is None:
            entry = self.loaded.doc.get(section)
            line = self.loaded.line_of(section, key)
            if key is not None and sub and isinstance(entry, LDict) and isinstance(entry.get(key), LDict):
                line = entry[key].line_of(str(sub[0]))
        self.problems.append(SpecProblem(file, line, path, message))


def doc_ok(text: str) -> bool:
    """Docs are rendered inside triple-quoted docstrings: nothing may end them early."""
    return (
        '"""' not in text
        and "\\" not in text
        and not text.endswith('"')
        and all(ch >= " " or ch in "\n\t" for ch in text)
    )


def check_docs(doc: LDict, chk: Checker) -> None:
    """Docs, titles and labels anywhere in the spec must stay inside a docstring."""

    def walk(node: Any, section: str, key: str | None, sub: tuple[PathPart, ...]) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("doc", "title", "label") and isinstance(v, str) and not doc_ok(v):
                    line = node.line_of(k) if isinstance(node, LDict) else None
                    chk.error(
                        section,
                        key,
                        (*sub, k),
                        "text must not contain triple quotes, backslashes or control characters,"
                        " nor end with a double quote",
                        line,
                    )
                else:
                    walk(v, section, key, (*sub, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, section, key, (*sub, i))

    for section, value in doc.items():
        if isinstance(value, dict) and section not in ("meta", "frame", "transport", "examples"):
            for key, entry in value.items():
                walk(entry, section, str(key), ())
        else:
            walk(value, section, None, ())
