"""A value the quality check refused is shown as "not measurable: <reason>" in
every output and never as a number: JSON (schema-valid), CSV, HTML, PDF, the
console table and the SR (real highdicom read-back)."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import highdicom as hd
import jsonschema
import pytest

from mri_measure.cli.measure import format_table
from mri_measure.pipeline import build_report
from mri_measure.report import write_all
from mri_measure.report.json_csv import load_schema
from mri_measure.types import NOT_MEASURABLE, Quality, StudyAnalysis, Verdict
from report_fixtures import require_tool, run_tool

UNIFORM = Verdict(NOT_MEASURABLE, "the outline lies inside a uniform region larger than a canal "
                  "(vertebral body or disc?)", "sac_in_uniform_region")
NO_SAC = Verdict(NOT_MEASURABLE, "dural sac not measurable: the LF position cannot be checked",
                 "lf_without_sac")
IN_FRONT = Verdict(NOT_MEASURABLE, "left LF lies in front of the sac", "lf_position_implausible")


@pytest.fixture(scope="module")
def flagged(study) -> StudyAnalysis:
    """The report fixture with every slice of the first block (L4-L5) refused, and
    the left LF of the second block's first slice refused."""
    stacks = []
    for i, sa in enumerate(study.axial):
        qs = [Quality(UNIFORM, NO_SAC, NO_SAC) if i == 0
              else Quality(lf_thickness_left_mm=IN_FRONT) if k == 0 else Quality()
              for k in range(len(sa.measurements))]
        stacks.append(replace(sa, qualities=tuple(qs)))
    assignments = {s.sop_instance_uid: s.level for s in study.report.slices}
    report = build_report(stacks, assignments, thresholds=study.report.thresholds)
    report = replace(report, model=study.report.model, study=dict(study.report.study))
    return StudyAnalysis(report, tuple(stacks), study.sagittal, study.discs)


@pytest.fixture(scope="module")
def paths(flagged, tmp_path_factory):
    return write_all(flagged, tmp_path_factory.mktemp("flagged"))


def test_json_nulls_flagged_values_and_carries_reasons(flagged, paths):
    doc = json.loads(paths["json"].read_text())
    jsonschema.validate(doc, load_schema(), cls=jsonschema.Draft202012Validator)
    l45 = next(lv for lv in doc["levels"] if lv["level"] == "L4-L5")
    assert l45["canal_area_mm2"] is None and l45["lf_thickness_left_mm"] is None
    assert l45["canal_narrowed"] is None and l45["lf_thickened"] is None
    assert l45["meets_mild_imaging_criteria"] is None and l45["canal_grade"] is None
    assert l45["quality"]["canal_area_mm2"] == {"verdict": "not_measurable", "reason": UNIFORM.reason}
    l5s1 = next(lv for lv in doc["levels"] if lv["level"] == "L5-S1")
    assert l5s1["quality"]["lf_thickness_left_mm"] == {"verdict": "ok", "reason": None}
    assert l5s1["canal_area_mm2"] is not None
    # the measured number of a refused slice value is not written
    first_block = {s.key for s in flagged.axial[0].loaded.slices}
    for s in doc["slices"]:
        if s["sop_instance_uid"] in first_block:
            assert s["canal_area_mm2"] is None and s["canal_ap_mm"] is None
            assert s["lf_thickness_max_mm"] is None
            assert "sac_in_uniform_region" in s["quality_flags"]
            assert s["quality"]["lf_thickness_right_mm"]["reason"] == NO_SAC.reason
    key = flagged.axial[1].loaded.slices[0].key
    s = next(s for s in doc["slices"] if s["sop_instance_uid"] == key)
    assert s["lf_thickness_left_mm"] is None and s["lf_thickness_right_mm"] is not None
    assert s["quality"]["lf_thickness_left_mm"]["reason"] == IN_FRONT.reason


