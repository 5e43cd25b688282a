"""No spec text becomes code: hostile text in every string field of both kinds of spec.

For each string field that reaches a generated module, hypothesis writes text
made of the pieces that break naive renderers (quotes of every kind, triple
quotes, backslashes and escape-like text, newlines, NEL, line and paragraph
separators, bidirectional controls, NUL, terminal escapes, Jinja syntax, a
coding cookie, a statement that would leave a marker file) into a real spec and
renders it through the generator's one path.  Either the loader refuses the
text, with its problem at that field's path and nowhere else, or:

* the module's code is the benign module's code (syntax trees equal once string
  constants are blanked), so nothing the text says became a statement;
* the module imports without side effects (no marker file);
* the text round-trips: it is a string constant of the module, or part of one
  (a docstring made of several texts), exactly (a docstring drops the spaces at
  its ends, which a formatter would drop).
"""

from __future__ import annotations

import copy
import importlib.util
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvgen.errors import SpecError
from pvgen.generate import render_folder
from pvgen.loader import SpecDir
from pvgen.service import render_service
from pvgen.yamlsrc import loads_yaml

from .spec_scratch import REPO, shape, strings

MARK = Path(tempfile.gettempdir()) / "pv-spec-injection-marker"
FRAGMENTS = [
    '"',
    "'",
    '"""',
    "'''",
    "\\",
    "\\\\",
    "\\n",
    "\\x41",
    "\\N{BULLET}",
    "\n",
    "\r\n",
    "\t",
    " ",
    "  ",
    "#",
    "# -*- coding: utf-7 -*-",
    "+AAo-",
    "\x85",
    "\u2028",
    "\u2029",
    "\u202e",
    "\u2066",
    "\x00",
    "\x1b[2J",
    "\x9b",
    "\x7f",
    "{{ 7*7 }}",
    "{% raw %}",
    "é",
    "°C",
    "Ω",
    "\uff21",
    "e\u0301",
    "\U0001f600",
    ")",
    "]",
    "}",
    ",",
    "=",
    ":",
    f"__import__('pathlib').Path({str(MARK)!r}).touch()",
    "\nimport os\n",
    "x",
]
HOSTILE = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=10).map(lambda parts: "x" + "".join(parts))
# Texts the rules accept in prose fields (docs, titles, enum labels): each must then be
# rendered safely and round-trip.  Labels, units and device texts have stricter rules;
# STRICT_TEXT passes those.
ACCEPTED = [
    'x"""; import os #\\ \\n\n\nos.system(\'id\')\n"',
    "{{ 7*7 }} {% if x %} \t°C Ω \uff21 e\u0301 \U0001f600  ",
]
STRICT_TEXT = "q\\\"'# )x="

# --- inverter specs ----------------------------------------------------------------------------------

INVERTER_BASE: dict[str, Any] = {
    "meta": {"id": "hostile", "title": "T", "extends": "cms", "manufacturer": "M", "doc": "D"},
    "types": {"note": {"text": 4, "doc": "D"}},
    "commands": {"note_cmd": {"request": 0x0150, "reply": 0x0190, "reply_type": "note", "doc": "D"}},
    "fields": {"pac": {"code": 0x44, "label": "Pac", "unit": "W", "doc": "D"}},
    "parameters": {
        "vac_min": {
            "code": 0x44,
            "label": "Vac-Min",
            "unit": "V",
            "scale": 0.1,
            "set": "set_vac_min",
            "safe": [180, 215],
            "doc": "D",
        }
    },
    "enums": {"mode": {0: {"id": "wait", "label": "Wait", "doc": "D"}, 1: {"id": "normal"}}},
    "flags": {"error_bits": {"width": 32, "bits": {0: {"id": "gfci", "label": "G", "doc": "D"}}}},
    "models": {"m": {"title": "M", "status_layout": [0x44], "version": {"model": "CMS"}}},
    "examples": [
        {
            "id": "ex",
            "source": "S",
            "command": "version",
            "direction": "request",
            "hex": "aaaa01000001010300015a",
            "doc": "D",
        }
    ],
}
INVERTER_FIELDS: list[tuple[str | int, ...]] = [
    ("meta", "title"),
    ("meta", "doc"),
    ("meta", "manufacturer"),
    ("types", "note", "doc"),
    ("commands", "note_cmd", "doc"),
    ("fields", "pac", "doc"),
    ("fields", "pac", "label"),
    ("parameters", "vac_min", "doc"),
    ("parameters", "vac_min", "label"),
    ("enums", "mode", 0, "label"),
    ("enums", "mode", 0, "doc"),
    ("flags", "error_bits", "bits", 0, "label"),
    ("flags", "error_bits", "bits", 0, "doc"),
    ("models", "m", "title"),
    ("models", "m", "version", "model"),
    ("examples", 0, "source"),
    ("examples", 0, "doc"),
]
NOT_RENDERED = {("examples", 0, "source"), ("examples", 0, "doc")}  # checked by the rules, kept out of code


Texts = dict[tuple[str | int, ...], str]


def with_texts(base: Any, texts: Texts) -> Any:
    doc = copy.deepcopy(base)
    for path, text in texts.items():
        node = doc
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = text
    return doc


