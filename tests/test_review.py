"""mri_measure.review: the correction loop (re-measure edited slices, override
levels, rebuild the report, write outputs) on a real synthetic study."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from mri_measure.criteria import Thresholds
from mri_measure.errors import OptionError
from mri_measure.review import ReviewSession
from mri_measure.vocabulary import Label, LevelSource

UNASSIGNED = "measured slice(s) could not be assigned a disc level"


@pytest.fixture(scope="module")
def truth_analysis(tmp_path_factory):
    """The pipeline's analysis of a phantom CD with ground-truth segmentation."""
    from mri_measure.pipeline import analyse_study
    from mri_measure.testing.truth import TruthSegmenter
    from mri_measure.synth import write_cd

    cd = write_cd(tmp_path_factory.mktemp("review"), seed=11, stenosis="moderate")
    seg = TruthSegmenter.from_npz(cd.parent / "truth_labels.npz")
    return analyse_study(cd, segmenter=seg)


def _canal_slice(session):
    for key, (i, k) in session.index.items():
        m = session.measurement(key)
        if m.canal_area_mm2 is not None and m.lf_thickness_left_mm is not None:
            return key, i, k
    raise AssertionError("no slice with canal and LF")


def test_edit_remeasures_only_the_changed_slice_and_reverting_restores_auto(truth_analysis):
    s = ReviewSession(truth_analysis)
    assert not s.corrected and s.report().slices == truth_analysis.report.slices
    key, i, k = _canal_slice(s)
    others = {kk: s.measurement(kk) for kk, (ii, _) in s.index.items() if ii == i and kk != key}
    lab = s.labels(i)
    assert lab is not truth_analysis.axial[i].labels  # the analysis is never edited in place
    original = lab[k].copy()
    # erase the patient-left LF entirely: its thickness must disappear
    lab[k][lab[k] == Label.LF_LEFT] = Label.BACKGROUND
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
    data[k][data[k] == Label.LF_RIGHT] = Label.BACKGROUND
    assert s.sync(i, data) == [key] and s.measurement(key).lf_thickness_right_mm is None
    with pytest.raises(OptionError, match="shape"):
        s.sync(i, data[:1])
    # the analysis the session started from is unchanged
    assert truth_analysis.report.slices == ReviewSession(truth_analysis).report().slices


def test_edit_slice_remeasures_from_labels_and_updates_the_level(truth_analysis):
    s = ReviewSession(truth_analysis)
    key, i, k = _canal_slice(s)
    level = s.slice_result(key).level.level
    edited = s.labels(i)[k].copy()
    rows, cols = np.nonzero(edited == Label.CANAL)
    # shrink the canal to its upper half: the area must fall, and with it the level minimum
    edited[(edited == Label.CANAL) & (np.arange(edited.shape[0])[:, None] > np.median(rows))] = 0
    before = s.measurement(key).canal_area_mm2
    m = s.edit_slice(key, edited)
    assert m is s.measurement(key) and m.canal_area_mm2 < 0.75 * before
    assert key in s.corrected
    lv = next(lv for lv in s.report().levels if lv.level == level)
    assert lv.canal_area_mm2 == pytest.approx(min(
        s.measurement(kk).canal_area_mm2 for kk in lv.slice_sop_instance_uids
        if s.measurement(kk).canal_area_mm2 is not None))
    assert lv.canal_area_sop_instance_uid == key
    # the same measurement as measure_slice gives for those labels (hard labels, no probabilities)
    from mri_measure.measure import measure_slice

    assert m == measure_slice(edited, truth_analysis.axial[i].loaded.stack.spacing_mm)
    with pytest.raises(OptionError, match="shape"):
        s.edit_slice(key, edited[:5])
    with pytest.raises(OptionError, match="no axial slice"):
        s.edit_slice("1.2.3.no-such-slice", edited)


def test_level_override_regroups_levels(truth_analysis):
    s = ReviewSession(truth_analysis)
    key, i, k = _canal_slice(s)
    before = {lv.level: lv.slice_sop_instance_uids for lv in s.report().levels}
    assert s.set_level(key, "t12-l1").level == "T12-L1"
    after = {lv.level: lv for lv in s.report().levels}
    assert after["T12-L1"].slice_sop_instance_uids == (key,)
    assert after["T12-L1"].level_source is LevelSource.USER
    assert all(key not in lv.slice_sop_instance_uids for name, lv in after.items() if name != "T12-L1")
    assert sum(len(v) for v in before.values()) == sum(len(lv.slice_sop_instance_uids) for lv in after.values())
    s.set_level(key, "unknown")
    assert s.slice_result(key).level.level is None
    assert s.slice_result(key).level.source is LevelSource.USER
    assert sum(UNASSIGNED in w for w in s.report().warnings) == 1
    with pytest.raises(OptionError):
        s.set_level([], "L4-L5")


def test_block_level_sets_every_slice_of_the_stack(truth_analysis):
    s = ReviewSession(truth_analysis)
    i = len(s.stacks) - 1
    keys = s.stacks[i].keys
    lv = s.set_block_level(i, "L2-L3")
    assert lv.level == "L2-L3" and lv.source is LevelSource.USER and lv.confidence == 1.0
    l23 = next(x for x in s.report().levels if x.level == "L2-L3")
    assert set(l23.slice_sop_instance_uids) >= set(keys)
    assert all(s.slice_result(kk).level.source == "user" for kk in keys)


