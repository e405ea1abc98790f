"""Quality verdicts (mri_measure.measure.quality): good synthetic slices pass,
deliberately bad segmentations are refused with the right reason, and a flagged
value never reaches a level value or a criterion."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from mri_measure.criteria import Thresholds, aggregate_levels
from mri_measure.measure import measure_slice
from mri_measure.measure.quality import assess_slice, is_t2_series, mirror_dice
from mri_measure.synth import sample_axial_2d
from mri_measure.types import NOT_MEASURABLE, LevelAssignment, Quality, SliceMeasurement, SliceResult, Verdict


@pytest.fixture(scope="module")
def samples():
    return [sample_axial_2d(np.random.default_rng(seed), randomise=False) for seed in range(6)]


def _assess(s, labels, **kw):
    m = measure_slice(labels, s.spacing_mm)
    kw.setdefault("is_t2", True)
    return assess_slice(labels, m, s.spacing_mm, image=s.image, orientation=s.orientation, **kw)


def _posterior_px(s) -> np.ndarray:
    """(drow, dcol) pixel step of 1 mm towards the patient's posterior."""
    row_dir, col_dir = np.asarray(s.orientation[:3]), np.asarray(s.orientation[3:])
    v = np.array([col_dir[1], row_dir[1]])
    return v / np.linalg.norm(v) / np.asarray(s.spacing_mm)


def _shift(mask: np.ndarray, step_px: np.ndarray) -> np.ndarray:
    return ndimage.shift(mask.astype(float), step_px, order=0) > 0.5


def test_good_synthetic_slices_are_not_refused(samples):
    for s in samples:
        q = _assess(s, s.labels)
        for name, v in q.verdicts().items():
            if getattr(s, name) is not None:  # present in the truth: must be measurable
                assert v.ok and v.reason is None, (name, v)


def test_sac_on_the_vertebral_body_is_refused(samples):
    s = samples[0]
    sac = s.labels == 1
    ap_mm = float(np.ptp(np.nonzero(sac)[0])) * s.spacing_mm[0]
    moved = np.zeros_like(s.labels)
    step = -_posterior_px(s) * (ap_mm + 14.0)  # a sac's depth plus ~14 mm forwards: the body
    moved[_shift(sac, step)] = 1
    for lab in (2, 3):
        moved[_shift(s.labels == lab, step)] = lab  # the whole segmentation placed there
    q = _assess(s, moved)
    assert q.canal_area_mm2.verdict == NOT_MEASURABLE
    assert q.canal_area_mm2.flag in ("sac_in_uniform_region", "sac_not_bright"), q.canal_area_mm2
    assert not q.lf_thickness_left_mm.ok and not q.lf_thickness_right_mm.ok
    assert q.lf_thickness_left_mm.flag == "lf_without_sac"


def test_lf_in_front_of_the_sac_is_refused(samples):
    s = samples[1]
    lab = s.labels.copy()
    sac = lab == 1
    ap_mm = float(np.ptp(np.nonzero(sac)[0])) * s.spacing_mm[0]
    left = lab == 2
    lab[left] = 0
    lab[_shift(left, -_posterior_px(s) * (ap_mm + 8.0)) & ~sac] = 2
    q = _assess(s, lab)
    assert q.canal_area_mm2.ok and q.lf_thickness_right_mm.ok
    assert q.lf_thickness_left_mm.flag == "lf_position_implausible"
    assert q.lf_thickness_left_mm.reason == "left LF lies in front of the sac"


def test_lf_on_the_wrong_side_is_refused(samples):
    s = samples[2]
    lab = s.labels.copy()
    lab[lab == 2] = 0
    lab[s.labels == 3] = 2  # the right ligament labelled as the left one
    q = _assess(s, lab)
    assert q.lf_thickness_left_mm.reason == "left LF is on the wrong side"


