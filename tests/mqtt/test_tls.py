"""TLS to a real mosquitto with a certificate signed by a throw-away CA (made with the openssl CLI)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pvapp.outputs.mqtt import MqttOutput, validate_config

from . import synthetic
from .broker import Broker, Recorder

pytestmark = pytest.mark.mqtt


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def tls_broker(mosquitto_bin: str, tmp_path: Path) -> Iterator[tuple[Broker, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed: cannot make test certificates")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "1", "-subj", "/CN=pv test CA", cwd=tmp_path)  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
            "-subj", "/CN=localhost", cwd=tmp_path)  # fmt: skip
    (tmp_path / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "1", "-extfile", "san.ext", cwd=tmp_path)  # fmt: skip
    b = Broker(
        mosquitto_bin,
        extra_config=(
            f"cafile {tmp_path / 'ca.pem'}\ncertfile {tmp_path / 'server.pem'}\n"
            f"keyfile {tmp_path / 'server.key'}\nallow_anonymous true\n"
        ),
    )
    b.start()
    yield b, tmp_path / "ca.pem"
    b.close()


def test_tls_with_own_ca(tls_broker: tuple[Broker, Path], outputs: list[MqttOutput]) -> None:
    broker, ca = tls_broker
    table = {"host": "127.0.0.1", "port": broker.port, "tls": {"ca_file": str(ca)}, "client_id": "pv-tls"}
    out = MqttOutput(validate_config(table, env={}), spec_resolver=synthetic.resolver)
    out.start()
    outputs.append(out)
    rec = Recorder(broker, ["pv/#"], ca_file=str(ca))
    try:
        assert out.wait_connected(10)
        out.publish(synthetic.reading(1))
        doc = rec.wait_count("pv/0905BO0139/state", 1)[0].json()
        assert doc["e_total"] == synthetic.reading(1).values["e_total"]
    finally:
        rec.close()


def test_tls_refuses_an_unknown_ca(
    tls_broker: tuple[Broker, Path], outputs: list[MqttOutput], caplog: pytest.LogCaptureFixture
) -> None:
    broker, _ = tls_broker
    table = {"host": "127.0.0.1", "port": broker.port, "tls": True, "client_id": "pv-tls-bad",
             "reconnect_min_delay": 0.05, "reconnect_max_delay": 0.1}  # fmt: skip
    out = MqttOutput(validate_config(table, env={}), spec_resolver=synthetic.resolver)
    out.start()
    outputs.append(out)
    out.publish(synthetic.reading(1))  # accepted and buffered, never an exception in the poller
    time.sleep(0.5)
    assert not out.connected
    assert out.wait_idle() and out.stats.buffered == 1
    warnings = [r.getMessage() for r in caplog.records if "cannot connect to broker" in r.getMessage()]
    assert len(warnings) == 1, warnings  # once, not per retry
    assert "CERTIFICATE_VERIFY_FAILED" in warnings[0]  # the reason, so the user knows what to fix
