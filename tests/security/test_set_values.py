"""`pv set` takes ASCII decimal numbers only, and confirms exactly the value it will write."""

from __future__ import annotations

import pytest

from .clirun import run_pv

SIM = "sim://cms?awake=always"


@pytest.mark.parametrize(
    "value",
    [
        "1_5_0",
        "\u0661\u0665\u0660",
        "\uff11\uff15\uff10",
        "nan",
        "inf",
        "Infinity",
        "1e2",
        "0x96",
        " ",
        "150 V",
        "+-150",
    ],
)
def test_anything_but_an_ascii_decimal_is_refused(value: str) -> None:
    """float() accepts underscores, Arabic-Indic and full-width digits, nan, inf and exponents."""
    proc = run_pv("set", SIM, "vpv_start", value, "--yes")
    assert proc.returncode == 2, proc.stdout
    assert proc.stderr.startswith("pv set: VALUE: ") and "is not a number" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert proc.stdout == ""  # nothing was read from or written to the inverter


def test_a_value_finer_than_the_resolution_is_refused_with_the_two_nearest() -> None:
    proc = run_pv("set", SIM, "t_start", "30.7", "--yes")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("pv set: VALUE: 30.7 s is finer than the 1 s resolution of t_start: give 30 or 31")
    proc = run_pv("set", SIM, "vpv_start", "150.05", "--yes")
    assert proc.returncode == 2
    assert "give 150.0 or 150.1" in proc.stderr


def test_the_confirmation_shows_the_value_at_its_resolution() -> None:
    proc = run_pv("set", SIM, "vpv_start", "150", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert "new value 150.0 V" in proc.stdout.splitlines()[0]
    proc = run_pv("set", SIM, "t_start", "+40.0", "--yes")
    assert proc.returncode == 0, proc.stderr
    first, last = proc.stdout.splitlines()[0], proc.stdout.splitlines()[-1]
    assert first.endswith("new value 40 s") and last == "T-Start is now 40 s (was 30 s)"
