"""The command line of connect-in Samil TCP: `pv monitor --listen`, `pv status listen://`, `pv history`.

Real processes, real sockets on loopback: the simulated inverter (in this
process) waits for the advertisement on a loopback UDP port and connects back
to the port the command prints.  Also: auto-detection reports every
candidate's own reason, and the configuration keys fail in one line.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pv import cms

from pvapp.sim import SimOptions, Simulator
from pvapp.sim.servers import TcpConnector
from pvapp.storage import Storage

from .conftest import pv_cmd, pv_env, run_pv, write_config

TLD = "S221151415"
ADVERT = bytes.fromhex("55aa004002000b4920414d20534552564552043a")  # REFERENCE 1.3, [mhvis]


@pytest.fixture
def inverter() -> Iterator[tuple[Simulator, TcpConnector]]:
    """A TL-D in connect-in mode, in daylight, listening for the advertisement on a loopback UDP port."""
    start = datetime.now().astimezone().replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    sim = Simulator("samil_tcp", SimOptions(spec="samil_tcp", serials=(TLD,), start=start, clouds=0, latency=(20, 40)))
    conn = TcpConnector(sim, None, port=1, udp_port=0, udp_host="127.0.0.1", retry=0.2)
    conn.start()
    yield sim, conn
    conn.stop()


def start_pv(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        pv_cmd(*args), cwd=cwd, env=pv_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


_READERS: dict[int, threading.Thread] = {}


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> str:
    """The run's stdout, once it ended and its stderr has been read to the end into ``seen``."""
    out, _ = proc.communicate(timeout=timeout)
    reader = _READERS.pop(proc.pid, None)
    if reader is not None:
        reader.join(timeout=10)
    return out


def tcp_port_from(proc: subprocess.Popen[str], pattern: str, seen: list[str]) -> int:
    """Read stderr lines until the one naming the listening port; keep reading the rest in the background."""
    stream = proc.stderr
    assert stream is not None
    for line in stream:
        seen.append(line)
        m = re.search(pattern, line)
        if m:
            # The thread owns stderr from here on; communicate() then reads stdout only
            # (two readers of one pipe would split the text between them).
            proc.stderr = None
            reader = threading.Thread(target=lambda: seen.extend(stream), daemon=True)
            reader.start()
            _READERS[proc.pid] = reader
            return int(m.group(1))
    raise AssertionError("no listening port announced: " + "".join(seen))


def test_pv_status_waits_for_a_unit_to_connect(tmp_path: Path, inverter: tuple[Simulator, TcpConnector]) -> None:
    _sim, conn = inverter
    proc = start_pv(
        "status", "listen://127.0.0.1:0", "--advertise", f"127.0.0.1:{conn.udp_port}", "--wait", "30", "--json",
        cwd=tmp_path,
    )  # fmt: skip
    seen: list[str] = []
    conn.port = tcp_port_from(proc, r"connect on 127\.0\.0\.1:(\d+) \(advertising to 127\.0\.0\.1:\d+\)", seen)
    out = finish(proc)
    assert proc.returncode == 0, "".join(seen)
    data = json.loads(out)
    assert data["serial"] == TLD and data["spec"] == "samil_tcp"
    values = {r["id"]: r["value"] for r in data["values"]}
    assert values["pac"] > 0 and values["e_total"] > 0
    assert conn.connects == 1


def test_pv_monitor_listen_advertises_and_stores(tmp_path: Path, inverter: tuple[Simulator, TcpConnector]) -> None:
    _sim, conn = inverter
    watcher = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    watcher.bind(("127.0.0.1", 0))
    watcher.settimeout(20)
    db = tmp_path / "pv.sqlite"
    proc = start_pv(
        "monitor", "--listen", "127.0.0.1:0", "--advertise", f"127.0.0.1:{conn.udp_port}",
        "--advertise", f"127.0.0.1:{watcher.getsockname()[1]}", "--storage", str(db), "--poll-interval", "1",
        "--duration", "12", "--display", "lines",
        cwd=tmp_path,
    )  # fmt: skip
    seen: list[str] = []
    conn.port = tcp_port_from(proc, r"listening on 127\.0\.0\.1:(\d+) for Samil TCP", seen)
    adverts = []
    try:
        for _ in range(2):
            adverts.append(watcher.recvfrom(100)[0])
        out = finish(proc)
    finally:
        watcher.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, "".join(seen)
    assert adverts == [ADVERT, ADVERT]
    assert TLD in out
    storage = Storage(db, synchronous="NORMAL")
    rows = list(storage.readings(serial=TLD))
    storage.close()
    assert len(rows) >= 3 and all(r.pac is not None for r in rows)
    assert any(f"inverter {TLD} found on listen://127.0.0.1:0: SamilPower River 4500TL-D" in line for line in seen)
    assert any(re.search(r"web page: http://127\.0\.0\.1:(?!8780/)\d+/", line) for line in seen)  # never 8780


