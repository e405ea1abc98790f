"""measurements.json schema 1.1 beside version 1: both schemas ship, 1.1 only
adds fields, and version-1 documents still load wherever the project reads them."""

from __future__ import annotations

import json
from dataclasses import replace

import jsonschema
import pytest

from mri_measure.atomic import study_uid_of_results
from mri_measure.errors import InputError
from mri_measure.report import as_version_1, load_schema, read_measurements, report_to_dict
from mri_measure.report.json_csv import ADDED_IN_1_1, SCHEMA_PATHS, level_method_of

V = jsonschema.Draft202012Validator
DETECTOR = {"name": "sagittal-disc-unet", "version": "1.0", "sha256": "ab" * 32, "used": True}


def _valid(doc, version):
    V(load_schema(version)).validate(doc)


@pytest.fixture(scope="module")
def doc11(study):
    report = replace(study.report, provenance={"disc_method": "learned", "disc_detector": DETECTOR})
    return json.loads(json.dumps(report_to_dict(report)))


def test_both_schemas_ship_and_v1_is_the_published_one():
    for version, path in SCHEMA_PATHS.items():
        schema = json.loads(path.read_text())
        V.check_schema(schema)
        assert schema["properties"]["schema_version"] == {"const": version}
    v1, v11 = load_schema("1"), load_schema("1.1")
    assert v1["title"].endswith("schema_version 1")
    # 1.1 keeps every version-1 field with the same definition (only adds)
    assert set(v1["properties"]) <= set(v11["properties"])
    for d in ("level", "slice"):
        for name, rule in v1["$defs"][d]["properties"].items():
            assert v11["$defs"][d]["properties"][name] == rule, (d, name)
        assert set(v1["$defs"][d]["required"]) <= set(v11["$defs"][d]["required"])


def test_a_1_1_document_validates_against_1_1_and_as_version_1_against_v1(doc11):
    assert doc11["schema_version"] == "1.1"
    _valid(doc11, "1.1")
    # v1 forbids additional properties: a strict v1 reader gets as_version_1()
    with pytest.raises(jsonschema.ValidationError):
        _valid(doc11, "1")
    v1 = as_version_1(doc11)
    _valid(v1, "1")
    # ...which is exactly the 1.1 document without the added fields
    for k in ADDED_IN_1_1["document"]:
        assert k in doc11 and k not in v1
    assert {k: v for k, v in doc11.items() if k not in ("schema_version", "models", "levels", "slices")} == \
        {k: v for k, v in v1.items() if k not in ("schema_version", "levels", "slices")}
    for new, old in zip(doc11["levels"], v1["levels"]):
        assert {k: v for k, v in new.items() if k not in ADDED_IN_1_1["level"]} == old


def test_a_report_asked_for_version_1_writes_the_v1_document(study, doc11):
    d = report_to_dict(replace(study.report, schema_version="1"))
    assert d["schema_version"] == "1" and "models" not in d
    _valid(d, "1")
    assert d["levels"] == as_version_1(doc11)["levels"]


def test_1_1_fields_levels_models_quality(study, doc11):
    assert doc11["models"]["axial_segmenter"] == doc11["model"]
    assert doc11["models"]["sagittal_disc_detector"] == DETECTOR
    for lv in doc11["levels"]:
        assert lv["level_source"] == "sagittal" and lv["level_method"] == "sagittal_disc_detector"
        assert 0 <= lv["level_confidence"] <= 1
        assert {v["verdict"] for v in lv["quality"].values()} == {"ok"}
    unknown = [s for s in doc11["slices"] if s["level"] is None]
    assert unknown and all(s["level_method"] == "none" for s in unknown)
    # classical fallback / user override / no detector shipped
    lv = replace(study.report.levels[0], level_source="user")
    r = replace(study.report, levels=(lv,), provenance={"disc_method": "classical", "disc_detector": None})
    d = report_to_dict(r)
    assert d["levels"][0]["level_method"] == "user_override"
    assert {s["level_method"] for s in d["slices"] if s["level_source"] == "sagittal"} == {
        "sagittal_column_analysis"}
    assert d["models"]["sagittal_disc_detector"] is None
    _valid(d, "1.1")


def test_missing_values_are_never_ok_even_in_a_hand_built_report(study):
    lv = replace(study.report.levels[0], canal_area_mm2=None, lf_thickness_right_mm=None)
    s0 = study.report.slices[0]
    sl = replace(s0, measurement=replace(s0.measurement, canal_area_mm2=None, lf_thickness_left_mm=None,
                                         lf_thickness_right_mm=None),
                 quality_flags=("no_canal_found", "no_lf_found"))
    d = report_to_dict(replace(study.report, levels=(lv,), slices=(sl,)))
    _valid(d, "1.1")
    q = d["levels"][0]["quality"]
    assert q["canal_area_mm2"] == {"verdict": "not_measurable", "reason": "no dural sac found"}
    assert q["lf_thickness_right_mm"]["verdict"] == "not_measurable"
    assert q["lf_thickness_left_mm"] == {"verdict": "ok", "reason": None}
    qs = d["slices"][0]["quality"]
    assert qs["canal_area_mm2"]["reason"] == "no dural sac found"
    assert qs["lf_thickness_left_mm"] == {"verdict": "not_measurable",
                                          "reason": "no ligamentum flavum found (patient left)"}


def test_broken_1_1_documents_fail(doc11):
    for breakage in (
        lambda d: d["levels"][0].__setitem__("level_method", "guess"),
        lambda d: d["levels"][0]["quality"]["canal_area_mm2"].__setitem__("verdict", "fine"),
        lambda d: d["slices"][0].pop("quality"),
        lambda d: d["models"]["sagittal_disc_detector"].__setitem__("sha256", "not-a-hash"),
        lambda d: d.pop("models"),
    ):
        broken = json.loads(json.dumps(doc11))
        breakage(broken)
        with pytest.raises(jsonschema.ValidationError):
            _valid(broken, "1.1")


def test_version_1_documents_still_load(tmp_path, study, doc11):
    v1 = as_version_1(doc11)
    path = tmp_path / "measurements.json"
    path.write_text(json.dumps(v1))
    assert read_measurements(path) == v1
    assert study_uid_of_results(tmp_path) == v1["study"]["study_instance_uid"]  # --out checks
    # readers derive what 1.1 added from the version-1 fields
    assert level_method_of(v1["levels"][0]) == "sagittal_discs"
    assert level_method_of(doc11["levels"][0]) == "sagittal_disc_detector"
    path.write_text(json.dumps(doc11))
    assert read_measurements(path)["schema_version"] == "1.1"
    for bad in ({**v1, "schema_version": "2"}, [1, 2]):
        path.write_text(json.dumps(bad))
        with pytest.raises(InputError, match="schema_version"):
            read_measurements(path)
    path.write_text("{not json")
    with pytest.raises(InputError, match="cannot read"):
        read_measurements(path)
