"""The broker connection: one paho client, its network thread, and what it tells the worker.

paho's own thread does the socket I/O and the reconnects; its callbacks only
set flags (``reconnected``, ``ha_online``) that the output's worker acts on,
so nothing slow or failing ever runs on the network thread.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, cast

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from pvapp.outputs import hass

from .config import MqttConfig
from .stats import MqttStats

log = logging.getLogger("pv.mqtt")

# Messages handed to paho but not yet sent/acknowledged before the worker waits for the broker.
MAX_PENDING = 1000

# errno values of a connect that never reached a listening broker (stopped, restarting, network down)
_UNREACHABLE_ERRNOS = frozenset(
    {errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EHOSTDOWN, errno.ENETDOWN, errno.ETIMEDOUT}
)


def unreachable(exc: BaseException | None) -> bool:
    """True when the TCP connection itself failed: nobody listening, no route, no such name, no answer.

    Such an attempt costs the broker nothing (the kernel refuses it), so it
    may be repeated often; a TLS failure or a refused CONNECT reached the
    broker's code and is retried with the full backoff.
    """
    if exc is None or isinstance(exc, ssl.SSLError):
        return False
    if isinstance(exc, ConnectionRefusedError | TimeoutError | socket.gaierror):
        return True
    return isinstance(exc, OSError) and exc.errno in _UNREACHABLE_ERRNOS


class RetryPolicy:
    """The wait before the next connection attempt, chosen by what the last attempt ran into.

    * lost a working connection: ``min_delay`` (the broker may be back at once);
    * the broker could not be reached at all: doubling from ``min_delay`` up
      to ``probe_interval``, so a broker that comes back is found within
      about ``probe_interval`` seconds, at the price of one refused TCP
      connect per interval while it stays down;
    * the broker answered but refused (credentials, TLS): doubling from
      ``min_delay`` up to ``max_delay``, the real backoff.
    """

    def __init__(self, min_delay: float, max_delay: float, probe_interval: float) -> None:
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.probe_cap = max(min_delay, min(probe_interval, max_delay))
        self._delay: float | None = None

    def reset(self) -> None:
        self._delay = None

    def lost(self) -> float:
        self._delay = self.min_delay
        return self._delay

    def unreachable(self) -> float:
        return self._grow(self.probe_cap)

    def refused(self) -> float:
        return self._grow(self.max_delay)

    def _grow(self, cap: float) -> float:
        self._delay = self.min_delay if self._delay is None else min(self._delay * 2, cap)
        self._delay = min(self._delay, cap)
        return self._delay


class Connection:
    """One MQTT session with the broker, reconnected in the background for the whole run."""

    def __init__(self, config: MqttConfig, stats: MqttStats) -> None:
        self.config = config
        self.topics = config.topics
        self.stats = stats
        self.connected = threading.Event()
        self.reconnected = threading.Event()  # set on every connect; the worker clears it when it has caught up
        self.ha_online = threading.Event()  # Home Assistant announced itself: discovery again
        self.stopping = threading.Event()
        self.on_record: Callable[[bytes], None] | None = None
        self.last_info: paho.MQTTMessageInfo | None = None
        self._sync_token = ""
        self._synced = threading.Event()
        self._fail_logged = False
        self._down_since: float | None = None
        self._refused: set[str] = set()
        self._retry = RetryPolicy(config.reconnect_min_delay, config.reconnect_max_delay, config.probe_interval)
        self._rejected = False  # the last CONNECT was answered with a refusal
        self._thread: threading.Thread | None = None
        self._client = self._make_client()

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start connecting in the background; returns at once even if the broker is down."""
        c = self.config
        self._client.connect_async(c.host, c.port, keepalive=c.keepalive)
        self._client.loop_start()
        self._thread = self.thread

    def stop(self, timeout: float) -> None:
        """Mark the monitor offline (if connected) and disconnect."""
        self.stopping.set()
        if self.connected.is_set():
            info = self._client.publish(self.topics.monitor_status, "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=max(0.1, timeout))
            except (RuntimeError, ValueError):
                pass
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def thread(self) -> threading.Thread | None:
        found = getattr(self._client, "_thread", None)
        return found if isinstance(found, threading.Thread) else None

    def alive(self) -> bool:
        """The network thread still runs (paho forgets its thread when it ends, so it is kept here)."""
        return self._thread is None or self._thread.is_alive() or self.stopping.is_set()

    # ----------------------------------------------------------------- sending

    def pending(self) -> int:
        """Messages paho holds unsent or unacknowledged (its queues are unbounded)."""
        c = self._client
        return len(getattr(c, "_out_messages", ())) + len(getattr(c, "_out_packet", ()))

    def send(self, topic: str, payload: str, qos: int, retain: bool) -> paho.MQTTMessageInfo | None:
        """Hand one message to paho; None (and one log line per topic) for a topic that is not literal."""
        if not hass.valid_topic(topic):
            # paho raises on a wildcard; a topic is never worth losing the worker over
            if topic not in self._refused and len(self._refused) < 100:
                self._refused.add(topic)
                log.error("MQTT: not publishing to %r: not a literal topic", topic)
            return None
        # Backpressure towards the worker only (never the poller): paho's message ids are 16 bits,
        # so more than 65535 unacknowledged messages would make it refuse new ones.
        while self.pending() >= MAX_PENDING and self.connected.is_set():
            time.sleep(0.001)
        self.stats.messages += 1
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if qos > 0:
            self.last_info = info
        return info

    def read_retained(self, topic: str, timeout: float = 5.0) -> bool:
        """Subscribe to ``topic`` until its retained message (if any) has been delivered to ``on_record``.

        Retained messages arrive after the SUBACK; an echo of a private message
        sent after the SUBSCRIBE proves they have all been delivered, so no
        guessed sleep is needed.  False when the echo did not come back in time.
        """
        self._synced.clear()
        self._sync_token = uuid.uuid4().hex
        sync = self.sync_topic
        self._client.subscribe([(topic, 1), (sync, 1)])
        self.send(sync, self._sync_token, 1, False)
        ok = self._synced.wait(timeout)
        self._client.unsubscribe([topic, sync])
        return ok

    @property
    def sync_topic(self) -> str:
        return f"{self.config.base_topic}/_sync/{hass.topic_part(self.config.client_id)}"

    # ----------------------------------------------------------------- paho side

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
        self._next_wait(client, c.reconnect_min_delay)
        client.max_queued_messages_set(0)
        # An exception escaping a callback would end paho's network thread: ours log and carry on.
        client.suppress_exceptions = True
        client.on_connect = _guarded(self._on_connect)
        client.on_connect_fail = _guarded(self._on_connect_fail)
        client.on_disconnect = _guarded(self._on_disconnect)
        client.on_message = _guarded(self._on_message)
        return client

    @staticmethod
    def _next_wait(client: paho.Client, seconds: float) -> None:
        """paho waits ``min_delay`` after a reset: pinning both bounds chooses its next wait exactly."""
        client.reconnect_delay_set(cast(int, seconds), cast(int, seconds))

    def _on_connect(self, client: paho.Client, userdata: object, flags: object, rc: Any, props: object) -> None:
        self.stats.connect_attempts += 1
        if rc.is_failure:
            self._rejected = True  # paho calls on_disconnect next, then waits
            if not self._fail_logged:
                log.warning("MQTT: broker %s refused the connection: %s", self.config.where, rc)
                self._fail_logged = True
            return
        self._fail_logged = False
        self._rejected = False
        self._retry.reset()
        self.stats.connects += 1
        if self._down_since is None:
            log.info("MQTT: connected to %s", self.config.where)
        else:
            log.info("MQTT: reconnected to %s after %.0f s", self.config.where, time.monotonic() - self._down_since)
        self._down_since = None
        client.subscribe(self.config.ha_status_topic, qos=1)
        self.connected.set()
        self.reconnected.set()

    def _on_connect_fail(self, client: paho.Client, userdata: object) -> None:
        # paho calls this inside its ``except OSError``: the active exception is the reason
        # (refused, DNS, certificate...), which the user needs to fix the configuration.
        reason = sys.exc_info()[1]
        self.stats.connect_attempts += 1
        self._next_wait(client, self._retry.unreachable() if unreachable(reason) else self._retry.refused())
        if self._down_since is None:
            self._down_since = time.monotonic()
        if not self._fail_logged:
            log.warning(
                "MQTT: cannot connect to broker %s: %s; retrying in the background (missed readings: %s)",
                self.config.where,
                reason or "connection failed",
                self.config.missed,
            )
            self._fail_logged = True

    def _on_disconnect(self, client: paho.Client, userdata: object, flags: object, rc: Any, props: object) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        if self._rejected:
            self._rejected = False
            self._next_wait(client, self._retry.refused())
        elif was:
            self._next_wait(client, self._retry.lost())
        if was and not self.stopping.is_set():
            self._down_since = time.monotonic()
            log.warning("MQTT: lost the broker %s (%s); missed readings: %s", self.config.where, rc, self.config.missed)

    def _on_message(self, client: paho.Client, userdata: object, msg: paho.MQTTMessage) -> None:
        if msg.topic == self.config.ha_status_topic:
            if msg.payload == b"online":
                self.ha_online.set()
        elif msg.topic == self.topics.announced:
            if self.on_record is not None:
                self.on_record(bytes(msg.payload))
        elif msg.topic == self.sync_topic and msg.payload.decode(errors="replace") == self._sync_token:
            self._synced.set()


def _guarded(callback: Callable[..., None]) -> Callable[..., None]:
    """A paho callback that logs its own failure instead of raising into the network loop."""

    def run(*args: Any) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("MQTT: %s failed", getattr(callback, "__name__", "callback"))

    return run
