"""The synthetic patient CD: real DICOM files, DICOMDIR, geometry, truth, PHI."""

import json
import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.fileset import FileSet

from mri_measure.cli import main
from mri_measure.synth import write_cd

FILE_ID = re.compile(r"^[A-Z0-9_]{1,8}$")
FAKE_PHI = {"PatientName": "ZZTESTER^QUENTIN", "PatientID": "PHI-998877", "PatientBirthDate": "19450817"}


@pytest.fixture(scope="module")
def cd(tmp_path_factory):
    out = tmp_path_factory.mktemp("cd")
    path = write_cd(out, seed=5, stenosis="moderate", phi=FAKE_PHI)
    return out, path


def _files(cd_path: Path):
    return sorted(p for p in cd_path.rglob("*") if p.is_file())


def _pixel_to_patient(ds, rows, cols):
    o = np.array(ds.ImageOrientationPatient, float)
    ipp = np.array(ds.ImagePositionPatient, float)
    dr, dc = (float(x) for x in ds.PixelSpacing)
    return ipp + np.outer(cols * dc, o[:3]) + np.outer(rows * dr, o[3:])


def test_every_file_is_valid_dicom_with_conformant_ids(cd):
    out, path = cd
    files = _files(path)
    assert path == out / "CD" and (path / "DICOMDIR").is_file()
    assert len(files) == 31  # 15 sagittal + 15 axial + DICOMDIR
    for f in files:
        rel = f.relative_to(path).parts
        assert all(FILE_ID.match(c) for c in rel), rel
        raw = f.read_bytes()
        assert raw[:128] == b"\0" * 128 and raw[128:132] == b"DICM"
        ds = pydicom.dcmread(f)
        if f.name == "DICOMDIR":
            continue
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4" and ds.Modality == "MR"
        arr = ds.pixel_array
        assert arr.shape == (ds.Rows, ds.Columns) and arr.max() < 2 ** ds.BitsStored
        assert arr.max() > 800  # CSF / fat are bright on T2
        for kw in ("ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing", "SliceThickness",
                   "SpacingBetweenSlices", "RepetitionTime", "EchoTime", "ImageType", "FrameOfReferenceUID"):
            assert kw in ds, kw
    # truth sits beside the CD, never inside it
    assert (out / "truth.json").is_file() and (out / "truth_labels.npz").is_file()
    assert not any(p.suffix in (".json", ".npz") for p in files)


def test_fileset_and_series_geometry(cd):
    out, path = cd
    fs = FileSet(path / "DICOMDIR")
    assert len(fs) == 30
    dss = [inst.load() for inst in fs]
    series = {}
    for ds in dss:
        series.setdefault(ds.SeriesDescription, []).append(ds)
    assert set(series) == {"T2 TSE SAG", "T2 TSE AX"}
    assert len({ds.FrameOfReferenceUID for ds in dss}) == 1
    assert len({ds.StudyInstanceUID for ds in dss}) == 1
    sag = series["T2 TSE SAG"]
    normals = [np.cross(*np.reshape(np.array(d.ImageOrientationPatient, float), (2, 3))) for d in sag]
    assert all(abs(abs(n[0]) - 1) < 1e-6 for n in normals)
    xs = sorted(float(d.ImagePositionPatient[0]) for d in sag)
    assert np.allclose(np.diff(xs), float(sag[0].SpacingBetweenSlices))
    # each axial block is parallel to its disc and its middle slice goes through the disc centre
    truth = json.loads((out / "truth.json").read_text())
    discs = {d["level"]: d for d in truth["discs"]}
    by_level = {}
    for ds in series["T2 TSE AX"]:
        by_level.setdefault(truth["slices"][ds.SOPInstanceUID]["level"], []).append(ds)
    assert set(by_level) == {"L3-L4", "L4-L5", "L5-S1"}
    for lev, block in by_level.items():
        n_disc = np.array(discs[lev]["normal"])
        c_disc = np.array(discs[lev]["centre_mm"])
        dist = []
        for ds in block:
            o = np.array(ds.ImageOrientationPatient, float)
            n = np.cross(o[:3], o[3:])
            assert np.degrees(np.arccos(min(1.0, abs(n @ n_disc)))) < 0.5
            dist.append((c_disc - np.array(ds.ImagePositionPatient, float)) @ n)
        assert len(block) == 5 and min(np.abs(dist)) < 0.5
        assert np.allclose(np.diff(sorted(dist)), 4.0, atol=1e-3)


def test_truth_files_match_the_cd(cd):
    out, path = cd
    truth = json.loads((out / "truth.json").read_text())
    assert truth["schema"] == "mri-measure-truth/1" and truth["seed"] == 5 and truth["stenosis"] == "moderate"
    labels = np.load(out / "truth_labels.npz")
    uids = {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID: f
            for f in _files(path) if f.name != "DICOMDIR"}
    assert set(truth["slices"]) == set(uids)
    axial = {k for k, v in truth["slices"].items() if v["series"] == "axial"}
    assert set(labels.files) == axial and len(axial) == 15
    per_level = {}
    for uid in axial:
        t = truth["slices"][uid]
        ds = pydicom.dcmread(uids[uid])
        lab = labels[uid]
        assert lab.dtype == np.uint8 and lab.shape == (ds.Rows, ds.Columns)
        assert set(np.unique(lab)) <= {0, 1, 2, 3}
        px = float(ds.PixelSpacing[0]) * float(ds.PixelSpacing[1])
        assert (lab == 1).sum() * px == pytest.approx(t["canal_area_mm2"], rel=0.05)
        per_level.setdefault(t["level"], []).append(t)
        # patient-left LF (label 2) lies at +x of the sac in patient coordinates
        if (lab == 2).any() and (lab == 3).any():
            pts = {k: _pixel_to_patient(ds, *np.nonzero(lab == k)) for k in (1, 2, 3)}
            assert pts[2][:, 0].mean() > pts[1][:, 0].mean() > pts[3][:, 0].mean()
    canal = {lev: min(t["canal_area_mm2"] for t in ts) for lev, ts in per_level.items()}
    lf = {lev: max(max(t["lf_thickness_left_mm"] or 0, t["lf_thickness_right_mm"] or 0) for t in ts)
          for lev, ts in per_level.items()}
    assert canal["L4-L5"] <= 100 and lf["L4-L5"] >= 2.5
    assert canal["L3-L4"] > 110 and canal["L5-S1"] > 110


