"""The systemd unit `pv service install` writes: never root, sandboxed, paths quoted, valid.

Every test checks the directives statically; where `systemd-analyze` is
installed (.ci/run installs the Debian package) the unit is also verified and
its exposure measured, so the tests cannot pass vacuously on a machine without it.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from .clirun import pv_env, run_pv

PV = shutil.which("pv") or "/usr/bin/pv"
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed (apt install systemd)"
)


def directives(unit: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def dry_run(*extra: str, env: dict[str, str] | None = None, config: str = "/etc/pv/pv.toml") -> str:
    proc = run_pv("service", "install", "--dry-run", "--pv-path", PV, "--config-path", config, *extra, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_sudo_without_user_runs_as_the_dedicated_account_never_root() -> None:
    """`sudo pv service install` used to write User=root ("the current user" under sudo)."""
    env = pv_env(SUDO_USER="pi", USER="root", LOGNAME="root")
    d = directives(dry_run(env=env))
    assert d["User"] == ["pv"] and d["Group"] == ["pv"]
    assert d["SupplementaryGroups"] == ["dialout"]


def test_root_is_refused_even_when_asked_for() -> None:
    proc = run_pv("service", "install", "--dry-run", "--user", "root", "--pv-path", PV)
    assert proc.returncode == 2
    assert "never needs root" in proc.stderr and len(proc.stderr.splitlines()) == 1


def test_help_says_what_the_default_account_is() -> None:
    proc = run_pv("service", "install", "--help")
    text = " ".join(proc.stdout.split())
    assert "default: pv, a dedicated system account; never root" in text
    assert "useradd --system" in text


def test_a_missing_service_account_is_explained_with_the_command_that_creates_it(tmp_path: Path) -> None:
    try:
        pwd.getpwnam("pv")
        pytest.skip("this machine has a pv account")
    except KeyError:
        pass
    proc = run_pv("service", "install", "--unit-dir", str(tmp_path), "--pv-path", PV)
    assert proc.returncode == 2
    assert "sudo useradd --system --user-group" in proc.stderr and "--groups dialout pv" in proc.stderr
    assert not (tmp_path / "pv-monitor.service").exists()


def test_sandboxing_directives() -> None:
    d = directives(dry_run())
    expected = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "StateDirectory": "pv",
        "DevicePolicy": "closed",
        "CapabilityBoundingSet": "",
        "RestrictNamespaces": "yes",
        "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes",
        "SystemCallArchitectures": "native",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes",
    }
    for key, value in expected.items():
        assert d.get(key) == [value], key
    assert all(re.fullmatch(r"char-(ttyUSB|ttyACM|ttyS|ttyAMA|pts) rw", a) for a in d["DeviceAllow"]), d["DeviceAllow"]
    assert d["RestrictAddressFamilies"] == ["AF_UNIX AF_INET AF_INET6"]
    assert d["SystemCallFilter"] == ["@system-service", "~@privileged @resources"]
    assert "PrivateDevices" not in d  # it would hide the serial adapters


def test_paths_with_spaces_and_specials_are_quoted(tmp_path: Path) -> None:
    config = str(tmp_path / "my configs" / "pv 100%.toml")
    unit = dry_run("--pv-path", "/opt/pv tools/bin/pv", config=config)
    line = directives(unit)["ExecStart"][0]
    # systemd's quoting: "..." with %% for a literal percent sign
    args = [a.replace("%%", "%") for a in shlex.split(line)]
    assert args == ["/opt/pv tools/bin/pv", "--config", config, "monitor", "--display", "lines"]


def test_a_path_cannot_add_a_directive() -> None:
    proc = run_pv("service", "install", "--dry-run", "--pv-path", PV, "--config-path", "/etc/pv.toml\nUser=root")
    assert proc.returncode == 2
    assert "control characters" in proc.stderr and "\nUser=root" not in proc.stdout


def test_pv_inside_a_home_needs_the_owning_account() -> None:
    proc = run_pv("service", "install", "--dry-run", "--pv-path", "/home/pi/.local/bin/pv")
    assert proc.returncode == 2 and "ProtectHome=yes" in proc.stderr
    d = directives(dry_run("--user", "daemon", "--pv-path", "/home/pi/.local/bin/pv"))
    assert d["User"] == ["daemon"] and d["ProtectHome"] == ["read-only"]


def _unit_file(tmp_path: Path) -> Path:
    path = tmp_path / "pv-monitor.service"
    path.write_text(dry_run(), encoding="utf-8")
    return path


@needs_analyze
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    assert SYSTEMD_ANALYZE is not None
    proc = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(_unit_file(tmp_path))], capture_output=True, text=True, timeout=120, check=False
    )
    problems = [
        line
        for line in (proc.stdout + proc.stderr).splitlines()
        if "pv-monitor.service" in line and "is not executable" not in line and "does not exist" not in line
    ]
    assert problems == [], proc.stderr  # the Documentation= line used to be "Invalid URL"


@needs_analyze
def test_exposure_is_at_most_2_5(tmp_path: Path) -> None:
    assert SYSTEMD_ANALYZE is not None
    proc = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=true", "--no-pager", str(_unit_file(tmp_path))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "SYSTEMD_COLORS": "0"},
    )
    found = re.search(r"Overall exposure level for pv-monitor\.service: (\d+\.\d+)", proc.stdout)
    assert found, proc.stdout + proc.stderr
    assert float(found.group(1)) <= 2.5, proc.stdout
