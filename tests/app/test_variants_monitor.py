"""Every spec and model through the monitor, and a three-phase SolarLake the way a single-phase unit is.

The monitor runs in this process on a sped-up clock against ``sim://`` buses
(each spec served as its unit speaks: prefix, sync per direction, asymmetric
addresses, no layout reply where the unit has none).  What it stores must be
in the canonical columns (``pac``, ``e_today``, ``e_total``, ``h_total``) for
every spec, including the three-phase SolarLake units that report Pac at code
0x0B and E-Total at 0x07/0x08; what it shows and uploads comes from those
columns, and its guards treat the three-phase E-Total like any other.
"""

from __future__ import annotations

import importlib
import io
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pv
import pytest

from pvapp import config as config_mod
from pvapp.clock import ScaledClock
from pvapp.monitor.display import ConsoleOutput
from pvapp.monitor.run import make_open_port
from pvapp.monitor.service import Monitor
from pvapp.outputs.pvoutput_upload import PVOutputUploader
from pvapp.storage import Storage

from .conftest import API_KEY, BRISBANE, accepted_rows, make_clock, write_config

CANONICAL_COLUMNS = ("pac", "e_today", "e_total", "h_total")
SYDNEY = timezone(timedelta(hours=10))
CASES = [
    pytest.param(spec_id, model.id, id=f"{spec_id}-{model.id}")
    for spec_id in pv.SPECS
    for model in importlib.import_module(f"pv.{spec_id}").SPEC.models
]


def _run(monitor: Monitor, seconds: float) -> None:
    runner = threading.Thread(target=monitor.run, kwargs={"install_signals": False, "duration": seconds}, daemon=True)
    runner.start()
    runner.join(timeout=seconds + 30)
    assert not runner.is_alive()


@pytest.mark.parametrize(("spec_id", "model_id"), CASES)
def test_every_spec_and_model_round_trips_into_the_canonical_columns(
    tmp_path: Path, spec_id: str, model_id: str
) -> None:
    spec = importlib.import_module(f"pv.{spec_id}").SPEC
    model = spec.model(model_id)
    db_path = tmp_path / "pv.sqlite"
    cfg_path = write_config(
        tmp_path / "pv.toml",
        f"""
        poll_interval = 10
        [storage]
        path = "{db_path}"
        [[ports]]
        port = "sim://{spec_id}?model={model_id}&awake=always"
        timeout = 0.3
          [[ports.inverters]]
        """,
    )
    cfg = config_mod.load(str(cfg_path), env={})
    clock = ScaledClock(datetime(2026, 12, 21, 12, 0, tzinfo=SYDNEY), 20.0)  # noon at the sim's default site
    storage = Storage(db_path)
    try:
        _run(Monitor(cfg, clock=clock, storage=storage, open_port=make_open_port(clock)), 2.5)
        rows = list(storage.readings())
        assert rows, "no reading stored"
        present = [c for c in CANONICAL_COLUMNS if spec.field(c).codes_in(model.status_layout) is not None]
        assert {"pac", "e_total"} <= set(present)
        for row in rows:
            for column in present:
                assert getattr(row, column) is not None, (column, row.rejected)
            assert row.pac is not None and 0 < row.pac <= model.rated_power
            assert row.values["pac"] == row.pac  # the column is the canonical field, not a model extra
        assert [r.e_total for r in rows] == sorted(r.e_total for r in rows)
        assert [e["kind"] for e in storage.events()][:1] == ["found"]
    finally:
        storage.close()


SOLARLAKE = "sim://samil?model=solarlake_tlpm&awake=always&latitude=-27.47&seed=3"
START = datetime(2026, 1, 12, 10, 0, tzinfo=BRISBANE)
SPEED = 300.0


