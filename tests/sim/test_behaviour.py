"""Device behaviour of the engine (REFERENCE 2, 3.5, 6), on the contract-only toy spec.

The toy spec differs from every real one (sync, host address, command codes,
mode numbers, serial width), so passing here shows the engine uses nothing but
what a spec module provides.
"""

from __future__ import annotations

from types import ModuleType

from pvapp.sim import ManualClock

from .conftest import make_sim
from .host import Host


def test_silent_until_registered_then_answers(toy: ModuleType, clock: ManualClock) -> None:
    sim = make_sim(toy, clock)
    host = Host(sim, toy)
    # before the handshake: data requests to the broadcast address or to 1 get nothing
    assert host.ask("status", dst=0) == []
    assert host.ask("status", dst=1) == []
    assert host.ask("version", dst=1) == []
    reply = host.one("discover")
    assert (reply.src, reply.dst) == (0x0000, 0x0200)  # from the unregistered address, to the host
    assert reply.payload == b"TY0007"
    ack = host.one("register", toy.encode_register("TY0007", 5))
    assert (ack.src, ack.dst, ack.payload) == (5, 0x0200, b"\x06")
    values = host.status(5)
    assert values["mode"] == 9  # the toy spec's "normal", not the CMS number
    assert values["pac"] > 0


def test_registered_inverter_ignores_discover_and_other_addresses(toy: ModuleType, clock: ManualClock) -> None:
    sim = make_sim(toy, clock)
    host = Host(sim, toy)
    host.handshake(3)
    assert host.ask("discover") == []
    assert host.ask("status", dst=4) == []
    assert host.ask("status", dst=0) == []
    assert len(host.ask("status", dst=3)) == 1


def test_register_for_another_serial_or_malformed_is_ignored(toy: ModuleType, clock: ManualClock) -> None:
    sim = make_sim(toy, clock)
    host = Host(sim, toy)
    assert host.ask("register", toy.encode_register("XX9999", 1)) == []
    assert host.ask("register", b"TY0007") == []  # too short: no address byte
    assert host.ask("status", dst=1) == []
    assert len(host.ask("discover")) == 1  # still unregistered


def test_reset_forgets_registration(toy: ModuleType, clock: ManualClock) -> None:
    sim = make_sim(toy, clock)
    host = Host(sim, toy)
    host.handshake(1)
    assert host.ask("reset") == []  # reset is never answered
    assert host.ask("status", dst=1) == []
    assert host.one("discover").payload == b"TY0007"


def test_version_carries_model_text_and_own_serial(toy: ModuleType, clock: ManualClock) -> None:
    sim = make_sim(toy, clock, serials=("AB0001",))
    host = Host(sim, toy)
    assert host.handshake(1) == "AB0001"
    assert host.one("version", dst=1).payload == b"TOY-1\0\0\0AB0001"
    assert host.one("status_layout", dst=1).payload == bytes(toy.SPEC.models[0].status_layout)
    assert host.one("param_layout", dst=1).payload == bytes([0x50, 0x51])
    assert host.one("parameters", dst=1).payload == bytes.fromhex("002d076c")  # 45 s, 190.0 V from the model


def test_asleep_at_night_silent_and_back_unregistered_at_dawn(toy: ModuleType, clock: ManualClock) -> None:
    sim = make_sim(toy, clock)
    host = Host(sim, toy)
    host.handshake(1)
    clock.set(clock.now().replace(hour=23))
    assert host.ask("status", dst=1) == []
    assert host.ask("discover") == []
    assert host.ask("reset") == []
    assert not sim.inverters[0].awake
    clock.advance(hours=8)  # next morning, 07:00
    assert host.ask("status", dst=1) == []  # awake again but unregistered: silent
    assert sim.inverters[0].awake and sim.inverters[0].wakes == 1
    assert host.handshake(1) == "TY0007"
    assert host.status(1)["mode"] in (7, 9)


def test_two_inverter_bus_discovered_and_registered_in_turn(toy: ModuleType, clock: ManualClock) -> None:
    sim = make_sim(toy, clock, inverters=2)
    host = Host(sim, toy)
    host.ask("reset")
    first = host.one("discover").payload.decode()
    assert host.one("register", toy.encode_register(first, 1)).src == 1
    second = host.one("discover").payload.decode()
    assert second != first
    assert host.one("register", toy.encode_register(second, 2)).src == 2
    assert host.ask("discover") == []  # everyone registered
    s1, s2 = host.one("status", dst=1), host.one("status", dst=2)
    assert (s1.src, s2.src) == (1, 2)
    v1 = host.one("version", dst=1).payload
    v2 = host.one("version", dst=2).payload
    assert v1.endswith(first.encode()) and v2.endswith(second.encode())
    # a broadcast reset sends both back to unregistered
    host.ask("reset")
    assert host.ask("status", dst=1) == [] and host.ask("status", dst=2) == []
    # a reset addressed to one inverter only releases that one
    host.handshake(1)
    host.handshake(2, reset=False)
    host.ask("reset", dst=2)
    assert len(host.ask("status", dst=1)) == 1
    assert host.ask("status", dst=2) == []


def test_fault_mode_with_error_bits_and_wild_values(toy: ModuleType, clock: ManualClock) -> None:
    sim = make_sim(toy, clock)
    host = Host(sim, toy)
    host.handshake(1)
    inv = sim.inverters[0]
    inv.set_error(0x200)
    v = host.status(1)
    assert v["mode"] == 11 and v["error"] == 0x200 and v["pac"] == 0
    inv.set_error(0)
    inv.set_wild("pac")
    inv.set_wild("e_total", 0x7FFFFFFF)
    v = host.status(1)
    assert v["pac"] == 0xFFFF
    assert v["e_total"] == round(0x7FFFFFFF * 0.01, 2)
    inv.clear_wild()
    assert host.status(1)["pac"] < 3000


def test_record_holds_what_was_served(toy: ModuleType, clock: ManualClock, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pvapp.sim import load_jsonl

    sim = make_sim(toy, clock, record=str(tmp_path / "rec.jsonl"))
    host = Host(sim, toy)
    host.handshake(1)
    served = [host.status(1) for _ in range(3)]
    clock.advance(60)
    served.append(host.status(1))
    entries = sim.record.entries("TY0007")
    assert [e.values for e in entries] == served
    assert all(e.usable and e.address == 1 for e in entries)
    on_disk = load_jsonl(tmp_path / "rec.jsonl")
    assert [d["values"] for d in on_disk] == served
    assert on_disk[-1]["time"] == entries[-1].time.isoformat()
    sim.close()
