"""A user's own spec folder, and the whole chain a user runs on it (shared by the dev and plain-install tests).

The spec extends the shipped ``cms`` spec with one value (``pac_peak`` at code
0x50) and one model whose layout includes it, so every step can show that the
user's module, not a shipped one, did the work: ``pvgen --specs`` generates it,
``import pv`` finds it, ``pv status`` reads it from the simulator, ``pv decode``
decodes a capture of that session (``pv --debug-frames``), and ``pv monitor``
stores readings with it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
from collections.abc import Sequence
from pathlib import Path

SPEC_ID = "mine"
MINE = """\
# A CMS 2000 that also reports its peak power at code 0x50.
meta:
  id: mine
  title: My CMS 2000 variant
  extends: cms
fields:
  pac_peak: {code: 0x50, label: Pac-Peak, unit: W, doc: highest power today}
models:
  mine1:
    title: Mine 1
    status_layout: [0x00, 0x44, 0x47, 0x48, 0x50]
"""
SIM = "sim://mine?start=2026-06-21T12:00&model=mine1"  # noon: the simulated inverter is awake
TIMEOUT = 180


def write_folder(base: Path) -> Path:
    folder = base / "my-specs"
    folder.mkdir(parents=True)
    (folder / "mine.yaml").write_text(MINE, encoding="utf-8")
    return folder


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PV_") and k not in ("PYTHONPATH",)}
    env["PYTHONUNBUFFERED"] = "1"
    env["PV_WEB"] = "127.0.0.1:0"  # the monitor's page on an ephemeral loopback port: runs never clash on 8780
    env.update(extra)
    return env


def run(
    cmd: Sequence[str], env: dict[str, str], cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(cmd), env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` (compiled caches aside) by its sha256."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def exercise(pvgen: Path, pv: Path, python: Path, env: dict[str, str], folder: Path, work: Path) -> None:
    """The chain, each step asserting what a user would see."""
    generated = run([str(pvgen), "--specs", str(folder)], env, work)
    assert generated.returncode == 0, generated.stderr
    assert "mine" in generated.stdout

    use = {**env, "PV_SPECS": str(folder)}
    probe = run(
        [
            str(python),
            "-c",
            "import pv\nfrom pv import mine\n"
            "layout = mine.SPEC.model('mine1').status_layout\n"
            "s = mine.decode_status(layout, mine.encode_status(layout, {'pac': 1234, 'pac_peak': 2100}))\n"
            "print(pv.SPECS[-1], s.pac, s.pac_peak, mine.__file__)",
        ],
        use,
        work,
    )
    assert probe.returncode == 0, probe.stderr
    spec_id, pac, peak, module_file = probe.stdout.split()
    assert (spec_id, pac, peak) == ("mine", "1234", "2100")
    assert Path(module_file).parent.parent == Path(env["PV_SPECS_CACHE"])

    status = run([str(pv), "--debug-frames", "status", "--spec", "mine", SIM, "--json"], use, work)
    assert status.returncode == 0, status.stderr
    reading = json.loads(status.stdout)
    assert reading["spec"] == "mine"
    assert "pac_peak" in {value["id"] for value in reading["values"]}

    capture = work / "capture.txt"
    capture.write_text(status.stderr, encoding="utf-8")
    decoded = run([str(pv), "decode", "--spec", "mine", "--json", str(capture)], use, work)
    assert decoded.returncode == 0, decoded.stderr
    frames = json.loads(decoded.stdout)["frames"]
    replies = [f for f in frames if f["command"] == "status" and f["direction"] == "reply"]
    assert replies and "pac_peak" in replies[0]["values"]

    db = work / "monitor.sqlite"
    monitor = run(
        [
            str(pv),
            "monitor",
            "--port",
            SIM,
            "--spec",
            "mine",
            "--storage",
            str(db),
            "--duration",
            "6",
            "--poll-interval",
            "1",
            "--no-upload",
            "--display",
            "lines",
        ],
        use,
        work,
    )
    assert monitor.returncode == 0, monitor.stderr[-3000:]
    assert re.search(r"web page: http://127\.0\.0\.1:(?!8780/)\d+/", monitor.stderr), monitor.stderr[-3000:]
    with sqlite3.connect(db) as conn:
        specs = [row[0] for row in conn.execute("SELECT spec_id FROM inverters")]
        values = [json.loads(row[0]) for row in conn.execute("SELECT values_json FROM readings")]
    assert specs == ["mine"]
    assert values and all("pac_peak" in v for v in values)
