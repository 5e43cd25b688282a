"""The plausibility guards, rule by rule, and the morning stale E-Today through a real monitor run."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pv.cms as cms

from pvapp import config as config_mod
from pvapp.monitor.guards import Guard
from pvapp.monitor.run import make_open_port
from pvapp.monitor.service import Monitor
from pvapp.storage import Storage

from .conftest import BRISBANE, make_clock, write_config

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
DAY = date(2026, 6, 1)


def _raw_none(_fid: str) -> int | None:
    return None


def test_lifetime_counters_never_go_down_nor_to_zero() -> None:
    g = Guard(cms.SPEC, rated_power=2000, last_e_total=1500.0, last_h_total=4000, last_time=T0)
    out, why = g.check({"e_total": 0.0, "h_total": 0}, _raw_none, T0 + timedelta(hours=10), DAY)
    assert out == {"e_total": None, "h_total": None}
    assert "never reset by night" in why["e_total"]
    out, why = g.check({"e_total": 1499.9, "h_total": 4000}, _raw_none, T0 + timedelta(hours=11), DAY)
    assert out["e_total"] is None and "lower than the last good 1500 kWh" in why["e_total"]
    assert out["h_total"] == 4000
    out, why = g.check({"e_total": 1500.4}, _raw_none, T0 + timedelta(hours=11, minutes=30), DAY)
    assert out["e_total"] == 1500.4 and not why


def test_spikes_beyond_what_the_inverter_can_produce_are_refused() -> None:
    g = Guard(cms.SPEC, rated_power=2000, last_e_total=1500.0, last_time=T0)
    # 10 minutes at 2 kW x 1.25 is about 0.42 kWh; 50 kWh is a mis-read word
    out, why = g.check({"e_total": 1550.0}, _raw_none, T0 + timedelta(minutes=10), DAY)
    assert out["e_total"] is None and "more than the inverter can do" in why["e_total"]
    out, why = g.check({"e_total": 1500.3}, _raw_none, T0 + timedelta(minutes=11), DAY)
    assert out["e_total"] == 1500.3


def test_power_above_rating_range_limits_and_sentinels() -> None:
    g = Guard(cms.SPEC, rated_power=2000)
    out, why = g.check({"pac": 2600, "fac": 75.0, "vac": 231.0}, _raw_none, T0, DAY)
    assert out == {"pac": None, "fac": None, "vac": 231.0}
    assert "1.25 x the rated 2000 W" in why["pac"]
    assert "above the plausible maximum 70 Hz" in why["fac"]
    raw = {"iac": 0xFFFF}.get
    out, why = g.check({"iac": 6553.5}, raw, T0, DAY)
    assert out["iac"] is None and "0xFFFF is the 'not measured' sentinel" in why["iac"]


def test_stale_morning_e_today_is_refused_until_the_inverter_resets_it() -> None:
    baseline = {DAY: 1500.0}
    g = Guard(cms.SPEC, rated_power=2000, last_e_total=1500.0, last_time=T0, day_baseline=baseline.get)
    # dawn: E-Today still shows yesterday's 9.67 kWh while E-Total grew by 0.1 kWh
    out, why = g.check({"e_today": 9.67, "e_total": 1500.1}, _raw_none, T0 + timedelta(hours=1), DAY)
    assert out["e_today"] is None and "stale" in why["e_today"]
    out, why = g.check({"e_today": 0.12, "e_total": 1500.1}, _raw_none, T0 + timedelta(hours=1, minutes=5), DAY)
    assert out["e_today"] == 0.12 and not why
    # and within a day it never goes down
    out, why = g.check({"e_today": 0.05, "e_total": 1500.1}, _raw_none, T0 + timedelta(hours=1, minutes=6), DAY)
    assert out["e_today"] is None and "lower than the 0.12 kWh already counted today" in why["e_today"]


def test_stale_e_today_from_the_simulated_cms_is_never_stored_or_queued(tmp_path: Path) -> None:
    """A night and a morning with the CMS 2000 habit switched on in the simulator (REFERENCE section 6)."""
    start = datetime(2026, 1, 14, 16, 0, tzinfo=BRISBANE)
    end = datetime(2026, 1, 15, 9, 30, tzinfo=BRISBANE)
    shared = make_clock(start, 8000.0)
    db_path = tmp_path / "pv.sqlite"
    cfg_path = write_config(
        tmp_path / "pv.toml",
        f"""
        timezone = "Australia/Brisbane"
        poll_interval = 60
        asleep_after = 600
        [storage]
        path = "{db_path}"
        synchronous = "NORMAL"
        [pvoutput]
        status_interval = 5
        [[ports]]
        port = "sim://cms?latitude=-27.47&seed=4&clouds=0&stale_etoday=90"
        timeout = 0.05
          [[ports.inverters]]
          pvoutput_system = 9
        """,
    )
    cfg = config_mod.load(str(cfg_path), env={})
    storage = Storage(db_path, synchronous="NORMAL")
    monitor = Monitor(cfg, clock=shared.clock, storage=storage, open_port=make_open_port(shared.clock))
    runner = threading.Thread(target=monitor.run, kwargs={"install_signals": False}, daemon=True)
    runner.start()
    try:
        while shared.clock.now() < end:
            time.sleep(0.01)
    finally:
        monitor.request_stop()
        runner.join(timeout=20)
    rows = list(storage.readings())
    day2 = [r for r in rows if r.time.astimezone(BRISBANE).date() == end.date()]
    day1 = [r for r in rows if r.time.astimezone(BRISBANE).date() == start.date()]
    assert day1 and day2
    evening = max(r.e_today for r in day1 if r.e_today is not None)
    stale = [r for r in day2 if "e_today" in r.rejected]
    assert stale, "the simulator's stale E-Today should have been refused in the morning"
    assert all("stale" in r.rejected["e_today"] and r.e_today is None for r in stale)
    accepted = [r.e_today for r in day2 if r.e_today is not None]
    assert accepted and max(accepted) < evening  # yesterday's value never got through
    assert accepted == sorted(accepted)
    # the upload queue for the morning carries today's energy only
    morning = [q for q in storage.queue(9) if q.date == "20260115"]
    assert morning and all(q.energy_wh is None or q.energy_wh < evening * 1000 for q in morning)
    storage.close()
