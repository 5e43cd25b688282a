"""The web page (issue 13): API time on a year of history, page weight, the monitor's CPU with a live page.

* API time: a database with a year of 5-minute readings of 4 inverters (around
  the clock: 420,480 readings; ``--quick``: 2 inverters, 60 days) is served by
  the web server in-process over real HTTP on loopback.  Each view's endpoint
  is timed cold (first request: every closed day's energy read from the
  database) and warm (median of 5).  Target: < 300 ms for the year view.
* Page weight: every byte a first visit loads (page, script, style, icon, the
  overview JSON and today's chart).  Target: well under 300 KB.
* CPU per poll: ``pv monitor`` polling a simulator process back to back (as
  ``bench_cpu_memory``), once with ``--no-web`` and once with the page open in
  headless Chromium and live (server-sent events); the monitor's process CPU
  (user + system) over the same number of stored readings.  Target: at most
  5 % above without.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from . import REPO, Row, SimProcess, child_env, load_average, pending
from .bench_cpu_memory import SPEED, cpu_seconds, stored
from .bench_startup import pv_command

sys.path.insert(0, str(REPO))

TZ = ZoneInfo("Australia/Sydney")


def fetch(url: str) -> tuple[float, bytes]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as resp:
        body = resp.read()
    return time.perf_counter() - start, body


def api_rows(quick: bool) -> list[Row]:
    from pvapp.config import from_table
    from pvapp.web.server import WebServer
    from tests.web import synthetic

    serials = [f"BENCH{i:05d}" for i in range(2 if quick else 4)]
    days = 60 if quick else 365
    last = date(2025, 12, 31)
    first = last - timedelta(days=days - 1)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="pv-bench-web-") as tmp:
        db = Path(tmp) / "pv.sqlite"
        built = time.perf_counter()
        _, readings = synthetic.readings(serials, TZ, first, last, all_day=True)
        synthetic.store_bulk(db, readings)
        count = len(readings)
        del readings
        build_s = time.perf_counter() - built
        cfg = from_table(
            {
                "timezone": "Australia/Sydney",
                "storage": {"path": str(db)},
                "ports": [{"port": "sim://cms", "inverters": [{"serial": s} for s in serials]}],
                "web": {"listen": "127.0.0.1:0"},
            },
            env={},
        )
        now = datetime(2025, 12, 31, 18, 0, tzinfo=TZ)
        server = WebServer(cfg, now=lambda: now)
        server.start()
        try:
            size = f"{len(serials)} inverters x {days} days, {count:,} readings (built in {build_s:.0f} s)"
            views = [
                ("year view (/api/year + /chart/year.svg)", ["api/year?year=2025", "chart/year.svg?year=2025"], True),
                ("all years (/api/years)", ["api/years"], False),
                (
                    "month view (/api/month + chart)",
                    ["api/month?month=2025-12", "chart/month.svg?month=2025-12"],
                    False,
                ),
                (
                    "day view, busiest day (/api/day + chart)",
                    ["api/day?date=2025-12-21", "chart/day.svg?date=2025-12-21"],
                    False,
                ),
                ("overview (/api/overview)", ["api/overview"], False),
                ("metrics (/metrics)", ["metrics"], False),
            ]
            for name, paths, main in views:
                cold = sum(fetch(server.url + p)[0] for p in paths)
                warm = statistics.median(sum(fetch(server.url + p)[0] for p in paths) for _ in range(5))
                target = "< 300" if main else ""
                rows.append(Row(f"web: {name}, cold", cold * 1000, "ms", target, cold < 0.3 if main else None, size))
                rows.append(
                    Row(
                        f"web: {name}, warm",
                        warm * 1000,
                        "ms",
                        target,
                        warm < 0.3 if main else None,
                        f"median of 5; {load_average()}",
                    )
                )
                size = ""
            total = 0
            parts = []
            for path in (
                "",
                "static/app.js",
                "static/style.css",
                "static/icon.svg",
                "api/overview",
                "chart/day.svg?date=2025-12-31&width=1200",
            ):
                body = fetch(server.url + path)[1]
                total += len(body)
                parts.append(f"{path or '/'} {len(body) / 1024:.1f}")
            rows.append(
                Row(
                    "web: page weight, first visit",
                    total / 1024,
                    "KB",
                    "< 300",
                    total < 300 * 1024,
                    "; ".join(parts) + " (KB, uncompressed)",
                )
            )
        finally:
            server.stop()
    return rows


CONFIG = """\
timezone = "Australia/Sydney"
poll_interval = 0.5
clock = "{clock}"
[storage]
path = "{db}"
[[ports]]
port = "{tty}"
spec = "cms"
"""


def cpu_per_poll(web: bool, window: int, warmup: int = 500) -> tuple[float, float, str]:
    """(ms per poll, readings/s, note) of a pv monitor polling back to back; with a live page when ``web``."""
    from tests.web.browser import find_chromium, start_browser

    pv = pv_command()
    assert pv is not None
    with tempfile.TemporaryDirectory(prefix="pv-bench-webcpu-") as tmp:
        tmpdir = Path(tmp)
        tty, db, cfg = tmpdir / "tty", tmpdir / "pv.sqlite", tmpdir / "pv.toml"
        sim_args = ["--awake", "always", "--speed", str(SPEED), "--start", "2026-12-21T05:00", "--tz", "+11:00"]
        with SimProcess(tty, *sim_args) as sim:
            cfg.write_text(CONFIG.format(db=db, tty=tty, clock=f"{sim.sim_now(SPEED).isoformat()}*{SPEED}"))
            env = child_env()
            flags = ["--web", "127.0.0.1:0"] if web else ["--no-web"]
            monitor = subprocess.Popen(
                [*pv, "-v", "--config", str(cfg), "monitor", "--display", "lines", *flags],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            browser = None
            found: list[str] = []

            def drain() -> None:  # keep reading, so the monitor can never block on a full pipe
                assert monitor.stderr is not None
                for line in monitor.stderr:
                    if "web page: " in line:
                        found.append(line.split("web page: ", 1)[1].strip())

            threading.Thread(target=drain, daemon=True).start()
            try:
                url = ""
                if web:
                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline and not found:
                        time.sleep(0.1)
                    url = found[0] if found else ""
                    binaries = find_chromium()
                    if binaries is None:
                        raise RuntimeError("chromium not installed")
                    browser = start_browser(binaries)
                    browser.get(url)
                start = time.monotonic()
                while stored(db) < warmup:
                    if time.monotonic() - start > 120 or monitor.poll() is not None:
                        raise RuntimeError("pv monitor stored no readings")
                    time.sleep(0.1)
                n0, c0, t0 = stored(db), cpu_seconds(monitor.pid), time.monotonic()
                while stored(db) < n0 + window:
                    time.sleep(0.05)
                n1, c1, t1 = stored(db), cpu_seconds(monitor.pid), time.monotonic()
                note = ""
                if browser is not None:
                    shown = browser.execute_script("return document.getElementById('status').textContent")
                    note = f"page open and live ({shown[:40]})"
                _ = sim
                return (c1 - c0) / (n1 - n0) * 1000, (n1 - n0) / (t1 - t0), note
            finally:
                if browser is not None:
                    browser.quit()
                monitor.terminate()
                try:
                    monitor.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    monitor.kill()


def cpu_rows(quick: bool) -> list[Row]:
    from tests.web.browser import find_chromium

    if pv_command() is None:
        return [pending("web: monitor CPU per poll, page open / without", "x", "<= 1.05", "pv monitor missing")]
    if find_chromium() is None:
        return [pending("web: monitor CPU per poll, page open / without", "x", "<= 1.05", "chromium not installed")]
    window = 3_000 if quick else 20_000
    # alternate, so a change in the machine's load hits both alike; best of the runs per kind
    without, with_page = [], []
    notes = ""
    for _ in range(1 if quick else 2):
        without.append(cpu_per_poll(False, window))
        with_page.append(cpu_per_poll(True, window))
        notes = with_page[-1][2]
    base = min(w[0] for w in without)
    page = min(w[0] for w in with_page)
    return [
        Row(
            "web: monitor CPU per poll without the page",
            base,
            "ms",
            "",
            None,
            f"{window:,} polls back to back, {without[0][1]:.0f} polls/s; --no-web; {load_average()}",
        ),
        Row(
            "web: monitor CPU per poll, page open and live",
            page,
            "ms",
            "",
            None,
            f"{window:,} polls, {with_page[0][1]:.0f} polls/s; {notes}",
        ),
        Row(
            "web: CPU per poll, page open / without",
            page / base,
            "x",
            "<= 1.05",
            page / base <= 1.05,
            "best of each kind" + ("" if quick else " over 2 alternating runs"),
        ),
    ]


def run(quick: bool) -> list[Row]:
    return api_rows(quick) + cpu_rows(quick)
