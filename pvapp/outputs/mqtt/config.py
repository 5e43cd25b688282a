"""The ``[mqtt]`` table: every key checked where it enters, with a one-line error naming it.

The monitor's configuration loader hands the table over unread (this output
owns its keys), so a typo in ``[mqtt]`` is reported here as
``mqtt.<key>: ...`` and the CLI prints it without a traceback.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from pvapp.outputs import hass

MissedPolicy = Literal["skip", "buffer", "republish"]
MISSED_POLICIES: tuple[MissedPolicy, ...] = ("skip", "buffer", "republish")

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
    probe_interval: float = 2.0

    @property
    def topics(self) -> hass.Topics:
        return hass.Topics(base=self.base_topic, discovery_prefix=self.discovery_prefix)

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


KEYS = (
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
    "probe_interval",
)
TLS_KEYS = ("ca_file", "cert_file", "key_file", "insecure")


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
    if not hass.valid_topic(value) or value.startswith("/") or value.endswith("/") or "//" in value:
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
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise MqttConfigError(f"mqtt.{unknown[0]}: unknown key (known: {', '.join(KEYS)})")

    tls: TlsConfig | None = None
    raw_tls = table.get("tls", False)
    if isinstance(raw_tls, Mapping):
        bad = sorted(set(raw_tls) - set(TLS_KEYS))
        if bad:
            raise MqttConfigError(f"mqtt.tls.{bad[0]}: unknown key (known: {', '.join(TLS_KEYS)})")
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
    probe = _float(table, "probe_interval", 2.0, 0.05, 3600)
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
        probe_interval=probe,
    )


_LOOPBACK = ("localhost", "ip6-localhost", "::1")


def _loopback(host: str) -> bool:
    return host.lower() in _LOOPBACK or host.startswith("127.")


def config_warnings(cfg: MqttConfig) -> list[str]:
    """Settings that work but expose the broker credentials or connection; one line each.

    Shown by ``pv config check`` and logged when the monitor starts.  A
    password to a broker on this machine (loopback) is not flagged: nobody
    else can read that traffic.
    """
    found: list[str] = []
    if cfg.password is not None and cfg.tls is None and not _loopback(cfg.host):
        found.append(
            f"mqtt: the password is sent to {cfg.where} in plain text (no TLS): anyone on the network path"
            " can read it; set mqtt.tls (see docs/mqtt.md)"
        )
    if cfg.tls is not None and cfg.tls.insecure:
        found.append(
            "mqtt.tls.insecure = true: the broker certificate's host name is not checked, so anyone"
            " on the network path with a certificate from the same CA can pose as the broker"
        )
    return found
