"""Endurance run: weeks of simulated time through `pv monitor`, with everything going wrong.

    python -m benchmarks.endurance                       # 30 simulated days (about 15 minutes)
    python -m benchmarks.endurance --days 1 --speed 4000 --kills 2
    python -m benchmarks.endurance --json result.json

One `pv monitor` process (restarted after every SIGKILL) polls two lines:

* a pseudo-terminal (behind a stable symlink) with a bus of two simulated CMS 2000
  inverters, aggregated into one PVOutput system;
* a serial-over-TCP bridge (``socket://``) with one more inverter, its own system.

Both simulators live in this process on the clock the monitor is given
(``--clock START*SPEED@ANCHOR``), so simulated time is one timeline for every
party, and keep running across monitor restarts, as real inverters do when the
computer next to them crashes.  The local PVOutput service (real HTTP on
loopback) runs here too.  A seeded schedule then throws at it: line faults on
every reply (drop, corrupt, truncate, garbage, split), nights, USB unplugs
(the pty and the TCP bridge vanish and come back), inverter fault mode and
wild E-Total words, PVOutput outages (dropped connections and 503s), another
app using up the hourly quota, and SIGKILLs of the monitor at random moments.

At the end the monitor is stopped with SIGTERM, a last ``pv upload`` sends the
slots that closed meanwhile, and three comparisons are made:

(a) readings: every status the simulators served (their JSONL record) against
    the SQLite ``readings`` (matched by inverter and exact reply frame);
(b) uploads: the PVOutput service's stored statuses against every status slot
    that had readings, and every row PVOutput refused against later requests;
(c) lifetime counters: E-Total and h-Total as stored (accepted) and as
    published on the console, and the energy published to PVOutput.

What "lost" means when the monitor is killed: the poller of a line is strictly
sequential (request, reply, guard, commit, next request), so at the instant of
a SIGKILL (or an unplug) at most one reply per line can be between "served by
the simulator" and "committed".  A served reading that is missing from the
database is counted as *cut off by an interruption*, not lost, only when it is
the first reading served on its line after that line's last committed reading
before the interruption, and was served no later than the interruption (plus
a small allowance for a request already on the wire).  Every other missing
reading is lost.  Target: 0 lost, 0 duplicated, 0 decreases.
"""

from __future__ import annotations

import argparse
import bisect
import heapq
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
TZ_NAME = "Australia/Brisbane"  # no daylight saving; the local PVOutput service's default zone
TZ = ZoneInfo(TZ_NAME)
LATITUDE = -27.47
API_KEY = "endurance-key-0123456789abcdef"
SYSTEM_BUS = 501  # the two inverters on the pty bus, aggregated (or the first of them)
SYSTEM_SINGLE = 502  # the inverter on the second line
SYSTEM_BUS_SECOND = 503  # the second bus inverter when not aggregated
SERIALS_BUS = ("END0000001", "END0000002")
SERIALS_SINGLE = ("END0000003",)
SLOT_MINUTES = 5  # the service's status interval for both systems
LINE_FAULT_RATES = {"drop": 0.02, "corrupt": 0.015, "truncate": 0.01, "garbage": 0.03, "split": 0.02}


@dataclass
class Options:
    days: float = 30.0
    speed: float = 3000.0
    seed: int = 1
    kills: int = 60
    start: datetime = datetime(2026, 1, 5, 3, 0, tzinfo=TZ)
    poll_interval: float = 300.0  # simulated seconds between poll cycles
    timeout: float = 0.3  # real seconds the monitor waits for a reply (900 simulated seconds at 3000x)
    asleep_after: float = 3600.0  # simulated; well above one reply timeout at high speed, or noise looks like night
    aggregate: bool = True  # the two bus inverters feed one PVOutput system (False: one system each)
    second_line: str = "tcp"  # "tcp": the single inverter behind a socket:// bridge; "pty": a second pty
    upload_interval: float = 300.0  # simulated seconds between upload rounds
    rate_reserve: int = 20  # of PVOutput's 60 requests an hour: a tight budget
    outages: int | None = None  # PVOutput outages; default one per 3 days (at least one)
    outage_hours: tuple[float, float] = (1.0, 8.0)  # each outage lasts this many simulated hours (uniform)
    quota_burns: int | None = None  # hours whose quota another app uses up; default one per 2 days
    unplugs: int | None = None  # per line; default one per 5 days (at least one)
    device_faults: int | None = None  # fault-mode / wild E-Total episodes; default one per 4 days
    synchronous: str = "FULL"
    workdir: Path | None = None  # keep the run's files here (default: a temporary directory, removed)
    quiet: bool = False


@dataclass
class Life:
    """One run of the monitor process, from start to its end (SIGKILL, SIGTERM or an exit of its own)."""

    number: int
    started_sim: str
    ended_sim: str = ""
    end: str = ""  # "kill", "term", "exited"
    returncode: int | None = None


