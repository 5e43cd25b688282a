"""Start-up (issue 7): wall time from launching ``pv`` to its first byte of output.

Measured on the installed console script (what a user types), median of
several runs after one warm-up run, so the bytecode cache is warm as it is on
an installed system.  ``pv status`` talks to the in-process ``sim://``
simulator (``awake=always`` so the figure does not depend on the time of day):
the time includes the handshake (reset x3, discover, register), the layout and
status requests, and decoding, i.e. everything before the first line appears.
"""

from __future__ import annotations

import shutil
import statistics
import sys
from pathlib import Path

from . import Row, child_env, load_average, pending, python, timed_runs


def pv_command() -> list[str] | None:
    script = Path(sys.executable).parent / "pv"
    if script.exists():
        return [str(script)]
    found = shutil.which("pv")
    if found:
        return [found]
    try:
        import pvapp.cli  # noqa: F401 - probing whether the CLI has landed
    except ImportError:
        return None
    return [python(), "-m", "pvapp.cli"]


def run(quick: bool) -> list[Row]:
    pv = pv_command()
    runs = 5 if quick else 11
    if pv is None:
        why = "not yet available: pvapp.cli has not landed"
        return [pending("startup: pv --help", "ms", "", why), pending("startup: pv status sim://cms", "ms", "", why)]
    import pv.cms as cms

    delay = cms.SPEC.transport.command_delay
    env = child_env()
    bare = statistics.median(timed_runs([python(), "-c", "pass"], runs, env=env)[0])
    rows = []
    for label, args in (
        ("startup: pv --help, to first output", ["--help"]),
        ("startup: pv status sim://cms, to first output", ["status", "sim://cms?awake=always"]),
    ):
        timed_runs([*pv, *args], 1, until=b"", env=env)  # warm-up: bytecode cache
        walls, cpus = timed_runs([*pv, *args], runs, until=b"", env=env)
        wall = statistics.median(walls)
        pause = f"; includes the spec's 3 x {delay * 1000:.0f} ms pause after each reset" if "status" in args else ""
        rows.append(
            Row(
                label,
                wall * 1000,
                "ms",
                "",
                None,
                f"median of {runs} (min {min(walls) * 1000:.0f});"
                f" whole-run CPU {statistics.median(cpus) * 1000:.0f} ms;"
                f" no target in issue 7; bare python {bare * 1000:.0f} ms{pause}; {load_average()}",
            )
        )
    return rows
