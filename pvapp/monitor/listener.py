"""Samil TCP as the real units work: the monitor is the server, every connection an inverter.

A SolarRiver TL-D or SolarLake TL with a network port does not wait to be
dialled (REFERENCE 1.3, [mhvis]): the host sends the datagram
``55 aa 00 40 02 00 0b "I AM SERVER" 04 3a`` to UDP port 1300 (broadcast), and
every unit that hears it opens a TCP connection to the sender on port 1200.
So for a ``listen://HOST:PORT`` port:

* ``ListenPoller`` binds HOST:PORT, accepts connections and sends the
  advertisement at start, every 5 s for ten tries (as [mhvis]) and then every
  minute while a configured inverter is missing, and again after any
  disconnect;
* each accepted connection gets its own thread (``Connection``; those still to
  identify themselves are capped, anyone on the LAN can open them): it waits a
  moment after the accept (real units need about 1 s, [mhvis] PR #25), asks
  the version to learn who it is, and then polls that inverter through the
  generated ``pv.samil_tcp.Inverter`` over ``SocketPort`` (a pyserial-like
  port on the socket), sending the units' keep-alive (``01 09``) when a poll
  interval is longer than their 11 s idle limit;
* the serial decides: a malformed one (``serial_problem``, the rule of the
  serial line) is refused and logged once per serial; a configured serial gets its slot; an unknown one is
  taken only by a ``serial = "auto"`` entry, else refused and logged once per
  serial; the same serial on a new connection replaces the old one (a unit
  that rebooted, or whose WiFi dropped, calls again before the old socket
  times out);
* a connection that never answers is closed and logged once; one that stops
  answering is closed (the unit calls again);
* disconnecting is not being lost: a unit hangs up at dusk; after
  ``asleep_after`` seconds without a connection it is asleep, exactly like a
  silent serial inverter, and the first reading after it calls again is
  "awake".

Everything downstream (guards, storage, PVOutput, MQTT) sees the same slots
and callbacks as ``PortPoller`` gives it.
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
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pvapp.clock import Clock
from pvapp.config import InverterConfig, PortConfig, parse_listen
from pvapp.reading import InverterInfo, InverterState
from pvgen.runtime.errors import InverterError, NoReply, PortGone, ProtocolError
from pvgen.runtime.text import serial_problem

from .bounded import SeenOnce
from .guards import Guard
from .poller import BACKOFF_MAX, BACKOFF_MIN, InverterSlot, spec_module

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


class HistoryHook(Protocol):
    """What a listener asks of the history filler (``pvapp.monitor.history``) around a reconnect."""

    def before_first(self, slot: InverterSlot) -> Any: ...

    def after_first(self, slot: InverterSlot, client: Any, before: Any, status: Any, now: datetime) -> None: ...


@dataclass
class ListenSlot(InverterSlot):
    """An inverter slot that is filled by whichever connection brings its serial."""

    conn: Connection | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_host: str | None = None  # the address its last connection came from (a change is warned about)


class ListenPoller(threading.Thread):
    """Accepts Samil TCP inverters on one ``listen://`` port until ``stop`` is set."""

    def __init__(
        self,
        cfg: PortConfig,
        *,
        clock: Clock,
        poll_interval: float,
        asleep_after: float,
        stop: threading.Event,
        on_reading: Callable[[InverterSlot, Any, datetime], None],
        on_state: Callable[[InverterSlot, InverterState, str], None],
        on_port_event: Callable[[str, str, str], None],
        make_guard: Callable[[InverterSlot], Guard],
        open_port: Callable[[str, Any, float | None], Any] | None = None,
        history: HistoryHook | None = None,
        accept_serial: Callable[[str], bool] | None = None,
    ) -> None:
        super().__init__(name=f"port {cfg.port}", daemon=True)
        self.cfg = cfg
        self.clock = clock
        self.poll_interval = poll_interval
        self.asleep_after = asleep_after
        self.stop = stop
        self.on_reading = on_reading
        self.on_state = on_state
        self.on_port_event = on_port_event
        self.make_guard = make_guard
        self.history = history
        self.accept_serial = accept_serial or (lambda serial: True)  # False: refused (a clashing serial)
        self.module = spec_module(cfg.spec)
        self.spec = self.module.SPEC
        self.host, self.port_number = parse_listen(cfg.port, cfg.key)
        self.address: tuple[str, int] | None = None  # bound address, once listening
        self.listening = threading.Event()
        self.slots: list[ListenSlot] = []
        self.template: tuple[int, InverterConfig] | None = None
        for i, inv in enumerate(cfg.inverters):
            if inv.serial is None:
                self.template = (i, inv)
            else:
                self.slots.append(ListenSlot(cfg=inv, key=f"{cfg.key}.inverters[{i}]", address=0, serial=inv.serial))
        self.advertiser = Advertiser(cfg.advertise, advertisement(self.module), source=self.host)
        self.port_lost = False
        self.bind_error: str | None = None  # why the last bind failed (said at the end if it never listened)
        self.backoff = BACKOFF_MIN
        self.cycles = 0
        self.last_beat = time.monotonic()
        self.connections: set[Connection] = set()
        # Connections that have not yet said who they are each cost a thread for up to ~16 s; anyone on
        # the LAN can open them, so they are capped (identified ones are capped by the slots they own).
        self.unidentified: set[Connection] = set()
        self.max_unidentified = sum(1 for s in self.slots if s.cfg.serial is not None) + UNIDENTIFIED_EXTRA
        self.crowded = 0  # connections closed unheard in the current episode of too many (0: none)
        self.refused: dict[str, None] = {}  # serials refused (insertion-ordered, bounded)
        self.malformed = SeenOnce(MAX_REMEMBERED)  # serials refused by the serial rule, each logged once
        self.moved = SeenOnce(MAX_REMEMBERED)  # (serial, old host, new host) replacements warned about
        self.silent_peers: dict[str, None] = {}
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._next_advert = 0.0
        self._burst = ADVERTISE_BURST

    # -- the accept loop ------------------------------------------------------------

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.last_beat = time.monotonic()
                if self._listener is None and not self._listen():
                    self.clock.wait(self.backoff, self.stop)
                    self.backoff = min(self.backoff * 2, BACKOFF_MAX)
                    continue
                self._accept(SELECT_TICK)
                self._advertise_if_due()
                for slot in list(self.slots):
                    self._check_silence(slot)
                self.cycles += 1
        finally:
            self._shutdown()

    def _listen(self) -> bool:
        try:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            srv = socket.socket(family, socket.SOCK_STREAM)
            srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            srv.bind((self.host, self.port_number))
            srv.listen(16)
            srv.setblocking(False)
        except OSError as exc:
            with contextlib.suppress(UnboundLocalError, OSError):
                srv.close()
            why = f"cannot listen on {self.host}:{self.port_number}: {exc.strerror or exc}"
            self.bind_error = why + BIND_HINTS.get(exc.errno or 0, "")
            if not self.port_lost:
                self.port_lost = True
                log.warning("port %s: %s; retrying with backoff", self.cfg.port, self.bind_error)
                self.on_port_event("lost", why, self.cfg.port)
            return False
        self._listener = srv
        self.address = srv.getsockname()[:2]
        if self.port_lost:
            log.info("port %s is back", self.cfg.port)
            self.on_port_event("reconnect", "listening again", self.cfg.port)
        self.port_lost = False
        self.backoff = BACKOFF_MIN
        targets = ", ".join(f"{h}:{p}" for h, p in self.advertiser.targets) or "nowhere (advertise = false)"
        log.info(
            "port %s: listening on %s:%d for Samil TCP inverters; advertising to %s",
            self.cfg.port,
            self.address[0],
            self.address[1],
            targets,
        )
        self.listening.set()
        self.advertise_soon()
        return True

    def _accept(self, wait: float) -> None:
        assert self._listener is not None
        try:
            ready, _, _ = select.select([self._listener], [], [], wait)
        except (OSError, ValueError):
            ready = []
        if not ready:
            return
        for _ in range(ACCEPT_BURST):  # drain a burst, so a flood is closed quickly, not left in the backlog
            try:
                sock, peer = self._listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                log.debug("accept on %s failed: %s", self.cfg.port, exc)
                return
            self._admit(sock, f"{peer[0]}:{peer[1]}")

    def _admit(self, sock: socket.socket, peer: str) -> None:
        """A thread for the connection, unless too many are still identifying themselves: then closed at once."""
        with self._lock:
            full = len(self.unidentified) >= self.max_unidentified
            if full:
                self.crowded += 1
                first = self.crowded == 1
            else:
                conn = Connection(self, sock, peer)
                self.connections.add(conn)
                self.unidentified.add(conn)
        if full:
            with contextlib.suppress(OSError):
                sock.close()
            if first:
                log.warning(
                    "port %s: %d connections are still to say which inverter they are; closing further ones "
                    "unheard (from %s first) until they have (a unit that is closed calls again)",
                    self.cfg.port,
                    self.max_unidentified,
                    peer,
                )
                self.on_port_event("refused", f"too many unidentified connections (from {peer} first)", self.cfg.port)
            return
        conn.start()

    def _identified(self, conn: Connection) -> None:
        """``conn`` owns a slot now, or is gone: it no longer counts against the cap."""
        with self._lock:
            self.unidentified.discard(conn)
            ended = 0
            if self.crowded and not self.unidentified:  # the episode is over
                ended, self.crowded = self.crowded, 0
        if ended:
            log.info("port %s: taking connections again (%d closed unheard meanwhile)", self.cfg.port, ended)

    def _shutdown(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            conns = list(self.connections)
        for conn in conns:
            conn.close()
        for conn in conns:
            conn.join(timeout=5)
        self.advertiser.close()

    # -- the advertisement -----------------------------------------------------------

    def advertise_soon(self) -> None:
        """Start a new burst of advertisements (at start, after a disconnect)."""
        self._burst = ADVERTISE_BURST
        self._next_advert = 0.0

    def missing(self) -> bool:
        """True while a configured inverter (or the auto entry's first) has no connection."""
        if any(s.conn is None for s in self.slots if s.cfg.serial is not None):
            return True
        return self.template is not None and not any(s.conn is not None for s in self.slots)

    def _advertise_if_due(self) -> None:
        if not self.advertiser.targets:
            return
        now = time.monotonic()
        if now < self._next_advert:
            return
        if self._burst <= 0 and not self.missing():
            return
        self.advertiser.send()
        every = ADVERTISE_EVERY if self._burst > 0 else ADVERTISE_SLOW
        self._burst -= 1
        self._next_advert = now + self._scaled(every, floor=0.2)

    def _scaled(self, seconds: float, *, floor: float) -> float:
        """A real-time pause, shortened on a sped-up clock (only ever used with simulators)."""
        return max(floor, seconds / max(1.0, self.clock.speed)) if self.clock.speed > 1 else seconds

    # -- slots --------------------------------------------------------------------

    def claim(self, serial: str, conn: Connection) -> ListenSlot | None:
        """The slot for ``serial``, now owned by ``conn`` (an older connection of it is closed)."""
        with self._lock:
            slot = next((s for s in self.slots if s.serial == serial), None)
            if slot is None and self.template is not None:
                if not self.accept_serial(serial):
                    return None  # it would share topics and HA ids with another inverter (said once, by the monitor)
                auto = [s for s in self.slots if s.cfg.serial is None]
                if len(auto) < MAX_AUTO:
                    index, inv = self.template
                    slot = ListenSlot(cfg=inv, key=f"{self.cfg.key}.inverters[{index}]", address=0, serial=serial)
                    self.slots.append(slot)
            if slot is None:
                if serial not in self.refused:
                    self.refused[serial] = None
                    if len(self.refused) > MAX_REMEMBERED:
                        del self.refused[next(iter(self.refused))]
                    why = "is not configured here" if self.template is None else f"exceeds {MAX_AUTO} auto inverters"
                    log.warning(
                        "port %s: inverter %s connected from %s but %s; refused (add it to the configuration, "
                        'or a serial = "auto" entry)',
                        self.cfg.port,
                        serial,
                        conn.peer,
                        why,
                    )
                    self.on_port_event("refused", f"inverter {serial} from {conn.peer}", self.cfg.port)
                return None
            old = slot.conn
            slot.conn = conn
            before, host = slot.last_host, _host_of(conn.peer)
            slot.last_host = host
            warn = before is not None and before != host and self.moved.first((serial, before, host))
        self._identified(conn)
        replaced = old is not None and old is not conn
        if warn:
            # a serial is no credential: any host on the LAN can present it (docs/security.md)
            log.warning(
                "inverter %s connected from another address, %s (it was at %s%s): if the unit did not get a new "
                "address, another host is presenting its serial",
                serial,
                conn.peer,
                before,
                "; its connection from there is closed" if replaced else "",
            )
        if old is not None and replaced:
            if not warn:
                log.info(
                    "inverter %s connected again from %s; closing its old connection from %s",
                    serial,
                    conn.peer,
                    old.peer,
                )
            old.close()
        return slot

    def release(self, slot: ListenSlot | None, conn: Connection, why: str) -> None:
        self._identified(conn)
        with self._lock:
            self.connections.discard(conn)
            if slot is None or slot.conn is not conn:
                return
            slot.conn = None
        with slot.lock:
            slot.client = None
            slot.registered = False
            slot.misses = 0
        if not self.stop.is_set():
            log.info("inverter %s disconnected (%s); waiting for it to connect again", slot.label, why)
            self.advertise_soon()

    def admissible(self, serial: str, peer: str) -> bool:
        """The serial rule (``serial_problem``), as on a serial line: a malformed serial is refused, said once."""
        problem = serial_problem(serial)
        if problem is None:
            return True
        with self._lock:
            first = self.malformed.first(serial)
        if first:
            log.warning(
                "port %s: refusing the inverter connected from %s: its serial %r is malformed: %s",
                self.cfg.port,
                peer,
                serial,
                problem,
            )
            self.on_port_event("refused", f"malformed serial {serial!r} from {peer}: {problem}", self.cfg.port)
        return False

    def remember_silent(self, peer_host: str) -> bool:
        """True the first time a peer's connection is given up as silent (log once per peer)."""
        with self._lock:
            if peer_host in self.silent_peers:
                return False
            self.silent_peers[peer_host] = None
            if len(self.silent_peers) > MAX_REMEMBERED:
                del self.silent_peers[next(iter(self.silent_peers))]
            return True

    def _check_silence(self, slot: InverterSlot) -> None:
        if slot.registered or slot.state == "asleep" or self.port_lost:
            return
        now = self.clock.now()
        if slot.silent_since is None:
            slot.silent_since = slot.last_reply or now
        silent = (now - slot.silent_since).total_seconds()
        if silent >= self.asleep_after:
            slot.state = "asleep"
            self.on_state(slot, "asleep", f"no connection for {silent:.0f} s")


def _host_of(peer: str) -> str:
    """The address of a ``HOST:PORT`` peer (IPv6 hosts contain colons)."""
    return peer.rpartition(":")[0]


class Connection(threading.Thread):
    """One accepted TCP connection: identify the inverter, then poll it until it goes."""

    def __init__(self, poller: ListenPoller, sock: socket.socket, peer: str) -> None:
        super().__init__(name=f"inverter connection {peer}", daemon=True)
        self.poller = poller
        self.peer = peer
        self.port = SocketPort(sock, poller.cfg.timeout or poller.spec.transport.reply_timeout)
        self.client: Any = poller.module.Inverter(self.port, timeout=poller.cfg.timeout, sleep=self._sleep)
        self.slot: ListenSlot | None = None
        self._closed = threading.Event()

    def close(self) -> None:
        self._closed.set()
        self.port.close()

    def _sleep(self, seconds: float) -> None:
        time.sleep(self.poller._scaled(seconds, floor=0.0))

    def _wait(self, seconds: float) -> bool:
        """Wait ``seconds`` of the monitor's clock; False when the monitor stops or the connection closed."""
        deadline = self.poller.clock.now().timestamp() + seconds
        while not (self.poller.stop.is_set() or self._closed.is_set()):
            left = deadline - self.poller.clock.now().timestamp()
            if left <= 0:
                return True
            self.poller.clock.wait(min(left, 1.0), self.poller.stop)
        return False

    def run(self) -> None:
        why = "monitor stopping"
        try:
            why = self._serve()
        except PortGone as exc:
            why = str(exc).removeprefix("cannot read from the port: ").removeprefix("cannot write to the port: ")
        except Exception:  # a bug must not take the listener down
            log.exception("unexpected error on the connection from %s", self.peer)
            why = "internal error"
        finally:
            self.port.close()
            self.poller.release(self.slot, self, why)

    def _serve(self) -> str:
        p = self.poller
        time.sleep(p._scaled(ACCEPT_PAUSE, floor=0.05))
        version = None
        for _ in range(IDENTIFY_TRIES):
            if p.stop.is_set() or self._closed.is_set():
                return "monitor stopping"
            try:
                version = self.client.read_version()
                break
            except NoReply:
                continue
            except ProtocolError as exc:
                log.debug("connection from %s: %s", self.peer, exc)
                continue
        serial = (getattr(version, "serial", "") or "").strip() if version is not None else ""
        if serial and not p.admissible(serial, self.peer):
            return "refused"
        if not serial:
            if p.remember_silent(self.peer.rpartition(":")[0]):
                what = "never answered" if version is None else "sent no serial number"
                log.warning(
                    "port %s: the connection from %s %s (%d version requests); closed",
                    p.cfg.port,
                    self.peer,
                    what,
                    IDENTIFY_TRIES,
                )
            return "silent"
        slot = p.claim(serial, self)
        if slot is None:
            return "refused"
        self.slot = slot
        if not self._identify(slot, version):
            return "no status layout"
        log.info("inverter %s connected from %s", slot.label, self.peer)
        before = p.history.before_first(slot) if p.history is not None else None
        first = True
        while not (p.stop.is_set() or self._closed.is_set()):
            status = self._poll(slot)
            if status is False:
                return "stopped answering"
            if status is not None and first:
                first = False
                if p.history is not None:
                    with slot.lock:
                        if slot.conn is self:
                            p.history.after_first(slot, self.client, before, status, p.clock.now())
            if not self._idle(p.poll_interval):
                break
        return "monitor stopping" if p.stop.is_set() else "replaced"

    def _identify(self, slot: ListenSlot, version: Any) -> bool:
        p = self.poller
        with slot.lock:
            if slot.conn is not self:
                return False
            if slot.info is None:
                slot.info = InverterInfo(
                    serial=slot.serial or "",
                    spec_id=p.cfg.spec,
                    port=p.cfg.port,
                    address=None,
                    model=getattr(version, "model", "") or "",
                    manufacturer=getattr(version, "manufacturer", "") or "",
                    firmware=getattr(version, "firmware", "") or "",
                    va_rating=getattr(version, "va_rating", "") or "",
                )
            for _ in range(IDENTIFY_TRIES):
                try:
                    slot.layout = self.client.read_status_layout()
                    break
                except NoReply:
                    continue
            else:
                log.warning("inverter %s on %s sent no status layout; closing the connection", slot.label, self.peer)
                return False
            # As on a dialled port: the model its layout (or version text) identifies
            # gives the guard its rated power, so a SolarLake is not judged as a TL-D.
            slot.model = p.spec.identify_model(slot.layout, slot.info.model)
            if slot.guard is None:
                slot.guard = p.make_guard(slot)
            slot.client = self.client
            slot.misses = 0
            slot.registered = True
        return True

    def _poll(self, slot: ListenSlot) -> Any:
        """One status read: the status, None for a miss, False when the connection is to be given up."""
        p = self.poller
        with slot.lock:
            if slot.conn is not self:
                return False
            try:
                status = self.client.read_status(slot.layout)
            except NoReply:
                slot.errors["no_reply"] = slot.errors.get("no_reply", 0) + 1
                slot.misses += 1
                if slot.misses >= MAX_MISSES:
                    log.info(
                        "inverter %s: no reply to %d polls in a row; closing its connection", slot.label, MAX_MISSES
                    )
                    return False
                return None
            except ProtocolError as exc:
                slot.errors["protocol"] = slot.errors.get("protocol", 0) + 1
                log.debug("inverter %s: %s", slot.label, exc)
                return None
            except PortGone:
                raise
            except InverterError as exc:
                slot.errors["other"] = slot.errors.get("other", 0) + 1
                log.debug("inverter %s: %s", slot.label, exc)
                return None
            now = p.clock.now()
            slot.last_reply = now
            slot.silent_since = None
            slot.misses = 0
            if slot.state != "awake":
                previous = slot.state
                slot.state = "awake"
                p.on_state(slot, "awake", "first reading" if previous is None else f"was {previous}")
            p.on_reading(slot, status, now)
            return status

    def _idle(self, seconds: float) -> bool:
        """Wait until the next poll, with a keep-alive whenever the line would be idle past the units' limit."""
        left = seconds
        while left > KEEP_ALIVE_IDLE:
            if not self._wait(KEEP_ALIVE_IDLE):
                return False
            left -= KEEP_ALIVE_IDLE
            slot = self.slot
            if slot is None:
                return False
            with slot.lock:
                if slot.conn is not self:
                    return False
                try:
                    self.client.request("keep_alive")
                except NoReply:
                    slot.misses += 1
                    if slot.misses >= MAX_MISSES:
                        return False
        return self._wait(left)


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
