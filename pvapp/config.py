"""Configuration: a TOML file, then environment variables, then command-line flags.

The file is found in the usual places (``--config``, ``$PV_CONFIG``,
``./pv.toml``, ``$XDG_CONFIG_HOME/pv/pv.toml``, ``/etc/pv/pv.toml``).  With no
file at all the monitor runs the built-in simulator, so that ``pv monitor`` on
a fresh machine shows something real at once.

Every problem is reported as one line naming the key (``ports[1].inverters[0].spec``)
or the environment variable, because the people reading it are editing a file
on a Raspberry Pi over SSH and need to know exactly where to look.  Secrets
(PVOutput API key, MQTT password) are taken from the environment so that the
file can be world-readable and kept in version control.
"""

from __future__ import annotations

import difflib
import importlib
import ipaddress
import logging
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pvapp.web.config import WebConfig, WebConfigError, validate_web
from pvapp.web.config import override as web_override
from pvgen.runtime.text import register_secret, serial_problem

log = logging.getLogger("pv.config")

# Keys whose value is a secret when found in a configuration file (the API key is refused outright).
_SECRET_KEYS = (("mqtt", "password"),)

# Fallback when the generated package cannot be listed (it always can once installed).
_KNOWN_SPECS = ("cms", "eversolar", "klne", "orion", "samil", "samil_tcp", "siser", "sunezy")

DEMO_PORT = "sim://cms"
LISTEN_SCHEME = "listen://"  # a port the inverters connect to (Samil TCP), instead of one we open
DEFAULT_LISTEN_PORT = 1200  # where Samil TCP units connect (REFERENCE 1.3)
DEFAULT_ADVERTISE = ("255.255.255.255", 1300)  # where they listen for "I AM SERVER"
DEMO_SPEED = 60.0
DEMO_START_HOUR = 7


