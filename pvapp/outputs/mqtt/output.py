"""``MqttOutput``: the queue the poller feeds, and the one worker thread that publishes.

The poller must never wait for the network, so ``publish`` and
``inverter_state`` only put an event on a bounded queue; one worker thread
owns every publish.  A broker outage therefore costs the poller nothing:
readings that arrive while the broker is away are handled by the ``missed``
policy (see ``docs/mqtt.md``).
"""

from __future__ import annotations

import importlib
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import datetime
from typing import Any, cast

from pvapp.outputs import hass
from pvapp.reading import InverterInfo, InverterState, Reading
from pvgen.runtime.model import ProtocolSpec

from .config import MqttConfig, MqttConfigError, config_warnings
from .connection import Connection
from .state import Announced, InverterBook
from .stats import MqttStats

log = logging.getLogger("pv.mqtt")

ReadingHistory = Callable[[datetime], Iterable[Reading]]
"""``history(since)``: every stored reading of every inverter whose time is at
or after ``since`` (timezone-aware UTC), oldest first.  Called from the MQTT
worker thread, so it must open its own database connection."""

SpecResolver = Callable[[str], ProtocolSpec]

# Events waiting for the worker; only fills if the broker accepts slower than the poller produces.
QUEUE_SIZE = 10000

# A real record is about 2 KB per inverter; a larger one was not written by a monitor.
MAX_RECORD_BYTES = 1 << 20

_STATE = "state"
_READING = "reading"
_RESTORE = "restore"


def import_spec(spec_id: str) -> ProtocolSpec:
    """The ``SPEC`` of the generated module ``pv.<spec_id>``."""
    module = importlib.import_module(f"pv.{spec_id}")
    return cast(ProtocolSpec, module.SPEC)


