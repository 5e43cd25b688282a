"""One accepted connection of a listen port: who is calling, then its polls, until it hangs up.

A thread per connection (``ListenPoller`` caps those still identifying
themselves); it talks to the unit through ``SocketPort`` and the generated
client, and reports to its poller, which owns the slots.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from pvapp.reading import InverterInfo
from pvgen.runtime.errors import InverterError, NoReply, PortGone, ProtocolError

from .listen_net import ACCEPT_PAUSE, IDENTIFY_TRIES, KEEP_ALIVE_IDLE, MAX_MISSES, SocketPort

if TYPE_CHECKING:
    from .listener import ListenPoller, ListenSlot

log = logging.getLogger("pv.monitor")


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
