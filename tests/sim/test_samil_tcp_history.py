"""The simulated Samil TCP unit: a TL-D by default, and its own past served as the 06 01 history."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from pv import samil_tcp

from pvapp.sim import SimOptions, Simulator
from pvapp.sim.clock import ManualClock
from pvgen.runtime import history

TZ = timezone(timedelta(hours=10))


def _history(sim: Simulator, first: int, last: int) -> list[history.HourEnergy]:
    req = samil_tcp.CODEC.parse(samil_tcp.CODEC.build(0x06, 0x01, history.history_request(first, last)))
    frames = [samil_tcp.CODEC.parse(f) for f in sim.respond(req)]
    assert frames and frames[-1].function == 0x81 and frames[-1].payload == b""
    assert all(f.function == 0x61 for f in frames[:-1])
    records, problems = history.decode_history([f.payload for f in frames[:-1]])
    assert problems == []
    return records


def test_default_model_is_a_tl_d_with_its_version_texts() -> None:
    sim = Simulator("samil_tcp")
    assert sim.model.id == "sr4500tld"
    version = samil_tcp.decode_version(samil_tcp.encode_version(sim.inverters[0].version_fields()))
    assert version.model == "River 4500TL-D" and version.comm_version == "V1.30" and version.serial


def test_history_is_what_the_inverter_produced_hour_by_hour() -> None:
    clock = ManualClock(datetime(2026, 1, 12, 4, 0, tzinfo=TZ))
    sim = Simulator("samil_tcp", SimOptions(spec="samil_tcp", clouds=0.3, seed=5), clock=clock)
    inv = sim.inverters[0]
    for _ in range(13 * 12):  # polls every 5 minutes until 17:00
        clock.advance(minutes=5)
        sim.advance()
    records = [r for r in _history(sim, 2026, 2026) if r.day == date(2026, 1, 12)]
    logged = inv.hourly[date(2026, 1, 12)]
    # completed hours only, each the energy of the hour ending at its label
    assert [(r.hour, r.energy_kwh) for r in records] == [(h + 1, round(kwh, 2)) for h, kwh in sorted(logged.items())]
    assert all(r.hour <= 17 for r in records)
    assert abs(sum(logged.values()) - inv.e_today) < 1e-6
    # days before the simulator started are made up from the day model; other years are empty
    assert any(r.day == date(2026, 1, 11) for r in _history(sim, 2026, 2026))
    assert _history(sim, 2023, 2024) == []
    assert {r.day.year for r in _history(sim, 2025, 2025)} == {2025}  # the 31 days before the start
