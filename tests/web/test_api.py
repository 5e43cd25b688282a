"""The JSON API, the charts and the CSV links over real HTTP on a database of known history."""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from xml.etree import ElementTree

import pytest

from pvapp.web.queries import day_bounds
from pvapp.web.server import MAX_CLIENTS

from .conftest import DENSE_DAY, NOW, SERIALS, SYSTEM, TZ, get, get_json


def _publish_latest(server, site) -> None:
    """Hand the newest reading of each inverter to the page the way the monitor does (its output)."""
    for serial in SERIALS:
        last = [r for r in site.rows if r.inverter.serial == serial][-1]
        server.output.publish(last)


def test_overview_shows_each_inverter_with_the_database_values(serve, site) -> None:
    server = serve()
    _publish_latest(server, site)
    ov = get_json(server.url + "api/overview")
    assert [i["serial"] for i in ov["inverters"]] == SERIALS
    for inv in ov["inverters"]:
        values = {v["id"]: v for v in inv["values"]}
        expected = site.hist.latest[inv["serial"]]
        for qid in ("pac", "e_today", "e_total", "h_total", "vac"):
            assert values[qid]["value"] == pytest.approx(expected[qid]), (inv["serial"], qid)
        assert inv["state"] == "awake"
        assert inv["last_reading"] == site.hist.latest_time[inv["serial"]].isoformat()
        # the terminal's formats: the spec's resolution (Fac 0.01 Hz, E-Total 0.1 kWh)
        assert values["fac"]["text"] == "50.00 Hz"
        assert values["e_total"]["text"] == f"{expected['e_total']:.1f} kWh"
    assert ov["inverters"][0]["name"] == "garage"
    total = sum(site.hist.latest[s]["pac"] for s in SERIALS)
    assert ov["totals"]["pac"]["value"] == pytest.approx(total)
    assert ov["totals"]["e_today"]["value"] == pytest.approx(sum(site.hist.latest[s]["e_today"] for s in SERIALS))
    assert ov["site"]["timezone"] == "Australia/Brisbane"
    assert ov["site"]["today"] == "2026-01-15"
    assert ov["pvoutput"]["configured"] is True
    queue = ov["pvoutput"]["systems"][0]
    assert queue["system"] == SYSTEM and queue["sent"] == 2 and queue["pending"] > 0


def test_overview_after_restart_shows_last_totals_from_the_database(serve, site) -> None:
    """Nothing heard yet this run (at night, after a restart): state 'waiting', last totals from storage."""
    server = serve()
    ov = get_json(server.url + "api/overview")
    for inv in ov["inverters"]:
        values = {v["id"]: v["value"] for v in inv["values"]}
        assert inv["state"] == "waiting"
        assert values["e_total"] == pytest.approx(site.hist.latest[inv["serial"]]["e_total"])
    assert ov["totals"]["pac"]["value"] is None  # no inverter awake: no power claimed


def test_state_changes_reach_the_overview(serve, site) -> None:
    server = serve()
    _publish_latest(server, site)
    last = [r for r in site.rows if r.inverter.serial == SERIALS[1]][-1]
    server.output.inverter_state(last.inverter, "asleep")
    ov = get_json(server.url + "api/overview")
    states = {i["serial"]: i["state"] for i in ov["inverters"]}
    assert states == {SERIALS[0]: "awake", SERIALS[1]: "asleep"}
    assert ov["totals"]["pac"]["value"] == pytest.approx(site.hist.latest[SERIALS[0]]["pac"])


