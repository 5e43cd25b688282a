"""Ports the inverters connect to (Samil TCP ``listen://``) and where the advertisement goes."""

from __future__ import annotations

import importlib
import ipaddress
import logging
from typing import Any

from .model import DEFAULT_ADVERTISE, DEFAULT_LISTEN_PORT, LISTEN_SCHEME, ConfigError

log = logging.getLogger("pv.config")


def parse_listen(url: str, key: str) -> tuple[str, int]:
    """``listen://HOST:PORT`` (PORT defaults to 1200; ``[::1]:1200`` for IPv6) -> (host, port); HOST is required."""
    rest = url[len(LISTEN_SCHEME) :] if url.startswith(LISTEN_SCHEME) else url
    host, port = _host_port(
        rest,
        key,
        DEFAULT_LISTEN_PORT,
        what="listen://HOST:PORT, e.g. listen://0.0.0.0:1200",
        example="0.0.0.0 for every interface, 192.168.1.10 or [::]",
    )
    if not host:
        # every interface is a deliberate choice (docs/security.md), never what an empty value means
        raise ConfigError(
            key,
            f"{rest!r} names no address to listen on: give one, e.g. 0.0.0.0:1200 (every interface, where "
            "real units connect in) or 192.168.1.10:1200 (one interface)",
        )
    return host, port


def parse_advertise(value: Any, key: str) -> tuple[tuple[str, int], ...]:
    """Where the "I AM SERVER" datagram goes: true (the broadcast address, port 1300), false or
    "off" (nowhere: the units know the host already), "HOST[:PORT]", or a list of those."""
    if value is True:
        return (DEFAULT_ADVERTISE,)
    if value is False or (isinstance(value, str) and value.strip().lower() in ("off", "none", "no")):
        return ()
    items = value if isinstance(value, list) else [value]
    if not items:
        return ()
    out: list[tuple[str, int]] = []
    for i, item in enumerate(items):
        # a file's list is named by index; a repeated option by its name (the message quotes the value)
        where = f"{key}[{i}]" if isinstance(value, list) and not key.startswith("--") else key
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(where, 'expected "HOST:PORT" (e.g. "255.255.255.255:1300"), true or false')
        host, port = _host_port(
            item.strip(),
            where,
            DEFAULT_ADVERTISE[1],
            what="HOST:PORT, e.g. 192.168.1.255:1300",
            example="255.255.255.255 or your network's broadcast address, 192.168.1.255",
        )
        if not host:
            raise ConfigError(where, f"{item!r} has no address (e.g. 255.255.255.255:1300)")
        out.append((host, port))
    return tuple(out)


def _host_port(text: str, key: str, default_port: int, *, what: str, example: str) -> tuple[str, int]:
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ConfigError(key, f"{text!r} is not {what}")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    host = host.strip()
    if host and not _is_ip(host):
        # an address, never a name: a name would only fail later (at bind or send time, or not at all)
        raise ConfigError(key, f"{host!r} is not an IP address (e.g. {example})")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(key, f"port {port_text!r} is not a number from 0 to 65535")
    return host, int(port_text)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def check_connect_in(port: str, spec_id: str, key: str) -> None:
    """A listen:// port needs a protocol whose units connect in; Samil TCP on a dialled port gets a warning."""
    try:
        frame = importlib.import_module(f"pv.{spec_id}").SPEC.frame
    except ImportError:
        return
    connects_in = frame.address_width == 0
    if port.startswith(LISTEN_SCHEME) and not connects_in:
        raise ConfigError(
            key, f'spec {spec_id!r} is a serial-line protocol; only Samil TCP units connect in (spec = "samil_tcp")'
        )
    if connects_in and not port.startswith((LISTEN_SCHEME, "sim://")):
        log.warning(
            "%s: spec %s on the dialled port %s: real Samil TCP units (SolarRiver TL-D, SolarLake TL) do not "
            'accept connections, they connect to the monitor; use port = "listen://0.0.0.0:1200" (docs/monitor.md)',
            key,
            spec_id,
            port,
        )
