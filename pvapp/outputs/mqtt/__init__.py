"""MQTT output of ``pv monitor``, with Home Assistant discovery.

The topics, payloads and configuration keys are documented for users in
``docs/mqtt.md``; the Home Assistant side in ``docs/home-assistant.md``.
The package is split along its seams:

* ``config``: the ``[mqtt]`` table, checked key by key;
* ``connection``: the paho client, its network thread and the flags it raises;
* ``state``: what was last said about each inverter (the rules a state message obeys);
* ``output``: ``MqttOutput``, the queue the poller feeds and the worker that publishes.
"""

from __future__ import annotations

from .config import (
    MISSED_POLICIES,
    PASSWORD_ENV,
    MissedPolicy,
    MqttConfig,
    MqttConfigError,
    TlsConfig,
    config_warnings,
    validate_config,
)
from .connection import MAX_PENDING
from .output import QUEUE_SIZE, MqttOutput, ReadingHistory, SpecResolver, import_spec
from .stats import MqttStats

__all__ = [
    "MAX_PENDING",
    "MISSED_POLICIES",
    "PASSWORD_ENV",
    "QUEUE_SIZE",
    "MissedPolicy",
    "MqttConfig",
    "MqttConfigError",
    "MqttOutput",
    "MqttStats",
    "ReadingHistory",
    "SpecResolver",
    "TlsConfig",
    "config_warnings",
    "import_spec",
    "validate_config",
]
