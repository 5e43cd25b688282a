"""Running ``pv`` as a user does, for the hardening tests (a subprocess, no PV_* from the outside).

``PV_WEB=127.0.0.1:0`` is the one PV_* set: a monitor's web page on 8780 would
clash with another test, or another checkout's test run, on this machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path


def pv_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pvapp.cli", *args]


def pv_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PV_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PV_WEB"] = "127.0.0.1:0"  # `pv monitor` serves its page on an ephemeral loopback port: runs never clash
    env.update(extra)
    return env


def run_pv(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        pv_cmd(*args),
        cwd=cwd,
        env=env or pv_env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_pv(cwd: Path, *args: str) -> subprocess.Popen[str]:
    """`pv ARGS` in the background, stdout into cwd/stdout (stderr is read line by line: a pipe for it alone)."""
    with (cwd / "stdout").open("w") as stdout:
        return subprocess.Popen(pv_cmd(*args), env=pv_env(), stdout=stdout, stderr=subprocess.PIPE, text=True, cwd=cwd)


def port_from_stderr(proc: subprocess.Popen[str], pattern: str, seen: list[str]) -> tuple[int, threading.Thread]:
    """Read stderr lines until ``pattern`` names the listening port; the rest in the background (join it)."""
    assert proc.stderr is not None
    for line in proc.stderr:
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            rest = threading.Thread(target=lambda: seen.extend(proc.stderr or []), daemon=True)
            rest.start()
            return int(m.group(1)), rest
    raise AssertionError("no listening port announced: " + "".join(seen))


EPHEMERAL_WEB = re.compile(r"web page: http://127\.0\.0\.1:(?!8780/)\d+/")
"""The monitor's log line for its page on an ephemeral loopback port (never the default 8780)."""
