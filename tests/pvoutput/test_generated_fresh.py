"""The committed generated files are exactly what the renderer makes from the committed spec."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pvgen.service import render_service
from pvgen.yamlsrc import load_yaml

REPO = Path(__file__).resolve().parents[2]


def test_generated_files_are_fresh() -> None:
    out = render_service(load_yaml(REPO / "specs/pvoutput.yaml", "specs/pvoutput.yaml"), "specs/pvoutput.yaml")
    for path, text in out.items():
        assert (REPO / path).read_text(encoding="utf-8") == text, f"{path} is stale: regenerate with pvgen"


def test_generated_module_is_ruff_formatted_and_clean() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    target = str(REPO / "generated/pv/pvoutput.py")
    fmt = subprocess.run([str(ruff), "format", "--check", target], capture_output=True, text=True, cwd=REPO)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    lint = subprocess.run([str(ruff), "check", target], capture_output=True, text=True, cwd=REPO)
    assert lint.returncode == 0, lint.stdout + lint.stderr
