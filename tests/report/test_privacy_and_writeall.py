"""No patient data in JSON/CSV/HTML/PDF; write_all is atomic, complete, fast."""

import time

import pydicom
import pytest

from report_fixtures import FIVE_BLOCKS, PHANTOM, PHI, build_study, require_tool, run_tool

from mri_measure.report import write_all

PHI_STRINGS = ("ZZTESTPATIENT", "PHI-ID-987654", "19010203", "1901-02-03", "PHI^")


@pytest.fixture(scope="module")
def phi_outputs(tmp_path_factory):
    src = tmp_path_factory.mktemp("ZZTESTPATIENT_PHI-ID-987654_cd")
    analysis = build_study(src, PHI, seed=3)
    # the source locator really carries the fake PHI folder name
    assert "ZZTESTPATIENT" in analysis.axial[0].loaded.slices[0].source
    out = tmp_path_factory.mktemp("out_phi")
    return analysis, write_all(analysis, out), src


def test_no_phi_in_text_outputs(phi_outputs):
    _, paths, src = phi_outputs
    pdftotext = require_tool("pdftotext")
    texts = {
        "json": paths["json"].read_text(encoding="utf-8"),
        "csv": paths["csv"].read_text(encoding="utf-8"),
        "html": paths["html"].read_text(encoding="utf-8"),
        "pdf-text": run_tool(pdftotext, str(paths["pdf"]), "-").stdout,
    }
    raw_pdf = paths["pdf"].read_bytes()
    assert len(texts["pdf-text"]) > 500
    for kind, text in texts.items():
        for needle in PHI_STRINGS + (str(src), src.name):
            assert needle.lower() not in text.lower(), (kind, needle)
    for needle in PHI_STRINGS:
        assert needle.encode() not in raw_pdf


def test_seg_and_sr_carry_patient_module_by_design(phi_outputs):
    _, paths, _ = phi_outputs
    for key in ("seg", "sr"):
        ds = pydicom.dcmread(paths[key], stop_before_pixels=True)
        assert str(ds.PatientName) == PHI["name"]
        assert ds.PatientID == PHI["id"]


def test_write_all_outputs_and_no_temp_files(written):
    names = {p.name for p in written.values()}
    assert {"measurements.json", "measurements.csv", "report.html", "report.pdf",
            "seg.dcm", "sr.dcm"} <= names
    folder = written["json"].parent
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)


def test_write_all_overwrites_and_removes_stale_seg(study, tmp_path):
    (tmp_path / "seg_7.dcm").write_bytes(b"old")
    (tmp_path / "seg_3.dcm").write_bytes(b"old")
    (tmp_path / "report.html").write_text("old")
    paths = write_all(study, tmp_path)
    assert not (tmp_path / "seg_3.dcm").exists()
    assert (tmp_path / "seg_7.dcm").exists()  # not contiguous: not ours to judge
    assert paths["html"].read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert not list(tmp_path.glob(".*.tmp"))


def test_write_all_fifteen_slices_is_fast(tmp_path):
    analysis = build_study(tmp_path / "src", PHANTOM, FIVE_BLOCKS, seed=5)
    write_all(analysis, tmp_path / "warm")  # imports, font and DICOM-standard tables
    t0 = time.perf_counter()
    paths = write_all(analysis, tmp_path / "out")
    elapsed = time.perf_counter() - t0
    assert sum(1 for k in paths if k.startswith("seg")) == 5
    # target ≈3 s on a free core; generous bound for a shared CI machine
    assert elapsed < 12.0, f"write_all took {elapsed:.1f} s for 15 slices"


def test_study_without_sagittal_or_representative_image(study, tmp_path):
    from dataclasses import replace

    from mri_measure.report import write_html

    lv = replace(study.report.levels[0], representative_sop_instance_uid=None)
    report = replace(study.report, levels=(lv,) + study.report.levels[1:])
    analysis = replace(study, report=report, sagittal=None, discs=())
    html = write_html(analysis, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "No image available for this level." in html
    assert "Sagittal overview" not in html
    assert html.count("data:image/png;base64,") == len(study.report.levels) - 1


def test_no_levels_and_missing_values_still_write(study, tmp_path):
    """A study where nothing could be levelled or measured still gets every file."""
    import json
    from dataclasses import replace

    import jsonschema

    from mri_measure.report import load_schema
    from mri_measure.types import LevelAssignment, SliceMeasurement

    empty = SliceMeasurement()
    slices = tuple(replace(s, level=LevelAssignment(None), measurement=empty)
                   for s in study.report.slices)
    axial = tuple(type(sa)(sa.loaded, sa.probabilities, sa.labels * 0,
                           tuple(empty for _ in sa.measurements)) for sa in study.axial)
    report = replace(study.report, levels=(), slices=slices)
    analysis = replace(study, report=report, axial=axial, sagittal=None, discs=())
    paths = write_all(analysis, tmp_path)
    doc = json.loads(paths["json"].read_text(encoding="utf-8"))
    jsonschema.validate(doc, load_schema(), cls=jsonschema.Draft202012Validator)
    assert len(doc["slices"]) == len(slices) and doc["levels"] == []
    assert "No disc level could be measured." in paths["html"].read_text(encoding="utf-8")
    text = run_tool(require_tool("pdftotext"), str(paths["pdf"]), "-").stdout
    assert "No disc level could be measured." in text
    import highdicom as hd

    seg = hd.seg.segread(paths["seg"])
    assert seg.number_of_segments == 3
    assert "sr" not in paths and not (tmp_path / "sr.dcm").exists()  # nothing to report


def test_unreadable_source_error_has_no_path(study, tmp_path):
    from dataclasses import replace

    from mri_measure.errors import IntegrityError
    from mri_measure.report._common import _read_one_header

    info = replace(study.axial[0].loaded.slices[0],
                   source=str(tmp_path / "ZZTESTPATIENT" / "missing"))
    with pytest.raises(IntegrityError) as err:
        _read_one_header(info)
    assert "ZZTESTPATIENT" not in str(err.value) and str(tmp_path) not in str(err.value)


def test_outputs_get_ordinary_file_mode(written):
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    for path in written.values():
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask, path.name
