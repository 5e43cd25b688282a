"""Faults and refused values reach the events log (the page's Log view) once per episode, not per poll."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pvapp.storage import Storage


def test_fault_and_refusal_are_logged_once_each(tmp_path: Path) -> None:
    db = tmp_path / "pv.sqlite"
    cfg = tmp_path / "pv.toml"
    cfg.write_text(
        'timezone = "Australia/Brisbane"\npoll_interval = 10\n'
        f'[storage]\npath = "{db}"\nsynchronous = "NORMAL"\n'
        '[[ports]]\nport = "sim://cms?awake=always&fault=error:0x200&fault=wild:temperature=0x8000"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PV_")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pvapp.cli",
            "--config",
            str(cfg),
            "monitor",
            "--no-web",
            "--display",
            "lines",
            "--clock",
            "2026-01-10T11:00:00+10:00*20",
            "--duration",
            "4",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-500:]
    storage = Storage(db, synchronous="OFF")
    try:
        readings = sum(1 for _ in storage.readings())
        faults = storage.events(kind="fault")
        refused = storage.events(kind="refused")
    finally:
        storage.close()
    assert readings >= 4
    assert len(faults) == 1, faults  # one episode, however many polls carried it
    assert faults[0]["serial"] and faults[0]["detail"]
    assert len(refused) == 1, refused
    assert refused[0]["detail"].startswith("temperature: ")
