"""Reply parsing of the real response strings quoted in API.md, served over HTTP by the fake service.

Each body below is a fixture from another client's test suite (source in the comment); the
fake service is told to answer with it verbatim, so the whole client path is exercised.
"""

from __future__ import annotations

from datetime import date, time

import pytest
from pv.pvoutput import BatchStatus, PVOutputClient, PVOutputError, ReplyFormatError

from pvapp.pvoutput_service import Fault, PVOutputService

from .conftest import SID


def serve(service: PVOutputService, body: str) -> None:
    service.inject(Fault("http", status=200, body=body))


def test_status_with_nan_and_extended(client: PVOutputClient, service: PVOutputService) -> None:
    serve(service, "20211222,18:00,3636,0,NaN,NaN,NaN,21.2,220.1")  # PVO test (frenck/python-pvoutput)
    s = client.get_status().data
    assert (s.date, s.time, s.energy_generation, s.power_generation) == (date(2021, 12, 22), time(18, 0), 3636, 0)
    assert (s.energy_consumption, s.normalised_output, s.temperature, s.voltage, s.extended_1) == (
        None,
        None,
        21.2,
        220.1,
        None,
    )
    serve(service, "20190131,14:00,2930,459,5938,386,0.111,1.8,230.1,1.0,2.0,3.0,4.0,5.0,6.0")  # NET fixture
    s = client.get_status().data
    assert (s.normalised_output, s.extended_1, s.extended_6) == (0.111, 1.0, 6.0)


def test_extra_trailing_columns_are_tolerated(client: PVOutputClient, service: PVOutputService) -> None:
    serve(service, "20190131,14:00,2930,459,5938,386,0.111,1.8,230.1,1.0,2.0,3.0,4.0,5.0,6.0,99,extra")  # ocf#84
    assert client.get_status().data.extended_6 == 6.0


def test_day_statistics(client: PVOutputClient, service: PVOutputService) -> None:
    serve(service, "35302,3,5369,12:45;31476,606,495,09:35;18.1,26.6,21.7")  # NET fixtures
    d = client.get_day_statistics().data
    assert (d.energy_generated, d.peak_power, d.peak_time) == (35302, 5369, time(12, 45))
    assert (d.energy_consumed, d.standby_power, d.standby_time) == (31476, 495, time(9, 35))
    assert (d.temperature_min, d.temperature_max, d.temperature_average) == (18.1, 26.6, 21.7)
    serve(service, "35302,3,5369,12:45")  # only the generation group
    assert client.get_day_statistics().data.energy_consumed is None


def test_statistic(client: PVOutputClient, service: PVOutputService) -> None:
    serve(service, "10052033,4366048,9031,10,25473,2.189,1001,20160101,20190908,6.175,20180601")  # NET, JB, OCF
    s = client.get_statistic().data
    assert (s.energy_generated, s.outputs, s.actual_date_from, s.record_date) == (
        10052033,
        1001,
        date(2016, 1, 1),
        date(2018, 6, 1),
    )
    assert s.average_efficiency == 2.189 and s.energy_consumed is None


def test_outputs_and_batch_results(client: PVOutputClient, service: PVOutputService) -> None:
    serve(service, "20180901,16784,4.069,12719,8500,3422,12:00,Fine,7,23,4435,123,321,456")  # NET fixtures, RUST cases
    [o] = client.get_output().data
    assert (o.date, o.generated, o.efficiency, o.condition, o.import_high_shoulder) == (
        date(2018, 9, 1),
        16784,
        4.069,
        "Fine",
        456,
    )
    assert o.export_peak is None
    serve(service, "20140130,10:00,1;20140130,10:05,0;20140130,10:10,1")  # NET BATCHPOST_STATUS_RESPONSE_FULL
    rows = client.add_batch_status([BatchStatus(date(2026, 1, 15), time(10, 0), energy_generation=1)]).data
    assert [(r.time, r.added) for r in rows] == [(time(10, 0), True), (time(10, 5), False), (time(10, 10), True)]


def test_system_sections(client: PVOutputClient, service: PVOutputService) -> None:
    serve(
        service, "My System,2450,2000,10,245,Sunpower,1,2500,SMA,N,30.0,No,20100101,-33.9,151.2,5;;0"
    )  # IOB sample shape
    s = client.get_system().data
    assert (s.name, s.size, s.status_interval, s.donations, s.export_tariff) == ("My System", 2450, 5, 0, None)


def test_search_insolation_extended_missing(client: PVOutputClient, service: PVOutputService) -> None:
    serve(
        service,
        "Solar 4 US,9360,Australia 4280,NW,81,2 days ago,249,Solarfun,Aurora,NaN,-27.831402,153.028469\n"
        "Other,1000,4000,N,1,Today,250,A,B,NaN,-27.5,153.0",
    )  # RUST cases/search.csv
    found = client.search(query="solar").data
    first = found[0]
    assert (first.name, first.system_id, first.distance, first.longitude) == ("Solar 4 US", 249, None, 153.028469)
    assert len(found) == 2
    serve(service, "06:00,0,0;06:05,3,0;06:10,11,1")  # NET fixture
    assert [(r.time, r.power, r.energy) for r in client.get_insolation().data][-1] == (time(6, 10), 11, 1)
    serve(service, "20140307,67.4,825.321,349.0,1105.0,1115.0,-12.3")  # NET, RUST cases
    [e] = client.get_extended().data
    assert (e.extended_2, e.extended_6) == (825.321, -12.3)
    serve(service, "20160801,20160802")  # NET MissingRequest fixture
    assert [m.date for m in client.get_missing(date_from=date(2016, 8, 1), date_to=date(2016, 8, 3)).data] == [
        date(2016, 8, 1),
        date(2016, 8, 2),
    ]


def test_malformed_required_column_is_an_error(client: PVOutputClient, service: PVOutputService) -> None:
    serve(service, "NaN,10:00,1")
    with pytest.raises(ValueError, match="date"):
        client.get_status()


def test_every_request_asks_for_rate_headers_and_every_result_has_them(
    client: PVOutputClient, service: PVOutputService
) -> None:
    client.account()
    reply = client.add_status(date(2026, 1, 15), time(11, 7), energy_generation=5)
    assert service.requests[-1].params["t"] == "11:05"  # aligned by the client once the interval is known
    assert reply.rate is not None and (reply.rate.remaining, reply.rate.limit) == (58, 60)
    client.get_status()
    assert all(r.headers.get("X-Rate-Limit") == "1" for r in service.requests)
    assert all("X-Pvoutput-Apikey" in r.headers and "key" not in r.params for r in service.requests)
    assert service.statuses(SID)[(date(2026, 1, 15), time(11, 5))] == {"v1": 5}


def test_html_instead_of_csv_is_a_reply_format_error(client: PVOutputClient, service: PVOutputService) -> None:
    serve(service, "<html><body>Please log in to the hotel wifi</body></html>")
    with pytest.raises(ReplyFormatError, match="get_status: unexpected reply") as err:
        client.get_status()
    assert isinstance(err.value, PVOutputError)
    serve(service, "<html>;<p>x</p>;</html>")
    with pytest.raises(ReplyFormatError, match="get_output"):
        client.get_output()
