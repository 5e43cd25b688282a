"""The one sanitiser (``pvgen.runtime.text``): what it escapes, what it keeps, where it is used."""

from __future__ import annotations

import io
import logging
import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pvapp.monitor.display import ConsoleOutput
from pvapp.reading import InverterInfo, Reading
from pvgen.runtime.text import SafeFormatter, serial_problem, shown


@pytest.mark.parametrize(
    ("raw", "visible"),
    [
        ("AB\x1b[2J01", "AB\\x1b[2J01"),  # CSI: clear screen
        ("\x1b]52;c;cHduZWQ=\x07", "\\x1b]52;c;cHduZWQ=\\x07"),  # OSC 52: set the clipboard
        ("\x9b31m", "\\x9b31m"),  # C1 CSI
        ("a\nb\r", "a\\nb\\r"),  # a forged log line
        ("abc\u202edcba", "abc\\u202edcba"),  # bidi override: text shown reversed
        ("x\u200by", "x\\u200by"),  # zero-width space
        ("del\x7f", "del\\x7f"),
        ("0905BO0139", "0905BO0139"),  # ordinary text untouched
        ("Wärmepumpe 25 °C", "Wärmepumpe 25 °C"),  # printable non-ASCII is kept
    ],
)
def test_shown_escapes_every_control(raw: str, visible: str) -> None:
    assert shown(raw) == visible


@given(st.text())
def test_shown_output_is_always_printable(text: str) -> None:
    out = shown(text)
    assert out.isprintable()
    assert shown(out) == out  # idempotent: escaping twice changes nothing


def test_shown_can_keep_line_breaks() -> None:
    assert shown("one\x1b[2J\ntwo", newlines=True) == "one\\x1b[2J\ntwo"


@pytest.mark.parametrize(
    ("serial", "ok"),
    [
        ("0905BO0139", True),
        ("S22A0001", True),
        ("AB-CD_0003.x", True),
        ("", False),
        ("AB\x1b[2J01", False),
        ("AB CD", False),
        ("0905BO0139\n", False),  # a trailing newline is not a serial (no `$` loophole)
        ("ABC\u00e9", False),
        ("X" * 33, False),
        ("X" * 32, True),
    ],
)
def test_serial_rule(serial: str, ok: bool) -> None:
    assert (serial_problem(serial) is None) is ok


def test_log_formatter_keeps_every_record_on_one_line() -> None:
    record = logging.LogRecord(
        "pv.monitor", logging.WARNING, __file__, 1, "model %s", ("X\n12:00:00 ERROR forged",), None
    )
    line = SafeFormatter("%(levelname)s %(message)s").format(record)
    assert line == "WARNING model X\\n12:00:00 ERROR forged"


def test_log_formatter_escapes_exception_text_but_keeps_the_traceback_lines() -> None:
    try:
        raise ValueError("bad \x1b[2J reply")
    except ValueError:
        import sys

        record = logging.LogRecord("pv", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    text = SafeFormatter("%(message)s").format(record)
    assert "\x1b" not in text and "bad \\x1b[2J reply" in text
    assert text.count("\n") >= 3  # "failed", "Traceback ...", the frame, the exception


def _reading(serial: str, mode: str) -> Reading:
    inv = InverterInfo(serial=serial, spec_id="cms", port="sim://cms", address=1)
    return Reading(
        inverter=inv, time=datetime(2026, 2, 1, 2, 0, tzinfo=UTC), values={"pac": 5}, raw_frame=b"", mode=mode
    )


def test_monitor_screen_live_and_lines_escape_device_text() -> None:
    """The display is the last line of defence: whatever reaches it is shown as data."""
    reading = _reading("AB\x1b[2J01", "Normal\x1b]0;x\x07")
    live = io.StringIO()
    out = ConsoleOutput(live, live=True)
    out.publish(reading)
    handler = out.log_handler()
    handler.handle(logging.LogRecord("pv", logging.WARNING, __file__, 1, "note %s", ("\x1b[31mred",), None))
    own = re.sub(r"\x1b\[(\d+F|2K)", "", live.getvalue())  # the table's own cursor moves
    assert "\x1b" not in own and "\x07" not in own
    assert "AB\\x1b[2J01" in own and "\\x1b[31mred" in own
    plain = io.StringIO()
    ConsoleOutput(plain, live=False).publish(reading)
    assert "\x1b" not in plain.getvalue() and "AB\\x1b[2J01" in plain.getvalue()
