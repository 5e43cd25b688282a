"""Dependency floors stay above the published advisories (pyproject.toml), and what is installed meets them."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

# package -> (first version without the advisories, the advisories)
FLOORS = {
    "requests": ("2.32.4", "CVE-2024-35195, CVE-2024-47081"),
    "jinja2": ("3.1.6", "CVE-2024-22195, CVE-2024-34064, CVE-2024-56201, CVE-2024-56326, CVE-2025-27516"),
    "urllib3": ("2.6.3", "CVE-2024-37891 and the 2.5/2.6 redirect and decompression fixes"),
    "idna": ("3.7", "CVE-2024-3651"),
    "certifi": ("2024.7.4", "CVE-2024-39689"),
    "pyyaml": ("5.4", "CVE-2020-14343"),
}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:4])


def _declared() -> dict[str, str]:
    deps = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["dependencies"]
    out = {}
    for dep in deps:
        m = re.match(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9.]*)", dep)
        if m:
            out[m.group(1).lower()] = m.group(2)
    return out


@pytest.mark.parametrize("package", sorted(FLOORS))
def test_declared_floor_is_above_the_advisories(package: str) -> None:
    fixed, advisories = FLOORS[package]
    declared = _declared()
    assert package in declared, f"{package} has no >= floor in pyproject.toml"
    assert _version(declared[package]) >= _version(fixed), f"{package}>={declared[package]} allows {advisories}"


@pytest.mark.parametrize("package", sorted(FLOORS))
def test_installed_version_meets_the_floor(package: str) -> None:
    assert _version(metadata.version(package)) >= _version(FLOORS[package][0])
