"""CPU per poll and memory (issue 7): the real ``pv monitor`` process, polling as fast as it can.

What runs: the simulator in its own process on a pseudo-terminal (one CMS
2000, always awake, no pacing and no latency, so polls come back to back), and
``pv monitor`` as a separate process with a configuration that stores every
reading in SQLite (the default ``synchronous = FULL``) and feeds the PVOutput
queue for one system (``--no-upload``: the queue fills, nothing is sent; an
upload every few minutes is noise next to a poll every few milliseconds).  Its
clock runs 1000x fast so that ``poll_interval`` (0.5 s, the configuration's
minimum) becomes 0.5 ms.

What is measured, from outside the monitor: its process CPU time (user +
system, /proc/PID/stat) and resident memory (VmRSS, /proc/PID/status), against
the readings it has stored (the highest readings.id in its database).  The
simulator runs at the same 1000x, its clock aligned with the monitor's, so simulated
days, E-Today resets and nights agree and the guards accept what they would accept
in the field (with mismatched clocks E-Today is refused as stale all day, which
makes storage scan the day's readings on every poll: see docs/performance.md).  CPU per
poll is taken over a window after start-up; memory after the first readings
("after start") and after the last.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

from . import Row, SimProcess, child_env, pending
from .bench_startup import pv_command

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} for pid {pid}")


def stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            row = con.execute("SELECT max(id) FROM readings").fetchone()
    except sqlite3.OperationalError:  # schema not created yet
        return 0
    return int(row[0] or 0)


SPEED = 1000
DEFAULT_CLOCK = f"2026-12-21T10:00+11:00*{SPEED}"

CONFIG = """\
timezone = "Australia/Sydney"
poll_interval = 0.5
clock = "{clock}"
[storage]
path = "{db}"
[pvoutput]
system_id = 1
host = "http://127.0.0.1:9"
[[ports]]
port = "{tty}"
spec = "cms"
"""


MILESTONES = (2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000)


def run(quick: bool) -> list[Row]:
    # PV_BENCH_MONITOR_POLLS overrides the length (the full million takes hours on a busy 2-core VM)
    total = int(os.environ.get("PV_BENCH_MONITOR_POLLS", 0)) or (50_000 if quick else 1_000_000)
    warmup = 500
    window = 5_000 if quick else 20_000
    pv = pv_command()
    if pv is None:
        why = "not yet available: pvapp.cli (pv monitor) has not landed"
        return [pending("monitor: CPU per poll", "ms", "< 2", why), pending("monitor: RSS", "MB", "< 60", why)]
    with tempfile.TemporaryDirectory(prefix="pv-bench-monitor-") as tmp:
        tmpdir = Path(tmp)
        tty, db = tmpdir / "tty", tmpdir / "pv.sqlite"
        cfg = tmpdir / "pv.toml"
        # The simulator runs on the monitor's time scale, from dawn, so days, E-Today resets and
        # nights agree between the two and the guards accept what they would accept in the field.
        sim_args = ["--awake", "always", "--speed", str(SPEED), "--start", "2026-12-21T05:00", "--tz", "+11:00"]
        with SimProcess(tty, *sim_args) as sim:
            cfg.write_text(CONFIG.format(db=db, tty=tty, clock=f"{sim.sim_now(SPEED).isoformat()}*{SPEED}"))
            env = child_env()
            env.pop("PV_PVOUTPUT_API_KEY", None)
            monitor = subprocess.Popen(
                [*pv, "--config", str(cfg), "monitor", "--display", "lines", "--no-upload"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
            )
            try:
                started = time.monotonic()

                def wait_for(count: int, limit: float) -> int:
                    while True:
                        n = stored(db)
                        if n >= count:
                            return n
                        if monitor.poll() is not None:
                            err = monitor.stderr.read().decode(errors="replace") if monitor.stderr else ""
                            raise RuntimeError(f"pv monitor exited {monitor.returncode}: {err.strip()[-300:]}")
                        if time.monotonic() - started > limit:
                            raise RuntimeError(f"only {n} readings stored after {limit:.0f} s (wanted {count})")
                        time.sleep(0.2)

                limit = 120 + total * 0.01
                n0 = wait_for(warmup, limit)
                sim_pid = sim.proc.pid if sim.proc else None
                first = (n0, rss_mb(monitor.pid), cpu_seconds(monitor.pid), cpu_seconds(sim_pid) if sim_pid else 0.0)
                t0 = time.monotonic()
                checkpoints = sorted(
                    {n0 + window, max(n0 + window, total - window), total} | {m for m in MILESTONES if n0 < m < total}
                )
                # (readings, RSS MB, monitor CPU s, simulator CPU s) at each checkpoint
                marks = [first]
                for count in checkpoints:
                    n = wait_for(count, limit)
                    sim_cpu = cpu_seconds(sim_pid) if sim_pid else 0.0
                    marks.append((n, rss_mb(monitor.pid), cpu_seconds(monitor.pid), sim_cpu))
                    if count == n0 + window:
                        t1 = time.monotonic()
                peak = rss_mb(monitor.pid, "VmHWM")
                elapsed = time.monotonic() - started
            finally:
                monitor.terminate()
                try:
                    monitor.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    monitor.kill()
                    monitor.wait()
        db_mb = db.stat().st_size / 1e6 if db.exists() else 0.0
    by_n = {m[0]: m for m in marks}

    def at(count: int) -> tuple[int, float, float, float]:
        return next(m for m in marks if m[0] >= count)

    start_mark, window_mark = marks[0], at(n0 + window)
    end_mark, before_end = marks[-1], at(max(n0 + window, total - window))
    n0, rss_start = start_mark[0], start_mark[1]
    n1, n2, n3 = window_mark[0], end_mark[0], before_end[0]
    rss_end = end_mark[1]
    per_poll = (window_mark[2] - start_mark[2]) / (n1 - n0)
    sim_per_poll = (window_mark[3] - start_mark[3]) / (n1 - n0)
    end_per_poll = (end_mark[2] - before_end[2]) / max(1, n2 - n3)
    rate = (n1 - n0) / (t1 - t0)
    growth = rss_end / rss_start - 1
    trajectory = [(n, mb) for n, mb, _, _ in sorted(by_n.values())]
    rows = [
        Row(
            "monitor: CPU per poll (pv monitor process)",
            per_poll * 1000,
            "ms",
            "< 2",
            per_poll * 1000 < 2,
            f"user+sys over polls {n0:,}..{n1:,} at {rate:.0f} polls/s; SQLite FULL sync + PVOutput queue;"
            f" simulator process: {sim_per_poll * 1000:.2f} ms/poll",
        ),
        Row(
            "monitor: CPU per poll at the end of the run",
            end_per_poll * 1000,
            "ms",
            "< 2",
            end_per_poll * 1000 < 2,
            f"polls {n3:,}..{n2:,}, with the database at its largest",
        ),
        Row("monitor: RSS after start", rss_start, "MB", "< 60", rss_start < 60, f"after {n0:,} readings"),
        Row(
            f"monitor: RSS after {n2:,} polls",
            rss_end,
            "MB",
            "< 60",
            rss_end < 60,
            f"peak {peak:.1f} MB; {elapsed:.0f} s; database {db_mb:.0f} MB",
        ),
        Row(
            "monitor: RSS growth start -> end",
            growth * 100,
            "%",
            "< 5",
            growth < 0.05,
            "RSS MB by readings stored: " + ", ".join(f"{n:,}: {mb:.1f}" for n, mb in trajectory),
        ),
    ]
    warm = [(n, mb) for n, mb in trajectory if n >= 10_000]
    if len(warm) >= 2:
        late = warm[-1][1] / warm[0][1] - 1
        rows.append(
            Row(
                f"monitor: RSS growth from {warm[0][0]:,} polls -> end (context)",
                late * 100,
                "%",
                "",
                None,
                "once SQLite's page cache (default cap 2 MiB per connection) has filled",
            )
        )
    return rows
