"""PVOutput down for six simulated hours, then the hourly quota runs out during the catch-up.

The monitor runs in this process (so the test can switch the outage on and off
at chosen simulated times) against a ``sim://`` inverter and the local PVOutput
service, all on one sped-up clock.  A bogus slot (power at 02:00) is planted in
the queue so the catch-up meets a 400 it must not retry.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from pvapp import config as config_mod
from pvapp.monitor.run import make_open_port
from pvapp.monitor.service import Monitor
from pvapp.outputs.pvoutput_upload import PVOutputUploader
from pvapp.storage import Storage, utc_text

from .conftest import API_KEY, BRISBANE, accepted_rows, make_clock, write_config

SPEED = 3000.0
START = datetime(2026, 1, 12, 8, 0, tzinfo=BRISBANE)
OUTAGE = (datetime(2026, 1, 12, 9, 0, tzinfo=BRISBANE), datetime(2026, 1, 12, 15, 0, tzinfo=BRISBANE))
END = datetime(2026, 1, 12, 18, 30, tzinfo=BRISBANE)


def _wait_until(clock, when: datetime) -> None:
    while clock.now() < when:
        time.sleep(0.005)


def test_outage_then_rate_limit_nothing_lost_nothing_twice_no_400_retried(tmp_path: Path, pvoutput_factory) -> None:
    from pvapp.pvoutput_service.service import Fault

    shared = make_clock(START, SPEED)
    service = pvoutput_factory(shared, 201)
    db_path = tmp_path / "pv.sqlite"
    cfg_path = write_config(
        tmp_path / "pv.toml",
        f"""
        timezone = "Australia/Brisbane"
        poll_interval = 60
        [storage]
        path = "{db_path}"
        synchronous = "NORMAL"
        [pvoutput]
        upload_interval = 300
        rate_reserve = 0
        [[ports]]
        port = "sim://cms?latitude=-27.47&seed=3&clouds=0"
        timeout = 0.05
          [[ports.inverters]]
          pvoutput_system = 201
        """,
    )
    env = {"PV_PVOUTPUT_API_KEY": API_KEY, "PV_PVOUTPUT_HOST": service.url}
    cfg = config_mod.load(str(cfg_path), env=env)
    storage = Storage(db_path, synchronous="NORMAL")
    stop = threading.Event()
    uploader = PVOutputUploader(cfg.pvoutput, [201], storage=storage, clock=shared.clock, tz=cfg.timezone, stop=stop)
    monitor = Monitor(
        cfg, clock=shared.clock, storage=storage, open_port=make_open_port(shared.clock), uploader=uploader, stop=stop
    )
    # a bogus slot in the queue: power in the middle of the night, which PVOutput refuses (Moon Powered)
    bad_time = datetime(2026, 1, 12, 2, 0, tzinfo=BRISBANE)
    conn = storage._conn()
    conn.execute(
        "INSERT INTO pvoutput_queue(system_id, date, time, slot_utc, energy_wh, power_w, updated)"
        " VALUES (201, '20260112', '02:00', ?, 0, 750, ?)",
        (utc_text(bad_time), utc_text(bad_time)),
    )
    outage = Fault(kind="drop", times=10**9)
    runner = threading.Thread(target=monitor.run, kwargs={"install_signals": False}, daemon=True)
    runner.start()
    try:
        _wait_until(shared.clock, OUTAGE[0])
        service.inject(outage)
        _wait_until(shared.clock, OUTAGE[1])
        outage.times = 0  # PVOutput is back...
        service.consume(API_KEY, 60)  # ...and another app on the same key has used the whole hourly quota
        _wait_until(shared.clock, END)
    finally:
        monitor.request_stop()
        runner.join(timeout=30)
    assert not runner.is_alive()

    readings = list(storage.readings())
    assert readings, "the monitor stored nothing"
    queue = storage.queue(201)
    by_key = {(q.date, q.time): q for q in queue}
    # the planted row was refused once, with PVOutput's words, and never sent again
    bad = by_key[("20260112", "02:00")]
    assert bad.status == "rejected" and bad.reason.startswith("PVOutput:"), bad
    requests = service.requests
    four_hundreds = [r for r in requests if r.status == 400]
    assert four_hundreds, "the planted row should have met a 400"
    for r in four_hundreds:
        rows = {tuple(x.split(",")[:2]) for x in r.params.get("data", "").split(";") if x}
        later = [q for q in requests if q.at > r.at and q.path.endswith("addbatchstatus.jsp")]
        for q in later:
            again = {tuple(x.split(",")[:2]) for x in q.params.get("data", "").split(";") if x}
            # a refused batch is split to find the bad row, so good rows may travel again;
            # the row PVOutput refused on its own never does
            if len(rows) == 1:
                assert not rows & again, f"400 row {rows} retried"
    # the rate limit was hit during the catch-up, and nothing was sent after it until the reset
    limited = [r for r in requests if r.status == 403]
    assert limited, "the catch-up should have run into the hourly limit"
    for r in limited:
        reset = (int(r.at // 3600) + 1) * 3600
        early = [q for q in requests if r.at < q.at < reset and q.status != 0]
        assert not early, f"{len(early)} requests sent while the quota was known to be used up"
    # nothing lost: every closed slot with readings is on PVOutput, with the queued values
    got = service.statuses(201)
    got_keys = {(d.strftime("%Y%m%d"), t.strftime("%H:%M")) for d, t in got}
    end_local = END - timedelta(minutes=10)
    want = set()
    for r in readings:
        local = r.time.astimezone(BRISBANE)
        if local < end_local:
            want.add((local.strftime("%Y%m%d"), f"{local.hour:02d}:{local.minute - local.minute % 5:02d}"))
    assert want <= got_keys, sorted(want - got_keys)[:5]
    outage_slots = {k for k in want if "09:00" <= k[1] < "15:00"}
    assert len(outage_slots) >= 60  # six hours of slots were held back and delivered
    for key in want:
        assert by_key[key].status == "sent"
        d = datetime.strptime(key[0], "%Y%m%d").date()
        t = datetime.strptime(key[1], "%H:%M").time()
        assert got[(d, t)].get("v2") == by_key[key].power_w
    # nothing sent twice: each slot went out in exactly one accepted batch row
    sent = accepted_rows(service)
    assert sent and max(sent.values()) == 1, [k for k, n in sent.items() if n > 1][:5]
    storage.close()
