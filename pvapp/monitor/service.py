"""The long-running monitor: port threads, storage first, then outputs and the uploader.

Order of work for every reading, and why: guard it, store it (one transaction
with the PVOutput slot it feeds), and only then hand it to the outputs.  If the
process dies between two steps the database is the truth, and the uploader
works from the database, so PVOutput gets everything eventually.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from types import FrameType
from typing import Any

from pvapp.clock import Clock
from pvapp.config import Config, PortConfig
from pvapp.outputs.hass import SerialClaims, node_id, topic_part
from pvapp.outputs.pvoutput_upload import PVOutputUploader
from pvapp.reading import InverterState, Output, Reading
from pvapp.service.notify import Notifier
from pvapp.storage import SlotUpdate, Storage

from .bounded import SeenOnce
from .guards import Guard
from .history import HistoryFiller
from .keeper import StoreKeeper
from .listen_net import MAX_AUTO
from .listener import ListenPoller
from .outputs import OutputRunner
from .poller import BACKOFF_MAX, InverterSlot, PortPoller

log = logging.getLogger("pv.monitor")

DEFAULT_STATUS_INTERVAL = 5  # minutes, until PVOutput says otherwise


class Monitor:
    def __init__(
        self,
        cfg: Config,
        *,
        clock: Clock,
        storage: Storage,
        outputs: Sequence[Output] = (),
        open_port: Callable[[str, Any, float | None], Any] | None = None,
        uploader: PVOutputUploader | None = None,
        notifier: Notifier | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        self.storage = storage
        self.stop_event = stop or threading.Event()
        self.runners = [OutputRunner(o) for o in outputs]
        self.notifier = notifier or Notifier()
        self.uploader = uploader
        self.status_intervals: dict[int, int] = {}
        self.readings_stored = 0
        self._refusing: dict[str, set[str]] = {}
        self._faults: dict[str, tuple[str, ...]] = {}  # slot key -> faults of its last reading
        self.keeper = StoreKeeper(storage, clock=clock, retry_for=cfg.storage.retry_for)
        self.exit_code = 0  # 1 when storage failed for good or readings could not be kept
        # serial -> PVOutput system, and system -> its serials (filled as inverters are identified)
        self._system_of_key: dict[str, int] = {}
        self._serials_of: dict[int, set[str]] = {}
        earlier = self._earlier_serials()
        # inverters whose last state the outputs get from the database before the first poll
        self._restore_serials = [s for p in cfg.ports for j in range(len(p.inverters)) for s in earlier(p, j)]
        # one serial per MQTT topic level and Home Assistant id, whoever answers on which port
        self.claims = SerialClaims(self._restore_serials)
        self._refused_serials = SeenOnce()  # each clash logged once (bounded: a line can invent serials)
        for p in cfg.ports:
            for j, inv in enumerate(p.inverters):
                if inv.pvoutput_system is not None:
                    self._system_of_key[f"{p.key}.inverters[{j}]"] = inv.pvoutput_system
                    members = self._serials_of.setdefault(inv.pvoutput_system, set())
                    # Every inverter of the system counts from the first reading after a start,
                    # also one not heard from yet in this run (asleep, shaded, slow): otherwise the
                    # aggregate would drop its energy and PVOutput's total would go down.
                    members.update(earlier(p, j))
        # Samil TCP units connect in (listen:// ports) and can hand over the hours a gap missed
        self.history = HistoryFiller(
            storage,
            tz=cfg.timezone,
            clock=clock,
            poll_interval=cfg.poll_interval,
            systems=self._systems_with,
            window_days=self._window_days,
        )
        self.pollers: list[PortPoller | ListenPoller] = []
        for p in cfg.ports:
            common: dict[str, Any] = {
                "clock": clock,
                "poll_interval": cfg.poll_interval,
                "asleep_after": cfg.asleep_after,
                "stop": self.stop_event,
                "on_reading": self._on_reading,
                "on_state": self._on_state,
                "on_port_event": self._on_port_event,
                "make_guard": self._make_guard,
                "open_port": open_port,
                "accept_serial": self._accept_serial,
            }
            self.pollers.append(
                ListenPoller(p, history=self.history, **common) if p.listen else PortPoller(p, **common)
            )

    def _accept_serial(self, serial: str) -> bool:
        """Registration refuses a serial that would share topics or HA ids with one already in use."""
        other = self.claims.claim(serial)
        if other is None:
            return True
        if self._refused_serials.first(serial):
            log.error(
                "inverter %r refused: it would share the MQTT topic level %r and Home Assistant id %r with %r;"
                " Home Assistant would merge the two (configure one of them only)",
                serial,
                topic_part(serial),
                node_id(serial),
                other,
            )
        return False

    def _earlier_serials(self) -> Callable[[PortConfig, int], list[str]]:
        """The serials a port's inverter entry stands for: its own, or for "auto", those seen in earlier runs.

        On a bus an "auto" entry is the unit at its address.  On a ``listen://``
        port units connect in and have no address (stored NULL): the entry
        stands for every unit stored with that port that no other entry names,
        the most recently seen first, at most as many as it may take.
        """
        try:
            rows = sorted(self.storage.inverters(), key=lambda r: str(r["last_seen"]), reverse=True)
        except Exception as exc:  # a history we cannot read only costs the head start
            log.warning("cannot read known inverters: %s", exc)
            rows = []
        at_address = {(r["port"], r["address"]): r["serial"] for r in rows if r["address"]}
        connected_in: dict[str, list[str]] = {}
        for r in rows:
            if r["address"] is None:
                connected_in.setdefault(r["port"], []).append(r["serial"])

        def serials(port: PortConfig, index: int) -> list[str]:
            inv = port.inverters[index]
            if inv.serial:
                return [inv.serial]
            if port.listen:
                named = {i.serial for i in port.inverters if i.serial}
                return [s for s in connected_in.get(port.port, []) if s not in named][:MAX_AUTO]
            serial = at_address.get((port.port, index + 1))
            return [serial] if serial else []

        return serials

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        self._restore_outputs()
        for r in self.runners:
            r.start()
        for p in self.pollers:
            p.start()
        if self.uploader is not None:
            self.uploader.start()

    def _restore_outputs(self) -> None:
        """Before the first poll: each known inverter's last stored state to the outputs that keep one.

        An output with a ``restore(reading, state, totals)`` method (MQTT) gets
        the newest stored reading, ``asleep`` unless that reading is younger
        than ``asleep_after``, and the last accepted totals; so a monitor
        started at night says at once that the inverter sleeps, with the
        day's totals, instead of leaving the afternoon's ``awake`` standing.
        """
        restorers = [f for r in self.runners if (f := getattr(r.output, "restore", None)) is not None]
        if not restorers:
            return
        now = self.clock.now()
        for serial in self._restore_serials:
            try:
                reading = self.storage.latest_reading(serial)
                last = self.storage.last_good(serial)
            except Exception as exc:  # a history we cannot read only costs the head start
                log.warning("cannot read the last state of %s: %s", serial, exc)
                continue
            if reading is None:
                continue
            age = (now - reading.time).total_seconds()
            state: InverterState = "awake" if 0 <= age < self.cfg.asleep_after else "asleep"
            totals = {k: v for k, v in (("e_total", last.e_total), ("h_total", last.h_total),
                                        ("e_today", last.e_today)) if v is not None}  # fmt: skip
            for restore in restorers:
                try:
                    restore(reading, state, totals)
                except Exception as exc:
                    log.warning("output cannot restore the state of %s: %s", serial, exc)

    def request_stop(self, *_: Any) -> None:
        self.stop_event.set()

    def run(self, *, install_signals: bool = True, duration: float | None = None) -> None:
        """Run until SIGTERM/SIGINT (or ``duration`` real seconds, for tests and benchmarks)."""
        if install_signals:
            signal.signal(signal.SIGTERM, self._signal)
            signal.signal(signal.SIGINT, self._signal)
        self.start()
        self.notifier.ready(f"polling {sum(len(p.inverters) for p in self.cfg.ports)} inverter(s)")
        ping = 5.0
        if self.notifier.watchdog_seconds:
            ping = max(0.5, self.notifier.watchdog_seconds / 3)
        deadline = None if duration is None else time.monotonic() + duration
        try:
            while not self.stop_event.is_set():
                wait = ping if deadline is None else min(ping, max(0.0, deadline - time.monotonic()))
                if self.stop_event.wait(wait):
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    break
                self._publish(self.keeper.retry())
                if self.keeper.gave_up:
                    log.error(
                        "giving up: the database could not be written for %.0f s (%s); %d reading(s) held in "
                        "memory are lost; exiting with status 1 (systemd restarts the service)",
                        self.keeper.failing_for(),
                        self.keeper.error,
                        len(self.keeper.backlog),
                    )
                    self.notifier.status(self.keeper.status())
                    self.exit_code = 1
                    break
                if self.healthy():
                    self.notifier.watchdog()
                self.notifier.status(self.summary())
        finally:
            self.shutdown()

    def _signal(self, signum: int, frame: FrameType | None) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        self.stop_event.set()

    def shutdown(self) -> None:
        self.stop_event.set()
        self.notifier.stopping()
        for p in self.pollers:
            if p.is_alive():
                p.join(timeout=10)
        for p in self.pollers:
            if isinstance(p, ListenPoller) and not p.listening.is_set() and p.bind_error:
                # retried all along (an interface may come up late), but a run that never listened failed
                log.error("port %s never listened: %s", p.cfg.port, p.bind_error)
                self.exit_code = 1
        if self.keeper.backlog and not self.keeper.gave_up:
            stored, held = self.keeper.final()
            self._publish(stored)
            if held:
                log.error("stopping with %d reading(s) that could not be stored: they are lost", held)
                self.exit_code = 1
        if self.uploader is not None:
            self.uploader.join(timeout=10)
        for r in self.runners:
            r.stop()

    def healthy(self) -> bool:
        """Every thread alive and every port loop turning; otherwise the watchdog pings stop.

        A port loop may legitimately wait a poll interval or a reopen backoff
        (at most ``BACKOFF_MAX``) plus a few reply timeouts; a loop silent for a
        minute longer than that is stuck, and systemd restarting us is the cure.
        """
        if not all(p.is_alive() for p in self.pollers):
            return False
        if self.keeper.gave_up:
            return False
        if self.uploader is not None and not self.uploader.is_alive():
            return False
        for r in self.runners:
            # an output with threads of its own (MQTT) says whether they still run
            output_healthy = getattr(r.output, "healthy", None)
            if output_healthy is not None and not output_healthy():
                return False
        now = time.monotonic()
        for p in self.pollers:
            allowed = max(BACKOFF_MAX, self.cfg.poll_interval) / max(self.clock.speed, 1.0) + 60.0
            if now - p.last_beat > allowed:
                log.error("port %s has not completed a loop for %.0f s", p.cfg.port, now - p.last_beat)
                return False
        return True

    def summary(self) -> str:
        states = [s.state or ("no reply" if s.reported_silent else "starting") for p in self.pollers for s in p.slots]
        text = f"{self.readings_stored} readings stored; inverters: {', '.join(states) or 'none'}"
        trouble = self.keeper.status()
        return f"{trouble}; {text}" if trouble else text

    def _systems_with(self, serial: str) -> list[tuple[int, tuple[str, ...]]]:
        """The PVOutput systems an inverter feeds, each with all the serials it aggregates."""
        if self.cfg.pvoutput is None:
            return []
        return [(sid, tuple(sorted(members))) for sid, members in self._serials_of.items() if serial in members]

    def _window_days(self, system: int) -> int:
        """How far back PVOutput takes statuses: 14 days, 90 with donation (90 while unknown: the
        uploader marks what turns out too old as rejected, with the reason)."""
        pvo = self.cfg.pvoutput
        if pvo is not None and pvo.donation is not None:
            return 90 if pvo.donation else 14
        known = self.uploader.window_days(system) if self.uploader is not None else None
        return known or 90

    # -- callbacks from the port threads ---------------------------------------------

    def _make_guard(self, slot: InverterSlot) -> Guard:
        assert slot.info is not None
        module_spec = __import__(f"pv.{slot.info.spec_id}", fromlist=["SPEC"]).SPEC
        rated = slot.cfg.rated_power
        if rated is None:
            model = slot.model  # the spec model the poller identified (by layout or version text), if any
            rated = float(model.rated_power) if model is not None else _rated_power(module_spec, slot.info.model)
        last = self.storage.last_good(slot.info.serial)
        serial = slot.info.serial
        tz = self.cfg.timezone

        def baseline(day: date) -> float | None:
            start = datetime(day.year, day.month, day.day, tzinfo=tz)
            return self.storage.e_total_before(serial, start)

        if slot.key in self._system_of_key:
            self._serials_of[self._system_of_key[slot.key]].add(serial)
        return Guard(
            module_spec,
            rated_power=rated,
            last_e_total=last.e_total,
            last_h_total=last.h_total,
            last_time=last.time,
            day_baseline=baseline,
            # two minutes, or half a real second of a sped-up clock (tests, the demo)
            time_slack=max(120.0, 0.5 * self.clock.speed),
        )

    def _on_reading(self, slot: InverterSlot, status: Any, now: datetime) -> None:
        assert slot.info is not None and slot.guard is not None
        local = now.astimezone(self.cfg.timezone)
        values, rejected = slot.guard.check(status.values(), status.raw_value, now, local.date())
        reading = Reading(
            inverter=slot.info,
            time=now,
            values=values,
            raw_frame=bytes(slot.client.last_frame),
            mode=_safe(lambda: status.mode_label, ""),
            faults=tuple(_safe(lambda: status.faults, ())),
            rejected=rejected,
        )
        self._log_rejections(slot, rejected)
        self._note_faults(slot, reading.faults, now)
        slots = self._slots_for(slot, now)
        # the database is the truth: a reading is passed on only once stored (held and retried until then)
        self._publish(self.keeper.store(reading, slots))

    @property
    def store_failures(self) -> int:
        """Readings of this run not in the database: held in memory while storage fails, or dropped."""
        return self.keeper.lost_total + len(self.keeper.backlog)

    def _publish(self, stored: list[Reading]) -> None:
        for reading in stored:
            self.readings_stored += 1
            for r in self.runners:
                r.publish(reading)

    def _log_rejections(self, slot: InverterSlot, rejected: dict[str, str]) -> None:
        """Log a refused value once per episode (a field refused poll after poll logs once).

        "Not measured" sentinels are routine on some models (Zac) and stay at
        debug level; they are in the database with every reading anyway.
        """
        seen = self._refusing.setdefault(slot.serial or slot.key, set())
        for fid, why in rejected.items():
            if fid in seen:
                continue
            seen.add(fid)
            level = logging.DEBUG if "sentinel" in why or "not available" in why else logging.INFO
            log.log(level, "inverter %s: %s refused: %s", slot.label, fid, why)
            if level == logging.INFO:  # the events log (web page) shows each episode once, as the log does
                self._on_port_event("refused", f"{fid}: {why}", self._port_of(slot), serial=slot.serial)
        for fid in list(seen):
            if fid not in rejected:
                seen.discard(fid)

    def _note_faults(self, slot: InverterSlot, faults: tuple[str, ...], now: datetime) -> None:
        """A fault appearing, changing or clearing is an event (once per change, not per poll)."""
        before = self._faults.get(slot.key, ())
        if tuple(faults) == before:
            return
        self._faults[slot.key] = tuple(faults)
        text = "; ".join(faults) if faults else "cleared (was " + "; ".join(before) + ")"
        self._on_port_event("fault", text, self._port_of(slot), serial=slot.serial)

    def _slots_for(self, slot: InverterSlot, now: datetime) -> list[SlotUpdate]:
        system = self._system_of_key.get(slot.key)
        if system is None or self.cfg.pvoutput is None:
            return []
        interval = self.status_interval(system)
        local = now.astimezone(self.cfg.timezone)
        minute = local.minute - local.minute % interval
        start_local = local.replace(minute=minute, second=0, microsecond=0)
        day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return [
            SlotUpdate(
                system_id=system,
                date=start_local.strftime("%Y%m%d"),
                time=start_local.strftime("%H:%M"),
                slot_start=start_local,
                slot_end=start_local + timedelta(minutes=interval),
                day_start=day_start,
                serials=tuple(sorted(self._serials_of.get(system, set()) | {slot.info.serial if slot.info else ""})),
            )
        ]

    def status_interval(self, system: int) -> int:
        if self.cfg.pvoutput and self.cfg.pvoutput.status_interval:
            return self.cfg.pvoutput.status_interval
        if self.uploader is not None:
            known = self.uploader.status_interval(system)
            if known:
                return known
        return DEFAULT_STATUS_INTERVAL

    def _on_state(self, slot: InverterSlot, state: InverterState, why: str) -> None:
        if state == "awake" and why == "first reading":
            info = slot.info
            assert info is not None
            model = " ".join(x for x in (info.manufacturer, info.model) if x) or info.spec_id
            where = f"{info.port}, address {info.address}" if info.address is not None else info.port
            log.info("inverter %s found on %s: %s", slot.label, where, model)
            kind, text = "found", model
        else:
            log.info("inverter %s %s (%s)", slot.label, state, why)
            kind, text = state, why
        self.keeper.record_event(self.clock.now(), kind, serial=slot.serial, port=self._port_of(slot), detail=text)
        if slot.info is not None:
            for r in self.runners:
                r.inverter_state(slot.info, state)

    def _port_of(self, slot: InverterSlot) -> str:
        return slot.info.port if slot.info else slot.key

    def _on_port_event(self, kind: str, detail: str, port: str, serial: str | None = None) -> None:
        self.keeper.record_event(self.clock.now(), kind, serial=serial, port=port, detail=detail)


def _rated_power(spec: Any, model_text: str) -> float | None:
    """The rated power of the spec model whose name matches the version text, else the largest."""
    models = getattr(spec, "models", ())
    if not models:
        return None
    low = model_text.lower()
    for m in models:
        if m.id.lower() in low or (m.title and m.title.lower() in low):
            return float(m.rated_power) or None
    return float(max(m.rated_power for m in models)) or None


def _safe(get: Callable[[], Any], default: Any) -> Any:
    try:
        return get()
    except Exception:
        return default
