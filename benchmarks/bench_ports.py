"""Ports in parallel: a two-port, three-inverter monitor's poll cycle vs its slowest port alone.

    python -m benchmarks.bench_ports            # prints a table
    python -m benchmarks --only ports           # as part of the whole suite

Each line is a ``sim://`` bus with wire-like timing: replies paced at 9600 baud
(10 bits per byte) and an inverter reply latency of 60-110 ms (captured range,
REFERENCE section 6).  Port A carries two inverters, port B one.  The monitor's
real port threads, guards and SQLite storage are used, polling back to back
(``poll_interval`` 0), on the real clock.

Figures: the mean cycle time of each port polled alone, then both polled by
one monitor.  The combined cycle is measured from when the last port finished
cycle k-1 to when the last port finished cycle k, i.e. the time until every
inverter has been read once more.  Target: at most the slowest port's alone
cycle + 10 %.  Polled one after the other, it would be the sum of both.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

try:
    from . import Row
except ImportError:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import Row

from pvapp.clock import SystemClock
from pvapp.config import Config, InverterConfig, PortConfig, StorageConfig
from pvapp.monitor import poller as poller_mod
from pvapp.monitor.service import Monitor
from pvapp.storage import Storage

LINE = "sim://cms?awake=always&latency=60-110&baud_pacing=1&seed={seed}&inverters={n}"
PORTS = {"A": (2, 1), "B": (1, 2)}  # name -> (inverters, seed)


def _config(names: list[str], db: Path) -> Config:
    from zoneinfo import ZoneInfo

    ports = tuple(
        PortConfig(
            port=LINE.format(seed=PORTS[n][1], n=PORTS[n][0]),
            spec="cms",
            inverters=tuple(InverterConfig(spec="cms", serial=None, pvoutput_system=None) for _ in range(PORTS[n][0])),
            timeout=1.0,
            key=f"ports[{n}]",
        )
        for n in names
    )
    return Config(
        ports=ports,
        storage=StorageConfig(path=db, synchronous="FULL"),
        timezone=ZoneInfo("UTC"),
        timezone_name="UTC",
        poll_interval=0.0,
        asleep_after=300,
    )


def _measure(names: list[str], cycles: int) -> dict[str, Any]:
    """Run a monitor on the named ports until each did ``cycles`` full cycles after the handshake."""
    ends: dict[str, list[float]] = {n: [] for n in names}
    original = poller_mod.PortPoller.poll_cycle
    lock = threading.Lock()

    def timed(self: poller_mod.PortPoller) -> None:
        original(self)
        if all(s.registered for s in self.slots):
            with lock:
                ends[self.cfg.key[6:-1]].append(time.perf_counter())

    poller_mod.PortPoller.poll_cycle = timed  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = _config(names, Path(tmp) / "bench.sqlite")
            storage = Storage(cfg.storage.path, synchronous="FULL")
            monitor = Monitor(cfg, clock=SystemClock(), storage=storage)
            monitor.start()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and min(len(v) for v in ends.values()) < cycles + 2:
                time.sleep(0.05)
            monitor.request_stop()
            monitor.shutdown()
            stored = monitor.readings_stored
            storage.close()
    finally:
        poller_mod.PortPoller.poll_cycle = original  # type: ignore[method-assign]
    per_port = {n: statistics.mean(b - a for a, b in itertools.pairwise(v[1:])) for n, v in ends.items()}
    n = min(len(v) for v in ends.values())
    combined_ends = [max(ends[p][k] for p in names) for k in range(1, n)]
    combined = statistics.mean(b - a for a, b in itertools.pairwise(combined_ends))
    return {"per_port": per_port, "combined": combined, "stored": stored}


def run(quick: bool = False) -> list[Row]:
    cycles = 8 if quick else 25
    alone = {n: _measure([n], cycles)["per_port"][n] for n in PORTS}
    both = _measure(list(PORTS), cycles)
    slowest = max(alone.values())
    ratio = both["combined"] / slowest
    return [
        Row(
            "port A alone (2 inverters), cycle",
            alone["A"] * 1000,
            "ms",
            "",
            None,
            "9600 baud pacing, 60-110 ms latency",
        ),
        Row("port B alone (1 inverter), cycle", alone["B"] * 1000, "ms", "", None, ""),
        Row(
            "A + B one after the other (reference)", (alone["A"] + alone["B"]) * 1000, "ms", "", None, "sum of the two"
        ),
        Row("A and B in parallel, cycle", both["combined"] * 1000, "ms", "", None, "all 3 inverters read once more"),
        Row("parallel cycle / slowest port alone", ratio, "x", "<= 1.10", ratio <= 1.10, f"{cycles} cycles each"),
    ]


def main() -> int:
    rows = run(quick="--quick" in sys.argv)
    width = max(len(r.name) for r in rows)
    print(f"{'figure':<{width}}  {'value':>10}  {'target':<8}  note")
    for r in rows:
        value = "-" if r.value is None else f"{r.value:.3f} {r.unit}" if r.unit == "x" else f"{r.value:.1f} {r.unit}"
        verdict = "" if r.ok is None else (" met" if r.ok else " MISSED")
        print(f"{r.name:<{width}}  {value:>10}  {r.target + verdict:<8}  {r.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
