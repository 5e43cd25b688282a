"""Every captured frame in ../shared/protocol/vectors.json, through the generated package.

vectors.json is the project's record of real traffic (each entry names its
``source``: smarthall/ArduinoCMS2000DataLogger docs/Protocol.txt, SCOTTY-PC.LOG,
invert.txt and "Inverter Chat"; pv.codeplex.com's protocol wiki page;
lmartorella/Samil-SolarRiver-logger analysis.txt and tests/SamilTests.cs;
trollkarlen/inverter_monitor configs).  Its ``decoded`` values were worked out
independently of this code, so agreeing with them is evidence, not
tautology.  Each valid frame must:

* parse with the spec of the device that sent it (cms_aaaa_serial: ``sunezy``
  for the SunEzy 600E of docs/Protocol.txt, ``cms`` for the CMS 2000 of the
  other smarthall/codeplex sources; samil_55aa_serial: ``samil``),
* decode to the recorded values, with the status/parameter layout captured in
  the same session (``invert.txt`` and ``SamilTests.cs`` have none; their
  notes say they were decoded with the SCOTTY-PC.LOG and analysis.txt layouts),
* build back to the same bytes, both as a frame and as a payload from the
  recorded values.

The frames whose checksum does not add up must be refused with an error that
names the fault, except the Samil +0x100 quirk, accepted only because the
samil spec says ``tolerate: [0x100]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pv import cms, samil, sunezy

from pvgen.runtime.framing import Frame, FrameError, Framer, checksum16

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
VECTORS_PATH = SHARED / "protocol" / "vectors.json"

if not VECTORS_PATH.exists():
    pytest.skip(
        f"reference vectors not present at {VECTORS_PATH} (../shared is outside the repo)", allow_module_level=True
    )

VECTORS: list[dict[str, Any]] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))

# vectors.json key -> field id (status) / parameter id / version text field id
STATUS_KEYS = {
    "e_total_kwh": "e_total",
    "h_total_h": "h_total",
    "temp_internal": "temperature",
    "e_today_kwh": "e_today",
    "pac_w": "pac",
    "zac_mohm": "zac",
    "err_gv": "gv_fault",
    "err_gf": "gf_fault",
    "err_gz": "gz_fault",
    "err_temp": "tmp_fault",
    "err_pv1": "pv1_fault",
    "err_gfc1": "gfc1_fault",
}
PARAM_KEYS = {"t_start_s": "t_start", "zac_max_mohm": "zac_max", "dzac_mohm": "dzac"}
VERSION_KEYS = {"tail_after_serial": "tail"}
COMMANDS = {"params": "parameters"}

# Sources without a layout capture of their own, and the session whose layout
# their notes say was used (vectors.json #43 and #48 notes).
LAYOUT_SOURCE = {
    "smarthall/ArduinoCMS2000DataLogger docs/invert.txt": "smarthall/ArduinoCMS2000DataLogger docs/SCOTTY-PC.LOG",
    "lmartorella/Samil-SolarRiver-logger tests/SamilTests.cs": "lmartorella/Samil-SolarRiver-logger analysis.txt",
}

# The model (in the spec) each session's device is, by source.
MODEL_OF_SOURCE = {
    "smarthall/ArduinoCMS2000DataLogger docs/SCOTTY-PC.LOG": ("cms", "cms2000"),
    "smarthall/ArduinoCMS2000DataLogger docs/Protocol.txt": ("sunezy", "sunezy600e"),
    "lmartorella/Samil-SolarRiver-logger analysis.txt": ("samil", "sr1100tls"),
}

MODULES: dict[str, ModuleType] = {"cms": cms, "sunezy": sunezy, "samil": samil}


def spec_for(vector: dict[str, Any]) -> ModuleType:
    if vector["variant"] == "samil_55aa_serial":
        return samil
    assert vector["variant"] == "cms_aaaa_serial", vector["variant"]
    return sunezy if "docs/Protocol.txt" in vector["source"] else cms


def command_of(vector: dict[str, Any]) -> str:
    name = vector["command"].removesuffix("_reply").removesuffix("_ack")
    return COMMANDS.get(name, name)


def captured_layout(source: str, command: str) -> tuple[int, ...]:
    """The layout reply captured in the same session (command: status_layout or param_layout)."""
    source = LAYOUT_SOURCE.get(source, source)
    for v in VECTORS:
        if v["source"] == source and v["command"] == f"{command}_reply":
            return tuple(int(c, 16) if isinstance(c, str) else int(c) for c in v["decoded"]["codes"])
    raise AssertionError(f"no {command} reply captured in {source}")


def label(index: int, vector: dict[str, Any]) -> str:
    return f"{index}-{vector['command']}-{'ok' if vector['checksum_ok'] else 'bad'}"


VALID = [pytest.param(i, v, id=label(i, v)) for i, v in enumerate(VECTORS) if v["checksum_ok"]]
BAD = [pytest.param(i, v, id=label(i, v)) for i, v in enumerate(VECTORS) if not v["checksum_ok"]]


def test_vectors_cover_the_family() -> None:
    """Guard against an emptied or renamed vectors file silently shrinking this suite."""
    assert len(VALID) >= 60
    assert {spec_for(v).SPEC.id for v in VECTORS if v["checksum_ok"]} == {"cms", "sunezy", "samil"}
    assert len(BAD) == 4  # #47 codeplex wiki, #48 SamilTests.cs, #52/#53 inverter_monitor templates


def status_expectations(mod: ModuleType, decoded: dict[str, Any]) -> tuple[dict[str, Any], dict[int, int]]:
    """Recorded status values as field id -> scaled value, plus raw words by code."""
    values: dict[str, Any] = {}
    raw: dict[int, int] = {}
    spec = mod.SPEC
    by_code = {c: f for f in spec.fields for c in f.codes}
    for key, value in decoded.items():
        if key in ("error_hi", "error_lo"):
            continue
        if key.startswith("code_"):
            raw[int(key[5:], 16)] = value
            continue
        values[STATUS_KEYS.get(key, key)] = value
    if "error_hi" in decoded:
        values["error"] = decoded["error_hi"] << 16 | decoded["error_lo"]
    for code, word in list(raw.items()):
        f = by_code.get(code)
        if f is not None and len(f.codes) == 1:
            # a code the vector only knew by number but the spec names (Samil 0x17 = error)
            values[f.id] = word
            del raw[code]
    return values, raw


def check_word_record(record: Any, fields: Any, expected: dict[str, Any]) -> dict[int, int]:
    """Compare decoded values with the recorded ones; returns raw overrides for NA words."""
    overrides: dict[int, int] = {}
    for fid, value in expected.items():
        f = next(x for x in fields if x.id == fid)
        got = getattr(record, fid)
        if value in f.na_values:
            # "not measured" (e.g. Zac 0xFFFF on the CMS 2000) reads as None, raw kept
            assert got is None, f"{fid}: {got!r}"
            assert record.raw_value(fid) == value
            overrides.update({c: value >> (16 * (len(f.codes) - 1 - i)) & 0xFFFF for i, c in enumerate(f.codes)})
        else:
            assert got == value, f"{fid}: decoded {got!r}, recorded {value!r}"
            assert type(got) is not bool
    return overrides


@pytest.mark.parametrize(("index", "vector"), VALID)
def test_valid_vector(index: int, vector: dict[str, Any]) -> None:
    mod = spec_for(vector)
    spec = mod.SPEC
    data = bytes.fromhex(vector["hex"])
    frame: Frame = mod.CODEC.parse(data)
    assert frame.checksum_slack == 0
    assert frame.raw == data

    # the command and direction the capture says it is
    cmd = spec.command(command_of(vector))
    assert frame.control == cmd.control
    if vector["direction"] == "request":
        assert frame.function == cmd.function
        assert frame.src == spec.frame.host_address
        if cmd.broadcast:
            assert frame.dst == spec.frame.broadcast_address
    else:
        assert frame.function == cmd.reply_function
        assert frame.dst == spec.frame.host_address

    # builds back to the same bytes
    assert mod.CODEC.build(frame.control, frame.function, frame.payload, src=frame.src, dst=frame.dst) == data

    decoded = vector["decoded"]
    payload = frame.payload
    if decoded is None:
        assert payload == b"", "requests without recorded values carry no payload"
        return
    kind = cmd.request_type if vector["direction"] == "request" else cmd.reply_type
    if kind == "serial_number":
        assert mod.SerialNumberStruct.parse(payload) == decoded["serial"]
        assert mod.SerialNumberStruct.build(decoded["serial"]) == payload
    elif kind == "register_request":
        assert mod.decode_register(payload) == (decoded["serial"], decoded["assigned_address"])
        assert mod.encode_register(decoded["serial"], decoded["assigned_address"]) == payload
    elif kind == "ack":
        expected = decoded.get("ack_byte", decoded.get("payload_byte"))
        assert mod.AckStruct.parse(payload).code == expected
        assert mod.AckStruct.build({"code": expected}) == payload
    elif kind == "code_list":
        codes = [int(c, 16) if isinstance(c, str) else c for c in decoded["codes"]]
        assert list(mod.decode_layout(payload)) == codes
        assert mod.encode_layout(codes) == payload
    elif kind == "version_info":
        info = mod.decode_version(payload)
        for key, value in decoded.items():
            assert getattr(info, VERSION_KEYS.get(key, key)) == value, key
        assert info.serial in info.text
    elif cmd.id == "status":
        layout = captured_layout(vector["source"], "status_layout")
        status = mod.decode_status(layout, payload)
        values, raw = status_expectations(mod, decoded)
        na = check_word_record(status, spec.fields, values)
        assert dict(status.unknown) == raw, "codes the spec does not name are kept as raw words"
        assert set(status.layout) == set(layout)
        for code, word in raw.items():
            assert status.raw[layout.index(code)] == word
        # the recorded values build the captured payload (NA and unknown words given raw)
        assert mod.encode_status(layout, values, {**raw, **na}) == payload
    elif cmd.id == "parameters":
        layout = captured_layout(vector["source"], "param_layout")
        params = mod.decode_parameters(layout, payload)
        expected = {PARAM_KEYS.get(k, k): v for k, v in decoded.items() if k != "values"}
        assert decoded.get("values", expected) in (expected, [])
        na = check_word_record(params, spec.parameters, expected)
        assert mod.encode_parameters(layout, expected, na) == payload
    else:
        raise AssertionError(f"vector #{index}: no check for {kind!r}")


@pytest.mark.parametrize("source", sorted(MODEL_OF_SOURCE))
def test_spec_models_carry_the_captured_layouts(source: str) -> None:
    """The spec's model layouts (used by the simulator) are the ones the real unit sent."""
    spec_id, model_id = MODEL_OF_SOURCE[source]
    model = MODULES[spec_id].SPEC.model(model_id)
    assert model.status_layout == captured_layout(source, "status_layout")
    assert model.param_layout == captured_layout(source, "param_layout")