@dataclass
class Result:
    """Every figure of the run; ``rows()`` gives the table."""

    options: dict[str, Any] = field(default_factory=dict)
    real_seconds: float = 0.0
    simulated_days: float = 0.0
    lives: int = 0
    kills: int = 0
    unplugs: int = 0
    outages: int = 0
    quota_burns: int = 0
    device_faults: int = 0
    served: int = 0
    served_spoiled: int = 0  # replies a line fault kept from the monitor (drop/corrupt/truncate)
    served_usable: int = 0
    stored: int = 0
    readings_lost: int = 0
    readings_cut_off: int = 0  # served, never committed, at the instant of a kill or unplug
    readings_cut_off_by_kill: int = 0
    readings_duplicated: int = 0
    readings_phantom: int = 0  # stored but never served
    refused_values: int = 0  # stored readings with a value the guards refused
    slots_expected: int = 0
    uploads_on_pvoutput: int = 0
    uploads_lost: int = 0
    uploads_duplicated: int = 0
    uploads_refused: int = 0  # rows PVOutput refused with a reason of its own (kept, not lost)
    uploads_expired: int = 0  # rows the uploader gave up as older than the 14-day window
    uploads_pending_at_end: int = 0
    uploads_mismatched: int = 0  # on PVOutput with values other than the queue's
    uploads_unexpected: int = 0  # on PVOutput without readings behind them
    refused_400: int = 0  # HTTP 400 replies received
    refused_rows_retried: int = 0  # rows PVOutput refused on their own that were sent again
    requests: int = 0
    rate_limited: int = 0  # 403 replies
    outage_failures: int = 0  # requests that met a scripted outage
    e_total_decreases_stored: int = 0
    h_total_decreases_stored: int = 0
    e_total_decreases_published: int = 0
    h_total_decreases_published: int = 0
    energy_decreases_pvoutput: int = 0
    tracebacks: int = 0
    unexpected_exits: int = 0
    details: dict[str, Any] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, int | str, str]]:
        """(figure, value, target) for the table; target "" means informational."""
        return [
            ("statuses served by the simulators", self.served, ""),
            ("  spoiled on the line (drop/corrupt/truncate)", self.served_spoiled, ""),
            ("readings stored", self.stored, ""),
            ("readings lost (served intact, never stored)", self.readings_lost, "0"),
            (
                "readings cut off by a kill/unplug (uncommitted)",
                self.readings_cut_off,
                f"<= {self.kills + self.unplugs}",
            ),
            ("readings duplicated", self.readings_duplicated, "0"),
            ("readings stored but never served", self.readings_phantom, "0"),
            ("PVOutput slots with readings", self.slots_expected, ""),
            ("  on PVOutput", self.uploads_on_pvoutput, ""),
            ("  refused by PVOutput (its reason kept)", self.uploads_refused, ""),
            ("uploads lost", self.uploads_lost, "0"),
            ("uploads expired (older than the 14-day window)", self.uploads_expired, "0"),
            ("uploads still pending at the end", self.uploads_pending_at_end, "0"),
            ("uploads duplicated (row accepted twice)", self.uploads_duplicated, "0"),
            ("uploads with values other than queued", self.uploads_mismatched, "0"),
            ("uploads without readings behind them", self.uploads_unexpected, "0"),
            ("PVOutput 400 replies", self.refused_400, ""),
            ("refused rows sent again (400 retried)", self.refused_rows_retried, "0"),
            (
                "PVOutput requests / 403 rate-limited / failed in outages",
                f"{self.requests} / {self.rate_limited} / {self.outage_failures}",
                "",
            ),
            ("E-Total below an earlier value, stored (accepted)", self.e_total_decreases_stored, "0"),
            ("h-Total below an earlier value, stored (accepted)", self.h_total_decreases_stored, "0"),
            ("E-Total below an earlier value, published (console)", self.e_total_decreases_published, "0"),
            ("h-Total below an earlier value, published (console)", self.h_total_decreases_published, "0"),
            ("energy (v1) below an earlier value of its day, PVOutput", self.energy_decreases_pvoutput, "0"),
            ("tracebacks in the monitor's log", self.tracebacks, "0"),
            ("monitor exits nobody asked for", self.unexpected_exits, "0"),
        ]

    @property
    def ok(self) -> bool:
        return (
            self.readings_lost == 0
            and self.readings_duplicated == 0
            and self.readings_phantom == 0
            and self.readings_cut_off <= self.kills + self.unplugs
            and self.uploads_lost == 0
            and self.uploads_expired == 0
            and self.uploads_pending_at_end == 0
            and self.uploads_duplicated == 0
            and self.uploads_mismatched == 0
            and self.uploads_unexpected == 0
            and self.refused_rows_retried == 0
            and self.e_total_decreases_stored == 0
            and self.h_total_decreases_stored == 0
            and self.e_total_decreases_published == 0
            and self.h_total_decreases_published == 0
            and self.energy_decreases_pvoutput == 0
            and self.tracebacks == 0
            and self.unexpected_exits == 0
        )


# -- the schedule ----------------------------------------------------------------------------


@dataclass(order=True)
class Event:
    when: datetime
    seq: int
    kind: str = field(compare=False)
    arg: Any = field(compare=False, default=None)


