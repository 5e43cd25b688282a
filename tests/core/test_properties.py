"""Property tests: codecs round-trip every representable value; the framer survives anything.

The captured frames cover a few dozen values; these cover the rest of each
field's range, at its resolution, for every generated spec.  The framer is the
part facing the wire, so it gets random bytes and real frames that are
bit-flipped, cut short, padded, spliced and concatenated: it may find frames or
count errors, but it must never raise and never stop consuming input.  Every
byte fed is accounted for (in a frame, counted as garbage, or still pending),
which is what keeps it from hanging or silently losing data.
"""

from __future__ import annotations

import importlib
from decimal import Decimal
from types import ModuleType
from typing import Any

import pv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pvgen.runtime.framing import Frame, Framer
from pvgen.runtime.model import FieldDef

MODULES: list[ModuleType] = [importlib.import_module(f"pv.{name}") for name in pv.SPECS]
IDS = [m.SPEC.id for m in MODULES]
pytestmark = pytest.mark.timeout(120)  # a framer that stops consuming input fails here, not in CI
FAST = settings(deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow])


def real_frames(mod: ModuleType) -> list[bytes]:
    """Captured frames from the spec's examples (all specs share one family when a spec has none)."""
    frames = [bytes.fromhex(e[3]) for e in mod.EXAMPLES]
    if not frames:  # orion / samil_tcp: no public capture; build frames of their own format
        spec = mod.SPEC
        model = spec.models[0]
        frames = [
            mod.CODEC.build(
                1, 0x80, mod.encode_layout(model.status_layout), src=1 if spec.frame.address_width else None
            ),
            mod.CODEC.build(
                1, 0x82, mod.encode_status(model.status_layout, {}), src=1 if spec.frame.address_width else None
            ),
        ]
    return frames


def raw_strategy(f: FieldDef) -> st.SearchStrategy[int]:
    bits = 16 * len(f.codes)
    lowest = -(1 << (bits - 1)) if f.signed else 0
    ints = st.integers(lowest, lowest + (1 << bits) - 1)
    mask = (1 << bits) - 1
    return ints.filter(lambda r: (r & mask) not in f.na_values)


def scaled(f: FieldDef, raw: int) -> float | int:
    """The exact decimal raw x scale, as the nearest float (what 'rounded to its resolution' means)."""
    if f.scale == "1" or f.enum or f.flags:
        return raw
    return float(Decimal(raw) * Decimal(f.scale))


def layouts(mod: ModuleType, fields: tuple[FieldDef, ...], which: str) -> list[tuple[int, ...]]:
    """Every model's captured layout, plus one holding every code the spec names."""
    out = [getattr(m, which) for m in mod.SPEC.models if getattr(m, which)]
    out.append(tuple(c for f in fields for c in f.codes))
    return out


@st.composite
def word_values(draw: st.DrawFn, fields: tuple[FieldDef, ...], layout: tuple[int, ...]) -> dict[str, int]:
    present = [f for f in fields if f.codes_in(layout) is not None]
    return {f.id: draw(raw_strategy(f)) for f in present}


@pytest.mark.parametrize("mod", MODULES, ids=IDS)
@FAST
@given(data=st.data())
def test_status_values_round_trip(mod: ModuleType, data: st.DataObject) -> None:
    layout = data.draw(st.sampled_from(layouts(mod, mod.SPEC.fields, "status_layout")))
    raws = data.draw(word_values(mod.SPEC.fields, layout))
    by_id = {f.id: f for f in mod.SPEC.fields}
    values = {fid: scaled(by_id[fid], raw) for fid, raw in raws.items()}
    payload = mod.encode_status(layout, values)
    assert len(payload) == 2 * len(layout)
    status = mod.decode_status(layout, payload)
    for fid, value in values.items():
        got = getattr(status, fid)
        assert got == value, f"{fid}: {value!r} came back as {got!r}"
        bits = 16 * len(by_id[fid].codes)
        assert status.raw_value(fid) == raws[fid] & ((1 << bits) - 1)
    assert status.values() == {f.id: values.get(f.id) for f in mod.SPEC.fields}
    # and the frame carrying it
    cmd = mod.SPEC.command("status")
    src = 1 if mod.SPEC.frame.address_width else None
    frame = mod.CODEC.parse(mod.CODEC.build(cmd.control, cmd.reply_function, payload, src=src))
    assert mod.decode_status(layout, frame.payload) == status


