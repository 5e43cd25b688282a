"""The README's pv 0.2 program, run as written: a real pty for the inverter, real HTTP for PVOutput.

The code block under "The pv 0.2 API, unchanged" is taken from README.md and
run in a child Python with two substitutions only: the serial device path
(a simulator's pseudo-terminal) and the PVOutput host (the local service on
loopback).  The child's time zone is chosen so that its wall clock reads about
noon, and the PVOutput system sits on the equator in that zone: the status the
README uploads with ``time.strftime`` is in daylight whenever the test runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from pvapp.pvoutput_service import PVOutputService
from pvapp.sim import ManualClock, PtyServer, SimOptions, Simulator

from .pv02 import STATUS_LABELS

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DEVICE = 'serial.Serial("/dev/ttyUSB0", 9600, timeout=1)'
CONNECT = 'pvoutput.Connection("your-api-key", 12345)'


def readme_program() -> str:
    text = README.read_text(encoding="utf-8")
    m = re.search(r"## The pv 0\.2 API, unchanged\n.*?```python\n(.*?)```", text, re.S)
    assert m, "README.md lost its pv 0.2 example"
    code = m.group(1)
    assert DEVICE in code and CONNECT in code, "the README example changed: update this test's substitutions"
    assert 'status["Pac"]' in code and "print(conn.get_status())" in code
    return code


def noon_zone() -> int:
    """A whole-hour UTC offset (-11..+12) in which it is now between 12:00 and 13:00."""
    hours = 12 - datetime.now(UTC).hour
    return hours - 24 if hours > 14 else hours


def test_the_readme_program_runs_unchanged() -> None:
    code = readme_program()
    offset = noon_zone()
    noon = datetime(2026, 12, 21, 12, 0, tzinfo=timezone(timedelta(hours=10)))
    sim = Simulator("cms", SimOptions(spec="cms", awake="always", clouds=0.0), clock=ManualClock(noon))
    service = PVOutputService()  # real time: the README uploads "now"
    zone = f"Etc/GMT{-offset:+d}" if offset else "UTC"  # POSIX sign convention: Etc/GMT-10 is UTC+10
    service.add_system(12345, name="README", size=5000, tz=zone, latitude=0.0, longitude=15.0 * offset)
    service.add_key("your-api-key", 12345)
    with PtyServer(sim) as pty, service:
        program = code.replace(DEVICE, f"serial.Serial({pty.device!r}, 9600, timeout=1)").replace(
            CONNECT, f'pvoutput.Connection("your-api-key", 12345, host={service.url!r})'
        )
        env = dict(os.environ, TZ=f"UTC{-offset:+d}")  # POSIX TZ: "UTC-10" is ten hours ahead
        run = subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, cwd=REPO, env=env
        )
        assert run.returncode == 0, run.stderr[-2000:]
        uploads = [r for r in service.requests if r.path.endswith("addstatus.jsp")]
    lines = run.stdout.splitlines()
    assert "CMS 2000" in lines[0] and "0905BO0139" in lines[0]  # print(inv.version())
    pairs = [(line[:10].rstrip(), line[12:]) for line in lines[1:-2]]
    assert all(line[10:12] == ": " for line in lines[1:-2])  # "%-10s: %s"
    labels = [label for label, _ in pairs]
    assert labels[:11] == [label for label in STATUS_LABELS if label[-1] not in "123"]
    served = sim.record.last("0905BO0139")
    assert served is not None and served.values["pac"] is not None and served.values["pac"] > 0
    pac = str(served.values["pac"])
    assert dict(pairs)["Pac"] == pac and lines[-2] == pac  # print(status["Pac"])
    assert dict(pairs)["Zac"] == "65535"
    assert "aa aa" in run.stderr  # pv.debug(): the frames in hex
    assert len(uploads) == 1 and uploads[0].status == 200 and uploads[0].params["v2"] == pac
    reply = lines[-1].split(",")  # print(conn.get_status()): the server's text, API.md 1.4 columns
    assert reply[0] == uploads[0].params["d"] and reply[3] == pac
