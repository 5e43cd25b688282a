"""Where the configuration file is looked for, and where data goes without one."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .model import ConfigError


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