def test_phi_goes_only_into_the_dicom(cd):
    out, path = cd
    ds = pydicom.dcmread(next(f for f in _files(path) if f.name != "DICOMDIR"))
    assert str(ds.PatientName) == FAKE_PHI["PatientName"] and ds.PatientID == FAKE_PHI["PatientID"]
    text = (out / "truth.json").read_text()
    for value in FAKE_PHI.values():
        assert value not in text
    assert str(out) not in text


def test_deterministic_bytes_for_a_seed_and_fake_identity(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        write_cd(d, seed=21, levels=["L5-S1"], sagittal=False)
    fa, fb = _files(a / "CD"), _files(b / "CD")
    ds = pydicom.dcmread(next(f for f in fa if f.name != "DICOMDIR"))
    assert str(ds.PatientName) == "PHANTOM^SYNTHETIC" and ds.PatientID == "SYNTH-21"
    assert [p.relative_to(a) for p in fa] == [p.relative_to(b) for p in fb]
    for x, y in zip(fa, fb):
        assert x.read_bytes() == y.read_bytes(), x.name
    assert (a / "truth.json").read_text() == (b / "truth.json").read_text()


@pytest.mark.parametrize("syntax,uid", [
    ("deflate", "1.2.840.10008.1.2.1.99"), ("rle", "1.2.840.10008.1.2.5"),
    ("jpeg-lossless", "1.2.840.10008.1.2.4.70"), ("jpeg-ls", "1.2.840.10008.1.2.4.80"),
    ("jpeg2000", "1.2.840.10008.1.2.4.90"),
])
def test_compressed_cds_decode_to_the_same_pixels(tmp_path_factory, syntax, uid):
    ref_dir = tmp_path_factory.getbasetemp() / "ref_explicit"
    if not ref_dir.exists():
        write_cd(ref_dir, seed=3, levels=["L4-L5"], sagittal=False)
    out = tmp_path_factory.mktemp(syntax)
    write_cd(out, seed=3, levels=["L4-L5"], sagittal=False, compress=syntax)
    ref = {pydicom.dcmread(f).SOPInstanceUID: pydicom.dcmread(f).pixel_array
           for f in _files(ref_dir / "CD") if f.name != "DICOMDIR"}
    files = [f for f in _files(out / "CD") if f.name != "DICOMDIR"]
    assert len(files) == len(ref) == 5
    for f in files:
        assert f.read_bytes()[:132] == b"\0" * 128 + b"DICM"
        ds = pydicom.dcmread(f)
        assert ds.file_meta.TransferSyntaxUID == uid
        np.testing.assert_array_equal(ds.pixel_array, ref[ds.SOPInstanceUID])
    assert len(FileSet(out / "CD" / "DICOMDIR")) == 5


def test_cli_synth_and_refusal_to_overwrite(tmp_path, capsys):
    args = ["synth", "--out", str(tmp_path), "--seed", "4", "--levels", "L4-L5", "--no-sagittal",
            "--axial", "contiguous"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "synthetic CD written" in out and str(tmp_path) not in out
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth["axial"] == "contiguous" and len(truth["slices"]) >= 5
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "empty --out folder" in err[0] and str(tmp_path) not in err[0]
    assert main(["synth", "--out", str(tmp_path / "x"), "--levels", "L9-L10"]) == 2
    assert main(["synth", "--out", str(tmp_path / "y"), "--compress", "zip"]) == 2
    (tmp_path / "afile").write_text("x")
    assert main(["synth", "--out", str(tmp_path / "afile"), "--no-sagittal"]) == 2
    err = capsys.readouterr().err
    assert "not a folder" in err and str(tmp_path) not in err


def test_volume3d_is_one_isotropic_sagittal_3d_series(tmp_path):
    write_cd(tmp_path, seed=6, axial="volume3d")
    files = [f for f in _files(tmp_path / "CD") if f.name != "DICOMDIR"]
    dss = [pydicom.dcmread(f) for f in files]
    assert len({d.SeriesInstanceUID for d in dss}) == 1 and len(dss) >= 50
    d0 = dss[0]
    assert d0.MRAcquisitionType == "3D" and float(d0.SliceThickness) == 1.0
    assert [float(x) for x in d0.PixelSpacing] == [1.0, 1.0]
    xs = sorted(float(d.ImagePositionPatient[0]) for d in dss)
    assert np.allclose(np.diff(xs), 1.0)
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert {v["series"] for v in truth["slices"].values()} == {"sagittal"}
    assert set(truth["disc_truth"]) >= {"L3-L4", "L4-L5", "L5-S1"}
    assert np.load(tmp_path / "truth_labels.npz").files == []
