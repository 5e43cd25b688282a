"""Simulated Phoenixtec / Samil inverters, driven by the generated spec modules.

In process: ``serial.serial_for_url("sim://cms?inverters=2&speed=600")`` (after
``register_url_handler()`` or ``import pv``), or ``Simulator("cms")`` directly.
Out of process: ``pv simulate --pty`` / ``--tcp PORT`` / ``--connect HOST:PORT``.
See docs/simulator.md.
"""

from __future__ import annotations

from .clock import Clock, ManualClock, ScaledClock
from .device import SimInverter
from .faults import FAULT_KINDS, LINE_FAULTS, FaultPlan, FaultSpec, parse_fault
from .line import Line
from .options import OPTIONS, OptionError, SimOptions
from .protocol_sim import forget_simulator, get_simulator, parse_sim_url
from .record import Record, StatusRecord, load_jsonl
from .servers import PtyServer, TcpConnector, TcpServer
from .simulator import Simulator, command_kind, load_spec_module
from .weather import Sky

URL_HANDLER_PACKAGE = "pvapp.sim"


def register_url_handler() -> None:
    """Make ``sim://`` URLs known to pyserial (idempotent; ``import pv`` does the same)."""
    import serial

    if URL_HANDLER_PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(URL_HANDLER_PACKAGE)


__all__ = [
    "FAULT_KINDS",
    "LINE_FAULTS",
    "OPTIONS",
    "Clock",
    "FaultPlan",
    "FaultSpec",
    "Line",
    "ManualClock",
    "OptionError",
    "PtyServer",
    "Record",
    "ScaledClock",
    "SimInverter",
    "SimOptions",
    "Simulator",
    "Sky",
    "StatusRecord",
    "TcpConnector",
    "TcpServer",
    "command_kind",
    "forget_simulator",
    "get_simulator",
    "load_jsonl",
    "load_spec_module",
    "parse_fault",
    "parse_sim_url",
    "register_url_handler",
]