@pytest.mark.parametrize("radius_mm, words", [(2.0, "outside 20–400 mm²"), (13.0, "outside 20–400 mm²")])
def test_tiny_or_huge_sac_is_refused(samples, radius_mm, words):
    s = samples[3]
    c = np.array(ndimage.center_of_mass(s.labels == 1))
    yy, xx = np.mgrid[: s.labels.shape[0], : s.labels.shape[1]]
    disc = ((yy - c[0]) * s.spacing_mm[0]) ** 2 + ((xx - c[1]) * s.spacing_mm[1]) ** 2 < radius_mm**2
    lab = np.where(s.labels == 1, 0, s.labels).astype(np.uint8)
    lab[disc] = 1
    q = _assess(s, lab)
    assert q.canal_area_mm2.flag == "sac_area_implausible"
    assert words in q.canal_area_mm2.reason


def test_fragmented_and_streak_sacs_are_refused(samples):
    s = samples[4]
    lab = s.labels.copy()
    sac = lab == 1
    rr, cc = np.nonzero(sac)
    mid = int(np.median(cc))
    lab[:, mid - 3: mid + 3][sac[:, mid - 3: mid + 3]] = 0  # cut in two halves
    q = _assess(s, lab)
    assert q.canal_area_mm2.flag == "sac_fragmented"
    streak = np.zeros_like(s.labels)
    r0, c0 = int(np.median(rr)), int(np.median(cc))
    n = int(round(30.0 / s.spacing_mm[1]))
    streak[r0: r0 + max(2, int(round(2.5 / s.spacing_mm[0]))), c0 - n // 2: c0 + n // 2] = 1  # 30 × 2.5 mm
    q = _assess(s, streak)
    assert q.canal_area_mm2.flag == "sac_shape_implausible"
    assert "axis ratio" in q.canal_area_mm2.reason


def test_t2_contrast_applies_only_to_t2(samples):
    s = samples[5]
    inverted = s.image.max() - s.image  # T1-like: CSF dark
    m = measure_slice(s.labels, s.spacing_mm)
    t2 = assess_slice(s.labels, m, s.spacing_mm, image=inverted, orientation=s.orientation, is_t2=True)
    t1 = assess_slice(s.labels, m, s.spacing_mm, image=inverted, orientation=s.orientation, is_t2=False)
    assert t2.canal_area_mm2.flag == "sac_not_bright"
    assert t1.canal_area_mm2.ok
    assert is_t2_series("axial_t2", None) and is_t2_series("other", 90.0) and not is_t2_series("other", 12.0)


def test_tta_disagreement_is_refused_and_skipped_for_corrections(samples):
    s = samples[0]
    q = _assess(s, s.labels, tta_dice=(0.55, 0.9, 0.3))
    assert q.canal_area_mm2.flag == "tta_disagreement" and "0.55 < 0.80" in q.canal_area_mm2.reason
    assert q.lf_thickness_left_mm.flag == "lf_without_sac"
    q = _assess(s, s.labels, tta_dice=(0.97, 0.9, 0.3))
    assert q.canal_area_mm2.ok and q.lf_thickness_left_mm.ok
    assert q.lf_thickness_right_mm.flag == "lf_tta_disagreement"
    # a reader's outline has no TTA: the check does not apply
    assert _assess(s, s.labels, tta_dice=(0.1, 0.1, 0.1), corrected=True).canal_area_mm2 == Verdict()


def test_corrected_outline_counts_with_a_note(samples):
    s = samples[3]
    lab = np.where(s.labels == 1, 0, s.labels).astype(np.uint8)
    c = np.array(ndimage.center_of_mass(s.labels == 1)).astype(int)
    lab[c[0] - 2: c[0] + 2, c[1] - 2: c[1] + 2] = 1  # a tiny sac, drawn by the reader
    q = _assess(s, lab, corrected=True)
    assert q.canal_area_mm2.ok
    assert q.canal_area_mm2.reason.startswith("reader correction accepted; automatic check: sac area")
    assert "corrected_despite_check" in q.flags


def test_mirror_dice():
    a = np.zeros((4, 10, 10), np.float32)
    a[0] = 1
    b = a.copy()
    a[:, 2:6, 2:6] = np.eye(4)[1][:, None, None]
    b[:, 2:6, 4:8] = np.eye(4)[1][:, None, None]
    assert mirror_dice(a, b) == pytest.approx((0.5, 1.0, 1.0))


def _res(uid, canal, lf, quality=Quality()):
    m = SliceMeasurement(canal_area_mm2=canal, canal_area_uncertainty_mm2=1.0,
                         lf_thickness_left_mm=lf, lf_thickness_left_uncertainty_mm=0.05, canal_ap_mm=9.0)
    return SliceResult(uid, "3.1", None, LevelAssignment("L4-L5", "sagittal", 0.9), m, quality=quality)


def test_levels_use_only_ok_values():
    bad = Verdict(NOT_MEASURABLE, "sac shape implausible (solidity 0.40 < 0.70)", "sac_shape_implausible")
    bad_lf = Verdict(NOT_MEASURABLE, "left LF lies in front of the sac", "lf_position_implausible")
    # the flagged slice holds the smallest canal (46 mm², "narrowed") and the thickest LF
    (lv,) = aggregate_levels([_res("a", 46.0, 6.0, Quality(bad, bad_lf)), _res("b", 140.0, 2.0)], Thresholds())
    assert lv.canal_area_mm2 == 140.0 and lv.canal_area_sop_instance_uid == "b"
    assert lv.lf_thickness_left_mm == 2.0 and lv.canal_narrowed is False and lv.lf_thickened is False
    assert lv.quality.canal_area_mm2.ok
    # every slice flagged: nothing is computed from the values
    (lv,) = aggregate_levels([_res("a", 46.0, 6.0, Quality(bad, bad_lf)),
                              _res("b", 50.0, 5.0, Quality(bad, bad_lf))], Thresholds())
    assert lv.canal_area_mm2 is None and lv.lf_thickness_max_mm is None and lv.canal_ap_mm is None
    assert lv.canal_narrowed is None and lv.lf_thickened is None
    assert lv.meets_mild_imaging_criteria is None and lv.canal_grade is None and not lv.borderline
    assert lv.quality.canal_area_mm2.verdict == NOT_MEASURABLE
    assert lv.quality.canal_area_mm2.reason == bad.reason
    assert lv.quality.lf_thickness_left_mm.reason == bad_lf.reason


def test_absent_values_are_not_measurable_but_not_refused():
    from mri_measure.measure.quality import absent_only

    q = absent_only(SliceMeasurement(canal_area_mm2=120.0))
    assert q.canal_area_mm2.ok
    assert q.lf_thickness_left_mm.verdict == NOT_MEASURABLE and not q.lf_thickness_left_mm.refused
    assert q.lf_thickness_left_mm.reason == "no ligamentum flavum found (patient left)"
    assert Verdict(NOT_MEASURABLE, "x", "sac_fragmented").refused


def test_outline_cut_short_inside_the_csf_is_refused_on_t2(samples):
    """An outline eroded by 1 mm stays inside the bright CSF: the band just outside
    it is as bright as its inside, so the (too small) area is refused; the true
    outline and the same cut outline on a non-T2 series are not."""
    for s in samples[:3]:
        sac = s.labels == 1
        px = int(round(1.0 / min(s.spacing_mm)))
        cut = np.where(sac & ~ndimage.binary_erosion(sac, iterations=px), 0, s.labels)
        q = _assess(s, cut)
        assert q.canal_area_mm2.flag == "sac_edge_missed", q.canal_area_mm2
        assert "its edge was missed" in q.canal_area_mm2.reason
        assert _assess(s, s.labels).canal_area_mm2.ok
        assert _assess(s, cut, is_t2=False).canal_area_mm2.flag != "sac_edge_missed"
