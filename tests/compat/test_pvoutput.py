"""pv 0.2's ``pvoutput.Connection``, call by call, over real HTTP against the local PVOutput service.

Expected request parameters are PVOutput's own (``/work/shared/pvoutput/API.md``
sections 1.1, 1.3, 1.4, 1.8), so the test checks what reaches the server, not
what the shim passes on.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from pv import pvoutput
from pv.pvoutput import Connection, MoonPowered, PVOutputError, Rejected, ServiceUnavailable

from pvapp.pvoutput_service import Fault, PVOutputService

BRISBANE = ZoneInfo("Australia/Brisbane")
KEY = "compat-key-0123456789abcdef0123456789"
SID = 5151
EMPTY = inspect.Parameter.empty
PK = "POSITIONAL_OR_KEYWORD"


class Clock:
    """The service's wall clock, fixed at a summer noon in Brisbane (no sleeping: pv 0.2 never retries)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 15, 12, 0, 30, tzinfo=BRISBANE).timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def service() -> Iterator[PVOutputService]:
    svc = PVOutputService(clock=Clock())
    svc.add_system(SID, name="Compat Roof", size=5000, tz="Australia/Brisbane", latitude=-27.5, longitude=152.95)
    svc.add_key(KEY, SID)
    with svc:
        yield svc


@pytest.fixture
def conn(service: PVOutputService) -> Connection:
    return pvoutput.Connection(KEY, SID, host=service.url, tz=BRISBANE)


def shape(fn: object) -> list[tuple[str, str, object]]:
    return [(p.name, p.kind.name, p.default) for p in inspect.signature(fn).parameters.values()]  # type: ignore[arg-type]


def test_signatures_are_pv02s() -> None:
    assert shape(Connection)[:3] == [("api_key", PK, EMPTY), ("system_id", PK, EMPTY), ("host", PK, "pvoutput.org")]
    original = ["date", "generated", "exported", "peak_power", "peak_time", "condition", "min_temp", "max_temp"]
    original += ["comments", "import_peak", "import_offpeak", "import_shoulder"]
    add_output = shape(Connection.add_output)
    assert [name for name, _, _ in add_output[1:13]] == original
    assert all(kind == PK for _, kind, _ in add_output[:13])
    assert [d for _, _, d in add_output[1:3]] == [EMPTY, EMPTY] and all(d is None for _, _, d in add_output[3:13])
    assert all(kind == "KEYWORD_ONLY" for _, kind, _ in add_output[13:])  # extras cannot shift a positional call
    assert shape(Connection.add_status) == [
        ("self", PK, EMPTY),
        ("date", PK, EMPTY),
        ("time", PK, EMPTY),
        ("energy_exp", PK, EMPTY),
        ("power_exp", PK, None),
        ("energy_imp", PK, None),
        ("power_imp", PK, None),
        ("cumulative", PK, False),
    ]
    assert shape(Connection.get_status) == [("self", PK, EMPTY), ("date", PK, None), ("time", PK, None)]
    assert shape(Connection.delete_status) == [("self", PK, EMPTY), ("date", PK, EMPTY), ("time", PK, EMPTY)]


def test_default_host_is_pvoutput_org_over_https() -> None:
    conn = Connection(KEY, SID, tz=BRISBANE)
    assert (conn.client.host, conn.client.https) == ("pvoutput.org", True)
    assert KEY not in repr(conn)


def test_add_status_positional_and_keywords(conn: Connection, service: PVOutputService) -> None:
    assert conn.add_status("20260115", "10:00", 4200, 2500, 1500, 800) == "OK 200: Added Status"
    assert service.requests[-1].params | {} == {"d": "20260115", "t": "10:00", "v1": "4200", "v2": "2500"} | {
        "v3": "1500",
        "v4": "800",
    }
    reply = conn.add_status(
        date=date(2026, 1, 15), time=time(10, 5), energy_exp=4400, power_exp=2600, energy_imp=1600, power_imp=700
    )
    assert reply == "OK 200: Added Status"
    assert {k: service.requests[-1].params[k] for k in ("v1", "v2", "v3", "v4")} == {
        "v1": "4400",
        "v2": "2600",
        "v3": "1600",
        "v4": "700",
    }
    assert conn.add_status("20260115", "10:10", 9_000_000, None, None, None, True) == "OK 200: Added Status"
    sent = service.requests[-1].params
    assert sent["c1"] == "1" and sent["v1"] == "9000000" and "v2" not in sent
    assert conn.add_status("20260115", "10:15", None, 2700) == "OK 200: Added Status"  # power only
    assert service.statuses(SID)[(date(2026, 1, 15), time(10, 0))] == {"v1": 4200, "v2": 2500, "v3": 1500, "v4": 800}


