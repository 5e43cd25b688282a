"""Decode throughput (issue 2): generated code vs interpreted Construct vs a hand-written decoder.

All three decoders do the same work on the same captured CMS 2000 status reply:
check sync, length and checksum, cut the payload, map the words through the
layout the inverter sent, scale, and build the generated ``cms.Status``
dataclass.  Their outputs are compared before anything is timed, so a faster
decoder that skipped work (or decoded wrongly) fails loudly instead of winning.

Also here: ``pvgen`` regenerating every spec, and ``import pv.cms`` start-up.
"""

from __future__ import annotations

import shutil
import statistics
import struct
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import construct as cs

from . import REPO, Row, best_time, child_env, load_average, python, timed_runs

# Status reply of a CMS 2000 (serial 0905BO0139) at 765 W, from
# /work/shared/protocol/vectors.json, entry with source
# "smarthall/ArduinoCMS2000DataLogger docs/invert.txt" (command status_reply).
# Its layout is the CMS 2000's captured one (SCOTTY-PC.LOG), which the spec
# records as models[cms2000].status_layout.
STATUS_REPLY = bytes.fromhex(
    "aaaa0001010001822a01b803c70d8100220953138a02fdffff00003feb00001102000100000000000000000000000000000000096a"
)


def _layout() -> tuple[int, ...]:
    import pv.cms as cms

    for model in cms.SPEC.models:
        if model.id == "cms2000":
            return tuple(model.status_layout)
    raise RuntimeError("spec cms has no cms2000 model with a captured status layout")


# --------------------------------------------------------------------------- (a) generated


def generated_decoder() -> Callable[[bytes], Any]:
    """The path the client takes on every poll: CODEC.parse then decode_status."""
    import pv.cms as cms

    layout = _layout()
    parse = cms.CODEC.parse
    decode = cms.decode_status

    def decode_generated(frame: bytes) -> Any:
        return decode(layout, parse(frame).payload)

    return decode_generated


# --------------------------------------------------------------------------- (b) Construct


def construct_decoder(*, compiled: bool = False) -> Callable[[bytes], Any]:
    """Plain Construct, written the way its documentation suggests.

    The frame is a RawCopy'd header+payload followed by a Checksum over it and
    ``Terminated`` (no trailing bytes, i.e. the length check); the payload is
    parsed by a Struct with one Int16ub per layout code, built once per layout;
    the scaling is the spec's own interpreted ``FieldDef.to_value``.
    """
    import pv.cms as cms

    layout = _layout()
    frame_struct = cs.Struct(
        "fields"
        / cs.RawCopy(
            cs.Struct(
                "sync" / cs.Const(b"\xaa\xaa"),
                "src" / cs.Int16ub,
                "dst" / cs.Int16ub,
                "control" / cs.Int8ub,
                "function" / cs.Int8ub,
                "length" / cs.Int8ub,
                "payload" / cs.Bytes(cs.this.length),
            )
        ),
        "checksum" / cs.Checksum(cs.Int16ub, lambda data: sum(data) & 0xFFFF, cs.this.fields.data),
        cs.Terminated,
    )
    word_structs: dict[tuple[int, ...], Any] = {}
    fields = cms.SPEC.fields
    enums: Mapping[str, Any] = {"mode": cms.Mode}
    flags: Mapping[str, Any] = {"error_bits": cms.ErrorBits}
    named = {c for f in fields for c in f.codes}
    if compiled:
        frame_struct = frame_struct.compile()

    def words_struct(key: tuple[int, ...]) -> Any:
        st = word_structs.get(key)
        if st is None:
            st = cs.Struct(*(f"w{i}" / cs.Int16ub for i in range(len(key))))
            if compiled:
                st = st.compile()
            word_structs[key] = st
        return st

    def decode_construct(frame: bytes) -> Any:
        parsed = frame_struct.parse(frame)
        head = parsed.fields.value
        if head.control != 1 or head.function != 0x82:
            raise ValueError("not a status reply")
        container = words_struct(layout).parse(head.payload)
        raw = tuple(container[f"w{i}"] for i in range(len(layout)))
        by_code = dict(zip(layout, raw, strict=True))
        values: dict[str, Any] = {}
        for f in fields:
            if not all(c in by_code for c in f.codes):
                continue
            number = 0
            for c in f.codes:
                number = number << 16 | by_code[c]
            if number in f.na_values:
                values[f.id] = None
            elif f.enum:
                enum_cls = enums[f.enum]
                values[f.id] = enum_cls(number) if number in enum_cls._value2member_map_ else number
            elif f.flags:
                values[f.id] = flags[f.flags](number)
            else:
                values[f.id] = f.to_value(number)
        unknown = tuple((c, w) for c, w in zip(layout, raw, strict=True) if c not in named)
        return cms.Status(**values, layout=layout, raw=raw, unknown=unknown)

    return decode_construct


