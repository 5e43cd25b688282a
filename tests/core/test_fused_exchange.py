"""The fused ``status(layout)`` exchange (pvgen/runtime/fused.py) is held to the general path.

The fused function is a second copy of what ``_exchange``, ``_await``,
``Framer.take`` and the pairs plan do for the reply expected, so it is only
right if, for every input, it does exactly what they do: the same result or
error, the same framer statistics and bytes left in it, the same
``last_frame``, the same bytes left on the port, the same pauses and the same
number of clock readings.  The property test runs it beside the general path
(and beside the resynchronising framer alone) on damaged real frames of every
spec, poll after poll; the named tests pin each way out of it (a late reply
waiting, a wrong header, a bad checksum, a short read, another unit's frame,
the deadline after the header, a tolerated checksum slack, debug logging) and
check that the fused path really runs for a clean reply.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pvgen.runtime.client import InverterBase
from pvgen.runtime.framing import checksum16
from pvgen.runtime.legacy import LegacyInverter

from .test_properties import FAST, IDS, MODULES, layouts, mutated_stream, real_frames

# CMS 2000 status reply at 765 W and its request, from /work/shared/protocol/vectors.json:
# the reply from "smarthall/ArduinoCMS2000DataLogger docs/invert.txt" (status_reply), the request
# ProControl's from "smarthall/ArduinoCMS2000DataLogger docs/SCOTTY-PC.LOG" (#31)
CMS_REQUEST = bytes.fromhex("aaaa010000010102000159")
CMS_REPLY = bytes.fromhex(
    "aaaa0001010001822a01b803c70d8100220953138a02fdffff00003feb00001102000100000000000000000000000000000000096a"
)


class ScriptPort:
    """A pyserial-like port: bytes arrive when the script says (before a poll, or on a request written)."""

    def __init__(self, replies: list[bytes]) -> None:
        self.buf = bytearray()
        self.replies = list(replies)  # one per request written; b"" when the line stays quiet
        self.timeout: float | None = 1.0
        self.written: list[bytes] = []
        self.reads: list[int] = []

    @property
    def in_waiting(self) -> int:
        return len(self.buf)

    def write(self, data: bytes) -> int:
        self.written.append(bytes(data))
        self.buf += self.replies.pop(0) if self.replies else b""
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered."""

    def read(self, size: int = 1) -> bytes:
        self.reads.append(size)
        out = bytes(self.buf[:size])
        del self.buf[:size]
        return out


class Clock:
    """A clock that moves ``step`` seconds each time it is read, and counts the readings."""

    def __init__(self, step: float) -> None:
        self.now = 1000.0
        self.step = step
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        self.now += self.step
        return self.now


def make(mod: ModuleType, port: ScriptPort, step: float, resync: bool = False) -> tuple[Any, Clock, list[float]]:
    clock = Clock(step)
    sleeps: list[float] = []
    inv = mod.Inverter(port, clock=clock, sleep=sleeps.append, timeout=0.5)
    if resync:
        inv.framer._sole = None  # the framer's own fast paths off: every byte through its _resync
    return inv, clock, sleeps


def poll(inv: Any, how: str, layout: tuple[int, ...], dst: int) -> object:
    """One status(layout, dst) by the fused path ("fused") or the general one; the result or the error."""
    try:
        out = inv.status(layout, dst) if how == "fused" else inv._status_general(layout, dst)
    except Exception as exc:  # the error itself is the result compared
        return (type(exc), str(exc))
    return None if out is None else (type(out), list(out))


def state(inv: Any, port: ScriptPort, clock: Clock, sleeps: list[float]) -> dict[str, object]:
    return {
        "stats": inv.framer.stats.as_dict(),
        "buffered": bytes(inv.framer._buf),
        "queued": [f.raw for f in inv._queued],
        "last_frame": inv.last_frame,
        "port_left": bytes(port.buf),
        "written": port.written,
        "clock_calls": clock.calls,
        "sleeps": sleeps,
        "last_exchange": inv._last_exchange,
    }


