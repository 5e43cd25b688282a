"""Helpers run through ``pv``: the simulator and the local PVOutput service."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

from .common import (
    EXIT_RUNTIME,
    missing,
)


def pvoutput_service(args: argparse.Namespace) -> int:
    return run_pvoutput_service(list(args.rest))


def run_pvoutput_service(argv: list[str]) -> int:
    """Hand the whole command line to the service's own parser (its options, its --help)."""
    try:
        mod = importlib.import_module("pvapp.pvoutput_service")
        entry = getattr(mod, "main", None) or importlib.import_module("pvapp.pvoutput_service.cli").main
    except ImportError as exc:
        print(f"pv pvoutput-service: not available in this installation: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    return int(entry(argv) or 0)


def register(sub: Any) -> None:
    """Add this module's subcommands to the ``pv`` parser."""
    p = sub.add_parser("simulate", help="run simulated inverters on a pseudo-terminal or TCP")
    try:
        from pvapp.sim import cli as sim_cli

        sim_cli.add_arguments(p)
        p.set_defaults(func=lambda a: sim_cli.run(a))
    except ImportError as exc:
        p.set_defaults(func=lambda a, exc=exc: missing("simulate", exc))

    p = sub.add_parser(
        "pvoutput-service", help="run the local PVOutput-compatible service (for tests and trials)", add_help=False
    )
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=pvoutput_service)
