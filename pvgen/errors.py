"""Spec problems that point at the exact place in the YAML file.

Every message has the same shape, ``FILE:LINE: /yaml/path: message``, so that
editors can jump to it and the golden suite in ``tests/specs_err`` can compare
messages to the letter.  Wording is produced only by the helpers below so that
it stays uniform across the validator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .runtime.text import shown

PathPart = str | int


def format_path(path: Sequence[PathPart]) -> str:
    """Render a YAML path the way Kaitai does: ``/commands/status/reply``."""
    return "/" + "/".join(str(p) for p in path)


@dataclass(frozen=True)
class SpecProblem:
    """One thing wrong with one spec file, with where it is."""

    file: str
    line: int
    path: tuple[PathPart, ...]
    message: str

    def __str__(self) -> str:
        """One line, with anything a terminal would act on (newlines, escapes) made visible."""
        return shown(f"{self.file}:{self.line}: {format_path(self.path)}: {self.message}")


class SpecError(Exception):
    """Raised when one or more specs are invalid; carries every problem found."""

    def __init__(self, problems: Sequence[SpecProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def expected_keys(allowed: Sequence[str]) -> str:
    return ", ".join(sorted(allowed))