def make_schedule(opts: Options, end: datetime, rng: random.Random) -> list[Event]:
    """The seeded plan of trouble: kills, unplugs, PVOutput outages, quota burns, device faults."""
    span = (end - opts.start).total_seconds()
    per_day = max(opts.days, 1.0)
    events: list[Event] = []
    seq = iter(range(10**9))

    def at(fraction_low: float, fraction_high: float) -> datetime:
        return opts.start + timedelta(seconds=span * rng.uniform(fraction_low, fraction_high))

    def daytime(lo_hour: int = 8, hi_hour: int = 16) -> datetime:
        """A random moment of daylight (trouble at night tests little)."""
        day = rng.randrange(max(1, round(opts.days)))
        base = (opts.start + timedelta(days=day)).replace(hour=0, minute=0, second=0, microsecond=0)
        t = base + timedelta(seconds=rng.uniform(lo_hour * 3600, hi_hour * 3600))
        return min(max(t, opts.start + timedelta(minutes=30)), end - timedelta(hours=1))

    for _ in range(opts.kills):
        # half the kills in daylight (polling and uploading), the rest anywhere
        events.append(Event(daytime(6, 19) if rng.random() < 0.5 else at(0.01, 0.97), next(seq), "kill"))
    unplugs = opts.unplugs if opts.unplugs is not None else max(1, round(per_day / 5))
    for line in ("bus", "single"):
        for _ in range(unplugs):
            # gone for 0.1-1 real seconds: minutes to an hour of simulated time at high speed
            events.append(Event(daytime(), next(seq), "unplug", (line, rng.uniform(0.1, 1.0))))
    outages = opts.outages if opts.outages is not None else max(1, round(per_day / 3))
    for _ in range(outages):
        start = daytime(7, 15)
        hours = rng.uniform(*opts.outage_hours)
        kind = rng.choice(["drop", "http"])
        events.append(Event(start, next(seq), "outage", (kind, hours)))
    burns = opts.quota_burns if opts.quota_burns is not None else max(1, round(per_day / 2))
    for _ in range(burns):
        events.append(Event(daytime(7, 18), next(seq), "quota"))
    device = opts.device_faults if opts.device_faults is not None else max(1, round(per_day / 4))
    for _ in range(device):
        line = rng.choice(["bus", "single"])
        kind = rng.choice(["error", "wild_sentinel", "wild_high"])
        events.append(Event(daytime(), next(seq), "device", (line, kind, rng.uniform(10, 60))))
    return sorted(events)


# -- running ---------------------------------------------------------------------------------


