"""Poll cycle vs wire time (issue 7): how close a status poll gets to the line's physical limit.

The simulator runs in its own process on a pseudo-terminal with baud pacing
(10 bits per byte at 9600 baud, for the request reaching the inverter as well
as for the reply) and a fixed reply latency, the captured 60-110 ms being
represented by 80 ms.  The client opens the pty with pyserial, exactly as it
opens a USB adapter, handshakes, fetches the layout once, then times full
status polls (request written, reply read, checksum verified, decoded into
``Status``).  The lower bound is (request + reply bytes) x 10 / 9600 + latency:
anything above it is overhead of the client, the pty and the scheduler.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from . import Row, SimProcess, child_env

LATENCY_MS = 80
BAUD = 9600


def _poll_times(inverters: int, polls: int) -> tuple[list[float], int, int]:
    """Per-cycle wall times polling every inverter once; returns (times, request bytes, reply bytes)."""
    import pv.cms as cms
    import serial

    with tempfile.TemporaryDirectory(prefix="pv-bench-poll-") as tmp:
        link = Path(tmp) / "tty"
        sim_args = ["--baud-pacing", "--baud", str(BAUD), "--latency", str(LATENCY_MS), "--awake", "always"]
        with SimProcess(link, *sim_args, "--inverters", str(inverters), "--duration", "900"):
            port = serial.Serial(str(link), BAUD, timeout=2)
            try:
                first = cms.Inverter(port)
                first.handshake(1)
                invs = [first]
                for address in range(2, inverters + 1):
                    inv = cms.Inverter(port)
                    sn = inv.discover()
                    if sn is None or not inv.register(sn, address):
                        raise RuntimeError(f"inverter {address} of {inverters} did not register")
                    invs.append(inv)
                layout = first.read_status_layout()
                for inv in invs:
                    inv.read_status(layout)  # warm-up: decoding plan compiled, caches filled
                times: list[float] = []
                for _ in range(polls):
                    start = time.perf_counter()
                    for inv in invs:
                        inv.read_status(layout)
                    times.append(time.perf_counter() - start)
                status = cms.SPEC.command("status")
                request = cms.CODEC.build(status.control, status.function, src=cms.SPEC.frame.host_address, dst=1)
                return times, len(request), len(first.last_frame)
            finally:
                port.close()


def _monitor_cycle(polls: int) -> float | None:
    """Mean seconds per reading of the real ``pv monitor`` polling back to back over the paced pty.

    Its clock runs 1000x fast so the 0.5 s minimum poll interval is 0.5 ms: the
    cycle is poll + guards + SQLite (FULL sync) + PVOutput queue, nothing else.
    """
    import subprocess

    from .bench_cpu_memory import CONFIG, DEFAULT_CLOCK, stored
    from .bench_startup import pv_command

    pv = pv_command()
    if pv is None:
        return None
    with tempfile.TemporaryDirectory(prefix="pv-bench-poll-monitor-") as tmp:
        tmpdir = Path(tmp)
        tty, db, cfg = tmpdir / "tty", tmpdir / "pv.sqlite", tmpdir / "pv.toml"
        cfg.write_text(CONFIG.format(db=db, tty=tty, clock=DEFAULT_CLOCK))
        sim_args = ["--baud-pacing", "--baud", str(BAUD), "--latency", str(LATENCY_MS), "--awake", "always"]
        with SimProcess(tty, *sim_args, "--duration", "900"):
            monitor = subprocess.Popen(
                [*pv, "--config", str(cfg), "monitor", "--display", "lines", "--no-upload"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=child_env(),
            )
            try:
                deadline = time.monotonic() + 60 + polls
                while stored(db) < 3:  # handshake, version, layout and first readings done
                    if monitor.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("pv monitor did not start storing readings")
                    time.sleep(0.05)
                n0, t0 = stored(db), time.monotonic()
                while stored(db) < n0 + polls:
                    if monitor.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("pv monitor stopped storing readings")
                    time.sleep(0.02)
                n1, t1 = stored(db), time.monotonic()
            finally:
                monitor.terminate()
                monitor.wait(timeout=20)
    return (t1 - t0) / (n1 - n0)


def run(quick: bool) -> list[Row]:
    polls = 15 if quick else 60
    single, req, rep = _poll_times(1, polls)
    bus, _, _ = _poll_times(4, max(5, polls // 3))
    import pv.cms as cms

    bound = (req + rep) * 10 / BAUD + LATENCY_MS / 1000
    # Polled back to back, each command first waits the spec's command_delay (the pause the
    # protocol needs between commands): part of the lower bound for the client's polls.  The
    # monitor's pause is scaled by its 1000x clock, so its bound stays the wire's.
    pause = cms.SPEC.transport.command_delay
    client_bound = bound + pause
    one = statistics.median(single)
    four = statistics.median(bus)
    cycle = _monitor_cycle(20 if quick else 60)
    return [
        Row(
            "poll: one inverter, poll time / wire lower bound",
            one / client_bound,
            "x",
            "<= 1.05",
            one / client_bound <= 1.05,
            f"median {one * 1000:.1f} ms of {len(single)} polls vs bound {client_bound * 1000:.1f} ms"
            f" ({req}+{rep} bytes at {BAUD} baud + {LATENCY_MS} ms latency + the spec's {pause * 1000:.0f} ms"
            " pause before each command); pty + simulator process",
        ),
        Row(
            "poll: bus of 4, cycle / 4 single polls",
            four / (4 * one),
            "x",
            "<= 1.05",
            four / (4 * one) <= 1.05,
            f"median cycle {four * 1000:.1f} ms of {len(bus)}; {four / (4 * client_bound):.3f}x of 4 bounds",
        ),
        Row(
            "poll: pv monitor (guards, SQLite, queue), cycle / wire bound",
            None if cycle is None else cycle / bound,
            "x",
            "<= 1.05",
            None if cycle is None else cycle / bound <= 1.05,
            "not yet available: no pv command"
            if cycle is None
            else f"mean {cycle * 1000:.1f} ms per reading, polling back to back over the same paced pty",
        ),
    ]
