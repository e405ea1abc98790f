"""Input sanity through the library (issue 16): foreign-patient slices, pixel
spacing out of range or missing, duplicate slice positions, zip bombs.

Real DICOM files written with pydicom; the CLI side is test_io_sanity_cli.py.
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import pytest
from tests.io.dicom_factory import PHI, SAGITTAL, save, stack_of
from pydicom.uid import generate_uid

from mri_measure.errors import InputError, NoAxialT2Error, NoDicomError
from mri_measure.io import discover, load_stack
from mri_measure.pipeline import choose_stacks

OTHER = {"PatientName": "ROE^RICHARD", "PatientID": "PID112233", "PatientBirthDate": "19611003"}


def _study(n_axial: int = 6, **axial_kw):
    study, ax, sag = generate_uid(), generate_uid(), generate_uid()
    axial = stack_of(n_axial, study_uid=study, series_uid=ax, step=4.0, series_number=3, **axial_kw)
    sagittal = stack_of(5, study_uid=study, series_uid=sag, orientation=SAGITTAL, step=3.0, series_number=2,
                        description="T2 TSE SAG", rows=48, cols=32, spacing=(1.0, 1.0), seed=100)
    return axial, sagittal


def _write(root: Path, datasets) -> Path:
    for i, ds in enumerate(datasets):
        save(ds, root / f"IM{i:04d}")
    return root


def _axial_stacks(d):
    return [s for st in d.studies for s in st.stacks if s.role == "axial_t2"]


def _all_keys(d) -> set[str]:
    return {x.key for st in d.studies for s in st.stacks for x in s.slices}


def _no_phi(texts) -> None:
    for text in texts:
        for value in list(PHI.values()) + list(OTHER.values()):
            assert value not in text and value.split("^")[0] not in text, text


# --------------------------------------------------------------- another patient


def test_slice_of_another_patient_is_excluded_and_named(tmp_path):
    axial, sagittal = _study()
    foreign = axial[3]
    for k, v in OTHER.items():
        setattr(foreign, k, v)
    d = discover(_write(tmp_path, axial + sagittal))
    (stack,) = _axial_stacks(d)
    assert stack.n_slices == 5 and foreign.SOPInstanceUID not in _all_keys(d)
    (w,) = [w for w in d.warnings if foreign.SOPInstanceUID in w]
    assert w.startswith(f"slice {foreign.SOPInstanceUID} (instance {foreign.InstanceNumber}) excluded: ")
    assert "another patient" in w
    _no_phi(d.warnings)
    choice = choose_stacks(d.studies[0])
    assert all(foreign.SOPInstanceUID not in {x.key for x in s.slices} for s in choice.axial)


def test_identity_compared_normalised_and_missing_everywhere_is_consistent(tmp_path):
    axial, sagittal = _study()
    axial[1].PatientName = "doe^john^^"  # same person, other spelling of the PN
    axial[2].PatientID = " PID778899 "
    for ds in axial + sagittal:
        (ds.PatientName, ds.PatientID, ds.PatientBirthDate) = ("", "", "")  # anonymised CD
    anon = discover(_write(tmp_path / "anon", axial + sagittal))
    assert _axial_stacks(anon)[0].n_slices == 6
    assert not any("excluded" in w for w in anon.warnings)

    axial, sagittal = _study()
    axial[1].PatientName = "doe^john^^"
    axial[2].PatientID = " PID778899 "
    spelled = discover(_write(tmp_path / "spelled", axial + sagittal))
    assert _axial_stacks(spelled)[0].n_slices == 6 and not spelled.warnings


def test_identity_missing_on_one_slice_only_is_excluded(tmp_path):
    axial, sagittal = _study()
    del axial[0].PatientID, axial[0].PatientName, axial[0].PatientBirthDate
    d = discover(_write(tmp_path, axial + sagittal))
    assert _axial_stacks(d)[0].n_slices == 5
    assert any(axial[0].SOPInstanceUID in w and "missing only on it" in w for w in d.warnings)


def test_slice_of_another_study_or_frame_of_reference_in_a_series_is_excluded(tmp_path):
    axial, sagittal = _study()
    axial[1].StudyInstanceUID = generate_uid()
    axial[4].FrameOfReferenceUID = generate_uid()
    d = discover(_write(tmp_path, axial + sagittal))
    assert len(d.studies) == 1 and _axial_stacks(d)[0].n_slices == 4
    assert any(axial[1].SOPInstanceUID in w and "StudyInstanceUID differs" in w for w in d.warnings)
    assert any(axial[4].SOPInstanceUID in w and "FrameOfReferenceUID differs" in w for w in d.warnings)


def test_study_mixing_patients_without_majority_is_refused(tmp_path):
    axial, sagittal = _study()
    for ds in axial[:3] + sagittal[:3]:
        for k, v in OTHER.items():
            setattr(ds, k, v)
    d = discover(_write(tmp_path, axial + sagittal))
    assert all(s.unusable and "2 different patients" in s.unusable for s in d.studies[0].stacks)
    with pytest.raises(NoAxialT2Error, match="belong to 2 different patients"):
        choose_stacks(d.studies[0])
    _no_phi(d.warnings + tuple(s.unusable for s in d.studies[0].stacks))


# --------------------------------------------------------------- implausible pixel spacing


def test_pixel_spacing_ten_times_too_large_is_not_measured(tmp_path):
    axial, sagittal = _study(spacing=(7.0, 7.0))
    d = discover(_write(tmp_path, axial + sagittal))
    (stack,) = _axial_stacks(d)
    expected = ("axial T2 series 3: PixelSpacing 7 × 7 mm is outside the plausible range for lumbar MRI "
                "(0.2–2 mm); its slices are excluded from measurement")
    assert stack.unusable.startswith(expected) and expected in stack.problems[-1]
    with pytest.raises(NoAxialT2Error) as exc:
        choose_stacks(d.studies[0])
    assert str(exc.value).startswith(expected) and "\n" not in str(exc.value)
    with pytest.raises(InputError, match="outside the plausible range"):
        load_stack(stack)  # never loaded, whoever asks


def test_field_of_view_too_large_is_not_measured(tmp_path):
    axial, sagittal = _study(spacing=(1.9, 1.9), rows=300, cols=300)
    d = discover(_write(tmp_path, axial + sagittal))
    assert "field of view 570 × 570 mm" in _axial_stacks(d)[0].unusable


def test_implausible_sagittal_is_dropped_with_warning_axials_still_measured(tmp_path):
    axial, sagittal = _study()
    for ds in sagittal:
        ds.PixelSpacing = [10.0, 10.0]
    d = discover(_write(tmp_path, axial + sagittal))
    choice = choose_stacks(d.studies[0])
    assert choice.sagittal is None and choice.axial[0].n_slices == 6
    assert any(w.startswith("sagittal T2 series 2: PixelSpacing 10 × 10 mm is outside") for w in choice.warnings)


# --------------------------------------------------------------- missing / zero / negative spacing


@pytest.mark.parametrize("spacing, word", [(None, "missing"), ([0.0, 0.0], "zero"), ([-0.7, -0.7], "negative")])
def test_missing_zero_or_negative_pixel_spacing_is_named(tmp_path, spacing, word):
    axial, sagittal = _study()
    for ds in axial:
        if spacing is None:
            del ds.PixelSpacing
        else:
            ds.PixelSpacing = spacing
    d = discover(_write(tmp_path, axial + sagittal))
    (stack,) = _axial_stacks(d)
    assert stack.n_slices == 6 and stack.unusable
    with pytest.raises(NoAxialT2Error) as exc:
        choose_stacks(d.studies[0])
    msg = str(exc.value)
    assert msg.startswith(f"axial T2 series 3 has no usable PixelSpacing ({word}")
    assert "never assumes a pixel size" in msg and "no axial T2 series in this study" not in msg
    with pytest.raises(InputError, match="no usable PixelSpacing"):
        load_stack(stack)


def test_missing_spacing_on_some_slices_only_leaves_them_out(tmp_path):
    axial, sagittal = _study()
    del axial[0].PixelSpacing
    axial[1].PixelSpacing = [0.0, 0.0]
    d = discover(_write(tmp_path, axial + sagittal))
    (stack,) = _axial_stacks(d)
    assert stack.n_slices == 4 and stack.unusable is None
    assert any(w.startswith("series 3: 2 image(s) lack PixelSpacing") for w in d.warnings)


# --------------------------------------------------------------- duplicate positions


def test_duplicate_positions_keep_the_latest_acquisition(tmp_path):
    axial, sagittal = _study()
    repeat = stack_of(6, study_uid=axial[0].StudyInstanceUID, series_uid=axial[0].SeriesInstanceUID,
                      step=4.0, series_number=3, first_instance=101, seed=50)
    for ds in axial:
        ds.AcquisitionNumber = 2  # the later acquisition has the *lower* InstanceNumbers here
    for ds in repeat:
        ds.AcquisitionNumber = 1
    d = discover(_write(tmp_path, axial + repeat + sagittal))
    (stack,) = _axial_stacks(d)
    assert [x.key for x in stack.slices] == [ds.SOPInstanceUID for ds in axial]
    assert stack.problems[0].startswith("duplicate positions: 6 slice(s)")
    dup = [w for w in d.warnings if "same position as" in w]
    assert len(dup) == 6 and all(any(r.SOPInstanceUID in w for r in repeat) for w in dup)
    assert dup[0].startswith(f"slice {repeat[0].SOPInstanceUID} (instance 101) excluded: same position as "
                             f"slice {axial[0].SOPInstanceUID} (instance 1) in stack 3.1")
    loaded = load_stack(stack)
    assert loaded.pixels.shape[0] == 6 and not loaded.excluded


def test_duplicate_positions_same_acquisition_keep_highest_instance_number(tmp_path):
    axial, sagittal = _study()
    repeat = stack_of(6, study_uid=axial[0].StudyInstanceUID, series_uid=axial[0].SeriesInstanceUID,
                      step=4.0, series_number=3, first_instance=101, seed=50)
    root = _write(tmp_path, repeat + axial + sagittal)
    first = discover(root)
    (stack,) = _axial_stacks(first)
    assert [x.key for x in stack.slices] == [ds.SOPInstanceUID for ds in repeat]
    assert _axial_stacks(discover(root))[0].slices == stack.slices  # deterministic


def test_many_duplicates_are_counted_not_all_named(tmp_path):
    axial, sagittal = _study(n_axial=15)
    repeat = stack_of(15, study_uid=axial[0].StudyInstanceUID, series_uid=axial[0].SeriesInstanceUID,
                      step=4.0, series_number=3, first_instance=101, seed=50)
    d = discover(_write(tmp_path, axial + repeat + sagittal))
    assert _axial_stacks(d)[0].n_slices == 15
    assert sum(w.startswith("slice ") and "same position as" in w for w in d.warnings) == 10
    assert "5 more slice(s) of stack 3.1 excluded: same position as another slice (duplicates)" in d.warnings


# --------------------------------------------------------------- zip bombs


def test_zip_bomb_member_message_says_it_expands_beyond_the_limit(tmp_path):
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("IM0001", "w") as f:
            for _ in range(40):
                f.write(b"\0" * 2**20)  # 40 MiB of zeros, ~1000x
    with pytest.raises(NoDicomError) as exc:
        discover(bomb)
    msg = str(exc.value)
    assert "1 member(s) expand beyond the limit" in msg and "200x its compressed size" in msg
    assert "2 GiB" in msg and "zip bomb" in msg and str(tmp_path) not in msg


def declare_sizes(archive: Path, size: int) -> None:
    """Rewrite the uncompressed size every central directory entry declares."""
    data = bytearray(archive.read_bytes())
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) >= 0:
        struct.pack_into("<I", data, at + 24, size)
        at += 4
    archive.write_bytes(bytes(data))


def make_oversized_zip(archive: Path, good: Path) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for i in range(3):
            zf.write(good, f"IM{i}")
    declare_sizes(archive, 1536 * 1024**2)  # 3 x 1.5 GiB = 4.5 GiB declared
    return archive


def test_zip_archive_declaring_more_than_the_limit_is_refused_with_the_limit(tmp_path):
    axial, _ = _study(n_axial=1)
    archive = make_oversized_zip(tmp_path / "big.zip", save(axial[0], tmp_path / "one.dcm"))
    assert sum(i.file_size for i in zipfile.ZipFile(archive).infolist()) == 3 * 1536 * 1024**2
    with pytest.raises(InputError) as exc:
        discover(archive)
    assert str(exc.value).startswith("zip archive expands to more than 4 GiB (the limit; it declares 4.5 GiB)")
    assert "unpack it yourself and point mri-measure at the folder" in str(exc.value)