def pv_env(service_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PV_")}
    env.update(PYTHONUNBUFFERED="1", PV_PVOUTPUT_API_KEY=API_KEY, PV_PVOUTPUT_HOST=service_url)
    env["PV_WEB"] = "127.0.0.1:0"  # the monitor's page on an ephemeral port, never a fixed one
    return env


def systems_of(opts: Options) -> dict[str, int]:
    """Serial -> PVOutput system for this run."""
    out = {SERIALS_BUS[0]: SYSTEM_BUS, SERIALS_BUS[1]: SYSTEM_BUS if opts.aggregate else SYSTEM_BUS_SECOND}
    out[SERIALS_SINGLE[0]] = SYSTEM_SINGLE
    return out


def write_config(path: Path, opts: Options, db: Path, bus_port: str, single_port: str) -> None:
    systems = systems_of(opts)
    bus = "\n".join(
        f"""
          [[ports.inverters]]
          serial = "{sn}"
          pvoutput_system = {systems[sn]}"""
        for sn in SERIALS_BUS
    )
    path.write_text(
        textwrap.dedent(
            f"""
            timezone = "{TZ_NAME}"
            poll_interval = {opts.poll_interval:g}
            asleep_after = {opts.asleep_after:g}

            [storage]
            path = "{db}"
            synchronous = "{opts.synchronous}"

            [pvoutput]
            upload_interval = {opts.upload_interval:g}
            rate_reserve = {opts.rate_reserve}

            [[ports]]
            port = "{bus_port}"
            spec = "cms"
            timeout = {opts.timeout:g}
            """
        )
        + bus
        + textwrap.dedent(
            f"""

            [[ports]]
            port = "{single_port}"
            spec = "cms"
            timeout = {opts.timeout:g}
              [[ports.inverters]]
              serial = "{SERIALS_SINGLE[0]}"
              pvoutput_system = {SYSTEM_SINGLE}
            """
        ),
        encoding="utf-8",
    )


class Harness:
    """Owns every process and server of one run; ``run()`` returns the raw material for ``analyse``."""

    def __init__(self, opts: Options, work: Path) -> None:
        from pvapp.clock import ScaledClock

        self.opts = opts
        self.work = work
        self.rng = random.Random(opts.seed)
        self.end = opts.start + timedelta(days=opts.days)
        # anchored a moment ahead so that setting up does not eat simulated time before the start
        self.clock = ScaledClock(opts.start, opts.speed, anchor=time.time() + 1.0)
        self.lives: list[Life] = []
        self.interruptions: list[Interruption] = []
        self.counts: Counter[str] = Counter()
        self.db = work / "pv.sqlite"
        self.cfg = work / "pv.toml"
        self.stdout_path = work / "monitor.out"
        self.stderr_path = work / "monitor.err"
        self.records = {"bus": work / "sim-bus.jsonl", "single": work / "sim-single.jsonl"}
        self.systems = systems_of(opts)
        self.proc: subprocess.Popen[bytes] | None = None
        self.service: Any = None

    def log(self, text: str) -> None:
        if not self.opts.quiet:
            now = self.clock.now().astimezone(TZ).strftime("%m-%d %H:%M")
            print(f"[{now}] {text}", file=sys.stderr, flush=True)

    # -- the monitor process --------------------------------------------------------------

    def start_monitor(self) -> None:
        assert self.service is not None
        cmd = [
            sys.executable, "-m", "pvapp.cli", "--config", str(self.cfg),
            "monitor", "--clock", self.clock.spec(), "--display", "lines",
        ]  # fmt: skip
        now = self.clock.now()
        for it in self.interruptions:
            if it.kind in ("kill", "exit") and it.until is None:
                it.until = now  # from here on a reply may answer the new process
        life = Life(number=len(self.lives) + 1, started_sim=now.isoformat())
        self.lives.append(life)
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            err.write(f"=== life {life.number} started {life.started_sim}\n".encode())
            err.flush()
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=pv_env(self.service.url), stdout=out, stderr=err)

    def end_life(self, kind: str) -> None:
        assert self.proc is not None
        life = self.lives[-1]
        if kind == "kill":
            life.ended_sim = self.clock.now().isoformat()
            os.kill(self.proc.pid, signal.SIGKILL)
            life.returncode = self.proc.wait(timeout=30)
            for line in ("bus", "single"):
                self.interruptions.append(Interruption(line, datetime.fromisoformat(life.ended_sim), "kill"))
        elif kind == "term":
            life.ended_sim = self.clock.now().isoformat()
            self.proc.send_signal(signal.SIGTERM)
            try:
                life.returncode = self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                life.returncode = self.proc.wait(timeout=10)
                kind = "term-timeout"
            if life.returncode != 0:
                self.counts["unexpected_exits"] += 1  # SIGTERM must stop it cleanly, with status 0
        life.end = kind
        self.proc = None

    def check_alive(self) -> None:
        """A monitor that exits on its own is a finding; note it and start another."""
        if self.proc is not None and self.proc.poll() is not None:
            life = self.lives[-1]
            life.ended_sim, life.end, life.returncode = self.clock.now().isoformat(), "exited", self.proc.returncode
            self.counts["unexpected_exits"] += 1
            self.log(f"monitor exited on its own with status {self.proc.returncode}; restarting")
            for line in ("bus", "single"):
                self.interruptions.append(Interruption(line, self.clock.now(), "exit"))
            self.proc = None
            self.start_monitor()

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        from pvapp.pvoutput_service.service import Fault, PVOutputService
        from pvapp.sim.options import SimOptions
        from pvapp.sim.servers import PtyServer, TcpServer
        from pvapp.sim.simulator import Simulator

        opts = self.opts
        real_start = time.monotonic()
        with ExitStack() as stack:
            # every request is audited at the end: keep them all (a month is some 10^4)
            self.service = PVOutputService(clock=lambda: self.clock.now().timestamp(), keep_requests=None)
            system_ids = sorted(set(self.systems.values()))
            for sid in system_ids:
                self.service.add_system(sid, tz=TZ_NAME, latitude=LATITUDE, longitude=153.03, size=5000)
            self.service.add_key(API_KEY, *system_ids)
            self.service.start()
            stack.callback(self.service.stop)
            sims = {
                "bus": Simulator(
                    "cms",
                    SimOptions(spec="cms", inverters=2, serials=SERIALS_BUS, latitude=LATITUDE, seed=opts.seed,
                               e_total=1200.0, record=str(self.records["bus"])),
                    clock=self.clock,
                ),
                "single": Simulator(
                    "cms",
                    SimOptions(spec="cms", inverters=1, serials=SERIALS_SINGLE, latitude=LATITUDE, seed=opts.seed + 1,
                               e_total=3400.0, h_total=9000.0, record=str(self.records["single"])),
                    clock=self.clock,
                ),
            }  # fmt: skip
            for sim in sims.values():
                for kind, p in LINE_FAULT_RATES.items():
                    sim.faults.set_rate(kind, p)
            pty_link = self.work / "ttyPV"
            pty = PtyServer(sims["bus"], link=pty_link)
            pty.start()
            stack.callback(pty.stop)
            second: PtyServer | TcpServer
            if opts.second_line == "tcp":
                second = TcpServer(sims["single"], 0)
                single_port = f"socket://127.0.0.1:{second.port}"
            else:
                second = PtyServer(sims["single"], link=self.work / "ttyPV2")
                single_port = str(self.work / "ttyPV2")
            second.start()
            stack.callback(second.stop)
            write_config(self.cfg, opts, self.db, str(pty_link), single_port)

            queue = make_schedule(opts, self.end, self.rng)
            heapq.heapify(queue)
            seq = iter(range(10**6, 10**9))
            outage_faults: list[Any] = []
            while self.clock.now() < opts.start:
                time.sleep(0.01)
            self.log(f"{opts.days:g} simulated days at {opts.speed:g}x; work directory {self.work}")
            self.start_monitor()
            last_note = time.monotonic()
            while True:
                now = self.clock.now()
                if now >= self.end:
                    break
                if queue and queue[0].when <= now:
                    ev = heapq.heappop(queue)
                    if ev.kind == "kill":
                        self.counts["kills"] += 1
                        self.end_life("kill")
                        time.sleep(self.rng.uniform(0.02, 0.4))  # the computer reboots; the inverters go on
                        self.start_monitor()
                    elif ev.kind == "unplug":
                        line, real_for = ev.arg
                        self.counts["unplugs"] += 1
                        self.interruptions.append(Interruption(line, now, "unplug"))
                        sims[line].faults.vanish()
                        heapq.heappush(
                            queue, Event(now + timedelta(seconds=real_for * opts.speed), next(seq), "replug", line)
                        )
                    elif ev.kind == "replug":
                        sims[ev.arg].faults.restore()
                        for it in self.interruptions:
                            if it.line == ev.arg and it.kind == "unplug" and it.until is None:
                                it.until = now
                    elif ev.kind == "outage":
                        kind, hours = ev.arg
                        self.counts["outages"] += 1
                        fault = Fault(kind=kind, status=503, times=10**9)
                        self.service.inject(fault)
                        outage_faults.append(fault)
                        heapq.heappush(queue, Event(now + timedelta(hours=hours), next(seq), "outage_end", fault))
                    elif ev.kind == "outage_end":
                        ev.arg.times = 0
                    elif ev.kind == "quota":
                        self.counts["quota_burns"] += 1
                        self.service.consume(API_KEY, 60)  # another app on the key uses up the hour
                    elif ev.kind == "device":
                        line, kind, minutes = ev.arg
                        self.counts["device_faults"] += 1
                        inv = self.rng.choice(sims[line].inverters)
                        if kind == "error":
                            inv.set_error(0x200)  # No-Utility: mode Fault, Pac 0
                        else:
                            inv.set_wild("e_total", None if kind == "wild_sentinel" else 0x7FFFFFFF)
                        heapq.heappush(queue, Event(now + timedelta(minutes=minutes), next(seq), "device_end", inv))
                    elif ev.kind == "device_end":
                        ev.arg.set_error(0)
                        ev.arg.clear_wild()
                    continue
                self.check_alive()
                if time.monotonic() - last_note > 30:
                    last_note = time.monotonic()
                    self.log(f"running: {len(self.lives)} monitor lives so far")
                wait = (queue[0].when - now).total_seconds() / opts.speed if queue else 0.05
                time.sleep(min(0.05, max(0.0, wait)))
            self.check_alive()
            self.end_life("term")
            for fault in outage_faults:
                fault.times = 0
            self.log("stopped the monitor; last uploads")
            uploads = self.final_upload()
            for sim in sims.values():
                sim.close()
            statuses = {sid: self.service.statuses(sid) for sid in system_ids}
            requests = list(self.service.requests)
        return {
            "real_seconds": time.monotonic() - real_start,
            "statuses": statuses,
            "requests": requests,
            "final_uploads": uploads,
        }

    def final_upload(self) -> list[str]:
        """`pv upload` until nothing closed is pending (waiting out a used-up quota, as a user would)."""
        from pvapp.storage import Storage

        assert self.service is not None
        outputs = []
        for _attempt in range(8):
            cmd = [
                sys.executable,
                "-m",
                "pvapp.cli",
                "--config",
                str(self.cfg),
                "upload",
                "--clock",
                self.clock.spec(),
                "--json",
            ]
            done = subprocess.run(
                cmd, cwd=REPO, env=pv_env(self.service.url), capture_output=True, text=True, timeout=120, check=False
            )
            outputs.append(done.stdout.strip() + done.stderr.strip())
            db = Storage(self.db, synchronous="NORMAL")
            try:
                pending = db.queue(status="pending") + db.queue(status="sending")
            finally:
                db.close()
            if not pending:
                break
            time.sleep(3600 / self.opts.speed + 0.2)  # the next quota hour
        return outputs