# --------------------------------------------------------------------------- (c) hand-written


def handwritten_decoder() -> Callable[[bytes], Any]:
    """The reference: what a person would write for this one model and layout with ``struct``."""
    import pv.cms as cms

    layout = _layout()
    status_cls = cms.Status
    flags_cls = cms.ErrorBits
    modes = {int(m): m for m in cms.Mode}
    words = struct.Struct(">21H").unpack_from
    if len(layout) != 21:
        raise RuntimeError("hand-written reference is written for the 21-word CMS 2000 layout")

    def decode_handwritten(frame: bytes) -> Any:
        n = len(frame)
        if n < 11 or frame[0] != 0xAA or frame[1] != 0xAA:
            raise ValueError("bad sync")
        if n != frame[8] + 11 or frame[8] != 42:
            raise ValueError("bad length")
        if sum(frame[:-2]) & 0xFFFF != (frame[-2] << 8 | frame[-1]):
            raise ValueError("bad checksum")
        if frame[6] != 1 or frame[7] != 0x82:
            raise ValueError("not a status reply")
        w = words(frame, 9)
        t = w[0]
        return status_cls(
            temperature=(t - 65536 if t >= 32768 else t) / 10,
            e_today=w[1] / 100,
            vpv=w[2] / 10,
            iac=w[3] / 10,
            vac=w[4] / 10,
            fac=w[5] / 100,
            pac=w[6],
            zac=None if w[7] == 0xFFFF else w[7],
            e_total=(w[8] << 16 | w[9]) / 10,
            h_total=w[10] << 16 | w[11],
            mode=modes.get(w[12], w[12]),
            gv_fault=w[13],
            gf_fault=w[14],
            gz_fault=w[15],
            tmp_fault=w[16],
            pv1_fault=w[17],
            gfc1_fault=w[18],
            error=flags_cls(w[19] << 16 | w[20]),
            layout=layout,
            raw=w,
            unknown=(),
        )

    return decode_handwritten


# --------------------------------------------------------------------------- figures


def check_same(decoders: Mapping[str, Callable[[bytes], Any]]) -> None:
    """Every decoder must produce the generated decoder's exact Status, and reject a bad checksum."""
    expected = decoders["generated"](STATUS_REPLY)
    if expected.pac != 765 or expected.e_total != 1636.3:  # the values vectors.json records
        raise AssertionError(f"generated decoder disagrees with the captured values: {expected}")
    corrupt = STATUS_REPLY[:-1] + bytes([STATUS_REPLY[-1] ^ 1])
    for name, fn in decoders.items():
        got = fn(STATUS_REPLY)
        if got != expected:
            raise AssertionError(f"decoder {name!r} decodes differently:\n{got}\nvs\n{expected}")
        try:
            fn(corrupt)
        except Exception:  # each decoder raises its own error type
            continue
        raise AssertionError(f"decoder {name!r} accepted a frame with a bad checksum")


