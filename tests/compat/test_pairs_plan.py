"""pv 0.2's pairs come from a compiled plan, straight from the payload; they must say what the typed record says.

``status(layout)`` no longer builds a typed ``Status`` before its pairs: the
pairs plan (``PairBuilder``, ``codec.compile_pairs``) reads the words itself.
These tests hold it to the typed decoder, value for value and type for type,
on every spec, on its models' layouts and on shuffled layouts holding every
code, with "not measured" values, negative temperatures and flags included:
a value the typed API reads as None is its raw word, an enum or flags value
its number, everything else the typed value itself.
"""

from __future__ import annotations

import importlib
import logging
import random
from types import ModuleType

import pv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvgen.runtime.codec import WordRecord
from pvgen.runtime.legacy import PARAMETER_PAIRS, STATUS_PAIRS, LegacyReadings, PairBuilder
from pvgen.runtime.model import FieldDef

MODULES: list[ModuleType] = [importlib.import_module(f"pv.{name}") for name in pv.SPECS]
IDS = [m.SPEC.id for m in MODULES]
SOME = settings(deadline=None, max_examples=30, suppress_health_check=[HealthCheck.too_slow])


def from_record(builder: PairBuilder, record: WordRecord) -> list[tuple[str, float | int]]:
    """The pairs the record-walking builder of part 1 gave (its rule, on the typed values)."""
    out: list[tuple[str, float | int]] = []
    for label, f, positions in builder.entries(record._FIELDS, record.layout):
        value = None if f is None else getattr(record, f.id)
        if value is None:
            number = 0
            for p in positions:
                number = number << 16 | record.raw[p]
            out.append((label, number))
        else:
            out.append((label, int(value) if f is not None and (f.enum or f.flags) else value))
    return out


def layouts(mod: ModuleType, fields: tuple[FieldDef, ...], which: str, seed: int) -> list[tuple[int, ...]]:
    every = [c for f in fields for c in f.all_codes]
    shuffled = list(dict.fromkeys(every))
    random.Random(seed).shuffle(shuffled)
    return [getattr(m, which) for m in mod.SPEC.models if getattr(m, which)] + [tuple(shuffled)]


def words(fields: tuple[FieldDef, ...], size: int) -> st.SearchStrategy[bytes]:
    """``size`` raw words, often a field's "not measured" value or a high (negative when signed) one."""
    special = sorted({v & 0xFFFF for f in fields for v in f.na_values} | {0, 0x7FFF, 0x8000, 0xFFFF})
    word = st.sampled_from(special) | st.integers(0, 0xFFFF)
    return st.lists(word, min_size=size, max_size=size).map(lambda ws: b"".join(w.to_bytes(2, "big") for w in ws))


@pytest.mark.parametrize("mod", MODULES, ids=IDS)
@SOME
@given(data=st.data())
def test_status_pairs_say_what_the_typed_record_says(mod: ModuleType, data: st.DataObject) -> None:
    fields = mod.SPEC.fields
    for layout in layouts(mod, fields, "status_layout", data.draw(st.integers(0, 1000))):
        payload = data.draw(words(fields, len(layout)))
        record = mod.decode_status(layout, payload)
        got = STATUS_PAIRS.decode(fields, layout, payload)
        want = from_record(STATUS_PAIRS, record)
        assert type(got) is LegacyReadings and got == want
        assert [type(v) for _, v in got] == [type(v) for _, v in want]
        assert STATUS_PAIRS.pairs(record) == got  # a record already decoded: the same plan, from its words
        assert len(got) == len({label for label, _ in got}), "a label appears twice"


@pytest.mark.parametrize(
    "mod", [m for m in MODULES if m.SPEC.parameters], ids=[m.SPEC.id for m in MODULES if m.SPEC.parameters]
)
@SOME
@given(data=st.data())
def test_parameter_pairs_say_what_the_typed_record_says(mod: ModuleType, data: st.DataObject) -> None:
    fields = mod.SPEC.parameters
    for layout in layouts(mod, fields, "param_layout", data.draw(st.integers(0, 1000))):
        payload = data.draw(words(fields, len(layout)))
        got = PARAMETER_PAIRS.decode(fields, layout, payload)
        want = from_record(PARAMETER_PAIRS, mod.decode_parameters(layout, payload))
        assert got == want and [type(v) for _, v in got] == [type(v) for _, v in want]


def test_a_payload_that_does_not_fit_the_layout_is_refused() -> None:
    from pv import cms

    from pvgen.runtime.errors import ProtocolError

    layout = cms.SPEC.model("cms2000").status_layout
    with pytest.raises(ProtocolError, match="status payload has 40 bytes but the layout has 21 codes"):
        STATUS_PAIRS.decode(cms.SPEC.fields, layout, bytes(40))
    assert STATUS_PAIRS.decode(cms.SPEC.fields, list(layout), bytes(42))["Pac"] == 0  # a list layout too