@pytest.mark.parametrize(("index", "vector"), BAD)
def test_bad_vector(index: int, vector: dict[str, Any]) -> None:
    mod = spec_for(vector)
    data = bytes.fromhex(vector["hex"])
    said, summed = int(vector["checksum_in_frame"], 16), int(vector["checksum_calc"], 16)
    assert checksum16(data[:-2]) == summed
    if (said - summed) & 0xFFFF == 0x100:
        # lmartorella tests/SamilTests.cs (#48): the +0x100 quirk, tolerated by
        # the samil spec (frame.checksum.tolerate: [0x100]) and by nothing else.
        assert mod is samil
        assert samil.SPEC.frame.checksum_slack == (0x100,)
        frame = samil.CODEC.parse(data)
        assert frame.checksum_slack == 0x100
        built = samil.CODEC.build(frame.control, frame.function, frame.payload, src=frame.src, dst=frame.dst)
        assert built[:-2] == data[:-2]
        assert int.from_bytes(built[-2:], "big") == summed
        framer = Framer(samil.CODEC)
        assert [f.raw for f in framer.feed(data)] == [data]
        assert framer.stats.slack_accepted == 1
        return
    with pytest.raises(FrameError) as err:
        mod.CODEC.parse(data)
    assert str(err.value) == f"bad checksum: frame says 0x{said:04x}, bytes sum to 0x{summed:04x}"
    framer = Framer(mod.CODEC)
    assert framer.feed(data) == []
    assert framer.stats.bad_checksum == 1
    assert framer.stats.frames == 0


