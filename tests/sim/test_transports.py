"""The three ways in, with real parts: a pseudo-terminal opened by pyserial, TCP sockets, sim:// URLs."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pv
import pytest
import serial
from pv import cms, samil_tcp, sunezy

from pvapp.sim import ManualClock, PtyServer, SimOptions, Simulator, TcpConnector, TcpServer

from .conftest import SYDNEY


def _day_sim(spec: str = "cms", **kw: object) -> Simulator:
    opts = SimOptions(spec=spec, start=datetime(2026, 12, 21, 11, 0), tz=SYDNEY, **kw)  # type: ignore[arg-type]
    return Simulator(spec, opts)


def _wait(cond: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def test_pty_serves_pyserial_and_survives_reopen(tmp_path: Path) -> None:
    sim = _day_sim()
    link = tmp_path / "ttyPV0"
    with PtyServer(sim, link=link) as srv:
        assert link.is_symlink() and os.readlink(link) == srv.path and srv.path.startswith("/dev/pts/")
        port = serial.Serial(str(link), 9600, timeout=0.5)
        inv = cms.Inverter(port, sleep=lambda s: None)
        assert inv.handshake() == "0905BO0139"
        status = inv.read_status()
        assert inv.last_frame == sim.record.last().frame  # type: ignore[union-attr]
        assert status.mode_label == "Normal" and status.pac and status.pac > 0
        port.close()
        # a client that closes and reopens the device finds the inverter still registered
        port = serial.Serial(str(link), 9600, timeout=0.5)
        inv = cms.Inverter(port, address=1)
        assert inv.read_version().serial == "0905BO0139"
        port.close()


def test_pty_vanishes_and_comes_back_on_the_same_link(tmp_path: Path) -> None:
    sim = _day_sim()
    link = tmp_path / "ttyPV1"
    with PtyServer(sim, link=link) as srv:
        first = srv.path
        port = serial.Serial(str(link), 9600, timeout=0.5)
        inv = cms.Inverter(port, sleep=lambda s: None)
        inv.handshake()
        sim.faults.vanish()
        _wait(lambda: not link.exists())
        with pytest.raises(pv.PortGone):
            inv.read_status()
        port.close()
        with pytest.raises(serial.SerialException):
            serial.Serial(first, 9600, timeout=0.5).read(1)
        sim.faults.restore()
        _wait(link.exists)
        port = serial.Serial(str(link), 9600, timeout=0.5)
        inv = cms.Inverter(port, address=1)
        assert inv.read_status().pac is not None
        port.close()


def test_tcp_server_for_socket_urls() -> None:
    sim = _day_sim()
    with TcpServer(sim, 0) as srv:
        port = serial.serial_for_url(f"socket://127.0.0.1:{srv.port}", timeout=0.5)
        inv = cms.Inverter(port, sleep=lambda s: None)
        assert inv.handshake() == "0905BO0139"
        inv.read_status()
        assert inv.last_frame == sim.record.last().frame  # type: ignore[union-attr]
        port.close()
        # the bridge vanishes: the client sees the connection die
        port = serial.serial_for_url(f"socket://127.0.0.1:{srv.port}", timeout=0.5)
        inv = cms.Inverter(port, address=1)
        inv.read_status()
        sim.faults.vanish()
        time.sleep(0.3)
        with pytest.raises((pv.PortGone, pv.NoReply)):
            inv.read_status()
        port.close()
        with pytest.raises(serial.SerialException):
            serial.serial_for_url(f"socket://127.0.0.1:{srv.port}", timeout=0.5)
        sim.faults.restore()
        time.sleep(0.3)
        port = serial.serial_for_url(f"socket://127.0.0.1:{srv.port}", timeout=0.5)
        assert cms.Inverter(port, address=1).read_status().pac is not None
        port.close()


def test_two_tcp_clients_share_one_bus() -> None:
    sim = _day_sim(inverters=2)
    with TcpServer(sim, 0) as srv:
        a = serial.serial_for_url(f"socket://127.0.0.1:{srv.port}", timeout=0.5)
        b = serial.serial_for_url(f"socket://127.0.0.1:{srv.port}", timeout=0.5)
        ia, ib = cms.Inverter(a, sleep=lambda s: None), cms.Inverter(b, sleep=lambda s: None)
        sa = ia.handshake(1)
        sb = ib.discover()  # the other inverter, still unregistered, answers b
        assert sb is not None and sb != sa
        assert ib.register(sb, 2)
        assert ia.read_status().pac is not None and ib.read_status().pac is not None
        assert {r.serial for r in sim.record.entries()} == {sa, sb}
        a.close()
        b.close()


class _SocketPort:
    """The monitoring host's end of a Samil TCP connection, as a pyserial-like port."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self.sock = sock
        self.timeout: float | None = timeout

    def write(self, data: bytes) -> int:
        self.sock.sendall(data)
        return len(data)

    def read(self, size: int = 1) -> bytes:
        self.sock.settimeout(self.timeout)
        try:
            return self.sock.recv(size)
        except TimeoutError:
            return b""


