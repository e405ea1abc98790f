"""SynthSeg-style slices (mri_measure.synth.randomise): labels follow the
geometry, appearance really varies, the canal can sit at the image edge."""

import numpy as np
import pytest

from mri_measure.errors import OptionError
from mri_measure.segment.orientation import canonical_transform
from mri_measure.synth import anatomy as A
from mri_measure.synth.phantom import make_phantom
from mri_measure.synth.planes import PlaneMapper, disc_plane, plane_tissues, slice_truth
from mri_measure.synth.randomise import (
    MODES, DeformedMapper, _fold, elastic_field, random_intensities, sample_synthseg)
from mri_measure.training.data import make_training_pair

SMALL = {"shape": (96, 96), "spacing_mm": 0.6}


def _centroid(mask):
    rr, cc = np.nonzero(mask)
    return rr.mean(), cc.mean()


def test_same_seed_same_slice_other_seed_other_slice():
    a = sample_synthseg(np.random.default_rng(7), **SMALL)
    b = sample_synthseg(np.random.default_rng(7), **SMALL)
    c = sample_synthseg(np.random.default_rng(8), **SMALL)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.coverage, b.coverage)
    assert a.orientation == b.orientation and a.contrast == b.contrast
    assert not (a.image.shape == c.image.shape and np.allclose(a.image, c.image))


def test_coverage_labels_and_image_stay_consistent_over_random_geometry():
    shapes = set()
    for seed in (0, 3, 5, 7):
        s = sample_synthseg(np.random.default_rng(seed))  # random matrix, FOV, wrap, flips
        shapes.add(s.image.shape)
        assert s.image.shape == s.labels.shape == s.coverage.shape[1:]
        assert np.isfinite(s.image).all() and s.image.min() >= 0
        assert np.allclose(s.coverage.sum(0), 1.0, atol=1e-5) and s.coverage.min() >= 0
        hard = s.coverage.max(0) > 0.99  # uniform pixels: the label is their class
        assert np.array_equal(s.labels[hard], s.coverage.argmax(0)[hard])
        if s.canal_area_mm2 is not None:  # the exact area matches the coverage left in the field of view
            px = s.spacing_mm[0] * s.spacing_mm[1]
            assert abs(s.canal_area_mm2 - s.coverage[1].sum() * px) < 0.03 * s.canal_area_mm2 + 2 * px
    assert len(shapes) > 1


def test_elastic_deformation_moves_tissues_and_labels_together():
    ph = make_phantom(3)
    plane = disc_plane(ph, "L4-L5", spacing_mm=(0.5, 0.5), shape=(90, 90))
    fr, fc, step = elastic_field(np.random.default_rng(0), plane, 2.5, 10.0)
    deformed = DeformedMapper(PlaneMapper(ph, plane), fr, fc, step)
    tissues = plane_tissues(ph, plane, (0.0,), mapper_fn=lambda d: deformed)[0]
    truth = slice_truth(ph, plane, tissues, mapper=deformed)
    plain = slice_truth(ph, plane)
    from_tissues = A.TISSUE_TO_LABEL[tissues]
    fg = (truth.labels > 0) | (from_tissues > 0)
    assert (truth.labels[fg] == from_tissues[fg]).mean() > 0.95  # labels follow the deformed tissues
    moved = (plain.labels > 0) != (truth.labels > 0)
    assert moved.sum() > 20  # ... and the deformation really moved them
    assert truth.canal_area_mm2 is not None and truth.lf_thickness_left_mm is not None
    still = DeformedMapper(PlaneMapper(ph, plane), 0 * fr, 0 * fc, step)  # a zero field changes nothing
    assert np.array_equal(slice_truth(ph, plane, mapper=still).labels, plain.labels)