def test_plans_stay_bounded_on_a_line_sending_ever_new_layouts() -> None:
    from pv import cms

    builder = PairBuilder({"pac": "Pac"}, "status")
    for n in range(builder.MAX_LAYOUTS + 10):
        layout = (0x44, *(0x100 + i for i in range(n % 300)))  # a fixed-layout unused word per extra position
        assert builder.decode(cms.SPEC.fields, layout, bytes(2 * len(layout)))["Pac"] == 0
    assert len(builder.layouts(cms.SPEC.fields)) <= builder.MAX_LAYOUTS


def synthetic_fields() -> tuple[FieldDef, ...]:
    """The cases no shipped spec has yet: a scaled value with a "not measured" word, a signed one of two
    words with one, and an enum; a spec may declare any of them."""

    def field(
        fid: str, codes: tuple[int, ...], scale: str, signed: bool, na: tuple[int, ...], enum: str | None = None
    ) -> FieldDef:
        return FieldDef(fid, fid.upper(), codes, "", scale, signed, enum, None, "", na_values=na)

    return (
        field("volts", (0x10,), "0.1", False, (0xFFFF, 0x8000)),
        field("energy", (0x11, 0x12), "0.01", True, (0xFFFFFFFF,)),
        field("mode", (0x13,), "1", False, (), "mode"),
    )


@given(data=st.data())
@SOME
def test_pairs_of_synthetic_fields_no_spec_has_yet(data: st.DataObject) -> None:
    from dataclasses import dataclass
    from enum import IntEnum

    from pvgen.runtime.codec import WordDecoder

    fields = synthetic_fields()

    class Mode(IntEnum):
        WAIT = 0
        NORMAL = 1

    @dataclass(frozen=True)
    class Record(WordRecord):
        volts: float | None = None
        energy: float | None = None
        mode: int | None = None
        layout: tuple[int, ...] = ()
        raw: tuple[int, ...] = ()
        unknown: tuple[tuple[int, int], ...] = ()

    Record._FIELDS = fields
    decoder = WordDecoder(Record, fields, {"mode": Mode}, {}, "status")
    builder = PairBuilder({"volts": "V"}, "status")
    layout = data.draw(st.permutations([0x10, 0x11, 0x12, 0x13, 0x20]))
    payload = data.draw(words(fields, len(layout)))
    payload = data.draw(st.sampled_from([payload, b"\xff" * len(payload), b"\x80\x00" * len(layout)]))
    got = builder.decode(fields, layout, payload)
    want = from_record(builder, decoder.decode(layout, payload))
    assert got == want and [type(v) for _, v in got] == [type(v) for _, v in want]
    # pv 0.2's own label first, then the rest in layout order (a two-word value at its first word)
    codes = {"ENERGY": (0x11, 0x12), "MODE": (0x13,), "0x20": (0x20,)}
    order = sorted(codes, key=lambda label: min(layout.index(c) for c in codes[label]))
    assert got.keys() == ["V", *order]


@pytest.mark.parametrize("mod", MODULES, ids=IDS)
@SOME
@given(data=st.data())
def test_fused_status_pairs_are_the_plans(mod: ModuleType, data: st.DataObject) -> None:
    """status(layout) through its compiled exchange (pvgen/runtime/fused.py, which inlines the pairs
    expression) gives the pairs plan's pairs, value for value and type for type, on every spec's layouts;
    where a spec's reply cannot be expected exactly (Samil TCP's ident byte) the general path gives them."""
    from pvgen.runtime.debug import FRAME_LOG

    from .pv02 import CannedPort

    # frames not logged, and logging's cache says so (any general-path call fills it; fused.py reads it)
    assert not FRAME_LOG.isEnabledFor(logging.DEBUG)

    def general_ran(*_args: object) -> None:
        raise AssertionError("the general path ran")

    fields = mod.SPEC.fields
    cmd = mod.SPEC.command("status")
    for layout in layouts(mod, fields, "status_layout", data.draw(st.integers(0, 1000))):
        if 2 * len(layout) > mod.SPEC.frame.max_payload:
            continue
        payload = data.draw(words(fields, len(layout)))
        inv = mod.Inverter(CannedPort({}), sleep=lambda _s: None)
        request = inv._prepare_for_bus("status", 1)
        reply = mod.CODEC.build(
            cmd.control, cmd.reply_function, payload, src=request.match.src, dst=request.match.dst, reply=True
        )
        inv.port.answers[request.data] = reply
        fused = inv._fused_status(layout, 1)
        compiled = (fused.__doc__ or "").startswith("def exchange")
        assert compiled == (not mod.SPEC.frame.ident_width)
        if compiled:
            inv._status_general = general_ran  # type: ignore[method-assign]
        got = inv.status(layout)
        want = STATUS_PAIRS.decode(fields, layout, payload)
        assert type(got) is LegacyReadings and got == want
        assert [type(v) for _, v in got] == [type(v) for _, v in want]