def test_pv_history_on_demand(tmp_path: Path, inverter: tuple[Simulator, TcpConnector]) -> None:
    sim, conn = inverter
    today = sim.clock.now().date()
    db = tmp_path / "pv.sqlite"
    proc = start_pv(
        "history", "listen://127.0.0.1:0", "--advertise", f"127.0.0.1:{conn.udp_port}", "--from",
        (today - timedelta(days=1)).isoformat(), "--to", today.isoformat(), "--storage", str(db), "--json",
        cwd=tmp_path,
    )  # fmt: skip
    seen: list[str] = []
    conn.port = tcp_port_from(proc, r"connect on 127\.0\.0\.1:(\d+)", seen)
    out = finish(proc)
    assert proc.returncode == 0, "".join(seen)
    data = json.loads(out)
    assert data["serial"] == TLD and data["complete"]
    served = sim.inverters[0].history(today - timedelta(days=1), today, sim.clock.now())
    want = [
        {"day": d.isoformat(), "time": f"{h:02d}:00", "energy_kwh": round(kwh, 2)}
        for d, hours in served.items()
        for h, kwh in hours
    ]
    assert data["hours"] == want and len({h["day"] for h in want}) == 2
    assert data["stored"] == len(want)
    # and `pv export --history` gives them back
    exported = run_pv("export", "--history", "--storage", str(db), "--format", "json", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    items = json.loads(exported.stdout)
    assert [(i["day"], i["hour_ending"], i["energy_kwh"]) for i in items] == [
        (w["day"], w["time"], w["energy_kwh"]) for w in want
    ]


class DiscoverOnly:
    """A CMS-like unit behind a TCP bridge that answers discover but never acknowledges registration."""

    def __init__(self) -> None:
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(4)
        self.port = self.srv.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                sock, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        from pvgen.runtime.framing import Framer

        framer = Framer(cms.CODEC)
        with sock:
            while data := sock.recv(1024):
                for f in framer.feed(data):
                    if (f.control, f.function) == (0x00, 0x00):
                        sock.sendall(cms.CODEC.build(0x00, 0x80, b"0905BO0139", src=0, dst=0x0100))

    def close(self) -> None:
        self.stop.set()
        self.srv.close()


def test_auto_detection_reports_every_candidates_own_reason(tmp_path: Path) -> None:
    unit = DiscoverOnly()
    try:
        r = run_pv("status", f"socket://127.0.0.1:{unit.port}", "--timeout", "0.3", cwd=tmp_path)
    finally:
        unit.close()
    assert r.returncode == 1
    line = r.stderr.strip()
    assert "\n" not in line
    assert "cms: inverter 0905BO0139 did not acknowledge registration at address 1" in line
    assert "samil: no unregistered inverter answered discover" in line
    assert "samil_tcp: no reply to version" in line
    assert "silent at night" not in line


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '[[ports]]\nport = "listen://127.0.0.1:0"\nspec = "cms"\n',
            "config error: ports[0]: spec 'cms' is a serial-line protocol; only Samil TCP units connect in",
        ),
        (
            '[[ports]]\nport = "socket://127.0.0.1:5000"\nspec = "samil_tcp"\nadvertise = "10.0.0.255"\n',
            "config error: ports[0].advertise: only a port the inverters connect to has one",
        ),
        (
            '[[ports]]\nport = "listen://127.0.0.1:99999"\n',
            "config error: ports[0].port: port '99999' is not a number from 0 to 65535",
        ),
        (
            '[[ports]]\nport = "listen://127.0.0.1:0"\nadvertise = ["127.0.0.1:1300", 5]\n',
            'config error: ports[0].advertise[1]: expected "HOST:PORT"',
        ),
        (
            '[[ports]]\nport = "listen://127.0.0.1:0"\n[[ports.inverters]]\n[[ports.inverters]]\n',
            'config error: ports[0].inverters: one serial = "auto" entry',
        ),
        # every interface is a deliberate choice, never what a missing address means
        ('[[ports]]\nport = "listen://"\n', "config error: ports[0].port: '' names no address to listen on"),
        ('[[ports]]\nport = "listen://:1200"\n', "config error: ports[0].port: ':1200' names no address"),
    ],
)
def test_listen_config_errors_are_one_line(tmp_path: Path, body: str, message: str) -> None:
    cfg = write_config(tmp_path / "pv.toml", body)
    r = run_pv("--config", str(cfg), "config", "check", cwd=tmp_path)
    assert r.returncode == 2, r.stdout
    assert r.stderr.strip().startswith(message), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_samil_tcp_on_a_dialled_port_warns_that_units_connect_in(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "pv.toml", '[[ports]]\nport = "socket://127.0.0.1:5000"\nspec = "samil_tcp"\n')
    r = run_pv("--config", str(cfg), "config", "check", cwd=tmp_path)
    assert r.returncode == 0
    assert "do not accept connections, they connect to the monitor" in r.stderr
    assert 'port = "listen://0.0.0.0:1200"' in r.stderr