def _expected_points(site, serial: str, day: date) -> list[float]:
    start, end = day_bounds(day, TZ)
    buckets: dict[int, list[float]] = {}
    for t in site.hist.times[serial]:
        if start <= t < end:
            buckets.setdefault(int((t - start).total_seconds() // 120), []).append(t.timestamp())
    return [sum(v) / len(v) for _, v in sorted(buckets.items())]


@pytest.mark.parametrize("day", [date(2026, 1, 10), DENSE_DAY, NOW.date()])
def test_day_series_one_point_per_bucket_of_stored_readings(serve, site, day: date) -> None:
    server = serve()
    data = get_json(server.url + f"api/day?date={day.isoformat()}")
    assert data["bucket_seconds"] == 120
    by_serial = {s["serial"]: s["points"] for s in data["series"]}
    for serial in SERIALS:
        expected = _expected_points(site, serial, day)
        got = [p[0] for p in by_serial[serial]]
        assert got == pytest.approx(expected, abs=0.01)
        assert data["energy_kwh"][serial] == pytest.approx(site.hist.day_energy[(serial, day)])
    if day == DENSE_DAY:  # 10 s polls for an hour: 360 readings become 30 points
        dense = [t for t in site.hist.times[SERIALS[0]] if day_bounds(day, TZ)[0] <= t < day_bounds(day, TZ)[1]]
        assert len(dense) > len(by_serial[SERIALS[0]]) + 300
    # the chart draws the same points: one polyline vertex per point
    status, headers, body = get(server.url + f"chart/day.svg?date={day.isoformat()}")
    assert status == 200 and headers["Content-Type"] == "image/svg+xml"
    svg = ElementTree.fromstring(body)
    lines = {
        p.get("data-serial"): p.get("points", "").split() for p in svg.iter("{http://www.w3.org/2000/svg}polyline")
    }
    for serial in SERIALS:
        assert len(lines[serial]) == len(by_serial[serial])
    assert len(lines["total"]) == len(data["total"])


def test_summed_curve_holds_each_inverters_last_value(serve, site) -> None:
    server = serve()
    data = get_json(server.url + "api/day?date=2026-01-10")
    noon = [(t, w) for t, w in data["total"] if datetime.fromtimestamp(t, TZ).hour == 12]
    series = {s["serial"]: {round(t, 3): w for t, w in s["points"]} for s in data["series"]}
    for t, w in noon:
        parts = []
        for serial in SERIALS:
            before = [(tt, ww) for tt, ww in series[serial].items() if tt <= t]
            parts.append(max(before)[1])
        assert w == pytest.approx(sum(parts))


def test_month_year_and_years_totals_match_the_stored_e_today(serve, site) -> None:
    server = serve()
    month = get_json(server.url + "api/month?month=2026-01")
    january = {k: v for k, v in site.hist.day_energy.items() if k[1].month == 1}
    assert month["total_kwh"] == pytest.approx(sum(january.values()))
    by_day = {d["date"]: d for d in month["days"]}
    assert len(by_day) == 31
    for (serial, day), kwh in january.items():
        assert by_day[day.isoformat()]["energy_kwh"][serial] == pytest.approx(kwh)
    assert by_day["2026-01-20"]["total_kwh"] is None  # the future
    assert month["next"] is None and month["previous"] == "2025-12"

    year = get_json(server.url + "api/year?year=2025")
    december = sum(v for k, v in site.hist.day_energy.items() if k[1].year == 2025)
    assert year["total_kwh"] == pytest.approx(december)
    assert year["months"][11]["total_kwh"] == pytest.approx(december)
    assert year["months"][0]["total_kwh"] is None

    years = get_json(server.url + "api/years")
    assert [y["year"] for y in years["years"]] == [2025, 2026]
    assert years["total_kwh"] == pytest.approx(sum(site.hist.day_energy.values()))
    svg = ElementTree.fromstring(get(server.url + "chart/month.svg?month=2026-01")[2])
    bars = {g.get("data-label"): float(g.get("data-total")) for g in svg.iter("{http://www.w3.org/2000/svg}g")}
    assert bars["2026-01-10"] == pytest.approx(
        sum(v for k, v in january.items() if k[1] == date(2026, 1, 10)), abs=1e-3
    )


def test_events_newest_first_with_uploads_from_the_queue(serve, site) -> None:
    server = serve()
    data = get_json(server.url + "api/events?limit=2")
    assert [e["kind"] for e in data["events"]] == ["reconnect", "fault"]
    assert data["more"] is True
    assert data["events"][1]["detail"] == "GFCI <b>x</b>"  # data, shown as text by the page
    older = get_json(server.url + f"api/events?before={data['events'][1]['id']}")
    assert [e["kind"] for e in older["events"]] == ["awake"]
    uploads = data["uploads"]
    assert len(uploads) == 1 and "uploaded 2 status(es) for system 101" in uploads[0]["text"]


def test_csv_link_matches_pv_export(serve, site, tmp_path) -> None:
    server = serve()
    status, headers, body = get(server.url + "api/export.csv?date=2026-01-14")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "pvapp.cli",
            "export",
            "--storage",
            str(site.path),
            "--timezone",
            "Australia/Brisbane",
            "--from",
            "2026-01-14",
            "--to",
            "2026-01-14",
        ],
        capture_output=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        cwd=tmp_path,
    )
    assert body == cli.stdout
    assert body.count(b"\n") > 300
    month = get(server.url + "api/export.json?month=2025-12&serial=" + SERIALS[1])[2]
    rows = json.loads(month)
    assert {r["serial"] for r in rows} == {SERIALS[1]}
    assert rows[0]["local_time"].startswith("2025-12-20T05:00")


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("api/day?date=2026-13-01", 400, "date: '2026-13-01' is not a date"),
        ("api/day?date=yesterday", 400, "is not a date"),
        ("api/month?month=2026-1", 400, "is not a month"),
        ("api/year?year=20x6", 400, "is not a year"),
        ("api/events?limit=0", 400, "limit: expected a whole number"),
        ("api/export.csv?from=2026-01-10&to=2026-01-01", 400, "is before"),
        ("api/nothing", 404, "no such page"),
        # days at the ends of the calendar: the day after (or the UTC instant of) them does not exist
        ("api/day?date=9999-12-31", 400, "date: 9999-12-31 is outside the days pv handles (1900-01-01 to 9998-12-31)"),
        ("api/day?date=0001-01-01", 400, "date: 0001-01-01 is outside the days pv handles"),
        ("api/month?month=0001-01", 400, "month: 0001-01 is outside the months pv handles (1900-01 to 9998-12)"),
        ("api/month?month=9999-12", 400, "month: 9999-12 is outside"),
        ("api/year?year=9999", 400, "year: 9999 is outside the years pv handles (1900 to 9998)"),
        ("api/export.csv?to=9999-12-31", 400, "to: 9999-12-31 is outside the days pv handles"),
        ("api/export.json?from=0001-01-01", 400, "from: 0001-01-01 is outside the days pv handles"),
        ("api/export.csv?month=9999-12", 400, "month: 9999-12 is outside"),
        ("chart/day.svg?date=9999-12-31", 400, "date: 9999-12-31 is outside"),
        ("chart/month.svg?month=0001-01", 400, "month: 0001-01 is outside"),
        ("chart/year.svg?year=0001", 400, "year: 0001 is outside"),
    ],
)
def test_bad_requests_get_one_line(serve, path: str, status: int, message: str, caplog) -> None:
    server = serve()
    with caplog.at_level(logging.DEBUG, logger="pv"):
        got, _, body = get(server.url + path)
    assert got == status, body
    assert message in json.loads(body)["error"]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text  # the user's mistake