@pytest.mark.parametrize(
    "mod", [m for m in MODULES if m.SPEC.parameters], ids=[m.SPEC.id for m in MODULES if m.SPEC.parameters]
)
@FAST
@given(data=st.data())
def test_parameter_values_round_trip(mod: ModuleType, data: st.DataObject) -> None:
    layout = data.draw(st.sampled_from(layouts(mod, mod.SPEC.parameters, "param_layout")))
    raws = data.draw(word_values(mod.SPEC.parameters, layout))
    by_id = {f.id: f for f in mod.SPEC.parameters}
    values = {pid: scaled(by_id[pid], raw) for pid, raw in raws.items()}
    params = mod.decode_parameters(layout, mod.encode_parameters(layout, values))
    for pid, value in values.items():
        assert getattr(params, pid) == value


@pytest.mark.parametrize("mod", MODULES, ids=IDS)
@FAST
@given(data=st.data())
def test_frames_round_trip(mod: ModuleType, data: st.DataObject) -> None:
    fmt = mod.SPEC.frame
    control = data.draw(st.integers(0, 255))
    function = data.draw(st.integers(0, 255))
    payload = data.draw(st.binary(max_size=min(fmt.max_payload, 300)))
    kwargs: dict[str, Any] = {}
    if fmt.address_width:
        top = (1 << (8 * fmt.address_width)) - 1
        kwargs = {"src": data.draw(st.integers(0, top)), "dst": data.draw(st.integers(0, top))}
    if fmt.ident_width:
        kwargs["ident"] = data.draw(st.integers(0, (1 << (8 * fmt.ident_width)) - 1))
    raw = mod.CODEC.build(control, function, payload, **kwargs)
    frame = mod.CODEC.parse(raw)
    assert (frame.control, frame.function, frame.payload, frame.raw) == (control, function, payload, raw)
    assert frame.src == kwargs.get("src") and frame.dst == kwargs.get("dst")
    assert frame.ident == kwargs.get("ident")
    framer = Framer(mod.CODEC)
    on_the_bus = not fmt.address_width or {frame.src, frame.dst} & set(fmt.plausible_addresses)
    # single frames parse whatever their addresses; on a stream the framer only accepts frames
    # with an address the spec's rules put on the line (host, broadcast, ...), as every real frame has
    assert framer.feed(raw) == ([frame] if on_the_bus else [])
    assert framer.stats.implausible == (0 if on_the_bus else 1)


def feed_in_chunks(framer: Framer, stream: bytes, cuts: list[int]) -> list[Frame]:
    frames: list[Frame] = []
    pos = 0
    for cut in sorted(set(cuts)):
        frames += framer.feed(stream[pos:cut])
        pos = cut
    frames += framer.feed(stream[pos:])
    return frames


def check_accounting(mod: ModuleType, framer: Framer, frames: list[Frame], fed: int) -> None:
    """No byte lost or invented, and every frame handed out is a valid frame."""
    stats = framer.stats
    assert sum(len(f.raw) for f in frames) + stats.garbage_bytes + framer.pending() == fed
    assert stats.frames == len(frames)
    for f in frames:
        assert mod.CODEC.parse(f.raw).payload == f.payload
    assert framer.pending() < mod.SPEC.frame.header_size + mod.SPEC.frame.max_payload + 2
    assert framer.needed() >= 1
    framer.flush()
    assert framer.pending() == 0


@pytest.mark.parametrize("mod", MODULES, ids=IDS)
@FAST
@given(stream=st.binary(max_size=2000), cuts=st.lists(st.integers(0, 2000), max_size=8))
def test_framer_on_random_bytes(mod: ModuleType, stream: bytes, cuts: list[int]) -> None:
    framer = Framer(mod.CODEC)
    frames = feed_in_chunks(framer, stream, cuts)
    check_accounting(mod, framer, frames, len(stream))


