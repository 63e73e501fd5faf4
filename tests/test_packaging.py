"""pyproject.toml: every subpackage reaches the wheel, every package-data pattern ships a file, one version."""

from __future__ import annotations

import tomllib
from pathlib import Path

import setuptools

import edge

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_folder_of_code_is_a_package_that_find_picks_up() -> None:
    find = PYPROJECT["tool"]["setuptools"]["packages"]["find"]
    found = set(setuptools.find_packages(str(REPO), include=find["include"]))
    with_code = {
        ".".join(folder.relative_to(REPO).parts)
        for top in ("edge", "convert")
        for folder in [REPO / top, *(REPO / top).rglob("*")]
        if folder.is_dir() and "__pycache__" not in folder.parts and any(folder.glob("*.py"))
    }
    assert with_code <= found, f"folders with code that the wheel would leave out: {sorted(with_code - found)}"
    assert {"edge", "edge.detectors", "edge.sources", "edge.outputs", "convert"} <= found


def test_every_package_data_pattern_ships_a_file() -> None:
    for package, patterns in PYPROJECT["tool"]["setuptools"]["package-data"].items():
        for pattern in patterns:
            assert list((REPO / package).glob(pattern)), f"package-data {package}/{pattern} matches nothing"


def test_the_version_is_written_once_in_pyproject() -> None:
    assert edge.__version__ == PYPROJECT["project"]["version"]
    assert PYPROJECT["project"]["version"] not in (REPO / "edge" / "__init__.py").read_text(encoding="utf-8")