class MqttOutput:
    """The ``pvapp.reading.Output`` that publishes to one MQTT broker.

    ``configured_serials``: the serial numbers in the monitor's configuration,
    or ``None`` when they are not known in advance (removal detection is then
    off).  ``history`` is required for ``missed = "republish"``.
    """

    name = "mqtt"

    def __init__(
        self,
        config: MqttConfig,
        *,
        configured_serials: Collection[str] | None = None,
        history: ReadingHistory | None = None,
        spec_resolver: SpecResolver = import_spec,
        version: str = "",
    ) -> None:
        if config.missed == "republish" and history is None:
            raise MqttConfigError('mqtt.missed: "republish" needs the monitor\'s database (no history given)')
        self.config = config
        self.topics = config.topics
        self.stats = MqttStats()
        self._configured = None if configured_serials is None else frozenset(configured_serials)
        self._history = history
        self._resolve = spec_resolver
        self._version = version or _package_version()
        self._queue: queue.Queue[tuple[str, Any, Any]] = queue.Queue(maxsize=QUEUE_SIZE)
        self._buffer: deque[Reading] = deque()
        self._missed_since: datetime | None = None
        self._specs: dict[str, ProtocolSpec | None] = {}
        self._books: dict[str, InverterBook] = {}
        self._claims = hass.SerialClaims(configured_serials or ())
        self._clashing: set[str] = set()  # serials refused for a clash, logged once each (up to 256 kept)
        self._record: dict[str, list[str]] = {}
        self._remote_record: dict[str, list[str]] | None = None
        self._stop = threading.Event()
        self._busy = False
        self._drop_lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._death_logged = False
        self._conn = Connection(config, self.stats)
        self._conn.on_record = self._on_record

    # ----------------------------------------------------------------- Output protocol

    def start(self) -> None:
        """Start connecting in the background; returns at once even if the broker is down."""
        for warning in config_warnings(self.config):
            log.warning("MQTT: %s", warning)
        self._conn.start()
        self._worker = threading.Thread(target=self._run, name="pv-mqtt", daemon=True)
        self._worker.start()

    def publish(self, reading: Reading) -> None:
        self._put((_READING, reading, None))

    def inverter_state(self, inverter: InverterInfo, state: InverterState) -> None:
        self._put((_STATE, inverter, state))

    def restore(self, reading: Reading, state: InverterState, totals: Mapping[str, float | int]) -> None:
        """Before the first poll: an inverter's last stored reading, its state now, its last accepted totals.

        The monitor calls this at start for every inverter it knows, so the
        retained messages are true from the first second (``asleep`` with the
        last totals at night) instead of whatever the previous run left.
        """
        self._put((_RESTORE, reading, (state, dict(totals))))

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is queued (if connected), mark the monitor offline, disconnect."""
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout)
        self._conn.stop(timeout / 2)

    # ----------------------------------------------------------------- helpers for callers

    @property
    def connected(self) -> bool:
        return self._conn.connected.is_set()

    @property
    def backlog(self) -> int:
        """Events waiting for the worker (for a status line, and the benchmark's pacing)."""
        return self._queue.qsize()

    @property
    def threads(self) -> list[threading.Thread]:
        """The worker and paho's network thread (the benchmark measures their CPU time)."""
        found = [self._worker, self._conn.thread]
        return [t for t in found if isinstance(t, threading.Thread)]

    def _caught_up(self) -> bool:
        return not self._busy and not self._conn.reconnected.is_set()

    def wait_connected(self, timeout: float = 5.0) -> bool:
        """Block until connected and the reconnect work (discovery, catch-up) is done."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._conn.connected.is_set() and self._caught_up():
                return True
            time.sleep(0.005)
        return False

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until every queued event was handled and, when connected, the broker acknowledged it.

        For tests and the benchmark; the monitor never needs to wait.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0 and self._caught_up():
                info = self._conn.last_info
                if info is None or not self._conn.connected.is_set():
                    return True
                try:
                    info.wait_for_publish(max(0.0, deadline - time.monotonic()))
                    if info.is_published() and self._queue.unfinished_tasks == 0:
                        return True
                except (RuntimeError, ValueError):
                    return self._queue.unfinished_tasks == 0  # that message was refused: nothing to wait for
            time.sleep(0.005)
        return False

    # ----------------------------------------------------------------- internals

    def _put(self, event: tuple[str, Any, Any]) -> None:
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            with self._drop_lock:
                self.stats.dropped_queue_full += 1
                first = self.stats.dropped_queue_full == 1
            if first:
                log.warning("MQTT: queue full (%d events); dropping until the broker keeps up", self._queue.maxsize)

    def _send(self, topic: str, payload: str, qos: int, retain: bool) -> Any:
        return self._conn.send(topic, payload, qos, retain)

    def _pending(self) -> int:
        return self._conn.pending()

    def _book(self, serial: str) -> InverterBook | None:
        """The inverter's book; None for a serial whose topics another serial already uses (never published)."""
        book = self._books.get(serial)
        if book is None:
            other = self._claims.claim(serial)
            if other is not None:
                if serial not in self._clashing:
                    if len(self._clashing) < 256:
                        self._clashing.add(serial)
                    log.error("MQTT: not publishing %r: its topics and Home Assistant ids are %r's", serial, other)
                return None
            book = self._books[serial] = InverterBook(serial)
        return book

    def _on_record(self, payload: bytes) -> None:
        self._remote_record = parse_record(payload, self.topics)

    # ----------------------------------------------------------------- worker

    def _run(self) -> None:
        """The worker: every exception is logged and survived, so one bad event cannot end publishing.

        If the thread dies anyway (a ``BaseException``), ``healthy()`` says so
        and the monitor stops pinging the systemd watchdog.
        """
        while True:
            self._service()
            try:
                kind, a, b = self._queue.get(timeout=0.05)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            try:
                # A reconnect may have happened while waiting: its catch-up must go before this event.
                self._service()
                if kind == _READING:
                    self._handle_reading(a)
                elif kind == _RESTORE:
                    self._handle_restore(a, *b)
                else:
                    self._handle_state(a, b)
            except Exception:  # a bad reading must not kill the output for the rest of the run
                log.exception("MQTT: could not publish %s", kind)
            finally:
                self._queue.task_done()

    def _service(self) -> None:
        """Work the paho thread asked for: the after-connect sequence, a re-announcement for HA."""
        conn = self._conn
        try:
            if conn.reconnected.is_set() and conn.connected.is_set():
                self._busy = True
                conn.reconnected.clear()
                self._after_connect()
            if conn.ha_online.is_set() and conn.connected.is_set():
                self._busy = True
                conn.ha_online.clear()
                self._announce_all()
        except Exception:
            log.exception("MQTT: the work after connecting failed; carrying on with the next reading")
        finally:
            self._busy = False

    def healthy(self) -> bool:
        """Both threads alive while running; the monitor's watchdog ping depends on it."""
        if self._worker is None or self._stop.is_set():
            return True
        dead = "publishing" if not self._worker.is_alive() else "network" if not self._conn.alive() else ""
        if dead and not self._death_logged:
            self._death_logged = True
            log.error("MQTT: the %s thread has died; the monitor stops pinging the watchdog", dead)
        return not dead

    def _handle_state(self, info: InverterInfo, state: InverterState) -> None:
        book = self._book(info.serial)
        if book is None:
            return
        book.state = state
        if self._conn.connected.is_set():
            self._send(self.topics.availability(info.serial), state, 1, True)

    def _handle_restore(self, reading: Reading, state: InverterState, totals: dict[str, float | int]) -> None:
        book = self._book(reading.inverter.serial)
        spec = self._spec(reading.inverter.spec_id)
        if book is None or spec is None or not book.is_new(reading):
            return
        for f in spec.fields:
            if f.id in totals and f.id in hass.total_fields(spec):
                book.totals[f.id] = totals[f.id]
                if f.monotonic:  # the guard's floor: never publish below what was accepted before
                    book.monotonic[f.id] = totals[f.id]
        doc, _ = book.document(spec, reading)
        book.last_time = reading.time
        book.state = state
        if self.config.discovery:
            fields = frozenset(f.id for f in spec.fields if f.id in doc)
            book.announced = Announced(spec, reading.inverter, fields)
        if self._conn.connected.is_set():
            if book.announced is not None and self.config.discovery:
                self._announce(book.announced)
                self._publish_record()
            self._send(self.topics.availability(book.serial), state, 1, True)
            self._send_state(book)

    def _handle_reading(self, reading: Reading) -> None:
        if not self._conn.connected.is_set():
            policy = self.config.missed
            if policy == "skip":
                self.stats.skipped += 1
            elif policy == "buffer":
                if len(self._buffer) >= self.config.buffer_size:
                    self._buffer.popleft()
                    self.stats.dropped_buffer_full += 1
                self._buffer.append(reading)
                self.stats.buffered += 1
            else:
                self.stats.missed += 1
                if self._missed_since is None or reading.time < self._missed_since:
                    self._missed_since = reading.time
            return
        self._publish_reading(reading)

    def _spec(self, spec_id: str) -> ProtocolSpec | None:
        if spec_id not in self._specs:
            try:
                self._specs[spec_id] = self._resolve(spec_id)
            except (ImportError, AttributeError, KeyError) as exc:
                log.error("MQTT: no spec %r (%s); readings of those inverters are not published", spec_id, exc)
                self._specs[spec_id] = None
        return self._specs[spec_id]

    def _publish_reading(self, reading: Reading) -> bool:
        book = self._book(reading.inverter.serial)
        if book is None:
            return False
        if not book.is_new(reading):
            self.stats.duplicates += 1
            return False
        spec = self._spec(reading.inverter.spec_id)
        if spec is None:
            return False
        if book.state != "awake":
            # A reading proves the inverter is awake, whatever the monitor said last.
            self._handle_state(reading.inverter, "awake")
        if self.config.discovery:
            self._ensure_announced(book, spec, reading)
        _doc, guarded = book.document(spec, reading)
        self.stats.guarded += guarded
        self._send_state(book)
        book.last_time = reading.time
        self.stats.published += 1
        return True

    def _send_state(self, book: InverterBook) -> None:
        if book.doc is None or book.spec is None:
            return
        qos, retain = self.config.qos, self.config.retain
        self._send(self.topics.state(book.serial), hass.encode(book.doc), qos, retain)
        if self.config.per_value_topics:
            for field_id, text in hass.value_payloads(book.spec, book.doc):
                self._send(self.topics.value(book.serial, field_id), text, qos, retain)

    def _ensure_announced(self, book: InverterBook, spec: ProtocolSpec, reading: Reading) -> None:
        info = reading.inverter
        fields = frozenset(hass.reading_fields(spec, reading))
        known = book.announced
        if known is not None and fields <= known.fields and known.info == info and known.spec is spec:
            return
        merged = fields | (known.fields if known is not None and known.spec is spec else frozenset())
        book.announced = Announced(spec, info, merged)
        self._announce(book.announced)
        self._publish_record()

    def _announce(self, entry: Announced) -> None:
        serial = entry.info.serial
        messages = hass.discovery_messages(entry.spec, entry.info, entry.fields, self.topics, version=self._version)
        for topic, payload in messages:
            self._send(topic, hass.encode(payload), 1, True)
        retained = [t for t, _ in messages] + [self.topics.state(serial), self.topics.availability(serial)]
        if self.config.per_value_topics:
            retained += [self.topics.value(serial, f.id) for f in entry.spec.fields if f.id in entry.fields]
        # Entities are only ever added while the inverter is configured: a field missing from
        # one reading must not delete its entity (HA would drop it and its settings).
        self._record[serial] = sorted(set(retained) | set(self._record.get(serial, ())))
        self.stats.announcements += 1

    def _announce_all(self) -> None:
        """Everything a newcomer needs, whether or not the broker kept it: discovery, availability, state."""
        books = list(self._books.values())
        if self.config.discovery:
            for book in books:
                if book.announced is not None:
                    self._announce(book.announced)
        for book in books:
            if book.state is not None:
                self._send(self.topics.availability(book.serial), book.state, 1, True)
        for book in books:
            self._send_state(book)

    def _publish_record(self) -> None:
        self._send(self.topics.announced, hass.encode(self._record), 1, True)

    def _after_connect(self) -> None:
        """Runs in the worker after every (re)connect, before any queued reading."""
        self._send(self.topics.monitor_status, "online", 1, True)
        if self.config.discovery:
            self._sync_record()
            self._remove_stale()
        self._announce_all()
        if self.config.discovery:
            self._publish_record()
        self._catch_up()

    def _sync_record(self, timeout: float = 5.0) -> None:
        """Read our retained record from the broker (to remove inverters configured away since)."""
        self._remote_record = None
        if not self._conn.read_retained(self.topics.announced, timeout):
            log.warning(
                "MQTT: could not read %s back from the broker; stale inverters not checked", self._conn.sync_topic
            )
        remote: dict[str, list[str]] = self._remote_record or {}
        for serial, topics in remote.items():
            self._record.setdefault(serial, topics)

    def _remove_stale(self) -> None:
        if self._configured is None:
            return
        for serial in sorted(set(self._record) - self._configured):
            for topic in self._record.pop(serial):
                if self.topics.owns(serial, topic):
                    self._send(topic, "", 1, True)
            self._books.pop(serial, None)
            self.stats.removed.append(serial)
            log.info("MQTT: removed inverter %s from Home Assistant (no longer configured)", serial)

    def _catch_up(self) -> None:
        if self._buffer:
            log.info("MQTT: sending %d readings held during the outage", len(self._buffer))
        while self._buffer and self._conn.connected.is_set():
            if self._publish_reading(self._buffer.popleft()):
                self.stats.republished += 1
        since, self._missed_since = self._missed_since, None
        if since is not None and self._history is not None:
            count = 0
            try:
                for reading in self._history(since):
                    if self._publish_reading(reading):
                        count += 1
            except Exception:
                log.exception("MQTT: reading the history since %s failed", since.isoformat())
                self._missed_since = since
            self.stats.republished += count
            log.info("MQTT: republished %d stored readings since %s", count, since.isoformat())


def parse_record(payload: bytes | bytearray, topics: hass.Topics) -> dict[str, list[str]]:
    """The retained ``<base>/announced`` record, keeping only what this monitor could have written.

    Anyone allowed to publish that topic could otherwise make the monitor clear
    arbitrary retained topics (or, with a wildcard, fail every publish): each
    entry keeps only the topics inside our own levels for its serial
    (``Topics.owns``), and a record larger than ``MAX_RECORD_BYTES`` is ignored.
    """
    if not payload:
        return {}
    if len(payload) > MAX_RECORD_BYTES:
        log.warning("MQTT: ignoring an announced record of %d bytes (more than %d)", len(payload), MAX_RECORD_BYTES)
        return {}
    try:
        data = json.loads(payload)
    except ValueError:
        log.warning("MQTT: ignoring a malformed announced record")
        return {}
    if not isinstance(data, dict):
        return {}
    record: dict[str, list[str]] = {}
    foreign = 0
    for serial, listed in data.items():
        if not isinstance(serial, str) or not serial or not isinstance(listed, list):
            continue
        kept = [t for t in listed if isinstance(t, str) and topics.owns(serial, t)]
        foreign += len(listed) - len(kept)
        if kept:
            record[serial] = kept
    if foreign:
        log.warning(
            "MQTT: the retained %s names %d topic(s) outside this monitor's own; those are left alone",
            topics.announced,
            foreign,
        )
    return record


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("pv")
    except Exception:
        return ""
