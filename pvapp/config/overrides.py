"""Environment (``PV_*``) and command-line flags over the file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pvapp.web.config import WebConfigError
from pvapp.web.config import override as web_override
from pvgen.runtime.text import register_secret

from .listen import check_connect_in, parse_advertise, parse_listen
from .locate import default_data_dir
from .model import LISTEN_SCHEME, Config, ConfigError, InverterConfig, PortConfig, StorageConfig
from .specs import known_specs
from .values import _number, _spec, _timezone


def apply_overrides(cfg: Config, env: Mapping[str, str], flags: Mapping[str, Any]) -> Config:
    """Environment (``PV_*``) over the file, then flags over both; secrets from the environment."""
    changes: dict[str, Any] = {}

    def pick(flag: str, var: str) -> tuple[str, Any] | None:
        if flags.get(flag) is not None:
            return f"--{flag.replace('_', '-')}", flags[flag]
        if env.get(var):
            return var, env[var]
        return None

    if got := pick("poll_interval", "PV_POLL_INTERVAL"):
        changes["poll_interval"] = _number(got[1], got[0], lo=0.5, hi=3600)
    if got := pick("asleep_after", "PV_ASLEEP_AFTER"):
        changes["asleep_after"] = _number(got[1], got[0], lo=1, hi=86400)
    if got := pick("timezone", "PV_TIMEZONE"):
        tz, name = _timezone(got[1], got[0], env)
        changes["timezone"], changes["timezone_name"] = tz, name
    if got := pick("storage", "PV_STORAGE"):
        if not isinstance(got[1], str) or not got[1]:
            raise ConfigError(got[0], "expected a file path")
        changes["storage"] = replace(cfg.storage, path=Path(got[1]).expanduser())
    if got := pick("clock", "PV_CLOCK"):
        changes["clock"] = str(got[1])
    got = pick("port", "PV_PORT")
    if flags.get("listen") is not None:
        if got is not None and got[0] == "--port":
            raise ConfigError("--listen", "give either --port (dial out) or --listen (inverters connect in)")
        got = ("--listen", LISTEN_SCHEME + str(flags["listen"]))
    if got is not None:
        # one port given on the command line replaces the configured ones (handy with Docker)
        listening = str(got[1]).startswith(LISTEN_SCHEME)
        fallback = "samil_tcp" if listening else (cfg.ports[0].spec if cfg.ports else "cms")
        spec = flags.get("spec") or env.get("PV_SPEC") or fallback
        spec = _spec(spec, "--spec" if flags.get("spec") else "PV_SPEC", known_specs(), default="cms") or "cms"
        advertise: tuple[tuple[str, int], ...] = ()
        if listening:
            parse_listen(str(got[1]), got[0])
            adv = flags.get("advertise") if flags.get("advertise") is not None else env.get("PV_ADVERTISE") or True
            advertise = parse_advertise(adv, "--advertise" if flags.get("advertise") is not None else "PV_ADVERTISE")
        elif flags.get("advertise") is not None:
            raise ConfigError("--advertise", "only with --listen (or a listen:// port), not with a dialled port")
        check_connect_in(str(got[1]), spec, got[0])
        port = PortConfig(
            port=str(got[1]),
            spec=spec,
            inverters=(InverterConfig(spec=spec, serial=None, pvoutput_system=None),),
            advertise=advertise,
        )
        changes["ports"] = (port,)
        changes["demo"] = False
        if cfg.demo:
            changes["clock"] = changes.get("clock", "real")
            changes["source"] = f"{got[0]} (no configuration file)"
            if "storage" not in changes:  # a real port keeps real history, not the throw-away demo file
                changes["storage"] = StorageConfig(path=default_data_dir(env) / "pv.sqlite")
    elif flags.get("advertise") is not None:
        # --advertise alone: for the configured listen:// ports
        if not any(p.listen for p in cfg.ports):
            raise ConfigError("--advertise", "only with --listen (or a listen:// port in the configuration)")
        targets = parse_advertise(flags["advertise"], "--advertise")
        changes["ports"] = tuple(replace(p, advertise=targets) if p.listen else p for p in cfg.ports)
    web_flag = flags.get("web")
    web_key = "--web" if web_flag is not None else "PV_WEB"
    web_listen = web_flag if web_flag is not None else (env.get("PV_WEB") or None)
    if web_listen is not None or flags.get("no_web"):
        try:
            changes["web"] = web_override(cfg.web, listen=web_listen, off=bool(flags.get("no_web")), key=web_key)
        except WebConfigError as exc:
            raise ConfigError(exc.key, exc.problem) from None
    pvo = cfg.pvoutput
    if pvo is not None:
        raw_key = env.get("PV_PVOUTPUT_API_KEY") or ""
        register_secret(raw_key)  # masked in every log line and error from here on
        key = raw_key.strip() or None  # a trailing CR/LF from an env file edited on Windows is not part of it
        host = env.get("PV_PVOUTPUT_HOST") or pvo.host
        if not host.startswith(("http://", "https://")):
            raise ConfigError("PV_PVOUTPUT_HOST", f"expected an http(s) URL, got {host!r}")
        from pvgen.runtime.pvoutput.client import warn_plain_http

        scheme, _, bare = host.rstrip("/").partition("://")
        warn_plain_http(bare, scheme == "https")
        changes["pvoutput"] = replace(pvo, api_key=key, host=host.rstrip("/"))
    return replace(cfg, **changes) if changes else cfg