# -- the comparisons -------------------------------------------------------------------------


def _line_of(serial: str) -> str:
    return "bus" if serial in SERIALS_BUS else "single"


def _slot_key(t: datetime) -> tuple[str, str]:
    local = t.astimezone(TZ)
    return local.strftime("%Y%m%d"), f"{local.hour:02d}:{local.minute - local.minute % SLOT_MINUTES:02d}"


def _system_header(req: Any) -> int | None:
    for k, v in req.headers.items():
        if k.lower() == "x-pvoutput-systemid":
            return int(v)
    sid = req.params.get("sid")
    return int(sid) if sid else None


def _rows_of(req: Any) -> list[tuple[str, str]]:
    if req.path.endswith("addbatchstatus.jsp"):
        return [tuple(r.split(",")[:2]) for r in req.params.get("data", "").split(";") if r]
    if req.path.endswith("addstatus.jsp"):
        return [(req.params.get("d", ""), req.params.get("t", ""))]
    return []


def _decreases(values: Iterator[float | None]) -> tuple[int, list[tuple[float, float]]]:
    """How many values are below the highest earlier one (a counter published lower than before)."""
    last: float | None = None
    n, examples = 0, list[tuple[float, float]]()
    for v in values:
        if v is None:
            continue
        if last is not None and v < last - 1e-9:
            n += 1
            if len(examples) < 5:
                examples.append((last, v))
        last = v if last is None else max(last, v)
    return n, examples


