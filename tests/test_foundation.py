"""Package-level contracts: import hygiene, dependency direction, CLI exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_leaves_torch_napari_qt_unloaded():
    code = (
        "import sys, mri_measure, mri_measure.types, mri_measure.criteria, mri_measure.cli;"
        "bad=[m for m in ('torch','napari','qtpy','PyQt5','PyQt6','PySide6') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_import_linter_contracts_hold():
    # the interpreter's own import-linter, not whatever `lint-imports` is on PATH
    cmd = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "broken" in out.stdout.lower() and "0 broken" in out.stdout.lower()


def test_no_torch_import_outside_segment_and_training_source_scan():
    """Belt and braces for lazy imports the linter might not see: torch only in
    segment/ and training/, napari/Qt nowhere in the core."""
    offenders = []
    for py in (ROOT / "mri_measure").rglob("*.py"):
        torch_allowed = py.relative_to(ROOT / "mri_measure").parts[0] in ("segment", "training")
        for line in py.read_text().splitlines():
            s = line.strip()
            if (not torch_allowed and s.startswith(("import torch", "from torch"))) or s.startswith(
                ("import napari", "from napari", "from qtpy", "import qtpy")
            ):
                offenders.append(f"{py.relative_to(ROOT)}: {s}")
    assert offenders == []


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mri_measure", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_input_error_is_one_line_exit_2(tmp_path):
    missing = tmp_path / "nothing-here"
    res = run_cli("inspect", str(missing))
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert str(tmp_path) not in res.stderr  # never echo paths (may contain patient names)


def test_cli_bad_threshold_is_option_error():
    from mri_measure.criteria import Thresholds
    from mri_measure.errors import OptionError

    with pytest.raises(OptionError):
        Thresholds(lf_threshold_mm=-1)


def test_cli_version():
    res = run_cli("--version")
    assert res.returncode == 0 and "mri-measure" in res.stdout
