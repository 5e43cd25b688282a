"""The simulator outside the process: on a pseudo-terminal, on TCP, and as a Samil TCP inverter.

All three run one selector loop in a background thread; each connection gets
its own ``Line`` (framer + timed output) onto the shared ``Simulator``.

* ``PtyServer``: the simulator holds the master side of ``os.openpty()``; any
  program opening the slave path (or the stable symlink) talks to it as to a
  serial device.  The server keeps the slave open itself, in raw mode, so a
  client closing and reopening the device never makes the master see a hang-up,
  and the simulator's replies are never echoed back to it.
* ``TcpServer``: listens for ``socket://host:port`` clients (a TCP-to-serial
  bridge in front of the bus).
* ``TcpConnector``: the inverter side of Samil TCP (REFERENCE 1.3): the
  inverter connects to the monitoring host, and reconnects after a drop; it
  hangs up while asleep at night.

When the fault plan says the device vanished, the pty is closed (the symlink
removed) or the sockets closed; on restore a new pty (same symlink) or a new
listening socket appears, as after replugging a USB adapter.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import socket
import threading
import time
import tty
from pathlib import Path
from typing import Self

from pvgen.runtime.framing import FrameError

from .line import Line
from .simulator import Simulator

POLL = 0.2  # seconds between housekeeping checks when nothing is due
DEFAULT_SAMIL_TCP_PORT = 1200  # the host port a Samil TL-D connects to (REFERENCE 1.3)
DEFAULT_DISCOVERY_PORT = 1300  # where it listens for the host's UDP advertisement
ANNOUNCEMENT = b"I AM SERVER"


class _Loop:
    """Background thread that pumps bytes between endpoints and their Lines."""

    def __init__(self, sim: Simulator, *, baud_pacing: bool | None = None) -> None:
        self.sim = sim
        self.baud_pacing = baud_pacing
        self._sel = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._lines: dict[int, Line] = {}
        self.error: BaseException | None = None
        self._vanish_pending: bool | None = None
        sim.faults.on_vanish(self._vanish_event)

    # subclass hooks -------------------------------------------------------------
    def _readable(self, fd: int) -> None:
        raise NotImplementedError

    def _write(self, fd: int, data: bytes) -> None:
        os.write(fd, data)

    def _on_vanish(self, gone: bool) -> None:
        pass

    def _housekeeping(self) -> None:
        pass

    # machinery ---------------------------------------------------------------------
    def _vanish_event(self, gone: bool) -> None:
        self._vanish_pending = gone
        self.wake()

    def wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def add_line(self, fd: int) -> Line:
        line = Line(self.sim, baud_pacing=self.baud_pacing)
        self._lines[fd] = line
        return line

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wake()
        if self._thread is None:
            self._close_all()
        elif self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                due = [ln.next_due() for ln in self._lines.values()]
                due_times = [d for d in due if d is not None]
                timeout = POLL if not due_times else max(0.0, min(min(due_times) - now, POLL))
                for key, _ in self._sel.select(timeout):
                    if key.fd == self._wake_r:
                        with contextlib.suppress(OSError):
                            os.read(self._wake_r, 4096)
                        continue
                    self._readable(key.fd)
                if self._vanish_pending is not None:
                    gone, self._vanish_pending = self._vanish_pending, None
                    self._on_vanish(gone)
                for fd, line in list(self._lines.items()):
                    data = line.take()
                    if data:
                        try:
                            self._write(fd, data)
                        except OSError:
                            self._drop(fd)
                self._housekeeping()
        except BaseException as exc:  # surfaced by the CLI instead of dying silently
            self.error = exc
            raise
        finally:
            self._close_all()

    def _drop(self, fd: int) -> None:
        self._lines.pop(fd, None)
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(fd)

    def _close_all(self) -> None:
        pass


PTY_DIR = "/dev/pts/"


def check_link(link: Path) -> None:
    """Refuse a ``--link`` path that exists, unless it is a stale simulator link.

    The link is replaced atomically and removed on exit, so an existing file there
    would be lost.  Only a symlink to a pseudo-terminal that no longer exists (left
    by a simulator that was killed) may be replaced; a link to a live pty belongs
    to a running simulator.
    """
    if not link.is_symlink():
        if link.exists():
            raise FileExistsError(errno.EEXIST, "exists and is not a simulator link; pick another path", str(link))
        return
    target = os.readlink(link)
    if not target.startswith(PTY_DIR):
        raise FileExistsError(errno.EEXIST, f"is a link to {target}, not a simulator's; pick another path", str(link))
    if os.path.exists(target):
        raise FileExistsError(errno.EEXIST, f"is in use: it leads to {target}, a running simulator's", str(link))


def _points_to(link: Path, target: str) -> bool:
    try:
        return bool(target) and os.readlink(link) == target
    except OSError:
        return False


class PtyServer(_Loop):
    """The bus on a pseudo-terminal: ``serial.Serial(server.path)`` talks to it."""

    def __init__(
        self, sim: Simulator, *, link: str | os.PathLike[str] | None = None, baud_pacing: bool | None = None
    ) -> None:
        super().__init__(sim, baud_pacing=baud_pacing)
        self.link = Path(link) if link else None
        if self.link is not None:
            check_link(self.link)
        self.master = -1
        self.slave = -1
        self.path = ""
        self.overruns = 0
        self._open_pty()

    @property
    def device(self) -> str:
        """The path to give clients: the symlink if one was asked for, else the pty itself."""
        return str(self.link) if self.link else self.path

    def _open_pty(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self.master, self.slave = master, slave
        self.path = os.ttyname(slave)
        self._sel.register(master, selectors.EVENT_READ, None)
        self.add_line(master)
        if self.link is not None:
            tmp = self.link.with_name(f".{self.link.name}.{os.getpid()}.tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.path)
            os.replace(tmp, self.link)  # atomic: the link never dangles half-made

    def _close_pty(self) -> None:
        if self.master >= 0:
            self._drop(self.master)
            for fd in (self.master, self.slave):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self.master = self.slave = -1
        if self.link is not None and _points_to(self.link, self.path):
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()

    def _readable(self, fd: int) -> None:
        try:
            data = os.read(fd, 4096)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return
            if exc.errno == errno.EIO:  # no slave open; cannot happen while we hold it
                return
            raise
        line = self._lines.get(fd)
        if data and line is not None:
            line.receive(data)

    def _write(self, fd: int, data: bytes) -> None:
        try:
            os.write(fd, data)
        except BlockingIOError:
            # Nobody is reading and the pty buffer is full: like an overrun UART,
            # the bytes are lost; the line itself stays up.
            self.overruns += 1

    def _on_vanish(self, gone: bool) -> None:
        if gone:
            self._close_pty()
        else:
            self._open_pty()

    def _close_all(self) -> None:
        self._close_pty()


class TcpServer(_Loop):
    """The bus behind a TCP port, for ``socket://HOST:PORT`` clients (a serial-over-TCP bridge)."""

    def __init__(
        self, sim: Simulator, port: int = 0, *, host: str = "127.0.0.1", baud_pacing: bool | None = None
    ) -> None:
        super().__init__(sim, baud_pacing=baud_pacing)
        self.host = host
        self.port = port
        self._listener: socket.socket | None = None
        self._clients: dict[int, socket.socket] = {}
        self._listen()

    def _listen(self) -> None:
        srv = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((self.host, self.port))
        srv.listen(8)
        srv.setblocking(False)
        self.port = srv.getsockname()[1]
        self._listener = srv
        self._sel.register(srv.fileno(), selectors.EVENT_READ, None)

    def _readable(self, fd: int) -> None:
        if self._listener is not None and fd == self._listener.fileno():
            try:
                new, _ = self._listener.accept()
            except OSError:
                return
            new.setblocking(False)
            new.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._clients[new.fileno()] = new
            self._sel.register(new.fileno(), selectors.EVENT_READ, None)
            self.add_line(new.fileno())
            return
        client = self._clients.get(fd)
        if client is None:
            return
        try:
            data = client.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._close_client(fd)
            return
        line = self._lines.get(fd)
        if line is not None:
            line.receive(data)

    def _write(self, fd: int, data: bytes) -> None:
        conn = self._clients.get(fd)
        if conn is not None:
            conn.sendall(data)

    def _drop(self, fd: int) -> None:
        super()._drop(fd)
        conn = self._clients.pop(fd, None)
        if conn is not None:
            conn.close()

    def _close_client(self, fd: int) -> None:
        self._drop(fd)

    def _on_vanish(self, gone: bool) -> None:
        if gone:
            self._close_all()
        else:
            self._listen()

    def _close_all(self) -> None:
        for fd in list(self._clients):
            self._drop(fd)
        if self._listener is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(self._listener.fileno())
            self._listener.close()
            self._listener = None


