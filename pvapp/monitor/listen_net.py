"""The network side of a Samil TCP listen port: the advertisement, a socket as a port, one-shot accept.

``SocketPort`` gives the generated client the pyserial calls it uses, so the
same ``pv.samil_tcp.Inverter`` talks over a connection the unit opened;
``accept_one`` is the one-shot commands' way in (``pv status listen://...``).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import select
import socket
import struct
import termios
import time
from collections.abc import Callable, Sequence
from typing import Any

from pvapp.config import parse_listen
from pvgen.runtime.errors import NoReply, PortGone, ProtocolError
from pvgen.runtime.text import serial_problem

from .bounded import SeenOnce

log = logging.getLogger("pv.monitor")

ANNOUNCEMENT = b"I AM SERVER"
ACCEPT_PAUSE = 1.0  # seconds between accept and the first request ([mhvis] PR #25 "wififix")
KEEP_ALIVE_IDLE = 11.0  # [mhvis] sends 01 09 when the connection was idle this long
ADVERTISE_EVERY = 5.0  # [mhvis]: a broadcast every 5 s...
ADVERTISE_BURST = 10  # ...10 tries
ADVERTISE_SLOW = 60.0  # then, while a configured inverter is still missing, once a minute
IDENTIFY_TRIES = 3  # version requests before a silent connection is given up
MAX_MISSES = 3  # polls in a row without a reply before a connection is closed
MAX_AUTO = 32  # inverters one "auto" entry takes (a hostile LAN cannot make us poll thousands)
MAX_REMEMBERED = 256  # refused serials / silent peers remembered for log-once
UNIDENTIFIED_EXTRA = 8  # connections still identifying themselves, beyond one per configured inverter
ACCEPT_BURST = 64  # connections taken from the backlog per turn of the accept loop
BIND_HINTS = {  # what a failed bind usually means, by errno
    errno.EADDRINUSE: " (another program on this port? `ss -ltnp` shows which; or a monitor still stopping)",
    errno.EADDRNOTAVAIL: " (no interface of this host has that address (yet?); 0.0.0.0 listens on every one)",
    errno.EACCES: " (ports below 1024 need privileges; the units call 1200)",
}
SELECT_TICK = 0.5  # real seconds between housekeeping turns of the accept loop


def advertisement(module: Any) -> bytes:
    """The "I AM SERVER" datagram, built by the spec's own frame codec (its ``advertise`` command)."""
    spec = module.SPEC
    cmd = spec.command("advertise") if spec.has_command("advertise") else None
    control, function = (cmd.control, cmd.function) if cmd else (0x00, 0x40)
    return bytes(module.CODEC.build(control, function, ANNOUNCEMENT))


class SocketPort:
    """A connected TCP socket with the pyserial calls the generated client uses.

    ``read(n)`` waits until n bytes or ``timeout`` (pyserial's semantics);
    ``in_waiting`` is the byte count the kernel holds; a peer that hung up
    raises ``ConnectionResetError`` (the client turns it into ``PortGone``).
    """

    def __init__(self, sock: socket.socket, timeout: float | None) -> None:
        self.sock = sock
        self.timeout: float | None = timeout
        self.closed = False
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def read(self, size: int = 1) -> bytes:
        out = bytearray()
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while len(out) < size:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.sock], [], [], wait)
            if not ready:
                break
            try:
                chunk = self.sock.recv(size - len(out))
            except BlockingIOError:
                continue
            if not chunk:
                raise ConnectionResetError("the inverter closed the connection")
            out += chunk
        return bytes(out)

    @property
    def in_waiting(self) -> int:
        buf = bytearray(4)
        try:
            fcntl.ioctl(self.sock.fileno(), termios.FIONREAD, buf)
        except (OSError, ValueError):
            return 0
        return int(struct.unpack("i", bytes(buf))[0])

    def write(self, data: bytes) -> int:
        self.sock.setblocking(True)
        try:
            self.sock.sendall(data)
        finally:
            self.sock.setblocking(False)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
            self.sock.close()


