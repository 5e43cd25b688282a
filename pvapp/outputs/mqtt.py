"""MQTT output of ``pv monitor``, with Home Assistant discovery.

The poller must never wait for the network, so ``publish`` and
``inverter_state`` only put an event on a bounded queue; one worker thread
owns every publish, and paho's own thread does the socket I/O and the
reconnects.  A broker outage therefore costs the poller nothing: readings
that arrive while the broker is away are handled by the ``missed`` policy.

Topic layout (``<base>`` defaults to ``pv``; serial numbers are the key):

* ``<base>/status``: ``online`` / ``offline``, retained, QoS 1; ``offline`` is
  also the MQTT last will, so a monitor that dies shows as unavailable.
* ``<base>/<serial>/availability``: ``awake`` / ``asleep`` / ``lost``,
  retained, QoS 1.  An asleep inverter is not a dead monitor.
* ``<base>/<serial>/state``: one JSON document per reading (see
  ``hass.state_payload``), retained so a restarted Home Assistant gets the
  last totals at once even at night; QoS from the configuration (default 1).
* ``<base>/<serial>/<field>``: optional, one plain value per topic, same QoS
  and retain as the state.
* ``<base>/announced``: retained record of every retained topic this monitor
  created per serial, so that an inverter removed from the configuration is
  removed from Home Assistant even across restarts.
* ``<prefix>/sensor|binary_sensor/pv_<serial>/<object>/config``: discovery,
  retained, QoS 1.

Missed readings (``missed`` option):

* ``buffer`` (default): kept in memory, up to ``buffer_size`` readings
  (oldest dropped first), sent in order on reconnect; lost if the monitor
  restarts during the outage.
* ``republish``: nothing kept in memory; on reconnect the ``history``
  callable the monitor provides is asked for every stored reading since the
  first one missed, and those are sent in order.
* ``skip``: dropped; the next reading after reconnect updates the state.

Delivery is at least once: a reading in flight when the connection drops is
resent by paho, and state messages are never sent for a time at or before the
last one sent for that inverter, so a republish cannot move a retained state
backwards.
"""

from __future__ import annotations

import importlib
import logging
import os
import queue
import socket
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, cast

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from pvapp.outputs import hass
from pvapp.reading import InverterInfo, InverterState, Reading
from pvgen.runtime.model import ProtocolSpec

log = logging.getLogger("pv.mqtt")

MissedPolicy = Literal["skip", "buffer", "republish"]
MISSED_POLICIES: tuple[MissedPolicy, ...] = ("skip", "buffer", "republish")

ReadingHistory = Callable[[datetime], Iterable[Reading]]
"""``history(since)``: every stored reading of every inverter whose time is at
or after ``since`` (timezone-aware UTC), oldest first.  Called from the MQTT
worker thread, so it must open its own database connection."""

SpecResolver = Callable[[str], ProtocolSpec]

# Events waiting for the worker; only fills if the broker accepts slower than the poller produces.
QUEUE_SIZE = 10000

# Messages handed to paho but not yet sent/acknowledged before the worker waits for the broker.
MAX_PENDING = 1000

PASSWORD_ENV = "PV_MQTT_PASSWORD"  # noqa: S105 (the variable name, not a secret)


class MqttConfigError(ValueError):
    """A one-line message naming the bad ``mqtt.<key>``; print it, no traceback."""


@dataclass(frozen=True, slots=True)
class TlsConfig:
    ca_file: str | None = None  # None: the system's trusted CAs
    cert_file: str | None = None
    key_file: str | None = None
    insecure: bool = False  # skip host-name verification (self-signed test brokers)


@dataclass(frozen=True, slots=True)
class MqttConfig:
    host: str = "localhost"
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsConfig | None = None
    client_id: str = ""
    base_topic: str = "pv"
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    ha_status_topic: str = "homeassistant/status"
    qos: int = 1
    retain: bool = True
    per_value_topics: bool = False
    missed: MissedPolicy = "buffer"
    buffer_size: int = 10000
    keepalive: int = 60
    reconnect_min_delay: float = 1.0
    reconnect_max_delay: float = 60.0

    @property
    def topics(self) -> hass.Topics:
        return hass.Topics(base=self.base_topic, discovery_prefix=self.discovery_prefix)


_KEYS = (
    "host",
    "port",
    "username",
    "password",
    "tls",
    "client_id",
    "base_topic",
    "discovery",
    "discovery_prefix",
    "ha_status_topic",
    "qos",
    "retain",
    "per_value_topics",
    "missed",
    "buffer_size",
    "keepalive",
    "reconnect_min_delay",
    "reconnect_max_delay",
)
_TLS_KEYS = ("ca_file", "cert_file", "key_file", "insecure")


