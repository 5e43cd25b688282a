"""The simulated day: sun curve, clouds, counters and plausibility, on a hand-stepped clock."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from types import ModuleType

import pytest

from pvapp.sim import ManualClock, ScaledClock, Sky

from .conftest import SYDNEY, make_sim
from .host import Host


def _walk(sim, clock: ManualClock, hours: float, step: float = 60.0):  # type: ignore[no-untyped-def]
    """Sample (time, awake, pac, e_total, e_today, h_total) every ``step`` seconds."""
    inv = sim.inverters[0]
    out = []
    end = clock.now() + timedelta(hours=hours)
    while clock.now() < end:
        clock.advance(step)
        now = sim.advance()
        out.append((now, inv.awake, inv.pac_at(now), inv.e_total, inv.e_today, inv.h_total))
    return out


def test_a_day_follows_the_sun_and_energy_matches_power(toy: ModuleType) -> None:
    clock = ManualClock(datetime(2026, 12, 21, 0, 0, tzinfo=SYDNEY))
    sim = make_sim(toy, clock, clouds=0.5, seed=3)
    samples = _walk(sim, clock, 24 + 6)
    day = [s for s in samples if s[0].date() == clock.now().date() - timedelta(days=1)]
    awake = [s for s in day if s[1]]
    first, last = awake[0][0], awake[-1][0]
    # Sydney midsummer: sun up ~05:00-19:00 local solar time
    assert 4.5 <= first.hour + first.minute / 60 <= 5.5
    assert 18.5 <= last.hour + last.minute / 60 <= 19.5
    assert all(p == 0 for t, a, p, *_ in day if not a)
    peak = max(day, key=lambda s: s[2])
    assert 9 <= peak[0].hour <= 15
    assert 0.5 * 3000 < peak[2] <= 3000
    # E-Total never decreases, and grows by the integral of Pac (trapezoid over 60 s samples)
    totals = [s[3] for s in samples]
    assert all(b >= a for a, b in itertools.pairwise(totals))
    integral = sum((a[2] + b[2]) / 2 * 60 for a, b in itertools.pairwise(samples)) / 3.6e6
    growth = samples[-1][3] - samples[0][3]
    assert growth > 5
    assert abs(growth - integral) / growth < 0.01
    # h-Total counted the hours spent producing
    hours = day[-1][5] - day[0][5]
    assert abs(hours - (last - first).total_seconds() / 3600) < 0.3


def test_e_today_resets_overnight_and_optionally_lingers(toy: ModuleType) -> None:
    clock = ManualClock(datetime(2026, 12, 21, 12, 0, tzinfo=SYDNEY))
    sim = make_sim(toy, clock, stale_etoday=40)
    host = Host(sim, toy)
    clock.set(datetime(2026, 12, 21, 18, 0, tzinfo=SYDNEY))
    host.handshake(1)
    evening = host.status(1)["e_today"]
    assert evening > 5
    # next morning, 10 minutes after the unit woke: still yesterday's value (CMS 2000 habit)
    clock.set(datetime(2026, 12, 22, 4, 0, tzinfo=SYDNEY))
    sim.advance()
    assert not sim.inverters[0].awake
    while not sim.inverters[0].awake:
        clock.advance(60)
        sim.advance()
    woke = sim.inverters[0].woke_at
    assert woke is not None and woke.date().day == 22
    clock.set(woke + timedelta(minutes=10))
    host.handshake(1)
    lingering = host.status(1)["e_today"]
    assert evening <= lingering < evening + 0.5  # yesterday's final value (it produced a bit after 18:00)
    assert lingering == pytest.approx(sim.inverters[0].e_yesterday, abs=0.1)
    clock.set(woke + timedelta(minutes=41))
    fresh = host.status(1)["e_today"]
    assert 0 <= fresh < 1.0


def test_without_the_quirk_e_today_starts_at_zero(toy: ModuleType) -> None:
    clock = ManualClock(datetime(2026, 12, 21, 17, 0, tzinfo=SYDNEY))
    sim = make_sim(toy, clock)
    host = Host(sim, toy)
    host.handshake(1)
    assert host.status(1)["e_today"] > 5
    clock.set(datetime(2026, 12, 22, 5, 45, tzinfo=SYDNEY))
    host.handshake(1)
    assert host.status(1)["e_today"] < 0.2


def test_values_are_mutually_plausible(toy: ModuleType) -> None:
    clock = ManualClock(datetime(2026, 12, 21, 5, 0, tzinfo=SYDNEY))
    sim = make_sim(toy, clock, clouds=0.8, seed=11)
    host = Host(sim, toy)
    checked = 0
    for _ in range(14 * 6):
        clock.advance(600)
        sim.advance()
        if not sim.inverters[0].awake:
            continue
        if not sim.inverters[0].registered:
            host.handshake(1)
        v = host.status(1)
        assert 49.9 <= v["fac"] <= 50.1
        assert 200 <= v["vac"] <= 260
        assert 10 <= v["temperature"] <= 85
        if v["mode"] == 9 and v["pac"] > 100:
            checked += 1
            assert abs(v["vac"] * v["iac"] - v["pac"]) <= 0.02 * v["pac"] + 3
            assert 200 <= v["vpv"] <= 400
            assert v["pac"] <= 3000
    assert checked > 40


def test_clouds_vary_production_reproducibly() -> None:
    when = [datetime(2026, 12, 21, 12, m, tzinfo=SYDNEY) for m in range(0, 60, 2)]
    cloudy = Sky(clouds=1.0, seed=5)
    again = Sky(clouds=1.0, seed=5)
    other = Sky(clouds=1.0, seed=6)
    clear = Sky(clouds=0.0)
    a = [cloudy.irradiance(t) for t in when]
    assert a == [again.irradiance(t) for t in when]
    assert a != [other.irradiance(t) for t in when]
    assert all(x <= clear.irradiance(t) + 1e-12 for x, t in zip(a, when, strict=True))
    assert max(a) - min(a) > 0.05  # clouds passing


@pytest.mark.parametrize(("month", "lo", "hi"), [(12, 14.0, 14.8), (6, 9.6, 10.4)])
def test_day_length_follows_the_season(month: int, lo: float, hi: float) -> None:
    sky = Sky(latitude=-33.87)
    day = datetime(2026, month, 21, tzinfo=SYDNEY)
    up = [day + timedelta(minutes=m) for m in range(0, 1440, 5) if sky.sun_elevation(day + timedelta(minutes=m)) > 0]
    length = (up[-1] - up[0]).total_seconds() / 3600
    assert lo <= length <= hi


def test_scaled_clock_runs_fast_and_changes_speed_continuously() -> None:
    import time

    start = datetime(2026, 1, 1, 12, 0, tzinfo=SYDNEY)
    clk = ScaledClock(start, speed=3600)
    time.sleep(0.05)
    t1 = clk.now()
    assert timedelta(seconds=150) <= t1 - start <= timedelta(seconds=400)
    clk.speed = 1
    t2 = clk.now()
    assert t2 >= t1 and t2 - t1 < timedelta(seconds=60)
    clk.jump(start + timedelta(days=1))
    assert clk.now() >= start + timedelta(days=1)
    with pytest.raises(ValueError, match="backwards"):
        clk.jump(start)
    with pytest.raises(ValueError):
        ScaledClock(start, speed=0)


def test_scaled_clock_max_leap_turns_a_stall_into_slower_time() -> None:
    import time

    start = datetime(2026, 1, 1, 12, 0, tzinfo=SYDNEY)
    free = ScaledClock(start, speed=1000)
    capped = ScaledClock(start, speed=1000, max_leap=0.01)
    time.sleep(0.2)  # a stall: nobody read the clock for 200 ms
    assert free.now() - start >= timedelta(seconds=190)
    assert capped.now() - start <= timedelta(seconds=15)
    t = capped.now()
    time.sleep(0.005)  # short pauses count in full
    assert timedelta(seconds=4) <= capped.now() - t <= timedelta(seconds=12)
