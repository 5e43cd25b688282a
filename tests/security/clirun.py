"""Running ``pv`` as a user does, for the hardening tests (a subprocess, no PV_* from the outside)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def pv_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pvapp.cli", *args]


def pv_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PV_")}
    env["PYTHONUNBUFFERED"] = "1"
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
