"""A TOML table into a ``Config``: every key checked, every problem one line naming the key."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pvapp.web.config import WebConfigError, validate_web
from pvgen.runtime.text import register_secret, serial_problem

from .listen import check_connect_in, parse_advertise, parse_listen
from .locate import default_data_dir
from .model import LISTEN_SCHEME, Config, ConfigError, InverterConfig, PortConfig, PVOutputConfig, StorageConfig
from .specs import known_specs, specs_dir_of, use_user_specs
from .values import _bool, _check_keys, _int, _number, _spec, _table, _timezone

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