class ConfigError(Exception):
    """A configuration problem; ``str()`` is the one line shown to the user."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"config error: {key}: {problem}")
        self.key = key
        self.problem = problem


def known_specs() -> tuple[str, ...]:
    """Spec ids of the inverter modules (``pv.<id>``): the shipped ones, then the user's own.

    ``pv.SPECS`` lists them without importing them; the user's own specs are there
    once ``PV_SPECS`` or the configuration's ``specs_dir`` was used
    (``activate_user_specs``).
    """
    try:
        import pv
    except ImportError:
        return _KNOWN_SPECS
    return tuple(pv.SPECS) or _KNOWN_SPECS


# -- the user's own specs ----------------------------------------------------


def specs_dir_of(data: Mapping[str, Any], source: Path | None) -> Path | None:
    """The ``specs_dir`` key: a folder of the user's own specs (relative to the file's folder)."""
    value = data.get("specs_dir")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("specs_dir", "expected the path of a folder of spec files")
    folder = Path(value).expanduser()
    if not folder.is_absolute() and source is not None:
        folder = source.parent / folder
    if not folder.is_dir():
        raise ConfigError("specs_dir", f"no such folder: {value}")
    return folder


def use_user_specs(folder: Path | None, env: Mapping[str, str]) -> tuple[str, ...]:
    """Make a folder of user specs available to ``pv`` (``PV_SPECS`` wins); returns its problems."""
    from pvgen.runtime import userspecs

    if env.get(userspecs.ENV_VAR, "").strip():
        import pv  # noqa: F401 - importing pv generates and adds the PV_SPECS folder

        state = userspecs.active()
        return state.problems if state is not None else ()
    if folder is None:
        return ()
    current = userspecs.active()
    if current is not None and current.folder == folder and not current.problems:
        return ()
    state = userspecs.activate(folder)
    return state.problems if state is not None else ()


def activate_user_specs(explicit: str | None = None, env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """Before any command: the user's specs from ``PV_SPECS`` or the configuration's ``specs_dir``.

    Only that key is read here; a file that cannot be read or parsed is left for
    the commands that load the configuration to report.  Returns the problems of
    the user's specs (one line each), empty when there are none or no user specs.
    """
    env = os.environ if env is None else env
    folder: Path | None = None
    path = find_config(explicit, env)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
            data = {}
        folder = specs_dir_of(data, path)
    return use_user_specs(folder, env)


@dataclass(frozen=True, slots=True)
class InverterConfig:
    spec: str
    serial: str | None  # None: take whichever inverter answers discover
    pvoutput_system: int | None
    name: str = ""
    rated_power: float | None = None  # W; None: the spec model's rating


@dataclass(frozen=True, slots=True)
class PortConfig:
    port: str  # device path, by-id path or pyserial URL
    spec: str
    inverters: tuple[InverterConfig, ...]
    timeout: float | None = None  # reply timeout, s; None: the spec's default
    key: str = "ports[0]"  # where it came from, for messages
    advertise: tuple[tuple[str, int], ...] = ()  # listen:// only: where the UDP advertisement goes

    @property
    def listen(self) -> bool:
        """True for a port the inverters connect to (``listen://HOST:PORT``)."""
        return self.port.startswith(LISTEN_SCHEME)


@dataclass(frozen=True, slots=True)
class PVOutputConfig:
    api_key: str | None = field(repr=False)  # a repr goes into logs and tracebacks
    host: str = "https://pvoutput.org"
    upload_interval: float = 300.0  # seconds between upload rounds
    status_interval: int | None = None  # minutes; None: read from getsystem
    donation: bool | None = None  # None: read from getsystem
    rate_reserve: int = 10  # requests per hour left for other apps sharing the key
    send_temperature: bool = True
    send_voltage: bool = True


@dataclass(frozen=True, slots=True)
class StorageConfig:
    path: Path
    synchronous: str = "FULL"
    retry_for: float = 900.0  # real seconds of failing writes before the monitor gives up


@dataclass(frozen=True, slots=True)
class Config:
    ports: tuple[PortConfig, ...]
    storage: StorageConfig
    timezone: tzinfo
    timezone_name: str
    poll_interval: float = 10.0
    asleep_after: float = 300.0
    pvoutput: PVOutputConfig | None = None
    mqtt: Mapping[str, Any] | None = None  # opaque; validated by pvapp.outputs.mqtt
    mqtt_config: Any = None  # what pvapp.outputs.mqtt.validate_config made of it
    clock: str = "real"
    source: str = ""  # the file it came from, or "built-in demo"
    demo: bool = False
    extra_outputs: tuple[str, ...] = field(default=())
    web: WebConfig = field(default_factory=WebConfig)  # the page and /metrics (pvapp.web)
    specs_dir: Path | None = None  # the user's own specs (PV_SPECS wins), see docs/user-specs.md

    @property
    def pvoutput_systems(self) -> dict[int, tuple[str, ...]]:
        """System id -> the keys (``ports[i].inverters[j]``) of the inverters it aggregates."""
        out: dict[int, list[str]] = {}
        for p in self.ports:
            for j, inv in enumerate(p.inverters):
                if inv.pvoutput_system is not None:
                    out.setdefault(inv.pvoutput_system, []).append(f"{p.key}.inverters[{j}]")
        return {k: tuple(v) for k, v in out.items()}


# -- locating the file -------------------------------------------------------


def candidate_paths(env: Mapping[str, str]) -> list[Path]:
    xdg = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".config")
    return [Path("pv.toml"), Path(xdg) / "pv" / "pv.toml", Path("/etc/pv/pv.toml")]


def find_config(explicit: str | None, env: Mapping[str, str]) -> Path | None:
    """The file to read, or None for the built-in demo.  An explicit path must exist."""
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError("--config", f"no such file: {explicit}")
        return path
    if env.get("PV_CONFIG"):
        path = Path(env["PV_CONFIG"]).expanduser()
        if not path.is_file():
            raise ConfigError("PV_CONFIG", f"no such file: {env['PV_CONFIG']}")
        return path
    for path in candidate_paths(env):
        if path.is_file():
            return path
    return None


def default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".local" / "share")
    return Path(base) / "pv"


# -- loading -----------------------------------------------------------------


