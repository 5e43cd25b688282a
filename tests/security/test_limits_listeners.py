"""Every listener the project opens is on loopback unless the user asks otherwise."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import time
from pathlib import Path

from pvapp.pvoutput_service import PVOutputService
from pvapp.sim import SimOptions, Simulator
from pvapp.sim.servers import TcpConnector, TcpServer

from .clirun import port_from_stderr, pv_cmd, pv_env, start_pv


def _udp_local_addresses(port: int) -> set[str]:
    """Local addresses bound to UDP ``port``, from /proc/net/udp{,6} (hex, as the kernel writes them)."""
    found = set()
    for name in ("/proc/net/udp", "/proc/net/udp6"):
        path = Path(name)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local = line.split()[1]
            addr, _, hexport = local.partition(":")
            if int(hexport, 16) == port:
                found.add(addr)
    return found


def test_simulate_discovery_listens_on_loopback() -> None:
    proc = subprocess.Popen(
        pv_cmd("simulate", "--spec", "samil_tcp", "--discovery", "0", "--duration", "20"),
        env=pv_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = ""
        deadline = time.monotonic() + 20
        while "discovery:" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
        found = re.search(r"discovery: udp ([\d.]+):(\d+)", line)
        assert found, line
        assert found.group(1) == "127.0.0.1"
        assert _udp_local_addresses(int(found.group(2))) == {"0100007F"}  # 127.0.0.1, not 00000000 (any)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)


def test_every_listener_defaults_to_loopback() -> None:
    sim = Simulator("samil_tcp", SimOptions(spec="samil_tcp"))
    tcp_sim = Simulator("cms", SimOptions(spec="cms"))
    disc = TcpConnector(sim, None, udp_port=0)
    tcp = TcpServer(tcp_sim, 0)
    svc = PVOutputService()
    try:
        assert disc._udp is not None and disc._udp.getsockname()[0] == "127.0.0.1"
        assert tcp._listener is not None and tcp._listener.getsockname()[0] == "127.0.0.1"
        assert svc._httpd.socket.getsockname()[0] == "127.0.0.1"
        assert svc._httpd.socket.family == socket.AF_INET
    finally:
        disc._close_all()
        tcp._close_all()
        svc._httpd.server_close()
        sim.close()
        tcp_sim.close()


def _threads(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/task").iterdir()))


def test_a_flood_of_idle_connections_to_a_listen_port_is_bounded(tmp_path: Path) -> None:
    """Anyone on the LAN can open connections to listen://: the unidentified ones are capped, said once.

    Each connection that has not yet named its inverter costs a thread for up to
    ~16 s (1 s pause, three 5 s version requests); 400 idle connections once made
    277 monitor threads.  Beyond the cap (one per configured inverter + 8) a
    connection is closed unheard; a real unit calling afterwards is served.
    """
    db = tmp_path / "pv.sqlite"
    proc = start_pv(
        tmp_path, "monitor", "--listen", "127.0.0.1:0", "--advertise", "off", "--storage", str(db),
        "--poll-interval", "1", "--duration", "40", "--display", "lines", "--no-upload", "--no-web",
    )  # fmt: skip
    seen: list[str] = []
    idle: list[socket.socket] = []
    connector = None
    try:
        port, rest = port_from_stderr(proc, r"listening on 127\.0\.0\.1:(\d+) for Samil TCP", seen)
        time.sleep(0.5)
        baseline = _threads(proc.pid)
        for _ in range(200):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        time.sleep(1.0)
        peak = _threads(proc.pid)
        assert peak <= baseline + 8 + 2, (baseline, peak)
        for s in idle:
            s.close()
        idle.clear()
        deadline = time.monotonic() + 25
        while not any("taking connections again" in line for line in seen) and time.monotonic() < deadline:
            time.sleep(0.2)
        # a real unit calling now is identified and polled
        sim = Simulator("samil_tcp", SimOptions(spec="samil_tcp", serials=("S221151415",), awake="always"))
        connector = TcpConnector(sim, "127.0.0.1", port, retry=0.3)
        connector.start()
        while "S221151415" not in (tmp_path / "stdout").read_text() and time.monotonic() < deadline + 10:
            time.sleep(0.2)
    finally:
        for s in idle:
            s.close()
        if connector is not None:
            connector.stop()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    rest.join(timeout=10)
    err = "".join(seen)
    closing = [line for line in err.splitlines() if "closing further ones unheard" in line]
    assert len(closing) == 1, err  # once per episode, not once per connection
    assert "taking connections again" in err, err
    assert "S221151415" in (tmp_path / "stdout").read_text(), err
