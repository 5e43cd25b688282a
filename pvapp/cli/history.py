"""``pv history``: ask a Samil TCP inverter for its own hourly log, on demand.

The monitor does this by itself after a daylight gap; this command is for a
look at a given period (or to fill a gap older than the monitor's run): it
reads the days ``--from``..``--to`` from the inverter, prints them, and keeps
them in the database's history records (never touching live readings).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from typing import Any

from pvgen.runtime.text import safe

from .common import (
    EXIT_OK,
    EXIT_RUNTIME,
    LISTEN,
    RuntimeFailure,
    UsageError,
    add_json,
    check_spec,
    connect,
    connect_args,
    emit,
    load_config,
    parse_day,
    port_args,
    table,
)


def _port(args: argparse.Namespace) -> str:
    if args.port:
        return str(args.port)
    cfg = load_config(args)
    for p in cfg.ports:
        if p.listen:
            return p.port
    raise UsageError('PORT: give one (e.g. listen://0.0.0.0:1200), or configure a port = "listen://..." entry')


def cmd_history(args: argparse.Namespace) -> int:
    from pvapp.monitor.history import as_records, fetch_history
    from pvgen.runtime.errors import NoReply

    first = parse_day(args.from_, "--from")
    last = parse_day(args.to, "--to") if args.to else date.today()
    if last < first:
        if not args.to:  # --to was not given: the mistake is --from's
            raise UsageError(f"--from: {first} is after today ({last}), the default --to")
        raise UsageError(f"--to: {last} is before --from {first}")
    if last.year - first.year > 10:
        raise UsageError("--from: at most ten years at a time")
    port = _port(args)
    spec = check_spec(args.spec) or ("samil_tcp" if port.startswith(LISTEN) else None)
    sess = connect(port, spec, timeout=args.timeout, **connect_args(args))
    try:
        if not sess.module.SPEC.has_command("history"):
            raise RuntimeFailure(f"{port}: the {sess.spec_id} protocol has no history request (Samil TCP units have)")
        try:
            got = fetch_history(sess.client, first, last)
        except NoReply as exc:
            raise RuntimeFailure(f"{port}: {exc}") from None
    finally:
        sess.close()
    for problem in got.problems:  # device text: the serial and the lines it sent, shown as data
        print(safe(f"pv history: {sess.serial}: {problem}"), file=sys.stderr)
    stored = None
    if not args.no_store:
        stored = _store(args, sess.serial, as_records(sess.serial, got.records, datetime.now(UTC)))
    rows = [{"day": r.day.isoformat(), "time": r.label, "energy_kwh": r.energy_kwh} for r in got.records]
    data = {"port": port, "serial": sess.serial, "complete": got.complete, "stored": stored, "hours": rows}

    def text() -> str:
        if not rows:
            return f"{safe(sess.serial)}: no history for {first} to {last}"
        days: dict[str, float] = {}
        for r in got.records:
            days[r.day.isoformat()] = days.get(r.day.isoformat(), 0.0) + r.energy_kwh
        out = [["DAY", "HOUR ENDING", "kWh"]]
        out += [[r.day.isoformat(), r.label, f"{r.energy_kwh:.2f}"] for r in got.records]
        totals = "\n".join(f"{d}: {kwh:.2f} kWh" for d, kwh in days.items())
        note = "" if got.complete else "\n(the reply was cut short: some hours are missing)"
        kept = "" if stored is None else f"\n{stored} hour(s) new or changed in the database"
        return f"{safe(sess.serial)} on {safe(port)}\n{table(out)}\n{totals}{note}{kept}"

    emit(data, args.json, text)
    return EXIT_OK if got.complete else EXIT_RUNTIME


def _store(args: argparse.Namespace, serial: str, records: list[Any]) -> int | None:
    from pvapp.storage import Storage, StorageError

    cfg = load_config(args, storage=args.storage)
    if cfg.demo and not args.storage:
        print("pv history: no configuration file: not stored (give --storage PATH to keep it)", file=sys.stderr)
        return None
    try:
        db = Storage(cfg.storage.path, synchronous=cfg.storage.synchronous)
    except StorageError as exc:
        raise RuntimeFailure(str(exc)) from None
    try:
        return db.store_history(serial, records)
    finally:
        db.close()


def register(sub: Any) -> None:
    """Add this module's subcommands to the ``pv`` parser."""
    p = sub.add_parser(
        "history",
        help="a Samil TCP inverter's own hourly energy log for a date range",
        description="Ask a Samil TCP inverter (SolarRiver TL-D, SolarLake TL) for the hourly energy it logged, "
        "print it and keep it in the database as history records.  PORT defaults to the configuration's "
        "listen:// port; stop `pv monitor` first, as a unit connects to one host at a time.",
    )
    port_args(p, port_optional=True)
    p.add_argument("--from", dest="from_", required=True, metavar="YYYY-MM-DD", help="first day")
    p.add_argument("--to", metavar="YYYY-MM-DD", help="last day, inclusive (default: today)")
    p.add_argument("--storage", metavar="PATH", help="SQLite database file")
    p.add_argument("--no-store", action="store_true", help="only print, do not keep in the database")
    add_json(p)
    p.set_defaults(func=cmd_history)
