"""Input sanity through the real CLI (issue 16), on a synthetic CD.

Fatal cases: exit 2 and exactly one line on stderr, before any model runs.
Exclusion cases (another patient's slice, duplicate positions): exit 0, the
warning in measurements.json, the excluded slices in no slices[] entry. Both
exclusion cases share one CD and one model run, to keep the suite fast.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid
from tests.io.test_io_sanity import declare_sizes

FOREIGN = {"PatientName": "ROE^RICHARD", "PatientID": "OTHER-PATIENT-77", "PatientBirthDate": "19611003"}


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mri_measure", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def assert_one_error_line(res: subprocess.CompletedProcess, needle: str) -> str:
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mri-measure: error: "), res.stderr
    assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def clean_cd(tmp_path_factory) -> Path:
    from mri_measure.synth import write_cd

    return write_cd(tmp_path_factory.mktemp("clean"), seed=21, stenosis="moderate", levels=["L4-L5"])


def axial_files(cd: Path) -> list[Path]:
    out = []
    for p in sorted(cd.rglob("IM*")):
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        iop = np.asarray(ds.ImageOrientationPatient, float)
        if abs(np.cross(iop[:3], iop[3:])[2]) > 0.7:
            out.append(p)
    assert len(out) == 5
    return out


def copy_cd(clean_cd: Path, dst: Path) -> Path:
    return Path(shutil.copytree(clean_cd, dst / "CD"))


def edit_axials(cd: Path, edit) -> None:
    for p in axial_files(cd):
        ds = pydicom.dcmread(p)
        edit(ds)
        ds.save_as(p)


# --------------------------------------------------------------- exit 0: foreign slice + duplicates


@pytest.fixture(scope="module")
def messy_run(clean_cd, tmp_path_factory):
    """The clean CD plus one slice of another patient filed into its axial series
    (between two slices, pixels of other anatomy) and a second acquisition of
    every axial slice at the same positions (AcquisitionNumber 2)."""
    work = tmp_path_factory.mktemp("messy")
    cd = copy_cd(clean_cd, work)
    files = axial_files(cd)
    originals, repeats = [], []
    for i, p in enumerate(files):
        ds = pydicom.dcmread(p)
        originals.append(ds.SOPInstanceUID)
        rep = copy.deepcopy(ds)
        rep.SOPInstanceUID = rep.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        rep.AcquisitionNumber = 2
        rep.InstanceNumber = int(ds.InstanceNumber) + 100
        rep.save_as(p.with_name(f"REPEAT{i}"))
        repeats.append(rep.SOPInstanceUID)
    ds = pydicom.dcmread(files[2])
    foreign = copy.deepcopy(ds)
    foreign.SOPInstanceUID = foreign.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    for k, v in FOREIGN.items():
        setattr(foreign, k, v)
    foreign.InstanceNumber = 50
    iop = np.asarray(ds.ImageOrientationPatient, float)
    normal = np.cross(iop[:3], iop[3:])
    foreign.ImagePositionPatient = [float(v) for v in np.asarray(ds.ImagePositionPatient, float) + 2.0 * normal]
    foreign.PixelData = np.ascontiguousarray(ds.pixel_array[:, ::-1]).tobytes()
    foreign.save_as(files[2].with_name("STRAY"))
    out = work / "out"
    res = run_cli("measure", str(cd), "--out", str(out), cwd=work)
    assert res.returncode == 0, res.stderr
    doc = json.loads((out / "measurements.json").read_text())
    return doc, out, foreign.SOPInstanceUID, int(foreign.InstanceNumber), originals, repeats


def test_cli_slice_of_another_patient_is_excluded_and_named(messy_run):
    doc, out, foreign_uid, foreign_inst, _, _ = messy_run
    assert foreign_uid not in {s["sop_instance_uid"] for s in doc["slices"]}
    named = [w for w in doc["warnings"] if foreign_uid in w]
    assert len(named) == 1
    assert named[0].startswith(f"slice {foreign_uid} (instance {foreign_inst}) excluded: it belongs to another patient")
    assert doc["levels"] and all(foreign_uid not in json.dumps(lv) for lv in doc["levels"])
    for f in out.iterdir():  # the other patient's data reaches no output
        data = f.read_bytes()
        for value in FOREIGN.values():
            assert value.encode() not in data, f.name


def test_cli_duplicate_positions_keep_the_later_acquisition(messy_run):
    doc, out, _, _, originals, repeats = messy_run
    measured = [s["sop_instance_uid"] for s in doc["slices"]]
    assert sorted(measured) == sorted(repeats)  # one slice per position: the second acquisition
    dup = [w for w in doc["warnings"] if "same position as" in w]
    assert len(dup) == 5 and all(any(u in w for u in originals) for w in dup)
    assert (out / "seg.dcm").is_file() and (out / "sr.dcm").is_file()
    seg = pydicom.dcmread(out / "seg.dcm")
    refs = {r.ReferencedSOPInstanceUID for s in seg.ReferencedSeriesSequence for r in s.ReferencedInstanceSequence}
    assert refs.isdisjoint(originals)


# --------------------------------------------------------------- exit 2: spacing


def test_cli_pixel_spacing_ten_times_too_large_is_refused(clean_cd, tmp_path):
    cd = copy_cd(clean_cd, tmp_path)
    spacing = [float(v) for v in pydicom.dcmread(axial_files(cd)[0], stop_before_pixels=True).PixelSpacing]
    edit_axials(cd, lambda ds: setattr(ds, "PixelSpacing", [10 * v for v in spacing]))
    res = run_cli("measure", str(cd), cwd=tmp_path)
    line = assert_one_error_line(
        res, f"PixelSpacing {10 * spacing[0]:g} × {10 * spacing[1]:g} mm is outside the plausible range "
             "for lumbar MRI (0.2–2 mm); its slices are excluded from measurement")
    assert "axial T2 series" in line and "no axial T2 series in this study" not in line


@pytest.mark.parametrize("value, word", [(None, "missing"), ([0, 0], "zero"), ([-0.625, -0.625], "negative")])
def test_cli_missing_zero_or_negative_pixel_spacing_names_the_spacing(clean_cd, tmp_path, value, word):
    cd = copy_cd(clean_cd, tmp_path)

    def edit(ds):
        if value is None:
            del ds.PixelSpacing
        else:
            ds.PixelSpacing = value

    edit_axials(cd, edit)
    res = run_cli("measure", str(cd), cwd=tmp_path)
    line = assert_one_error_line(res, f"has no usable PixelSpacing ({word}")
    assert "axial T2 series" in line and "never assumes a pixel size" in line
    assert "no axial T2 series in this study" not in line


# --------------------------------------------------------------- exit 2: zip bombs


def test_cli_zip_bomb_says_it_expands_beyond_the_limit(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("IM0001", "w") as f:
            for _ in range(40):
                f.write(b"\0" * 2**20)
    res = run_cli("measure", str(bomb), cwd=tmp_path)
    line = assert_one_error_line(res, "expand beyond the limit")
    assert "200x its compressed size" in line and str(tmp_path) not in line


def test_cli_zip_declaring_more_than_4_gib_is_refused_naming_the_limit(clean_cd, tmp_path):
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for i, p in enumerate(axial_files(clean_cd)[:3]):
            zf.write(p, f"IM{i}")
    declare_sizes(archive, 1536 * 1024**2)
    res = run_cli("measure", str(archive), cwd=tmp_path)
    assert_one_error_line(res, "zip archive expands to more than 4 GiB (the limit")
