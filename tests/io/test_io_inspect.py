"""`mri-measure inspect` end to end (subprocess): table, JSON, errors, no PHI."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.io.dicom_factory import PHI, junk_files, make_cd

from tests.io.io_study import SLICES_PER_BLOCK


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mri_measure", *args], capture_output=True, text=True, timeout=120)


def assert_no_phi(text: str, tmp_path) -> None:
    for v in PHI.values():
        assert v not in text
    assert "DOE" not in text
    assert str(tmp_path) not in text


def test_inspect_json(tmp_path, study):
    cd = make_cd(tmp_path / "DOE_JOHN_CD", study.datasets)
    junk_files(cd)
    res = run_cli("inspect", str(cd), "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["schema"] == "mri-measure-inspect/1"
    assert data["n_skipped_non_dicom"] == 5
    (st,) = data["studies"]
    assert st["study_instance_uid"] == study.study_uid
    stacks = {s["stack_id"]: s for se in st["series"] for s in se["stacks"]}
    assert all({"role", "n_slices"} <= set(s) for s in stacks.values())
    axial = [s for s in stacks.values() if s["role"] == "axial_t2"]
    assert len(axial) == 3 and {s["n_slices"] for s in axial} == {SLICES_PER_BLOCK}
    assert {s["role"] for s in stacks.values()} == {"axial_t2", "sagittal_t2", "localizer", "other"}
    a = axial[0]
    assert a["pixel_spacing_mm"] == [0.7, 0.7] and a["slice_thickness_mm"] == 4.0
    assert a["slice_step_mm"] == 4.0
    assert a["transfer_syntaxes"] == ["Explicit VR Little Endian"]
    series_uids = {se["series_instance_uid"] for se in st["series"]}
    assert study.axial_series_uid in series_uids
    assert_no_phi(res.stdout + res.stderr, tmp_path)


def test_inspect_table(tmp_path, study):
    cd = make_cd(tmp_path / "DOE_JOHN_CD", study.datasets, lowercase=True)
    res = run_cli("inspect", str(cd))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert f"Study {study.study_uid}" in out
    assert out.count("axial_t2") == 3 and "sagittal_t2" in out and "localizer" in out
    assert "Explicit VR Little Endian" in out and "0.7x0.7" in out
    assert_no_phi(out + res.stderr, tmp_path)


def test_non_dicom_folder_exit_2_one_line(tmp_path):
    folder = tmp_path / "DOE_JOHN"
    folder.mkdir()
    junk_files(folder)
    res = run_cli("inspect", str(folder))
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no DICOM files found" in lines[0]
    assert "Traceback" not in res.stderr
    assert_no_phi(res.stdout + res.stderr, tmp_path)


def test_missing_path_exit_2(tmp_path):
    res = run_cli("inspect", str(tmp_path / "DOE_JOHN"), "--json")
    assert res.returncode == 2 and res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1
    assert_no_phi(res.stderr, tmp_path)


def test_warnings_go_to_json_and_stderr_without_paths(tmp_path, study):
    cd = make_cd(tmp_path / "DOE_JOHN_CD", study.datasets)
    victim = next(p for p in sorted(cd.rglob("*")) if p.is_file() and p.name != "DICOMDIR")
    victim.unlink()
    res = run_cli("inspect", str(cd), "--json")
    assert res.returncode == 0
    data = json.loads(res.stdout)
    assert any("missing" in w for w in data["warnings"])
    assert "missing" in res.stderr
    assert_no_phi(res.stdout + res.stderr, tmp_path)
