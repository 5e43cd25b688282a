"""One thread per serial line: handshake, poll, guard, store, hand on.

A line is polled by exactly one thread (the protocol is strictly request/reply
and the generated client is not thread-safe), and lines never wait for each
other: a dead USB adapter or a sleeping inverter on one port costs that port's
thread its timeouts and nothing else.

Night and unplug handling, the part users complain about most in peer tools:

* silence (``NoReply``) is normal at night.  After ``asleep_after`` seconds of
  it the inverter is declared asleep: one log line, one event row, one
  ``inverter_state`` call to the outputs, and then quiet retries;
* an inverter that answers again is unregistered (its communication side was
  powered off), so every retry is a discover/register; the first reply after a
  sleep logs "awake" once;
* a vanished device (``PortGone``) closes the port, logs once, and the port is
  reopened with exponential backoff until it returns.

On a line with several inverters a reset would also unregister the ones that
are still awake, so the reset is sent only when none of them is (at start, and
when all are asleep); otherwise a wake-up is caught with discover alone, which
only unregistered inverters answer.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import ModuleType
from typing import Any

from pvapp.clock import Clock
from pvapp.config import InverterConfig, PortConfig
from pvapp.reading import InverterInfo, InverterState
from pvgen.runtime.errors import InverterError, NoReply, PortGone, ProtocolError
from pvgen.runtime.model import ModelDef
from pvgen.runtime.text import serial_problem

from .bounded import SeenOnce
from .guards import Guard

log = logging.getLogger("pv.monitor")

BACKOFF_MIN = 2.0
BACKOFF_MAX = 300.0
# A single lost reply is line noise, not a sleeping inverter: only after this many
# polls in a row without a reply is the inverter treated as unregistered.  On a
# shared line this matters: a registered inverter never answers discover, so one
# dropped reply must not make us stop polling it.
MISSES_BEFORE_REREGISTER = 2


def spec_module(spec_id: str) -> ModuleType:
    return importlib.import_module(f"pv.{spec_id}")


@dataclass
class InverterSlot:
    """What the port thread knows about one configured inverter."""

    cfg: InverterConfig
    key: str
    address: int
    client: Any = None  # pv.<spec>.Inverter once registered
    serial: str | None = None
    info: InverterInfo | None = None
    layout: tuple[int, ...] | None = None
    model: ModelDef | None = None  # the spec model the unit was identified as (by layout or version text)
    guard: Guard | None = None
    state: InverterState | None = None  # None until first heard of
    last_reply: datetime | None = None
    silent_since: datetime | None = None
    registered: bool = False
    misses: int = 0  # consecutive polls without a reply
    garbled: bool = False  # the last reply was malformed (logged once until a good one)
    reported_silent: bool = False  # "no reply since" logged (never answered in this run)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        name = f" ({self.cfg.name})" if self.cfg.name else ""
        return f"{self.serial or self.key}{name}"


class PortPoller(threading.Thread):
    """Polls every inverter of one port until ``stop`` is set."""

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
        self.module = spec_module(cfg.spec)
        self.spec = self.module.SPEC
        self._open = open_port or _default_open
        self.accept_serial = accept_serial or (lambda serial: True)  # False: refused (a clashing serial)
        self.port: Any = None
        self.port_lost = False
        self.backoff = BACKOFF_MIN
        self.cycles = 0
        self.last_cycle_seconds = 0.0
        first = self.spec.frame.first_address  # the spec's default bus address (SISER 33, Eversolar 0x10)
        self.slots = [
            InverterSlot(cfg=inv, key=f"{cfg.key}.inverters[{i}]", address=first + i, serial=inv.serial)
            for i, inv in enumerate(cfg.inverters)
        ]
        self.needs_reset = True
        self.strangers = SeenOnce()  # serials that answered but are not configured (bounded)
        self.refused = SeenOnce()  # serials refused as malformed, each logged once (bounded)
        self.last_beat = time.monotonic()  # for the watchdog: when the loop last turned

    # -- the loop ----------------------------------------------------------------

    def run(self) -> None:
        while not self.stop.is_set():
            self.last_beat = time.monotonic()
            started = self.clock.now()
            if self.port is None and not self._open_port():
                self.clock.wait(self.backoff, self.stop)
                self.backoff = min(self.backoff * 2, BACKOFF_MAX)
                continue
            try:
                self.poll_cycle()
            except PortGone as exc:
                self._lose_port(str(exc))
                continue
            except Exception:  # a bug must not kill the port thread for good
                log.exception("unexpected error polling %s; retrying next cycle", self.cfg.port)
            self.cycles += 1
            elapsed = (self.clock.now() - started).total_seconds()
            self.last_cycle_seconds = elapsed
            self.clock.wait(max(0.0, self.poll_interval - elapsed), self.stop)
        self._close()

    def poll_cycle(self) -> None:
        """One pass over the line: register who needs it, then read every registered inverter."""
        if any(not s.registered for s in self.slots):
            self._register_missing()
        for slot in self.slots:
            if self.stop.is_set():
                return
            if slot.registered:
                self._poll(slot)
            elif slot.client is not None and self.spec.registration:
                # It stopped answering (or its registration ACK was lost) but discover did not
                # find it unregistered either: it may hold its address.  A registered inverter
                # never answers discover, so ask it directly; an answer means it is back.
                if slot.layout is None or slot.info is None:
                    self._identify(slot, serial=slot.serial)
                else:
                    self._poll(slot)
        for slot in self.slots:
            self._check_silence(slot)

    # -- port handling -------------------------------------------------------------

    def _open_port(self) -> bool:
        try:
            self.port = self._open(self.cfg.port, self.spec, self.cfg.timeout)
        except (PortGone, OSError) as exc:
            if not self.port_lost:
                self.port_lost = True
                log.warning("port %s unavailable: %s (retrying with backoff)", self.cfg.port, exc)
                self.on_port_event("lost", str(exc), self.cfg.port)
            return False
        if self.port_lost:
            log.info("port %s is back", self.cfg.port)
            self.on_port_event("reconnect", "port reopened", self.cfg.port)
        self.port_lost = False
        self.backoff = BACKOFF_MIN
        self.needs_reset = True
        for slot in self.slots:
            slot.client = None
            slot.registered = False
        return True

    def _lose_port(self, why: str) -> None:
        self._close()
        for slot in self.slots:
            slot.registered = False
            slot.client = None
            if slot.state != "lost" and slot.info is not None:
                slot.state = "lost"
                self.on_state(slot, "lost", why)
        if not self.port_lost:
            self.port_lost = True
            log.warning("port %s gone: %s (will reopen when it returns)", self.cfg.port, why)
            self.on_port_event("lost", why, self.cfg.port)

    def _close(self) -> None:
        if self.port is not None:
            try:
                self.port.close()
            except Exception as exc:  # closing a vanished device may fail in many ways; it is gone either way
                log.debug("closing %s: %s", self.cfg.port, exc)
        self.port = None

    # -- registration ------------------------------------------------------------

    def _client(self, address: int | None) -> Any:
        return self.module.Inverter(self.port, address=address, timeout=self.cfg.timeout, sleep=self._line_sleep)

    def _line_sleep(self, seconds: float) -> None:
        """The pause between commands, scaled with a sped-up clock (only ever used with simulators)."""
        time.sleep(seconds / max(1.0, self.clock.speed))

    def _register_missing(self) -> None:
        if not self.spec.registration:
            # Samil TCP: no addresses, no registration; the serial comes from the version reply
            for slot in self.slots:
                if slot.client is None:
                    slot.client = self._client(None)
                self._identify(slot, serial=None)
            return
        bus = self._client(None)
        awake = [s for s in self.slots if s.registered]
        if self.needs_reset or not awake:
            for _ in range(3):
                bus.reset()
            self.needs_reset = False
        # discover until nobody unregistered answers (at most once per free slot)
        for _ in range(sum(1 for s in self.slots if not s.registered)):
            sn = bus.discover()
            if sn is None:
                return
            if not self._admissible(sn):
                continue
            target = self._slot_for(sn)
            if target is None or not self.accept_serial(sn):
                if sn not in self.strangers:  # once, not every cycle: it keeps answering discover
                    self.strangers.add(sn)
                    if target is None:
                        why = "answered but is not configured here; ignoring"
                        log.warning("port %s: inverter %s %s", self.cfg.port, sn, why)
                continue
            if not bus.register(sn, target.address):
                # The ACK may have been lost on the line while the inverter did take the
                # address; asking it there (below, and in later cycles) finds out.
                log.info("inverter %s did not acknowledge registration at address %d", sn, target.address)
            target.serial = target.serial or sn
            target.client = self._client(target.address)
            target.misses = 0
            self._identify(target, serial=sn)

    def _slot_for(self, sn: str) -> InverterSlot | None:
        for slot in self.slots:
            if slot.serial == sn and not slot.registered:
                return slot
        if any(s.serial == sn for s in self.slots):
            return next(s for s in self.slots if s.serial == sn)  # re-registering after a wake-up
        for slot in self.slots:
            if slot.cfg.serial is None and slot.serial is None:
                return slot
        return None

    def _admissible(self, sn: str) -> bool:
        """A serial from the line may become a topic, an id and a key only if it is well-formed."""
        problem = serial_problem(sn)
        if problem is not None and self.refused.first(sn):
            log.warning("port %s: ignoring an inverter whose serial %r is malformed: %s", self.cfg.port, sn, problem)
        return problem is None

    def _identify(self, slot: InverterSlot, serial: str | None) -> None:
        """After registration: version text (first time, where the spec has one), status layout, guard.

        The layout is the unit's answer to the layout query, or the fixed word
        order of its model (no query sent); the model it identifies gives the
        guard its rated power.
        """
        try:
            if slot.info is None:
                version = slot.client.read_version() if self.spec.has_command("version") else None
                sn = serial or getattr(version, "serial", "") or slot.cfg.serial or slot.key
                if not self._admissible(sn) or not self.accept_serial(sn):
                    return  # refused (said why, once); asked again next cycle
                slot.serial = sn
                slot.info = InverterInfo(
                    serial=sn,
                    spec_id=self.cfg.spec,
                    port=self.cfg.port,
                    address=slot.address if self.spec.registration else None,
                    model=getattr(version, "model", "") or "",
                    manufacturer=getattr(version, "manufacturer", "") or "",
                    firmware=getattr(version, "firmware", "") or "",
                    va_rating=getattr(version, "va_rating", "") or "",
                )
            slot.layout = slot.client.read_status_layout()
            slot.model = self.spec.identify_model(slot.layout, slot.info.model)
            if slot.guard is None:
                slot.guard = self.make_guard(slot)
        except NoReply:
            return  # try again next cycle
        except ProtocolError as exc:
            slot.errors["protocol"] = slot.errors.get("protocol", 0) + 1
            log.debug("inverter %s: %s during identification", slot.label, exc)
            return
        slot.registered = True

    # -- polling -------------------------------------------------------------------

    def _poll(self, slot: InverterSlot) -> None:
        try:
            status = slot.client.read_status(slot.layout)
        except NoReply:
            slot.errors["no_reply"] = slot.errors.get("no_reply", 0) + 1
            slot.misses += 1
            if slot.misses >= MISSES_BEFORE_REREGISTER:
                # asleep, or reset by a power dip: register again when it answers discover
                slot.registered = False
            return
        except PortGone:
            raise
        except ProtocolError as exc:
            slot.errors["protocol"] = slot.errors.get("protocol", 0) + 1
            # a wrong-length or garbled reply is news once per episode, not once per poll
            log.log(logging.DEBUG if slot.garbled else logging.WARNING, "inverter %s: %s", slot.label, exc)
            slot.garbled = True
            return
        except InverterError as exc:
            slot.errors["other"] = slot.errors.get("other", 0) + 1
            log.debug("inverter %s: %s", slot.label, exc)
            return
        now = self.clock.now()
        slot.garbled = False
        slot.last_reply = now
        slot.silent_since = None
        slot.misses = 0
        slot.registered = True
        if slot.state != "awake":
            previous = slot.state
            slot.state = "awake"
            self.on_state(slot, "awake", "first reading" if previous is None else f"was {previous}")
        self.on_reading(slot, status, now)

    def _check_silence(self, slot: InverterSlot) -> None:
        if slot.registered or slot.state == "asleep":
            return
        now = self.clock.now()
        if slot.silent_since is None:
            slot.silent_since = slot.last_reply or now
        if slot.info is None and slot.last_reply is None:
            # Never heard from in this run: nothing says it is asleep rather than miswired,
            # so say what is known, at once (not after asleep_after), and only once.
            if not slot.reported_silent:
                self._report_silent(slot)
            return
        silent = (now - slot.silent_since).total_seconds()
        if silent >= self.asleep_after and not self.port_lost:
            slot.state = "asleep"
            self.on_state(slot, "asleep", f"no reply for {silent:.0f} s")

    def _report_silent(self, slot: InverterSlot) -> None:
        since = slot.silent_since.astimezone().strftime("%H:%M:%S") if slot.silent_since else "start"
        night = ""
        sim = getattr(self.port, "simulator", None)
        if sim is not None:
            from pvapp.sim.simulator import asleep_note

            night = asleep_note(sim)
        hint = night or "an inverter is silent at night; otherwise check the cable, the port and --spec"
        if all(s.info is None and s.last_reply is None for s in self.slots):
            for s in self.slots:
                s.reported_silent = True
            detail = f"no reply on {self.cfg.port} since {since}: nothing has answered yet ({hint})"
        else:
            slot.reported_silent = True
            detail = f"no reply from inverter {slot.label} on {self.cfg.port} since {since} ({hint})"
        log.warning("%s", detail)
        self.on_port_event("silent", detail, self.cfg.port)


def _default_open(url: str, spec: Any, timeout: float | None) -> Any:
    import pv

    return pv.open_port(url, spec=spec, timeout=timeout)
