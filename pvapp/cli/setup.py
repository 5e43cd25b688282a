"""Setting up a site: ``pv config init|check`` and ``pv service install``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from .common import (
    EXIT_OK,
    Parser,
    UsageError,
    add_json,
    emit,
    load_config,
    need_sub,
)

SECRETS = (
    ("PV_PVOUTPUT_API_KEY", "PVOutput API key (Settings > API Key on pvoutput.org)"),
    ("PV_MQTT_PASSWORD", "MQTT broker password (with mqtt.username in pv.toml)"),
)


def _env_value(value: str) -> str:
    """A value for a systemd EnvironmentFile line, taken literally."""
    if "'" not in value:
        return f"'{value}'"
    return '"' + "".join("\\" + c if c in '\\"$`' else c for c in value) + '"'


def env_file_text(env: dict[str, str], ask: Any = None) -> str:
    lines = [
        "# Secrets for `pv monitor` under systemd (EnvironmentFile= in pv-monitor.service).",
        "# systemd reads this file as root before starting the service: keep it root:root, mode 600.",
    ]
    for name, what in SECRETS:
        value = (env.get(name) or (ask(f"{what} (empty: none): ") if ask else "") or "").strip()
        if any(not ch.isprintable() for ch in value):
            raise UsageError(f"{name}: the value holds control characters")
        lines.append(f"# {what}")
        lines.append(f"{name}={_env_value(value)}" if value else f"# {name}=")
    return "\n".join(lines) + "\n"


def write_private(path: Path, text: str, *, force: bool) -> None:
    """Write ``text`` to ``path`` readable by its owner only, from the first byte on.

    The file is created with mode 600 (never chmod-ed after the secret is in
    it) and moved into place, so no other account can open it in between.
    """
    if path.exists() and not force:
        raise UsageError(f"PATH: {path} exists (use --force to overwrite)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)  # whatever the umask was
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def cmd_config_init(args: argparse.Namespace) -> int:
    from pvapp.config import EXAMPLE

    if args.env_file:
        import getpass

        ask = getpass.getpass if sys.stdin.isatty() else None
        write_private(Path(args.env_file), env_file_text(dict(os.environ), ask), force=args.force)
        print(f"wrote {args.env_file} (mode 600): EnvironmentFile of the pv-monitor service")
        return EXIT_OK
    if args.path == "-":
        sys.stdout.write(EXAMPLE)
        return EXIT_OK
    path = Path(args.path)
    if path.exists() and not args.force:
        raise UsageError(f"PATH: {path} exists (use --force to overwrite)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(EXAMPLE, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"PATH: cannot write {path}: {exc.strerror or exc}") from None
    print(f"wrote {path}: edit the [[ports]] table, then run `pv config check --config {path}`")
    return EXIT_OK


def cmd_config_check(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    data = {
        "source": cfg.source,
        "ports": [
            {"port": p.port, "spec": p.spec, "inverters": [i.serial or "auto" for i in p.inverters]} for p in cfg.ports
        ],
        "storage": str(cfg.storage.path),
        "timezone": cfg.timezone_name,
        "poll_interval": cfg.poll_interval,
        "pvoutput_systems": {str(k): list(v) for k, v in cfg.pvoutput_systems.items()},
        "pvoutput_key_set": bool(cfg.pvoutput and cfg.pvoutput.api_key),
        "mqtt": cfg.mqtt is not None,
        "mqtt_broker": _mqtt_summary(cfg.mqtt_config),
        "warnings": _mqtt_warnings(cfg.mqtt_config),
    }

    def text() -> str:
        lines = [f"configuration OK ({cfg.source})"]
        for p in data["ports"]:
            lines.append(f"  port {p['port']} ({p['spec']}): inverters {', '.join(p['inverters'])}")
        lines.append(f"  storage {data['storage']}, time zone {data['timezone']}, poll every {cfg.poll_interval:g} s")
        if cfg.pvoutput:
            key = "set" if data["pvoutput_key_set"] else "NOT SET (PV_PVOUTPUT_API_KEY)"
            lines.append(f"  PVOutput systems {', '.join(data['pvoutput_systems']) or 'none'}; API key {key}")
        mqtt = data["mqtt_broker"]
        if mqtt is None:
            lines.append("  MQTT / Home Assistant: off (add an [mqtt] table, see docs/mqtt.md)")
        else:
            login = "anonymous" if mqtt["username"] is None else f"user {mqtt['username']}"
            if mqtt["username"] is not None:
                login += ", password " + ("set" if mqtt["password_set"] else "NOT SET (PV_MQTT_PASSWORD)")
            lines.append(
                f"  MQTT broker {mqtt['host']}:{mqtt['port']} ({'TLS' if mqtt['tls'] else 'no TLS'}, {login});"
                f" topics {mqtt['base_topic']}/..."
                + (f", Home Assistant discovery under {mqtt['discovery_prefix']}/" if mqtt["discovery"] else "")
            )
        lines += [f"  warning: {w}" for w in data["warnings"]]
        return "\n".join(lines)

    emit(data, args.json, text)
    return EXIT_OK


def _mqtt_summary(mqtt: Any) -> dict[str, Any] | None:
    """What `pv config check` says about [mqtt] (never the password itself)."""
    if mqtt is None:
        return None
    return {
        "host": mqtt.host,
        "port": mqtt.port,
        "tls": mqtt.tls is not None,
        "username": mqtt.username,
        "password_set": mqtt.password is not None,
        "base_topic": mqtt.base_topic,
        "discovery": mqtt.discovery,
        "discovery_prefix": mqtt.discovery_prefix,
    }


def _mqtt_warnings(mqtt: Any) -> list[str]:
    if mqtt is None:
        return []
    from pvapp.outputs.mqtt import config_warnings

    return config_warnings(mqtt)


def cmd_service_install(args: argparse.Namespace) -> int:
    from pvapp.service.install import install

    return install(
        user=args.user, unit_dir=args.unit_dir, config=args.config_path, dry_run=args.dry_run, pv_path=args.pv_path
    )


def register(sub: Any) -> None:
    """Add this module's subcommands to the ``pv`` parser."""
    p = sub.add_parser("config", help="write or check the configuration file")
    csub = p.add_subparsers(dest="config_command", metavar="ACTION", parser_class=Parser)
    c = csub.add_parser("init", help="write a commented example configuration")
    c.add_argument("path", nargs="?", default="pv.toml", metavar="PATH", help="where to write it (- for stdout)")
    c.add_argument("--force", action="store_true", help="overwrite an existing file")
    c.add_argument(
        "--env-file",
        metavar="PATH",
        help="instead, write the secrets file for the service (PV_PVOUTPUT_API_KEY, PV_MQTT_PASSWORD from the "
        "environment, or asked for on a terminal), mode 600",
    )
    c.set_defaults(func=cmd_config_init)
    c = csub.add_parser("check", help="load and validate the configuration, print a summary")
    add_json(c)
    c.set_defaults(func=cmd_config_check)
    p.set_defaults(func=lambda a, p=p: need_sub(p))

    p = sub.add_parser("service", help="install a systemd unit for `pv monitor` (Raspberry Pi)")
    ssub = p.add_subparsers(dest="service_command", metavar="ACTION", parser_class=Parser)
    s = ssub.add_parser(
        "install",
        help="write a sandboxed unit file (runs as the unprivileged account 'pv', never root)",
        description="Write /etc/systemd/system/pv-monitor.service.  The service runs as a dedicated unprivileged "
        "account, 'pv' by default (create it once with: sudo useradd --system --user-group --home-dir /var/lib/pv "
        "--no-create-home --shell /usr/sbin/nologin --groups dialout pv), never as root, sandboxed "
        "(see docs/security.md).",
    )
    s.add_argument(
        "--user", metavar="USER", help="account to run as (default: pv, a dedicated system account; never root)"
    )
    s.add_argument("--unit-dir", metavar="DIR", default="/etc/systemd/system", help="where to write the unit")
    s.add_argument("--config-path", metavar="PATH", help="configuration file the service reads")
    s.add_argument("--pv-path", metavar="PATH", help="the pv executable (default: this one)")
    s.add_argument("--dry-run", action="store_true", help="print the unit instead of writing it")
    s.set_defaults(func=cmd_service_install)
    p.set_defaults(func=lambda a, p=p: need_sub(p))