def status_reply(mod: ModuleType, layout: tuple[int, ...], payload: bytes, dst: int = 1) -> bytes:
    """A status reply to the request ``status(layout, dst)`` writes, as the unit at ``dst`` sends it."""
    probe = mod.Inverter(ScriptPort([]))
    match = probe._prepare_for_bus("status", dst).match
    cmd = mod.SPEC.command("status")
    return bytes(mod.CODEC.build(cmd.control, cmd.reply_function, payload, src=match.src, dst=match.dst, reply=True))


@pytest.mark.parametrize("mod", MODULES, ids=IDS)
@FAST
@given(data=st.data())
def test_fused_status_agrees_with_the_general_path(mod: ModuleType, data: st.DataObject) -> None:
    """Poll after poll on damaged real frames (and replies built for the layout), the fused status()
    does what the general path does, to the byte and the count; and what the resynchronising framer alone
    does, to the result and the count."""
    layout = data.draw(st.sampled_from(layouts(mod, mod.SPEC.fields, "status_layout")))
    dst = data.draw(st.sampled_from([1, 1, 2]))
    words = data.draw(st.binary(min_size=2 * len(layout), max_size=2 * len(layout)))
    good = status_reply(mod, layout, words, dst)
    other = status_reply(mod, layout, words, 3 - dst)  # the other unit's reply
    frames = [good, good, other, *real_frames(mod)]
    replies = [b"".join(data.draw(st.lists(st.sampled_from(frames), max_size=2))) for _ in range(3)]
    replies = [data.draw(st.sampled_from([r, good, data.draw(mutated_stream(frames))])) for r in replies]
    late = [data.draw(st.sampled_from([b"", b"", good, data.draw(mutated_stream(frames))])) for _ in replies]
    step = data.draw(st.sampled_from([0.001, 0.2, 0.6]))  # 0.6: the deadline passes after the header
    clients = {}
    for how, resync in (("fused", False), ("general", False), ("resync", True)):
        port = ScriptPort(replies)
        inv, clock, sleeps = make(mod, port, step, resync)
        results = []
        for before in late:
            port.buf += before  # arrived unasked since the last poll
            results.append(poll(inv, "fused" if how == "fused" else "general", layout, dst))
        clients[how] = (results, state(inv, port, clock, sleeps))
    assert clients["fused"] == clients["general"]
    fused, resync = clients["fused"], clients["resync"]
    assert fused[0] == resync[0]
    assert fused[1]["stats"] == resync[1]["stats"] and fused[1]["last_frame"] == resync[1]["last_frame"]


# --------------------------------------------------------------------------- each way out, pinned


def cms_pair(replies: list[bytes], step: float = 0.001) -> dict[str, tuple[list[object], dict[str, object], Any]]:
    """The CMS 2000 polled by the fused and the general path over the same script; results and state."""
    from pv import cms

    layout = cms.SPEC.model("cms2000").status_layout
    out = {}
    for how in ("fused", "general"):
        port = ScriptPort(replies)
        inv, clock, sleeps = make(cms, port, step)
        results = [poll(inv, how, layout, 1)]
        out[how] = (results, state(inv, port, clock, sleeps), inv)
    assert out["fused"][:2] == out["general"][:2]
    return out


def with_pac(reply: bytes, pac: int) -> bytes:
    """The captured reply with another Pac (word 6 of the payload) and its checksum made good again."""
    body = bytearray(reply[:-2])
    body[9 + 12 : 9 + 14] = pac.to_bytes(2, "big")
    return bytes(body) + checksum16(body).to_bytes(2, "big")


def value(result: object, label: str) -> object:
    assert isinstance(result, tuple) and isinstance(result[1], list), result
    return dict(result[1])[label]


