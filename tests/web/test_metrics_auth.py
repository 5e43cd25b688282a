"""``/metrics`` read by Prometheus' own parser; the password / token; the loopback rule."""

from __future__ import annotations

import base64
import subprocess
import sys
from dataclasses import replace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pvapp.config import ConfigError, apply_overrides, from_table
from pvapp.web.auth import Verifier, hash_secret, parse_hash
from pvapp.web.config import WebConfigError, parse_listen

from .conftest import SERIALS, SYSTEM, get, make_config

FAST = {"n": 2**4, "r": 8, "p": 1}  # tests need not pay for a real scrypt cost


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_parse_with_prometheus_and_equal_the_database(serve, site) -> None:
    server = serve()
    for serial in SERIALS:
        server.output.publish([r for r in site.rows if r.inverter.serial == serial][-1])
    asleep = [r for r in site.rows if r.inverter.serial == SERIALS[1]][-1].inverter
    server.output.inverter_state(asleep, "asleep")
    status, headers, body = get(server.url + "metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    got = samples(body.decode())

    def value(name: str, serial: str, **labels: str) -> float | None:
        key = (name, tuple(sorted({"serial": serial, "model": "CMS 2000", **labels}.items())))
        return got.get(key)

    awake, sleeping = SERIALS
    for qid, name in (
        ("pac", "pv_inverter_pac_watts"),
        ("vac", "pv_inverter_vac_volts"),
        ("fac", "pv_inverter_fac_hertz"),
    ):
        assert value(name, awake) == pytest.approx(site.hist.latest[awake][qid])
        assert value(name, sleeping) is None  # asleep: no instantaneous values claimed
    for serial in SERIALS:
        latest = site.hist.latest[serial]
        assert value("pv_inverter_e_total_kwh", serial) == pytest.approx(latest["e_total"])
        assert value("pv_inverter_h_total_hours", serial) == pytest.approx(latest["h_total"])
        assert value("pv_inverter_e_today_kwh", serial) == pytest.approx(latest["e_today"])
        assert value("pv_inverter_last_reading_timestamp_seconds", serial) == pytest.approx(
            site.hist.latest_time[serial].timestamp()
        )
        assert got[("pv_polls_total", (("result", "ok"), ("serial", serial)))] == 1.0
    assert value("pv_inverter_state", sleeping, state="asleep") == 1.0
    assert value("pv_inverter_state", sleeping, state="awake") == 0.0
    assert value("pv_inverter_mode_info", awake, mode="Normal") == 1.0
    queue = {k[1]: v for k, v in got.items() if k[0] == "pv_pvoutput_queue"}
    assert queue[(("status", "sent"), ("system", str(SYSTEM)))] == 2.0
    assert queue[(("status", "pending"), ("system", str(SYSTEM)))] > 100
    assert any(k[0] == "pv_build_info" for k in got)


def test_label_values_from_the_inverter_are_escaped(serve, site) -> None:
    server = serve()
    reading = [r for r in site.rows if r.inverter.serial == SERIALS[0]][-1]
    odd = replace(reading, mode='Fault "x"\nline\\', faults=('GFCI"\n',))
    server.output.publish(odd)
    got = samples(get(server.url + "metrics")[2].decode())
    modes = [dict(k[1]).get("mode") for k in got if k[0] == "pv_inverter_mode_info"]
    assert 'Fault "x"\nline\\' in modes
    assert ('GFCI"\n') in [dict(k[1]).get("fault") for k in got if k[0] == "pv_inverter_fault"]


# -- the password / token ----------------------------------------------------------------------------


def test_hash_and_verify() -> None:
    stored = hash_secret("correct horse", **FAST)
    assert stored.startswith("scrypt$16$8$1$")
    v = Verifier(stored)
    assert v.check("correct horse") and v.check("correct horse")
    assert not v.check("correct hors") and not v.check("")
    assert v.check_header("Bearer correct horse")
    assert v.check_header("Basic " + base64.b64encode(b"anyone:correct horse").decode())
    assert not v.check_header("Basic " + base64.b64encode(b"correct horse").decode())  # no user:password form
    assert not v.check_header("Basic !!!") and not v.check_header("Digest x") and not v.check_header(None)
    assert hash_secret("same", **FAST) != hash_secret("same", **FAST)  # salted
    with pytest.raises(ValueError, match="scrypt"):
        parse_hash("md5$abc")


def test_with_a_password_requests_without_it_are_refused(serve) -> None:
    server = serve(password_hash=hash_secret("s3cret-token", **FAST))
    for path in ("", "api/overview", "metrics", "api/stream", "chart/day.svg", "api/export.csv"):
        status, headers, body = get(server.url + path)
        assert status == 401, path
        assert headers["WWW-Authenticate"].startswith("Basic")
        assert b"s3cret" not in body
    assert get(server.url + "metrics", {"Authorization": "Bearer wrong-token"})[0] == 401
    assert get(server.url + "metrics", {"Authorization": "Bearer s3cret-token"})[0] == 200
    basic = "Basic " + base64.b64encode(b"me:s3cret-token").decode()
    assert get(server.url + "api/overview", {"Authorization": basic})[0] == 200
    # with a password the Host check is not needed (and would break a reverse proxy)
    assert get(server.url + "api/overview", {"Authorization": basic, "Host": "pv.lan"})[0] == 200


def test_non_loopback_address_without_password_is_refused(tmp_path) -> None:
    with pytest.raises(
        ConfigError, match=r"web.listen: 0.0.0.0:8780 is reachable from other machines.*pv web password"
    ):
        make_config(tmp_path / "x.sqlite", listen="0.0.0.0:8780", password_hash=None)
    cfg = make_config(tmp_path / "x.sqlite")
    with pytest.raises(ConfigError, match=r"--web: 192.168.1.20:80 is reachable from other machines"):
        apply_overrides(cfg, {}, {"web": "192.168.1.20:80"})
    with pytest.raises(ConfigError, match=r"PV_WEB: \[::\]:8780 is reachable"):
        apply_overrides(cfg, {"PV_WEB": "[::]:8780"}, {})
    # with a hash it is accepted (not started here: tests never listen beyond loopback)
    ok = make_config(tmp_path / "x.sqlite", listen="0.0.0.0:8780", password_hash=hash_secret("x" * 10, **FAST))
    assert ok.web.host == "0.0.0.0" and not ok.web.loopback
    assert apply_overrides(cfg, {}, {"no_web": True}).web.enabled is False
    assert apply_overrides(cfg, {"PV_WEB": "off"}, {}).web.enabled is False
    assert apply_overrides(cfg, {}, {"web": "[::1]:9000"}).web.listen == "[::1]:9000"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"listen": "8780"}, "web.listen: expected ADDR:PORT"),
        ({"listen": "pi.local:8780"}, "web.listen: 'pi.local' is not an IP address"),
        ({"listen": "127.0.0.1:99999"}, "web.listen: port '99999' is not a number from 0 to 65535"),
        ({"password_hash": "hunter2"}, "web.password_hash: expected scrypt$N$r$p$salt$hash"),
        ({"enabled": "yes"}, "web.enabled: expected true or false"),
        ({"passwd_hash": "x"}, "web.passwd_hash: unknown key (did you mean 'password_hash'?)"),
    ],
)
def test_web_table_errors_name_the_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        from_table({"ports": [{"port": "sim://cms"}], "web": table}, env={})
    assert message in str(err.value)