class Advertiser:
    """Sends the advertisement datagram to each configured address; failures logged once per episode."""

    def __init__(self, targets: Sequence[tuple[str, int]], frame: bytes, *, source: str = "") -> None:
        self.targets = tuple(targets)
        self.frame = frame
        self.sent = 0
        self._failing: set[tuple[str, int]] = set()
        self._sock: socket.socket | None = None
        self._source = source

    def _socket(self, host: str) -> socket.socket:
        if self._sock is None:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            if self._source and self._source not in ("0.0.0.0", "::"):
                # the datagram leaves from the address the units must connect to
                sock.bind((self._source, 0))
            self._sock = sock
        return self._sock

    def send(self) -> None:
        for target in self.targets:
            try:
                self._socket(target[0]).sendto(self.frame, target)
            except OSError as exc:
                if target not in self._failing:
                    self._failing.add(target)
                    log.warning("cannot send the Samil TCP advertisement to %s:%d: %s", *target, exc.strerror or exc)
                continue
            self.sent += 1
            if target in self._failing:
                self._failing.discard(target)
                log.info("Samil TCP advertisement reaches %s:%d again", *target)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def accept_one(
    url: str,
    module: Any,
    *,
    advertise: Sequence[tuple[str, int]],
    wait: float,
    timeout: float | None,
    announce: Callable[[str], None] | None = None,
) -> tuple[SocketPort, Any, Any, str]:
    """For the one-shot commands: listen on ``url``, advertise, and return the first inverter that connects.

    Returns (port, client, version reply, peer).  A connection that does not
    answer the version request is closed and waited past.  NoReply when none
    came within ``wait`` seconds; PortGone when the address cannot be bound.
    """
    host, port_number = parse_listen(url, "PORT")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        srv.bind((host, port_number))
        srv.listen(4)
    except OSError as exc:
        srv.close()
        raise PortGone(f"cannot listen on {host}:{port_number}: {exc.strerror or exc}") from None
    advertiser = Advertiser(advertise, advertisement(module), source=host)
    bound = srv.getsockname()[:2]
    if announce is not None:
        targets = ", ".join(f"{h}:{p}" for h, p in advertise) or "nowhere"
        announce(
            f"waiting up to {wait:g} s for an inverter to connect on {bound[0]}:{bound[1]} (advertising to {targets})"
        )
    deadline = time.monotonic() + wait
    next_advert = 0.0
    malformed = SeenOnce(MAX_REMEMBERED)
    try:
        while time.monotonic() < deadline:
            now = time.monotonic()
            if now >= next_advert and advertise:
                advertiser.send()
                next_advert = now + ADVERTISE_EVERY
            ready, _, _ = select.select([srv], [], [], min(SELECT_TICK, max(0.0, deadline - now)))
            if not ready:
                continue
            sock, peer = srv.accept()
            conn = SocketPort(sock, timeout or module.SPEC.transport.reply_timeout)
            client = module.Inverter(conn, timeout=timeout)
            time.sleep(ACCEPT_PAUSE)
            refused = False
            for _ in range(IDENTIFY_TRIES):
                try:
                    version = client.read_version()
                except (NoReply, ProtocolError):
                    continue
                except PortGone:
                    break
                serial = str(getattr(version, "serial", "") or "").strip()
                if not serial:
                    continue
                problem = serial_problem(serial)
                if problem is None:
                    client.serial = serial
                    return conn, client, version, f"{peer[0]}:{peer[1]}"
                refused = True  # the serial rule, as on a serial line and in the monitor
                if malformed.first(serial):
                    log.warning(
                        "refusing the inverter connected from %s:%d: its serial %r is malformed: %s",
                        peer[0],
                        peer[1],
                        serial,
                        problem,
                    )
                break
            if not refused:
                log.warning("the connection from %s:%d never answered; closed", peer[0], peer[1])
            conn.close()
    finally:
        srv.close()
        advertiser.close()
    raise NoReply(f"no inverter connected to {bound[0]}:{bound[1]} within {wait:g} s")