def test_lf_labels_are_patient_left_and_right_under_any_flip():
    seen = set()
    for seed in range(10):
        s = sample_synthseg(np.random.default_rng(seed), **SMALL)
        t = canonical_transform(s.orientation)
        seen.add((t.transpose, t.flip_rows, t.flip_cols))
        lab = t.apply(s.labels)
        if (lab == 2).sum() > 5 and (lab == 3).sum() > 5 and (lab == 1).sum() > 5:
            assert _centroid(lab == 2)[1] > _centroid(lab == 3)[1]  # canonical: patient left = larger column
            assert _centroid(lab == 2)[0] > _centroid(lab == 1)[0] - 3  # LF behind (below) the sac centre
    assert len(seen) >= 3  # the matrix really was flipped/transposed


def test_training_pair_mirror_swaps_lf_channels():
    s = next(s for s in (sample_synthseg(np.random.default_rng(k), edge=False, **SMALL) for k in range(20, 30))
             if min((s.labels == 2).sum(), (s.labels == 3).sum()) > 20)
    sides = set()
    for seed in range(8):
        y = make_training_pair(s, np.random.default_rng(seed))["seg_y"]
        cols = np.arange(y.shape[-1])
        c2 = (y[2].sum(0) * cols).sum() / max(y[2].sum(), 1e-6)
        c3 = (y[3].sum(0) * cols).sum() / max(y[3].sum(), 1e-6)
        assert c2 > c3  # channel 2 is always on the canonical (patient) left ...
        sides.add(round(float(y[2].sum() - y[3].sum()), 3))
    assert len(sides) >= 2  # ... and mirrored pairs swap which ligament that is


def test_intensities_vary_per_label_and_order_changes():
    tabs = np.stack([random_intensities(np.random.default_rng(k))[0] for k in range(60)])
    assert (tabs.std(0)[1:] > 150).all()  # every tissue's intensity really varies
    csf_brighter_than_fat = tabs[:, A.CSF] > tabs[:, A.EPIDURAL_FAT]
    csf_brighter_than_lf = tabs[:, A.CSF] > tabs[:, A.LF_LEFT]
    assert 0.2 < csf_brighter_than_fat.mean() < 0.9 and 0.2 < csf_brighter_than_lf.mean() < 0.95
    modes = {random_intensities(np.random.default_rng(k))[1] for k in range(60)}
    assert modes == set(MODES)
    with pytest.raises(OptionError):
        random_intensities(np.random.default_rng(0), "pd")
    # in rendered images too: the sac is brighter than its ligament on some slices, darker on others
    ratios = []
    for seed in range(8):
        s = sample_synthseg(np.random.default_rng(seed), **SMALL)
        if (s.labels == 1).sum() > 10 and (s.labels == 2).sum() > 5:
            ratios.append(s.image[s.labels == 1].mean() / max(s.image[s.labels == 2].mean(), 1e-3))
    assert min(ratios) < 1 < max(ratios)


def test_canal_can_sit_at_the_image_edge_and_the_localiser_sees_it_there():
    near = []
    for seed in range(5):
        s = sample_synthseg(np.random.default_rng(seed), edge=True, shape=(110, 110), spacing_mm=0.7)
        if (s.labels == 1).sum() == 0:
            continue
        r, c = _centroid(s.labels == 1)
        h, w = s.labels.shape
        near.append(min(r, c, h - 1 - r, w - 1 - c) * 0.7)
        pair = make_training_pair(s, np.random.default_rng(seed), loc_anywhere=1.0)
        assert pair["loc_y"].max() > 0.3  # the canal is still a localiser target
    assert len(near) >= 3 and max(near) < 12.0 and min(near) < 6.0


def test_wrap_around_folds_without_losing_signal():
    img = np.random.default_rng(0).random((20, 12)).astype(np.float32)
    out = _fold(img, 3, 0)
    assert out.shape == (14, 12) and np.isclose(out.sum(), img.sum())
    assert np.allclose(out[0], img[3] + img[17])
    assert _fold(img, 2, 1).shape == (20, 8)