def test_cli_refuses_public_address_without_password(tmp_path) -> None:
    # 192.0.2.1 (TEST-NET-1) is no interface of this host: were the refusal broken, the
    # bind would fail instead of opening a port to the LAN during the test.
    proc = subprocess.run(
        [sys.executable, "-m", "pvapp.cli", "monitor", "--web", "192.0.2.1:8780", "--duration", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("config error: --web: 192.0.2.1:8780 is reachable")
    assert "Traceback" not in proc.stderr


def test_pv_web_password_prints_a_usable_hash(tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pvapp.cli", "web", "password"],
        input="a long password\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith('password_hash = "scrypt$')
    stored = line.split('"')[1]
    assert Verifier(stored).check("a long password")
    short = subprocess.run(
        [sys.executable, "-m", "pvapp.cli", "web", "password"], input="short\n", capture_output=True, text=True
    )
    assert short.returncode == 2 and "at least 8 characters" in short.stderr


def test_parse_listen_forms() -> None:
    assert parse_listen("127.0.0.1:0", "k") == ("127.0.0.1", 0)
    assert parse_listen("[::1]:8780", "k") == ("::1", 8780)
    assert parse_listen("localhost:8780", "k") == ("localhost", 8780)
    with pytest.raises(WebConfigError):
        parse_listen(":8780", "k")


def test_grafana_dashboard_uses_only_metrics_pv_serves() -> None:
    import json
    import re
    from pathlib import Path

    from pvapp.web.metrics import metric_name
    from pvgen.runtime.quantities import QUANTITIES

    repo = Path(__file__).resolve().parents[2]
    dashboard = json.loads((repo / "docs" / "grafana-pv.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\bpv_[a-z0-9_]+", e)}
    served = {metric_name(q.id, q.unit) for q in QUANTITIES}
    doc = (repo / "docs" / "web.md").read_text(encoding="utf-8")
    served |= set(re.findall(r"`(pv_[a-z0-9_]+)", doc))
    assert used and used <= served, used - served