def test_samil_tcp_inverter_connects_to_the_host_and_sleeps_at_night() -> None:
    clock = ManualClock(datetime(2026, 12, 21, 11, 0, tzinfo=SYDNEY))
    sim = Simulator("samil_tcp", SimOptions(spec="samil_tcp", model="sr4500tld"), clock=clock)
    host = socket.create_server(("127.0.0.1", 0))
    host.settimeout(15)  # waits, not timings: generous for a loaded machine
    with TcpConnector(sim, "127.0.0.1", host.getsockname()[1], retry=0.1):
        conn, _ = host.accept()  # the inverter called us, as a real TL-D does
        inv = samil_tcp.Inverter(_SocketPort(conn, 1.0))
        version = inv.read_version()
        assert (version.model, version.serial, version.comm_version) == ("River 4500TL-D", "S221151415", "V1.30")
        status = inv.read_status()
        assert status.pac and status.pac > 0 and status.e_total and status.e_total >= 1500
        assert inv.last_frame[4] == 0x00  # third identifier byte of replies (REFERENCE 1.3)
        # night: the network module loses power and the connection drops
        clock.set(datetime(2026, 12, 21, 23, 0, tzinfo=SYDNEY))
        conn.settimeout(15)
        assert conn.recv(1) == b""
        conn.close()
        # dawn: it calls again
        clock.set(datetime(2026, 12, 22, 9, 0, tzinfo=SYDNEY))
        conn, _ = host.accept()
        inv = samil_tcp.Inverter(_SocketPort(conn, 1.0))
        assert inv.read_status().mode_label == "Normal"
        conn.close()
    host.close()


def test_sim_url_latency_and_baud_pacing() -> None:
    base = "sim://cms?start=2026-12-21T11:00&tz=%2B10:00"
    timings = {}
    for extra in ("", "&latency=80", "&latency=80&baud_pacing=1"):
        port = serial.serial_for_url(base + extra, timeout=1)
        inv = cms.Inverter(port, sleep=lambda s: None)
        inv.handshake()
        inv.read_status_layout()
        t0 = time.monotonic()
        inv.read_status()
        timings[extra] = time.monotonic() - t0
        port.close()
    assert timings[""] < 0.07  # (upper bounds leave room for a loaded machine)
    assert 0.08 <= timings["&latency=80"] < 0.3
    # 11-byte request + 53-byte reply at 9600 baud, 10 bits a byte: 67 ms more on the wire
    assert 0.08 + 0.064 <= timings["&latency=80&baud_pacing=1"] < 0.5


def test_sim_url_bad_options_are_one_line_serial_errors() -> None:
    for url, fragment in [
        ("sim://cms?speed=fast", "option speed='fast': expected a number"),
        ("sim://cms?inverters=0", "option inverters='0': must be between 1 and 254"),
        ("sim://cms?colour=red", "unknown option 'colour'"),
        ("sim://nosuchspec", "no generated spec module pv.nosuchspec"),
        ("sim://cms?fault=explode", "unknown fault kind 'explode'"),
        ("sim://cms?model=cms9000", "no model 'cms9000'"),
        ("sim://cms?fault=wild:nosuchfield", "has no field 'nosuchfield'"),
    ]:
        with pytest.raises(serial.SerialException) as info:
            serial.serial_for_url(url)
        assert fragment in str(info.value), url
        assert "\n" not in str(info.value)


def test_sim_url_named_instance_is_shared() -> None:
    from pvapp.sim import forget_simulator, get_simulator

    url = "sim://sunezy?name=shared1&model=sunezy2800&start=2026-12-21T11:00&tz=%2B10:00"
    a = serial.serial_for_url(url, timeout=0.5)
    inv = sunezy.Inverter(a, sleep=lambda s: None)
    assert inv.handshake() == "10071AI007"
    a.close()
    b = serial.serial_for_url(url, timeout=0.5)
    assert sunezy.Inverter(b, address=1).read_version().model == "SunEzy 2800"
    b.close()
    assert get_simulator("shared1").inverters[0].registered
    forget_simulator("shared1")
    with pytest.raises(KeyError):
        get_simulator("shared1")


def test_sim_url_starts_at_night_silent() -> None:
    url = "sim://cms?start=2026-12-21T23:30&tz=%2B10:00"
    port = serial.serial_for_url(url, timeout=0.1)
    inv = cms.Inverter(port, timeout=0.1, sleep=lambda s: None)
    assert inv.discover() is None
    with pytest.raises(pv.NoReply):
        inv.handshake()
    port.close()


def test_samil_tcp_inverter_found_by_udp_broadcast() -> None:
    """The host advertises itself ("I AM SERVER", REFERENCE 1.3); the inverter connects back to the sender."""
    sim = Simulator("samil_tcp", SimOptions(spec="samil_tcp", awake="always"))
    host = socket.create_server(("127.0.0.1", 0))
    host.settimeout(15)  # waits, not timings: generous for a loaded machine
    with TcpConnector(sim, None, host.getsockname()[1], udp_port=0, udp_host="127.0.0.1", retry=0.1) as inv_side:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.sendto(
            bytes.fromhex("55aa004002000b") + b"I AM SERVER" + bytes.fromhex("043a"), ("127.0.0.1", inv_side.udp_port)
        )
        udp.close()
        conn, _ = host.accept()
        inv = samil_tcp.Inverter(_SocketPort(conn, 1.0))
        assert inv.read_version().serial == sim.inverters[0].serial
        conn.close()
    host.close()


def test_sim_url_keeps_plus_signs_of_time_offsets() -> None:
    from pvapp.sim import parse_sim_url

    opts, _ = parse_sim_url("sim://cms?tz=+10:00&start=2026-12-21T05:30+10:00")
    assert opts.start is not None and opts.start.utcoffset() == opts.tz.utcoffset(None)  # type: ignore[union-attr]
    assert opts.start.hour == 5
