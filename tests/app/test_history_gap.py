"""A 3-hour daylight outage of the monitor, filled from the Samil TCP inverter's own history.

One simulated SolarRiver TL-D connects in (``TcpConnector``, loopback only) and
keeps producing while `pv monitor` is stopped from 08:30 to 11:30.  When the
monitor is back, the inverter calls again, its E-Total shows energy produced
meanwhile, so the monitor asks it for its history (06 01), stores the hours as
history records, and queues hourly statuses for the gap; the local PVOutput
service (real HTTP on loopback) must receive each of them exactly once, with
the values the simulator logged.  All parties share one sped-up clock.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pvapp import config as config_mod
from pvapp.monitor.listener import ListenPoller
from pvapp.monitor.service import Monitor
from pvapp.outputs.pvoutput_upload import PVOutputUploader
from pvapp.sim import SimOptions, Simulator
from pvapp.sim.servers import TcpConnector
from pvapp.storage import Storage

from .conftest import API_KEY, BRISBANE, accepted_rows, make_clock, write_config

SPEED = 1200.0
DAY = date(2026, 1, 12)
START = datetime(2026, 1, 12, 7, 0, tzinfo=BRISBANE)
DOWN = datetime(2026, 1, 12, 8, 30, tzinfo=BRISBANE)
UP = datetime(2026, 1, 12, 11, 30, tzinfo=BRISBANE)
END = datetime(2026, 1, 12, 13, 0, tzinfo=BRISBANE)
TLD = "S221151415"


def _wait_until(clock: Any, when: datetime) -> None:
    while clock.now() < when:
        time.sleep(0.01)


def _run_monitor(cfg: Any, shared: Any, storage: Storage, until: datetime) -> tuple[Monitor, int]:
    stop = threading.Event()
    assert cfg.pvoutput is not None
    uploader = PVOutputUploader(cfg.pvoutput, [301], storage=storage, clock=shared.clock, tz=cfg.timezone, stop=stop)
    monitor = Monitor(cfg, clock=shared.clock, storage=storage, uploader=uploader, stop=stop)
    poller = monitor.pollers[0]
    assert isinstance(poller, ListenPoller)
    runner = threading.Thread(target=monitor.run, kwargs={"install_signals": False}, daemon=True)
    runner.start()
    try:
        assert poller.listening.wait(10)
        assert poller.address is not None
        port = poller.address[1]
        _wait_until(shared.clock, until)
    finally:
        monitor.request_stop()
        runner.join(timeout=30)
    assert not runner.is_alive()
    return monitor, port


def test_daylight_outage_filled_from_the_inverters_history_and_uploaded_once(tmp_path: Path, pvoutput_factory) -> None:
    shared = make_clock(START, SPEED)
    service = pvoutput_factory(shared, 301)
    opts = SimOptions(spec="samil_tcp", serials=(TLD,), latitude=-27.47, clouds=0.3, seed=4, latency=(10, 30))
    sim = Simulator("samil_tcp", opts, clock=shared.clock)
    db = tmp_path / "pv.sqlite"

    def config(port: int) -> Any:
        path = write_config(
            tmp_path / "pv.toml",
            f"""
            timezone = "Australia/Brisbane"
            poll_interval = 60
            [storage]
            path = "{db}"
            synchronous = "NORMAL"
            [pvoutput]
            upload_interval = 300
            rate_reserve = 0
            [[ports]]
            port = "listen://127.0.0.1:{port}"
            advertise = false
            timeout = 1.0
              [[ports.inverters]]
              serial = "{TLD}"
              pvoutput_system = 301
            """,
        )
        return config_mod.load(str(path), env={"PV_PVOUTPUT_API_KEY": API_KEY, "PV_PVOUTPUT_HOST": service.url})

    storage = Storage(db, synchronous="NORMAL")
    connector: TcpConnector | None = None
    try:
        # run 1: 07:00-08:30; the inverter is told where to call (as after an advertisement)
        probe = socket.socket()  # a free loopback port, kept across the restart like 1200 on a site
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        cfg = config(port)
        connector = TcpConnector(sim, "127.0.0.1", port, retry=0.2)
        connector.start()
        _run_monitor(cfg, shared, storage, DOWN)
        before = list(storage.readings(serial=TLD))
        assert before and before[-1].time.astimezone(BRISBANE) < DOWN + timedelta(minutes=5)
        # the outage: the inverter keeps producing, its calls are refused
        _wait_until(shared.clock, UP)
        monitor, _ = _run_monitor(config(port), shared, storage, END)
    finally:
        if connector is not None:
            connector.stop()

    logged = {h: round(kwh, 2) for h, kwh in sim.inverters[0].hourly[DAY].items()}
    # the history records are the simulator's hourly log, hour by hour (hour ending at the label)
    records = {(r.hour, r.minute): r.energy_kwh for r in storage.history_records(serial=TLD, first="2026-01-12")}
    assert records, "no history was read"
    assert monitor.history.fetches == 1
    for (hour, minute), kwh in records.items():
        assert minute == 0 and kwh == logged[hour - 1], (hour, kwh, logged.get(hour - 1))
    assert {9, 10, 11} <= {h for h, _ in records}
    # live readings untouched: every stored reading is a poll, none in the gap
    readings = list(storage.readings(serial=TLD))
    assert not [r for r in readings if DOWN + timedelta(minutes=5) < r.time.astimezone(BRISBANE) < UP]
    # the gap statuses: queued from history, sent once, with the logged values
    queue = {(q.date, q.time): q for q in storage.queue(301)}
    gap = {k: q for k, q in queue.items() if q.origin == "history"}
    assert set(gap) == {("20260112", "09:00"), ("20260112", "10:00"), ("20260112", "11:00")}, sorted(gap)
    got = service.statuses(301)
    sent = accepted_rows(service)
    for (d, t), q in gap.items():
        hour = int(t[:2])
        energy = round(sum(v for h, v in logged.items() if h + 1 <= hour) * 1000)
        assert q.status == "sent" and q.energy_wh == energy and q.power_w == round(logged[hour - 1] * 1000)
        status = got[(DAY, datetime.strptime(t, "%H:%M").time())]
        assert status.get("v1") == energy and status.get("v2") == q.power_w
        assert sent[("301", d, t)] == 1
    assert max(sent.values()) == 1
    # the live slots around the gap went out too
    assert any(q.origin == "live" and q.status == "sent" and q.time < "08:30" for q in queue.values())
    assert any(q.origin == "live" and q.status == "sent" and q.time >= "11:30" for q in queue.values())
    storage.close()


def test_a_night_gap_asks_for_no_history(tmp_path: Path) -> None:
    """Only a gap in which energy was produced (E-Total grew) is worth a history request."""
    from pvapp.monitor.history import HistoryFiller
    from pvapp.storage import LastGood

    storage = Storage(tmp_path / "pv.sqlite")
    filler = HistoryFiller(
        storage, tz=BRISBANE, clock=None, poll_interval=60, systems=lambda s: [], window_days=lambda s: 14
    )
    dusk = datetime(2026, 1, 11, 19, 30, tzinfo=BRISBANE)
    dawn = datetime(2026, 1, 12, 5, 30, tzinfo=BRISBANE)
    last = LastGood(e_total=1500.0, h_total=4000.0, time=dusk, e_today=20.5)
    assert not filler._produced(last, {"e_total": 1500.0, "e_today": 0.0}, dusk, dawn)
    assert filler._produced(last, {"e_total": 1501.1, "e_today": 1.1}, dusk, dawn + timedelta(hours=3))
    # a unit without E-Total: E-Today of a new day
    no_total = LastGood(e_total=None, h_total=None, time=dusk, e_today=20.5)
    assert not filler._produced(no_total, {"e_today": 0.0}, dusk, dawn)
    assert filler._produced(no_total, {"e_today": 1.2}, dusk, dawn + timedelta(hours=3))
    # no hour boundary inside a short gap: nothing to fill
    assert not filler._hour_inside(dawn, dawn + timedelta(minutes=20))
    storage.close()


@pytest.mark.parametrize(("donation", "window"), [(False, 14), (True, 90)])
def test_gap_fill_stays_inside_pvoutputs_window(tmp_path: Path, donation: bool, window: int) -> None:
    """A long gap (the monitor down for 100 days): only days PVOutput still takes are queued.

    PVOutput takes statuses up to 14 days back, 90 with donation; the monitor's
    own filler (its window from ``[pvoutput] donation``) must not queue the rest,
    which would only come back rejected.
    """
    from pvapp.monitor.history import as_records
    from pvgen.runtime.history import HourEnergy

    db = tmp_path / "pv.sqlite"
    path = write_config(
        tmp_path / "pv.toml",
        f"""
        timezone = "Australia/Brisbane"
        [storage]
        path = "{db}"
        [pvoutput]
        donation = {str(donation).lower()}
        [[ports]]
        port = "listen://127.0.0.1:0"
        advertise = false
          [[ports.inverters]]
          serial = "{TLD}"
          pvoutput_system = 301
        """,
    )
    cfg = config_mod.load(str(path), env={"PV_PVOUTPUT_API_KEY": API_KEY})
    now = datetime(2026, 6, 1, 8, 0, tzinfo=BRISBANE)
    storage = Storage(db)
    try:
        monitor = Monitor(cfg, clock=make_clock(now, 1).clock, storage=storage)
        days = [now.date() - timedelta(days=n) for n in range(100, 0, -1)]
        hours = [HourEnergy(d, h, 0, 0.5) for d in days for h in range(9, 16)]
        start = datetime.combine(days[0], datetime.min.time(), tzinfo=BRISBANE)
        storage.store_history(TLD, as_records(TLD, hours, now))  # as after_first does, before it fills
        queued = monitor.history.fill(TLD, hours, start, now)
        dates = sorted({q.date for q in storage.queue(301) if q.origin == "history"})
    finally:
        storage.close()
    oldest_taken = now.date() - timedelta(days=window - 1)
    assert dates[0] == oldest_taken.strftime("%Y%m%d"), dates[:3]  # nothing older than the window
    assert dates[-1] == days[-1].strftime("%Y%m%d") and len(dates) == window - 1
    assert queued == 7 * (window - 1)
