"""``python -m pvapp.pvoutput_service`` runs standalone and refuses bad options in one line."""

from __future__ import annotations

import subprocess
import sys
from datetime import time

import pytest
from pv.pvoutput import Connection, NoStatusFound, PVOutputClient


def test_standalone_service_answers_a_client() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "pvapp.pvoutput_service", "--port", "0", "--key", "cli-key", "--system-id", "77"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert banner.startswith("fake PVOutput on http://127.0.0.1:"), banner
        url = banner.split()[3]
        client = PVOutputClient("cli-key", 77, host=url, tz="Australia/Brisbane")
        with pytest.raises(NoStatusFound):
            client.get_status()
        assert client.get_system().data.status_interval == 5
        d, _ = client.slot()
        conn = Connection("cli-key", 77, host=url, tz="Australia/Brisbane")
        # Consumption only at 00:00 today: never in the future, never Moon Powered, whatever the real time.
        assert conn.add_status(d, time(0, 0), 0, None, 1500) == "OK 200: Added Status"
        assert conn.get_status(d).split(",")[4] == "1500"  # the reply text (pv 0.2); API.md 1.4 columns
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tz", "Nowhere/Atlantis"], "error: --tz: unknown time zone 'Nowhere/Atlantis'"),
        (["--port", "70000"], "error: --port must be 0..65535, got 70000"),
    ],
)
def test_bad_options_are_one_line_errors(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pvapp.pvoutput_service", *args], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert done.stderr.strip() == message
    assert "Traceback" not in done.stderr


def test_main_is_callable(capsys: pytest.CaptureFixture[str]) -> None:
    from pvapp.pvoutput_service import main

    with pytest.raises(SystemExit):
        main(["--help"])
    assert "--port" in capsys.readouterr().out