def test_add_output_with_every_original_keyword(conn: Connection, service: PVOutputService) -> None:
    reply = conn.add_output(
        "20260114",
        generated=21000,
        exported=9000,
        peak_power=4100,
        peak_time="12:15",
        condition="Fine",
        min_temp=18,
        max_temp=31,
        comments="sunny",
        import_peak=3000,
        import_offpeak=2000,
        import_shoulder=1000,
    )
    assert reply == "OK 200: Added Output"
    assert service.requests[-1].params == {
        "d": "20260114",
        "g": "21000",
        "e": "9000",
        "pp": "4100",
        "pt": "12:15",
        "cd": "Fine",
        "tm": "18",
        "tx": "31",
        "cm": "sunny",
        "ip": "3000",
        "io": "2000",
        "is": "1000",
    }
    # the same, positionally, as a pv 0.2 script may have written it
    args = ("20260113", 20000, 8000, 4000, "12:30", "Cloudy", 17, 29, "cloud", 3100, 2100, 1100)
    assert conn.add_output(*args) == "OK 200: Added Output"
    sent = service.requests[-1].params
    assert [sent[k] for k in ("g", "e", "pp", "pt", "cd", "tm", "tx", "cm", "ip", "io", "is")] == [
        "20000",
        "8000",
        "4000",
        "12:30",
        "Cloudy",
        "17",
        "29",
        "cloud",
        "3100",
        "2100",
        "1100",
    ]
    assert conn.add_output("20260112", 19000) == "OK 200: Added Output"
    assert service.outputs(SID)[date(2026, 1, 12)]["generated"] == 19000


def test_get_and_delete_status_return_the_servers_text(
    conn: Connection, service: PVOutputService, capsys: pytest.CaptureFixture[str]
) -> None:
    conn.add_status("20260115", "10:00", 4200, 2500, 1500, 800)
    conn.add_status("20260115", "10:05", 4400, 2600)
    latest = conn.get_status()
    assert latest == service.requests[-1].body  # exactly what the server sent
    assert latest.split(",")[:4] == ["20260115", "10:05", "4400", "2600"]  # API.md 1.4 columns
    print(conn.get_status())  # the seed README's call
    assert capsys.readouterr().out == latest + "\n"
    assert conn.get_status("20260115", "10:00").split(",")[:6] == ["20260115", "10:00", "4200", "2500", "1500", "800"]
    assert conn.get_status(date="20260115", time="10:00") == conn.get_status(date(2026, 1, 15), time(10, 0))
    assert conn.delete_status("20260115", "10:05") == "OK 200: Deleted Status"
    assert conn.delete_status(date=date(2026, 1, 15), time=time(10, 0)) == "OK 200: Deleted Status"
    assert service.statuses(SID) == {}


def test_a_400_is_a_value_error_with_the_servers_text(conn: Connection, service: PVOutputService) -> None:
    with pytest.raises(ValueError) as err:
        conn.add_status("20260115", "10:00", 4200, 20000)  # 20 kW on a 5 kW system
    assert str(err.value) == "Bad request 400: Power value [20000] too high for system size [5000]"
    assert isinstance(err.value, Rejected)  # the typed style of except works too
    try:
        conn.add_status("20260115", "02:00", None, 100)  # power at 2 am
    except Rejected as typed:
        assert isinstance(typed, MoonPowered) and str(typed) == "Bad request 400: Moon Powered"
    else:
        pytest.fail("no exception for a Moon Powered status")
    with pytest.raises(ValueError, match=r"^Bad request 400: No status found"):
        conn.get_status("20260110", "10:00")
    assert len(service.requests) == 3  # once each: pv 0.2 never retried


def test_other_failures_raise_with_the_text_and_are_not_retried(conn: Connection, service: PVOutputService) -> None:
    service.inject(Fault("http", status=503, body="Service Unavailable 503: Service Unavailable"))
    with pytest.raises(ServiceUnavailable) as err:
        conn.add_status("20260115", "10:00", 4200, 2500)
    assert str(err.value) == "Service Unavailable 503: Service Unavailable"
    assert not isinstance(err.value, ValueError)
    assert len(service.requests) == 1
    wrong = Connection("not-the-key", SID, host=service.url, tz=BRISBANE)
    with pytest.raises(PVOutputError) as auth:
        wrong.get_status()
    assert str(auth.value).startswith("Unauthorized 401") and not isinstance(auth.value, ValueError)
