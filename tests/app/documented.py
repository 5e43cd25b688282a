"""Every `pv` command the README and docs/ show, read from the Markdown itself.

Found in shell and text code blocks (``pv ...``, ``.venv/bin/pv ...``, ``sudo $(which pv) ...``;
chains split at ``&&`` and ``;``; a text block's ``pv a | b PORT`` lists alternatives), in the
first column of tables, and in inline code spans of the prose.  A command newly written into
the docs is therefore picked up, and run by ``test_newcomer.py``, without touching the tests.

Each command is returned as it is written (tokens after ``pv``), with where it was found;
``expand`` turns the documentation's notation (``[--json]``, ``init|check``, ``...``,
``--from/--to``) into concrete command lines.
"""

from __future__ import annotations

import itertools
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC_FILES = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))
COMMAND_WORD = re.compile(r"^[a-z][a-z-]*$")


@dataclass(frozen=True)
class Documented:
    """One documented invocation: a chain of ``pv`` commands meant to run one after the other."""

    where: str  # file:line
    chain: tuple[tuple[str, ...], ...]  # each: the words after `pv`, as written
    kind: str = "block"  # "block" (code block), "table" (a table cell), "inline" (a mention in prose)


def documented_commands() -> list[Documented]:
    found: list[Documented] = []
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(REPO).as_posix()
        for block in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
            lang = block.group(1)
            if lang not in ("sh", "text", "", "bash", "console"):
                continue
            first_line = text.count("\n", 0, block.start(2)) + 1
            for offset, line in enumerate(block.group(2).splitlines()):
                where = f"{name}:{first_line + offset}"
                if lang in ("text", ""):
                    # a command list: "pv a | b PORT | c PORT   description" shows alternatives
                    found += [Documented(where, (words,)) for words in _listed_commands(line)]
                elif chain := _line_commands(line):
                    found.append(Documented(where, chain))
        for span in re.finditer(r"(?<!`)`(pv [^`\n]+)`(?!`)", text):
            line_no = text.count("\n", 0, span.start()) + 1
            line_start = text.rfind("\n", 0, span.start()) + 1
            # a table's first column lists commands; a span further along the row is a mention
            first_cell_end = text.find("|", line_start + 1)
            in_first = text.startswith("|", line_start) and span.start() < first_cell_end
            kind = "table" if in_first else "inline"
            words = _pv_words(span.group(1))
            if words:
                found.append(Documented(f"{name}:{line_no}", (words,), kind))
    return found


def _listed_commands(line: str) -> list[tuple[str, ...]]:
    head = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
    if not head.startswith("pv "):
        return []
    parts = re.split(r" \| | / ", head[3:])
    return [w for w in (_pv_words("pv " + p) for p in parts) if w]


def _line_commands(line: str) -> tuple[tuple[str, ...], ...]:
    """A shell line: the `pv` commands of a chain (`a && b`), in order."""
    line = line.replace("$(which pv)", "pv")
    line = re.sub(r"(^|\s)#.*$", "", line)  # shell comment
    chain = []
    for segment in re.split(r"&&|;", line):
        words = _pv_words(segment)
        if words:
            chain.append(words)
    return tuple(chain)


def _pv_words(segment: str) -> tuple[str, ...]:
    try:
        tokens = shlex.split(segment, posix=True)
    except ValueError:
        tokens = segment.split()
    for i, tok in enumerate(tokens):
        if tok == "pv" or tok.endswith("/pv"):
            rest = tuple(tokens[i + 1 :])
            if rest and COMMAND_WORD.match(rest[0]):
                return rest
            return ()
    return ()


def expand(words: tuple[str, ...]) -> list[list[str]]:
    """The documentation's notation made concrete: ``[x]`` included, ``a|b`` both, ``...`` dropped."""
    text = " ".join(words)
    text = re.sub(r"\[([^\]]*)\]", r"\1", text)  # optional parts: included
    variants: list[list[str]] = []
    # "..." (more options) and prose notation like `--from/--to` are not arguments
    tokens = [t for t in text.split() if t != "..." and "/--" not in t]
    choices = [t.split("|") if "|" in t and not t.startswith("-") else [t] for t in tokens]
    for combo in itertools.product(*choices):
        variants.append(list(combo))
    return variants
