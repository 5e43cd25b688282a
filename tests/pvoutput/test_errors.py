"""Each error kind raised for the matching server reply, with the server's own text kept."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
import requests
from pv.pvoutput import (
    AuthError,
    BatchStatus,
    CouldNotRead,
    DateInFuture,
    DateTooOld,
    DonationRequired,
    LoadInProgress,
    MethodNotAllowed,
    MoonPowered,
    NoStatusesAdded,
    NoStatusFound,
    PVOutputClient,
    RateLimited,
    ReadOnlyKey,
    Rejected,
    ServiceUnavailable,
    TooHighForSystemSize,
)

from pvapp.pvoutput_service import Fault, PVOutputService

from .conftest import BRISBANE, DONOR_KEY, DONOR_SID, KEY, OFF_KEY, RO_KEY, SID, FakeClock, make_client

TODAY = date(2026, 1, 15)
NOON = time(12, 0)


def _only_request(service: PVOutputService, path: str) -> int:
    return service.request_count(f"/service/r2/{path}")


@pytest.mark.parametrize(
    ("key", "sid", "text"),
    [
        ("wrong-key", SID, "Invalid API Key"),
        (OFF_KEY, SID, "Disabled API Key"),
        (KEY, 999, "Missing, invalid or inactive api key information (X-Pvoutput-Apikey)"),
    ],
)
def test_auth_errors(service: PVOutputService, clock: FakeClock, key: str, sid: int, text: str) -> None:
    c = make_client(service, clock, key, sid)
    with pytest.raises(AuthError) as err:
        c.get_status()
    assert err.value.status == 401 and err.value.server_text == text
    assert f"Unauthorized 401: {text}" in str(err.value)
    assert _only_request(service, "getstatus.jsp") == 1  # never retried


def test_read_only_key(service: PVOutputService, clock: FakeClock) -> None:
    c = make_client(service, clock, RO_KEY)
    with pytest.raises(ReadOnlyKey) as err:
        c.add_status(TODAY, NOON, energy_generation=1)
    assert isinstance(err.value, AuthError) and err.value.status == 403
    assert err.value.server_text == "Read only key"
    with pytest.raises(NoStatusFound):  # reads are fine with a read-only key
        c.get_status()


def test_server_side_auth_texts_and_405(service: PVOutputService) -> None:
    url = f"{service.url}/service/r2/getstatus.jsp"
    assert requests.post(url, timeout=5).text == "Unauthorized 401: Invalid System ID"
    r = requests.get(url, params={"sid": str(SID), "key": KEY}, timeout=5)  # key/sid as GET parameters
    assert (r.status_code, r.text) == (400, "Bad request 400: No status found")
    r = requests.put(url, headers={"X-Pvoutput-Apikey": KEY, "X-Pvoutput-SystemId": str(SID)}, timeout=5)
    assert (r.status_code, r.text) == (405, "Method Not Allowed 405: POST or GET only")
    assert "X-Rate-Limit-Remaining" not in r.headers  # rate headers only on request


def test_donation_required(client: PVOutputClient) -> None:
    with pytest.raises(DonationRequired) as err:
        client.get_status_history(extended=True)
    assert err.value.status == 403 and err.value.server_text == "Donation Mode"


@pytest.mark.parametrize("spec_text", [False, True])
def test_rate_limited_raise(clock: FakeClock, spec_text: bool) -> None:
    svc = PVOutputService(clock=clock, spec_rate_text=spec_text)
    svc.add_system(SID)
    svc.add_key(KEY, SID)
    with svc:
        svc.consume(KEY, 60)
        c = make_client(svc, clock, on_rate_limit="raise")
        with pytest.raises(RateLimited) as err:
            c.get_status()
    expected = "Exceeded number requests per hour" if spec_text else "Exceeded 60 requests per hour"
    assert err.value.server_text == expected
    assert err.value.reset_at == datetime(2026, 1, 15, 3, 0, tzinfo=BRISBANE).replace(hour=13)  # next hour
    assert c.rate is not None and c.rate.remaining == 0
    with pytest.raises(RateLimited):  # known exhausted: refused locally, nothing sent
        c.get_status()
    assert svc.request_count() == 1
    assert clock.sleeps == []


def test_rate_limited_wait_then_succeed(service: PVOutputService, clock: FakeClock) -> None:
    service.consume(KEY, 60)
    c = make_client(service, clock)  # on_rate_limit="wait"
    with pytest.raises(NoStatusFound):
        c.get_status()
    assert [r.status for r in service.requests] == [403, 400]
    reset = datetime(2026, 1, 15, 13, 0, tzinfo=BRISBANE).timestamp()
    assert service.requests[1].at >= reset  # the retry went out only after the bucket refilled
    assert len(clock.sleeps) == 1


def test_quota_exhausted_is_respected_before_sending(service: PVOutputService, clock: FakeClock) -> None:
    service.consume(KEY, 59)
    c = make_client(service, clock)
    with pytest.raises(NoStatusFound):
        c.get_status()  # uses the last request: Remaining 0
    assert c.rate is not None and c.rate.remaining == 0
    with pytest.raises(NoStatusFound):
        c.get_status()  # waits for the reset *before* sending
    assert [r.status for r in service.requests] == [400, 400]  # no 403 was provoked
    assert service.requests[1].at >= datetime(2026, 1, 15, 13, 0, tzinfo=BRISBANE).timestamp()


def test_getstatistic_has_its_own_budget(service: PVOutputService, clock: FakeClock) -> None:
    c = make_client(service, clock, on_rate_limit="raise")
    c.add_output(TODAY - timedelta(days=1), generated=1000)
    for _ in range(12):
        c.get_statistic()
    with pytest.raises(RateLimited):
        c.get_statistic()
    assert service.request_count("/service/r2/getstatistic.jsp") == 12  # the 13th was never sent


@pytest.mark.parametrize(
    ("kwargs", "exc", "text"),
    [
        (
            {"date": TODAY - timedelta(days=1), "time": time(23, 0), "power_generation": 500},
            MoonPowered,
            "Moon Powered",
        ),
        ({"time": time(3, 0), "energy_generation": 800}, MoonPowered, "Moon Powered"),
        ({"date": TODAY - timedelta(days=15)}, DateTooOld, "Date is older than 14 days [20251231]"),
        ({"date": TODAY + timedelta(days=1)}, DateInFuture, "Date is in the future [20260116]"),
        (
            {"power_generation": 2147483647},
            TooHighForSystemSize,
            "Power value [2147483647] too high for system size [5000]",
        ),
        (
            {"energy_generation": 2147483647},
            TooHighForSystemSize,
            "Energy value [2147483647] too high for system size [5000]",
        ),
        ({"energy_consumption": 250000}, Rejected, "Value v3 cannot exceed 200,000 [250000]"),
    ],
)
def test_rejected_kinds(
    client: PVOutputClient, service: PVOutputService, kwargs: dict[str, object], exc: type[Rejected], text: str
) -> None:
    args = {"date": TODAY, "time": time(11, 0), "energy_generation": 100, **kwargs}
    with pytest.raises(exc) as err:
        client.add_status(args.pop("date"), args.pop("time"), **args)  # type: ignore[arg-type]
    assert err.value.status == 400 and err.value.server_text == text
    assert _only_request(service, "addstatus.jsp") == 1  # a 400 is never retried
    assert service.statuses(SID) == {}


def test_cumulative_energy_going_down(client: PVOutputClient) -> None:
    client.add_status(TODAY, time(11, 0), energy_generation=900_000, cumulative=2)
    with pytest.raises(Rejected) as err:
        client.add_status(TODAY, time(11, 5), energy_generation=899_000, cumulative=2)
    assert err.value.server_text == "Energy value [899000] lower than previously recorded value: [900000]"


def test_no_status_found_and_no_statuses_added(client: PVOutputClient) -> None:
    with pytest.raises(NoStatusFound) as err:
        client.get_status(date=TODAY)
    assert err.value.server_text == "No status found"
    night = [BatchStatus(TODAY, time(0, m), power_generation=100) for m in (0, 5)]
    with pytest.raises(NoStatusesAdded) as err2:
        client.add_batch_status(night)
    assert err2.value.server_text == "No statuses added or updated"


def test_could_not_read_from_server(client: PVOutputClient, service: PVOutputService) -> None:
    service.inject(Fault("http", status=400, body="Bad request 400: Could not read [v1]"))
    with pytest.raises(CouldNotRead) as err:
        client.add_status(TODAY, time(11, 0), energy_generation=5)
    assert err.value.server_text == "Could not read [v1]"


def test_retry_5xx_with_capped_backoff_then_success(
    client: PVOutputClient, service: PVOutputService, clock: FakeClock
) -> None:
    service.inject(Fault("http", status=503, times=2))
    assert client.add_status(TODAY, time(11, 0), energy_generation=5).data == "OK 200: Added Status"
    assert clock.sleeps == [0.75, 1.5]  # base 1 s doubling, jitter factor 0.75
    assert [r.status for r in service.requests] == [503, 503, 200]


def test_5xx_gives_up_as_service_unavailable(
    client: PVOutputClient, service: PVOutputService, clock: FakeClock
) -> None:
    service.inject(Fault("http", status=502, body="Bad Gateway 502: upstream", times=5))
    with pytest.raises(ServiceUnavailable) as err:
        client.get_status()
    assert err.value.status == 502 and "upstream" in str(err.value)
    assert len(clock.sleeps) == 2 and service.request_count() == 3


def test_dropped_connection_and_timeout_are_retried(service: PVOutputService, clock: FakeClock) -> None:
    c = make_client(service, clock, timeout=0.3)
    service.inject(Fault("drop"))
    service.inject(Fault("delay", delay=0.6))
    assert c.add_status(TODAY, time(11, 0), energy_generation=5).data == "OK 200: Added Status"
    assert len(clock.sleeps) == 2


def test_timeout_gives_up(service: PVOutputService, clock: FakeClock) -> None:
    c = make_client(service, clock, timeout=0.2)
    service.inject(Fault("delay", delay=0.5, times=3))
    with pytest.raises(ServiceUnavailable, match="timed out"):
        c.get_system()


def test_unreachable_host(clock: FakeClock) -> None:
    c = PVOutputClient(KEY, SID, host="http://127.0.0.1:9", tz=BRISBANE, clock=clock, sleep=clock.sleep)
    with pytest.raises(ServiceUnavailable, match="unreachable") as err:
        c.get_status()
    assert KEY not in str(err.value)


def test_load_in_progress_is_retried_after_30s(
    client: PVOutputClient, service: PVOutputService, clock: FakeClock
) -> None:
    service.inject(Fault("load_in_progress"))
    assert client.add_status(TODAY, time(11, 0), energy_generation=5).data == "OK 200: Added Status"
    assert clock.sleeps == [22.5]  # 30 s with jitter factor 0.75
    service.inject(Fault("load_in_progress", times=3))
    with pytest.raises(LoadInProgress) as err:
        client.add_status(TODAY, time(11, 5), energy_generation=6)
    assert err.value.server_text == "Load in progress"


def test_ok_but_ignored_write(client: PVOutputClient, service: PVOutputService) -> None:
    service.inject(Fault("ignore_write"))
    assert client.add_status(TODAY, time(11, 0), energy_generation=5).data == "OK 200: Added Status"
    assert service.statuses(SID) == {}


def test_method_not_allowed_reply(client: PVOutputClient, service: PVOutputService) -> None:
    service.inject(Fault("http", status=405, body="Method Not Allowed 405: POST or GET only"))
    with pytest.raises(MethodNotAllowed) as err:
        client.get_status()
    assert err.value.server_text == "POST or GET only" and service.request_count() == 1


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("", 1), {}, "PVOutput API key is empty"),
        (("k", "12a"), {}, "PVOutput system id must be a number, got '12a'"),
        (("k", 1), {"host": "ftp://x"}, "PVOutput host scheme must be http or https, got 'ftp'"),
        (("k", 1), {"host": "x/y"}, "PVOutput host must be a host name with an optional port, got 'x/y'"),
        (("k", 1), {"tz": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        (("k", 1), {"on_rate_limit": "ignore"}, "on_rate_limit must be 'wait' or 'raise', got 'ignore'"),
    ],
)
def test_bad_client_settings_are_one_line_errors(
    args: tuple[str, object], kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError) as err:
        PVOutputClient(*args, **kwargs)  # type: ignore[arg-type]
    assert str(err.value) == message


def test_server_checks_what_the_client_checks(service: PVOutputService) -> None:
    """The same declaration validates on both sides: a raw request the client would refuse fails on the server."""
    url = f"{service.url}/service/r2/addstatus.jsp"
    auth = {"X-Pvoutput-Apikey": KEY, "X-Pvoutput-SystemId": str(SID)}
    cases = {
        ("d", "2026-01-15"): "Bad request 400: Could not read [d]",
        ("t", "11h00"): "Bad request 400: Could not read [t]",
        ("v1", "10.5"): "Bad request 400: Could not read [v1]",  # whole Wh only
        ("c1", "4"): "Bad request 400: Could not read [c1]",
    }
    for (key, value), text in cases.items():
        form = {"d": "20260115", "t": "11:00", "v1": "10", key: value}
        r = requests.post(url, data=form, headers=auth, timeout=5)
        assert (r.status_code, r.text) == (400, text)
    r = requests.post(url, data={"d": "20260115", "t": "11:00", "v5": "20.5"}, headers=auth, timeout=5)
    assert r.text == "Bad request 400: Missing required data"
    donor_auth = {"X-Pvoutput-Apikey": DONOR_KEY, "X-Pvoutput-SystemId": str(DONOR_SID)}
    r = requests.post(
        url, data={"d": "20260115", "t": "11:00", "v1": "1", "m1": "x" * 31}, headers=donor_auth, timeout=5
    )
    assert r.text == "Bad request 400: Could not read [m1]"
    assert service.statuses(SID) == {}
