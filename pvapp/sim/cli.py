"""``pv simulate``: run simulated inverters on a pseudo-terminal and/or TCP.

The CLI owner wires ``add_arguments`` and ``run`` into ``pv simulate``; the
same pair backs ``python -m pvapp.sim``.  Option values are kept as strings
by argparse and parsed by the shared option table (``options.py``), so a bad
value gives the same one-line message here as in a ``sim://`` URL.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any, NoReturn

from pvgen.runtime.text import shown

from .options import OPTIONS, OptionError, SimOptions
from .servers import PtyServer, TcpConnector, TcpServer, _Loop
from .simulator import Simulator, asleep_note

EXIT_USAGE = 2
EXIT_RUNTIME = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every simulator option (and the transports) to ``parser``."""
    parser.add_argument(
        "--spec",
        default="cms",
        metavar="ID",
        help="spec id: cms, orion, sunezy, samil, samil_tcp... (default cms)",
    )
    for opt in OPTIONS:
        flag = "--" + opt.name.replace("_", "-")
        if opt.flag:
            parser.add_argument(flag, dest=opt.name, action="store_const", const="1", help=opt.help)
        elif opt.repeat:
            parser.add_argument(flag, dest=opt.name, action="append", metavar=opt.metavar, help=opt.help)
        else:
            parser.add_argument(flag, dest=opt.name, metavar=opt.metavar, help=opt.help)
    way = parser.add_argument_group("ways in (default: --pty)")
    way.add_argument("--pty", action="store_true", help="serve on a pseudo-terminal and print its path")
    way.add_argument("--link", metavar="PATH", help="also make PATH a stable symlink to the pty (implies --pty)")
    way.add_argument("--tcp", metavar="PORT", help="listen for socket://HOST:PORT clients (0 = any free port)")
    way.add_argument(
        "--bind",
        metavar="HOST",
        default="127.0.0.1",
        help="address for --tcp and --discovery (default 127.0.0.1; 0.0.0.0 to accept other hosts and LAN broadcasts)",
    )
    way.add_argument(
        "--connect", metavar="HOST:PORT", help="act as a Samil TCP inverter: connect to the monitoring host"
    )
    way.add_argument(
        "--discovery",
        metavar="UDP_PORT",
        help="act as a Samil TCP inverter that waits for the host's 'I AM SERVER' broadcast on UDP_PORT "
        "(real units: 1300), then connects back to it on the spec's TCP port (1200)",
    )
    parser.add_argument(
        "--duration", metavar="SECONDS", help="stop after this many real seconds (default: run until ^C)"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="print a line per inverter every few seconds")


def options_from_args(args: argparse.Namespace) -> SimOptions:
    """The SimOptions an argparse namespace describes (OptionError on bad values)."""
    pairs: dict[str, list[str]] = {}
    for opt in OPTIONS:
        value = getattr(args, opt.name, None)
        if value is None:
            continue
        pairs[opt.name] = list(value) if isinstance(value, list) else [value]
    return SimOptions.from_pairs(args.spec, pairs)


