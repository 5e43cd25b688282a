"""A whole simulated day (sunrise, sunset, the night after, the next dawn) at 20000x through the real client.

The client polls as fast as it can over ``sim://``; at night it gets NoReply
and keeps trying the handshake, as a monitor would.  The simulator's record
gives the simulated time of every status served; Pac integrated over those
samples must match the growth of E-Total within 1 %.
"""

from __future__ import annotations

import itertools
import time
from datetime import datetime

import pv
import serial
from pv import cms

from pvapp.sim import StatusRecord, forget_simulator, get_simulator

from .conftest import SYDNEY

SPEED = 20000  # 28 simulated hours in about 5 real seconds


def _v(record: StatusRecord, field: str) -> float:
    value = record.values[field]
    assert value is not None, field
    return float(value)


def test_one_day_at_20000x() -> None:
    # max_leap: on a loaded machine a stalled poller must not lose a simulated half hour
    # at once; stalls slow simulated time down instead (the real speed is checked below).
    url = f"sim://cms?name=fastday&speed={SPEED}&max_leap=0.02&start=2026-12-21T03:00&tz=%2B10:00&seed=2"
    port = serial.serial_for_url(url, timeout=0.02)
    inv = cms.Inverter(port, timeout=0.1, sleep=lambda s: None)
    sim = get_simulator("fastday")
    start = sim.clock.now()
    end = datetime(2026, 12, 22, 7, 0, tzinfo=SYDNEY)
    handshakes = polls = 0
    registered = False
    seen: list[cms.Status] = []
    t0 = time.monotonic()
    try:
        while sim.clock.now() < end:
            assert time.monotonic() - t0 < 60, "simulated day took far too long"
            if not registered:
                inv.timeout = 0.02  # at night every attempt ends in a timeout: keep them short
                try:
                    inv.handshake()
                    inv.read_status_layout()
                    registered = True
                    handshakes += 1
                except pv.NoReply:
                    continue
                finally:
                    inv.timeout = 0.1
            try:
                seen.append(inv.read_status())
                polls += 1
            except pv.NoReply:
                registered = False  # asleep: start over with the handshake, like a monitor
    finally:
        port.close()
        forget_simulator("fastday")
    real = time.monotonic() - t0
    assert (sim.clock.now() - start).total_seconds() / real >= 1000  # "1000x or faster", even under load
    records = sim.record.entries()
    # the client saw what was served, in order (a reply that beat a stalled client's
    # 100 ms timeout may be missing from what it saw, never altered or reordered)
    served = iter(r.values for r in records)
    assert all(any(s.values() == v for v in served) for s in seen)
    assert len(seen) >= 0.9 * len(records)
    day = [r for r in records if r.time.day == 21]
    morning = [r for r in records if r.time.day == 22]
    # sunrise ~05:00, sunset ~19:00 (Sydney, midsummer); silent in between
    assert 4.8 < day[0].time.hour + day[0].time.minute / 60 < 5.6
    assert 18.5 < day[-1].time.hour + day[-1].time.minute / 60 < 19.3
    assert 4.8 < morning[0].time.hour + morning[0].time.minute / 60 < 5.6
    assert sim.inverters[0].wakes == 2 and handshakes >= 2  # each dawn it came back unregistered
    assert polls > 300  # ~2600 on an idle machine, a few hundred under heavy load
    # E-Total never decreases, across the night too; E-Today starts again next morning
    totals = [_v(r, "e_total") for r in records]
    assert all(b >= a for a, b in itertools.pairwise(totals))
    assert _v(morning[0], "e_today") < 0.1 < _v(day[-1], "e_today")
    # E-Total growth over the day = integral of Pac over the served samples, within 1 %
    integral = (
        sum((_v(a, "pac") + _v(b, "pac")) / 2 * (b.time - a.time).total_seconds() for a, b in itertools.pairwise(day))
        / 3.6e6
    )
    growth = _v(day[-1], "e_total") - _v(day[0], "e_total")
    assert growth > 8
    assert abs(growth - integral) / growth < 0.01, (growth, integral)
    # E-Today (finer, 0.01 kWh) agrees too
    assert abs(_v(day[-1], "e_today") - _v(day[0], "e_today") - integral) / integral < 0.01
    # h-Total counted the ~14 hours of production
    hours = _v(day[-1], "h_total") - _v(day[0], "h_total")
    assert 12 <= hours <= 15
