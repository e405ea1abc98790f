"""The fast 2-D training path: shapes, contract labels, exact coverage, determinism."""

import numpy as np
import pytest

from mri_measure.errors import MriMeasureError
from mri_measure.synth import AxialSample, sample_axial_2d


@pytest.fixture(scope="module")
def samples() -> list[AxialSample]:
    rng = np.random.default_rng(123)
    return [sample_axial_2d(rng, size_px=(160, 160)) for _ in range(6)] + [
        sample_axial_2d(rng, randomise=False, size_px=(160, 160), level=lev)
        for lev in ("L3-L4", "L4-L5", "L5-S1")
    ]


def test_fields_shapes_and_contract_labels(samples):
    for s in samples:
        assert s.image.shape == (160, 160) and s.image.dtype == np.float32
        assert s.labels.dtype == np.uint8 and set(np.unique(s.labels)) <= {0, 1, 2, 3}
        assert s.coverage.shape == (4, 160, 160) and s.coverage.dtype == np.float32
        assert np.allclose(s.coverage.sum(axis=0), 1.0, atol=1e-5)
        assert (s.coverage >= 0).all()
        np.testing.assert_array_equal(s.labels, s.coverage.argmax(axis=0))
        assert len(s.orientation) == 6 and len(s.spacing_mm) == 2
        assert s.level in ("L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1")
        assert np.isfinite(s.image).all()


def test_coverage_integrates_to_the_true_area(samples):
    for s in samples:
        px = s.spacing_mm[0] * s.spacing_mm[1]
        assert s.canal_area_mm2 is not None and s.canal_area_mm2 > 10
        assert s.coverage[1].sum() * px == pytest.approx(s.canal_area_mm2, rel=1e-4)
        # both LF present and labelled on their own side of the sac
        for lab, t in ((2, s.lf_thickness_left_mm), (3, s.lf_thickness_right_mm)):
            if t is not None:
                assert (s.labels == lab).any()


def test_realistic_mode_is_standard_axial_t2(samples):
    for s in samples[-3:]:
        assert s.contrast == "t2"
        row, col = np.array(s.orientation[:3]), np.array(s.orientation[3:])
        assert row[0] > 0.99  # columns run towards patient left
        assert abs(col[0]) < 1e-6 and col[1] > 0.6  # rows run towards posterior
        assert 0.5 <= s.spacing_mm[0] <= 0.85
        assert 100 < s.canal_area_mm2 < 220
        assert 1.5 < s.lf_thickness_left_mm < 4.0 and 1.5 < s.lf_thickness_right_mm < 4.0


def test_randomised_mode_rotates_the_plane_not_the_labels():
    rng = np.random.default_rng(5)
    angles, contrasts = [], set()
    for _ in range(12):
        s = sample_axial_2d(rng, size_px=(64, 64))
        row = np.array(s.orientation[:3])
        angles.append(np.degrees(np.arctan2(row[1], row[0])))
        contrasts.add(s.contrast)
        assert 0.3 <= s.spacing_mm[0] <= 1.0
    assert max(np.abs(angles)) <= 21 and np.std(angles) > 3
    assert len(contrasts) >= 2


def test_deterministic_for_a_seed():
    a = sample_axial_2d(np.random.default_rng(77), size_px=(96, 96))
    b = sample_axial_2d(np.random.default_rng(77), size_px=(96, 96))
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.canal_area_mm2 == b.canal_area_mm2 and a.orientation == b.orientation


def test_bad_options_raise_typed_errors():
    with pytest.raises(MriMeasureError, match="level"):
        sample_axial_2d(0, level="L9-L10")
    with pytest.raises(MriMeasureError, match="stenosis"):
        sample_axial_2d(0, stenosis="extreme")
    with pytest.raises(MriMeasureError, match="size_px"):
        sample_axial_2d(0, size_px=4)


def test_each_lf_side_is_one_region_apart_from_the_other(samples):
    from scipy import ndimage

    eight = np.ones((3, 3), bool)
    for s in samples:
        for lab in (2, 3):
            if (s.labels == lab).any():
                assert ndimage.label(s.labels == lab, structure=eight)[1] == 1
        near_left = ndimage.binary_dilation(s.labels == 2, structure=eight)
        assert not (near_left & (s.labels == 3)).any()


def test_randomised_truth_stays_in_plausible_ranges():
    """Across random subjects the truth spans the training ranges and stays sane."""
    rng = np.random.default_rng(2024)
    areas, lfs = [], []
    for _ in range(16):
        s = sample_axial_2d(rng, size_px=(96, 96), spacing_mm=(0.8, 0.8))
        assert s.canal_area_mm2 is not None and 5 < s.canal_area_mm2 < 320
        assert s.canal_ap_mm is not None and 2 < s.canal_ap_mm < 25
        areas.append(s.canal_area_mm2)
        lfs += [t for t in (s.lf_thickness_left_mm, s.lf_thickness_right_mm) if t is not None]
    assert min(areas) < 100 < max(areas)
    assert min(lfs) < 3.0 and max(lfs) > 4.5 and max(lfs) < 11.0
