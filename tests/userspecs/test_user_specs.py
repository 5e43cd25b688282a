"""Users' own specs: ``pvgen --specs DIR``, ``PV_SPECS=DIR``, ``specs_dir`` in pv.toml (docs/user-specs.md).

Everything runs in subprocesses, as a user runs it, with the cache in a scratch
folder (``PV_SPECS_CACHE``) and the package checked untouched.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

from .chain import MINE, SIM, clean_env, exercise, run, tree_digest, write_folder

BIN = Path(sys.executable).parent
PVGEN = BIN / "pvgen"
PV = BIN / "pv"


def package_dir() -> Path:
    spec = importlib.util.find_spec("pv")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_folder(tmp_path)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(PV_SPECS_CACHE=str(tmp_path / "cache"))


def module_file(env: dict[str, str], folder: Path, cwd: Path) -> str:
    probe = run(
        [sys.executable, "-c", "from pv import mine; print(mine.__file__)"], {**env, "PV_SPECS": str(folder)}, cwd
    )
    assert probe.returncode == 0, probe.stderr
    return probe.stdout.strip()


def test_the_whole_chain_without_writing_into_the_package(folder: Path, env: dict[str, str], tmp_path: Path) -> None:
    before = tree_digest(package_dir())
    exercise(PVGEN, PV, Path(sys.executable), env, folder, tmp_path)
    assert tree_digest(package_dir()) == before
    assert not (package_dir() / "mine.py").exists()


def test_pvgen_specs_check_only_validates(folder: Path, env: dict[str, str], tmp_path: Path) -> None:
    result = run([str(PVGEN), "--specs", str(folder), "--check"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 spec(s) valid" in result.stdout
    assert not (tmp_path / "cache").exists()


def test_a_user_spec_cannot_take_a_shipped_id(folder: Path, env: dict[str, str], tmp_path: Path) -> None:
    """Even when another user spec, read first, extends it (the file is then parsed as a parent first)."""
    shutil.copy(package_dir() / "specs" / "cms.yaml", folder / "cms.yaml")
    (folder / "a.yaml").write_text("meta: {id: a, title: A, extends: cms}\n", encoding="utf-8")
    result = run([str(PVGEN), "--specs", str(folder)], env, tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{folder}/cms.yaml:6: /meta/id: id 'cms' is already the spec pv/specs/cms.yaml",
        "pvgen: 1 problem(s); nothing written",
    ]
    assert not list((tmp_path / "cache").rglob("*.py"))


def test_a_bad_user_spec_is_reported_by_every_entry_point(folder: Path, env: dict[str, str], tmp_path: Path) -> None:
    (folder / "mine.yaml").write_text(MINE.replace("code: 0x50", "code: 0x44"), encoding="utf-8")
    line = f"{folder}/mine.yaml:7: /fields/pac_peak/code: code 0x44 already used by 'pac'"
    use = {**env, "PV_SPECS": str(folder)}
    generated = run([str(PVGEN), "--specs", str(folder)], env, tmp_path)
    assert (generated.returncode, generated.stderr.splitlines()[0]) == (1, line)
    status = run([str(PV), "status", "--spec", "mine", SIM], use, tmp_path)
    assert status.returncode == 2
    assert status.stderr.splitlines() == [line, "pv status: your specs have 1 problem(s); fix them first"]
    probe = run(
        [sys.executable, "-c", "import pv, pv.cms\ntry:\n from pv import mine\nexcept ImportError as e:\n print(e)"],
        use,
        tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    assert line in probe.stdout.splitlines()  # the shipped modules still import; the broken one says why


def test_the_cache_is_reused_and_follows_changes(folder: Path, env: dict[str, str], tmp_path: Path) -> None:
    first = module_file(env, folder, tmp_path)
    assert module_file(env, folder, tmp_path) == first
    (folder / "mine.yaml").write_text(MINE.replace("highest power today", "highest power so far"), encoding="utf-8")
    second = module_file(env, folder, tmp_path)
    assert second != first
    assert "highest power so far" in Path(second).read_text(encoding="utf-8")
    assert not Path(first).exists(), "the stale generation is removed"


def test_a_cache_others_can_write_is_never_used(folder: Path, env: dict[str, str], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    os.chmod(cache, 0o777)
    found = module_file(env, folder, tmp_path)
    assert not found.startswith(str(cache)), found
    assert list(cache.iterdir()) == []


def test_specs_dir_in_the_configuration(folder: Path, env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "pv.toml"
    config.write_text(f'specs_dir = "{folder.name}"\n\n[[ports]]\nport = "{SIM}"\nspec = "mine"\n', encoding="utf-8")
    status = run([str(PV), "--config", str(config), "status", "--spec", "mine", SIM], env, tmp_path)
    assert status.returncode == 0, status.stderr
    assert "Pac-Peak" in status.stdout
    probe = run(
        [
            sys.executable,
            "-c",
            "from pvapp.config import load, known_specs\n"
            f"cfg = load({str(config)!r})\nprint(known_specs()[-1], cfg.specs_dir.name, cfg.ports[0].spec)",
        ],
        env,
        tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == ["mine", "my-specs", "mine"]
    bad = tmp_path / "bad.toml"
    bad.write_text('specs_dir = "nowhere"\n', encoding="utf-8")
    result = run([str(PV), "--config", str(bad), "status", SIM], env, tmp_path)
    assert (result.returncode, result.stderr.strip()) == (2, "config error: specs_dir: no such folder: nowhere")


def test_shipped_specs_are_installed_with_the_package(tmp_path: Path) -> None:
    shipped = package_dir() / "specs"
    assert {p.stem for p in shipped.glob("*.yaml")} >= {"phoenixtec", "cms", "orion", "sunezy", "samil", "samil_tcp"}
    shown = run([str(PVGEN), "--shipped"], clean_env(), tmp_path)
    assert (shown.returncode, shown.stdout.strip()) == (0, str(shipped))


def test_the_walkthrough_in_the_docs_uses_this_very_spec_and_commands() -> None:
    """docs/user-specs.md shows what these tests (and test_plain_install.py) run."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "user-specs.md").read_text(encoding="utf-8")
    indented = "".join(f"   {line}\n" if line else "\n" for line in MINE.splitlines())
    assert indented in doc
    for command in ("pvgen --specs ~/pv-specs", "pv status --spec mine", "pv decode --spec mine", "pv monitor --port"):
        assert command in doc, command
    assert SIM.split("?")[1] in doc
