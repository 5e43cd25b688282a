"""A hand-built module honouring the generated-module contract, for a spec that pvgen never saw.

It exists to show (and test) that the simulator depends only on the contract
in CLIENT_API.md: SPEC, CODEC and the encode/decode functions.  The spec is
deliberately unlike the real ones (other codes, other mode numbers, another
host address, three-byte serials), so any hidden CMS assumption in the
engine breaks these tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

from pvgen.runtime.framing import FrameCodec
from pvgen.runtime.model import (
    CommandDef,
    EnumDef,
    EnumValue,
    FieldDef,
    FrameFormat,
    ModelDef,
    ProtocolSpec,
    TextField,
    TransportDefaults,
)


def _cmd(cid: str, control: int, function: int, reply: int | None, rtype: str | None = None, **kw: Any) -> CommandDef:
    return CommandDef(
        cid, control, function, reply, kw.get("request_type"), rtype, kw.get("broadcast", False), False, ""
    )


def _field(fid: str, codes: tuple[int, ...], unit: str = "", scale: str = "1", **kw: Any) -> FieldDef:
    return FieldDef(
        fid, kw.pop("label", fid), codes, unit, scale, kw.pop("signed", False), kw.pop("enum", None), None, "", **kw
    )


SPEC = ProtocolSpec(
    id="toy",
    title="Toy protocol",
    doc="",
    manufacturer="Nobody",
    frame=FrameFormat(
        sync=b"\x5a\xa5",
        address_width=2,
        ident_width=0,
        request_ident=0,
        length_width=1,
        checksum_slack=(),
        host_address=0x0200,
        broadcast_address=0x0000,
        max_payload=255,
    ),
    transport=TransportDefaults(19200, 8, "N", 1, 0.5, 0.05),
    registration=True,
    commands=(
        _cmd("reset", 0x10, 0x04, None, broadcast=True),
        _cmd("discover", 0x10, 0x00, 0x80, "serial_number", broadcast=True),
        _cmd("register", 0x10, 0x01, 0x81, "ack", request_type="register_request", broadcast=True),
        _cmd("status_layout", 0x11, 0x00, 0x80, "code_list"),
        _cmd("param_layout", 0x11, 0x01, 0x81, "code_list"),
        _cmd("status", 0x11, 0x02, 0x82, "word_list"),
        _cmd("version", 0x11, 0x03, 0x83, "version_info"),
        _cmd("parameters", 0x11, 0x04, 0x84, "word_list"),
    ),
    fields=(
        _field("temperature", (0x10,), "°C", "0.1", signed=True),
        _field("pac", (0x20,), "W"),
        _field("vac", (0x21,), "V", "0.1"),
        _field("iac", (0x22,), "A", "0.01"),
        _field("fac", (0x23,), "Hz", "0.01"),
        _field("vpv", (0x24,), "V", "0.1"),
        _field("e_today", (0x30,), "kWh", "0.1"),
        _field("e_total", (0x31, 0x32), "kWh", "0.01", monotonic=True),
        _field("h_total", (0x33, 0x34), "h", "1", monotonic=True),
        _field("mode", (0x40,), enum="mode"),
        _field("error", (0x41, 0x42)),
    ),
    parameters=(_field("t_start", (0x50,), "s"), _field("vac_min", (0x51,), "V", "0.1")),
    enums=(
        EnumDef(
            "mode",
            (
                EnumValue(7, "wait", "Wait", ""),
                EnumValue(9, "normal", "Normal", ""),
                EnumValue(11, "fault", "Fault", ""),
            ),
        ),
    ),
    flags=(),
    version_fields=(TextField("model", 8, ""), TextField("serial", 6, "")),
    models=(
        ModelDef(
            "toy1",
            "Toy 1",
            (0x10, 0x20, 0x21, 0x22, 0x23, 0x24, 0x30, 0x31, 0x32, 0x33, 0x34, 0x40, 0x41, 0x42, 0x99),
            (0x50, 0x51),
            (("model", "TOY-1"), ("serial", "TY0007")),
            ((0x50, 45), (0x51, 1900)),
            3000,
        ),
    ),
)
CODEC = FrameCodec(SPEC.frame)
_BY_CODE = {c: f for f in SPEC.fields for c in f.codes}


def encode_layout(codes: Sequence[int]) -> bytes:
    return bytes(codes)


def decode_layout(payload: bytes) -> tuple[int, ...]:
    return tuple(payload)


def _words(
    fields: Sequence[FieldDef], layout: Sequence[int], values: Mapping[str, float | int], raw: Mapping[int, int]
) -> bytes:
    out = bytearray()
    by_code = {c: f for f in fields for c in f.codes}
    for code in layout:
        if code in raw:
            word = raw[code]
        elif code in by_code and by_code[code].id in values:
            f = by_code[code]
            whole = f.to_raw(values[f.id])
            shift = 16 * (len(f.codes) - 1 - f.codes.index(code))
            word = (whole >> shift) & 0xFFFF
        else:
            word = 0
        out += word.to_bytes(2, "big")
    return bytes(out)


def encode_status(
    layout: Sequence[int], values: Mapping[str, float | int], raw: Mapping[int, int] | None = None
) -> bytes:
    return _words(SPEC.fields, layout, values, raw or {})


def decode_status(layout: Sequence[int], payload: bytes) -> Any:
    words = {code: int.from_bytes(payload[2 * i : 2 * i + 2], "big") for i, code in enumerate(layout)}
    vals: dict[str, float | int | None] = {}
    for f in SPEC.fields:
        if all(c in words for c in f.codes):
            raw = 0
            for c in f.codes:
                raw = raw << 16 | words[c]
            vals[f.id] = f.to_value(raw)
        else:
            vals[f.id] = None
    return SimpleNamespace(values=lambda: dict(vals), raw=tuple(words.values()), **vals)


def encode_parameters(layout: Sequence[int], values: Mapping[str, float | int]) -> bytes:
    return _words(SPEC.parameters, layout, values, {})


def encode_version(fields: Mapping[str, str]) -> bytes:
    out = b""
    for tf in SPEC.version_fields:
        out += fields.get(tf.id, "").encode("ascii").ljust(tf.width, b"\0")[: tf.width]
    return out


def encode_register(serial: str, address: int) -> bytes:
    return serial.encode("ascii") + bytes([address])


def decode_register(payload: bytes) -> tuple[str, int]:
    if len(payload) != 7:
        raise ValueError("register payload must be 7 bytes")
    return payload[:6].decode("ascii"), payload[6]
