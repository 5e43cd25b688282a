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
from pvgen.runtime.model import FieldDef


def modules() -> list[ModuleType]:
    return [importlib.import_module(f"pv.{name}") for name in pv.SPECS]


CASES = [pytest.param(mod, example, id=f"{mod.SPEC.id}-{example[0]}") for mod in modules() for example in mod.EXAMPLES]


def test_every_capturing_spec_has_examples() -> None:
    """Orion and samil_tcp have no public capture; the others must carry theirs."""
    with_examples = {mod.SPEC.id for mod in modules() if mod.EXAMPLES}
    assert with_examples >= {"cms", "sunezy", "samil"}
    assert len(CASES) >= 60


def check_record(record: Any, fields: tuple[FieldDef, ...], values: dict[str, Any]) -> dict[int, int]:
    """Recorded value == decoded value; a 'not measured' raw value reads as None with the raw kept."""
    overrides: dict[int, int] = {}
    by_id = {f.id: f for f in fields}
    for fid, expected in values.items():
        f = by_id[fid]
        got = getattr(record, fid)
        if got is None and expected in f.na_values:
            assert record.raw_value(fid) == expected
            overrides.update({c: expected >> (16 * (len(f.codes) - 1 - i)) & 0xFFFF for i, c in enumerate(f.codes)})
        else:
            assert got == expected, f"{fid}: decoded {got!r}, example says {expected!r}"
    return overrides


@pytest.mark.parametrize(("mod", "example"), CASES)
def test_example(mod: ModuleType, example: tuple[str, str, str, str, str | None, tuple[tuple[str, Any], ...]]) -> None:
    _id, command, direction, hexdata, model_id, pairs = example
    spec = mod.SPEC
    data = bytes.fromhex(hexdata)
    frame = mod.CODEC.parse(data)
    cmd = spec.command(command)
    assert frame.control == cmd.control
    if direction == "request":
        assert frame.function == cmd.function
    else:  # a reply, or the frame that ends a reply series
        assert frame.function in (cmd.reply_function, cmd.end_function)

    built = mod.CODEC.build(
        frame.control, frame.function, frame.payload, src=frame.src, dst=frame.dst, ident=frame.ident
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
    kind = cmd.request_type if direction == "request" else cmd.reply_type
    if not values:
        if kind is None:
            assert payload == b"", "a command without a payload type carries none"
        elif command == "parameters" and model_id:
            layout = spec.model(model_id).param_layout
            assert len(mod.decode_parameters(layout, payload).raw) == len(layout)
        return
    struct: Any = getattr(mod, f"{pascal(kind)}Struct") if kind else None
    if command == "status":
        assert model_id, "a status example needs the model whose layout decodes it"
        layout = spec.model(model_id).status_layout
        status = mod.decode_status(layout, payload)
        na = check_record(status, spec.fields, values)
        raw = dict(status.unknown)
        assert mod.encode_status(layout, values, {**raw, **na}) == payload
    elif command == "parameters":
        assert model_id
        layout = spec.model(model_id).param_layout
        params = mod.decode_parameters(layout, payload)
        na = check_record(params, spec.parameters, values)
        assert mod.encode_parameters(layout, values, na) == payload
    elif kind == "version_info":
        info = mod.decode_version(payload)
        assert {k: getattr(info, k) for k in values} == values
    elif kind == "code_list":
        assert list(mod.decode_layout(payload)) == values["codes"]
        assert mod.encode_layout(values["codes"]) == payload
    elif kind == "serial_number":
        assert struct.parse(payload) == values["serial"]
    elif kind == "register_request":
        assert mod.decode_register(payload) == (values["serial"], values["address"])
        assert mod.encode_register(values["serial"], values["address"]) == payload
        parsed = struct.parse(payload)
        assert (parsed.serial, parsed.address) == (values["serial"], values["address"])
    elif kind == "ack":
        assert struct.parse(payload).code == values["code"]
        assert struct.build(values) == payload
    elif "items" in values:  # any array type: the items as the construct struct reads them
        assert list(struct.parse(payload)) == values["items"]
        assert struct.build(values["items"]) == payload
    elif set(values) == {"text"}:  # a text type: the text as the construct struct reads it
        assert struct.parse(payload) == values["text"]
        assert struct.build(values["text"]) == payload
    elif hasattr(struct, "subcons"):  # any other struct: every member as the construct struct reads it
        parsed = struct.parse(payload)
        assert {k: parsed[k] for k in values} == values
        assert struct.build(values) == payload
    else:
        raise AssertionError(f"no check for examples of {command} {direction} ({kind})")
