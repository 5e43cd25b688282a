"""What the simulator served: every status reply, with its values, per inverter.

End-to-end tests of the monitor compare the database against this record, so
each entry carries exactly what went on the wire (the frame) and what it
decodes to with the generated decoder, plus whether a line fault spoiled it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

SPOILING_FAULTS = frozenset({"drop", "corrupt", "truncate"})


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """One status reply the simulator produced."""

    time: datetime  # simulated time the values belong to
    serial: str
    address: int | None
    values: dict[str, float | int | None]  # decoded by the spec's own decoder, by field id
    frame: bytes  # the reply frame as built, before any line fault
    faults: tuple[str, ...] = ()  # line faults applied to this reply

    @property
    def usable(self) -> bool:
        """True when a client could have received this reply intact."""
        return not SPOILING_FAULTS.intersection(self.faults)

    def as_json(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(),
            "serial": self.serial,
            "address": self.address,
            "values": self.values,
            "frame": self.frame.hex(),
            "faults": list(self.faults),
            "usable": self.usable,
        }


class Record:
    """Thread-safe, in-memory list of status records, optionally mirrored to a JSONL file.

    Memory keeps the latest ``keep`` entries (a day of 5 s polls); the file keeps everything.
    """

    def __init__(self, path: str | Path | None = None, *, keep: int = 20_000) -> None:
        self._lock = threading.Lock()
        self._entries: list[StatusRecord] = []
        self._keep = keep
        self.path = Path(path) if path else None
        self._file: IO[str] | None = None
        if self.path is not None:
            self._file = self.path.open("a", encoding="utf-8")

    def add(self, entry: StatusRecord) -> None:
        with self._lock:
            self._entries.append(entry)
            if len(self._entries) > self._keep:
                del self._entries[: len(self._entries) - self._keep]
            if self._file is not None:
                self._file.write(json.dumps(entry.as_json()) + "\n")
                self._file.flush()

    def entries(self, serial: str | None = None, *, usable_only: bool = False) -> list[StatusRecord]:
        with self._lock:
            return [
                e for e in self._entries if (serial is None or e.serial == serial) and (not usable_only or e.usable)
            ]

    def last(self, serial: str | None = None) -> StatusRecord | None:
        found = self.entries(serial)
        return found[-1] if found else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def load_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a record file back (for tests that ran the simulator in another process)."""
    with Path(path).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]
