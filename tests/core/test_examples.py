"""The ``examples:`` of every spec, as rendered into each module's ``EXAMPLES``.

A spec author records captured frames with the values they must decode to;
this turns them into tests for whatever modules ``pvgen`` produced, so a new
spec is tested the moment it is generated.  Examples without values (most
requests) still must parse as the named command and build back byte for byte.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import pv
import pytest

from pvgen.ir import pascal
from pvgen.runtime.codec import decode_payload, encode_payload
from pvgen.runtime.framing import FrameError, Framer
from pvgen.runtime.model import FieldDef


def modules() -> list[ModuleType]:
    return [importlib.import_module(f"pv.{name}") for name in pv.SPECS]


CASES = [pytest.param(mod, example, id=f"{mod.SPEC.id}-{example[0]}") for mod in modules() for example in mod.EXAMPLES]
REJECTS = [pytest.param(mod, bad, id=f"{mod.SPEC.id}-{bad[0]}") for mod in modules() for bad in mod.REJECTED]


def test_the_examples_are_many() -> None:
    """Guard against emptied example lists silently shrinking this suite."""
    assert len(CASES) >= 80


def check_record(record: Any, fields: tuple[FieldDef, ...], values: dict[str, Any]) -> dict[int, int]:
    """Recorded value == decoded value; a 'not measured' raw value reads as None with the raw kept."""
    overrides: dict[int, int] = {}
    by_id = {f.id: f for f in fields}
    for fid, expected in values.items():
        f = by_id[fid]
        got = getattr(record, fid)
        if got is None and expected in f.na_values:
            assert record.raw_value(fid) == expected
            codes = f.codes_in(record.layout)
            assert codes is not None
            overrides.update({c: expected >> (16 * (len(codes) - 1 - i)) & 0xFFFF for i, c in enumerate(codes)})
        else:
            assert got == expected, f"{fid}: decoded {got!r}, example says {expected!r}"
    return overrides


@pytest.mark.parametrize(("mod", "example"), CASES)
def test_example(mod: ModuleType, example: tuple[str, str, str, str, str | None, tuple[tuple[str, Any], ...]]) -> None:
    _id, command, direction, hexdata, model_id, pairs = example
    spec = mod.SPEC
    data = bytes.fromhex(hexdata)
    reply = direction == "reply"
    frame = mod.CODEC.parse(data)
    cmd = spec.command(command)
    assert frame.control == cmd.control
    codes = cmd.reply_functions if reply else (cmd.function,)
    if reply and cmd.end_function is not None:
        codes = (*codes, cmd.end_function)  # the frame that ends a reply series
    assert frame.function in codes
    assert mod.CODEC.direction_of(data) in (None, reply), "the frame starts with the other direction's lead"

    built = mod.CODEC.build(
        frame.control, frame.function, frame.payload, src=frame.src, dst=frame.dst, ident=frame.ident, reply=reply
    )
    if frame.checksum_slack:
        # only a spec that tolerates a quirk accepts it; the builder always writes the true sum
        assert frame.checksum_slack in spec.frame.checksum_slack
        assert built[:-2] == data[:-2]
        assert (int.from_bytes(data[-2:], "big") - int.from_bytes(built[-2:], "big")) & 0xFFFF == frame.checksum_slack
    else:
        assert built == data

    values = dict(pairs)
    payload = frame.payload
    kind = cmd.request_type if not reply else cmd.reply_type
    ptype = spec.payload_type(kind)
    if not values:
        if kind is None:
            assert payload == b"", "a command without a payload type carries none"
        elif command == "parameters" and model_id:
            layout = spec.model(model_id).param_layout
            assert len(mod.decode_parameters(layout, payload).raw) == len(layout)
        return
    struct: Any = getattr(mod, f"{pascal(kind)}Struct") if kind else None
    if command == "status" and reply:
        assert model_id, "a status example needs the model whose layout decodes it"
        layout = spec.model(model_id).status_layout
        status = mod.decode_status(layout, payload)
        na = check_record(status, spec.fields, values)
        raw = dict(status.unknown)
        assert mod.encode_status(layout, values, {**raw, **na}) == payload
    elif command == "parameters" and reply:
        assert model_id
        layout = spec.model(model_id).param_layout
        params = mod.decode_parameters(layout, payload)
        na = check_record(params, spec.parameters, values)
        assert mod.encode_parameters(layout, values, na) == payload
    elif command == "version" and reply:
        info = mod.decode_version(payload)
        assert {k: getattr(info, k) for k in values} == values
    elif command in ("status_layout", "param_layout") and reply:
        assert list(mod.decode_layout(payload)) == values["codes"]
        assert mod.encode_layout(values["codes"]) == payload
    elif command == "register" and not reply:
        assert mod.decode_register(payload) == (values["serial"], values["address"])
        parsed = struct.parse(payload)
        assert (parsed.serial, parsed.address) == (values["serial"], values["address"])
    else:
        # any other payload: read through the spec's type at run time, and by its construct struct
        assert ptype is not None, f"no payload type for the {command} {direction}"
        decoded = decode_payload(ptype, payload)
        if ptype.kind == "struct":
            assert {k: decoded[k] for k in values} == values
            parsed = struct.parse(payload)
            assert {k: parsed[k] for k in values} == values
            if set(values) == {m[0] for m in ptype.members}:
                assert encode_payload(ptype, values) == payload
                assert struct.build(values) == payload
        else:
            (expected,) = values.values()
            assert decoded == expected
            assert (list(struct.parse(payload)) if ptype.kind == "array" else struct.parse(payload)) == expected
            assert struct.build(expected) == payload


@pytest.mark.parametrize(("mod", "bad"), REJECTS)
def test_rejected_example_is_refused_with_its_reason(mod: ModuleType, bad: tuple[str, str, str, str, str]) -> None:
    """A frame the spec says a decoder must refuse: the codec raises, naming the fault, and a framer drops it."""
    _id, _command, _direction, hexdata, reason = bad
    data = bytes.fromhex(hexdata)
    with pytest.raises(FrameError) as caught:
        mod.CODEC.parse(data)
    assert reason.lower() in str(caught.value).lower()
    framer = Framer(mod.CODEC)
    assert framer.feed(data) == []
    framer.flush()
    assert framer.stats.frames == 0 and framer.stats.garbage_bytes + framer.stats.bad_checksum > 0