PUBLISHED = re.compile(r"^\S+ \S+\s+(?P<serial>\S+)\s+.*?E-Total (?P<et>[-\d.]+)(?: kWh)?\s.*?h-Total (?P<ht>[-\d.]+)")


@dataclass
class Interruption:
    """A moment a line's poller could be cut off mid-poll: SIGKILL, an exit, or the device unplugged.

    ``until`` is when that line could next be served by a *new* poll: the next
    monitor's start after a kill, the replug after an unplug.  A reply served
    in between can only answer a request the interrupted poller had sent.
    """

    line: str
    when: datetime
    kind: str
    until: datetime | None = None


def classify_missing(
    missing: list[tuple[str, datetime]],
    served: dict[str, list[datetime]],
    commits: dict[str, list[datetime]],
    interruptions: list[Interruption],
) -> dict[int, str]:
    """Which missing readings were cut off by an interruption rather than lost: index -> kind.

    ``missing`` are (line, served time) of intact replies not in the database,
    ``served`` the times of every intact reply per line, ``commits`` the times
    of the stored readings per line.  A line is polled strictly in sequence, so
    at an interruption at most one intact reply per line can be served and not
    yet committed: the first one served after the line's last commit before the
    interruption, provided it was served before the line could be polled anew.
    Anything else missing is lost.
    """
    by_line: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for i, (line, t) in enumerate(missing):
        by_line[line].append((t, i))
    served_sorted = {line: sorted(ts) for line, ts in served.items()}
    cut: dict[int, str] = {}
    for it in interruptions:
        times = commits.get(it.line, [])
        k = bisect.bisect_right(times, it.when)
        last_commit = times[k - 1] if k else None
        st = served_sorted.get(it.line, [])
        j = bisect.bisect_right(st, last_commit) if last_commit is not None else 0
        if j >= len(st):
            continue
        first_after = st[j]
        if first_after > (it.until or it.when):
            continue
        for t, i in by_line.get(it.line, []):
            if t == first_after and i not in cut:
                cut[i] = it.kind
                break
    return cut


