"""A real mosquitto on a free loopback port, and a recording subscriber.

Shared by the MQTT tests and the fleet benchmark.  The broker runs with a
temporary configuration and persistence directory so that a stop/start keeps
retained messages and persistent sessions, like a real installation.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion


def find_mosquitto() -> str | None:
    """The broker binary; Debian puts it in /usr/sbin, which is not on every user's PATH."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Broker:
    """One mosquitto process; ``stop()``/``start()`` restart it on the same port and data."""

    def __init__(self, binary: str, workdir: Path | None = None, extra_config: str = "", port: int | None = None):
        self.binary = binary
        self.dir = workdir or Path(tempfile.mkdtemp(prefix="pv-mosquitto-"))
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.extra_config = extra_config
        self.proc: subprocess.Popen[bytes] | None = None
        self.config_path = self.dir / "mosquitto.conf"
        self.log_path = self.dir / "mosquitto.log"

    def write_config(self) -> None:
        self.config_path.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "persistence true\n"
            f"persistence_location {self.dir}/\n"
            f"log_dest file {self.log_path}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            "max_queued_messages 100000\n"
            f"user {getpass.getuser()}\n"  # as root, mosquitto would switch to a user that cannot write here
            + (self.extra_config or "allow_anonymous true\n")
        )

    def start(self, timeout: float = 10.0) -> None:
        self.write_config()
        with open(self.dir / "stderr.txt", "ab") as err:
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(self.config_path)], stdout=subprocess.DEVNULL, stderr=err
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"mosquitto did not listen on {self.port}: {self.log_tail()}")

    def stop(self) -> None:
        """Graceful stop (SIGTERM): mosquitto saves retained messages and sessions first."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def forget_retained(self) -> None:
        """Delete the saved state while stopped: the next start is a broker without persistence.

        What a broker restarted without ``persistence true`` (the Home Assistant
        add-on's default is to keep it, many hand-made setups do not) gives back:
        no retained messages, no sessions.
        """
        assert self.proc is None, "stop the broker first"
        (self.dir / "mosquitto.db").unlink(missing_ok=True)

    def log_tail(self) -> str:
        try:
            return ((self.dir / "stderr.txt").read_text() + self.log_path.read_text())[-2000:]
        except OSError:
            return "(no log)"

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool
    at: float  # time.monotonic() at arrival

    @property
    def text(self) -> str:
        return self.payload.decode()

    def json(self) -> Any:
        return json.loads(self.payload)


class Recorder:
    """A subscriber that records every message, for assertions.

    ``client_id`` with ``persistent=True`` keeps a broker session, so messages
    published while the recorder itself is reconnecting are not lost.
    """

    def __init__(
        self,
        broker: Broker,
        topics: Iterable[str] = ("#",),
        *,
        client_id: str = "",
        persistent: bool = False,
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
    ) -> None:
        self.messages: list[Message] = []
        self._cond = threading.Condition()
        self._topics = list(topics)
        self._subscribed = threading.Event()
        self.client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=not persistent,
        )
        if username:
            self.client.username_pw_set(username, password)
        if ca_file:
            self.client.tls_set(ca_certs=ca_file)
        self.client.reconnect_delay_set(0.05, 0.2)  # type: ignore[arg-type]
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.connect_async(broker.host, broker.port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("recorder could not subscribe")

    def _on_connect(self, client: paho.Client, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        if not rc.is_failure and not flags.session_present:
            client.subscribe([(t, 1) for t in self._topics])
        elif not rc.is_failure:
            self._subscribed.set()

    def _on_subscribe(self, client: paho.Client, userdata: Any, mid: int, rcs: Any, props: Any) -> None:
        self._subscribed.set()

    def _on_message(self, client: paho.Client, userdata: Any, msg: paho.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Message(msg.topic, bytes(msg.payload), bool(msg.retain), time.monotonic()))
            self._cond.notify_all()

    def on(self, topic: str) -> list[Message]:
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def matching(self, pred: Callable[[Message], bool]) -> list[Message]:
        with self._cond:
            return [m for m in self.messages if pred(m)]

    def wait_for(self, pred: Callable[[list[Message]], bool], timeout: float = 10.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not pred(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    tail = "\n".join(f"{m.topic} {m.payload[:80]!r}" for m in self.messages[-15:])
                    raise AssertionError(f"timed out waiting for {what or pred}; last messages:\n{tail}")
                self._cond.wait(left)

    def wait_count(self, topic: str, n: int, timeout: float = 10.0) -> list[Message]:
        self.wait_for(lambda ms: sum(m.topic == topic for m in ms) >= n, timeout, f"{n} messages on {topic}")
        return self.on(topic)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def retained(broker: Broker, pattern: str = "#") -> dict[str, bytes]:
    """What a newcomer sees: the retained messages under ``pattern``.

    A sync message published after subscribing marks the end of the retained
    burst (the broker delivers in order on one connection).
    """
    rec = Recorder(broker, [pattern, "pv-test-sync/#"])
    try:
        marker = f"pv-test-sync/{time.monotonic_ns()}"
        rec.client.publish(marker, b"end", qos=1)
        rec.wait_for(lambda ms: any(m.topic == marker for m in ms), 10, "sync marker")
        return {m.topic: m.payload for m in rec.messages if m.retain}
    finally:
        rec.close()