def test_quality_is_in_schema_1_1_and_dropped_for_version_1_readers(paths):
    from mri_measure.report.json_csv import as_version_1

    doc = json.loads(paths["json"].read_text())
    jsonschema.validate(doc, load_schema(version="1.1"), cls=jsonschema.Draft202012Validator)
    v1 = as_version_1(doc)  # the strict version-1 view: no quality, still valid v1
    assert all("quality" not in e for e in v1["levels"] + v1["slices"])
    jsonschema.validate(v1, load_schema(version="1"), cls=jsonschema.Draft202012Validator)
    doc["levels"][0]["quality"] = {"canal_area_mm2": {"verdict": "maybe", "reason": None}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, load_schema(version="1.1"), cls=jsonschema.Draft202012Validator)


def test_csv_has_a_reason_column_per_value(paths):
    rows = {r["level"]: r for r in csv.DictReader(paths["csv"].open())}
    assert rows["L4-L5"]["canal_area_mm2"] == ""
    assert rows["L4-L5"]["canal_area_not_measurable_reason"] == UNIFORM.reason
    assert rows["L4-L5"]["lf_thickness_left_not_measurable_reason"] == NO_SAC.reason
    assert rows["L5-S1"]["canal_area_not_measurable_reason"] == ""
    assert rows["L5-S1"]["canal_area_mm2"] != ""


def test_html_pdf_and_console_say_not_measurable(flagged, paths):
    expected = f"L4-L5 canal area: not measurable: {UNIFORM.reason}"
    html = paths["html"].read_text()
    assert "not measurable" in html and expected.replace("(", "(") in html
    text = run_tool(require_tool("pdftotext"), str(paths["pdf"]), "-").stdout
    assert "not measurable" in " ".join(text.split())
    assert "L4-L5 canal area: not measurable: the outline lies inside a uniform" in " ".join(text.split())
    table = format_table(flagged.report)
    l45 = next(line for line in table.splitlines() if line.startswith("L4-L5"))
    assert l45.split()[1:4] == ["n/m", "n/m", "n/m"]
    assert expected in table


def test_sr_writes_no_number_for_a_refused_value(flagged, paths):
    sr = hd.sr.srread(paths["sr"])
    groups = {str(g.tracking_identifier): g for g in sr.content.get_planar_roi_measurement_groups()}
    canal = groups["L4-L5 canal"]
    assert canal.get_measurements() == []
    (ev,) = canal.get_qualitative_evaluations()
    assert ev.name.meaning == "Measurement quality"
    assert ev.value.meaning.startswith("not measurable: the outline lies inside a uniform")
    assert ev.value.value == "not_measurable"
    ok = groups["L5-S1 canal"]
    (area,) = [m for m in ok.get_measurements() if m.name.meaning == "Area"]
    lv = next(lv for lv in flagged.report.levels if lv.level == "L5-S1")
    assert area.value == pytest.approx(lv.canal_area_mm2, abs=1e-6)
    assert ok.get_qualitative_evaluations() == []
    errors = [ln for ln in run_tool(require_tool("dciodvfy"), str(paths["sr"])).stderr.splitlines()
              if ln.startswith("Error")]
    assert not errors, errors


def test_figures_draw_no_line_or_number_for_a_refused_value(flagged):
    from mri_measure.report.figures import shown_measurement

    sa = flagged.axial[1]  # its first slice's left LF was refused
    m = shown_measurement(sa, 0)
    assert sa.measurements[0].lf_thickness_left_mm is not None
    assert m.lf_thickness_left_mm is None and m.lf_left_line_px is None
    assert m.lf_thickness_right_mm == sa.measurements[0].lf_thickness_right_mm
    assert shown_measurement(sa, 1) is sa.measurements[1]
    m0 = shown_measurement(flagged.axial[0], 0)  # the sac refused: its AP line goes too
    assert m0.canal_ap_mm is None and m0.canal_ap_line_px is None
