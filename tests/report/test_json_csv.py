import copy
import csv
import json
import re

import jsonschema
import pytest

from mri_measure.report import load_schema, report_to_dict


@pytest.fixture(scope="module")
def doc(written):
    return json.loads(written["json"].read_text(encoding="utf-8"))


def test_json_validates_against_schema(doc):
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(doc)
    assert doc["schema_version"] == "1.1"
    assert doc == report_to_dict_roundtrip(doc)


def report_to_dict_roundtrip(doc):
    return json.loads(json.dumps(doc))


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d.pop("levels"),
        lambda d: d.__setitem__("schema_version", "2"),
        lambda d: d["levels"][0].__setitem__("canal_area_mm2", "78.9"),
        lambda d: d["levels"][0].__setitem__("level_source", "guess"),
        lambda d: d["slices"][0].__setitem__("sop_instance_uid", "/home/someone/IM0001"),
        lambda d: d.__setitem__("patient_name", "X^Y"),
        lambda d: d["levels"][0].__setitem__("lf_thickness_left_mm", -1.0),
    ],
)
def test_broken_documents_fail_validation(doc, breakage):
    broken = copy.deepcopy(doc)
    breakage(broken)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, load_schema(),
                            cls=jsonschema.Draft202012Validator)


def test_every_measured_slice_is_in_slices(study, doc):
    keys = [s.key for sa in study.axial for s in sa.loaded.slices]
    assert sorted(s["sop_instance_uid"] for s in doc["slices"]) == sorted(keys)
    unknown = [s for s in doc["slices"] if s["level"] is None]
    assert len(unknown) == 1 and unknown[0]["level_source"] == "unknown"


def test_levels_carry_values_rounded_and_flags(study, doc):
    by_level = {lv["level"]: lv for lv in doc["levels"]}
    assert list(by_level) == [lv.level for lv in study.report.levels]
    for lv in study.report.levels:
        out = by_level[lv.level]
        assert out["canal_area_mm2"] == round(lv.canal_area_mm2, 1)
        assert out["lf_thickness_left_mm"] == round(lv.lf_thickness_left_mm, 2)
        assert out["lf_thickness_right_mm"] == round(lv.lf_thickness_right_mm, 2)
        assert out["lf_thickness_max_mm"] == round(lv.lf_thickness_max_mm, 2)
        assert out["meets_mild_imaging_criteria"] is lv.meets_mild_imaging_criteria
        assert out["representative_sop_instance_uid"] == lv.representative_sop_instance_uid
        assert out["slice_sop_instance_uids"] == list(lv.slice_sop_instance_uids)
    assert by_level["L4-L5"]["meets_mild_imaging_criteria"] is True
    assert by_level["L5-S1"]["meets_mild_imaging_criteria"] is False
    text = json.dumps(doc)
    for number in re.findall(r'"canal_area_mm2": (\d+\.\d+)', text):
        assert len(number.split(".")[1]) <= 1
    for number in re.findall(r'"lf_thickness_(?:left|right|max)_mm": (\d+\.\d+)', text):
        assert len(number.split(".")[1]) <= 2


def test_slice_max_is_max_of_sides(doc):
    for s in doc["slices"]:
        sides = [v for v in (s["lf_thickness_left_mm"], s["lf_thickness_right_mm"]) if v is not None]
        assert s["lf_thickness_max_mm"] == (max(sides) if sides else None)


def test_thresholds_software_model_recorded(study, doc):
    assert doc["thresholds"]["lf_thickness_mm"]["value"] == 2.5
    assert doc["thresholds"]["canal_area_mm2"]["comparison"] == "<="
    assert doc["software"]["name"] == "mri-measure"
    assert doc["model"]["sha256"] == study.report.model["sha256"]
    assert doc["study"]["study_instance_uid"] == study.axial[0].loaded.stack.study_instance_uid


def test_report_to_dict_handles_missing_values(study):
    from dataclasses import replace

    lv = replace(study.report.levels[0], lf_thickness_left_mm=None, canal_area_mm2=float("nan"),
                 lf_thickened=None, meets_mild_imaging_criteria=None)
    report = replace(study.report, levels=(lv,), model=None)
    d = report_to_dict(report)
    assert d["levels"][0]["lf_thickness_left_mm"] is None
    assert d["levels"][0]["canal_area_mm2"] is None
    assert d["model"] is None
    jsonschema.validate(d, load_schema(), cls=jsonschema.Draft202012Validator)


def test_csv_one_row_per_level(study, written):
    with written["csv"].open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["level"] for r in rows] == [lv.level for lv in study.report.levels]
    for row, lv in zip(rows, study.report.levels):
        assert float(row["canal_area_mm2"]) == round(lv.canal_area_mm2, 1)
        assert float(row["lf_thickness_max_mm"]) == round(lv.lf_thickness_max_mm, 2)
        assert row["meets_mild_imaging_criteria"] == str(lv.meets_mild_imaging_criteria).lower()
        assert row["representative_sop_instance_uid"] == lv.representative_sop_instance_uid
        assert row["level_source"] == "sagittal"
    for col in ("canal_ap_mm", "lf_thickness_left_mm", "lf_thickness_right_mm",
                "canal_narrowed", "lf_thickened", "borderline", "canal_grade"):
        assert col in rows[0]
