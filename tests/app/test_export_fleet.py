"""Issue 15: `pv export` of a mixed fleet has one column per field of every model, each once, in a stable order.

The database holds a CMS 2000 and a SunEzy 600E read by the real monitor from
the built-in simulator (their generated decoders, their captured layouts:
REFERENCE 3.2), and a three-phase Samil SolarLake.  The SolarLake rows are
stored through the storage API with canonical ids (``pac``/``e_total`` for
its 0x0B and 0x07/0x08 codes, ``*_l2``/``*_l3`` for the phases) because the
spec mapping those codes is being written in parallel (branch ``lang``); their
values follow the SolarLake 10000TL-PM layout of REFERENCE 3.2 / VARIANTS.md.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pvapp import config as pvconfig
from pvapp.cli.export import HEAD, TAIL
from pvapp.clock import ScaledClock
from pvapp.monitor.run import make_open_port
from pvapp.monitor.service import Monitor
from pvapp.reading import InverterInfo, Reading
from pvapp.storage import Storage
from pvgen.runtime.quantities import CANONICAL_IDS

from .conftest import run_pv

CMS, SUNEZY, SOLARLAKE = "0905BO0139", "09359AL012", "SL10K00042"


def solarlake_reading(i: int, t: datetime) -> Reading:
    inv = InverterInfo(serial=SOLARLAKE, spec_id="samil", port="/dev/ttyUSB1", address=1,
                       model="SolarLake 10000TL-PM", manufacturer="SamilPower", firmware="V1.10")  # fmt: skip
    values: dict[str, float | int | None] = {
        "temperature": 41.5, "vpv1": 512.3, "vpv2": 498.7, "ipv1": 6.1, "ipv2": 5.9,
        "e_total": 11464.9 + i / 10, "h_total": 9012 + i, "pac": 5830 + i, "mode": 1, "e_today": 21.4 + i / 100,
        "ppv1": 3125, "ppv2": 2942, "heatsink_temperature": 48.2, "error": 0,
        "iac": 8.4, "vac": 231.2, "fac": 50.01, "iac_l2": 8.5, "vac_l2": 230.8, "fac_l2": 50.01,
        "iac_l3": 8.3, "vac_l3": 232.0, "fac_l3": 50.0,
    }  # fmt: skip
    return Reading(inv, t, values, bytes([0x55, 0xAA, i]), mode="Normal")


def build_fleet(db_path: Path) -> Storage:
    table = {
        "timezone": "UTC",
        "poll_interval": 10,
        "storage": {"path": str(db_path)},
        "ports": [
            {"port": "sim://cms?awake=always&seed=3", "timeout": 0.1, "inverters": [{"serial": CMS}]},
            {"port": "sim://sunezy?model=sunezy600e&awake=always&seed=4", "timeout": 0.1,
             "inverters": [{"serial": SUNEZY}]},
        ],
    }  # fmt: skip
    cfg = pvconfig.from_table(table, env={})
    clock = ScaledClock(datetime(2026, 12, 21, 1, 0, tzinfo=UTC), 60)
    storage = Storage(db_path)
    Monitor(cfg, clock=clock, storage=storage, open_port=make_open_port(clock)).run(install_signals=False, duration=3)
    for i in range(4):
        storage.store_poll(solarlake_reading(i, datetime(2026, 12, 21, 1, 0, 5 + 10 * i, tzinfo=UTC)))
    return storage


def test_mixed_fleet_export_has_every_field_once_in_the_right_columns(tmp_path: Path) -> None:
    db_path = tmp_path / "pv.sqlite"
    storage = build_fleet(db_path)
    stored = list(storage.readings())
    storage.close()
    by_serial = {s: [r for r in stored if r.serial == s] for s in (CMS, SUNEZY, SOLARLAKE)}
    assert all(len(rows) >= 3 for rows in by_serial.values()), {s: len(r) for s, r in by_serial.items()}

    proc = run_pv("export", "--storage", str(db_path), "--timezone", "UTC")
    assert proc.returncode == 0, proc.stderr
    reader = csv.reader(io.StringIO(proc.stdout))
    header = next(reader)
    rows = [dict(zip(header, line, strict=True)) for line in reader]

    assert len(header) == len(set(header)), [h for h in header if header.count(h) > 1]
    fields = set().union(*(r.values for r in stored))
    assert header[: len(HEAD)] == list(HEAD) and header[-len(TAIL) :] == list(TAIL)
    values = header[len(HEAD) : -len(TAIL)]
    assert set(values) == fields  # every field of every model, nothing else
    canonical = [f for f in values if f in CANONICAL_IDS]
    assert canonical == [q for q in CANONICAL_IDS if q in fields]  # QUANTITIES order...
    assert values == canonical + sorted(fields - set(canonical))  # ...then the extras, sorted
    for model_only in ("vpv1", "vpv2", "vpv3", "ipv1", "zac", "vac_l2", "fac_l3", "ppv2", "gv_fault", "error"):
        assert model_only in values, model_only
    assert "mode" in values and "mode_label" in header  # the number and the label, once each

    assert len(rows) == len(stored)
    for r, row in zip(stored, rows, strict=True):
        assert (row["serial"], row["time_utc"]) == (r.serial, r.time.isoformat())
        for fid in values:
            value = r.values.get(fid)
            assert row[fid] == ("" if value is None else str(value)), (r.serial, fid)
        assert row["mode_label"] == r.mode and row["mode"] == str(r.values["mode"])
    sample = next(row for row in rows if row["serial"] == SOLARLAKE)
    assert (sample["vac_l2"], sample["pac"], sample["e_total"]) == ("230.8", "5830", "11464.9")
    sunezy = next(row for row in rows if row["serial"] == SUNEZY)
    assert sunezy["vpv1"] != "" and next(row for row in rows if row["serial"] == CMS)["vpv1"] == ""

    proc = run_pv("export", "--storage", str(db_path), "--timezone", "UTC", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    items = json.loads(proc.stdout)
    assert len(items) == len(stored)
    for item, r in zip(items, stored, strict=True):
        assert [k for k in item if k != "frame"] == header  # the same names, in the same order
        assert item["frame"] == r.raw_frame.hex()
        for fid in values:
            assert item[fid] == r.values.get(fid), fid
        assert item["faults"] == list(r.faults) and item["rejected"] == r.rejected


def test_export_of_one_model_has_only_its_fields(tmp_path: Path) -> None:
    db = Storage(tmp_path / "pv.sqlite")
    t0 = datetime(2026, 12, 21, 1, 0, tzinfo=UTC)
    for i in range(2):
        db.store_poll(solarlake_reading(i, t0 + timedelta(minutes=i)))
    db.close()
    proc = run_pv("export", "--storage", str(tmp_path / "pv.sqlite"), "--timezone", "UTC")
    header = next(csv.reader(io.StringIO(proc.stdout)))
    assert "zac" not in header and "vac_l3" in header and header.count("mode") == 1