def test_history_needs_a_date(tmp_path: Path) -> None:
    r = run_pv("history", "listen://127.0.0.1:0", "--from", "2026-02-30", cwd=tmp_path)
    assert r.returncode == 2 and "--from: '2026-02-30' is not a date" in r.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("monitor", "--listen", "", "--no-web", "--duration", "1"),
        ("monitor", "--listen", ":1200", "--no-web", "--duration", "1"),
        ("status", "listen://", "--wait", "1"),
        ("history", "listen://:1200", "--from", "2026-01-12", "--wait", "1"),
    ],
)
def test_a_listen_address_must_be_given(tmp_path: Path, args: tuple[str, ...]) -> None:
    """An empty --listen or listen:// with no host is a usage error, not a silent 0.0.0.0."""
    r = run_pv(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "names no address to listen on" in r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("monitor", "--listen", "1.2.3.4.5:12", "--no-web", "--duration", "1"), "--listen: '1.2.3.4.5' is not an IP"),
        (
            ("monitor", "--listen", "nas.local:1200", "--no-web", "--duration", "1"),
            "--listen: 'nas.local' is not an IP",
        ),
        (
            ("monitor", "--listen", "127.0.0.1:0", "--advertise", "nonsense", "--no-web", "--duration", "1"),
            "--advertise: 'nonsense' is not an IP address",
        ),
        (("status", "listen://127.0.0.1:0", "--advertise", "nonsense"), "--advertise: 'nonsense' is not an IP address"),
        (("info", "listen://127.0.0.1:0", "--advertise", "1.2.3:1"), "--advertise: '1.2.3' is not an IP address"),
        (("status", "listen://1.2.3.4.5:1200"), "PORT: '1.2.3.4.5' is not an IP address"),
        (
            ("history", "listen://127.0.0.1:0", "--from", "2026-01-12", "--advertise", "bcast:1300"),
            "--advertise: 'bcast' is not an IP address",
        ),
    ],
)
def test_bad_listen_and_advertise_addresses_are_usage_errors(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    """Refused before anything listens or waits: one line, exit 2 (a name was taken as a host and failed later)."""
    r = run_pv(*args, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert message in r.stderr
    assert "waiting" not in r.stderr


def test_a_listen_address_that_cannot_be_bound_ends_with_the_real_reason(tmp_path: Path) -> None:
    """192.0.2.1 (TEST-NET-1) is no address of this host: not 'another program? a firewall?', and exit 1."""
    r = run_pv(
        "monitor", "--listen", "192.0.2.1:0", "--advertise", "off", "--no-web", "--duration", "2",
        "--storage", str(tmp_path / "pv.sqlite"), cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 1, r.stderr
    assert "cannot listen on 192.0.2.1:0: Cannot assign requested address" in r.stderr
    assert "no interface of this host has that address" in r.stderr
    assert "firewall" not in r.stderr
    assert "port listen://192.0.2.1:0 never listened" in r.stderr
