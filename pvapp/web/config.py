"""The ``[web]`` configuration table, ``--web ADDR:PORT`` / ``--no-web`` and ``PV_WEB``.

The page is on by default but only on loopback (``127.0.0.1:8780``): a monitor
on a Raspberry Pi must not start publishing its site to the home network
because it was upgraded.  Listening anywhere else is an explicit choice and
needs ``password_hash``; without one the monitor refuses to start and says how
to make one, rather than serving an open page.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .auth import HashFormatError, parse_hash

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8780
DEFAULT_LISTEN = f"{DEFAULT_HOST}:{DEFAULT_PORT}"
WEB_KEYS = ("enabled", "listen", "password_hash", "metrics", "title")


class WebConfigError(ValueError):
    """``key: problem``, turned into a ConfigError by pvapp.config."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True, slots=True)
class WebConfig:
    enabled: bool = True
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    password_hash: str | None = None
    metrics: bool = True
    title: str = ""  # shown in the page header; default: "pv"

    @property
    def listen(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_allowed(header: str, listen_host: str) -> bool:
    """Whether a loopback page answers a request with this ``Host`` header (the DNS-rebinding rule).

    A page elsewhere can make a browser send requests to 127.0.0.1 under its
    own name (``evil.example``, or a wildcard DNS name such as
    ``127.0.0.1.nip.io``, resolved to loopback); the browser then lets that
    page read the replies.  So the name must be an address literal that is
    loopback (``127.0.0.1``, ``127.5.6.7``, ``[::1]``), ``localhost``, or the
    configured listen address, parsed as such: never a prefix match.
    """
    host = header.strip().lower()
    if host.startswith("["):  # an IPv6 literal, [::1] or [::1]:8780
        name, sep, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
        if not sep or ":" not in name or (rest and port is None):
            return False
    else:
        name, _, port = host.partition(":")
    if port and not port.isdigit():
        return False
    if not name:
        return False
    if name in ("localhost", listen_host.lower()):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def parse_listen(text: str, key: str) -> tuple[str, int]:
    """``ADDR:PORT`` (``[::1]:8780`` for IPv6) -> (host, port); the address must be an IP or localhost."""
    if not isinstance(text, str) or not text.strip():
        raise WebConfigError(key, "expected ADDR:PORT, e.g. 127.0.0.1:8780")
    text = text.strip()
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
    else:
        host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise WebConfigError(key, f"expected ADDR:PORT, e.g. 127.0.0.1:8780, got {text!r}")
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise WebConfigError(
                key, f"{host!r} is not an IP address (use e.g. 127.0.0.1, 0.0.0.0, 192.168.1.20 or [::1])"
            ) from None
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise WebConfigError(key, f"port {port_text!r} is not a number from 0 to 65535")
    return host, int(port_text)


def check_exposure(web: WebConfig, key: str) -> None:
    """Serving beyond this machine needs a password or token: refuse plainly otherwise."""
    if web.enabled and not web.loopback and not web.password_hash:
        raise WebConfigError(
            key,
            f"{web.listen} is reachable from other machines, which needs a password or token: run "
            "`pv web password` and put the password_hash line it prints into the [web] table "
            "(or listen on 127.0.0.1)",
        )


def validate_web(table: Mapping[str, Any]) -> WebConfig:
    for k in table:
        if k not in WEB_KEYS:
            close = difflib.get_close_matches(k, WEB_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (expected one of {', '.join(WEB_KEYS)})"
            raise WebConfigError(f"web.{k}", f"unknown key{hint}")
    enabled = table.get("enabled", True)
    if not isinstance(enabled, bool):
        raise WebConfigError("web.enabled", "expected true or false")
    metrics = table.get("metrics", True)
    if not isinstance(metrics, bool):
        raise WebConfigError("web.metrics", "expected true or false")
    title = table.get("title", "")
    if not isinstance(title, str) or len(title) > 80:
        raise WebConfigError("web.title", "expected a string of at most 80 characters")
    host, port = parse_listen(table.get("listen", DEFAULT_LISTEN), "web.listen")
    stored = table.get("password_hash")
    if stored is not None:
        if not isinstance(stored, str):
            raise WebConfigError("web.password_hash", "expected the text printed by `pv web password`")
        try:
            parse_hash(stored)
        except HashFormatError as exc:
            raise WebConfigError("web.password_hash", str(exc)) from None
    web = WebConfig(enabled=enabled, host=host, port=port, password_hash=stored, metrics=metrics, title=title)
    check_exposure(web, "web.listen")
    return web


def override(web: WebConfig, *, listen: str | None, off: bool, key: str) -> WebConfig:
    """``--web ADDR:PORT`` / ``PV_WEB=ADDR:PORT|off`` / ``--no-web`` over the table."""
    from dataclasses import replace

    if off:
        return replace(web, enabled=False)
    if listen is None:
        return web
    if listen.strip().lower() in ("off", "no", "false", "0"):
        return replace(web, enabled=False)
    host, port = parse_listen(listen, key)
    new = replace(web, enabled=True, host=host, port=port)
    check_exposure(new, key)
    return new