def _bad(key: str, expected: str, got: object) -> MqttConfigError:
    return MqttConfigError(f"mqtt.{key}: expected {expected}, got {got!r}")


def _str(table: Mapping[str, Any], key: str, default: str | None, prefix: str = "") -> str | None:
    value = table.get(key, default)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _bad(prefix + key, "a non-empty string", value)
    return value


def _bool(table: Mapping[str, Any], key: str, default: bool, prefix: str = "") -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise _bad(prefix + key, "true or false", value)
    return value


def _int(table: Mapping[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _bad(key, f"an integer {lo}-{hi}", value)
    return value


def _float(table: Mapping[str, Any], key: str, default: float, lo: float, hi: float) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise _bad(key, f"a number of seconds {lo:g}-{hi:g}", value)
    return float(value)


def _topic(table: Mapping[str, Any], key: str, default: str) -> str:
    value = _str(table, key, default)
    assert value is not None
    if any(c in value for c in "+#\0") or value.startswith("/") or value.endswith("/") or "//" in value:
        raise _bad(key, "a topic without wildcards or empty levels", value)
    return value


def _existing_file(table: Mapping[str, Any], key: str) -> str | None:
    path = _str(table, key, None, "tls.")
    if path is not None and not os.path.isfile(path):
        raise MqttConfigError(f"mqtt.tls.{key}: no such file {path!r}")
    return path


def validate_config(table: Mapping[str, Any], env: Mapping[str, str] | None = None) -> MqttConfig:
    """Check the ``[mqtt]`` TOML table; ``PV_MQTT_PASSWORD`` in ``env`` overrides ``password``.

    Raises ``MqttConfigError`` with one line naming the key, so the CLI can
    print it as is.
    """
    env = os.environ if env is None else env
    if not isinstance(table, Mapping):
        raise MqttConfigError(f"mqtt: expected a table, got {table!r}")
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise MqttConfigError(f"mqtt.{unknown[0]}: unknown key (known: {', '.join(_KEYS)})")

    tls: TlsConfig | None = None
    raw_tls = table.get("tls", False)
    if isinstance(raw_tls, Mapping):
        bad = sorted(set(raw_tls) - set(_TLS_KEYS))
        if bad:
            raise MqttConfigError(f"mqtt.tls.{bad[0]}: unknown key (known: {', '.join(_TLS_KEYS)})")
        tls = TlsConfig(
            ca_file=_existing_file(raw_tls, "ca_file"),
            cert_file=_existing_file(raw_tls, "cert_file"),
            key_file=_existing_file(raw_tls, "key_file"),
            insecure=_bool(raw_tls, "insecure", False, "tls."),
        )
        if (tls.cert_file is None) != (tls.key_file is None):
            raise MqttConfigError("mqtt.tls: cert_file and key_file must be given together")
    elif raw_tls is True:
        tls = TlsConfig()
    elif raw_tls is not False:
        raise _bad("tls", "true, false or a table", raw_tls)

    host = _str(table, "host", "localhost")
    assert host is not None
    port = _int(table, "port", 8883 if tls else 1883, 1, 65535)
    username = _str(table, "username", None)
    password = env.get(PASSWORD_ENV) or _str(table, "password", None)
    if password is not None and username is None:
        raise MqttConfigError("mqtt.password: set mqtt.username too (a password alone is never sent)")

    missed = table.get("missed", "buffer")
    if missed not in MISSED_POLICIES:
        raise _bad("missed", " or ".join(repr(p) for p in MISSED_POLICIES), missed)
    base = _topic(table, "base_topic", "pv")
    prefix = _topic(table, "discovery_prefix", "homeassistant")
    client_id = _str(table, "client_id", None) or f"pv-{hass.topic_part(base)}-{socket.gethostname()}"
    rmin = _float(table, "reconnect_min_delay", 1.0, 0.05, 3600)
    rmax = _float(table, "reconnect_max_delay", max(60.0, rmin), 0.05, 3600)
    if rmax < rmin:
        raise _bad("reconnect_max_delay", f"a number >= reconnect_min_delay ({rmin:g})", rmax)
    return MqttConfig(
        host=host,
        port=port,
        username=username,
        password=password,
        tls=tls,
        client_id=client_id,
        base_topic=base,
        discovery=_bool(table, "discovery", True),
        discovery_prefix=prefix,
        ha_status_topic=_topic(table, "ha_status_topic", f"{prefix}/status"),
        qos=_int(table, "qos", 1, 0, 2),
        retain=_bool(table, "retain", True),
        per_value_topics=_bool(table, "per_value_topics", False),
        missed=cast(MissedPolicy, missed),
        buffer_size=_int(table, "buffer_size", 10000, 1, 10_000_000),
        keepalive=_int(table, "keepalive", 60, 5, 3600),
        reconnect_min_delay=rmin,
        reconnect_max_delay=rmax,
    )


def import_spec(spec_id: str) -> ProtocolSpec:
    """The ``SPEC`` of the generated module ``pv.<spec_id>``."""
    module = importlib.import_module(f"pv.{spec_id}")
    return cast(ProtocolSpec, module.SPEC)


@dataclass
class MqttStats:
    """Counters for tests, the benchmark and the monitor's status line."""

    published: int = 0  # readings sent as state messages
    messages: int = 0  # MQTT messages handed to paho (all kinds)
    dropped_queue_full: int = 0  # publish() found the queue full: the poller was faster than the broker
    buffered: int = 0  # readings held while the broker was away (policy buffer)
    dropped_buffer_full: int = 0
    skipped: int = 0  # readings dropped while the broker was away (policy skip)
    missed: int = 0  # readings left for history (policy republish)
    republished: int = 0  # readings sent from history or the buffer after a reconnect
    duplicates: int = 0  # readings not newer than the last one sent for that inverter
    guarded: int = 0  # monotonic values withheld because they decreased
    connects: int = 0
    announcements: int = 0  # discovery rounds sent
    removed: list[str] = field(default_factory=list)  # serials whose entities were removed


@dataclass(frozen=True, slots=True)
class _Announced:
    spec: ProtocolSpec
    info: InverterInfo
    fields: frozenset[str]


_STATE = "state"
_READING = "reading"


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
        self._inverters: dict[str, _Announced] = {}
        self._states: dict[str, InverterState] = {}
        self._last_time: dict[str, datetime] = {}
        self._monotonic: dict[str, dict[str, float | int]] = {}
        self._record: dict[str, list[str]] = {}
        self._remote_record: dict[str, list[str]] | None = None
        self._sync_token = ""
        self._synced = threading.Event()
        self._connected = threading.Event()
        self._reconnected = threading.Event()
        self._ha_online = threading.Event()
        self._stop = threading.Event()
        self._busy = False
        self._last_info: paho.MQTTMessageInfo | None = None
        self._drop_lock = threading.Lock()
        self._fail_logged = False
        self._down_since: float | None = None
        self._worker: threading.Thread | None = None
        self._client = self._make_client()

    # ----------------------------------------------------------------- Output protocol

    def start(self) -> None:
        """Start connecting in the background; returns at once even if the broker is down."""
        c = self.config
        self._client.connect_async(c.host, c.port, keepalive=c.keepalive)
        self._client.loop_start()
        self._worker = threading.Thread(target=self._run, name="pv-mqtt", daemon=True)
        self._worker.start()

    def publish(self, reading: Reading) -> None:
        self._put((_READING, reading, None))

    def inverter_state(self, inverter: InverterInfo, state: InverterState) -> None:
        self._put((_STATE, inverter, state))

    def stop(self, timeout: float = 5.0) -> None:
        """Send what is queued (if connected), mark the monitor offline, disconnect."""
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout)
        if self._connected.is_set():
            info = self._client.publish(self.topics.monitor_status, "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=max(0.1, timeout / 2))
            except (RuntimeError, ValueError):
                pass
        self._client.disconnect()
        self._client.loop_stop()

    # ----------------------------------------------------------------- helpers for callers

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def backlog(self) -> int:
        """Events waiting for the worker (for a status line, and the benchmark's pacing)."""
        return self._queue.qsize()

    @property
    def threads(self) -> list[threading.Thread]:
        """The worker and paho's network thread (the benchmark measures their CPU time)."""
        found = [self._worker, getattr(self._client, "_thread", None)]
        return [t for t in found if isinstance(t, threading.Thread)]

    def wait_connected(self, timeout: float = 5.0) -> bool:
        """Block until connected and the reconnect work (discovery, catch-up) is done."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._connected.is_set() and not self._busy and not self._reconnected.is_set():
                return True
            time.sleep(0.005)
        return False

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until every queued event was handled and, when connected, the broker acknowledged it.

        For tests and the benchmark; the monitor never needs to wait.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0 and not self._busy and not self._reconnected.is_set():
                info = self._last_info
                if info is None or not self._connected.is_set():
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

    def _make_client(self) -> paho.Client:
        c = self.config
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=c.client_id,
            protocol=paho.MQTTv311,
            clean_session=True,
        )
        if c.username is not None:
            client.username_pw_set(c.username, c.password)
        if c.tls is not None:
            client.tls_set(ca_certs=c.tls.ca_file, certfile=c.tls.cert_file, keyfile=c.tls.key_file)
            client.tls_insecure_set(c.tls.insecure)
        client.will_set(self.topics.monitor_status, "offline", qos=1, retain=True)
        client.reconnect_delay_set(cast(int, c.reconnect_min_delay), cast(int, c.reconnect_max_delay))
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def _where(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    def _on_connect(self, client: paho.Client, userdata: object, flags: object, rc: Any, props: object) -> None:
        if rc.is_failure:
            if not self._fail_logged:
                log.warning("MQTT: broker %s refused the connection: %s", self._where(), rc)
                self._fail_logged = True
            return
        self._fail_logged = False
        self.stats.connects += 1
        if self._down_since is None:
            log.info("MQTT: connected to %s", self._where())
        else:
            log.info("MQTT: reconnected to %s after %.0f s", self._where(), time.monotonic() - self._down_since)
        self._down_since = None
        client.subscribe(self.config.ha_status_topic, qos=1)
        self._connected.set()
        self._reconnected.set()

    def _on_connect_fail(self, client: paho.Client, userdata: object) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
        if not self._fail_logged:
            # paho calls this inside its ``except OSError``: the active exception is the reason
            # (refused, DNS, certificate...), which the user needs to fix the configuration.
            reason = sys.exc_info()[1]
            log.warning(
                "MQTT: cannot connect to broker %s: %s; retrying in the background (missed readings: %s)",
                self._where(),
                reason or "connection failed",
                self.config.missed,
            )
            self._fail_logged = True

    def _on_disconnect(self, client: paho.Client, userdata: object, flags: object, rc: Any, props: object) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was and not self._stop.is_set():
            self._down_since = time.monotonic()
            log.warning("MQTT: lost the broker %s (%s); missed readings: %s", self._where(), rc, self.config.missed)

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        if msg.topic == self.config.ha_status_topic:
            if msg.payload == b"online":
                self._ha_online.set()
        elif msg.topic == self.topics.announced:
            self._remote_record = _parse_record(msg.payload)
        elif msg.topic == self._sync_topic() and msg.payload.decode(errors="replace") == self._sync_token:
            self._synced.set()

    def _sync_topic(self) -> str:
        return f"{self.config.base_topic}/_sync/{hass.topic_part(self.config.client_id)}"

    def _pending(self) -> int:
        """Messages paho holds unsent or unacknowledged (its queues are unbounded)."""
        c = self._client
        return len(getattr(c, "_out_messages", ())) + len(getattr(c, "_out_packet", ()))

    def _send(self, topic: str, payload: str, qos: int, retain: bool) -> paho.MQTTMessageInfo:
        # Backpressure towards the worker only (never the poller): paho's message ids are 16 bits,
        # so more than 65535 unacknowledged messages would make it refuse new ones.
        while self._pending() >= MAX_PENDING and self._connected.is_set():
            time.sleep(0.001)
        self.stats.messages += 1
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if qos > 0:
            self._last_info = info
        return info

    # ----------------------------------------------------------------- worker

    def _run(self) -> None:
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
                else:
                    self._handle_state(a, b)
            except Exception:  # a bad reading must not kill the output for the rest of the run
                log.exception("MQTT: could not publish %s", kind)
            finally:
                self._queue.task_done()

    def _service(self) -> None:
        """Work the paho thread asked for: the after-connect sequence, a re-announcement for HA."""
        if self._reconnected.is_set() and self._connected.is_set():
            self._busy = True
            self._reconnected.clear()
            self._after_connect()
            self._busy = False
        if self._ha_online.is_set() and self._connected.is_set():
            self._busy = True
            self._ha_online.clear()
            self._announce_all()
            self._busy = False

    def _handle_state(self, info: InverterInfo, state: InverterState) -> None:
        self._states[info.serial] = state
        if self._connected.is_set():
            self._send(self.topics.availability(info.serial), state, 1, True)

    def _handle_reading(self, reading: Reading) -> None:
        if not self._connected.is_set():
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
        serial = reading.inverter.serial
        last = self._last_time.get(serial)
        if last is not None and reading.time <= last:
            self.stats.duplicates += 1
            return False
        spec = self._spec(reading.inverter.spec_id)
        if spec is None:
            return False
        if self._states.get(serial) != "awake":
            # A reading proves the inverter is awake, whatever the monitor said last.
            self._handle_state(reading.inverter, "awake")
        if self.config.discovery:
            self._ensure_announced(spec, reading)
        skip = self._monotonic_guard(spec, reading)
        doc = hass.state_payload(spec, reading, skip)
        qos, retain = self.config.qos, self.config.retain
        self._send(self.topics.state(serial), hass.encode(doc), qos, retain)
        if self.config.per_value_topics:
            for field_id, text in hass.value_payloads(spec, doc):
                self._send(self.topics.value(serial, field_id), text, qos, retain)
        self._last_time[serial] = reading.time
        self.stats.published += 1
        return True

    def _monotonic_guard(self, spec: ProtocolSpec, reading: Reading) -> dict[str, str]:
        """Withhold a lifetime counter lower than the one last sent (HA would read a meter reset)."""
        seen = self._monotonic.setdefault(reading.inverter.serial, {})
        skip: dict[str, str] = {}
        for f in spec.fields:
            if not f.monotonic:
                continue
            value = reading.values.get(f.id)
            if value is None:
                continue
            before = seen.get(f.id)
            if before is not None and value < before:
                skip[f.id] = f"decreased from {before} to {value}"
                self.stats.guarded += 1
            else:
                seen[f.id] = value
        return skip

    def _ensure_announced(self, spec: ProtocolSpec, reading: Reading) -> None:
        info = reading.inverter
        fields = frozenset(hass.reading_fields(spec, reading))
        known = self._inverters.get(info.serial)
        if known is not None and fields <= known.fields and known.info == info and known.spec is spec:
            return
        merged = fields | (known.fields if known is not None and known.spec is spec else frozenset())
        entry = _Announced(spec, info, merged)
        self._inverters[info.serial] = entry
        self._announce(entry)
        self._publish_record()

    def _announce(self, entry: _Announced) -> None:
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
        for entry in list(self._inverters.values()):
            self._announce(entry)
        for serial, state in self._states.items():
            self._send(self.topics.availability(serial), state, 1, True)

    def _publish_record(self) -> None:
        self._send(self.topics.announced, hass.encode(self._record), 1, True)

    def _after_connect(self) -> None:
        """Runs in the worker after every (re)connect, before any queued reading."""
        self._send(self.topics.monitor_status, "online", 1, True)
        if self.config.discovery:
            self._sync_record()
            self._remove_stale()
            self._announce_all()
            self._publish_record()
        else:
            for serial, state in self._states.items():
                self._send(self.topics.availability(serial), state, 1, True)
        self._catch_up()

    def _sync_record(self, timeout: float = 5.0) -> None:
        """Read our retained record from the broker.

        Retained messages arrive after the SUBACK; an echo of a private message
        sent after the SUBSCRIBE proves they have all been delivered, so no
        guessed sleep is needed.
        """
        self._remote_record = None
        self._synced.clear()
        self._sync_token = uuid.uuid4().hex
        sync = self._sync_topic()
        self._client.subscribe([(self.topics.announced, 1), (sync, 1)])
        self._send(sync, self._sync_token, 1, False)
        if not self._synced.wait(timeout):
            log.warning("MQTT: could not read %s back from the broker; stale inverters not checked", sync)
        self._client.unsubscribe([self.topics.announced, sync])
        remote: dict[str, list[str]] = self._remote_record or {}
        for serial, topics in remote.items():
            self._record.setdefault(serial, topics)

    def _remove_stale(self) -> None:
        if self._configured is None:
            return
        for serial in sorted(set(self._record) - self._configured):
            for topic in self._record.pop(serial):
                self._send(topic, "", 1, True)
            self._inverters.pop(serial, None)
            self.stats.removed.append(serial)
            log.info("MQTT: removed inverter %s from Home Assistant (no longer configured)", serial)

    def _catch_up(self) -> None:
        if self._buffer:
            log.info("MQTT: sending %d readings held during the outage", len(self._buffer))
        while self._buffer and self._connected.is_set():
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


def _parse_record(payload: bytes | bytearray) -> dict[str, list[str]]:
    import json

    if not payload:
        return {}
    try:
        data = json.loads(payload)
    except ValueError:
        log.warning("MQTT: ignoring a malformed announced record")
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): [str(t) for t in v] for k, v in data.items() if isinstance(v, list)}


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("pv")
    except Exception:
        return ""