def test_samil_quirk_is_exactly_0x100() -> None:
    """Only +0x100 is tolerated, and only by the spec that says so."""
    good = next(
        bytes.fromhex(v["hex"])
        for v in VECTORS
        if v["variant"] == "samil_55aa_serial" and v["checksum_ok"] and v["direction"] == "reply"
    )
    total = int.from_bytes(good[-2:], "big")
    for slack in (0x1, 0x200, 0xFF00):
        bad = good[:-2] + ((total + slack) & 0xFFFF).to_bytes(2, "big")
        with pytest.raises(FrameError, match="bad checksum"):
            samil.CODEC.parse(bad)


def test_cms_spec_rejects_the_samil_quirk() -> None:
    """A CMS 2000 status reply (SCOTTY-PC.LOG, vectors.json #32) with checksum + 0x100."""
    data = bytes.fromhex(VECTORS[32]["hex"])
    assert VECTORS[32]["source"].endswith("SCOTTY-PC.LOG")
    assert cms.SPEC.frame.checksum_slack == ()
    bumped = data[:-2] + ((int.from_bytes(data[-2:], "big") + 0x100) & 0xFFFF).to_bytes(2, "big")
    with pytest.raises(FrameError, match=r"^bad checksum: frame says 0x095b, bytes sum to 0x085b$"):
        cms.CODEC.parse(bumped)
    framer = Framer(cms.CODEC)
    assert framer.feed(bumped) == []
    assert framer.stats.bad_checksum == 1
    assert framer.stats.slack_accepted == 0


