"""pvgen writes its final text itself: the same bytes with or without ruff installed.

pvgen used to pipe its output through ruff, so on a plain ``pip install .`` (no
dev extra) ``pvgen --check`` called the committed files stale.  Here pvgen runs
in a fresh interpreter where ruff cannot be imported or found on the PATH, and
must find the committed files up to date; and the committed files must be what
ruff itself would leave alone, so CI can keep ``ruff format --check .``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HIDE_RUFF = """\
import sys


class _NoRuff:
    def find_spec(self, name, path=None, target=None):
        if name == "ruff" or name.startswith("ruff."):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)")
        return None


sys.meta_path.insert(0, _NoRuff())
"""


def test_pvgen_check_passes_with_ruff_unavailable(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(HIDE_RUFF, encoding="utf-8")
    path = os.pathsep.join(p for p in ("/usr/bin", "/bin") if Path(p).is_dir())
    assert shutil.which("ruff", path=path) is None, "a system-wide ruff would defeat this test"
    env = {**os.environ, "PATH": path, "PYTHONPATH": str(tmp_path)}
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import importlib.util as u\ntry:\n u.find_spec('ruff')\nexcept ImportError:\n print('hidden')",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.stdout.strip() == "hidden", probe.stderr
    result = subprocess.run(
        [sys.executable, "-m", "pvgen.cli", "--check", "--root", str(REPO)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "up to date" in result.stdout


RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")


@pytest.mark.skipif(RUFF is None, reason="ruff is not installed (it is in the dev extra)")
def test_generated_files_are_a_fixed_point_of_ruff_format() -> None:
    """With the project's settings and with pvgen's own (isolated) ones."""
    for settings in ([], ["--isolated", "--line-length", "120", "--target-version", "py311"]):
        result = subprocess.run(
            [str(RUFF), "format", "--check", *settings, "generated/pv"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