@st.composite
def mutated_stream(draw: st.DrawFn, frames: list[bytes]) -> bytes:
    """Real frames, concatenated, then damaged the ways a serial line damages them."""
    parts = draw(st.lists(st.sampled_from(frames), min_size=1, max_size=5))
    stream = bytearray(b"".join(parts))
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "splice"]))
        if not stream:
            break
        at = draw(st.integers(0, len(stream) - 1))
        if kind == "flip":
            stream[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del stream[at:]
        elif kind == "insert":
            stream[at:at] = draw(st.binary(min_size=1, max_size=20))
        elif kind == "delete":
            del stream[at : at + draw(st.integers(1, 10))]
        else:  # a frame cut short, then the next one (a reply lost at dusk)
            other = draw(st.sampled_from(frames))
            stream[at:at] = other[: draw(st.integers(1, len(other)))]
    return bytes(stream)


@pytest.mark.parametrize("mod", MODULES, ids=IDS)
@FAST
@given(data=st.data())
def test_framer_on_mutated_real_frames(mod: ModuleType, data: st.DataObject) -> None:
    stream = data.draw(mutated_stream(real_frames(mod)))
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))
    framer = Framer(mod.CODEC)
    frames = feed_in_chunks(framer, stream, cuts)
    check_accounting(mod, framer, frames, len(stream))
    # feeding exactly what needed() asks for (how the client reads) finds the same frames
    paced = Framer(mod.CODEC)
    got: list[Frame] = []
    pos = 0
    while pos < len(stream):
        step = paced.needed()
        assert step >= 1
        got += paced.feed(stream[pos : pos + step])
        pos += step
    assert [f.raw for f in got] == [f.raw for f in frames]


def garbage_frame_garbage(
    mod: ModuleType, data: st.DataObject, junk: st.SearchStrategy[bytes], after: st.SearchStrategy[bytes] | None = None
) -> None:
    frame = data.draw(st.sampled_from(real_frames(mod)))
    before = data.draw(junk)
    after_bytes = data.draw(junk if after is None else after)
    stream = before + frame + after_bytes
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))
    framer = Framer(mod.CODEC)
    frames = feed_in_chunks(framer, stream, cuts)
    assert frame in [f.raw for f in frames]
    check_accounting(mod, framer, frames, len(stream))


@pytest.mark.parametrize("mod", MODULES, ids=IDS)
@FAST
@given(data=st.data())
def test_garbage_frame_garbage_yields_the_frame(mod: ModuleType, data: st.DataObject) -> None:
    """Line noise without sync bytes around a frame: the frame always comes out."""
    first = mod.SPEC.frame.sync[0]
    junk = st.binary(max_size=200).map(lambda b: b.replace(bytes([first]), b""))
    garbage_frame_garbage(mod, data, junk)


@pytest.mark.parametrize("mod", MODULES, ids=IDS)
@FAST
@given(data=st.data())
def test_false_syncs_before_a_frame_on_a_talking_line(mod: ModuleType, data: st.DataObject) -> None:
    """Garbage rich in sync bytes (false starts right before the frame), then the line keeps talking.

    The filler after the frame is long enough to complete any false start, so
    every false start fails its checksum and the hunt resumes at the next sync.
    """
    fmt = mod.SPEC.frame
    sync = fmt.sync
    pieces = st.lists(st.sampled_from([sync, sync[:1], b"\x00", b"\xff", b"\x01"]) | st.binary(max_size=3), max_size=30)
    filler = b"\x00" * (fmt.header_size + fmt.max_payload + 2)
    garbage_frame_garbage(mod, data, pieces.map(b"".join), after=st.just(filler))


@pytest.mark.parametrize("mod", MODULES, ids=IDS)
def test_cut_frame_then_complete_frame_on_a_quiet_line(mod: ModuleType) -> None:
    frames = real_frames(mod)
    spec = mod.SPEC
    status = spec.command("status")
    assert status.reply_function is not None
    addresses = {"src": 1, "dst": spec.frame.host_address} if spec.frame.address_width else {}
    full_status = mod.CODEC.build(  # a status reply of the spec's first model: long enough to cut
        status.control, status.reply_function, mod.encode_status(spec.model().status_layout, {}), **addresses
    )
    longest = max([*frames, full_status], key=len)
    shortest = min(frames, key=len)
    header = longest[: spec.frame.header_size]  # a reply cut short at dusk: its length promises more
    assert len(header) + len(shortest) < len(longest)
    framer = Framer(mod.CODEC)
    assert [f.raw for f in framer.feed(header + shortest)] == [shortest]


