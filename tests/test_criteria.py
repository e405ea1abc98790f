"""mri_measure.criteria: thresholds, grades and per-level aggregation."""

from __future__ import annotations

import pytest

from mri_measure.criteria import (
    Thresholds,
    aggregate_levels,
    canal_grade,
)
from mri_measure.errors import InputError, OptionError
from mri_measure.levels.names import level_sort_key
from mri_measure.types import LevelAssignment, SliceMeasurement, SliceResult


def result(
    uid,
    level="L4-L5",
    *,
    canal=None,
    left=None,
    right=None,
    ap=None,
    u_canal=1.0,
    u_lf=0.05,
    source="sagittal",
    confidence=0.9,
):
    m = SliceMeasurement(
        canal_area_mm2=canal,
        canal_area_uncertainty_mm2=None if canal is None else u_canal,
        lf_thickness_left_mm=left,
        lf_thickness_left_uncertainty_mm=None if left is None else u_lf,
        lf_thickness_right_mm=right,
        lf_thickness_right_uncertainty_mm=None if right is None else u_lf,
        canal_ap_mm=ap,
    )
    return SliceResult(uid, "3.1", None, LevelAssignment(level, source, confidence), m)


def one(results, thresholds=None):
    levels = aggregate_levels(results, thresholds or Thresholds())
    assert len(levels) == 1
    return levels[0]


# ------------------------------------------------------------------ thresholds


def test_thresholds_are_inclusive_at_exactly_2_5_and_100():
    t = Thresholds()
    assert t.lf_thickened(2.5) is True and t.lf_thickened(2.4999) is False
    assert t.canal_narrowed(100.0) is True and t.canal_narrowed(100.0001) is False
    lvl = one([result("a", canal=100.0, left=2.5, u_canal=0.0, u_lf=0.0)])
    assert lvl.canal_narrowed is True and lvl.lf_thickened is True
    assert lvl.meets_mild_imaging_criteria is True


def test_custom_thresholds_are_used():
    lvl = one([result("a", canal=110.0, left=2.8)], Thresholds(lf_threshold_mm=3.0, canal_threshold_mm2=120.0))
    assert lvl.canal_narrowed is True and lvl.lf_thickened is False
    assert lvl.meets_mild_imaging_criteria is False


def test_thresholds_round_trip_through_the_json_dict():
    t = Thresholds(lf_threshold_mm=3.25, canal_threshold_mm2=87.5)
    doc = t.to_dict()
    assert doc["lf_thickness_mm"] == {"value": 3.25, "comparison": ">=", "inclusive": True,
                                      "applies_to": "max(left, right) ligamentum flavum thickness"}
    assert doc["canal_area_mm2"]["comparison"] == "<=" and doc["canal_area_mm2"]["value"] == 87.5
    assert doc["canal_grades_mm2"] == {"absolute": 75.0, "relative": 100.0, "early": 130.0}
    assert Thresholds.from_dict(doc) == t
    with pytest.raises(InputError):
        Thresholds.from_dict({"lf_thickness_mm": {"value": 2.5}})
    with pytest.raises(OptionError):  # a recorded value out of range is refused like a typed one
        Thresholds.from_dict({**doc, "lf_thickness_mm": {"value": -1}})


@pytest.mark.parametrize(
    "canal, lf, expected",
    [(90.0, 3.0, True), (100.0, 2.5, True), (100.01, 3.0, False), (90.0, 2.49, False),
     (None, 3.0, None), (90.0, None, None), (120.0, None, False), (None, 1.0, False), (None, None, None)],
)
def test_meets_is_the_one_combination_of_both_criteria(canal, lf, expected):
    t = Thresholds()
    assert t.meets(canal, lf) is expected
    lvl = one([result("a", canal=canal, left=lf)]) if (canal is not None or lf is not None) else None
    if lvl is not None:
        assert lvl.meets_mild_imaging_criteria is expected


def test_criteria_text_names_both_thresholds():
    assert Thresholds(3.0, 90.0).criteria_text() == "LF ≥ 3 mm and dural-sac area ≤ 90 mm²"


def test_canal_grades():
    assert [canal_grade(v) for v in (74.9, 75.0, 99.9, 100.0, 129.9, 130.0)] == [
        "absolute", "relative", "relative", "early", "early", "normal",
    ]
    assert canal_grade(None) is None


def test_bad_thresholds_argument_is_option_error():
    with pytest.raises(OptionError):
        aggregate_levels([result("a", canal=90.0)], {"lf_threshold_mm": 2.5})


# ------------------------------------------------------------------ aggregation