def test_a_clean_reply_takes_the_fused_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from pv import cms

    from pvgen.runtime.debug import FRAME_LOG

    # frames not logged, and logging's cache says so (any general-path call fills it; fused.py reads it)
    assert not FRAME_LOG.isEnabledFor(logging.DEBUG)

    def general(*_args: object) -> None:
        raise AssertionError("the general path ran")

    for name in ("_await", "_await_head", "_await_whole", "_await_frames", "_await_more", "_exchange"):
        monkeypatch.setattr(InverterBase, name, general)
    monkeypatch.setattr(LegacyInverter, "_status_general", general)
    port = ScriptPort([CMS_REPLY, CMS_REPLY])
    inv, clock, sleeps = make(cms, port, 0.001)
    layout = cms.SPEC.model("cms2000").status_layout
    for _ in range(2):
        assert inv.status(layout)["Pac"] == 765
    assert port.written == [CMS_REQUEST, CMS_REQUEST] and port.reads == [9, 44, 9, 44]
    assert inv.framer.stats.frames == 2 and inv.last_frame == CMS_REPLY
    assert inv._last_exchange == clock.now and port._pv_last_exchange == clock.now  # type: ignore[attr-defined]
    assert len(sleeps) == 2  # the spec's command_delay, kept: the whole of it first, then what is left


def test_a_late_reply_waiting_is_drained_first() -> None:
    """A reply too late for the last poll is on the port: dropped (counted), the new one is the answer."""
    from pv import cms

    layout = cms.SPEC.model("cms2000").status_layout
    for how in ("fused", "general"):
        port = ScriptPort([CMS_REPLY])
        port.buf += with_pac(CMS_REPLY, 100)
        inv, _clock, _sleeps = make(cms, port, 0.001)
        assert value(poll(inv, how, layout, 1), "Pac") == 765, how
        assert inv.framer.stats.frames == 2 and port.buf == b""


def test_a_wrong_header_goes_to_the_general_path_with_its_bytes() -> None:
    """Another unit's reply first, then ours: the header read is handed over, not lost."""
    from pv import cms

    layout = cms.SPEC.model("cms2000").status_layout
    other = status_reply(cms, layout, CMS_REPLY[9:-2], dst=2)
    out = cms_pair([other + with_pac(CMS_REPLY, 321)])
    assert value(out["fused"][0][0], "Pac") == 321
    stats = out["fused"][1]["stats"]
    assert isinstance(stats, dict) and stats["frames"] == 2 and stats["garbage_bytes"] == 0


def test_noise_before_the_reply() -> None:
    out = cms_pair([b"\x00\xaa\x17" + CMS_REPLY])
    assert value(out["fused"][0][0], "Pac") == 765
    stats = out["fused"][1]["stats"]
    assert isinstance(stats, dict) and stats["garbage_bytes"] == 3


def test_a_bad_checksum_goes_to_the_general_path_with_its_bytes() -> None:
    bad = CMS_REPLY[:-1] + bytes([CMS_REPLY[-1] ^ 1])
    out = cms_pair([bad + with_pac(CMS_REPLY, 500)])
    assert value(out["fused"][0][0], "Pac") == 500
    stats = out["fused"][1]["stats"]
    assert isinstance(stats, dict) and stats["bad_checksum"] == 1 and stats["frames"] == 1
    assert out["fused"][1]["last_frame"] == with_pac(CMS_REPLY, 500)


def test_a_short_read_ends_in_no_reply_with_the_cut_frame_counted() -> None:
    out = cms_pair([CMS_REPLY[:30]], step=0.01)
    result = out["fused"][0][0]
    assert isinstance(result, tuple) and result[0].__name__ == "NoReply"
    stats = out["fused"][1]["stats"]
    assert isinstance(stats, dict) and stats["truncated"] == 1 and stats["frames"] == 0