@pytest.mark.parametrize("mod", MODULES, ids=IDS)
def test_framer_counts_each_kind_of_fault(mod: ModuleType) -> None:
    """One of each fault in one stream, around real frames, each counted once."""
    frames = real_frames(mod)
    good = max(frames, key=len)
    fmt = mod.SPEC.frame
    bad_sum = good[:-1] + bytes([good[-1] ^ 0x01])
    huge = bytearray()  # a one-byte length cannot exceed a 255-byte maximum: that fault cannot occur
    if fmt.max_payload + 1 < 1 << (8 * fmt.length_width):
        huge += good[: fmt.header_size]
        huge[fmt.header_size - fmt.length_width : fmt.header_size] = (fmt.max_payload + 1).to_bytes(
            fmt.length_width, "big"
        )
    framer = Framer(mod.CODEC)
    out = framer.feed(b"\x00\x01\x02" + bad_sum + good + bytes(huge) + good)
    assert [f.raw for f in out] == [good, good]
    assert framer.stats.bad_checksum >= 1
    assert framer.stats.bad_length == (1 if huge else 0)
    framer.feed(good[:-3])
    framer.flush()
    assert framer.stats.truncated == 1


def resync_only(mod: ModuleType, expect: str | None) -> Framer:
    """A framer without its fast paths: what they must agree with, frame for frame and count for count."""
    framer = Framer(mod.CODEC, expect=expect)
    framer._sole = None  # no lead to take a frame at the buffer start by: every byte goes through _resync
    return framer


def client_reads(framer: Framer, stream: bytes) -> list[Frame]:
    """Read ``stream`` as the client does: needed() bytes, then, for a whole header, exactly the rest."""
    got: list[Frame] = []
    pos = 0
    while pos < len(stream):
        chunk = stream[pos : pos + framer.needed()]
        pos += len(chunk)
        rest = framer.header(chunk)
        if rest < 0:
            got += framer.feed(chunk)
        else:
            more = stream[pos : pos + rest]
            pos += len(more)
            got += framer.whole(chunk + more)
    return got


@pytest.mark.parametrize("mod", MODULES, ids=IDS)
@FAST
@given(data=st.data())
def test_fast_paths_agree_with_the_resynchronising_path(mod: ModuleType, data: st.DataObject) -> None:
    """A frame at the buffer start (feed) and a reply read in two reads (header, whole) come out,
    and every fault is counted, exactly as the slow path alone would: on damaged real frames, in
    every direction the framer can hunt (the client's replies, the simulator's requests, both)."""
    stream = data.draw(mutated_stream(real_frames(mod)))
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))
    for expect in (None, "reply", "request"):
        fast, slow = Framer(mod.CODEC, expect=expect), resync_only(mod, expect)
        got, want = feed_in_chunks(fast, stream, cuts), feed_in_chunks(slow, stream, cuts)
        assert got == want and fast.stats == slow.stats and fast.pending() == slow.pending(), expect
        fast, slow = Framer(mod.CODEC, expect=expect), resync_only(mod, expect)
        got = client_reads(fast, stream)
        want = []
        pos = 0
        while pos < len(stream):  # the slow path paced by needed(), as the client read before
            step = slow.needed()
            want += slow.feed(stream[pos : pos + step])
            pos += step
        assert got == want and fast.stats == slow.stats and fast.pending() == slow.pending(), expect


def test_the_fast_paths_are_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """The agreement above means something only if the fast paths run: clean replies take them."""
    from pv import cms

    reply = bytes.fromhex(  # CMS 2000 status reply, vectors.json (smarthall/ArduinoCMS2000DataLogger invert.txt)
        "aaaa0001010001822a01b803c70d8100220953138a02fdffff00003feb00001102000100000000000000000000000000000000096a"
    )

    def slow(*args: object) -> None:
        raise AssertionError("the slow path ran")

    framer = Framer(cms.CODEC, expect="reply")
    head = reply[: framer.needed()]
    assert framer.header(head) == len(reply) - len(head)
    assert framer.header(reply[:5]) == -1 and framer.header(b"\x00" + head[1:]) == -1
    monkeypatch.setattr(Framer, "feed", slow)
    assert [f.raw for f in framer.whole(reply)] == [reply] and framer.pending() == 0
    monkeypatch.undo()
    monkeypatch.setattr(Framer, "_resync", slow)
    assert [f.raw for f in framer.feed(reply[:20])] == []  # arriving: waits without a hunt
    assert [f.raw for f in framer.feed(reply[20:] + reply)] == [reply, reply]
    assert framer.stats.frames == 3 and framer.pending() == 0