def test_min_canal_and_max_lf_per_side_with_their_slices():
    slices = [
        result("s1", canal=120.0, left=2.0, right=3.4, ap=12.0),
        result("s2", canal=85.0, left=2.9, right=3.1, ap=9.5),
        result("s3", canal=95.0, left=3.3, right=None, ap=10.0),
    ]
    lvl = one(slices)
    assert lvl.canal_area_mm2 == 85.0 and lvl.canal_area_sop_instance_uid == "s2"
    assert lvl.lf_thickness_left_mm == 3.3 and lvl.lf_thickness_left_sop_instance_uid == "s3"
    assert lvl.lf_thickness_right_mm == 3.4 and lvl.lf_thickness_right_sop_instance_uid == "s1"
    assert lvl.lf_thickness_max_mm == 3.4
    assert lvl.representative_sop_instance_uid == "s2"
    assert lvl.canal_ap_mm == 9.5  # from the representative (canal-minimum) slice
    assert lvl.canal_grade == "relative"
    assert lvl.slice_sop_instance_uids == ("s1", "s2", "s3")
    assert lvl.canal_area_uncertainty_mm2 == 1.0 and lvl.lf_thickness_left_uncertainty_mm == 0.05


def test_representative_is_lf_max_slice_when_no_canal():
    lvl = one([result("a", left=2.0, ap=None), result("b", right=4.0, ap=None), result("c", left=3.0)])
    assert lvl.canal_area_mm2 is None and lvl.canal_narrowed is None
    assert lvl.representative_sop_instance_uid == "b"
    assert lvl.canal_ap_mm is None and lvl.canal_grade is None


def test_levels_in_anatomical_order_and_unassigned_slices_skipped():
    slices = [
        result("a", "L5-S1", canal=150.0),
        result("b", None, canal=50.0),
        result("c", "L1-L2", canal=160.0),
        result("d", "T12-L1", canal=170.0),
        result("e", "L4-L5", canal=90.0),
        result("f", "L6-S1", canal=140.0),
        result("g", "L3-L4", canal=110.0),
    ]
    levels = aggregate_levels(slices, Thresholds())
    assert [lv.level for lv in levels] == ["T12-L1", "L1-L2", "L3-L4", "L4-L5", "L5-S1", "L6-S1"]
    assert all("b" not in lv.slice_sop_instance_uids for lv in levels)
    assert aggregate_levels([result("x", None, canal=80.0)], Thresholds()) == ()
    assert aggregate_levels([], Thresholds()) == ()


def test_level_sort_key_puts_unknown_names_last():
    names = ["L5-S1", "weird", "L2-L3", "L5-L6"]
    assert sorted(names, key=level_sort_key) == ["L2-L3", "L5-L6", "L5-S1", "weird"]


def test_meets_criteria_only_when_both_hold_at_the_same_level():
    slices = [
        result("a", "L3-L4", canal=90.0, left=2.0, right=2.1),  # narrowed, LF thin
        result("b", "L4-L5", canal=140.0, left=3.5, right=3.9),  # LF thick, canal wide
        result("c", "L5-S1", canal=80.0, left=2.2, right=3.0),  # both
    ]
    by = {lv.level: lv for lv in aggregate_levels(slices, Thresholds())}
    assert (by["L3-L4"].canal_narrowed, by["L3-L4"].lf_thickened) == (True, False)
    assert by["L3-L4"].meets_mild_imaging_criteria is False
    assert (by["L4-L5"].canal_narrowed, by["L4-L5"].lf_thickened) == (False, True)
    assert by["L4-L5"].meets_mild_imaging_criteria is False
    assert by["L5-S1"].meets_mild_imaging_criteria is True


def test_meets_criteria_unknown_vs_known_false():
    assert one([result("a", canal=90.0)]).meets_mild_imaging_criteria is None  # LF unknown
    assert one([result("a", left=3.0)]).meets_mild_imaging_criteria is None  # canal unknown
    assert one([result("a", canal=150.0)]).meets_mild_imaging_criteria is False  # known False
    assert one([result("a", left=1.9)]).meets_mild_imaging_criteria is False


def test_level_source_majority_and_min_confidence():
    lvl = one(
        [
            result("a", canal=100.0, source="sagittal", confidence=0.9),
            result("b", canal=101.0, source="sagittal", confidence=0.7),
            result("c", canal=102.0, source="axial_blocks", confidence=0.4),
        ]
    )
    assert lvl.level_source == "sagittal" and lvl.level_confidence == pytest.approx(0.4)
    tie = one([result("a", canal=99.0, source="axial_blocks", confidence=0.5), result("b", canal=98.0, source="user", confidence=1.0)])
    assert tie.level_source == "user" and tie.level_confidence == pytest.approx(0.5)


# -------------------------------------------------------------------- borderline


def test_canal_borderline_when_interval_straddles_threshold():
    lvl = one([result("a", canal=98.0, u_canal=3.0, left=3.5, u_lf=0.1)])
    assert lvl.borderline is True
    assert lvl.borderline_reasons == ("canal area 98 ± 6 mm² straddles the 100 mm² threshold",)
    clear = one([result("a", canal=90.0, u_canal=3.0, left=3.5, u_lf=0.1)])  # 90 + 5.9 < 100
    assert clear.borderline is False and clear.borderline_reasons == ()
    above = one([result("a", canal=104.0, u_canal=3.0, left=3.5, u_lf=0.1)])  # 104 - 5.9 < 100
    assert above.borderline is True and above.canal_narrowed is False