def analyse(h: Harness, raw: dict[str, Any]) -> Result:
    from pvapp.sim.record import load_jsonl
    from pvapp.storage import Storage

    res = Result(options={k: (str(v) if isinstance(v, datetime | Path) else v) for k, v in asdict(h.opts).items()})
    res.real_seconds = round(raw["real_seconds"], 1)
    res.simulated_days = h.opts.days
    res.lives = len(h.lives)
    for name in ("kills", "unplugs", "outages", "quota_burns", "device_faults", "unexpected_exits"):
        setattr(res, name, h.counts[name])

    # (a) readings ------------------------------------------------------------------------
    served: list[dict[str, Any]] = []
    for line, path in h.records.items():
        for e in load_jsonl(path):
            e["line"] = line
            e["t"] = datetime.fromisoformat(e["time"])
            served.append(e)
    res.served = len(served)
    usable = [e for e in served if e["usable"]]
    res.served_usable = len(usable)
    res.served_spoiled = res.served - res.served_usable
    db = Storage(h.db, synchronous="NORMAL")
    try:
        rows = list(db.readings())
        queue = db.queue()
    finally:
        db.close()
    res.stored = len(rows)
    stored = Counter((r.serial, r.raw_frame.hex()) for r in rows)
    offered = Counter((e["serial"], e["frame"]) for e in usable)
    # never served at all vs. served once and stored more often than served
    res.readings_phantom = sum(n for key, n in stored.items() if offered[key] == 0)
    by_key_time = Counter((r.serial, r.time) for r in rows)
    res.readings_duplicated = sum(n - 1 for n in by_key_time.values() if n > 1) + sum(
        n - offered[key] for key, n in stored.items() if offered[key] and n > offered[key]
    )
    res.refused_values = sum(1 for r in rows if r.rejected and set(r.rejected) - {"zac"})
    missing: list[dict[str, Any]] = []
    remaining = stored.copy()
    for e in sorted(usable, key=lambda e: e["t"]):
        key = (e["serial"], e["frame"])
        if remaining[key] > 0:
            remaining[key] -= 1
        else:
            missing.append(e)
    # stored reading times per line, to find each line's last commit before an interruption
    commits: dict[str, list[datetime]] = defaultdict(list)
    for r in rows:
        commits[_line_of(r.serial)].append(r.time)
    for v in commits.values():
        v.sort()
    served_times: dict[str, list[datetime]] = defaultdict(list)
    for e in usable:
        served_times[e["line"]].append(e["t"])
    cut_kinds = classify_missing([(e["line"], e["t"]) for e in missing], served_times, commits, h.interruptions)
    cut_off = {id(missing[i]) for i in cut_kinds}
    cut_kinds_count = Counter(cut_kinds.values())
    res.readings_cut_off = len(cut_off)
    res.readings_cut_off_by_kill = cut_kinds_count["kill"]
    lost = [e for e in missing if id(e) not in cut_off]
    res.readings_lost = len(lost)

    def context(e: dict[str, Any]) -> dict[str, Any]:
        """Where a lost reading sits: the line's commits around it and the nearest interruption."""
        times = commits.get(e["line"], [])
        i = bisect.bisect_left(times, e["t"])
        near = min(h.interruptions, key=lambda x: abs((x.when - e["t"]).total_seconds()), default=None)
        return {
            "time": e["time"],
            "serial": e["serial"],
            "faults": e["faults"],
            "commit_before": times[i - 1].isoformat() if i else None,
            "commit_after": times[i].isoformat() if i < len(times) else None,
            "nearest_interruption": (near.line, near.when.isoformat(), near.kind) if near else None,
        }

    res.details["lost_readings"] = [context(e) for e in lost[:20]]
    res.details["cut_off_by"] = dict(cut_kinds_count)
    res.details["interruptions"] = [(i.line, i.when.isoformat(), i.kind) for i in h.interruptions]

    # (b) uploads ---------------------------------------------------------------------------
    expected: set[tuple[int, str, str]] = set()
    for r in rows:
        if r.pac is not None or r.e_today is not None:
            expected.add((h.systems[r.serial], *_slot_key(r.time)))
    res.slots_expected = len(expected)
    on_pvoutput = {
        (sid, d.strftime("%Y%m%d"), t.strftime("%H:%M")): v
        for sid, st in raw["statuses"].items()
        for (d, t), v in st.items()
    }
    q_by_key = {(q.system_id, q.date, q.time): q for q in queue}
    refused = {k for k, q in q_by_key.items() if q.status == "rejected" and q.reason.startswith("PVOutput:")}
    expired = {k for k, q in q_by_key.items() if q.status == "rejected" and not q.reason.startswith("PVOutput:")}
    pending = {k for k, q in q_by_key.items() if q.status in ("pending", "sending")}
    res.uploads_on_pvoutput = len(expected & on_pvoutput.keys())
    res.uploads_refused = len(expected & refused)
    res.uploads_expired = len(expected & expired)
    res.uploads_pending_at_end = len(expected & pending)
    lost_uploads = expected - on_pvoutput.keys() - refused - expired - pending
    res.uploads_lost = len(lost_uploads)
    res.uploads_unexpected = len(on_pvoutput.keys() - expected)
    res.details["lost_uploads"] = sorted(lost_uploads)[:20]
    res.details["refused_reasons"] = dict(Counter(q_by_key[k].reason for k in refused))
    mismatched = []
    for slot, got in on_pvoutput.items():
        q = q_by_key.get(slot)
        if q is None or q.status != "sent":
            continue
        if got.get("v2") != q.power_w or got.get("v1") != q.energy_wh:
            mismatched.append((slot, got.get("v1"), got.get("v2"), q.energy_wh, q.power_w))
    res.uploads_mismatched = len(mismatched)
    res.details["mismatched_uploads"] = mismatched[:10]
    accepted: Counter[tuple[int, str, str]] = Counter()
    refused_rows: list[tuple[float, tuple[int, str, str]]] = []
    sends: list[tuple[float, tuple[int, str, str]]] = []
    requests = raw["requests"]
    res.requests = len(requests)
    res.rate_limited = sum(1 for r in requests if r.status == 403)
    res.outage_failures = sum(1 for r in requests if r.body in ("drop", "http"))
    res.refused_400 = sum(1 for r in requests if r.status == 400)
    res.details["http_400"] = [(r.path.rsplit("/", 1)[-1], r.body[:80]) for r in requests if r.status == 400][:10]
    for r in requests:
        keys = _rows_of(r)
        if not keys:
            continue
        sid = _system_header(r)
        if sid is None:
            continue
        full = [(sid, d, t) for d, t in keys]
        sends.extend((r.at, row) for row in full)
        if r.status == 200:
            flags = [x.split(",") for x in r.body.split(";") if x.count(",") >= 2]
            if flags and len(flags) == len(full):
                for row, flag in zip(full, flags, strict=True):
                    if flag[2] == "1":
                        accepted[row] += 1
                    else:
                        refused_rows.append((r.at, row))
            else:
                for row in full:
                    accepted[row] += 1
        elif r.status == 400 and len(full) == 1 and r.body not in ("drop", "http", "load_in_progress"):
            refused_rows.append((r.at, full[0]))
    dup = {k: n for k, n in accepted.items() if n > 1}
    res.uploads_duplicated = sum(n - 1 for n in dup.values())
    res.details["duplicated_uploads"] = sorted(dup)[:20]
    retried = {row for at, row in refused_rows if any(a > at and other == row for a, other in sends)}
    res.refused_rows_retried = len(retried)
    res.details["refused_rows_retried"] = sorted(retried)[:20]

    # (c) lifetime counters ---------------------------------------------------------------------
    for serial in sorted({r.serial for r in rows}):
        mine = [r for r in rows if r.serial == serial]
        n, ex = _decreases(iter(r.e_total for r in mine))
        res.e_total_decreases_stored += n
        if ex:
            res.details.setdefault("e_total_decreases_stored", {})[serial] = ex
        n, ex = _decreases(iter(r.h_total for r in mine))
        res.h_total_decreases_stored += n
        if ex:
            res.details.setdefault("h_total_decreases_stored", {})[serial] = ex
    published: dict[str, list[tuple[float | None, float | None]]] = defaultdict(list)
    text = h.stdout_path.read_text(encoding="utf-8", errors="replace") if h.stdout_path.exists() else ""
    for line in text.splitlines():
        m = PUBLISHED.match(line)
        if m:
            et = None if m["et"] == "-" else float(m["et"])
            ht = None if m["ht"] == "-" else float(m["ht"])
            published[m["serial"]].append((et, ht))
    res.details["published_lines"] = sum(len(v) for v in published.values())
    for serial, seq in published.items():
        n, ex = _decreases(iter(et for et, _ in seq))
        res.e_total_decreases_published += n
        if ex:
            res.details.setdefault("e_total_decreases_published", {})[serial] = ex
        n, _ = _decreases(iter(ht for _, ht in seq))
        res.h_total_decreases_published += n
    for st in raw["statuses"].values():
        by_day: dict[Any, list[float | None]] = defaultdict(list)
        for (d, _t), v in sorted(st.items()):
            by_day[d].append(v.get("v1"))
        for day_values in by_day.values():
            n, _ = _decreases(iter(day_values))
            res.energy_decreases_pvoutput += n
    err = h.stderr_path.read_text(encoding="utf-8", errors="replace") if h.stderr_path.exists() else ""
    res.tracebacks = err.count("Traceback")
    res.details["log_errors"] = [ln for ln in err.splitlines() if " ERROR " in ln or "cannot store" in ln][:10]
    res.details["lives"] = [asdict(life) for life in h.lives[-3:]]
    res.details["final_upload"] = raw["final_uploads"]
    return res


