"""Storage: schema, one transaction per poll, the upload queue's slot arithmetic."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from pvapp.reading import InverterInfo, Reading
from pvapp.storage import SCHEMA_VERSION, SlotUpdate, Storage, StorageError

T0 = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
INV_A = InverterInfo(serial="A0001", spec_id="cms", port="sim://cms", address=1)
INV_B = InverterInfo(serial="B0002", spec_id="cms", port="sim://cms", address=2)


def reading(inv: InverterInfo, t: datetime, pac: float, e_today: float | None, e_total: float = 100.0) -> Reading:
    return Reading(
        inverter=inv,
        time=t,
        values={"pac": pac, "e_today": e_today, "e_total": e_total, "h_total": 10, "temperature": 40.5, "vac": 230.0},
        raw_frame=b"\xaa\xaa\x00\x01",
    )


def slot(t: datetime, serials: tuple[str, ...]) -> SlotUpdate:
    start = t.replace(minute=t.minute - t.minute % 5, second=0, microsecond=0)
    return SlotUpdate(
        system_id=7,
        date=start.strftime("%Y%m%d"),
        time=start.strftime("%H:%M"),
        slot_start=start,
        slot_end=start + timedelta(minutes=5),
        day_start=start.replace(hour=0, minute=0),
        serials=serials,
    )


def test_new_database_has_current_schema_and_wal(tmp_path):
    db = Storage(tmp_path / "sub" / "pv.sqlite")
    assert db.schema_version == SCHEMA_VERSION
    mode = sqlite3.connect(tmp_path / "sub" / "pv.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    assert db.integrity_check() == "ok"


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "pv.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StorageError, match="newer than this pv understands"):
        Storage(path)


def test_not_a_database_is_a_clear_error(tmp_path):
    path = tmp_path / "pv.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="not a usable SQLite database"):
        Storage(path)


def test_reading_round_trip_and_duplicate_refused(tmp_path):
    db = Storage(tmp_path / "pv.sqlite")
    t = T0.replace(hour=10, minute=1)
    r = Reading(
        inverter=INV_A,
        time=t,
        values={"pac": 500, "e_total": None},
        raw_frame=b"\x01\x02",
        mode="Normal",
        faults=("Fac-Fail",),
        rejected={"e_total": "lower than the last good value 12.0 kWh"},
    )
    rid = db.store_poll(r)
    (got,) = list(db.readings())
    assert got.id == rid and got.time == t and got.serial == "A0001"
    assert got.values == {"pac": 500, "e_total": None}
    assert got.rejected == {"e_total": "lower than the last good value 12.0 kWh"}
    assert got.faults == ("Fac-Fail",) and got.raw_frame == b"\x01\x02"
    with pytest.raises(sqlite3.IntegrityError):
        db.store_poll(r)
    assert len(list(db.readings())) == 1


def test_failed_slot_update_rolls_back_the_reading(tmp_path):
    db = Storage(tmp_path / "pv.sqlite")
    t = T0.replace(hour=10, minute=1)
    bad = SlotUpdate(7, "20260601", "10:00", t, t + timedelta(minutes=5), t.replace(hour=0), ("A0001",))
    db._conn().execute("DROP TABLE pvoutput_queue")  # make the slot write fail inside the poll transaction
    with pytest.raises(sqlite3.OperationalError):
        db.store_poll(reading(INV_A, t, 100, 1.0), [bad])
    assert list(db.readings()) == []


def test_slot_aggregates_latest_values_of_every_inverter(tmp_path):
    db = Storage(tmp_path / "pv.sqlite")
    both = ("A0001", "B0002")
    t1 = T0.replace(hour=10, minute=1)
    db.store_poll(reading(INV_A, t1, 100, 1.0), [slot(t1, both)])
    t2 = t1 + timedelta(minutes=1)
    db.store_poll(reading(INV_B, t2, 200, 2.0), [slot(t2, both)])
    t3 = t1 + timedelta(minutes=2)
    db.store_poll(reading(INV_A, t3, 150, 1.1), [slot(t3, both)])
    (q,) = db.queue()
    assert (q.date, q.time, q.power_w, q.energy_wh, q.status) == ("20260601", "10:00", 350, 3100, "pending")
    # next slot: B is silent but its E-Today of the day still counts
    t4 = T0.replace(hour=10, minute=6)
    db.store_poll(reading(INV_A, t4, 120, 1.2), [slot(t4, both)])
    q2 = db.queue()[1]
    assert (q2.time, q2.power_w, q2.energy_wh) == ("10:05", 120, 3200)


def test_sent_slots_are_never_rewritten_and_closed_slots_only_are_pending(tmp_path):
    db = Storage(tmp_path / "pv.sqlite")
    t1 = T0.replace(hour=10, minute=1)
    db.store_poll(reading(INV_A, t1, 100, 1.0), [slot(t1, ("A0001",))])
    # the uploader asks for slots that started by now - interval: 10:04 - 5 min -> nothing yet
    assert db.pending_statuses(7, started_by=T0.replace(hour=9, minute=59)) == []
    assert [p.time for p in db.pending_statuses(7, started_by=T0.replace(hour=10, minute=0))] == ["10:00"]
    db.mark_statuses(7, [("20260601", "10:00")], "sent")
    t2 = t1 + timedelta(minutes=1)
    db.store_poll(reading(INV_A, t2, 999, 9.0), [slot(t2, ("A0001",))])
    (q,) = db.queue()
    assert (q.status, q.power_w, q.attempts) == ("sent", 100, 1)


def test_mark_sent_through_pvoutput_last_status(tmp_path):
    db = Storage(tmp_path / "pv.sqlite")
    for minute in (1, 6, 11):
        t = T0.replace(hour=10, minute=minute)
        db.store_poll(reading(INV_A, t, 100, 1.0), [slot(t, ("A0001",))])
    assert db.mark_sent_through(7, "20260601", "10:05", "already on PVOutput") == 2
    assert [(q.time, q.status) for q in db.queue()] == [("10:00", "sent"), ("10:05", "sent"), ("10:10", "pending")]


def test_last_good_and_day_baseline(tmp_path):
    db = Storage(tmp_path / "pv.sqlite")
    db.store_poll(reading(INV_A, T0.replace(hour=17), 10, 5.0, e_total=105.0))
    db.store_poll(reading(INV_A, T0.replace(hour=17, minute=1), 0, 5.0, e_total=105.1))
    lg = db.last_good("A0001")
    assert (lg.e_total, lg.h_total, lg.e_today) == (105.1, 10, 5.0)
    assert db.e_total_before("A0001", T0 + timedelta(days=1)) == 105.1
    assert db.e_total_before("A0001", T0) is None
    assert db.last_good("nobody").e_total is None


def test_a_version_1_database_is_migrated_in_place(tmp_path):
    from pvapp.storage.db import _statements
    from pvapp.storage.schema import MIGRATIONS

    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    for statement in _statements(MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version=1")
    conn.execute(
        "INSERT INTO inverters VALUES ('OLD1', 'cms', 'p', 1, '', '', '', '', '2026-01-01T00:00:00.000000Z',"
        " '2026-01-01T00:00:00.000000Z')"
    )
    conn.execute(
        "INSERT INTO readings(time, serial, e_total, values_json, raw_frame)"
        " VALUES ('2026-01-01T00:00:00.000000Z', 'OLD1', 12.5, '{}', x'00')"
    )
    conn.commit()
    conn.close()
    db = Storage(path)
    assert db.schema_version == SCHEMA_VERSION >= 2
    names = {r[0] for r in db._conn().execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"readings_e_today", "readings_e_total", "readings_h_total"} <= names
    assert db.last_good("OLD1").e_total == 12.5
    plan = (
        db._conn()
        .execute(
            "EXPLAIN QUERY PLAN SELECT e_today FROM readings WHERE serial = 'x' AND time >= 'a' AND time < 'b'"
            " AND e_today IS NOT NULL ORDER BY time DESC LIMIT 1"
        )
        .fetchall()
    )
    assert "readings_e_today" in " ".join(str(tuple(r)) for r in plan)
    db.close()