def _monitor_with_upload(
    tmp_path: Path, port: str, service_url: str, clock: ScaledClock, console: io.StringIO
) -> tuple[Monitor, Storage]:
    db_path = tmp_path / "pv.sqlite"
    cfg_path = write_config(
        tmp_path / "pv.toml",
        f"""
        timezone = "Australia/Brisbane"
        poll_interval = 60
        [storage]
        path = "{db_path}"
        [pvoutput]
        upload_interval = 60
        status_interval = 5
        rate_reserve = 0
        [[ports]]
        port = "{port}"
        timeout = 0.3
          [[ports.inverters]]
          pvoutput_system = 501
        """,
    )
    cfg = config_mod.load(str(cfg_path), env={"PV_PVOUTPUT_API_KEY": API_KEY, "PV_PVOUTPUT_HOST": service_url})
    storage = Storage(db_path)
    stop = threading.Event()
    assert cfg.pvoutput is not None
    uploader = PVOutputUploader(cfg.pvoutput, [501], storage=storage, clock=clock, tz=cfg.timezone, stop=stop)
    outputs = [ConsoleOutput(console, tz=cfg.timezone, live=False)]
    monitor = Monitor(
        cfg,
        clock=clock,
        storage=storage,
        outputs=outputs,
        open_port=make_open_port(clock),
        uploader=uploader,
        stop=stop,
    )
    return monitor, storage


def test_three_phase_solarlake_is_stored_shown_and_uploaded(tmp_path: Path, pvoutput_factory) -> None:
    """Pac (0x0B) and E-Total (0x07/0x08) of a TL-PM land in pac/e_total, on the console and on PVOutput."""
    shared = make_clock(START, SPEED)
    service = pvoutput_factory(shared, 501)
    console = io.StringIO()
    monitor, storage = _monitor_with_upload(
        tmp_path, f"{SOLARLAKE}&serials=TLPM000001", service.url, shared.clock, console
    )
    try:
        _run(monitor, 6.0)
        rows = list(storage.readings())
        assert len(rows) >= 3
        assert all(r.pac is not None and r.pac > 0 and r.e_total is not None for r in rows)
        assert all(r.values.get("vac_l3") is not None for r in rows)  # the phases, under their canonical ids
        lines = [line for line in console.getvalue().splitlines() if "TLPM000001" in line]
        assert lines and all(" Pac " in line and " Pac -" not in line and "E-Total -" not in line for line in lines)
        assert accepted_rows(service), "nothing uploaded"
        powers = [s.get("v2") for s in service.systems[501].statuses.values()]
        assert powers and all(p is not None and float(p) > 0 for p in powers)
        energies = [s.get("v1") for s in service.systems[501].statuses.values()]
        assert all(e is not None for e in energies)
    finally:
        storage.close()


@pytest.mark.parametrize(
    "port",
    [f"{SOLARLAKE}&serials=RESTART001", "sim://cms?awake=always&latitude=-27.47&seed=3&serials=RESTART001"],
    ids=["solarlake-three-phase", "cms-single-phase"],
)
def test_e_total_lower_after_a_restart_is_refused(tmp_path: Path, pvoutput_factory, port: str) -> None:
    """A unit that comes back with a lower E-Total (a swapped board, a mis-read) is refused, three-phase or not."""
    shared = make_clock(START, SPEED)
    service = pvoutput_factory(shared, 501)
    monitor, storage = _monitor_with_upload(
        tmp_path, f"{port}&e_total=5000&name=first-{tmp_path.name}", service.url, shared.clock, io.StringIO()
    )
    try:
        _run(monitor, 3.0)
        first = list(storage.readings())
        assert first and all(r.e_total is not None and r.e_total >= 5000 for r in first)
    finally:
        storage.close()
    later_clock = make_clock(START + timedelta(hours=1), SPEED).clock  # the monitor restarts an hour later
    monitor, storage = _monitor_with_upload(
        tmp_path, f"{port}&e_total=4000&name=second-{tmp_path.name}", service.url, later_clock, io.StringIO()
    )
    try:
        _run(monitor, 3.0)
        later = [r for r in storage.readings() if r.id > first[-1].id]
        assert later
        assert all(r.e_total is None for r in later)
        assert all("lower than the last good" in r.rejected["e_total"] for r in later)
        assert all(r.pac is not None for r in later)  # only the counter is refused, not the reading
    finally:
        storage.close()
