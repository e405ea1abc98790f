"""The review session behind the widget (pure: no napari, no Qt)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_mri_measure._session import ReviewSession


def _canal_slice(session):
    for key, (i, k) in session.index.items():
        m = session.measurement(key)
        if m.canal_area_mm2 is not None and m.lf_thickness_left_mm is not None:
            return key, i, k
    raise AssertionError("no slice with canal and LF")


def test_edit_remeasures_only_the_changed_slice_and_reverting_restores_auto(truth_analysis):
    s = ReviewSession(truth_analysis)
    assert not s.corrected and s.report.slices == truth_analysis.report.slices
    key, i, k = _canal_slice(s)
    others = {kk: s.measurement(kk) for kk, (ii, _) in s.index.items() if ii == i and kk != key}
    lab = s.labels(i)
    assert lab is not truth_analysis.axial[i].labels  # the analysis is never edited in place
    original = lab[k].copy()
    # erase the patient-left LF entirely: its thickness must disappear
    lab[k][lab[k] == 2] = 0
    assert s.sync(i) == [key]
    m = s.measurement(key)
    assert m.lf_thickness_left_mm is None and m.canal_area_mm2 is not None
    assert key in s.corrected and s.slice_result(key).corrected
    assert all(s.measurement(kk) is v for kk, v in others.items())  # untouched slices kept
    assert s.sync(i) == []  # nothing new
    # the corrected state for the writers: labels and one-hot probabilities agree
    an = s.analysis()
    np.testing.assert_array_equal(an.axial[i].labels[k], lab[k])
    np.testing.assert_array_equal(an.axial[i].probabilities[k].argmax(axis=0), lab[k])
    assert an.report.model == truth_analysis.report.model
    assert an.report.study == truth_analysis.report.study
    # undo by hand: back to the model's labels -> automatic again, same numbers
    lab[k] = original
    assert s.sync(i) == [key]
    assert key not in s.corrected
    assert s.measurement(key) == truth_analysis.axial[i].measurements[k]
    # changes arriving as a new array (a layer's data) are copied in
    data = lab.copy()
    data[k][data[k] == 3] = 0
    assert s.sync(i, data) == [key] and s.measurement(key).lf_thickness_right_mm is None
    with pytest.raises(Exception, match="shape"):
        s.sync(i, data[:1])


def test_level_override_regroups_levels(truth_analysis):
    s = ReviewSession(truth_analysis)
    key, i, k = _canal_slice(s)
    before = {lv.level: lv.slice_sop_instance_uids for lv in s.report.levels}
    assert s.set_level(key, "t12-l1").level == "T12-L1"
    after = {lv.level: lv for lv in s.report.levels}
    assert after["T12-L1"].slice_sop_instance_uids == (key,)
    assert after["T12-L1"].level_source == "user"
    assert all(key not in lv.slice_sop_instance_uids for name, lv in after.items() if name != "T12-L1")
    assert sum(len(v) for v in before.values()) == sum(len(lv.slice_sop_instance_uids) for lv in after.values())
    s.set_level(key, None)
    assert s.slice_result(key).level.level is None
    assert any("could not be assigned" in w for w in s.report.warnings)
    assert sum("could not be assigned" in w for w in s.report.warnings) == 1


def test_export_and_training_pairs(truth_analysis, tmp_path):
    from mri_measure.training.data import load_user_cases

    s = ReviewSession(truth_analysis)
    assert s.save_training_pairs(tmp_path / "none") == []
    key, i, k = _canal_slice(s)
    s.labels(i)[k][s.labels(i)[k] == 2] = 0
    s.sync(i)
    written = s.export(tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "measurements.json").read_text())
    sl = next(x for x in doc["slices"] if x["sop_instance_uid"] == key)
    assert sl["lf_thickness_left_mm"] is None
    assert {p.name for p in written.values()} >= {"measurements.json", "seg.dcm"}
    pairs = s.save_training_pairs(tmp_path / "pairs")
    assert len(pairs) == 1 and key not in pairs[0].name  # hashed names, no UIDs
    case = load_user_cases(tmp_path / "pairs")[0]
    np.testing.assert_array_equal(case.labels, s.labels(i)[k])
    np.testing.assert_allclose(case.image, truth_analysis.axial[i].loaded.pixels[k])
    assert tuple(case.spacing_mm) == pytest.approx(truth_analysis.axial[i].loaded.stack.spacing_mm)
    assert not list((tmp_path / "pairs").glob(".*"))  # no partial files left