def test_warnings_follow_the_state_not_a_stale_copy(truth_analysis):
    own = truth_analysis.report.warnings
    assert own and not any(UNASSIGNED in w for w in own)
    s = ReviewSession(truth_analysis)
    keys = s.stacks[0].keys[:2]
    s.set_level(keys, None)
    assert [w for w in s.report().warnings if UNASSIGNED in w] == [f"2 {UNASSIGNED}"]
    assert [w for w in s.report().warnings if UNASSIGNED not in w] == list(own)
    # a session started from a report that carries the warning drops it once it no longer holds
    s2 = ReviewSession(s.analysis())
    s2.set_level(keys[0], "L4-L5")
    assert [w for w in s2.report().warnings if UNASSIGNED in w] == [f"1 {UNASSIGNED}"]
    s2.set_level(keys[1], "L4-L5")
    assert s2.report().warnings == own


def test_report_is_rebuilt_with_the_analysis_thresholds(truth_analysis):
    strict = Thresholds(lf_threshold_mm=9.0, canal_threshold_mm2=500.0)
    analysis = replace(truth_analysis, report=replace(truth_analysis.report, thresholds=strict))
    s = ReviewSession(analysis)
    key, _, _ = _canal_slice(s)
    s.set_level(key, s.slice_result(key).level.level)  # a no-op level: forces a rebuild
    rep = s.report()
    assert rep.thresholds is strict
    assert all(lv.canal_narrowed for lv in rep.levels if lv.canal_area_mm2 is not None)
    assert not any(lv.lf_thickened for lv in rep.levels)
    assert not any(lv.meets_mild_imaging_criteria for lv in rep.levels)


def test_write_and_training_pairs(truth_analysis, tmp_path):
    from mri_measure.report import report_to_dict
    from mri_measure.training.data import load_user_cases

    s = ReviewSession(truth_analysis)
    assert s.save_training_pairs(tmp_path / "none") == []
    key, i, k = _canal_slice(s)
    s.labels(i)[k][s.labels(i)[k] == Label.LF_LEFT] = 0
    s.sync(i)
    written = s.write(tmp_path / "out")
    doc = json.loads((tmp_path / "out" / "measurements.json").read_text())
    expected = json.loads(json.dumps(report_to_dict(s.report())))
    expected.pop("timings_s", None)  # write_outputs records its own time after writing
    assert doc == expected
    sl = next(x for x in doc["slices"] if x["sop_instance_uid"] == key)
    assert sl["lf_thickness_left_mm"] is None and sl["corrected"] is True
    assert {p.name for p in written.values()} >= {"measurements.json", "seg.dcm"}
    pairs = s.save_training_pairs(tmp_path / "pairs")
    assert len(pairs) == 1 and key not in pairs[0].name  # hashed names, no UIDs
    case = load_user_cases(tmp_path / "pairs")[0]
    np.testing.assert_array_equal(case.labels, s.labels(i)[k])
    np.testing.assert_allclose(case.image, truth_analysis.axial[i].loaded.pixels[k])
    assert tuple(case.spacing_mm) == pytest.approx(truth_analysis.axial[i].loaded.stack.spacing_mm)
    assert not list((tmp_path / "pairs").glob(".*"))  # no partial files left


def test_an_analysis_without_axial_stacks_is_refused(truth_analysis):
    with pytest.raises(OptionError, match="no measured axial stack"):
        ReviewSession(replace(truth_analysis, axial=()))


def test_a_corrected_outline_is_re_verdicted_and_counts_with_a_note(truth_analysis):
    from mri_measure.types import NOT_MEASURABLE, Quality, Verdict

    refused = Verdict(NOT_MEASURABLE, "the model disagrees with itself on the sac (mirror Dice 0.40 < 0.80)",
                      "tta_disagreement")
    # the model's canal of one slice was refused (as when its TTA disagreed)
    s0 = ReviewSession(truth_analysis)
    key, i, k = _canal_slice(s0)
    sa = truth_analysis.axial[i]
    qs = list(sa.qualities)
    assert qs[k].canal_area_mm2.ok  # the pipeline's own verdict on the phantom
    qs[k] = replace(qs[k], canal_area_mm2=refused)
    analysis = replace(truth_analysis, axial=tuple(
        replace(a, qualities=tuple(qs)) if j == i else a for j, a in enumerate(truth_analysis.axial)))
    from mri_measure.pipeline import build_report

    analysis = replace(analysis, report=build_report(
        analysis.axial, {s.sop_instance_uid: s.level for s in truth_analysis.report.slices},
        thresholds=truth_analysis.report.thresholds))
    s = ReviewSession(analysis)
    assert s.slice_result(key).quality.canal_area_mm2 == refused
    assert "tta_disagreement" in s.slice_result(key).quality_flags
    # the reader redraws the sac (a slightly smaller one): measurable again, no TTA check
    edited = s.labels(i)[k].copy()
    sac = edited == Label.CANAL
    from scipy import ndimage

    edited[sac & ~ndimage.binary_erosion(sac)] = Label.BACKGROUND
    s.edit_slice(key, edited)
    assert s.quality(key).canal_area_mm2 == Verdict()
    assert s.slice_result(key).quality.canal_area_mm2.ok
    # an implausible outline by the reader still counts, with the check's note
    tiny = np.where(edited == Label.CANAL, Label.BACKGROUND, edited).astype(np.uint8)
    rr, cc = np.nonzero(sac)
    r, c = int(np.median(rr)), int(np.median(cc))
    tiny[r - 2: r + 2, c - 2: c + 2] = Label.CANAL
    s.edit_slice(key, tiny)
    v = s.slice_result(key).quality.canal_area_mm2
    assert v.ok and v.reason.startswith("reader correction accepted; automatic check: sac area")
    assert "corrected_despite_check" in s.slice_result(key).quality_flags
    # reverting to the model's outline brings the model's verdict back
    s.edit_slice(key, analysis.axial[i].labels[k])
    assert s.quality(key).canal_area_mm2 == refused
    assert isinstance(s.quality(key), Quality)