def test_a_short_header_ends_in_no_reply() -> None:
    out = cms_pair([CMS_REPLY[:5]], step=0.01)
    result = out["fused"][0][0]
    assert isinstance(result, tuple) and result[0].__name__ == "NoReply"
    stats = out["fused"][1]["stats"]
    assert isinstance(stats, dict) and stats["truncated"] == 1


def test_a_reply_of_another_length_is_none() -> None:
    """A reply that does not unpack with the layout: None, as pv 0.2 gave, through the general path."""
    from pv import cms

    layout = cms.SPEC.model("cms2000").status_layout
    short = status_reply(cms, layout, CMS_REPLY[9:-4])
    out = cms_pair([short])
    assert out["fused"][0] == [None]
    assert out["fused"][1]["last_frame"] == short


def test_the_deadline_passing_after_the_header() -> None:
    """The clock passes the deadline between the header and the rest: the general path's rule decides
    (the header framed, then what is already waiting taken by _last_chance)."""
    out = cms_pair([CMS_REPLY], step=0.6)  # deadline read at t, the header checked at t + 0.6 > t + 0.5
    assert value(out["fused"][0][0], "Pac") == 765
    stats = out["fused"][1]["stats"]
    assert isinstance(stats, dict) and stats["frames"] == 1 and stats["garbage_bytes"] == 0


def test_bytes_left_in_the_framer_are_drained_first() -> None:
    """A poll that ended past its deadline took everything waiting and left a cut frame in the framer:
    the next poll drains it (counted as truncated) before its own exchange, as the general path does."""
    from pv import cms

    layout = cms.SPEC.model("cms2000").status_layout
    for how in ("fused", "general"):
        port = ScriptPort([CMS_REPLY + CMS_REPLY[:20], with_pac(CMS_REPLY, 500)])
        inv, _clock, _sleeps = make(cms, port, 0.6)
        assert value(poll(inv, how, layout, 1), "Pac") == 765
        assert inv.framer.pending() == 20, how
        assert value(poll(inv, how, layout, 1), "Pac") == 500
        assert inv.framer.stats.truncated == 1 and inv.framer.stats.frames == 2, how


def test_a_tolerated_checksum_slack_goes_to_the_general_path() -> None:
    """Samil's checksum +0x100 is accepted (and counted) by the framer: the fused path hands it over."""
    from pv import samil

    layout = samil.SPEC.models[0].status_layout
    good = status_reply(samil, layout, bytes(2 * len(layout)))
    slack = good[:-2] + ((int.from_bytes(good[-2:], "big") + 0x100) & 0xFFFF).to_bytes(2, "big")
    for how in ("fused", "general"):
        port = ScriptPort([slack])
        inv, _clock, _sleeps = make(samil, port, 0.001)
        assert poll(inv, how, layout, 1) is not None
        assert inv.framer.stats.slack_accepted == 1 and inv.framer.stats.frames == 1, how


def test_debug_logging_takes_the_general_path(caplog: pytest.LogCaptureFixture) -> None:
    """With frames logged (pv.debug()), every frame sent and received is logged: the general path runs."""
    from pv import cms

    layout = cms.SPEC.model("cms2000").status_layout
    port = ScriptPort([CMS_REPLY, CMS_REPLY])
    inv, _clock, _sleeps = make(cms, port, 0.001)
    assert inv.status(layout)["Pac"] == 765  # compiled, logging off
    with caplog.at_level(logging.DEBUG, logger="pv.frames"):
        assert inv.status(layout)["Pac"] == 765
    assert [r.direction for r in caplog.records] == ["tx", "rx"]  # type: ignore[attr-defined]
    assert [r.frame for r in caplog.records] == [CMS_REQUEST, CMS_REPLY]  # type: ignore[attr-defined]