def test_lf_borderline_follows_the_max_of_both_sides():
    near = one([result("a", canal=80.0, u_canal=1.0, left=2.4, right=1.5, u_lf=0.1)])
    assert near.borderline is True and near.lf_thickened is False
    assert near.borderline_reasons == ("LF thickness left 2.4 ± 0.2 mm straddles the 2.5 mm threshold",)
    # right side is near the threshold, but the left side is clearly thick: not borderline
    settled = one([result("a", canal=80.0, u_canal=1.0, left=3.6, right=2.45, u_lf=0.1)])
    assert settled.lf_thickened is True and settled.borderline is False
    both = one([result("a", canal=80.0, u_canal=1.0, left=2.55, right=2.45, u_lf=0.1)])
    assert both.borderline is True and len(both.borderline_reasons) == 2


def test_missing_or_zero_uncertainty_is_never_borderline():
    lvl = one([result("a", canal=100.0, u_canal=0.0, left=2.5, u_lf=0.0)])
    assert lvl.borderline is False
    m = SliceMeasurement(canal_area_mm2=99.0, lf_thickness_left_mm=2.5)
    lvl = one([SliceResult("a", "3.1", None, LevelAssignment("L4-L5", "sagittal", 1.0), m)])
    assert lvl.borderline is False and lvl.meets_mild_imaging_criteria is True


def test_uncertainty_recorded_comes_from_the_extreme_slice():
    lvl = one([result("a", canal=120.0, u_canal=9.0), result("b", canal=99.0, u_canal=0.5)])
    assert lvl.canal_area_uncertainty_mm2 == 0.5 and lvl.borderline is False


# ------------------------------------------------------------- property-based

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

LEVELS = ["T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]
_maybe = lambda lo, hi: st.none() | st.floats(lo, hi)  # noqa: E731

slice_rows = st.lists(
    st.tuples(
        st.sampled_from(LEVELS + [None]),
        _maybe(30.0, 250.0),
        _maybe(0.5, 7.0),
        _maybe(0.5, 7.0),
        st.floats(0.0, 5.0),
        st.floats(0.0, 0.4),
    ),
    max_size=25,
)


@settings(max_examples=150, derandomize=True, deadline=None, database=None)
@given(rows=slice_rows, shuffle_seed=st.integers(0, 1000))
def test_aggregation_invariants(rows, shuffle_seed):
    import random

    results = [
        result(f"uid{i}", lvl, canal=c, left=le, right=ri, u_canal=uc, u_lf=ul, ap=i * 1.0)
        for i, (lvl, c, le, ri, uc, ul) in enumerate(rows)
    ]
    t = Thresholds()
    levels = aggregate_levels(results, t)
    shuffled = results[:]
    random.Random(shuffle_seed).shuffle(shuffled)
    again = aggregate_levels(shuffled, t)
    assert [lv.level for lv in levels] == sorted({r.level.level for r in results if r.level.level}, key=LEVELS.index)
    for lv, lv2 in zip(levels, again):  # order of slices does not change the values
        assert (lv.canal_area_mm2, lv.lf_thickness_max_mm, lv.meets_mild_imaging_criteria) == (
            lv2.canal_area_mm2, lv2.lf_thickness_max_mm, lv2.meets_mild_imaging_criteria,
        )
    by_uid = {r.sop_instance_uid: r.measurement for r in results}
    for lv in levels:
        mine = [by_uid[u] for u in lv.slice_sop_instance_uids]
        canals = [m.canal_area_mm2 for m in mine if m.canal_area_mm2 is not None]
        lefts = [m.lf_thickness_left_mm for m in mine if m.lf_thickness_left_mm is not None]
        rights = [m.lf_thickness_right_mm for m in mine if m.lf_thickness_right_mm is not None]
        assert lv.canal_area_mm2 == (min(canals) if canals else None)
        assert lv.lf_thickness_left_mm == (max(lefts) if lefts else None)
        assert lv.lf_thickness_right_mm == (max(rights) if rights else None)
        assert lv.lf_thickness_max_mm == (max(lefts + rights) if lefts + rights else None)
        if canals:
            assert by_uid[lv.canal_area_sop_instance_uid].canal_area_mm2 == lv.canal_area_mm2
            assert lv.representative_sop_instance_uid == lv.canal_area_sop_instance_uid
        if lv.representative_sop_instance_uid is not None:
            assert lv.canal_ap_mm == by_uid[lv.representative_sop_instance_uid].canal_ap_mm
        narrowed = None if not canals else min(canals) <= 100.0
        thick = None if not lefts + rights else max(lefts + rights) >= 2.5
        expected = False if False in (narrowed, thick) else (None if None in (narrowed, thick) else True)
        assert (lv.canal_narrowed, lv.lf_thickened, lv.meets_mild_imaging_criteria) == (narrowed, thick, expected)
        assert lv.borderline == bool(lv.borderline_reasons)
        u = lv.canal_area_uncertainty_mm2
        if canals and u and abs(lv.canal_area_mm2 - 100.0) <= 1.96 * u:
            assert any(r.startswith("canal area") for r in lv.borderline_reasons)
        assert lv.canal_grade == canal_grade(lv.canal_area_mm2)
