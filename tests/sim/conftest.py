"""Fixtures for the simulator tests: a contract-only spec module and deterministic clocks."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from types import ModuleType

import pytest
import serial

from pvapp.sim import ManualClock, SimOptions, Simulator, register_url_handler

from . import contract_module

SYDNEY = timezone(timedelta(hours=10))


@pytest.fixture(autouse=True, scope="session")
def _url_handler() -> None:
    # Until pv/__init__.py registers it on import, the tests do it themselves.
    register_url_handler()
    assert "pvapp.sim" in serial.protocol_handler_packages


@pytest.fixture
def toy() -> Iterator[ModuleType]:
    """The contract module, importable as ``pv.toy`` like a generated one."""
    import pv

    sys.modules["pv.toy"] = contract_module
    had = hasattr(pv, "toy")
    pv.toy = contract_module  # type: ignore[attr-defined]
    yield contract_module
    sys.modules.pop("pv.toy", None)
    if not had:
        delattr(pv, "toy")


def summer_morning(hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, 12, 21, hour, minute, tzinfo=SYDNEY)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(summer_morning())


def make_sim(module: ModuleType, clock: ManualClock, **kw: object) -> Simulator:
    return Simulator(module, SimOptions(spec=module.SPEC.id, **kw), clock=clock)  # type: ignore[arg-type]
