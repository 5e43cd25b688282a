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

from . import Row, SimProcess

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


def run(quick: bool) -> list[Row]:
    polls = 15 if quick else 60
    single, req, rep = _poll_times(1, polls)
    bus, _, _ = _poll_times(4, max(5, polls // 3))
    bound = (req + rep) * 10 / BAUD + LATENCY_MS / 1000
    one = statistics.median(single)
    four = statistics.median(bus)
    return [
        Row(
            "poll: one inverter, poll time / wire lower bound",
            one / bound,
            "x",
            "<= 1.05",
            one / bound <= 1.05,
            f"median {one * 1000:.1f} ms of {len(single)} polls vs bound {bound * 1000:.1f} ms"
            f" ({req}+{rep} bytes at {BAUD} baud + {LATENCY_MS} ms latency); pty + simulator process",
        ),
        Row(
            "poll: bus of 4, cycle / 4 single polls",
            four / (4 * one),
            "x",
            "<= 1.05",
            four / (4 * one) <= 1.05,
            f"median cycle {four * 1000:.1f} ms of {len(bus)}; {four / (4 * bound):.3f}x of 4 wire bounds",
        ),
    ]
