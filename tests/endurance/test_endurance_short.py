"""The endurance run, one simulated day: the short version that runs with every test run.

Same code as ``python -m benchmarks.endurance`` (30 days): `pv monitor` as a
subprocess against two simulated lines (a pty bus of two inverters and a TCP
bridge with one), the local PVOutput service, a night, line faults, unplugs, a
PVOutput outage, an hour of used-up quota, a device-fault episode and two
SIGKILLs of the monitor.  Then the database and PVOutput are compared with
what the simulators served.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from benchmarks.endurance import (
    REPO,
    TZ,
    Interruption,
    Options,
    classify_missing,
    format_table,
    run_endurance,
)
from pvapp.storage import Storage


@pytest.mark.slow
def test_one_day_nothing_lost_nothing_twice_no_decrease(tmp_path: Path) -> None:
    opts = Options(
        days=1.0,
        speed=4000.0,
        seed=7,
        kills=2,
        outages=1,
        # long enough (5-7 real seconds) to meet upload rounds even when a SIGKILL's restart
        # on a loaded machine takes a few real seconds of it
        outage_hours=(6.0, 8.0),
        unplugs=1,
        quota_burns=1,
        device_faults=1,
        quiet=True,
        workdir=tmp_path,
    )
    res = run_endurance(opts)
    table = format_table(res)
    why = f"\n{table}\n{res.details}"

    # the scenario really happened: two kills (three monitor runs), an unplug per line,
    # an outage that failed requests, faults spoiling replies on the line
    assert res.kills == 2 and res.lives == 3, why
    assert res.unplugs == 2 and res.outages == 1 and res.outage_failures > 0, why
    assert res.served_spoiled > 0, why
    assert res.stored > 200, why  # three inverters over a summer day at 5-minute polls

    # the targets
    assert res.readings_lost == 0, why
    assert res.readings_duplicated == 0, why
    assert res.readings_phantom == 0, why
    assert res.readings_cut_off <= res.kills + res.unplugs, why
    assert res.uploads_lost == 0 and res.uploads_pending_at_end == 0 and res.uploads_expired == 0, why
    assert res.uploads_duplicated == 0 and res.uploads_mismatched == 0 and res.uploads_unexpected == 0, why
    assert res.uploads_on_pvoutput + res.uploads_refused == res.slots_expected, why
    assert res.refused_rows_retried == 0, why
    assert res.e_total_decreases_stored == 0 and res.h_total_decreases_stored == 0, why
    assert res.e_total_decreases_published == 0 and res.h_total_decreases_published == 0, why
    assert res.details["published_lines"] == res.stored, why  # every stored reading was shown, once
    assert res.energy_decreases_pvoutput == 0, why
    assert res.tracebacks == 0 and res.unexpected_exits == 0, why
    assert res.ok, why

    # the night: every inverter went to sleep at dusk; no reading between 21:00 and 04:00
    db = Storage(tmp_path / "pv.sqlite", synchronous="NORMAL")
    try:
        asleep = Counter(e["serial"] for e in db.events(kind="asleep"))
        night = [r for r in db.readings() if not 4 <= r.time.astimezone(TZ).hour < 21]
    finally:
        db.close()
    assert set(asleep) == {"END0000001", "END0000002", "END0000003"}, asleep
    assert not night, night[:3]


T0 = datetime(2026, 1, 5, 12, 0, tzinfo=TZ)


def _t(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_classify_missing_one_in_flight_reply_per_line_per_interruption() -> None:
    """The rule that separates "cut off by a kill" from "lost", on hand-made timelines."""
    served = {"pty": [_t(0), _t(5), _t(10), _t(15), _t(20)], "tcp": [_t(1), _t(6)]}
    commits = {"pty": [_t(0.01), _t(5.01)], "tcp": [_t(1.01), _t(6.01)]}
    kill = [Interruption("pty", _t(10.005), "kill", until=_t(12)), Interruption("tcp", _t(10.005), "kill", _t(12))]
    # pty: 10:00 served, not committed, kill right after: cut off.  15 and 20 (after the restart): lost.
    missing = [("pty", _t(10)), ("pty", _t(15)), ("pty", _t(20))]
    assert classify_missing(missing, served, commits, kill) == {0: "kill"}
    # a reply missing with no interruption near it is lost, whatever the faults around it
    assert classify_missing([("tcp", _t(6))], served, {"tcp": [_t(1.01)]}, []) == {}
    # two missing replies before one kill: only the first after the last commit can be in flight
    served2 = {"pty": [_t(0), _t(5), _t(10)]}
    both = [("pty", _t(5)), ("pty", _t(10))]
    assert classify_missing(both, served2, {"pty": [_t(0.01)]}, [Interruption("pty", _t(10.5), "kill", _t(11))]) == {
        0: "kill"
    }
    # a reply served after the line could be polled anew (new process started) is not in flight
    late = [Interruption("pty", _t(9), "kill", until=_t(9.5))]
    assert classify_missing([("pty", _t(10))], served, {"pty": [_t(5.01)]}, late) == {}
    # an unplug cuts off only its own line
    unplug = [Interruption("tcp", _t(10.005), "unplug", until=_t(11))]
    assert classify_missing([("pty", _t(10))], served, commits, unplug) == {}


def test_bad_arguments_one_line_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.endurance", "--days", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--days: must be > 0, got 0" in done.stderr
    assert "Traceback" not in done.stderr
