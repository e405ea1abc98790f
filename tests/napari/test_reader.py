"""The npe2 reader: sniff, then one image layer per stack in mm (no Qt)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from mri_measure.types import Stack, Study
from napari_mri_measure._reader import get_reader, looks_like_dicom
from napari_mri_measure._layers import stack_geometry


def _first_dicom_file(root: Path) -> Path:
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name.upper() != "DICOMDIR":
            with open(p, "rb") as fh:
                if fh.read(132)[128:] == b"DICM":
                    return p
    raise AssertionError("phantom CD holds no DICOM file")


def test_not_confident_about_non_dicom(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "blob.bin").write_bytes(b"\0" * 1000)
    img = tmp_path / "pic.png"
    img.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 200)
    assert get_reader(str(tmp_path)) is None
    assert get_reader(str(img)) is None
    assert get_reader(str(tmp_path / "missing")) is None
    assert get_reader(str(tmp_path / "empty_dir_does_not_exist")) is None
    (tmp_path / "empty").mkdir()
    assert get_reader(str(tmp_path / "empty")) is None
    assert get_reader([str(img), str(tmp_path / "notes.txt")]) is None


def test_confident_about_cd_root_dicomdir_folder_and_file(phantom_cd, tmp_path):
    assert looks_like_dicom(phantom_cd)
    assert get_reader(str(phantom_cd)) is not None
    dicomdir = next(p for p in phantom_cd.iterdir() if p.name.upper() == "DICOMDIR")
    assert get_reader(str(dicomdir)) is not None
    one = _first_dicom_file(phantom_cd)
    assert get_reader(str(one)) is not None
    assert get_reader([str(one)]) is not None
    # a folder of DICOM files without DICOMDIR, nested one level down
    folder = tmp_path / "copy" / "series"
    folder.mkdir(parents=True)
    shutil.copy(one, folder / "IM0001")
    assert get_reader(str(tmp_path / "copy")) is not None


def test_reads_one_layer_per_stack_with_mm_geometry_and_no_patient_data(phantom_cd, fake_phi):
    from mri_measure.io import discover

    layers = get_reader(str(phantom_cd))(str(phantom_cd))
    found = discover(phantom_cd)
    stacks = [st for study in found.studies for st in study.stacks]
    assert len(layers) == len(stacks) >= 2
    names = [kw["name"] for _, kw, _ in layers]
    assert len(set(names)) == len(names)
    roles = {kw["metadata"]["mri_measure"]["stack"].role for _, kw, _ in layers}
    assert "axial_t2" in roles
    for data, kw, kind in layers:
        assert kind == "image"
        meta = kw["metadata"]["mri_measure"]
        st = meta["stack"]
        assert isinstance(st, Stack) and isinstance(meta["study"], Study)
        assert kw["name"].startswith(f"{st.role} #{st.series_number} block ")
        assert data.shape == (len(meta["slice_keys"]), st.rows, st.columns)
        assert np.isfinite(data).all() and data.std() > 0
        scale, translate = stack_geometry(st, [s for s in st.slices if s.key in meta["slice_keys"]])
        assert kw["scale"] == pytest.approx(scale) and kw["translate"] == pytest.approx(translate)
        assert kw["scale"][1:] == pytest.approx(st.spacing_mm)
        assert 0.2 < kw["scale"][1] < 2.0 and 0.5 < kw["scale"][0] < 10.0
        assert kw["visible"] == (st.plane == "axial")
    # no patient data (the phantom carries distinctive fake PHI) in names or metadata text
    assert pydicom_value(phantom_cd, "PatientName") == fake_phi[0]
    assert pydicom_value(phantom_cd, "PatientID") == fake_phi[1]
    for phi in fake_phi:
        assert all(phi not in n for n in names)


def pydicom_value(cd, tag):
    import pydicom

    return str(pydicom.dcmread(_first_dicom_file(cd), stop_before_pixels=True).get(tag, "") or "")


def test_reads_a_dicomdir_path_and_a_single_file(phantom_cd):
    dicomdir = next(p for p in phantom_cd.iterdir() if p.name.upper() == "DICOMDIR")
    from_root = get_reader(str(phantom_cd))(str(phantom_cd))
    from_dicomdir = get_reader(str(dicomdir))(str(dicomdir))
    assert sorted(kw["name"] for _, kw, _ in from_dicomdir) == sorted(kw["name"] for _, kw, _ in from_root)
    one = _first_dicom_file(phantom_cd)
    layers = get_reader(str(one))(str(one))
    assert len(layers) == 1
    data, kw, kind = layers[0]
    assert kind == "image" and data.shape[0] == 1 and data.ndim == 3
    assert kw["scale"][1:] == pytest.approx(kw["metadata"]["mri_measure"]["stack"].spacing_mm)
