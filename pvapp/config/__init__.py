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

Split along its seams: ``model`` (the dataclasses and constants), ``specs``
(which specs may be named), ``locate`` (where the file is), ``load`` (reading
it; the demo), ``table`` (a TOML table into a ``Config``), ``overrides``
(environment and flags), ``listen`` (Samil TCP ports), ``values`` (single-value
checks) and ``example`` (``pv config init``'s file).  Everything is importable
from ``pvapp.config`` as before.
"""

from __future__ import annotations

from .example import EXAMPLE
from .listen import check_connect_in, parse_advertise, parse_listen
from .load import demo_config, load
from .locate import candidate_paths, default_data_dir, find_config
from .model import (
    DEFAULT_ADVERTISE,
    DEFAULT_LISTEN_PORT,
    DEMO_PORT,
    DEMO_SPEED,
    DEMO_START_HOUR,
    LISTEN_SCHEME,
    Config,
    ConfigError,
    InverterConfig,
    PortConfig,
    PVOutputConfig,
    StorageConfig,
)
from .overrides import apply_overrides
from .specs import activate_user_specs, known_specs, specs_dir_of, use_user_specs
from .table import from_table, validate_mqtt

__all__ = [
    "DEFAULT_ADVERTISE",
    "DEFAULT_LISTEN_PORT",
    "DEMO_PORT",
    "DEMO_SPEED",
    "DEMO_START_HOUR",
    "EXAMPLE",
    "LISTEN_SCHEME",
    "Config",
    "ConfigError",
    "InverterConfig",
    "PVOutputConfig",
    "PortConfig",
    "StorageConfig",
    "activate_user_specs",
    "apply_overrides",
    "candidate_paths",
    "check_connect_in",
    "default_data_dir",
    "demo_config",
    "find_config",
    "from_table",
    "known_specs",
    "load",
    "parse_advertise",
    "parse_listen",
    "specs_dir_of",
    "use_user_specs",
    "validate_mqtt",
]
