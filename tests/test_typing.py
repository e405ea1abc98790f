"""The core packages type-check with the project's mypy configuration
([tool.mypy] in pyproject.toml), and ship their types (py.typed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ("vocabulary", "types", "errors", "criteria", "measure", "review", "pipeline", "report", "io")


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory) -> str:
    """One incremental cache for both mypy runs (the second reuses the first's analysis)."""
    return str(tmp_path_factory.mktemp("mypy_cache"))


def test_mypy_passes_on_the_core_packages(mypy_cache):
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
    covered = {Path(f).stem if f.endswith(".py") else Path(f).name for f in files}
    assert set(CORE) <= covered, f"[tool.mypy] files leave out {sorted(set(CORE) - covered)}"
    res = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", mypy_cache, "--config-file", str(ROOT / "pyproject.toml")],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert "Success: no issues found" in res.stdout


def test_mypy_would_catch_a_type_error(tmp_path, mypy_cache):
    """The configuration really checks: a wrong call into the public API fails."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from mri_measure.criteria import Thresholds\n"
        "t: Thresholds = Thresholds()\n"
        "flag: bool | None = t.lf_thickened('2.5 mm')\n"
    )
    res = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", mypy_cache, "--config-file", str(ROOT / "pyproject.toml"),
         str(bad)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert res.returncode == 1 and "arg-type" in res.stdout, res.stdout


def test_package_ships_py_typed():
    assert (ROOT / "mri_measure" / "py.typed").is_file()
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "py.typed" in data["tool"]["setuptools"]["package-data"]["mri_measure"]
