"""Which specs a configuration may name: the shipped ones and a user's own folder (``specs_dir``, ``PV_SPECS``)."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .locate import find_config
from .model import ConfigError

# Fallback when the generated package cannot be listed (it always can once installed).
_KNOWN_SPECS = ("cms", "eversolar", "klne", "orion", "samil", "samil_tcp", "siser", "sunezy")


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
