"""DICOM writers (SEG, SR) against source headers with type 2 / type 3 attributes
removed, as anonymisers and odd archives leave them.

Each case removes one attribute from *every* file of a copy of the sample CD
(never the input itself) and then runs the writers the way ``mri-measure
measure --out`` does. A run may end as exit 0 (every output written, SEG and
SR read back with highdicom) or exit 2 (a typed input error, one line), never
as exit 1 (an untyped exception: a bug).

Type 1 attributes of the MR Image IOD are left alone: without them the files
are not valid MR images and other checks (integrity, discovery) refuse them.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import pydicom
import pytest

from mri_measure.errors import MriMeasureError
from mri_measure.report._common import WRITER_TYPE2

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_dicoms" / "stenosis_L4-L5"

#: Type 1 attributes of the MR Image IOD (Patient, General Study, General Series,
#: Frame of Reference, General Image, Image Plane, Image Pixel, MR Image, SOP Common).
TYPE1 = frozenset({
    "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "Modality",
    "FrameOfReferenceUID", "Rows", "Columns", "PixelData", "BitsAllocated", "BitsStored",
    "HighBit", "PixelRepresentation", "SamplesPerPixel", "PhotometricInterpretation",
    "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "ImageType",
    "ScanningSequence", "SequenceVariant",
})

#: The quick tier: the type 2 attributes highdicom reads from a source image, and
#: a few type 3 ones the writers or the SEG grouping look at.
FAST = tuple(WRITER_TYPE2) + (
    "SpecificCharacterSet", "SeriesNumber", "SeriesDescription", "InstanceNumber",
    "SpacingBetweenSlices", "Manufacturer", "PositionReferenceIndicator", "StudyDescription",
)


def _image_files(cd: Path) -> list[Path]:
    return sorted(p for p in cd.rglob("*") if p.is_file() and p.name != "DICOMDIR")


def removable_attributes() -> list[str]:
    """Every type 2 / type 3 attribute present in the sample CD's image headers."""
    found: set[str] = set()
    for p in _image_files(SAMPLE / "CD"):
        ds = pydicom.dcmread(p, stop_before_pixels=True)
        found |= {e.keyword for e in ds if e.keyword}
    return sorted(found - TYPE1)


def _strip(files: Iterable[Path], keywords: Iterable[str]) -> None:
    keywords = list(keywords)
    for p in files:
        ds = pydicom.dcmread(p)
        for kw in keywords:
            if kw in ds:
                delattr(ds, kw)
        ds.save_as(p)


def exit_code(run: Callable[[], object]) -> tuple[int, str]:
    """The CLI's exit code for ``run``: 0, a typed error's code, or 1 (a bug)."""
    try:
        run()
    except MriMeasureError as exc:
        return exc.exit_code, str(exc)
    except Exception as exc:  # noqa: BLE001 - exactly what the CLI reports as exit 1
        return 1, f"{type(exc).__name__}: {exc}"
    return 0, ""


def check_read_back(out: Path, removed: Iterable[str]) -> None:
    """SEG and SR read back with highdicom; removed type 2 attributes are there,
    empty (never invented)."""
    import highdicom as hd

    segs = sorted(out.glob("seg*.dcm"))
    assert segs, "no seg.dcm written"
    docs = [hd.seg.segread(p) for p in segs]
    assert all(int(d.NumberOfFrames) > 0 for d in docs)
    sr_path = out / "sr.dcm"
    assert sr_path.is_file(), "no sr.dcm written"
    docs.append(hd.sr.srread(sr_path))
    for kw in set(removed) & set(WRITER_TYPE2) - {"SliceThickness"}:
        for d in docs:
            assert kw in d and d[kw].value in (None, ""), (kw, d.get(kw))


@pytest.fixture(scope="module")
def sample_copy(tmp_path_factory) -> Path:
    cd = tmp_path_factory.mktemp("hardening") / "CD"
    shutil.copytree(SAMPLE / "CD", cd)
    return cd


@pytest.fixture(scope="module")
def analysis(sample_copy):
    """The sample CD analysed once (ground-truth segmenter), from the unmodified files."""
    from mri_measure.pipeline import analyse_study
    from mri_measure.testing.truth import TruthSegmenter

    return analyse_study(sample_copy, segmenter=TruthSegmenter.from_npz(SAMPLE / "truth_labels.npz"))


