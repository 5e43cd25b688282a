"""Benchmarks for ``pv``: one command prints every figure beside its target.

Each figure is a :class:`Row`.  A benchmark module ``benchmarks/bench_<name>.py``
exposes ``run(quick: bool) -> list[Row]``; ``python -m benchmarks`` runs them all
and prints one table (``--json PATH`` writes it for comparing commits).

Figures are measured, never assumed: a row whose subject does not exist yet (a
part of the application that has not landed) says so in ``note`` and carries
``value=None`` instead of a number, so a missing part can never look like a pass.
"""

from __future__ import annotations

import gc
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Row:
    """One measured figure and the target it is judged against.

    ``ok`` is None when the figure has no target of its own (context rows) or
    could not be measured; ``note`` says which, and what exactly was measured
    when that differs from the issue's wording.
    """

    name: str
    value: float | None
    unit: str
    target: str
    ok: bool | None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pending(name: str, unit: str, target: str, why: str) -> Row:
    """A figure that cannot be measured yet; never counted as met."""
    return Row(name, None, unit, target, None, why)


def best_time(fn: Callable[[], object], number: int, repeat: int = 5) -> float:
    """Best seconds per call over ``repeat`` batches of ``number`` calls.

    The minimum is the figure least disturbed by the other processes sharing
    the machine (the helpers' CI, a browser...), which is what a comparison
    between two decoders or two commits needs.  GC is paused while timing, as
    ``timeit`` does, so a collection does not land in one decoder's batch only.
    """
    best = float("inf")
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            best = min(best, time.perf_counter() - start)
    finally:
        if gc_was_enabled:
            gc.enable()
    return best / number


def timed_runs(
    argv: Sequence[str], runs: int, *, until: bytes | None = None, env: dict[str, str] | None = None
) -> tuple[list[float], list[float]]:
    """Wall times and CPU times (user + system, children included) of ``runs`` runs of a command.

    With ``until`` given (``b""``: any byte) the wall clock stops at the first
    output byte (time to first output, what a user waiting at a prompt feels),
    otherwise at exit.  CPU time is what the command itself burnt, which, unlike
    wall time, other processes loading the machine hardly change: both are
    reported so a loaded machine can be told from a slow program.
    """
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        assert proc.stdout is not None
        first = proc.stdout.read(1) if until is not None else b""
        elapsed = time.perf_counter() - start
        rest = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        if until is None:
            elapsed = time.perf_counter() - start
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0 or (until is not None and not first):
            raise RuntimeError(f"{' '.join(argv)} exited {code}: {(first + rest).decode(errors='replace')[-300:]}")
        walls.append(elapsed)
        cpus.append(usage.ru_utime + usage.ru_stime)
    return walls, cpus


def median_wall(
    argv: Sequence[str], runs: int, *, until: bytes | None = None, env: dict[str, str] | None = None
) -> float:
    """Median wall time of a subprocess, in seconds (see :func:`timed_runs`)."""
    return statistics.median(timed_runs(argv, runs, until=until, env=env)[0])


def load_average() -> str:
    """The 1-minute load average, printed beside wall-clock figures so a busy machine shows."""
    try:
        return f"load {os.getloadavg()[0]:.1f}"
    except OSError:
        return "load ?"


def python() -> str:
    """The interpreter running the benchmarks (the project's venv when run as documented)."""
    return sys.executable


def child_env() -> dict[str, str]:
    """Environment for subprocesses: no bytecode writes, so every run sees the same cache state."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PV_WEB", "127.0.0.1:0")  # a monitor's web page on an ephemeral port, never a fixed one
    return env


class SimProcess:
    """The simulator in its own process on a pseudo-terminal (``python -m pvapp.sim --pty``).

    Its own process, because the figures it serves must not share a GIL with
    the code being measured: the wire timing is the simulator's job, the
    overhead above it is ours.
    """

    def __init__(self, link: Path, *args: str, startup_timeout: float = 20.0) -> None:
        self.link = link
        self.argv = [python(), "-m", "pvapp.sim", "--pty", "--link", str(link), *args]
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.banner: list[str] = []
        self.started_at = 0.0

    def __enter__(self) -> SimProcess:
        import queue
        import threading

        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=child_env()
        )
        lines: queue.Queue[str] = queue.Queue()
        stdout = self.proc.stdout
        assert stdout is not None

        def pump() -> None:  # keeps reading so the simulator can never block on a full pipe
            for line in stdout:
                lines.put(line.rstrip())
            lines.put("")

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if not line and self.proc.poll() is not None:
                break
            self.banner.append(line)
            if line.startswith("simulating"):
                self.started_at = time.time()
                return self
        self.__exit__()
        raise RuntimeError(f"simulator did not start: {' '.join(self.argv)}: {' | '.join(self.banner)[-300:]}")

    def sim_now(self, speed: float) -> datetime:
        """The simulator's clock now, from its banner's start time and its speed."""
        found = re.search(r"sim time (\S+?),?$", self.banner[-1]) if self.banner else None
        if found is None:
            raise RuntimeError(f"no sim time in the simulator's banner: {self.banner[-1:]}")
        start = datetime.fromisoformat(found.group(1))
        return start + timedelta(seconds=(time.time() - self.started_at) * speed)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