def render_inverter_text(folder: Path, texts: Texts) -> str:
    (folder / "hostile.yaml").write_text(yaml.safe_dump(with_texts(INVERTER_BASE, texts)), encoding="utf-8")
    done = render_folder(SpecDir(folder, ""), None, parents=(SpecDir(REPO / "specs"),))
    if done.problems:
        raise SpecError(done.problems)
    return done.outputs["hostile.py"]


# --- service specs -----------------------------------------------------------------------------------

SERVICE_BASE = yaml.safe_load((REPO / "specs" / "pvoutput.yaml").read_text(encoding="utf-8"))
SERVICE_FIELDS: list[tuple[str | int, ...]] = [
    ("meta", "title"),
    ("meta", "doc"),
    ("errors", "added_status"),
    ("records", "BatchStatus", "doc"),
    ("records", "BatchStatus", "fields", 2, "doc"),
    ("records", "BatchStatus", "fields", 2, "unit"),
    ("rows", "Status", "doc"),
    ("rows", "Status", "columns", 0, "doc"),
    ("rows", "Status", "columns", 0, "unit"),
    ("operations", "add_status", "doc"),
    ("operations", "add_status", "params", 0, "doc"),
    ("operations", "add_status", "params", 0, "unit"),
    ("operations", "add_output", "params", 5, "choices", 0),
]


def stored(path: tuple[str | int, ...], text: str) -> str:
    """The text as the spec holds it (an error text must start with its reason and code)."""
    return "OK 200: " + text if path == ("errors", "added_status") else text


def render_service_text(folder: Path, texts: Texts) -> str:
    values = {path: stored(path, text) for path, text in texts.items()}
    source = yaml.safe_dump(with_texts(SERVICE_BASE, values), allow_unicode=False, sort_keys=False)
    doc = loads_yaml(source, "pvoutput.yaml")
    return render_service(doc, "pvoutput.yaml", source.encode(), ("pvoutput.yaml",))["generated/pv/pvoutput.py"]


# --- the property -------------------------------------------------------------------------------------

Render = Callable[[Path, Texts], str]
KINDS: dict[str, tuple[Render, list[tuple[str | int, ...]]]] = {
    "inverter": (render_inverter_text, INVERTER_FIELDS),
    "service": (render_service_text, SERVICE_FIELDS),
}
STRICT = {
    ("fields", "pac", "label"),
    ("parameters", "vac_min", "label"),
    ("models", "m", "version", "model"),
    ("operations", "add_output", "params", 5, "choices", 0),
}
_baselines: dict[tuple[str, tuple[tuple[str | int, ...], ...]], str] = {}


def baseline(kind: str, paths: list[tuple[str | int, ...]], folder: Path) -> str:
    """The module's shape with benign text in the same fields (a field may add a keyword)."""
    key = (kind, tuple(paths))
    if key not in _baselines:
        _baselines[key] = shape(KINDS[kind][0](folder, dict.fromkeys(paths, "benign")))
    return _baselines[key]


def import_module_text(source: str, folder: Path, name: str) -> Any:
    target = folder / f"{name}.py"
    target.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, target)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def check_texts(kind: str, texts: Texts, folder: Path) -> bool:
    """True when every text was accepted (and proven safe); False when refused, only where written."""
    render, _ = KINDS[kind]
    expected = baseline(kind, list(texts), folder)
    try:
        source = render(folder, texts)
    except SpecError as exc:
        written = {tuple(map(str, path)) for path in texts}
        for problem in exc.problems:
            at = tuple(map(str, problem.path))
            assert any(at[: len(w)] == w or at == w[:-1] for w in written), str(problem)
        return False
    assert shape(source) == expected, "the text changed the module's code"
    MARK.unlink(missing_ok=True)
    import_module_text(source, folder, f"hostile_{kind}")
    assert not MARK.exists(), "importing the module ran spec text"
    found = strings(source)
    for path, text in texts.items():
        value = stored(path, text)
        if path in NOT_RENDERED:
            assert len(texts) > 1 or value not in found
        else:
            # exactly, as a literal of its own or as one line of a composed docstring
            assert any(value.strip(" ") in constant for constant in found), f"{path}: {value!r} did not round-trip"
    return True


@pytest.mark.parametrize("kind", sorted(KINDS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_text_in_any_field_is_refused_there_or_stays_text(
    kind: str, data: st.DataObject, tmp_path: Path
) -> None:
    path = data.draw(st.sampled_from(KINDS[kind][1]), label="field")
    text = data.draw(HOSTILE, label="text")
    check_texts(kind, {path: text}, tmp_path)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_field_carries_quotes_backslashes_and_newlines_as_text(kind: str, tmp_path: Path) -> None:
    """The texts the rules accept, in every field at once: rendered and round-tripped, not merely refused."""
    fields = KINDS[kind][1]
    for text in ACCEPTED:
        assert check_texts(kind, {path: text for path in fields if path not in STRICT}, tmp_path), text
    assert check_texts(kind, {path: STRICT_TEXT for path in fields if path in STRICT}, tmp_path)