def test_the_attribute_list_is_the_one_the_sample_carries():
    attrs = removable_attributes()
    assert "PatientBirthDate" in attrs and "StudyID" in attrs and "SOPInstanceUID" not in attrs
    assert set(FAST) <= set(attrs) | {"PatientSex"}
    assert len(attrs) >= 35


@pytest.mark.parametrize("keyword", FAST)
def test_writers_survive_one_attribute_removed(keyword, sample_copy, analysis, tmp_path):
    """SEG + SR from the analysed study, with the source headers re-read from
    files that lack ``keyword`` (the axial files: the only ones the writers
    read; the slow test below strips the sagittal ones too)."""
    from mri_measure.report import write_seg, write_sr

    files = sorted({Path(s.source) for sa in analysis.axial for s in sa.loaded.slices})
    assert files and all(p.is_relative_to(sample_copy) for p in files)
    saved = {p: p.read_bytes() for p in files}
    try:
        _strip(files, [keyword])

        def writers() -> None:
            segs = write_seg(analysis, tmp_path / "seg.dcm")
            write_sr(analysis, segs, tmp_path / "sr.dcm")

        code, why = exit_code(writers)
    finally:
        for p, data in saved.items():
            p.write_bytes(data)
    assert code in (0, 2), f"{keyword} removed: exit {code} ({why})"
    if code == 0:
        check_read_back(tmp_path, [keyword])


def test_anonymised_cd_without_birth_date_gives_every_output(tmp_path):
    """The issue's case through the real CLI and model: an anonymised CD with
    the patient module's and study's type 2 attributes removed → exit 0, all
    six outputs, SEG/SR with those attributes present and empty."""
    cd = tmp_path / "CD"
    shutil.copytree(SAMPLE / "CD", cd)
    removed = [kw for kw in WRITER_TYPE2 if kw != "SliceThickness"]
    _strip(_image_files(cd), removed)
    assert "PatientBirthDate" not in pydicom.dcmread(_image_files(cd)[0], stop_before_pixels=True)
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "-m", "mri_measure", "measure", str(cd), "--out", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    for name in ("measurements.json", "measurements.csv", "report.html", "report.pdf",
                 "seg.dcm", "sr.dcm"):
        assert (out / name).is_file(), name
    check_read_back(out, removed)


def test_images_without_frame_of_reference_exit_2_and_leave_no_folder(sample_copy, analysis, tmp_path):
    """FrameOfReferenceUID is type 1 (not in the sweep above), yet real exports
    lose it: a SEG cannot reference such images, so the writer stops with one
    typed line (exit 2) instead of highdicom's ValueError (exit 1)."""
    from mri_measure.pipeline import write_outputs

    files = sorted({Path(s.source) for sa in analysis.axial for s in sa.loaded.slices})
    saved = {p: p.read_bytes() for p in files}
    out = tmp_path / "out"
    try:
        _strip(files, ["FrameOfReferenceUID"])
        code, why = exit_code(lambda: write_outputs(analysis, out))
    finally:
        for p, data in saved.items():
            p.write_bytes(data)
    assert code == 2 and "FrameOfReferenceUID" in why, (code, why)
    assert not out.exists() and not list(tmp_path.glob(".out*")), "a half-written folder was left"


@pytest.mark.slow
@pytest.mark.parametrize("keyword", removable_attributes())
def test_whole_pipeline_survives_each_attribute_removed(keyword, tmp_path):
    """Exhaustive: discovery, loading, measuring and every writer on a CD lacking
    ``keyword`` (ground-truth segmenter, so only the model is left out)."""
    from mri_measure.pipeline import analyse_study, write_outputs
    from mri_measure.testing.truth import TruthSegmenter

    cd = tmp_path / "CD"
    shutil.copytree(SAMPLE / "CD", cd)
    _strip(_image_files(cd), [keyword])
    out = tmp_path / "out"
    truth = TruthSegmenter.from_npz(SAMPLE / "truth_labels.npz")
    code, why = exit_code(lambda: write_outputs(analyse_study(cd, segmenter=truth), out))
    assert code in (0, 2), f"{keyword} removed: exit {code} ({why})"
    if code == 0:
        check_read_back(out, [keyword])
    else:
        assert why and "\n" not in why
