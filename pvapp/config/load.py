"""Reading the file: TOML, its permissions, and the demo configuration used when there is none."""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .locate import default_data_dir, find_config
from .model import DEMO_PORT, Config, ConfigError, InverterConfig, PortConfig, StorageConfig
from .overrides import apply_overrides
from .table import from_table
from .values import _local_zone

log = logging.getLogger("pv.config")

# Keys whose value is a secret when found in a configuration file (the API key is refused outright).
_SECRET_KEYS = (("mqtt", "password"),)


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
