"""Fixtures: the simulator on a sim:// line (with a tap on the wire), and the local PVOutput service."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import serial

from pvapp.sim import Simulator, forget_simulator, get_simulator, register_url_handler

from .pv02 import VECTORS_PATH, Tap

_names = itertools.count()
NOON = "start=2026-12-21T12:00&tz=%2B10:00&clouds=0&awake=always"


@pytest.fixture(autouse=True, scope="session")
def _url_handler() -> None:
    register_url_handler()


@pytest.fixture
def sim_line() -> Iterator[Callable[..., tuple[Tap, Simulator]]]:
    """Open ``sim://SPEC`` lines at a cloudless summer noon; returns (tapped port, simulator)."""
    opened: list[tuple[Any, str]] = []

    def open_line(spec: str = "cms", **options: object) -> tuple[Tap, Simulator]:
        name = f"compat{next(_names)}"
        query = "&".join(f"{k}={v}" for k, v in options.items())
        port = serial.serial_for_url(f"sim://{spec}?name={name}&{NOON}{'&' + query if query else ''}", timeout=0.5)
        opened.append((port, name))
        return Tap(port), get_simulator(name)

    yield open_line
    for port, name in opened:
        port.close()
        forget_simulator(name)


@pytest.fixture
def need_vectors() -> None:
    if not VECTORS_PATH.exists():
        pytest.skip(f"reference vectors not present at {VECTORS_PATH}")
