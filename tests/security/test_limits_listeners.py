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

from .clirun import pv_cmd, pv_env


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
