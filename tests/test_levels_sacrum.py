"""Levels anchored on the sacrum (issue 20): nothing named when the sacrum is
out of view, the fused column over several slices, axial blocks that cannot be
named say which flag names them, and the uncertain cut-off reaches the outputs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mri_measure.levels import SACRUM_NOT_IN_VIEW, assign_levels, find_disc_levels
from mri_measure.levels.learned import sacrum_in_view
from mri_measure.levels.names import UNCERTAIN_BELOW, is_uncertain
from mri_measure.levels.sagittal.fuse import SliceColumn, fuse
from mri_measure.synth.phantom import make_phantom
from mri_measure.types import LevelAssignment, LoadedStack, SliceInfo, SliceMeasurement, SliceResult, Stack

from tests.test_levels_sagittal import sagittal_stack

ROOT = Path(__file__).resolve().parents[1]
SPIDER = ROOT.parent / "shared" / "data" / "spider_sagittal"


def _col(x: float, zs: list[float], y: float = 0.0) -> SliceColumn:
    return SliceColumn(x, "seen", [((x, y, z), (0.0, 0.0, 1.0), 9.0) for z in zs])


# ------------------------------------------------------------------ fusion (numpy only)


def test_fusion_takes_the_majority_l5_s1_and_drops_a_disc_seen_on_one_slice():
    column = [0.0, 40.0, 80.0, 120.0]
    mid = _col(0.0, column + [160.0])  # a sliver at the top of the mid slice only
    left = _col(-3.0, column, y=8.0)  # the detector sees another part of each disc: y moves
    right = _col(3.0, [-38.0] + column)  # a sacral remnant taken for L5-S1 on one slice
    f = fuse([mid, left, right])
    assert f.status == "seen" and not f.contested
    assert [round(d.centre_mm[2]) for d in f.discs] == [0, 40, 80, 120]
    assert all(d.support == 1.0 for d in f.discs)
    assert f.agreement == pytest.approx(0.33, abs=0.01)  # only the left slice matches exactly
    assert f.discs[0].centre_mm[0] == 0.0  # x of the slice nearest the middle


def test_fusion_names_nothing_when_most_slices_see_no_sacrum_and_a_tie_takes_the_cross_check():
    one = _col(0.0, [0.0, 40.0, 80.0])
    gone = SliceColumn(3.0, "not_in_view")
    assert fuse([one, gone, replace(gone, x_mm=-3.0)]).status == "not_in_view"
    assert fuse([one, gone, replace(gone, x_mm=-3.0)]).discs == ()
    a, b = _col(0.0, [0.0, 40.0, 80.0]), _col(3.0, [-40.0, 0.0, 40.0, 80.0])
    assert fuse([a, b]).contested
    assert round(fuse([a, b]).discs[0].centre_mm[2]) == 0  # the mid slice's
    assert round(fuse([a, b], prefer_yz=(0.0, -41.0)).discs[0].centre_mm[2]) == -40


def test_room_below_l5_s1_decides_whether_the_sacrum_is_in_view():
    rows = [20.0, 60.0, 100.0]  # disc centres, 40 px apart
    inside = np.ones((200, 50), bool)
    assert sacrum_in_view(rows, (100.0, 25.0), inside, inside.shape)  # 100 px = 2.5 spacings below
    assert not sacrum_in_view(rows, (100.0, 25.0), inside[:140], (140, 50))  # 1 spacing: a cut body
    inside[130:, :] = False  # the slice itself ends (NaN outside it) just below
    assert not sacrum_in_view(rows, (100.0, 25.0), inside, inside.shape)


# ------------------------------------------------------------------ real detector on images


def _cut_above_l5_s1(ph, lo: LoadedStack, margin_mm: float = 7.0) -> LoadedStack:
    """The sagittal slice cut ``margin_mm`` above the phantom's true L5-S1 centre."""
    sl = lo.slices[0]
    c, _, _ = ph.centre_line(ph.disc_s[0])
    cut = int((sl.position_mm[2] - c[2] - margin_mm) / sl.spacing_mm[0])
    sl2 = replace(sl, rows=cut)
    return LoadedStack(replace(lo.stack, slices=(sl2,)), lo.pixels[:, :cut], (sl2,))


@pytest.mark.parametrize("seed", [0, 1])
def test_a_synthetic_sagittal_cut_above_the_sacrum_names_no_level(seed):
    ph = make_phantom(seed)
    lo = sagittal_stack(ph, seed=seed)
    full = find_disc_levels(lo)
    assert full.status == "named" and full.discs[0].level == "L5-S1"
    cut = find_disc_levels(_cut_above_l5_s1(ph, lo))
    assert cut.discs == () and cut.status == "not_in_view"
    assert SACRUM_NOT_IN_VIEW in cut.warnings


