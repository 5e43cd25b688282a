"""``pv export``: the readings history as CSV or JSON."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, TextIO

from pvgen.runtime.quantities import QUANTITIES

from .common import (
    EXIT_OK,
    RuntimeFailure,
    UsageError,
    load_config,
    parse_day,
)

HEAD = ("time_utc", "local_time", "serial")
TAIL = ("mode_label", "faults", "rejected")
"""Fixed columns around the values; the JSON form has the same names (plus ``frame``, the raw reply in hex)."""

# What makes Excel, LibreOffice or Google Sheets run a cell as a formula (OWASP "CSV injection"),
# also in their full-width forms; leading blanks and control characters do not hide it.
_FORMULA_START = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")
_CONTROL_START = frozenset("\t\r\n")
_BLANKS = " \t\r\n\x0b\x0c\u00a0\u3000"


def value_columns(field_ids: Iterable[str]) -> list[tuple[str, str]]:
    """(field id, column name) for every field of the range, in the documented order.

    Canonical quantities first, in ``QUANTITIES`` order (the display order),
    then the models' extras sorted by id; each once.  An extra named like a
    fixed column gets ``_value`` appended, so no name appears twice (``mode``
    is the mode's number, ``mode_label`` its label).
    """
    present = set(field_ids)
    canonical = [q.id for q in QUANTITIES if q.id in present]
    extras = sorted(present - set(canonical))
    taken = set(HEAD) | set(TAIL) | {"frame"}
    return [(fid, fid if fid not in taken else f"{fid}_value") for fid in [*canonical, *extras]]


def spreadsheet_safe(text: str) -> str:
    """Text a spreadsheet would run as a formula, prefixed with ``'`` so it is shown as text.

    A serial number or fault text comes from the inverter: ``=HYPERLINK(...)``
    in a CSV cell would run when the export is opened.  Numbers are written
    as numbers and never touched (``-3.5`` stays a number).
    """
    if text[:1] in _CONTROL_START or text.lstrip(_BLANKS)[:1] in _FORMULA_START:
        return "'" + text
    return text


def _cell(value: object) -> object:
    if value is None:
        return ""
    return spreadsheet_safe(value) if isinstance(value, str) else value


def cmd_export(args: argparse.Namespace) -> int:
    from pvapp.storage import Storage, StorageError

    cfg = load_config(args, storage=args.storage, timezone=args.timezone)
    tz = cfg.timezone
    first = parse_day(args.from_, "--from") if args.from_ else None
    last = parse_day(args.to, "--to") if args.to else None
    if first and last and last < first:
        raise UsageError(f"--to: {last} is before --from {first}")
    start = datetime(first.year, first.month, first.day, tzinfo=tz) if first else None
    end = datetime(last.year, last.month, last.day, tzinfo=tz) + timedelta(days=1) if last else None
    if not Path(cfg.storage.path).exists():
        raise RuntimeFailure(f"no database at {cfg.storage.path} (has `pv monitor` run yet?)")
    try:
        db = Storage(cfg.storage.path, readonly=True)  # no write access needed, to the file or its folder
    except StorageError as exc:
        if "older schema" not in str(exc):
            raise RuntimeFailure(str(exc)) from None
        try:  # written by an older pv: upgrade it first, as the monitor would (needs write access)
            db = Storage(cfg.storage.path, synchronous="NORMAL")
        except StorageError as exc2:
            raise RuntimeFailure(str(exc2)) from None
    if args.history:
        return _export_history(args, db, first.isoformat() if first else None, last.isoformat() if last else None)
    fields = value_columns(db.value_fields(serial=args.serial, start=start, end=end))
    rows = db.readings(serial=args.serial, start=start, end=end)
    try:
        out = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    except OSError as exc:
        db.close()
        raise UsageError(f"--output: cannot write {args.output}: {exc.strerror}") from None
    try:
        write_export(rows, out, args.format, tz, fields)
    finally:
        if out is not sys.stdout:
            out.close()
        db.close()
    return EXIT_OK


def _export_history(args: argparse.Namespace, db: Any, first: str | None, last: str | None) -> int:
    """The hourly records read from the inverters (``--history``): day, hour ending, kWh, when read."""
    records = db.history_records(serial=args.serial, first=first, last=last)
    try:
        out = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    except OSError as exc:
        db.close()
        raise UsageError(f"--output: cannot write {args.output}: {exc.strerror}") from None
    try:
        items = [
            {
                "serial": r.serial,
                "day": r.date,
                "hour_ending": f"{r.hour:02d}:{r.minute:02d}",
                "energy_kwh": r.energy_kwh,
                "read_utc": r.fetched.isoformat(),
            }
            for r in records
        ]
        if args.format == "json":
            out.write(json.dumps(items, indent=1) + "\n")
        else:
            writer = csv.writer(out)
            writer.writerow(["serial", "day", "hour_ending", "energy_kwh", "read_utc"])
            for item in items:
                writer.writerow([spreadsheet_safe(v) if isinstance(v, str) else v for v in item.values()])
    finally:
        if out is not sys.stdout:
            out.close()
        db.close()
    return EXIT_OK


def write_export(rows: Iterable[Any], out: TextIO, fmt: str, tz: tzinfo, fields: list[tuple[str, str]]) -> None:
    """Write stored readings as ``pv export`` does (the web page's CSV links use this too).

    ``fields`` are the value columns (``value_columns`` of every field id in
    the range): they must be known before the first row is written.
    """
    if fmt == "json":
        out.write("[\n")
        first_row = True
        for r in rows:
            item: dict[str, Any] = {
                "time_utc": r.time.isoformat(),
                "local_time": r.time.astimezone(tz).isoformat(),
                "serial": r.serial,
                **{column: r.values.get(fid) for fid, column in fields},
                "mode_label": r.mode,
                "faults": list(r.faults),
                "rejected": r.rejected,
                "frame": r.raw_frame.hex(),
            }
            out.write(("" if first_row else ",\n") + json.dumps(item))
            first_row = False
        out.write("\n]\n")
    else:
        writer = csv.writer(out)
        writer.writerow([*HEAD, *(column for _, column in fields), *TAIL])
        for r in rows:
            writer.writerow(
                [
                    r.time.isoformat(),
                    r.time.astimezone(tz).isoformat(),
                    spreadsheet_safe(r.serial),
                    *(_cell(r.values.get(fid)) for fid, _ in fields),
                    spreadsheet_safe(r.mode),
                    spreadsheet_safe("; ".join(r.faults)),
                    spreadsheet_safe("; ".join(f"{k}: {v}" for k, v in sorted(r.rejected.items()))),
                ]
            )


def register(sub: Any) -> None:
    """Add this module's subcommands to the ``pv`` parser."""
    p = sub.add_parser("export", help="readings history as CSV or JSON for a date range")
    p.add_argument("--from", dest="from_", metavar="YYYY-MM-DD", help="first local day (default: the beginning)")
    p.add_argument("--to", metavar="YYYY-MM-DD", help="last local day, inclusive (default: the latest reading)")
    p.add_argument("--serial", metavar="SN", help="only this inverter")
    p.add_argument(
        "--history",
        action="store_true",
        help="the hourly energy the inverters logged themselves (Samil TCP history), not the readings",
    )
    p.add_argument("--format", choices=("csv", "json"), default="csv", help="output format (csv)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    p.add_argument("--storage", metavar="PATH", help="SQLite database file")
    p.add_argument("--timezone", metavar="ZONE", help="time zone for local times and day boundaries")
    p.set_defaults(func=cmd_export)
