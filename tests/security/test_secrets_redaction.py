"""One redaction path, whitespace-normalised: a key with a trailing CR/LF is still never shown."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pv.pvoutput import PVOutputClient, PVOutputError, RetryPolicy

from pvapp import config as config_mod
from pvapp.pvoutput_service import Fault, PVOutputService
from pvgen.runtime import text
from pvgen.runtime.pvoutput.client import redact

from .clirun import pv_env, run_pv

BRISBANE = ZoneInfo("Australia/Brisbane")
KEY = "5ecre7key0123456789abcdef0123456789abcd"
SID = 4242


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    text.forget_secrets()
    yield
    text.forget_secrets()


@pytest.fixture
def service() -> Iterator[PVOutputService]:
    now = datetime(2026, 1, 15, 12, 0, tzinfo=BRISBANE).timestamp()
    svc = PVOutputService(clock=lambda: now)
    svc.add_system(SID, tz="Australia/Brisbane")
    svc.add_key(KEY, SID)
    with svc:
        yield svc


@pytest.mark.parametrize("pasted", [KEY + "\r\n", KEY + "\n", " " + KEY + "\t", KEY])
def test_redact_normalises_whitespace_and_repr_forms(pasted: str) -> None:
    for shown_as in (f"key={KEY}", f"key={pasted!r}", f"header value: {pasted!r}", f"{KEY}\r\n"):
        assert KEY not in redact(shown_as, pasted), shown_as
    text.register_secret(pasted)
    assert KEY not in text.redact(f"InvalidHeader: {pasted!r}")


def test_a_key_with_a_trailing_crlf_works_and_is_never_shown(
    service: PVOutputService, caplog: pytest.LogCaptureFixture
) -> None:
    """requests refuses a header value ending in CR/LF and puts the value in its error text."""
    caplog.set_level(logging.DEBUG)
    client = PVOutputClient(
        KEY + "\r\n", SID, host=service.url, tz=BRISBANE, clock=service.clock, retry=RetryPolicy(attempts=1)
    )
    client.get_system()  # the key, trimmed, is accepted
    service.inject(Fault("http", status=500, body=f"Internal Server Error 500: echo {KEY}"))
    with pytest.raises(PVOutputError) as err:
        client.get_status()
    assert KEY not in str(err.value) and "echo ***" in str(err.value)
    assert KEY not in caplog.text and KEY not in repr(client)


def test_config_trims_the_key_and_its_repr_hides_it(tmp_path: Path) -> None:
    path = tmp_path / "pv.toml"
    path.write_text('[pvoutput]\nsystem_id = 1\n[[ports]]\nport = "sim://cms"\n', encoding="utf-8")
    cfg = config_mod.load(str(path), env={"PV_PVOUTPUT_API_KEY": KEY + "\r\n"})
    assert cfg.pvoutput is not None and cfg.pvoutput.api_key == KEY
    assert KEY not in repr(cfg.pvoutput) and KEY not in repr(cfg)


def test_every_cli_log_line_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    from pvapp import cli

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        cli._setup_logging(0)
        text.register_secret(KEY + "\r\n")
        logging.getLogger("pv.pvoutput").warning("server said %r", f"bad key {KEY}\r\n")
        logging.getLogger("urllib3.connectionpool").warning("header X-Pvoutput-Apikey: %s", KEY)
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    err = capsys.readouterr().err
    assert KEY not in err and err.count("***") == 2


def test_config_check_never_prints_the_key(tmp_path: Path) -> None:
    path = tmp_path / "pv.toml"
    path.write_text('[pvoutput]\nsystem_id = 1\n[[ports]]\nport = "sim://cms"\n', encoding="utf-8")
    for extra in ((), ("--json",)):
        proc = run_pv("--config", str(path), "config", "check", *extra, env=pv_env(PV_PVOUTPUT_API_KEY=KEY + "\r\n"))
        assert proc.returncode == 0, proc.stderr
        assert KEY not in proc.stdout + proc.stderr
