"""Every original pv 0.2 call and every typed call, over real HTTP against the local service."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest
from pv.pvoutput import (
    BatchStatus,
    Connection,
    DonationRequired,
    InvalidData,
    OutputRecord,
    PVOutputClient,
    Rejected,
)

from pvapp.pvoutput_service import PVOutputService

from .conftest import BRISBANE, DONOR_SID, KEY, SID, FakeClock

TODAY = date(2026, 1, 15)


def test_legacy_connection_calls(service: PVOutputService, clock: FakeClock) -> None:
    conn = Connection(KEY, SID, host=service.url, tz=BRISBANE, clock=clock, sleep=clock.sleep)
    assert conn.add_status("20260115", "10:00", 4200, 2500, 1500, 800) == "OK 200: Added Status"
    assert conn.add_status(TODAY, time(10, 5), 4400, 2600) == "OK 200: Added Status"
    stored = service.statuses(SID)
    assert stored[(TODAY, time(10, 0))] == {"v1": 4200, "v2": 2500, "v3": 1500, "v4": 800}
    # the server's reply text, as pv 0.2 returned it (columns: API.md 1.4)
    latest = conn.get_status()
    assert isinstance(latest, str)
    assert latest.split(",")[:4] == ["20260115", "10:05", "4400", "2600"]
    assert conn.get_status("20260115", "10:00").split(",")[4:6] == ["1500", "800"]
    assert conn.add_output("20260114", 21000, 9000, 4100, "12:15", "Fine", 18, 31, "sunny", consumption=12000) == (
        "OK 200: Added Output"
    )
    assert service.outputs(SID)[date(2026, 1, 14)]["generated"] == 21000
    assert conn.delete_status("20260115", "10:05") == "OK 200: Deleted Status"
    assert (TODAY, time(10, 5)) not in service.statuses(SID)
    assert conn.add_status(TODAY, "10:10", 9_000_000, cumulative=True) == "OK 200: Added Status"
    sent = service.requests[-1].params
    assert sent["c1"] == "1" and sent["v1"] == "9000000"
    assert "secret" not in repr(conn).lower() and KEY not in repr(conn)


def test_add_status_all_fields_donor(donor: PVOutputClient, service: PVOutputService) -> None:
    reply = donor.add_status(
        TODAY,
        time(11, 2),  # the server files it under 11:00
        energy_generation=7000.4,  # rounded: PVOutput wants whole Wh
        power_generation=2100,
        energy_consumption=3000,
        power_consumption=450,
        temperature=29.5,
        voltage=239.8,
        net_delay=5,
        extended_1=1.5,
        extended_2=-2.25,
        extended_3=3,
        extended_4=4,
        extended_5=5,
        extended_6=6,
        message="hello from pv",
        battery_power=-350.5,
        battery_soc=81,
        battery_capacity=10000,
        battery_charged=123456,
        battery_discharged=120000,
        battery_state=2,
    )
    assert reply.data == "OK 200: Added Status"
    assert reply.rate is not None and reply.rate.limit == 300
    stored = service.statuses(DONOR_SID)[(TODAY, time(11, 0))]
    assert stored["v1"] == 7000 and stored["v8"] == -2.25 and stored["m1"] == "hello from pv" and stored["b1"] == -350.5
    status = donor.get_status(date=TODAY, time=time(11, 0), extended=True).data
    assert (status.extended_1, status.extended_6, status.temperature) == (1.5, 6.0, 29.5)


def test_free_account_donation_fields_refused_locally_and_by_server(
    client: PVOutputClient, service: PVOutputService
) -> None:
    client.account()
    with pytest.raises(DonationRequired):
        client.add_status(TODAY, time(11, 0), energy_generation=1, extended_1=2.0)
    unknown = PVOutputClient(KEY, SID, host=service.url, tz=BRISBANE, clock=client.clock, sleep=client.sleep)
    with pytest.raises(DonationRequired) as err:  # the client did not know; the server says so
        unknown.add_status(TODAY, time(11, 0), energy_generation=1, message="hi")
    assert err.value.server_text == "Donation Mode"


def test_client_validation_matches_server(client: PVOutputClient) -> None:
    with pytest.raises(InvalidData, match="at least one of v1, v2, v3, v4"):
        client.add_status(TODAY, time(11, 0), temperature=20.0)
    with pytest.raises(InvalidData, match="cumulative"):
        client.add_status(TODAY, time(11, 0), energy_generation=1, cumulative=4)
    with pytest.raises(InvalidData, match="yyyymmdd"):
        client.add_status("2026-01-15", time(11, 0), energy_generation=1)
    with pytest.raises(InvalidData, match="hh:mm"):
        client.add_status(TODAY, "11h00", energy_generation=1)
    with pytest.raises(InvalidData, match="at most 30 characters"):
        client.add_status(TODAY, time(11, 0), energy_generation=1, message="x" * 31)
    # Not stricter than the server: large consumption is allowed through (the server decides, yaleman#276).
    assert (
        client.add_status(TODAY, time(11, 0), energy_consumption=250_000, cumulative=1).data == "OK 200: Added Status"
    )


def test_batch_status_and_results(client: PVOutputClient, service: PVOutputService) -> None:
    rows = [
        BatchStatus(TODAY, time(9, m), energy_generation=100 * m, power_generation=1000 + m) for m in range(0, 60, 5)
    ]
    reply = client.add_batch_status(rows)
    assert [(r.date, r.time, r.added) for r in reply.data] == [(r.date, r.time, True) for r in rows]
    assert len(service.statuses(SID)) == 12
    again = client.add_batch_status([BatchStatus(TODAY, time(9, 0), energy_generation=1, power_generation=5)])
    assert again.data[0].added  # upsert: same date and time replaces
    assert service.statuses(SID)[(TODAY, time(9, 0))] == {"v1": 1, "v2": 5}
    client.account()
    with pytest.raises(InvalidData, match="at most 30 rows"):
        client.add_batch_status([BatchStatus(TODAY, time(8, 0), energy_generation=1)] * 31)


def test_donation_batch_of_100(donor: PVOutputClient, service: PVOutputService) -> None:
    start = datetime(2026, 1, 14, 5, 0, tzinfo=BRISBANE)
    rows = []
    for i in range(100):
        moment = datetime.fromtimestamp(start.timestamp() + 300 * i, BRISBANE)
        rows.append(
            BatchStatus(moment.date(), moment.time(), energy_generation=10 * i, power_generation=0 if i == 0 else 500)
        )
    reply = donor.add_batch_status(rows)
    assert len(reply.data) == 100 and all(r.added for r in reply.data)
    assert len(service.statuses(DONOR_SID)) == 100


def test_outputs_single_and_donation_batch(
    client: PVOutputClient, donor: PVOutputClient, service: PVOutputService
) -> None:
    reply = client.add_output(
        date(2026, 1, 13),
        generated=20500,
        exported=12000,
        peak_power=4300,
        peak_time=time(12, 5),
        condition="Partly Cloudy",
        temperature_min=19.5,
        temperature_max=30.0,
        comments="ok",
        import_peak=1000,
        import_off_peak=2000,
        import_shoulder=300,
        import_high_shoulder=40,
        consumption=9000,
    )
    assert reply.data == "OK 200: Added Output"
    out = client.get_output(date_from=date(2026, 1, 13), date_to=date(2026, 1, 13)).data
    assert len(out) == 1
    assert (out[0].generated, out[0].exported, out[0].condition, out[0].peak_time) == (
        20500,
        12000,
        "Partly Cloudy",
        time(12, 5),
    )
    assert out[0].efficiency == pytest.approx(4.1)
    client.account()
    with pytest.raises(DonationRequired):
        client.add_outputs([OutputRecord(date(2026, 1, 12), generated=1)])
    records = [
        OutputRecord(date(2026, 1, d), generated=1000 * d, exported=500 * d, peak_time=time(12, 0))
        for d in range(1, 11)
    ]
    assert donor.add_outputs(records).data == "OK 200: Added Output"
    got = donor.get_output(date_from=date(2026, 1, 1), date_to=date(2026, 1, 10), time_of_export=True).data
    assert [o.date.day for o in got] == list(range(10, 0, -1))  # newest first
    assert got[0].generated == 10000 and got[0].export_peak is None


def test_output_export_above_generation_is_silently_ignored(client: PVOutputClient) -> None:
    """PVOutput answers OK but drops the export (forum 8501): read it back to notice."""
    assert client.add_output(date(2026, 1, 12), generated=5000, exported=9000).data == "OK 200: Added Output"
    day = client.get_output(date_from=date(2026, 1, 12), date_to=date(2026, 1, 12)).data[0]
    assert day.generated == 5000 and day.exported is None


def test_reads_history_statistics_system_missing_extended_insolation_search(
    client: PVOutputClient, donor: PVOutputClient, service: PVOutputService
) -> None:
    rows = [
        BatchStatus(
            TODAY,
            time(10, m),
            energy_generation=1000 + 50 * m,
            power_generation=2000 + 10 * m,
            energy_consumption=300 + m,
            power_consumption=400 - m,
            temperature=25 + m / 10,
            voltage=240,
        )
        for m in range(0, 30, 5)
    ]
    client.add_batch_status(rows)
    hist = client.get_status_history(date=TODAY, ascending=True, limit=4).data
    assert [h.time for h in hist] == [time(10, 0), time(10, 5), time(10, 10), time(10, 15)]
    assert hist[1].average_power == 3000  # 250 Wh in 5 min
    newest = client.get_status_history(date=TODAY, limit=2).data
    assert [h.time for h in newest] == [time(10, 25), time(10, 20)]
    window = client.get_status_history(date=TODAY, time_from=time(10, 10), time_to=time(10, 15), ascending=True).data
    assert [h.time for h in window] == [time(10, 10), time(10, 15)]
    stats = client.get_day_statistics(date=TODAY).data
    assert (stats.energy_generated, stats.peak_power, stats.peak_time) == (2250, 2250, time(10, 25))
    assert (stats.standby_power, stats.temperature_min, stats.temperature_max) == (375, 25.0, 27.5)
    client.add_output(date(2026, 1, 10), generated=18000, consumption=7000)
    stat = client.get_statistic(consumption=True).data
    assert stat.outputs == 2 and stat.energy_generated == 18000 + 2250
    assert (stat.actual_date_from, stat.actual_date_to, stat.record_date) == (
        date(2026, 1, 10),
        TODAY,
        date(2026, 1, 10),
    )
    assert stat.energy_consumed == 7000 + 325
    system = client.get_system(tariffs=True).data
    assert (system.name, system.size, system.status_interval, system.donations) == ("Kenmore Roof", 5000, 5, 0)
    assert system.export_tariff == 0.08
    assert donor.account().donation is True
    missing = client.get_missing(date_from=date(2026, 1, 9), date_to=date(2026, 1, 12)).data
    assert [m.date for m in missing] == [date(2026, 1, 9), date(2026, 1, 11), date(2026, 1, 12)]
    assert client.get_missing(date_from=TODAY, date_to=TODAY).data == []
    donor.add_status(TODAY, time(11, 0), energy_generation=10, extended_1=1.25, extended_6=-6.5)
    ext = donor.get_extended(date_from=TODAY, date_to=TODAY).data
    assert len(ext) == 1 and (ext[0].extended_1, ext[0].extended_2, ext[0].extended_6) == (1.25, None, -6.5)
    sun = client.get_insolation().data
    assert sun and sun[0].time.hour in (4, 5) and sun[-1].time.hour in (18, 19)  # Brisbane summer day
    assert max(r.power or 0 for r in sun) > 4000 and sun[-1].energy == max(r.energy or 0 for r in sun)
    donor_sun = donor.get_insolation(
        date=date(2026, 6, 21), location=(-27.4, 153.0), timezone="Australia/Brisbane"
    ).data
    assert len(donor_sun) < len(sun)  # winter day is shorter
    found = client.search(query="roof").data
    assert [(f.system_id, f.name) for f in found] == [(SID, "Kenmore Roof")]
    near = client.search(query="25km", location=(-27.45, 153.0)).data
    assert {f.system_id for f in near} == {SID, DONOR_SID} and all(
        f.distance is not None and f.distance < 25 for f in near
    )
    assert client.search(query="no such system").data == []


def test_other_system_needs_donation(client: PVOutputClient, donor: PVOutputClient) -> None:
    client.add_status(TODAY, time(10, 0), energy_generation=10, power_generation=100)
    assert donor.get_status(other_system=4242).data.power_generation == 100
    with pytest.raises(DonationRequired):
        PVOutputClient(KEY, 4242, host=client.host, https=False, tz=BRISBANE, clock=client.clock).get_status(
            other_system=4343
        )


def test_slot_is_local_and_aligned(service: PVOutputService, clock: FakeClock) -> None:
    c = PVOutputClient(KEY, SID, host=service.url, tz="Australia/Brisbane", clock=clock, status_interval=10)
    assert c.slot() == (TODAY, time(12, 0))
    assert c.slot(datetime(2026, 1, 15, 2, 17, tzinfo=ZoneUTC)) == (TODAY, time(12, 10))  # 02:17 UTC = 12:17 local


from zoneinfo import ZoneInfo  # noqa: E402

ZoneUTC = ZoneInfo("UTC")


def test_delete_whole_day_and_window(client: PVOutputClient, donor: PVOutputClient, service: PVOutputService) -> None:
    yesterday = date(2026, 1, 14)
    client.add_batch_status(
        [BatchStatus(yesterday, time(12, m), energy_generation=m, power_generation=100) for m in (0, 5, 10)]
    )
    assert client.delete_status(yesterday, time=time(12, 7)).data == "OK 200: Deleted Status"  # filed under 12:05
    assert sorted(t for _, t in service.statuses(SID)) == [time(12, 0), time(12, 10)]
    assert client.delete_status(yesterday).data == "OK 200: Deleted Status"  # no time: the whole day
    assert service.statuses(SID) == {}
    assert client.delete_status(yesterday, time=time(9, 0)).data == "OK 200: Deleted Status"  # nothing there: still OK
    with pytest.raises(Rejected) as err:  # free accounts: today and yesterday only
        client.delete_status(date(2026, 1, 13))
    assert err.value.server_text == "Delete date [20260113] is older than 1 days"
    assert donor.delete_status(date(2026, 1, 1)).data == "OK 200: Deleted Status"  # 90 days with donation


def test_https_and_headers_by_default() -> None:
    from pv.pvoutput import SERVICE

    c = PVOutputClient(KEY, SID, tz="Australia/Brisbane")
    assert c.url(SERVICE.operation("add_status")) == "https://pvoutput.org/service/r2/addstatus.jsp"
    assert Connection(KEY, SID).client.https is True
    local = PVOutputClient(KEY, SID, host="127.0.0.1:8089", https=False, tz="UTC")
    assert local.url(SERVICE.operation("get_system")) == "http://127.0.0.1:8089/service/r2/getsystem.jsp"
