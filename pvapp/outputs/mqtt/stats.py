"""Counters of the MQTT output, shared by its connection and its worker."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    connect_attempts: int = 0  # successful or not (the reconnect benchmark counts them during an outage)
    announcements: int = 0  # discovery rounds sent
    removed: list[str] = field(default_factory=list)  # serials whose entities were removed