@pytest.mark.parametrize(
    ("index", "vector"),
    [pytest.param(i, v, id=label(i, v)) for i, v in enumerate(VECTORS) if "trailing_byte_in_log" in v],
)
def test_trailing_byte_after_samil_replies(index: int, vector: dict[str, Any]) -> None:
    """lmartorella analysis.txt: every reply is followed by one stray byte; the framer drops and counts it."""
    data = bytes.fromhex(vector["hex"])
    stray = bytes.fromhex(vector["trailing_byte_in_log"])
    framer = Framer(spec_for(vector).CODEC)
    frames = framer.feed(data + stray)
    assert [f.raw for f in frames] == [data]
    assert framer.stats.garbage_bytes == 1
    with pytest.raises(FrameError, match="1 trailing bytes after the checksum"):
        spec_for(vector).CODEC.parse(data + stray)


def test_frame_errors_name_the_fault() -> None:
    """Truncation, wrong sync and an impossible length are told apart (SCOTTY-PC.LOG #32)."""
    data = bytes.fromhex(VECTORS[32]["hex"])
    with pytest.raises(FrameError, match=r"^truncated frame: length field says 53 bytes, got 52$"):
        cms.CODEC.parse(data[:-1])
    with pytest.raises(FrameError, match=r"^truncated frame: 5 bytes, a frame has at least 11$"):
        cms.CODEC.parse(data[:5])
    with pytest.raises(FrameError, match=r"^bad sync bytes 55aa, expected aaaa$"):
        cms.CODEC.parse(b"\x55\xaa" + data[2:])
    with pytest.raises(FrameError, match="bad sync"):
        samil.CODEC.parse(data)
