"""docs/simulator.md documents every option and every fault kind the code accepts."""

from __future__ import annotations

import argparse
from pathlib import Path

from pvapp.sim import FAULT_KINDS, OPTIONS, cli

DOC = (Path(__file__).resolve().parents[2] / "docs" / "simulator.md").read_text()


def test_every_option_is_documented_for_cli_and_url() -> None:
    for opt in OPTIONS:
        assert f"`--{opt.name.replace('_', '-')}" in DOC, opt.name
        assert f"`{opt.name}" in DOC, opt.name
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    for action in parser._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                assert f"`{flag}" in DOC, flag
    assert "`name=NAME`" in DOC


def test_every_fault_kind_is_documented() -> None:
    for kind in FAULT_KINDS:
        assert f"| `{kind}" in DOC, kind
