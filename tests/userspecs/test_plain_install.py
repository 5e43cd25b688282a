"""What a pipx user gets: ``pip install .`` and nothing else (no dev extra, no ruff).

One virtual environment is built per session under the temporary folder, from a
clean copy of the checkout (so the build leaves nothing in the worktree).  In it
``pvgen --check`` must pass on the checkout, and a spec in a user folder must be
generated, imported and used by ``pv status``, ``pv decode`` and ``pv monitor``
on the simulator, with the installed package byte for byte untouched.

Slow (it installs the dependencies from the package index, or pip's cache);
skipped, saying why, only when a virtual environment cannot be created at all.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

from .chain import clean_env, exercise, run, tree_digest, write_folder

REPO = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 900
pytestmark = [pytest.mark.slow, pytest.mark.timeout(INSTALL_TIMEOUT + 300)]


@dataclass(frozen=True)
class Plain:
    checkout: Path  # a clean copy of the repository
    bin: Path
    package: Path  # the installed pv package


def tracked_files() -> list[str]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    return [line for line in out.splitlines() if (REPO / line).is_file()]


@pytest.fixture(scope="session")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Plain:
    base = tmp_path_factory.mktemp("plain-install")
    checkout = base / "checkout"
    files = tracked_files()
    if files:
        for rel in files:
            (checkout / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, checkout / rel)
    else:
        shutil.copytree(REPO, checkout, ignore=shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.egg-info"))
    env_dir = base / "venv"
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    except Exception as exc:  # no ensurepip, no venv support, read-only /tmp: the only reason to skip
        pytest.skip(f"cannot create a virtual environment here: {exc}")
    bin_dir = env_dir / ("Scripts" if sys.platform == "win32" else "bin")
    install = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(checkout)],
        cwd=base,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )
    assert install.returncode == 0, f"pip install . failed:\n{install.stdout[-3000:]}\n{install.stderr[-3000:]}"
    where = subprocess.run(
        [
            str(bin_dir / "python"),
            "-c",
            "import importlib.util as u; print(u.find_spec('pv').submodule_search_locations[0])",
        ],
        cwd=base,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return Plain(checkout, bin_dir, Path(where.stdout.strip()))


def test_the_plain_install_has_no_dev_tools(plain: Plain) -> None:
    probe = run([str(plain.bin / "python"), "-c", "import ruff"], clean_env(), plain.checkout)
    assert probe.returncode != 0 and "No module named 'ruff'" in probe.stderr
    assert not (plain.bin / "ruff").exists()
    assert str(plain.package).startswith(str(plain.bin.parent)), "pv comes from the venv, not the checkout"


def test_pvgen_check_passes_on_a_plain_install(plain: Plain) -> None:
    result = run([str(plain.bin / "pvgen"), "--check"], clean_env(), plain.checkout)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "up to date" in result.stdout


def test_a_user_spec_works_end_to_end_on_a_plain_install(plain: Plain, tmp_path: Path) -> None:
    before = tree_digest(plain.package)
    folder = write_folder(tmp_path)
    env = clean_env(PV_SPECS_CACHE=str(tmp_path / "cache"), PATH=f"{plain.bin}:/usr/bin:/bin")
    exercise(plain.bin / "pvgen", plain.bin / "pv", plain.bin / "python", env, folder, tmp_path)
    assert tree_digest(plain.package) == before, "the installed package was written to"
