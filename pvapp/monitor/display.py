"""What ``pv monitor`` prints: a live table on a terminal, one plain line per reading elsewhere.

On a terminal the table is redrawn in place (ANSI cursor-up), one row per
inverter, so the screen shows the current state rather than a scrolling log.
Piped, redirected or under systemd, every reading becomes one self-contained
line with units, which greps, tails and journald handle well.
"""

from __future__ import annotations

import logging
import shutil
import sys
import threading
from collections import deque
from datetime import tzinfo
from typing import TextIO

from pvapp.reading import InverterInfo, InverterState, Reading
from pvgen.runtime.text import SafeFormatter, shown

NOTE_LINES = 5  # log messages kept under the live table

# (field id, short heading) in display order; only fields the spec has are shown.
MAIN_FIELDS = (
    ("pac", "Pac"),
    ("e_today", "E-Today"),
    ("e_total", "E-Total"),
    ("vpv", "Vpv"),
    ("vac", "Vac"),
    ("fac", "Fac"),
    ("temperature", "Temp"),
    ("h_total", "h-Total"),
)


def _units(spec_id: str) -> dict[str, tuple[str, int]]:
    """Field id -> (unit, decimals of its resolution), so 50.00 Hz never shows as 50 Hz."""
    try:
        import importlib

        spec = importlib.import_module(f"pv.{spec_id}").SPEC
    except (ImportError, AttributeError):
        return {}
    return {f.id: (f.unit, f.decimals) for f in spec.fields}


def format_value(value: float | int | None, unit: str, decimals: int | None = None) -> str:
    if value is None:
        return "-"
    if decimals is not None:
        return f"{value:.{decimals}f} {unit}".rstrip()
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{text} {unit}".rstrip()


class ConsoleOutput:
    """An ``Output`` writing to a stream; ``live`` picks the in-place table."""

    name = "console"

    def __init__(self, stream: TextIO | None = None, *, tz: tzinfo | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tz = tz
        self.live = self.stream.isatty() if live is None else live
        self._rows: dict[str, tuple[Reading | None, str]] = {}
        self._units: dict[str, dict[str, tuple[str, int]]] = {}
        self._drawn = 0
        self._lock = threading.Lock()
        self._notes: deque[str] = deque(maxlen=NOTE_LINES)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        if self.live and self._drawn:
            self.stream.write("\n")
            self.stream.flush()

    def units(self, spec_id: str) -> dict[str, tuple[str, int]]:
        if spec_id not in self._units:
            self._units[spec_id] = _units(spec_id)
        return self._units[spec_id]

    def line(self, reading: Reading) -> str:
        t = reading.time.astimezone(self.tz) if self.tz else reading.time
        units = self.units(reading.inverter.spec_id)
        parts = [t.strftime("%Y-%m-%d %H:%M:%S"), reading.inverter.serial]
        for fid, head in MAIN_FIELDS:
            if fid in reading.values:
                parts.append(f"{head} {format_value(reading.values[fid], *units.get(fid, ('', None)))}")
        if reading.mode:
            parts.append(f"mode {reading.mode}")
        if reading.faults:
            parts.append("faults " + "; ".join(reading.faults))
        if reading.rejected:
            parts.append("rejected " + ", ".join(sorted(reading.rejected)))
        return shown("  ".join(parts))  # the serial, mode and faults came from the device

    def publish(self, reading: Reading) -> None:
        with self._lock:
            if not self.live:
                self.stream.write(self.line(reading) + "\n")
                self.stream.flush()
                return
            self._rows[reading.inverter.serial] = (reading, "awake")
            self._redraw()

    def inverter_state(self, inverter: InverterInfo, state: InverterState) -> None:
        with self._lock:
            if not self.live:
                return  # the transition is logged (once) by the monitor
            last = self._rows.get(inverter.serial, (None, state))[0]
            self._rows[inverter.serial] = (last, state)
            self._redraw()

    def note(self, message: str) -> None:
        """A log message shown under the live table (the last few), instead of scrolling it away."""
        with self._lock:
            self._notes.append(message)
            if self._drawn:
                self._redraw()

    def log_handler(self) -> logging.Handler:
        """A logging handler that routes messages into ``note`` (live mode on a terminal)."""
        return _NoteHandler(self)

    def _redraw(self) -> None:
        heads = ["Time", "Inverter", "State"] + [h for _, h in MAIN_FIELDS] + ["Mode"]
        rows: list[list[str]] = []
        for serial, (reading, state) in sorted(self._rows.items()):
            if reading is None:
                rows.append(["-", serial, state] + ["-"] * len(MAIN_FIELDS) + [""])
                continue
            units = self.units(reading.inverter.spec_id)
            t = reading.time.astimezone(self.tz) if self.tz else reading.time
            row = [t.strftime("%H:%M:%S"), serial, state]
            row += [format_value(reading.values.get(fid), *units.get(fid, ("", None))) for fid, _ in MAIN_FIELDS]
            row.append(reading.mode + (" [" + "; ".join(reading.faults) + "]" if reading.faults else ""))
            rows.append(row)
        rows = [[shown(c) for c in r] for r in rows]  # device text as data, escaped before measuring
        widths = [max(len(r[i]) for r in [heads, *rows]) for i in range(len(heads))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [heads, *rows]]
        if self._notes:
            lines += ["", *self._notes]
        # a wrapped line would take two screen rows and break the cursor arithmetic
        width = max(20, shutil.get_terminal_size((200, 24)).columns - 1)
        lines = [line[:width] for line in lines]
        out = ""
        if self._drawn:
            out += f"\x1b[{self._drawn}F"  # back to the first line of the previous table
        out += "".join(f"\x1b[2K{line}\n" for line in lines)
        self.stream.write(out)
        self.stream.flush()
        self._drawn = len(lines)


class _NoteHandler(logging.Handler):
    def __init__(self, console: ConsoleOutput) -> None:
        super().__init__()
        self.console = console
        self.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.note(self.format(record))
        except Exception:
            self.handleError(record)