@pytest.mark.skipif(not SPIDER.is_dir(), reason="../shared/data/spider_sagittal is absent")
def test_real_spider_slices_cut_above_the_sacrum_name_nothing():
    from mri_measure.testing import spider

    files = sorted((SPIDER / "images").glob("*.png"))[::3]  # 7 of 21, to stay fast
    named = 0
    for f in files:
        image, mask = spider.read_png(f), spider.read_png(SPIDER / "masks" / f.name)
        top_of_l5_s1 = int(np.nonzero(spider.mask_discs(mask)[-1])[0].min())
        got = find_disc_levels(spider.as_loaded_stack(image[: top_of_l5_s1 - 8]))
        named += bool(got.discs)
        assert got.discs or SACRUM_NOT_IN_VIEW in got.warnings
    assert named == 0, named  # all 21: none named (benchmarks/RESULTS.md)


# ------------------------------------------------------------------ axial blocks and hints


def _block(z0: float, n: int, first_instance: int, series: str = "1.2.5", sid: str = "5") -> Stack:
    slices = tuple(
        SliceInfo(f"{series}.{first_instance + k}", "", (-80.0, -80.0, z0 + 3.0 * k), (1, 0, 0, 0, 1, 0),
                  (0.5, 0.5), 321, 321, first_instance + k)
        for k in range(n)
    )
    return Stack(sid, "1.2.3", series, slices, frame_of_reference_uid="F")


def test_blocks_are_not_named_from_the_lowest_when_the_sagittal_shows_no_sacrum():
    stacks = [_block(0.0, 4, 1, sid="5a"), _block(40.0, 4, 11, sid="5b"), _block(80.0, 4, 21, sid="5c")]
    named, _ = assign_levels(stacks)
    assert named["1.2.5.1"].level == "L5-S1" and is_uncertain("L5-S1", named["1.2.5.1"].confidence)
    got, warnings = assign_levels(stacks, sacrum_in_view=False)
    assert all(a.level is None for a in got.values())
    hints = [w for w in warnings if w.startswith("axial block ")]
    assert len(hints) == 3
    assert "--level 3=LEVEL" in hints[0] and "slices 1–4" in hints[0] and "no sacrum" in hints[0]


def test_one_flag_names_a_block_and_the_other_blocks_follow_its_order():
    stacks = [_block(0.0, 4, 1, sid="5a"), _block(40.0, 4, 11, sid="5b"), _block(80.0, 4, 21, sid="5c")]
    got, warnings = assign_levels(stacks, overrides={"13": "L4-L5"}, sacrum_in_view=False)
    assert {got[f"1.2.5.{k}"].level for k in (11, 12, 13, 14)} == {"L4-L5"}
    assert got["1.2.5.12"].source == "user"
    assert got["1.2.5.1"].level == "L5-S1" and got["1.2.5.21"].level == "L3-L4"
    assert got["1.2.5.1"].source == "axial_blocks" and got["1.2.5.1"].confidence >= UNCERTAIN_BELOW
    assert not any(w.startswith("axial block ") for w in warnings)


def test_a_contiguous_stack_without_a_sagittal_says_how_to_name_it():
    long_run = _block(0.0, 20, 1, series="1.2.6", sid="6")  # 57 mm: several discs, nothing to place it
    got, warnings = assign_levels([long_run])
    assert all(a.level is None for a in got.values())
    (hint,) = [w for w in warnings if w.startswith("axial block ")]
    assert "1 of 1 (slices 1–20, 57 mm, several discs)" in hint and "--level 11=L4-L5" in hint


# ------------------------------------------------------------------ the cut-off reaches JSON


def test_uncertain_levels_are_marked_in_the_json_slice_rows():
    from mri_measure.report.json_csv import _slice_dict

    low = SliceResult("1.2", "3", 7, LevelAssignment("L4-L5", "axial_blocks", 0.6), SliceMeasurement())
    high = SliceResult("1.3", "3", 8, LevelAssignment("L4-L5", "sagittal", 0.95, 1.0), SliceMeasurement())
    none = SliceResult("1.4", "3", 9, LevelAssignment(None), SliceMeasurement())
    assert [_slice_dict(s)["level_uncertain"] for s in (low, high, none)] == [True, False, False]