def _port(text: str, what: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise OptionError(f"{what}: expected a TCP port number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise OptionError(f"{what}: port {port} out of range 0-65535")
    return port


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise OptionError(f"--connect: expected HOST:PORT, got {text!r}")
    return host.strip("[]"), _port(port, "--connect")


def _summary(sim: Simulator) -> str:
    now = sim.advance()
    parts = [now.strftime("%Y-%m-%d %H:%M:%S")]
    for inv in sim.inverters:
        state = "asleep" if not inv.awake else (f"addr {inv.address}" if inv.registered else "unregistered")
        parts.append(
            f"{shown(inv.serial)} {state} {inv.mode_name(now)} Pac {inv.pac_at(now):.0f} W "
            f"E-Today {inv.reported_e_today(now):.2f} kWh E-Total {inv.e_total:.1f} kWh"
        )
    return " | ".join(parts)


def run(args: argparse.Namespace) -> int:
    """Start the simulator as ``args`` says and serve until ^C, SIGTERM or --duration."""
    prog = getattr(args, "prog", None) or "pv simulate"
    try:
        opts = options_from_args(args)
        duration = None
        if args.duration is not None:
            try:
                duration = float(args.duration)
            except ValueError:
                raise OptionError(f"--duration: expected seconds, got {args.duration!r}") from None
            if not duration > 0:
                raise OptionError(f"--duration: must be positive, got {args.duration}")
        tcp_port = _port(args.tcp, "--tcp") if args.tcp is not None else None
        connect = _host_port(args.connect) if args.connect else None
        discovery = _port(args.discovery, "--discovery") if args.discovery is not None else None
        if connect and discovery is not None:
            raise OptionError("--connect and --discovery exclude each other: the host is either given or discovered")
        sim = Simulator(opts.spec, opts)
        if (connect or discovery is not None) and sim.spec.frame.address_width:
            what = "--connect" if connect else "--discovery"
            raise OptionError(
                f"{what}: spec {sim.spec.id!r} is a serial protocol; the inverter-connects-out mode is for Samil TCP"
            )
    except OptionError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    servers: list[_Loop] = []
    try:
        want_pty = args.pty or args.link or (tcp_port is None and connect is None and discovery is None)
        if want_pty:
            try:
                pty = PtyServer(sim, link=args.link)
            except OSError as exc:
                if args.link:
                    raise type(exc)(exc.errno, exc.strerror, f"--link {args.link}") from None
                raise
            servers.append(pty)
            print(f"pty: {pty.path}", flush=True)
            if args.link:
                print(f"link: {args.link}", flush=True)
        if tcp_port is not None:
            try:
                tcp = TcpServer(sim, tcp_port, host=args.bind)
            except OSError as exc:
                raise OSError(exc.errno, exc.strerror, f"--tcp {args.bind}:{tcp_port}") from None
            servers.append(tcp)
            print(f"tcp: socket://{args.bind}:{tcp.port}", flush=True)
        if connect is not None:
            conn = TcpConnector(sim, connect[0], connect[1])
            servers.append(conn)
            print(f"connect: {connect[0]}:{connect[1]}", flush=True)
        if discovery is not None:
            try:
                disc = TcpConnector(sim, None, udp_port=discovery, udp_host=args.bind)
            except OSError as exc:
                raise OSError(exc.errno, exc.strerror, f"--discovery {args.bind}:{discovery}") from None
            servers.append(disc)
            print(f"discovery: udp {disc.udp_host}:{disc.udp_port}, connecting back on tcp {disc.port}", flush=True)
    except OSError as exc:
        for srv in servers:
            srv.stop()
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{prog}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, FileExistsError) else EXIT_RUNTIME

    note = ""
    if sim.moved_to_day:
        note = " (it is night here, so the simulated day starts at noon; --start now follows the real clock)"
    elif asleep := asleep_note(sim):
        note = f" ({asleep})"
    print(
        f"simulating {len(sim.inverters)} x {sim.model.title} ({sim.spec.id}), serials "
        f"{', '.join(shown(inv.serial) for inv in sim.inverters)}, speed {opts.speed:g}x, "
        f"sim time {sim.clock.now().isoformat(timespec='seconds')}{note}",
        flush=True,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    old: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, on_signal)
    for srv in servers:
        srv.start()
    deadline = None if duration is None else time.monotonic() + duration
    next_summary = time.monotonic()
    code = 0
    try:
        while not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                break
            if any(srv.error is not None for srv in servers):
                err = next(srv.error for srv in servers if srv.error is not None)
                print(f"{prog}: error: {err}", file=sys.stderr)
                code = EXIT_RUNTIME
                break
            if args.verbose and time.monotonic() >= next_summary:
                print(_summary(sim), flush=True)
                next_summary = time.monotonic() + 5.0
            stop.wait(0.1)
    finally:
        for srv in servers:
            srv.stop()
        if args.verbose:
            print(_summary(sim), flush=True)
        sim.close()
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return code


class _OneLineErrors(argparse.ArgumentParser):
    """Usage mistakes as one line (``prog: error: ...``), exit status 2, like bad option values."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def main(argv: list[str] | None = None) -> int:
    parser = _OneLineErrors(prog="python -m pvapp.sim", description="Simulated Phoenixtec/Samil inverters.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    args.prog = parser.prog
    return run(args)
