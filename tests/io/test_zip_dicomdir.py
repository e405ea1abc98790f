"""A DICOMDIR inside a zip is used as the hint, as on a CD: a real zip of a
synthetic CD (mri_measure.synth.write_cd) with its DICOMDIR, read in memory."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from mri_measure.io import discover
from mri_measure.io.discover import _Scan, _scan_zip
from mri_measure.io.sources import WalkReport, split_zip_locator
from mri_measure.synth.cd import write_cd


@pytest.fixture(scope="module")
def cd(tmp_path_factory) -> Path:
    return write_cd(tmp_path_factory.mktemp("zipcd"), seed=7, levels=["L4-L5", "L5-S1"])


def _zip(cd: Path, dest: Path, *, skip=(), junk=(), rename=lambda rel: rel) -> Path:
    """cd's files as a zip under a top folder CD/, as a CD is usually zipped."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(cd.rglob("*")):
            rel = p.relative_to(cd).as_posix()
            if not p.is_file() or rel in skip:
                continue
            name = "CD/" + (rel if rel == "DICOMDIR" else rename(rel))
            zf.writestr(name, b"not dicom at all" * 4 if rel in junk else p.read_bytes())
    return dest


def _images(cd: Path) -> list[str]:
    return sorted(p.relative_to(cd).as_posix() for p in cd.rglob("*") if p.is_file() and p.name != "DICOMDIR")


def _keys(d) -> set[str]:
    return {s.key for st in d.studies for stack in st.stacks for s in stack.slices}


def _roles(d) -> list[tuple[str, int]]:
    return sorted((str(stack.role), stack.n_slices) for st in d.studies for stack in st.stacks)


def test_zip_with_dicomdir_reads_like_the_cd(tmp_path, cd):
    z = discover(_zip(cd, tmp_path / "cd.zip"))
    c = discover(cd)
    assert _keys(z) == _keys(c) and _roles(z) == _roles(c)
    assert z.n_dicom_files == c.n_dicom_files  # the DICOMDIR counts, as on the CD
    assert z.warnings == c.warnings == ()


def test_zip_dicomdir_files_come_first_and_are_referenced(tmp_path, cd):
    archive = _zip(cd, tmp_path / "cd.zip")
    scan, report = _Scan(), WalkReport()
    hint = _scan_zip(str(archive), scan, report)
    assert hint is not None and hint.readable
    images = _images(cd)
    assert hint.n_references == len(images) and hint.n_missing == 0
    assert sorted(m.removeprefix("CD/") for m in hint.referenced) == images
    assert {split_zip_locator(loc)[1] for loc in scan.referenced} == set(hint.referenced)


def test_zip_dicomdir_warnings_as_on_a_cd(tmp_path, cd):
    images = _images(cd)
    # a referenced image missing from the zip: warned, the rest found
    z = discover(_zip(cd, tmp_path / "missing.zip", skip={images[0]}))
    assert any("1 referenced file(s) are missing" in w for w in z.warnings)
    assert len(_keys(z)) == len(_keys(discover(cd))) - 1
    # a referenced image damaged: a DICOMDIR-named file is not clutter
    z = discover(_zip(cd, tmp_path / "junk.zip", junk={images[1]}))
    assert z.n_skipped_non_dicom == 0
    assert any("1 referenced file(s) are not readable DICOM" in w for w in z.warnings)
    # a zip made from a lower-cased copy of the CD: resolved, and said so
    z = discover(_zip(cd, tmp_path / "lower.zip", rename=str.lower))
    assert any("ignoring case" in w for w in z.warnings)
    assert not any("missing" in w for w in z.warnings)


def test_zip_without_dicomdir_or_with_a_broken_one(tmp_path, cd):
    plain = discover(_zip(cd, tmp_path / "plain.zip", skip={"DICOMDIR"}))
    assert _keys(plain) == _keys(discover(cd)) and plain.warnings == ()
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(_zip(cd, tmp_path / "b.zip", skip={"DICOMDIR"})) as src, \
            zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr("CD/DICOMDIR", b"\0" * 200)
    d = discover(broken)
    assert _keys(d) == _keys(discover(cd))
    assert any("DICOMDIR could not be read" in w for w in d.warnings)


def test_zipped_cd_measures_like_the_cd_with_its_level_provenance(tmp_path, cd):
    from mri_measure.pipeline import analyse_study
    from mri_measure.report import report_to_dict
    from mri_measure.testing.truth import TruthSegmenter

    seg = TruthSegmenter.from_npz(cd.parent / "truth_labels.npz")
    doc = report_to_dict(analyse_study(_zip(cd, tmp_path / "cd.zip"), segmenter=seg).report)
    assert [lv["level"] for lv in doc["levels"]] == ["L4-L5", "L5-S1"]
    # levels named by the shipped sagittal disc detector, and its identity recorded
    assert {lv["level_method"] for lv in doc["levels"]} == {"sagittal_disc_detector"}
    det = doc["models"]["sagittal_disc_detector"]
    assert det["name"] == "sagittal-disc-unet" and det["used"] is True and len(det["sha256"]) == 64