def test_the_first_poll_after_a_level_change_asks_logging() -> None:
    """fused.py reads logging's own cache of "is pv.frames on at DEBUG": emptied by every level change, it
    reads as "maybe" until the general path (isEnabledFor) has filled it again, so a poll never skips a log."""
    from pv import cms

    from pvgen.runtime.debug import FRAME_LOG

    layout = cms.SPEC.model("cms2000").status_layout
    port = ScriptPort([CMS_REPLY, CMS_REPLY, CMS_REPLY])
    inv, _clock, _sleeps = make(cms, port, 0.001)
    level = FRAME_LOG.level
    FRAME_LOG.setLevel(logging.INFO)  # empties the cache
    try:
        runs: list[str] = []
        general = inv._status_general
        inv._status_general = lambda *args: runs.append("general") or general(*args)
        for _ in range(3):
            assert inv.status(layout)["Pac"] == 765
        assert runs == ["general"]  # the first poll only
    finally:
        FRAME_LOG.setLevel(level)


def test_a_new_my_addr_or_port_is_not_written_past() -> None:
    """The compiled exchange writes the kept request: a new my_addr makes a new one; a new port the general path."""
    from pv import cms

    layout = cms.SPEC.model("cms2000").status_layout
    port = ScriptPort([CMS_REPLY, b""])
    inv, _clock, _sleeps = make(cms, port, 0.01)
    assert inv.status(layout)["Pac"] == 765
    inv.my_addr = 0x0200
    with pytest.raises(Exception, match="no reply"):
        inv.status(layout)
    assert port.written[1] == inv.build_request("status", dst=1) != CMS_REQUEST
    second = ScriptPort([CMS_REPLY])
    inv.port = second
    inv.my_addr = 0x0100
    assert inv.status(layout)["Pac"] == 765 and second.written == [CMS_REQUEST]


def test_a_list_layout_changed_between_polls_is_read_afresh() -> None:
    from pv import cms

    layout = list(cms.SPEC.model("cms2000").status_layout)
    port = ScriptPort([CMS_REPLY, CMS_REPLY])
    inv, _clock, _sleeps = make(cms, port, 0.001)
    assert inv.status(layout)["Pac"] == 765
    layout.pop()
    assert inv.status(layout) is None  # 42 bytes do not unpack with 20 codes


def test_compiled_exchanges_stay_bounded() -> None:
    from pv import cms

    from pvgen.runtime.client import MAX_FUSED

    inv, _clock, _sleeps = make(cms, ScriptPort([]), 0.001)
    for n in range(MAX_FUSED + 5):
        inv._fused_status((0x44,) * (1 + n % 100), 1)
    assert len(inv._fused) <= MAX_FUSED


def test_the_fused_source_is_the_one_expected() -> None:
    """Held to the general path above; here the parts that make it fast are checked to be there."""
    from pv import cms

    inv, _clock, _sleeps = make(cms, ScriptPort([]), 0.001)
    fn: Callable[..., object] = inv._fused_status(cms.SPEC.model("cms2000").status_layout, 1)
    source = fn.__doc__ or ""
    assert "port.read(9)" in source and "port.read(44)" in source and "_make([('Temp-inv'" in source


class BytearrayPort(ScriptPort):
    """A port handing back bytearrays (some test doubles and wrappers do): compared, not hashed."""

    def read(self, size: int = 1) -> bytes:
        return bytearray(super().read(size))  # type: ignore[return-value]


@pytest.mark.parametrize("spec", ["cms", "siser"])  # SISER: a status with two reply codes
def test_a_port_handing_back_bytearrays(spec: str) -> None:
    import importlib

    mod = importlib.import_module(f"pv.{spec}")
    layout = mod.SPEC.models[0].status_layout
    reply = status_reply(mod, layout, bytes(range(2 * len(layout))))
    results = {}
    for how in ("fused", "general"):
        port = BytearrayPort([reply])
        inv, clock, sleeps = make(mod, port, 0.001)
        results[how] = (poll(inv, how, layout, 1), state(inv, port, clock, sleeps))
    assert results["fused"] == results["general"]
    assert isinstance(results["fused"][0], tuple) and results["fused"][0][0].__name__ == "LegacyReadings"
