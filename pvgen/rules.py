"""The one set of id and text rules for every kind of spec (inverter and service).

Ids become Python names, module names and file names; texts become string
literals and documentation that people read in editors and terminals.  Both
kinds of spec are checked by these functions and nothing else, so a rule fixed
here is fixed everywhere:

* ids match in full (``fullmatch``: ``$`` would accept a trailing newline);
* a spec's id is its file name (``<id>.yaml``), unique across all specs, and
  never a name the ``pv`` package already has;
* text may hold newlines and tabs but no other control character, no format
  character (bidirectional overrides and isolates, zero-width characters), no
  line or paragraph separator and no surrogate: characters that make text read
  differently from what it is (in an editor, a terminal, a generated page).
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from pathlib import Path

from .pysrc import escaped

ID_PATTERN = r"[a-z][a-z0-9_]*"
ID_RE = re.compile(ID_PATTERN)
ID_MAX = 64
ID_WHAT = "a lower_snake identifier ([a-z][a-z0-9_]*)"

NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*")  # a Python name that is not private or special
SPEC_SUFFIX = ".yaml"

# Names bound in the generated ``pv/__init__.py`` (and what the package directory holds
# besides modules): a spec with one of these ids would shadow it or be shadowed by it.
PACKAGE_NAMES = frozenset(
    {
        "SHIPPED_SPECS",
        "SPECS",
        "InverterError",
        "NoReply",
        "PortGone",
        "ProtocolError",
        "UnsafeWriteRefused",
        "UnsupportedCommand",
        "annotations",
        "debug",
        "debug_color",
        "open_port",
        "register_url_handlers",
        "specs",  # the shipped spec files, installed with the package
    }
)

_ALLOWED_CONTROLS = "\n\t"
_REFUSED_CATEGORIES = ("Cc", "Cf", "Zl", "Zp", "Cs")


def is_id(value: object) -> bool:
    """A lower_snake id usable as a Python name (full match, not a keyword)."""
    return (
        isinstance(value, str)
        and len(value) <= ID_MAX
        and ID_RE.fullmatch(value) is not None
        and not keyword.iskeyword(value)
    )


def id_problem(value: object) -> str | None:
    """Why ``value`` is not an id, or None."""
    if not isinstance(value, str):
        return f"expected an id, got {type(value).__name__}"
    if ID_RE.fullmatch(value) is None:
        return f"{show(value)} is not {ID_WHAT}"
    if keyword.iskeyword(value):
        return f"{value!r} is a Python keyword, not usable as an identifier"
    if len(value) > ID_MAX:
        return f"id longer than {ID_MAX} characters"
    return None


def is_name(value: object) -> bool:
    """A public Python name (letters, digits, ``_``; not starting with ``_``; not a keyword)."""
    return isinstance(value, str) and NAME_RE.fullmatch(value) is not None and not keyword.iskeyword(value)


def char_problem(ch: str) -> str | None:
    if ch in _ALLOWED_CONTROLS:
        return None
    if unicodedata.category(ch) in _REFUSED_CATEGORIES:
        name = unicodedata.name(ch, "")
        return f"control characters are not allowed (U+{ord(ch):04X}{' ' + name if name else ''})"
    return None


def is_data_path(path: tuple[str | int, ...]) -> bool:
    """Texts that stand for bytes a device sends (a model's version texts, an example's values):
    they hold what was captured, padding and NUL included, and are only ever rendered as literals."""
    return len(path) == 4 and (path[0], path[2]) in (("models", "version"), ("examples", "values"))


def text_problem(text: str, *, data: bool = False) -> str | None:
    """Why ``text`` may not appear in a spec, or None: the first refused character, named.

    ``data`` texts (see ``is_data_path``) may hold any character that is one byte
    (U+0000..U+00FF) and nothing else.
    """
    if text.isascii() and text.isprintable():
        return None
    if data:
        bad = next((ch for ch in text if ord(ch) > 0xFF), None)
        if bad is None:
            return None
        return f"device text holds one byte per character; U+{ord(bad):04X} is not a byte"
    for ch in text:
        problem = char_problem(ch)
        if problem:
            return problem
    return None


def show(value: object, limit: int = 40) -> str:
    """A value in a message: its repr, shortened; never raw terminal control."""
    text = repr(value)
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return escaped(text) if not text.isprintable() else text


def spec_file_problem(path: Path) -> str | None:
    """A spec file must be a regular file named ``<id>.yaml``."""
    if path.is_symlink():
        return "is a symbolic link; pvgen reads only regular files"
    stem = path.name[: -len(SPEC_SUFFIX)] if path.name.endswith(SPEC_SUFFIX) else path.name
    if not path.name.endswith(SPEC_SUFFIX) or not is_id(stem):
        return f"file name {show(path.name)} is not <id>.yaml with {ID_WHAT}"
    return None


def spec_id_problem(spec_id: object, stem: str, taken: dict[str, str] | None = None) -> str | None:
    """The rules for ``meta.id`` in both kinds of spec; ``taken`` maps ids already used to where."""
    problem = id_problem(spec_id)
    if problem:
        return problem
    assert isinstance(spec_id, str)
    if spec_id != stem:
        return f"id {spec_id!r} must match the file name {stem!r}"
    if spec_id in PACKAGE_NAMES:
        return f"id {spec_id!r} would shadow the name {spec_id!r} of the pv package"
    if taken and spec_id in taken:
        return f"id {spec_id!r} is already the spec {taken[spec_id]}"
    return None