def load(
    explicit: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Find, read, override and validate the configuration."""
    env = os.environ if env is None else env
    path = find_config(explicit, env)
    if path is None:
        cfg = demo_config(env)
    else:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), f"not valid TOML: {exc}") from None
        except UnicodeDecodeError as exc:
            byte = exc.object[exc.start]
            raise ConfigError(
                str(path), f"not UTF-8 text (byte 0x{byte:02x} at offset {exc.start}); save it as UTF-8"
            ) from None
        except OSError as exc:
            raise ConfigError(str(path), f"cannot read: {exc.strerror}") from None
        _warn_readable_secrets(path, data)
        cfg = from_table(data, env=env, source=str(path))
    return apply_overrides(cfg, env, overrides or {})


def _warn_readable_secrets(path: Path, data: Mapping[str, Any]) -> None:
    """A secret in a file that other accounts can read is a secret shared with them: say so."""
    found = [
        f"{table}.{key}" for table, key in _SECRET_KEYS if isinstance(data.get(table), dict) and key in data[table]
    ]
    if not found:
        return
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & 0o077:
        log.warning(
            "%s holds %s but other accounts can read it (mode %o): chmod 600 %s, or better move it to "
            "the environment (PV_MQTT_PASSWORD in an EnvironmentFile of mode 600, see docs/security.md)",
            path,
            ", ".join(found),
            mode & 0o777,
            path,
        )


def demo_config(env: Mapping[str, str]) -> Config:
    """No configuration at all: a simulated CMS 2000 at 60x speed, from a summer morning.

    Sped up so that a new user sees the day's curve move within minutes, and
    started at 07:00 simulated time so that it shows production even when tried
    at night.  The demo writes ``./pv-demo.sqlite`` (or, where the current
    directory is not writable, ``pv-demo.sqlite`` in the data directory),
    recreated on each demo run (the simulated day starts over, so old demo
    rows would contradict it).
    """
    tz, tz_name = _local_zone(env)
    demo_db = Path("pv-demo.sqlite")
    if not os.access(".", os.W_OK):  # e.g. started from / : fall back to the data directory
        demo_db = default_data_dir(env) / "pv-demo.sqlite"
    return Config(
        ports=(
            PortConfig(
                port=DEMO_PORT,
                spec="cms",
                inverters=(InverterConfig(spec="cms", serial=None, pvoutput_system=None),),
                key="demo",
            ),
        ),
        storage=StorageConfig(path=demo_db, synchronous="NORMAL"),
        timezone=tz,
        timezone_name=tz_name,
        poll_interval=10.0,
        asleep_after=300.0,
        clock="demo",
        source="built-in demo",
        demo=True,
    )


_TOP_KEYS = (
    "timezone",
    "poll_interval",
    "asleep_after",
    "clock",
    "storage",
    "pvoutput",
    "ports",
    "mqtt",
    "web",
    "specs_dir",
)
_STORAGE_KEYS = ("path", "synchronous", "retry_for")
_PVOUTPUT_KEYS = (
    "api_key",
    "host",
    "upload_interval",
    "status_interval",
    "donation",
    "rate_reserve",
    "system_id",
    "send_temperature",
    "send_voltage",
)
_PORT_KEYS = ("port", "spec", "timeout", "inverters", "advertise")
_INVERTER_KEYS = ("spec", "serial", "pvoutput_system", "name", "rated_power")


def from_table(data: Mapping[str, Any], *, env: Mapping[str, str], source: str = "") -> Config:
    _check_keys(data, _TOP_KEYS, "")
    specs_dir = specs_dir_of(data, Path(source) if source else None)
    problems = use_user_specs(specs_dir, env)
    if problems:
        raise ConfigError("specs_dir", f"the specs in {specs_dir or env.get('PV_SPECS')} have problems: {problems[0]}")
    tz, tz_name = _timezone(data.get("timezone"), "timezone", env)
    poll = _number(data.get("poll_interval", 10.0), "poll_interval", lo=0.5, hi=3600)
    asleep = _number(data.get("asleep_after", 300.0), "asleep_after", lo=1, hi=86400)
    clock = data.get("clock", "real")
    if not isinstance(clock, str):
        raise ConfigError("clock", "expected a string ('real' or START*SPEED)")

    storage_t = _table(data.get("storage", {}), "storage")
    _check_keys(storage_t, _STORAGE_KEYS, "storage")
    spath = storage_t.get("path", str(default_data_dir(env) / "pv.sqlite"))
    if not isinstance(spath, str) or not spath:
        raise ConfigError("storage.path", "expected a file path")
    sync = storage_t.get("synchronous", "FULL")
    if not isinstance(sync, str) or sync.upper() not in ("NORMAL", "FULL", "EXTRA"):
        raise ConfigError("storage.synchronous", f"expected NORMAL, FULL or EXTRA, got {sync!r}")
    retry_for = _number(storage_t.get("retry_for", 900.0), "storage.retry_for", lo=1, hi=86400)
    storage = StorageConfig(path=Path(spath).expanduser(), synchronous=sync.upper(), retry_for=retry_for)

    pvo_t = data.get("pvoutput")
    pvoutput: PVOutputConfig | None = None
    default_system: int | None = None
    if pvo_t is not None:
        pvo_t = _table(pvo_t, "pvoutput")
        _check_keys(pvo_t, _PVOUTPUT_KEYS, "pvoutput")
        if "api_key" in pvo_t:
            raise ConfigError(
                "pvoutput.api_key", "keep the API key out of the file: set the environment variable PV_PVOUTPUT_API_KEY"
            )
        if "system_id" in pvo_t:
            default_system = _int(pvo_t["system_id"], "pvoutput.system_id", lo=1)
        status_interval = pvo_t.get("status_interval")
        if status_interval is not None:
            status_interval = _int(status_interval, "pvoutput.status_interval", lo=1)
            if status_interval not in (5, 10, 15):
                raise ConfigError(
                    "pvoutput.status_interval", f"PVOutput allows 5, 10 or 15 minutes, got {status_interval}"
                )
        donation = pvo_t.get("donation")
        if donation is not None and not isinstance(donation, bool):
            raise ConfigError("pvoutput.donation", "expected true or false (leave it out to ask PVOutput)")
        host = pvo_t.get("host", "https://pvoutput.org")
        if not isinstance(host, str) or not host.startswith(("http://", "https://")):
            raise ConfigError("pvoutput.host", f"expected an http(s) URL, got {host!r}")
        pvoutput = PVOutputConfig(
            api_key=None,
            host=host.rstrip("/"),
            upload_interval=_number(pvo_t.get("upload_interval", 300.0), "pvoutput.upload_interval", lo=1, hi=86400),
            status_interval=status_interval,
            donation=donation,
            rate_reserve=_int(pvo_t.get("rate_reserve", 10), "pvoutput.rate_reserve", lo=0, hi=290),
            send_temperature=_bool(pvo_t.get("send_temperature", True), "pvoutput.send_temperature"),
            send_voltage=_bool(pvo_t.get("send_voltage", True), "pvoutput.send_voltage"),
        )

    ports_v = data.get("ports")
    if ports_v is None:
        raise ConfigError("ports", "missing: add at least one [[ports]] table (see `pv config init`)")
    if not isinstance(ports_v, list) or not ports_v:
        raise ConfigError("ports", "expected a list of [[ports]] tables with at least one entry")
    specs = known_specs()
    ports: list[PortConfig] = []
    seen_ports: dict[str, str] = {}
    seen_serials: dict[str, str] = {}
    for i, pt in enumerate(ports_v):
        key = f"ports[{i}]"
        pt = _table(pt, key)
        _check_keys(pt, _PORT_KEYS, key)
        port = pt.get("port")
        if not isinstance(port, str) or not port.strip():
            raise ConfigError(f"{key}.port", "missing: a device path, /dev/serial/by-id/... or a URL like sim://cms")
        if port in seen_ports:
            raise ConfigError(f"{key}.port", f"{port!r} is already used by {seen_ports[port]}")
        seen_ports[port] = key
        pspec = _spec(pt.get("spec"), f"{key}.spec", specs, default=None)
        if pspec is None and port.startswith("sim://"):
            pspec = _spec(port[6:].split("?", 1)[0].strip("/") or "cms", f"{key}.port", specs, default=None)
        listening = port.strip().startswith(LISTEN_SCHEME)
        advertise: tuple[tuple[str, int], ...] = ()
        if listening:
            parse_listen(port.strip(), f"{key}.port")
            pspec = pspec or "samil_tcp"
            advertise = parse_advertise(pt.get("advertise", True), f"{key}.advertise")
        elif "advertise" in pt:
            raise ConfigError(
                f"{key}.advertise", 'only a port the inverters connect to has one (port = "listen://...")'
            )
        timeout = pt.get("timeout")
        if timeout is not None:
            timeout = _number(timeout, f"{key}.timeout", lo=0.01, hi=60)
        invs_v = pt.get("inverters", [{}])
        if not isinstance(invs_v, list) or not invs_v:
            raise ConfigError(f"{key}.inverters", "expected a list of [[ports.inverters]] tables")
        invs: list[InverterConfig] = []
        for j, it in enumerate(invs_v):
            ikey = f"{key}.inverters[{j}]"
            it = _table(it, ikey)
            _check_keys(it, _INVERTER_KEYS, ikey)
            ispec = _spec(it.get("spec"), f"{ikey}.spec", specs, default=pspec)
            if ispec is None:
                raise ConfigError(f"{ikey}.spec", f"missing (or set {key}.spec); one of {', '.join(specs)}")
            serial = it.get("serial", "auto")
            if not isinstance(serial, str) or not serial.strip():
                raise ConfigError(f"{ikey}.serial", 'expected the serial number as a string, or "auto"')
            serial_v = None if serial.strip().lower() == "auto" else serial.strip()
            if serial_v is not None and (problem := serial_problem(serial_v)):
                raise ConfigError(f"{ikey}.serial", f"{serial_v!r} is not a serial number: {problem}")
            if serial_v is not None:
                if serial_v in seen_serials:
                    raise ConfigError(
                        f"{ikey}.serial", f"{serial_v!r} is already configured at {seen_serials[serial_v]}"
                    )
                _refuse_clash(serial_v, ikey, seen_serials)
                seen_serials[serial_v] = ikey
            system = it.get("pvoutput_system", default_system)
            if system is not None:
                system = _int(system, f"{ikey}.pvoutput_system", lo=1)
                if pvoutput is None:
                    raise ConfigError(f"{ikey}.pvoutput_system", "needs a [pvoutput] table")
            name = it.get("name", "")
            if not isinstance(name, str):
                raise ConfigError(f"{ikey}.name", "expected a string")
            rated = it.get("rated_power")
            if rated is not None:
                rated = _number(rated, f"{ikey}.rated_power", lo=1, hi=1_000_000)
            invs.append(
                InverterConfig(spec=ispec, serial=serial_v, pvoutput_system=system, name=name, rated_power=rated)
            )
        if len({inv.spec for inv in invs}) > 1:
            raise ConfigError(f"{key}.inverters", "all inverters on one line must speak the same spec")
        check_connect_in(port.strip(), invs[0].spec, key)
        if listening and sum(1 for inv in invs if inv.serial is None) > 1:
            raise ConfigError(
                f"{key}.inverters",
                'one serial = "auto" entry takes every inverter that is not listed by serial; give only one',
            )
        ports.append(
            PortConfig(
                port=port.strip(),
                spec=invs[0].spec,
                inverters=tuple(invs),
                timeout=timeout,
                key=key,
                advertise=advertise,
            )
        )

    if pvoutput is not None and not any(inv.pvoutput_system for p in ports for inv in p.inverters):
        # otherwise the monitor would queue statuses for no system and never upload, silently
        raise ConfigError(
            "pvoutput.system_id",
            "missing: no inverter has pvoutput_system and [pvoutput] has no system_id, so nothing would be "
            "uploaded (add system_id = <your PVOutput system id>, or remove the [pvoutput] table)",
        )
    mqtt = data.get("mqtt")
    mqtt_config = None
    if mqtt is not None:
        mqtt = dict(_table(mqtt, "mqtt"))
        mqtt_config = validate_mqtt(mqtt, env)
    try:
        web = validate_web(_table(data.get("web", {}), "web"))
    except WebConfigError as exc:
        raise ConfigError(exc.key, exc.problem) from None
    return Config(
        ports=tuple(ports),
        storage=storage,
        timezone=tz,
        timezone_name=tz_name,
        poll_interval=poll,
        asleep_after=asleep,
        pvoutput=pvoutput,
        mqtt=mqtt,
        mqtt_config=mqtt_config,
        clock=clock,
        source=source,
        web=web,
        specs_dir=specs_dir,
    )


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


def _refuse_clash(serial: str, key: str, seen: Mapping[str, str]) -> None:
    """Two serials that would share MQTT topics or Home Assistant ids (``AB/CD+0003``, ``ab_cd#0003``)."""
    from pvapp.outputs import hass

    other = hass.serial_clash(serial, seen)
    if other is not None:
        raise ConfigError(
            f"{key}.serial",
            f"{serial!r} and {other!r} (at {seen[other]}) would share the MQTT topic level "
            f"{hass.topic_part(serial)!r} or the Home Assistant id {hass.node_id(serial)!r}; "
            "Home Assistant would merge them into one device",
        )


def validate_mqtt(table: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    """Let the MQTT output check its own table (it owns those keys, and reads PV_MQTT_PASSWORD)."""
    try:
        mqtt_output = importlib.import_module("pvapp.outputs.mqtt")
    except ImportError:
        return None
    validate = getattr(mqtt_output, "validate_config", None)
    if validate is None:
        return None
    try:
        result = validate(table, env)
        register_secret(getattr(result, "password", None))
        return result
    except ConfigError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        text = str(exc).removeprefix("config error: ")
        key, sep, problem = text.partition(": ")
        if sep and key.startswith("mqtt"):
            raise ConfigError(key, problem) from None
        raise ConfigError("mqtt", text) from None


# -- ports the inverters connect to (Samil TCP) -----------------------------------


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


# -- value checks --------------------------------------------------------------


def _check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    for k in table:
        if k not in allowed:
            full = f"{where}.{k}" if where else k
            close = difflib.get_close_matches(k, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (expected one of {', '.join(allowed)})"
            raise ConfigError(full, f"unknown key{hint}")


def _table(v: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(v, dict):
        raise ConfigError(key, f"expected a table, got {_kind(v)}")
    return v


def _kind(v: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list"}.get(
        type(v), type(v).__name__
    )


def _number(v: Any, key: str, *, lo: float, hi: float) -> float:
    if isinstance(v, bool):
        raise ConfigError(key, f"expected a number, got {_kind(v)}")
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            raise ConfigError(key, f"expected a number, got {v!r}") from None
    if not isinstance(v, int | float):
        raise ConfigError(key, f"expected a number, got {_kind(v)}")
    if not lo <= v <= hi:
        raise ConfigError(key, f"{v:g} is out of range ({lo:g} to {hi:g})")
    return float(v)


def _int(v: Any, key: str, *, lo: int, hi: int | None = None) -> int:
    if isinstance(v, str) and v.strip().isdigit():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(key, f"expected an integer, got {_kind(v) if not isinstance(v, str) else repr(v)}")
    if v < lo or (hi is not None and v > hi):
        raise ConfigError(key, f"{v} is out of range ({lo} to {hi if hi is not None else 'any'})")
    return v


def _bool(v: Any, key: str) -> bool:
    if not isinstance(v, bool):
        raise ConfigError(key, f"expected true or false, got {_kind(v)}")
    return v


def _spec(v: Any, key: str, specs: tuple[str, ...], default: str | None) -> str | None:
    if v is None:
        return default
    if not isinstance(v, str):
        raise ConfigError(key, f"expected a spec name, got {_kind(v)}")
    if v not in specs:
        raise ConfigError(key, f"unknown spec {v!r} (expected one of {', '.join(specs)})")
    return v


def _local_zone(env: Mapping[str, str]) -> tuple[tzinfo, str]:
    name = env.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name), name
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        link = os.readlink("/etc/localtime")
        name = link.split("zoneinfo/", 1)[1]
        return ZoneInfo(name), name
    except (OSError, IndexError, ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC"), "UTC"


def _timezone(v: Any, key: str, env: Mapping[str, str]) -> tuple[tzinfo, str]:
    if v is None:
        return _local_zone(env)
    if not isinstance(v, str):
        raise ConfigError(key, f"expected a zone name like 'Australia/Sydney', got {_kind(v)}")
    try:
        return ZoneInfo(v), v
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(key, f"unknown time zone {v!r} (use a name like 'Australia/Sydney' or 'UTC')") from None


# -- the example file ------------------------------------------------------------

EXAMPLE = """\
# pv.toml: configuration of `pv monitor`.  Found at --config PATH, $PV_CONFIG,
# ./pv.toml, $XDG_CONFIG_HOME/pv/pv.toml (~/.config/pv/pv.toml) or /etc/pv/pv.toml.
# Environment variables override the file (PV_POLL_INTERVAL, PV_TIMEZONE,
# PV_STORAGE, PV_PORT + PV_SPEC); flags override both.  Secrets come only from
# the environment: PV_PVOUTPUT_API_KEY, PV_MQTT_PASSWORD.

# Local time zone of the site: PVOutput wants local times.  Default: the system's.
# timezone = "Australia/Sydney"

# Seconds between two status polls of each inverter.
poll_interval = 10

# Seconds of silence after which an inverter counts as asleep (night) and is
# logged once as such; it is re-registered when it answers again.
asleep_after = 300

[storage]
# SQLite file with every reading, every event and the PVOutput upload queue.
# Default: ~/.local/share/pv/pv.sqlite
# path = "/var/lib/pv/pv.sqlite"
# FULL: every poll survives a power cut (default).  NORMAL: survives a crash of pv.
synchronous = "FULL"
# Seconds the monitor keeps retrying when the database cannot be written (disk
# full, read-only), holding readings in memory, before it exits with status 1.
retry_for = 900

# One [[ports]] table per serial line.  `port` is a device path (prefer the stable
# /dev/serial/by-id/... name, see `pv ports`), or a URL: socket://host:port for an
# RS-485/Ethernet bridge, rfc2217://host:port, sim://cms for the simulator.
[[ports]]
port = "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A1234567-if00-port0"
spec = "cms"            # cms, orion, sunezy, samil (samil_tcp: see listen:// below)
# timeout = 1.0         # reply timeout in seconds (default: the spec's)

  # One [[ports.inverters]] per inverter on that line.
  [[ports.inverters]]
  serial = "auto"       # or the serial number, e.g. "0905BO0139"
  name = "garage"
  pvoutput_system = 12345   # omit to not upload this inverter

# A second line, two inverters aggregated into one PVOutput system:
# [[ports]]
# port = "/dev/serial/by-id/usb-Prolific_Technology_Inc._USB-Serial_Controller-if00-port0"
# spec = "samil"
#   [[ports.inverters]]
#   serial = "S22A0001"
#   pvoutput_system = 67890
#   [[ports.inverters]]
#   serial = "S22A0002"
#   pvoutput_system = 67890

# Samil TCP units (SolarRiver TL-D, SolarLake TL with a network port) connect to
# us instead: listen, and advertise "I AM SERVER" on UDP 1300 (docs/monitor.md).
# [[ports]]
# port = "listen://0.0.0.0:1200"
# advertise = "255.255.255.255:1300"   # or a list, or false
#   [[ports.inverters]]
#   serial = "S221151415"              # others are refused; serial = "auto" takes any
#   pvoutput_system = 12345

[pvoutput]
# The API key comes from the environment variable PV_PVOUTPUT_API_KEY.
# Seconds between upload rounds.  Each round sends every closed status slot
# that PVOutput does not have yet, in batches, within the hourly rate limit.
upload_interval = 300
# Status interval of the systems in minutes (5, 10 or 15).  Default: ask PVOutput.
# status_interval = 5
# Requests per hour left unused for other apps sharing the key.
rate_reserve = 10
# system_id = 12345     # default system for inverters without pvoutput_system
send_temperature = true   # inverter temperature as v5
send_voltage = true       # grid voltage as v6

# [mqtt]
# Options of the MQTT / Home Assistant output: see docs/mqtt.md.
# The password comes from the environment variable PV_MQTT_PASSWORD.

[web]
# The read-only web page, JSON API and Prometheus /metrics (docs/web.md).
# Default: on, on this machine only.  --web ADDR:PORT, --no-web or PV_WEB override it.
listen = "127.0.0.1:8780"
# To serve the home network (listen = "0.0.0.0:8780"), a password or token is
# required: `pv web password` prints the password_hash line to paste here.
# password_hash = "scrypt$16384$8$1$..."
metrics = true
"""