class TcpConnector(_Loop):
    """The inverter side of Samil TCP: connect to the host, serve it, reconnect after drops.

    The inverter's network module is PV-powered like the rest of it: while every
    inverter is asleep it stays disconnected, and it connects again at dawn.
    With ``host=None`` it waits for the monitoring host's UDP broadcast
    ``55 aa 00 40 02 00 0b "I AM SERVER" ...`` on ``udp_port`` (1300 on real
    units) and then connects to the sender on ``port`` (the spec's TCP port,
    1200), as REFERENCE 1.3 describes.
    """

    def __init__(
        self,
        sim: Simulator,
        host: str | None,
        port: int | None = None,
        *,
        udp_port: int | None = None,
        udp_host: str = "127.0.0.1",  # loopback unless asked: a real host's broadcast needs 0.0.0.0
        retry: float = 2.0,
        baud_pacing: bool | None = None,
        source: str | None = None,  # the local address to connect from (tests: another loopback address)
    ) -> None:
        super().__init__(sim, baud_pacing=baud_pacing)
        self.host = host
        self.source = source
        self.port = port if port is not None else (sim.spec.transport.tcp_port or DEFAULT_SAMIL_TCP_PORT)
        self.retry = retry
        self._conn: socket.socket | None = None
        self._next_try = 0.0
        self.connects = 0
        self.last_error: str | None = None
        self._udp: socket.socket | None = None
        if host is None:
            udp = socket.socket(socket.AF_INET6 if ":" in udp_host else socket.AF_INET, socket.SOCK_DGRAM)
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            udp.bind((udp_host, DEFAULT_DISCOVERY_PORT if udp_port is None else udp_port))
            udp.setblocking(False)
            self._udp = udp
            self.udp_host, self.udp_port = udp.getsockname()[:2]
            self._sel.register(udp.fileno(), selectors.EVENT_READ, None)

    def _announcement(self) -> None:
        """A datagram on the discovery port: if it is the host's advertisement, connect to the sender."""
        assert self._udp is not None
        try:
            data, (sender, _port) = self._udp.recvfrom(2048)
        except OSError:
            return
        try:
            frame = self.sim.codec.parse(data)
        except FrameError:
            return
        if frame.payload == ANNOUNCEMENT and self.host != sender:
            self._hang_up()
            self.host = sender
            self._next_try = 0.0

    @property
    def connected(self) -> bool:
        return self._conn is not None

    def _awake(self) -> bool:
        self.sim.advance()
        return any(inv.awake for inv in self.sim.inverters) and not self.sim.faults.vanished

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if self._conn is None:
            if self.host is not None and now >= self._next_try and self._awake():
                self._next_try = now + self.retry
                try:
                    source = (self.source, 0) if self.source else None
                    conn = socket.create_connection((self.host, self.port), timeout=self.retry, source_address=source)
                except OSError as exc:
                    self.last_error = f"{self.host}:{self.port}: {exc.strerror or exc}"
                    return
                conn.setblocking(False)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._conn = conn
                self.connects += 1
                self._sel.register(conn.fileno(), selectors.EVENT_READ, None)
                self.add_line(conn.fileno())
        elif not self._awake():
            self._hang_up()

    def _hang_up(self) -> None:
        if self._conn is not None:
            fd = self._conn.fileno()
            self._lines.pop(fd, None)
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(fd)
            self._conn.close()
            self._conn = None
            self._next_try = time.monotonic() + self.retry

    def _readable(self, fd: int) -> None:
        if self._udp is not None and fd == self._udp.fileno():
            self._announcement()
            return
        if self._conn is None or fd != self._conn.fileno():
            return
        try:
            data = self._conn.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._hang_up()
            return
        line = self._lines.get(fd)
        if line is not None:
            line.receive(data)

    def _write(self, fd: int, data: bytes) -> None:
        if self._conn is not None and fd == self._conn.fileno():
            self._conn.sendall(data)

    def _drop(self, fd: int) -> None:
        self._hang_up()

    def _on_vanish(self, gone: bool) -> None:
        if gone:
            self._hang_up()

    def _close_all(self) -> None:
        self._hang_up()
        if self._udp is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(self._udp.fileno())
            self._udp.close()
            self._udp = None