# -- entry points --------------------------------------------------------------------------


def run_endurance(opts: Options) -> Result:
    """Run the whole scenario and compare; the work directory is removed unless ``opts.workdir`` is set."""
    work = opts.workdir or Path(tempfile.mkdtemp(prefix="pv-endurance-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        h = Harness(opts, work)
        try:
            raw = h.run()
        finally:
            if h.proc is not None and h.proc.poll() is None:
                h.proc.kill()
                h.proc.wait(timeout=10)
        return analyse(h, raw)
    finally:
        if opts.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def format_table(res: Result) -> str:
    rows = res.rows()
    width = max(len(r[0]) for r in rows)
    lines = [
        f"pv endurance: {res.simulated_days:g} simulated days in {res.real_seconds:.0f} s real "
        f"({res.options.get('speed')}x, seed {res.options.get('seed')}); {res.lives} monitor runs, "
        f"{res.kills} SIGKILLs, {res.unplugs} unplugs, {res.outages} PVOutput outages, "
        f"{res.quota_burns} used-up quota hours, {res.device_faults} device-fault episodes",
        f"{'figure':<{width}}  {'value':>12}  target",
        f"{'-' * width}  {'-' * 12}  ------",
    ]
    for name, value, target in rows:
        lines.append(f"{name:<{width}}  {value!s:>12}  {target}")
    lines.append(f"result: {'PASS' if res.ok else 'FAIL'}")
    return "\n".join(lines)


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return v


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return v


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.endurance", description=__doc__.split("\n")[0])
    p.add_argument("--days", type=_positive, default=30.0, help="simulated days (default 30)")
    p.add_argument("--speed", type=_positive, default=3000.0, help="simulated seconds per real second (default 3000)")
    p.add_argument("--seed", type=int, default=1, help="seeds the schedule and the simulators (default 1)")
    p.add_argument("--kills", type=_count, default=None, help="SIGKILLs of the monitor (default 2 per simulated day)")
    p.add_argument("--outages", type=_count, default=None, help="PVOutput outages (default one per 3 days)")
    p.add_argument("--unplugs", type=_count, default=None, help="unplugs per line (default one per 5 days)")
    p.add_argument(
        "--second-line", choices=("tcp", "pty"), default="tcp", help="the single inverter's line (default tcp)"
    )
    p.add_argument(
        "--separate-systems", action="store_true", help="one PVOutput system per bus inverter (default: aggregated)"
    )
    p.add_argument("--workdir", type=Path, default=None, help="keep the database, logs and records here")
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the figures as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    a = p.parse_args(argv)
    kills = a.kills if a.kills is not None else max(1, round(2 * a.days))
    opts = Options(
        days=a.days, speed=a.speed, seed=a.seed, kills=kills, outages=a.outages, unplugs=a.unplugs,
        workdir=a.workdir, quiet=a.quiet, aggregate=not a.separate_systems, second_line=a.second_line,
    )  # fmt: skip
    res = run_endurance(opts)
    print(format_table(res))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    if a.json:
        a.json.write_text(json.dumps(asdict(res), indent=2, default=str), encoding="utf-8")
    if res.details.get("lost_readings") or res.details.get("lost_uploads") or res.details.get("duplicated_uploads"):
        print(
            "details: " + json.dumps({k: v for k, v in res.details.items() if k != "final_upload"}, default=str)[:4000]
        )
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