def test_facet_bars_give_a_straight_joint_line_and_leave_the_labels_alone():
    from dataclasses import replace

    ph = make_phantom(3)
    bars = replace(ph, knobs={**ph.knobs, "facet_bars": 0.6}, _tables={})
    plane = disc_plane(ph, "L4-L5", spacing_mm=(0.5, 0.5), shape=(140, 140), centre_on="canal")
    round_t, bar_t = plane_tissues(ph, plane)[0], plane_tissues(bars, plane)[0]
    # the truth (sac, LF) is the same; only the bone around the ligament changes
    assert np.array_equal(slice_truth(ph, plane, round_t).labels, slice_truth(bars, plane, bar_t).labels)

    def joint_elongation(t):  # principal-axis ratio of one side's joint space
        rr, cc = np.nonzero(t == A.FACET_CARTILAGE)
        x = np.column_stack([rr[cc < 70], cc[cc < 70]]).astype(float)
        ev = np.linalg.eigvalsh(np.cov(x.T))
        return float(np.sqrt(ev[1] / ev[0]))

    assert joint_elongation(round_t) < 3.0 < 8.0 < joint_elongation(bar_t)  # an arc, then a line


def test_most_cauda_equina_roots_are_still_in_the_sac_at_l5_s1():
    from mri_measure.synth.randomise import _clumped_roots

    ph = make_phantom(0)
    rng = np.random.default_rng(0)
    roots = np.concatenate([_clumped_roots(rng, ph.disc_s, 5) for _ in range(60)])
    at_l5s1 = roots[:, 3] < ph.disc_s[0]  # present where s > exit_s
    assert 0.5 < at_l5s1.mean() < 0.7  # S1-Co1: 12 of the ~20 roots below the conus


def test_lf_reach_shortens_the_ligament_laterally_and_puts_bone_beside_the_sac():
    from dataclasses import replace

    ph = make_phantom(3)
    plane = disc_plane(ph, "L4-L5", spacing_mm=(0.5, 0.5), shape=(140, 140), centre_on="canal")
    full_t = plane_tissues(ph, plane)[0]
    same_t = plane_tissues(replace(ph, knobs={**ph.knobs, "lf_reach": 1.0}, _tables={}), plane)[0]
    assert np.array_equal(full_t, same_t)  # the default draws the full ligament
    short = replace(ph, knobs={**ph.knobs, "lf_reach": 0.5}, _tables={})
    short_t = plane_tissues(short, plane)[0]
    full, cut = slice_truth(ph, plane, full_t).labels, slice_truth(short, plane, short_t).labels
    assert np.array_equal(full == 1, cut == 1)  # the sac is untouched
    lf_full, lf_cut = np.isin(full, (2, 3)), np.isin(cut, (2, 3))
    assert not (lf_cut & ~lf_full).any()
    assert 0.3 < lf_cut.sum() / lf_full.sum() < 0.75
    removed = lf_full & ~lf_cut
    bone = np.isin(short_t, (A.POSTERIOR_BONE, A.CORTEX))
    assert bone[removed].mean() > 0.9  # the articular process's bone takes the ligament's place
    # what is left is the medial part, next to the midline, and the removed part is lateral
    mid_col = np.nonzero(full == 1)[1].mean()
    assert np.abs(np.nonzero(lf_cut)[1] - mid_col).max() < np.abs(np.nonzero(removed)[1] - mid_col).mean()


def test_a_severe_asymmetric_phantom_keeps_its_lf_in_range_and_user_values_are_still_checked():
    from mri_measure.errors import OptionError

    ph = make_phantom(505, stenosis="severe", asymmetry=1.0)  # 6.5 mm × 1.35 before the clip
    assert 0.5 <= ph.lf_left_mm.min() and max(ph.lf_left_mm.max(), ph.lf_right_mm.max()) <= 9.0
    with pytest.raises(OptionError, match="between 0.5 and 9 mm"):
        make_phantom(0, lf_thickness_mm=12.0, asymmetry=1.0)