def test_a_failing_page_is_logged_once_not_per_request(serve, caplog) -> None:
    """A page that keeps failing (a bug, an unreadable database) answers 500 each time, warns once."""
    server = serve()

    def broken(query: dict[str, str]) -> dict[str, str]:
        raise RuntimeError("the database is unreadable")

    server.events = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.DEBUG, logger="pv"):
        for _ in range(3):
            got, _, body = get(server.url + "api/events")
            assert got == 500 and "RuntimeError: the database is unreadable" in json.loads(body)["error"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == ["web: /api/events failed: the database is unreadable"]


def test_read_only_and_headers(serve) -> None:
    server = serve()
    for method in ("POST", "PUT", "DELETE"):
        status, headers, _ = get(server.url + "api/overview", method=method)
        assert status == 405 and headers["Allow"] == "GET, HEAD"
    status, headers, body = get(server.url, method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 1000
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_loopback_page_answers_only_to_loopback_host_names(serve) -> None:
    """DNS rebinding: a page from evil.example resolved to 127.0.0.1 must not read the data."""
    server = serve()
    assert get(server.url + "api/overview", {"Host": "evil.example:8780"})[0] == 421
    assert get(server.url + "api/overview", {"Host": f"localhost:{server.address[1]}"})[0] == 200


@pytest.mark.parametrize(
    "host",
    [
        "127.evil.example",  # a name that merely starts like a loopback address
        "127.0.0.1.nip.io",  # a public wildcard DNS name resolving to 127.0.0.1
        "127.0.0.1.nip.io:8780",
        "127.1",  # inet_aton shorthand: not an address literal by ipaddress' rules
        "localhost.evil.example",
        "[::1].evil.example",
        "127.0.0.1:80.evil.example",
        "[::1]x",
        "",
    ],
)
def test_rebinding_names_are_refused(serve, host: str) -> None:
    server = serve()
    assert get(server.url + "api/overview", {"Host": host})[0] == 421, host


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.0.0.1:8780", "127.5.6.7:1", "localhost", "LocalHost:80", "[::1]:8780", "[::1]"]
)
def test_loopback_literals_are_served(serve, host: str) -> None:
    server = serve()
    assert get(server.url + "api/overview", {"Host": host})[0] == 200, host


def test_page_weight_is_small(serve) -> None:
    server = serve()
    total = 0
    for path in ("", "static/app.js", "static/style.css", "static/icon.svg", "chart/day.svg?date=2026-01-14"):
        status, _, body = get(server.url + path)
        assert status == 200
        total += len(body)
    assert total < 100_000  # the limit is 300 KB; the benchmark reports the figure


def test_days_in_the_future_and_empty_days(serve) -> None:
    server = serve()
    data = get_json(server.url + "api/day?date=2025-06-01")
    assert data["series"] == [] and data["total_kwh"] is None and data["peak_w"] is None
    svg = get(server.url + "chart/day.svg?date=2025-06-01")[2].decode()
    assert "no readings this day" in svg
    assert get_json(server.url + "api/day?date=2026-01-14")["next"] == (date(2026, 1, 15)).isoformat()
    assert get_json(server.url + "api/day")["next"] is None
    assert get_json(server.url + "api/day?date=2026-01-15")["previous"] == (NOW.date() - timedelta(days=1)).isoformat()


def test_connections_beyond_the_cap_get_503_and_the_page_recovers(serve) -> None:
    """A client opening connections without end costs bounded threads: past MAX_CLIENTS, 503 and closed."""
    server = serve()
    idle = [socket.create_connection(server.address, timeout=5) for _ in range(MAX_CLIENTS)]
    try:
        time.sleep(0.3)  # every one is accepted and holds a handler thread
        with socket.create_connection(server.address, timeout=5) as extra:
            assert extra.recv(100).startswith(b"HTTP/1.1 503 Service Unavailable")
            assert extra.recv(100) == b""  # closed at once, no thread kept for it
        assert server.httpd.refused_connections >= 1
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.3)  # the closed clients' threads end and free their slots
    assert get(server.url + "api/overview")[0] == 200
