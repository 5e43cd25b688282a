"""Python source for spec data: the one escaping path, and a layout that needs no formatter.

Every text that comes from a spec reaches generated code through ``py_str`` (or
``py_doc``, which is ``py_str`` for a docstring): a string literal whose raw
characters are printable and never a quote or a backslash of its own, so no
text can end the literal, start a line, or hide what the source says (line and
paragraph separators, bidirectional controls, NUL and every other non-printable
character become ``\\x``/``\\u`` escapes).  Nothing from a spec is ever written
into a comment.

The layout is the one ``ruff format`` (line length 120) produces for the shapes
generated code uses, computed here so that ``pvgen`` writes its final text
without any formatter installed: a call, tuple, list or dict stays on one line
when it fits; a call may then put all its arguments on one indented line;
otherwise every item gets its own line and a trailing comma.  Because an
exploded collection ends with a comma, ruff's "magic trailing comma" keeps it
exploded, so the output is a fixed point of ``ruff format`` (tested).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, is_dataclass
from dataclasses import fields as dc_fields
from typing import Any

LINE_LENGTH = 120
INDENT = "    "

_SHORT_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(ch: str, quote: str) -> str:
    if ch in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[ch]
    if ch == quote:
        return "\\" + ch
    if ch == " " or (ch.isprintable() and not ch.isspace()):
        return ch
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _quote_for(text: str) -> str:
    """ruff's choice: double quotes unless the text holds more double than single quotes."""
    return "'" if text.count('"') > text.count("'") else '"'


def py_str(text: str) -> str:
    """The string literal for ``text``: the only way spec text becomes Python source."""
    quote = _quote_for(text)
    return quote + "".join(_escape_char(ch, quote) for ch in text) + quote


def py_doc(*lines: str, indent: str = "") -> str:
    """A triple-quoted docstring whose lines are ``lines``, each escaped as ``py_str`` escapes.

    A newline inside one line's text is escaped too, so spec text never starts a
    line of source.  Spaces at either end of a line are dropped (a formatter
    would drop them); an empty last line puts the closing quotes on their own
    line when there is more than one line (the formatter joins a single line).
    """
    body = [_escape_doc(line.strip(" ")) for line in lines]
    own_line = len(body) > 1 and not body[-1]
    while body and not body[-1]:
        body.pop()
    if not body:
        return '""" """'
    if len(body) == 1:
        return f'"""{body[0]}"""'
    out = body[0] + "".join("\n" + (indent + line if line else "") for line in body[1:])
    return '"""' + out + ("\n" + indent if own_line else "") + '"""'


def _escape_doc(text: str) -> str:
    return "".join(_escape_char(ch, '"') for ch in text)


def escaped(text: str) -> str:
    """Text shown outside a literal (a comment, an error message): ``py_str``'s escapes, no quotes."""
    return "".join(_escape_char(ch, "") for ch in text)


def py_bytes(data: bytes) -> str:
    quote = _quote_for(data.decode("latin-1"))
    out = []
    for byte in data:
        ch = chr(byte)
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif ch == quote:
            out.append("\\" + ch)
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\x{byte:02x}")
    return "b" + quote + "".join(out) + quote


def width(text: str) -> int:
    """Columns a line takes, as the formatter counts them (wide East Asian characters take two)."""
    if text.isascii():
        return len(text)
    total = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        total += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return total


# --- expressions and their layout ----------------------------------------------------------------


@dataclass(frozen=True)
class Atom:
    """Source that never breaks: a name, a number, a string literal."""

    text: str


@dataclass(frozen=True)
class Group:
    """Bracketed items: a call (``call=True`` allows all arguments on one indented line) or a collection."""

    open: str
    items: tuple[tuple[str, Expr], ...]  # (prefix such as "name=" or '"key": ', item)
    close: str
    call: bool = False
    one_tuple: bool = False  # a one-item tuple: "(x,)" flat


Expr = Atom | Group


def flat(expr: Expr) -> str:
    if isinstance(expr, Atom):
        return expr.text
    body = ", ".join(prefix + flat(item) for prefix, item in expr.items)
    return expr.open + body + ("," if expr.one_tuple else "") + expr.close


def layout(expr: Expr, level: int = 0, column: int = 0, tail: int = 0) -> str:
    """``expr`` starting at ``column`` on a line indented ``level`` times, followed by ``tail`` columns."""
    one_line = flat(expr)
    if isinstance(expr, Atom) or not expr.items or column + width(one_line) + tail <= LINE_LENGTH:
        return one_line
    inner = INDENT * (level + 1)
    if expr.call:
        body = ", ".join(prefix + flat(item) for prefix, item in expr.items)
        if len(inner) + width(body) <= LINE_LENGTH:
            return f"{expr.open}\n{inner}{body}\n{INDENT * level}{expr.close}"
    lines = [expr.open]
    for prefix, item in expr.items:
        text = layout(item, level + 1, len(inner) + width(prefix), 1)
        lines.append(f"{inner}{prefix}{text},")
    lines.append(INDENT * level + expr.close)
    return "\n".join(lines)


def call(name: str, *args: Expr, **kwargs: Expr) -> Group:
    items = tuple(("", a) for a in args) + tuple((f"{k}=", v) for k, v in kwargs.items())
    return Group(f"{name}(", items, ")", call=True)


def to_expr(value: Any) -> Expr:
    """Runtime data (frozen dataclasses, tuples, lists, dicts, scalars) as an expression.

    Dataclass fields equal to their default are left out, so generated modules
    only say what the spec said.
    """
    if is_dataclass(value) and not isinstance(value, type):
        items: list[tuple[str, Expr]] = []
        for f in dc_fields(value):
            if f.name.startswith("_"):
                continue
            item = getattr(value, f.name)
            if f.default is not MISSING and item == f.default:
                continue
            items.append((f"{f.name}=", to_expr(item)))
        return Group(f"{type(value).__name__}(", tuple(items), ")", call=True)
    if isinstance(value, str):
        return Atom(py_str(value))
    if isinstance(value, bytes):
        return Atom(py_bytes(value))
    if value is None or isinstance(value, bool):
        return Atom(repr(value))
    if isinstance(value, int):
        return Atom(str(value))
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} has no literal")  # the loader refuses these where they are read
        return Atom(repr(value).replace("e+", "e"))
    if isinstance(value, tuple):
        return Group("(", tuple(("", to_expr(v)) for v in value), ")", one_tuple=len(value) == 1)
    if isinstance(value, list):
        return Group("[", tuple(("", to_expr(v)) for v in value), "]")
    if isinstance(value, Mapping):
        return Group("{", tuple((f"{py_str(str(k))}: ", to_expr(v)) for k, v in value.items()), "}")
    raise TypeError(f"no literal for {type(value).__name__}")


def literal(value: Any, level: int = 0, column: int = 0, tail: int = 0) -> str:
    """Python source for ``value``, laid out where it will stand."""
    return layout(to_expr(value), level, column, tail)


def assignment(target: str, value: Any | Expr) -> str:
    """``target = value`` as a top-level statement."""
    expr = value if isinstance(value, Atom | Group) else to_expr(value)
    head = f"{target} = "
    return head + layout(expr, 0, width(head), 0)


def names_tuple(names: Sequence[str]) -> Group:
    return Group("(", tuple(("", Atom(py_str(n))) for n in names), ")", one_tuple=len(names) == 1)
