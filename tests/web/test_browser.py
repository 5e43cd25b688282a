"""The page in a real headless Chromium: what it shows, live updates, keyboard, contrast, phone size.

Two kinds of server: the web server on the database of known history (exact
numbers, the day picker, month totals), and a real ``pv monitor`` process on the
simulator (live updates, an inverter falling asleep at dusk).  Screenshots of
every view go to ``$PV_WEB_SCREENSHOTS`` (default: the test's temporary
directory); docs/web.md shows one of them.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from pvapp.storage import Storage
from pvapp.web.queries import day_bounds

from .browser import CONTRAST_JS, FOCUSABLE_JS, console_errors, find_chromium, screenshot, start_browser, wait_for
from .conftest import SERIALS, TZ

try:
    import selenium  # noqa: F401

    HAVE_SELENIUM = True
except ImportError:  # pragma: no cover - the dev extra installs it
    HAVE_SELENIUM = False

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def chrome() -> Iterator[Any]:
    binaries = find_chromium()
    if binaries is None:
        pytest.skip("chromium or chromedriver not installed (apt-get install chromium chromium-driver; .ci/run does)")
    if not HAVE_SELENIUM:
        pytest.skip("selenium not installed (pip install -e '.[dev]')")
    driver = start_browser(binaries)
    yield driver
    driver.quit()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return Path(os.environ.get("PV_WEB_SCREENSHOTS") or tmp_path / "screenshots")


def text_of(driver: Any, css: str) -> str:
    return str(
        driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.textContent : null", css)
    )


def card_values(driver: Any, serial: str) -> dict[str, str]:
    return driver.execute_script(
        "const c = document.querySelector(`article[data-serial='${arguments[0]}']`); if (!c) return null;"
        "return Object.fromEntries(Array.from(c.querySelectorAll('[data-q]')).map(e => [e.dataset.q, e.textContent]));",
        serial,
    )


def open_page(driver: Any, url: str) -> None:
    driver.get_log("browser")  # forget earlier pages' messages
    driver.get(url)
    wait_for(lambda: driver.execute_script("return document.querySelectorAll('article.card').length"), what="cards")


# -- on the database of known history ------------------------------------------------------------


def test_overview_shows_each_inverter_as_the_database_holds_it(chrome, serve, site, shots) -> None:
    server = serve()
    for serial in SERIALS:
        server.output.publish([r for r in site.rows if r.inverter.serial == serial][-1])
    open_page(chrome, server.url)
    db = Storage(site.path, synchronous="OFF")
    try:
        for serial in SERIALS:
            stored = db.last_good(serial)
            row = list(db.readings(serial=serial, start=stored.time))[-1]
            shown = card_values(chrome, serial)
            assert shown is not None, serial
            # the database's values in the terminal's formats (CMS 2000: 1 W, 0.01 kWh, 0.1 kWh)
            assert shown["pac"] == f"{row.pac:.0f} W"
            assert shown["e_today"] == f"{row.e_today:.2f} kWh"
            assert shown["e_total"] == f"{row.e_total:.1f} kWh"
            assert shown["state"] == "awake"
            assert row.time.astimezone(TZ).strftime("%Y-%m-%d %H:%M:%S") in shown["last"]
            assert serial in text_of(chrome, f"article[data-serial='{serial}'] h3")
    finally:
        db.close()
    assert "garage" in text_of(chrome, f"article[data-serial='{SERIALS[0]}'] h3")
    # today's chart: one polyline vertex per stored reading after decimation (120 s buckets)
    wait_for(lambda: chrome.execute_script("return document.querySelector('#today-chart polyline')"), what="chart")
    start, end = day_bounds(date(2026, 1, 15), TZ)
    for serial in SERIALS:
        buckets = {int((t - start).total_seconds() // 120) for t in site.hist.times[serial] if start <= t < end}
        points = chrome.execute_script(
            "return document.querySelector(`#today-chart polyline[data-serial='${arguments[0]}']`)"
            ".getAttribute('points').trim().split(/\\s+/).length",
            serial,
        )
        assert points == len(buckets), serial
    assert console_errors(chrome) == []
    screenshot(chrome, shots / "web-now.png")


def test_day_picker_and_month_view_show_the_right_totals(chrome, serve, site, shots) -> None:
    server = serve()
    open_page(chrome, server.url + "#history")
    wait_for(lambda: text_of(chrome, "#day-total") not in ("", "None"), what="day total")

    def kwh(day: date) -> str:
        return f"{sum(site.hist.day_energy[(s, day)] for s in SERIALS):.1f} kWh"

    wait_for(lambda: text_of(chrome, "#day-total") == kwh(date(2026, 1, 15)), what="today's total")
    chrome.execute_script(
        "const d = document.getElementById('day'); d.value = '2026-01-10'; d.dispatchEvent(new Event('change'))"
    )
    wait_for(lambda: text_of(chrome, "#day-total") == kwh(date(2026, 1, 10)), what="2026-01-10 total")
    assert "2026-01-10" in text_of(chrome, "#day-chart title")
    chrome.find_element("id", "day-prev").click()
    wait_for(lambda: text_of(chrome, "#day-total") == kwh(date(2026, 1, 9)), what="previous day's total")
    assert chrome.find_element("id", "day").get_attribute("value") == "2026-01-09"
    assert chrome.find_element("id", "day-csv").get_attribute("href").endswith("/api/export.csv?date=2026-01-09")

    january = sum(v for k, v in site.hist.day_energy.items() if k[1].month == 1 and k[1].year == 2026)
    wait_for(lambda: text_of(chrome, "#month-total") == f"Total 2026-01: {january:.1f} kWh", what="month total")
    chrome.find_element("id", "month-prev").click()
    december = sum(v for k, v in site.hist.day_energy.items() if k[1].year == 2025)
    wait_for(lambda: text_of(chrome, "#month-total") == f"Total 2025-12: {december:.1f} kWh", what="December")
    bars = chrome.execute_script("return document.querySelectorAll('#month-chart g.bar').length")
    assert bars == 31
    wait_for(lambda: chrome.execute_script("return document.querySelectorAll('#years-table tbody tr').length") == 2)
    assert console_errors(chrome) == []
    screenshot(chrome, shots / "web-history.png")


def test_log_shows_events_as_text_and_the_upload_queue(chrome, serve, site, shots) -> None:
    server = serve()
    open_page(chrome, server.url + "#log")
    wait_for(lambda: chrome.execute_script("return document.querySelectorAll('#events tbody tr').length") >= 4)
    body = text_of(chrome, "#events tbody")
    assert "GFCI <b>x</b>" in body  # the detail is text, not markup
    assert chrome.execute_script("return document.querySelectorAll('#events b').length") == 0
    assert "uploaded 2 status(es) for system 101" in body
    assert "PVOutput system 101" in text_of(chrome, "#outputs")
    assert console_errors(chrome) == []
    screenshot(chrome, shots / "web-log.png")


def test_keyboard_reaches_every_control_with_a_visible_focus(chrome, serve) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    server = serve()
    for view in ("now", "history", "log"):
        open_page(chrome, server.url + "#" + view)
        time.sleep(0.5)
        controls = chrome.execute_script(FOCUSABLE_JS)
        assert len(controls) >= 4, view
        reached = []
        outlines = []
        # start at the top of the document, as a keyboard user arriving on the page does
        chrome.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
        # a date input takes a Tab per part (day, month, year): allow for several stops per control
        for _ in range(3 * len(controls) + 3):
            ActionChains(chrome).send_keys(Keys.TAB).perform()
            active = chrome.switch_to.active_element
            reached.append(active)
            if active in controls:  # past the last control focus leaves the page (body): not a control
                style = chrome.execute_script("return getComputedStyle(arguments[0]).outlineStyle", active)
                outlines.append((active.tag_name, active.get_attribute("id"), style))
        missing = [c.get_attribute("outerHTML")[:80] for c in controls if c not in reached]
        assert missing == [], view
        assert [o for o in outlines if o[2] == "none"] == [], view


def test_text_contrast_meets_wcag_aa(chrome, serve, site) -> None:
    server = serve()
    for serial in SERIALS:
        server.output.publish([r for r in site.rows if r.inverter.serial == serial][-1])
    server.output.inverter_state(site.rows[-1].inverter, "asleep")
    for view in ("now", "history", "log"):
        open_page(chrome, server.url + "#" + view)
        time.sleep(1.0)
        checked = chrome.execute_script(CONTRAST_JS)
        assert len(checked) > 20, view
        low = [c for c in checked if c["ratio"] < c["need"]]
        assert low == [], (view, low[:5])


def test_readable_on_a_phone(chrome, serve, site, shots) -> None:
    server = serve()
    for serial in SERIALS:
        server.output.publish([r for r in site.rows if r.inverter.serial == serial][-1])
    size = chrome.get_window_size()
    chrome.set_window_size(390, 844)
    try:
        for view in ("now", "history", "log"):
            open_page(chrome, server.url + "#" + view)
            time.sleep(0.8)
            overflow = chrome.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, (view, overflow)
            small = chrome.execute_script(
                "return Array.from(document.querySelectorAll('main p, main dd, main td, main dt, nav a'))"
                ".filter(e => e.getBoundingClientRect().width > 0 && parseFloat(getComputedStyle(e).fontSize) < 12).length"
            )
            assert small == 0, view
        open_page(chrome, server.url + "#now")
        time.sleep(0.5)
        screenshot(chrome, shots / "web-phone.png")
    finally:
        chrome.set_window_size(size["width"], size["height"])


# -- on a real `pv monitor` with the simulator ---------------------------------------------------------


class MonitorProcess:
    def __init__(self, tmp: Path, clock: str, *, poll: float, asleep_after: float, port: str) -> None:
        self.db = tmp / "pv.sqlite"
        cfg = tmp / "pv.toml"
        cfg.write_text(
            f'timezone = "Australia/Brisbane"\npoll_interval = {poll}\nasleep_after = {asleep_after}\n'
            f'[storage]\npath = "{self.db}"\nsynchronous = "NORMAL"\n'
            f'[[ports]]\nport = "{port}"\n  [[ports.inverters]]\n  name = "roof"\n'
            '[web]\nlisten = "127.0.0.1:0"\n',
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("PV_")}
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pvapp.cli",
                "--config",
                str(cfg),
                "monitor",
                "--clock",
                clock,
                "--display",
                "lines",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp,
            env=env,
        )
        self.lines: list[str] = []
        self.url = ""
        found = threading.Event()

        def pump() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.lines.append(line.rstrip())
                m = re.search(r"web page: (http://\S+)", line)
                if m:
                    self.url = m.group(1)
                    found.set()

        threading.Thread(target=pump, daemon=True).start()
        if not found.wait(60):
            self.stop()
            raise AssertionError("pv monitor did not print its web address: " + " | ".join(self.lines[-10:]))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)


@pytest.mark.slow
def test_live_value_changes_within_one_poll_interval(chrome, tmp_path, shots) -> None:
    # 10x clock from 11:00 on a summer day: polls every 20 simulated = 2 real seconds
    clock = "2026-01-10T11:00:00+10:00*10"
    mon = MonitorProcess(tmp_path, clock, poll=20, asleep_after=600, port="sim://cms?latitude=-27.47&seed=3")
    try:
        chrome.get_log("browser")
        chrome.get(mon.url)
        wait_for(lambda: chrome.execute_script("return document.querySelector('article.card [data-q=pac]')"), 60)
        serial = chrome.execute_script("return document.querySelector('article.card').dataset.serial")
        # from here on, note every overview the stream delivers and every request the page makes itself
        assert chrome.execute_script(
            "window.pvSeen = []; window.pvFetched = [];"
            "state.source.addEventListener('overview', (ev) => window.pvSeen.push(JSON.parse(ev.data)));"
            "const fetchBefore = window.fetch;"
            "window.fetch = (url, opts) => { window.pvFetched.push(String(url)); return fetchBefore(url, opts); };"
            "return state.source.readyState === EventSource.OPEN && state.pollTimer === null;"
        ), "the page is not on the live stream"
        first = card_values(chrome, serial)
        started = time.monotonic()
        poll_real = 2.0
        # one poll interval, plus the stream's one-second pacing and a loaded machine's slack
        changed = wait_for(
            lambda: (v := card_values(chrome, serial)) and v["last"] != first["last"] and v, 2 * poll_real + 3
        )
        elapsed = time.monotonic() - started
        assert changed["last"] != first["last"], elapsed
        # and what it shows is what the database holds for that instant
        db = Storage(mon.db, synchronous="OFF")
        try:
            shown_time = re.search(r"last reading (\S+ \S+)", changed["last"]).group(1)
            rows = [
                r
                for r in db.readings(serial=serial)
                if r.time.astimezone(TZ).strftime("%Y-%m-%d %H:%M:%S") == shown_time
            ]
        finally:
            db.close()
        assert rows, shown_time
        assert changed["pac"] == f"{rows[-1].pac:.0f} W"
        assert changed["e_total"] == f"{rows[-1].e_total:.1f} kWh"
        assert "roof" in text_of(chrome, f"article[data-serial='{serial}'] h3")
        # the stream, not polling, delivered it: an overview event carried exactly what the card shows
        seen = chrome.execute_script("return window.pvSeen")
        delivered = [
            {v["id"]: v["text"] for v in inv["values"]}
            for ov in seen
            for inv in ov["inverters"]
            if inv["serial"] == serial
        ]
        assert any(d.get("pac") == changed["pac"] and d.get("e_total") == changed["e_total"] for d in delivered), (
            changed,
            delivered[-3:],
        )
        assert not [u for u in chrome.execute_script("return window.pvFetched") if "/api/overview" in u]
        assert console_errors(chrome) == []
    finally:
        assert mon.stop() == 0


@pytest.mark.slow
def test_an_asleep_inverter_is_shown_asleep_with_its_last_totals(chrome, tmp_path, shots) -> None:
    # dusk in Brisbane at 120x: the simulated inverter stops answering at sunset (about 18:45)
    clock = "2026-01-10T18:35:00+10:00*120"
    mon = MonitorProcess(tmp_path, clock, poll=30, asleep_after=300, port="sim://cms?latitude=-27.47&seed=4")
    try:
        chrome.get_log("browser")
        chrome.get(mon.url)
        wait_for(lambda: chrome.execute_script("return document.querySelector('article.card')"), 60, "a card")
        serial = chrome.execute_script("return document.querySelector('article.card').dataset.serial")
        wait_for(lambda: card_values(chrome, serial)["state"] == "asleep", 120, "the inverter asleep")
        shown = card_values(chrome, serial)
        db = Storage(mon.db, synchronous="OFF")
        try:
            last = db.last_good(serial)
        finally:
            db.close()
        assert shown["e_total"] == f"{last.e_total:.1f} kWh"
        assert shown["e_today"] == f"{last.e_today:.2f} kWh"
        assert shown["pac"] == "–"  # asleep: no power claimed
        assert "asleep since" in shown["last"]
        assert console_errors(chrome) == []
        screenshot(chrome, shots / "web-asleep.png")
    finally:
        assert mon.stop() == 0


def test_monitor_without_web_serves_nothing(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PV_")}
    proc = subprocess.run(
        [sys.executable, "-m", "pvapp.cli", "monitor", "--no-web", "--duration", "2", "--display", "lines"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0
    assert "web page" not in proc.stderr


def test_taken_port_is_reported_once_and_polling_goes_on(tmp_path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PV_")}
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pvapp.cli",
                "monitor",
                "--web",
                f"127.0.0.1:{port}",
                "--duration",
                "3",
                "--display",
                "lines",
            ],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=60,
        )
    assert proc.returncode == 0
    assert f"web page not served: cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert proc.stdout.count("Pac") >= 1  # readings kept coming


def test_metrics_of_a_running_monitor_equal_its_database(tmp_path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from .conftest import get

    mon = MonitorProcess(
        tmp_path, "2026-01-10T11:00:00+10:00*20", poll=20, asleep_after=600, port="sim://cms?inverters=2&seed=5"
    )
    try:
        wait_for(lambda: _count(mon.db) >= 6, 60, "readings")
        deadline = time.monotonic() + 30
        while True:  # a reading may land between the scrape and the count: retry until they agree
            body = get(mon.url + "metrics")[2].decode()
            count = _count(mon.db)
            values = {}
            for fam in text_string_to_metric_families(body):
                for s in fam.samples:
                    values[(s.name, tuple(sorted(s.labels.items())))] = s.value
            stored = values[("pv_readings_stored_total", ())]
            if stored == count or time.monotonic() > deadline:
                break
        assert stored == count
        db = Storage(mon.db, synchronous="OFF")
        try:
            for inv in db.inverters():
                last = list(db.readings(serial=inv["serial"]))[-1]
                labels = (("model", inv["model"]), ("serial", inv["serial"]))
                assert values[("pv_inverter_e_total_kwh", labels)] == pytest.approx(last.e_total)
                ok = values[("pv_polls_total", (("result", "ok"), ("serial", inv["serial"])))]
                assert ok >= 3
            cycles = [v for k, v in values.items() if k[0] == "pv_poll_cycles_total"]
            assert cycles and cycles[0] >= 3
            frames = [v for k, v in values.items() if k[0] == "pv_frames_total"]
            assert frames and frames[0] > 0
        finally:
            db.close()
    finally:
        assert mon.stop() == 0


def _count(path: Path) -> int:
    import sqlite3

    if not path.exists():
        return 0
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()