def throughput_rows(quick: bool) -> list[Row]:
    decoders: dict[str, Callable[[bytes], Any]] = {
        "generated": generated_decoder(),
        "construct": construct_decoder(),
        "construct_compiled": construct_decoder(compiled=True),
        "handwritten": handwritten_decoder(),
    }
    check_same(decoders)
    number = 10_000 if quick else 50_000
    per_call = {name: float("inf") for name in decoders}
    # Round-robin batches, best batch per decoder: a burst of load from other
    # processes then hits every decoder alike instead of skewing one ratio.
    for _ in range(5 if quick else 9):
        for name, fn in decoders.items():
            # Construct is ~50x slower: fewer calls give it the same wall time per batch.
            calls = number // 20 if name.startswith("construct") else number
            per_call[name] = min(per_call[name], best_time(partial(fn, STATUS_REPLY), calls, repeat=1))
    gen, hand, con = per_call["generated"], per_call["handwritten"], per_call["construct"]
    rows = [
        Row(
            "decode: generated (CODEC.parse + decode_status)",
            1 / gen,
            "frames/s",
            "",
            None,
            f"{gen * 1e6:.2f} µs/frame",
        ),
        Row("decode: hand-written struct reference", 1 / hand, "frames/s", "", None, f"{hand * 1e6:.2f} µs/frame"),
        Row("decode: interpreted Construct", 1 / con, "frames/s", "", None, f"{con * 1e6:.2f} µs/frame"),
        Row(
            "decode: compiled Construct (context)",
            1 / per_call["construct_compiled"],
            "frames/s",
            "",
            None,
            f"{per_call['construct_compiled'] * 1e6:.2f} µs/frame; RawCopy/Checksum are not compiled by Construct",
        ),
        Row("decode: generated time / hand-written time", gen / hand, "x", "<= 1.25", gen / hand <= 1.25),
        Row("decode: Construct time / generated time", con / gen, "x", ">= 10", con / gen >= 10),
    ]
    return rows


def regenerate_row(quick: bool) -> Row:
    """Wall time of ``python -m pvgen.cli --root <copy>`` rendering every spec from scratch."""
    with tempfile.TemporaryDirectory(prefix="pv-bench-gen-") as tmp:
        root = Path(tmp)
        shutil.copytree(REPO / "specs", root / "specs")
        shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
        skipped = ""
        try:
            import pvgen.service  # noqa: F401 - only probing whether the service renderer exists
        except ImportError:
            (root / "specs" / "pvoutput.yaml").unlink(missing_ok=True)
            skipped = "; specs/pvoutput.yaml left out (no service renderer)"
        specs = len(list((root / "specs").glob("*.yaml")))
        argv = [python(), "-m", "pvgen.cli", "--root", str(root)]
        walls: list[float] = []
        cpus: list[float] = []
        for _ in range(1 if quick else 3):
            shutil.rmtree(root / "generated", ignore_errors=True)
            wall, cpu = timed_runs(argv, 1, env=child_env())
            walls += wall
            cpus += cpu
        if not (root / "generated" / "pv" / "cms.py").exists():
            raise RuntimeError("pvgen ran but wrote no generated/pv/cms.py")
    elapsed = statistics.median(walls)
    return Row(
        "pvgen: regenerate every spec (whole command)",
        elapsed,
        "s",
        "< 2",
        elapsed < 2,
        f"{specs} specs into an empty generated/, median of {len(walls)}; CPU {statistics.median(cpus):.2f} s"
        f" (pvgen writes its final text itself: no formatter runs); {load_average()}{skipped}",
    )


def import_row(quick: bool) -> Row:
    runs = 5 if quick else 11
    argv = [python(), "-c", "import pv.cms"]
    subprocess.run(argv, check=True, env=child_env(), cwd=REPO)  # warm the bytecode cache once
    walls, cpus = timed_runs(argv, runs, env=child_env())
    bare_walls, bare_cpus = timed_runs([python(), "-c", "pass"], runs, env=child_env())
    wall = statistics.median(walls)
    return Row(
        'python -c "import pv.cms"',
        wall * 1000,
        "ms",
        "< 150",
        wall * 1000 < 150,
        f"median of {runs} (min {min(walls) * 1000:.0f}); CPU {statistics.median(cpus) * 1000:.0f} ms;"
        f" bare interpreter {statistics.median(bare_walls) * 1000:.0f} ms wall,"
        f" {statistics.median(bare_cpus) * 1000:.0f} ms CPU; {load_average()}",
    )


def run(quick: bool) -> list[Row]:
    return [*throughput_rows(quick), regenerate_row(quick), import_row(quick)]
