"""The API key never appears in logs (ours or urllib3's, at debug level), reprs or exception texts."""

from __future__ import annotations

import logging
from datetime import date, time

import pytest
from pv.pvoutput import (
    AuthError,
    BatchStatus,
    Connection,
    PVOutputClient,
    PVOutputError,
    RateLimited,
    ServiceUnavailable,
)

from pvapp.pvoutput_service import Fault, PVOutputService

from .conftest import BRISBANE, KEY, SID, FakeClock, make_client


def test_key_absent_from_debug_logs_reprs_and_errors(
    service: PVOutputService, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # root: captures pv.pvoutput, urllib3.connectionpool, the fake service
    client = make_client(service, clock, timeout=0.3)
    texts: list[str] = [repr(client), repr(Connection(KEY, SID, host=service.url, tz=BRISBANE))]
    client.add_status(date(2026, 1, 15), time(11, 0), energy_generation=10, power_generation=100)
    client.add_batch_status([BatchStatus(date(2026, 1, 15), time(11, 5), energy_generation=20)])
    client.get_status()
    service.inject(Fault("http", status=500, body=f"Internal Server Error 500: echo {KEY}"))
    service.inject(Fault("drop"))
    service.inject(Fault("delay", delay=0.5))
    with pytest.raises(ServiceUnavailable) as unavailable:
        client.get_system()
    texts.append(str(unavailable.value))
    wrong = make_client(service, clock, key=KEY + "x")  # contains the real key as a prefix
    with pytest.raises(AuthError) as auth:
        wrong.get_status()
    texts += [str(auth.value), repr(wrong)]
    service.consume(KEY, 100)
    with pytest.raises(RateLimited) as limited:
        make_client(service, clock, on_rate_limit="raise").get_status()
    texts.append(str(limited.value))
    unreachable = PVOutputClient(KEY, SID, host="http://127.0.0.1:9", tz=BRISBANE, clock=clock, sleep=clock.sleep)
    with pytest.raises(PVOutputError) as down:
        unreachable.get_status()
    texts.append(str(down.value))

    loggers = {r.name for r in caplog.records}
    assert "pv.pvoutput" in loggers and "urllib3.connectionpool" in loggers  # debug logging really ran
    assert any("addbatchstatus.jsp" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        assert KEY not in record.getMessage(), record.name
    assert KEY not in caplog.text
    for text in texts:
        assert KEY not in text
    assert "echo ***" in caplog.text  # a server echoing the key is redacted too
