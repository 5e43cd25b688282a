"""Sun times for Moon Powered, and local time handling across midnight and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pv.pvoutput import BatchStatus, DateTooOld, MoonPowered, PVOutputClient

from pvapp.pvoutput_service import PVOutputService
from pvapp.pvoutput_service.solar import elevation, is_daylight, sun_times

from .conftest import KEY, SID, FakeClock, make_client

AMS = ZoneInfo("Europe/Amsterdam")


@pytest.mark.parametrize(
    ("day", "lat", "lon", "zone", "rise", "sset"),
    [
        # Published almanac times (timeanddate.com), to within a few minutes.
        (date(2026, 1, 15), -27.47, 153.03, "Australia/Brisbane", time(5, 7), time(18, 46)),
        (date(2026, 6, 21), 52.37, 4.90, "Europe/Amsterdam", time(5, 18), time(22, 6)),
        (date(2026, 12, 21), 52.37, 4.90, "Europe/Amsterdam", time(8, 48), time(16, 29)),
    ],
)
def test_sun_times_match_almanac(day: date, lat: float, lon: float, zone: str, rise: time, sset: time) -> None:
    times = sun_times(day, lat, lon)
    assert times is not None
    local = [t.astimezone(ZoneInfo(zone)) for t in times]
    for got, want in zip(local, (rise, sset), strict=True):
        delta = abs((got.hour * 60 + got.minute) - (want.hour * 60 + want.minute))
        assert delta <= 4, (got, want)


def test_polar_night_and_day() -> None:
    assert sun_times(date(2026, 12, 21), 69.65, 18.96) is None  # Tromsø: no sunrise
    assert not is_daylight(datetime(2026, 12, 21, 11, 0, tzinfo=UTC), 69.65, 18.96)
    assert is_daylight(datetime(2026, 6, 21, 23, 0, tzinfo=UTC), 69.65, 18.96)  # midnight sun
    assert elevation(datetime(2026, 6, 21, 10, 0, tzinfo=UTC), 52.37, 4.90) > 55


def test_utc_host_sending_utc_times_gets_moon_powered(client: PVOutputClient) -> None:
    """gw2pvo PR#33: 21:00 UTC is 07:00 in Brisbane, but filed as 21:00 local it is night."""
    utc_wall = datetime(2026, 1, 14, 21, 0, tzinfo=UTC)
    with pytest.raises(MoonPowered):
        client.add_status(utc_wall.date(), utc_wall.time(), energy_generation=300, power_generation=900)
    d, t = client.slot(utc_wall)  # the client converts to the system's zone
    assert (d, t) == (date(2026, 1, 15), time(7, 0))
    assert client.add_status(d, t, energy_generation=300, power_generation=900).data == "OK 200: Added Status"


def test_dst_change_and_midnight(clock: FakeClock) -> None:
    svc = PVOutputService(clock=clock)
    svc.add_system(SID, tz="Europe/Amsterdam", latitude=52.37, longitude=4.90)
    svc.add_key(KEY, SID)
    with svc:
        clock.set(datetime(2026, 3, 29, 12, 0, tzinfo=AMS))  # the day clocks go forward at 02:00
        c = make_client(svc, clock, tz=AMS, status_interval=5, donation=False)
        assert c.slot(datetime(2026, 3, 29, 0, 59, tzinfo=UTC)) == (date(2026, 3, 29), time(1, 55))  # CET
        assert c.slot(datetime(2026, 3, 29, 1, 1, tzinfo=UTC)) == (date(2026, 3, 29), time(3, 0))  # CEST
        moments = [datetime(2026, 3, 29, 9, 0, tzinfo=UTC) + timedelta(minutes=5 * i) for i in range(6)]
        rows = [BatchStatus(*c.slot(m), energy_generation=100 * i, power_generation=500) for i, m in enumerate(moments)]
        report = c.backfill(rows)
        assert len(report.stored) == 6
        assert min(svc.statuses(SID))[1] == time(11, 0)  # 09:00 UTC is 11:00 CEST
        # Across midnight the 14-day window moves with the *local* date.
        clock.set(datetime(2026, 4, 12, 23, 59, tzinfo=AMS))
        old = BatchStatus(date(2026, 3, 29), time(12, 0), energy_generation=700, power_generation=500)
        assert c.add_batch_status([old]).data[0].added
        clock.set(datetime(2026, 4, 13, 0, 1, tzinfo=AMS))
        with pytest.raises(DateTooOld) as err:
            c.add_status(old.date, old.time, energy_generation=700, power_generation=500)
        assert err.value.server_text == "Date is older than 14 days [20260329]"


def test_default_zone_is_the_hosts_and_utc_is_flagged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TZ", "Europe/Amsterdam")
    assert str(PVOutputClient(KEY, SID).tz) == "Europe/Amsterdam"
    assert "no time zone given" not in caplog.text
    monkeypatch.setenv("TZ", "UTC")
    PVOutputClient(KEY, SID)
    assert "no time zone given and this host runs on UTC" in caplog.text
