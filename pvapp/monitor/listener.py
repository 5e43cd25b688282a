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

This module is the poller and its slots; ``listen_net`` has the advertisement,
``SocketPort`` and the one-shot ``accept_one``; ``listen_conn`` one connection's life.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pvapp.clock import Clock
from pvapp.config import InverterConfig, PortConfig, parse_listen
from pvapp.reading import InverterState
from pvgen.runtime.text import serial_problem

from .bounded import SeenOnce
from .guards import Guard
from .listen_conn import Connection, _host_of
from .listen_net import (
    ACCEPT_BURST,
    ADVERTISE_BURST,
    ADVERTISE_EVERY,
    ADVERTISE_SLOW,
    BIND_HINTS,
    MAX_AUTO,
    MAX_REMEMBERED,
    SELECT_TICK,
    UNIDENTIFIED_EXTRA,
    Advertiser,
    advertisement,
)
from .poller import BACKOFF_MAX, BACKOFF_MIN, InverterSlot, spec_module

log = logging.getLogger("pv.monitor")


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
