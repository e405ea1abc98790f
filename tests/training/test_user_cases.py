"""`mri-measure train --user-cases`: NIfTI, PNG and DICOM SEG cases from real files.

Geometry is checked two independent ways: SimpleITK's own index→patient
mapping of the written file must agree with the PixelSpacing/IOP the reader
derives, and the training targets (``make_training_pair``'s ``seg_y``, which
canonicalises orientation and keeps LF left/right in patient terms) of a case
stored transposed or mirrored must equal those of the original slice.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from mri_measure.errors import InputError
from mri_measure.training.data import UserCase, load_user_cases, make_training_pair
from mri_measure.synth import sample_axial_2d

SPACING = (0.7, 0.6)  # (row, col), anisotropic so a row/column swap shows
NAME = "Doe_Jane"  # a file stem that must never appear in a message


def _sample(seed: int = 1, randomise: bool = True):
    s = sample_axial_2d(np.random.default_rng(seed), size_px=(64, 64), spacing_mm=SPACING,
                        randomise=randomise)
    assert {1, 2, 3} <= set(np.unique(s.labels).tolist())  # precondition: all structures present
    return s


def _as_case(s) -> UserCase:
    """The original slice as a labels-only case (user cases carry no partial-volume coverage)."""
    return UserCase(s.image, s.labels, tuple(s.spacing_mm), tuple(s.orientation))


def _seg_y(case, seed: int = 7) -> np.ndarray:
    return make_training_pair(case, np.random.default_rng(seed))["seg_y"]


def _variant(s, how: str):
    """(image, labels, spacing, iop) of the same slice stored another way.

    "transpose": array rows become columns, so the IOP's two vectors swap;
    "mirror": columns reversed, so the column direction is negated."""
    a, b = tuple(s.orientation[:3]), tuple(s.orientation[3:])
    if how == "transpose":
        return s.image.T, s.labels.T, (SPACING[1], SPACING[0]), b + a
    if how == "mirror":
        return s.image[:, ::-1], s.labels[:, ::-1], SPACING, tuple(-v for v in a) + b
    raise AssertionError(how)


def _sitk_volume(arr3: np.ndarray, iop, spacing_rc, origin=(10.0, -20.0, 30.0), gap=4.0):
    im = sitk.GetImageFromArray(np.ascontiguousarray(arr3))  # (z, y, x)
    a, b = np.asarray(iop[:3], float), np.asarray(iop[3:], float)
    n = np.cross(a, b)
    im.SetDirection(tuple(np.column_stack([a, b, n / np.linalg.norm(n)]).ravel()))
    im.SetSpacing((float(spacing_rc[1]), float(spacing_rc[0]), gap))
    im.SetOrigin(origin)
    return im


def _message(excinfo, tmp_path) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg and str(tmp_path) not in msg and "Doe" not in msg and "Jane" not in msg
    return msg


# ------------------------------------------------------------------ NIfTI


@pytest.mark.parametrize("how", ["transpose", "mirror"])
def test_nifti_3d_volume_geometry_and_training_targets(tmp_path, how):
    s = _sample()
    img, lab, sp, iop = _variant(s, how)
    empty = np.zeros_like(lab)
    vol = _sitk_volume(np.stack([img, img, img]).astype(np.float32), iop, sp)
    lvol = _sitk_volume(np.stack([empty, lab, lab]).astype(np.uint8), iop, sp)
    lvol.CopyInformation(vol)
    sitk.WriteImage(vol, str(tmp_path / f"{NAME}.nii.gz"))
    sitk.WriteImage(lvol, str(tmp_path / f"{NAME}_labels.nii.gz"))

    cases = load_user_cases(tmp_path)
    assert len(cases) == 2  # the unlabelled first slice is not a case
    c = cases[0]
    np.testing.assert_array_equal(c.image, img)
    np.testing.assert_array_equal(c.labels, lab)
    assert c.spacing_mm == pytest.approx(sp, abs=1e-6)
    assert c.orientation == pytest.approx(iop, abs=1e-5)

    # independent oracle: SimpleITK's mapping of the file read back, slice k = 1
    back = sitk.ReadImage(str(tmp_path / f"{NAME}.nii.gz"))
    origin = np.asarray(back.TransformIndexToPhysicalPoint((0, 0, 1)))
    r_dir, c_dir = np.asarray(c.orientation[:3]), np.asarray(c.orientation[3:])
    for row, col in ((0, 0), (5, 40), (63, 2)):
        expect = np.asarray(back.TransformIndexToPhysicalPoint((col, row, 1)))
        got = origin + r_dir * col * c.spacing_mm[1] + c_dir * row * c.spacing_mm[0]
        np.testing.assert_allclose(got, expect, atol=1e-3)
    # patient-left LF (label 2) lies at larger LPS x than patient-right LF (label 3)
    x = {k: np.mean([back.TransformIndexToPhysicalPoint((int(cc), int(rr), 1))[0]
                     for rr, cc in zip(*np.nonzero(c.labels == k))]) for k in (2, 3)}
    assert x[2] > x[3] + 3

    # same training targets as the slice stored the original way
    np.testing.assert_allclose(_seg_y(c), _seg_y(_as_case(s)), atol=1e-4)
    np.testing.assert_allclose(make_training_pair(c, np.random.default_rng(3))["seg_x"],
                               make_training_pair(_as_case(s), np.random.default_rng(3))["seg_x"], atol=1e-4)


def test_nifti_2d_rotated_slice(tmp_path):
    s = _sample(seed=3)
    img, lab, sp, iop = _variant(s, "transpose")
    # a 2-D image has an in-plane direction only: drop the tilt, keep the in-plane rotation
    a = np.asarray(iop[:2]) / np.linalg.norm(iop[:2])
    b = np.array([-a[1], a[0]]) * np.sign(np.dot([-a[1], a[0]], iop[3:5]))
    im = sitk.GetImageFromArray(img.astype(np.float32))
    im.SetDirection((a[0], b[0], a[1], b[1]))
    im.SetSpacing((sp[1], sp[0]))
    li = sitk.GetImageFromArray(lab.astype(np.int16))
    li.CopyInformation(im)
    sitk.WriteImage(im, str(tmp_path / "slice.nii"))
    sitk.WriteImage(li, str(tmp_path / "slice_labels.nii.gz"))  # extensions may differ

    (c,) = load_user_cases(tmp_path)
    assert c.orientation == pytest.approx((a[0], a[1], 0, b[0], b[1], 0), abs=1e-5)
    assert c.spacing_mm == pytest.approx(sp, abs=1e-6)
    assert c.labels.dtype == np.uint8 and set(np.unique(c.labels)) <= {0, 1, 2, 3}
    np.testing.assert_allclose(_seg_y(c), _seg_y(_as_case(s)), atol=1e-4)


def _nifti_pair(d: Path, image, labels=None) -> Path:
    """Write ``NAME.nii.gz`` (an sitk image, or raw bytes) and, if given, ``NAME_labels.nii.gz`` into ``d``."""
    d.mkdir()
    if isinstance(image, bytes):
        (d / f"{NAME}.nii.gz").write_bytes(image)
    else:
        sitk.WriteImage(image, str(d / f"{NAME}.nii.gz"))
    if labels is not None:
        sitk.WriteImage(labels, str(d / f"{NAME}_labels.nii.gz"))
    return d


def test_nifti_errors(tmp_path):
    s = _sample()
    vol = _sitk_volume(s.image[None].astype(np.float32), s.orientation, SPACING)
    lab = _sitk_volume(s.labels[None].astype(np.uint8), s.orientation, SPACING)

    wrong_spacing = sitk.Image(lab)
    wrong_spacing.SetSpacing((0.5, 0.5, 4.0))
    with pytest.raises(InputError) as e:
        load_user_cases(_nifti_pair(tmp_path / "geometry", vol, wrong_spacing))
    assert "user case #1 (NIfTI)" in _message(e, tmp_path) and "differs" in str(e.value)

    short = _sitk_volume(s.labels[None, :60].astype(np.uint8), s.orientation, SPACING)
    with pytest.raises(InputError, match="size differs") as e:
        load_user_cases(_nifti_pair(tmp_path / "size", vol, short))
    _message(e, tmp_path)

    sag = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)  # columns anterior→posterior, rows head→foot
    stack = np.stack([s.image] * 3).astype(np.float32)
    with pytest.raises(InputError, match="sagittal, not axial") as e:
        load_user_cases(_nifti_pair(tmp_path / "sagittal", _sitk_volume(stack, sag, SPACING),
                                    _sitk_volume(np.stack([s.labels] * 3).astype(np.uint8), sag, SPACING)))
    _message(e, tmp_path)

    with pytest.raises(InputError, match=r"#1 \(NIfTI\): the image cannot be read") as e:
        load_user_cases(_nifti_pair(tmp_path / "garbage", b"\x1f\x8b not really gzip" * 20, lab))
    _message(e, tmp_path)

    with pytest.raises(InputError, match="no label image") as e:
        load_user_cases(_nifti_pair(tmp_path / "unpaired", vol))
    _message(e, tmp_path)

    fl = sitk.Cast(lab, sitk.sitkFloat32) * 0.5
    fl.CopyInformation(vol)
    with pytest.raises(InputError, match="non-integer") as e:
        load_user_cases(_nifti_pair(tmp_path / "floatlabels", vol, fl))
    _message(e, tmp_path)


# ------------------------------------------------------------------ PNG


def test_png_16bit_with_orientation_and_8bit_rgb_with_default(tmp_path):
    s = _sample()
    img, lab, sp, iop = _variant(s, "transpose")
    lo, hi = float(img.min()), float(img.max())
    img16 = np.round((img - lo) / (hi - lo) * 65535).astype(np.uint16)
    Image.fromarray(img16).save(tmp_path / "a.png")
    Image.fromarray(lab.astype(np.uint8)).save(tmp_path / "a_labels.png")
    (tmp_path / "a.json").write_text(json.dumps({"spacing_mm": list(sp), "orientation": list(iop)}))

    s2 = _sample(seed=0, randomise=False)
    grey = np.round((s2.image - s2.image.min()) / np.ptp(s2.image) * 255).astype(np.uint8)
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "b.png")  # RGB
    pal = Image.fromarray(s2.labels.astype(np.uint8)).convert("P")  # palette label image
    pal.save(tmp_path / "b_labels.png")
    (tmp_path / "b.json").write_text(json.dumps({"spacing_mm": list(SPACING)}))

    a, b = load_user_cases(tmp_path)
    np.testing.assert_array_equal(a.image, img16.astype(np.float32))
    np.testing.assert_array_equal(a.labels, lab)
    assert a.spacing_mm == pytest.approx(sp) and a.orientation == pytest.approx(iop)
    np.testing.assert_allclose(_seg_y(a), _seg_y(_as_case(s)), atol=1e-5)

    np.testing.assert_allclose(b.image, grey.astype(np.float32), atol=0.02)  # luminance of grey RGB
    assert b.orientation == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)  # documented default
    np.testing.assert_array_equal(b.labels, np.where(s2.labels <= 3, s2.labels, 0))
    np.testing.assert_allclose(_seg_y(b), _seg_y(_as_case(s2)), atol=1e-5)


def test_png_errors(tmp_path):
    s = _sample()

    def pair(d: Path, labels=s.labels, mode="L"):
        d.mkdir()
        Image.fromarray(s.image.astype(np.uint8)).save(d / f"{NAME}.png")
        Image.fromarray(labels.astype(np.uint8)).convert(mode).save(d / f"{NAME}_labels.png")
        return d

    d = pair(tmp_path / "nosidecar")
    with pytest.raises(InputError, match="no pixel spacing") as e:
        load_user_cases(d)
    assert "spacing_mm" in _message(e, tmp_path)

    (d / f"{NAME}.json").write_text(json.dumps({"orientation": [1, 0, 0, 0, 1, 0]}))
    with pytest.raises(InputError, match="has no spacing_mm") as e:
        load_user_cases(d)
    _message(e, tmp_path)

    (d / f"{NAME}.json").write_text(json.dumps({"spacing_mm": [0.7, 0]}))
    with pytest.raises(InputError, match="2 positive numbers"):
        load_user_cases(d)

    (d / f"{NAME}.json").write_text(json.dumps({"spacing_mm": [0.7, 0.7], "orientation": [0, 1, 0, 0, 0, -1]}))
    with pytest.raises(InputError, match="sagittal, not axial"):
        load_user_cases(d)

    (d / f"{NAME}.json").write_text(json.dumps({"spacing_mm": [0.7, 0.7]}))
    assert len(load_user_cases(d)) == 1

    d = pair(tmp_path / "rgblabels", mode="RGB")
    (d / f"{NAME}.json").write_text(json.dumps({"spacing_mm": [0.7, 0.7]}))
    with pytest.raises(InputError, match="not a single channel") as e:
        load_user_cases(d)
    _message(e, tmp_path)

    d = pair(tmp_path / "empty", labels=np.zeros_like(s.labels))  # no labelled slice at all
    (d / f"{NAME}.json").write_text(json.dumps({"spacing_mm": [0.7, 0.7]}))
    with pytest.raises(InputError, match="no labelled cases"):
        load_user_cases(d)


def test_mixed_folder_and_empty_folder(tmp_path):
    with pytest.raises(InputError, match="no labelled cases"):
        load_user_cases(tmp_path)
    s = _sample()
    np.savez(tmp_path / "a.npz", image=s.image, labels=s.labels, spacing_mm=s.spacing_mm,
             orientation=s.orientation)
    sub = tmp_path / "nested"
    sub.mkdir()
    vol = _sitk_volume(s.image[None].astype(np.float32), s.orientation, SPACING)
    sitk.WriteImage(vol, str(sub / "b.nii.gz"))
    sitk.WriteImage(_sitk_volume(s.labels[None].astype(np.uint8), s.orientation, SPACING),
                    str(sub / "b_labels.nii.gz"))
    Image.fromarray(s.image.astype(np.uint8)).save(tmp_path / "c.png")
    Image.fromarray(s.labels.astype(np.uint8)).save(tmp_path / "c_labels.png")
    (tmp_path / "c.json").write_text(json.dumps({"spacing_mm": list(SPACING), "orientation": list(s.orientation)}))
    (tmp_path / "notes.txt").write_text("clutter is ignored")
    (tmp_path / "._c.png").write_bytes(b"AppleDouble clutter")  # hidden: skipped
    cases = load_user_cases(tmp_path)
    assert len(cases) == 3
    ys = [_seg_y(c) for c in cases]
    for y in ys[1:]:
        np.testing.assert_allclose(y, ys[0], atol=1e-4)  # same slice, three formats


# ------------------------------------------------------------------ DICOM SEG


@pytest.fixture(scope="module")
def seg_case(tmp_path_factory):
    """A synthetic CD (one block of 5 axial slices) measured with ground-truth
    segmentation, its SEG written by the project's writer; user-cases folder
    = ``cases/patient/{CD, out/seg.dcm}``."""
    from mri_measure.pipeline import analyse_study
    from mri_measure.report.seg import write_seg
    from mri_measure.testing.truth import TruthSegmenter
    from mri_measure.synth import write_cd

    gen = tmp_path_factory.mktemp("gen")
    cd = write_cd(gen, seed=2, levels=("L4-L5",), sagittal=False)
    analysis = analyse_study(cd, segmenter=TruthSegmenter.from_npz(gen / "truth_labels.npz"))
    root = tmp_path_factory.mktemp("cases")
    shutil.copytree(cd, root / "patient" / "CD")
    (root / "patient" / "out").mkdir()
    seg_paths = write_seg(analysis, root / "patient" / "out" / "seg.dcm")
    assert len(seg_paths) == 1
    with np.load(gen / "truth_labels.npz") as z:
        truth = {k: np.where(z[k] <= 3, z[k], 0).astype(np.uint8) for k in z.files}
    return root, seg_paths[0], analysis, truth


def test_seg_cases_match_truth_and_source_images(seg_case):
    root, _, analysis, truth = seg_case
    cases = load_user_cases(root)
    loaded = analysis.axial[0].loaded
    by_labels = {truth[i.key].tobytes(): (loaded.pixels[k], i) for k, i in enumerate(loaded.slices)}
    expected = [k for k, v in truth.items() if v.any()]
    assert len(expected) >= 3 and len(cases) == len(expected)
    seen = set()
    for c in cases:
        img, info = by_labels[c.labels.tobytes()]  # labels equal one slice's truth exactly
        seen.add(info.key)
        np.testing.assert_array_equal(c.image, img)
        assert c.spacing_mm == pytest.approx(info.spacing_mm)
        assert c.orientation == pytest.approx(info.orientation)
        assert c.labels.dtype == np.uint8
    assert seen == set(expected)
    assert {2, 3} <= set(np.unique(np.stack([c.labels for c in cases])).tolist())


def test_seg_without_its_images_and_unreadable_seg(seg_case, tmp_path):
    _, seg_path, _, _ = seg_case
    (tmp_path / "only").mkdir()
    shutil.copy(seg_path, tmp_path / "only" / f"{NAME}.dcm")
    with pytest.raises(InputError, match=r"#1 \(DICOM SEG\): 5 of the 5 image\(s\) it segments are not") as e:
        load_user_cases(tmp_path / "only")
    _message(e, tmp_path)

    (tmp_path / "broken").mkdir()
    data = seg_path.read_bytes()
    (tmp_path / "broken" / f"{NAME}.dcm").write_bytes(data[: len(data) // 3])  # truncated
    with pytest.raises(InputError, match="cannot be read as a DICOM Segmentation") as e:
        load_user_cases(tmp_path / "broken")
    _message(e, tmp_path)


def test_seg_on_multiframe_source_maps_segments_by_code_not_order(seg_case, tmp_path):
    """A SEG made by another tool: source is one enhanced multi-frame MR file,
    segments numbered LF right, dural sac, LF left, plus an unrelated segment."""
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    root, _, analysis, truth = seg_case
    loaded = analysis.axial[0].loaded
    dss = [pydicom.dcmread(i.source) for i in loaded.slices]  # the generated CD's files
    mf = hd.legacy.LegacyConvertedEnhancedMRImage(
        legacy_datasets=dss, series_instance_uid=hd.UID(), series_number=7,
        sop_instance_uid=hd.UID(), instance_number=1)
    case = tmp_path / "mf"
    case.mkdir()
    mf.save_as(case / "MF0001", enforce_file_format=True)
    mf = pydicom.dcmread(case / "MF0001")
    # frame order of the multi-frame file (by position) → truth labels of that slice
    pos = {tuple(np.round(i.position_mm, 3)): truth[i.key] for i in loaded.slices}
    frame_labels = [pos[tuple(np.round(np.asarray(f.PlanePositionSequence[0].ImagePositionPatient, float), 3))]
                    for f in mf.PerFrameFunctionalGroupsSequence]
    stack = np.stack(frame_labels)

    algo = hd.AlgorithmIdentificationSequence(name="other", version="1", family=codes.cid7162.ArtificialIntelligence)

    def desc(number, label, ptype, side=None):
        d = hd.seg.SegmentDescription(
            segment_number=number, segment_label=label,
            segmented_property_category=codes.SCT.AnatomicalStructure, segmented_property_type=ptype,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC, algorithm_identification=algo)
        if side is not None:
            d.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [
                hd.sr.CodedConcept(side.value, side.scheme_designator, side.meaning)]
        return d

    descs = [desc(1, "LF R", codes.SCT.Ligament, codes.SCT.Right), desc(2, "sac", codes.SCT.DuraMater),
             desc(3, "LF L", codes.SCT.Ligament, codes.SCT.Left), desc(4, "disc", codes.SCT.L4L5Disc)]
    masks = np.stack([stack == 3, stack == 1, stack == 2, np.zeros_like(stack, bool)], axis=-1).astype(np.uint8)
    seg = hd.seg.Segmentation(
        source_images=[mf], pixel_array=masks, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descs, series_instance_uid=hd.UID(), series_number=99,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="other", manufacturer_model_name="x",
        software_versions="1", device_serial_number="1")
    seg.save_as(case / "seg_other.dcm", enforce_file_format=True)

    cases = load_user_cases(case)
    expected = [lab for lab in frame_labels if lab.any()]
    assert len(cases) == len(expected)
    for c, lab in zip(cases, expected):
        np.testing.assert_array_equal(c.labels, lab)
        assert c.orientation == pytest.approx(loaded.slices[0].orientation, abs=1e-5)

