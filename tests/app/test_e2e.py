"""End to end: `pv monitor` over two simulated days with a night between, on sim:// and a pty.

One monitor process polls two lines in parallel: an in-process ``sim://`` bus
with two inverters aggregated into one PVOutput system, and a pseudo-terminal
served by a simulator in this test process (one inverter, its own system).
Every party (monitor, both simulators, the local PVOutput service) runs on the
same sped-up clock.  The test then compares the database with what the
simulators say they served, and PVOutput with the database.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import pytest

from pvapp.sim.options import SimOptions
from pvapp.sim.record import load_jsonl
from pvapp.sim.servers import PtyServer
from pvapp.sim.simulator import Simulator
from pvapp.storage import Storage

from .conftest import API_KEY, BRISBANE, accepted_rows, make_clock, pv_cmd, pv_env, write_config

SPEED = 5000.0
START = datetime(2026, 1, 10, 9, 0, tzinfo=BRISBANE)
END = datetime(2026, 1, 11, 16, 0, tzinfo=BRISBANE)  # day 1 09:00 -> night -> day 2 16:00


def _slot(t: datetime) -> tuple[str, str]:
    local = t.astimezone(BRISBANE)
    return local.strftime("%Y%m%d"), f"{local.hour:02d}:{local.minute - local.minute % 5:02d}"


@pytest.mark.slow
def test_two_days_two_ports_every_reading_stored_once_and_uploaded(tmp_path: Path, pvoutput_factory) -> None:
    shared = make_clock(START, SPEED)
    service = pvoutput_factory(shared, 101, 102)
    rec_sim = tmp_path / "sim-url.jsonl"
    pty_sim = Simulator(
        "cms",
        SimOptions(spec="cms", serials=("PTY0000001",), inverters=1, latitude=-27.47, seed=2, e_total=800.0),
        clock=shared.clock,
    )
    pty = PtyServer(pty_sim)
    pty.start()
    db_path = tmp_path / "pv.sqlite"
    cfg = write_config(
        tmp_path / "pv.toml",
        f"""
        timezone = "Australia/Brisbane"
        poll_interval = 60
        asleep_after = 900

        [storage]
        path = "{db_path}"
        synchronous = "NORMAL"

        [pvoutput]
        upload_interval = 300
        rate_reserve = 0

        [[ports]]
        port = "sim://cms?inverters=2&latitude=-27.47&seed=1&name=e2e&record={rec_sim}"
        timeout = 0.5
          [[ports.inverters]]
          pvoutput_system = 101
          [[ports.inverters]]
          pvoutput_system = 101

        [[ports]]
        port = "{pty.device}"
        spec = "cms"
        timeout = 0.5
          [[ports.inverters]]
          serial = "PTY0000001"
          pvoutput_system = 102
        """,
    )
    env = pv_env(PV_PVOUTPUT_API_KEY=API_KEY, PV_PVOUTPUT_HOST=service.url)
    real_seconds = (END - START).total_seconds() / SPEED
    try:
        proc = subprocess.run(
            pv_cmd("--config", str(cfg), "monitor", "--clock", shared.spec, "--duration", f"{real_seconds:.1f}"),
            env=env,
            capture_output=True,
            text=True,
            timeout=real_seconds + 60,
            check=False,
        )
    finally:
        pty.stop()
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr

    # `pv upload` right after: every slot has closed by now, the last ones go out too
    up = subprocess.run(
        pv_cmd("--config", str(cfg), "upload", "--clock", shared.spec, "--json"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert up.returncode == 0, up.stdout + up.stderr

    db = Storage(db_path, synchronous="NORMAL")
    rows = list(db.readings())
    served = [(e["serial"], e["frame"]) for e in load_jsonl(rec_sim) if e["usable"]]
    served += [(e.serial, e.frame.hex()) for e in pty_sim.record.entries(usable_only=True)]

    # every reading the simulators produced is in SQLite exactly once (and nothing else is)
    stored = Counter((r.serial, r.raw_frame.hex()) for r in rows)
    assert stored == Counter(served)
    serials = {r.serial for r in rows}
    assert len(serials) == 3
    # both days produced readings for every inverter; none at night
    for serial in serials:
        days = {r.time.astimezone(BRISBANE).date() for r in rows if r.serial == serial}
        assert days == {START.date(), END.date()}, serial
    assert not [r for r in rows if r.time.astimezone(BRISBANE).hour in (0, 1, 2, 3, 22, 23)]

    # E-Total never decreases and is never a zero, per inverter
    for serial in serials:
        totals = [r.e_total for r in rows if r.serial == serial]
        refused = [(r.time, r.rejected) for r in rows if r.serial == serial and r.e_total is None]
        assert not refused, refused[:3]
        assert all(t is not None and t > 0 for t in totals)
        assert totals == sorted(totals), serial

    # PVOutput holds a status for every 5-minute slot with readings, with the queued values
    system_of = {s: (102 if s == "PTY0000001" else 101) for s in serials}
    want: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for r in rows:
        want[system_of[r.serial]].add(_slot(r.time))
    queue = {(q.system_id, q.date, q.time): q for q in db.queue()}
    assert {q.status for q in queue.values()} == {"sent"}, [q for q in queue.values() if q.status != "sent"][:3]
    for sid in (101, 102):
        got = service.statuses(sid)
        got_keys = {(d.strftime("%Y%m%d"), t.strftime("%H:%M")) for d, t in got}
        assert got_keys == want[sid], (sid, sorted(want[sid] ^ got_keys)[:5])
        for (d, t), values in got.items():
            q = queue[(sid, d.strftime("%Y%m%d"), t.strftime("%H:%M"))]
            assert values.get("v2") == q.power_w
            assert values.get("v1") == q.energy_wh
        # E-Today sent as v1 never goes down within a day
        by_day: dict[object, list[int]] = defaultdict(list)
        for (d, _t), values in sorted(got.items()):
            if values.get("v1") is not None:
                by_day[d].append(values["v1"])
        for seq in by_day.values():
            assert seq == sorted(seq)
    # aggregation: system 101 sums two inverters (its power is above either one alone at noon)
    noon = [q for (sid, d, t), q in queue.items() if sid == 101 and t == "12:00"]
    assert noon and all(q.power_w and q.power_w > 0 for q in noon), noon
    # nothing sent twice: one batch row per slot across all requests
    sent_rows = accepted_rows(service)
    assert sent_rows and max(sent_rows.values()) == 1

    # the night: one "asleep" and one "awake" line per inverter, not one per poll
    log = proc.stderr
    for serial in serials:
        asleep = re.findall(rf"inverter {serial} asleep\b", log)
        awake = re.findall(rf"inverter {serial} awake\b", log)
        assert len(asleep) == 1 and len(awake) == 1, (serial, asleep, awake)
    events = Counter((e["serial"], e["kind"]) for e in db.events())
    for serial in serials:
        assert events[(serial, "asleep")] == 1 and events[(serial, "awake")] == 1
    # the plain output has one line per reading, with units
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == len(rows)
    assert re.search(r"Pac \d+ W .*E-Total [\d.]+ kWh", lines[-1])
    summary = json.loads(up.stdout)
    assert set(summary) == {"101", "102"}
    db.close()
