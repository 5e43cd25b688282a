"""Checks of single values (numbers, booleans, spec ids, time zones) shared by the table and the overrides."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from datetime import tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .model import ConfigError


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
