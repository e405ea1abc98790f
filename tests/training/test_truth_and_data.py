import numpy as np
import pytest

from mri_measure.errors import InputError, ModelError
from mri_measure.segment import Segmenter
from mri_measure.testing.truth import TruthSegmenter
from mri_measure.training.data import load_user_cases, make_training_pair
from tests.training.shapes import shape_sample


class _Stack:
    def __init__(self, keys, shape):
        self.slices = [type("S", (), {"key": k})() for k in keys]
        self.pixels = np.zeros((len(keys), *shape), np.float32)


def test_truth_segmenter_one_hot_from_npz(tmp_path):
    a = np.zeros((6, 8), np.uint8); a[1:3, 1:4] = 1; a[4, 2:5] = 2; a[5, 0] = 3
    b = np.zeros((6, 8), np.uint8); b[0, 0] = 9
    np.savez(tmp_path / "truth_labels.npz", **{"1.2.3": a, "1.2.4": b})
    seg = TruthSegmenter.from_npz(tmp_path / "truth_labels.npz")
    assert isinstance(seg, Segmenter)
    p = seg.predict_stack(_Stack(["1.2.4", "1.2.3"], (6, 8)))
    assert p.shape == (2, 4, 6, 8) and p.dtype == np.float32
    assert np.allclose(p.sum(1), 1)
    assert np.array_equal(p[1].argmax(0), a) and np.all(p[0].argmax(0) == 0)
    with pytest.raises(InputError, match="no ground-truth labels"):
        seg.predict_stack(_Stack(["9.9"], (6, 8)))
    with pytest.raises(InputError, match="shape"):
        seg.predict_stack(_Stack(["1.2.3"], (5, 8)))
    with pytest.raises(ModelError):
        TruthSegmenter.from_npz(tmp_path / "missing.npz")


def test_training_pair_keeps_left_lf_on_the_canonical_left():
    # canonical display: patient left = increasing column; after any orientation
    # and the random mirror, channel 2 (patient-left LF) must lie at larger columns
    areas = set()
    for seed in range(6):
        rng = np.random.default_rng(seed)
        s = shape_sample(rng, orientation=(-1, 0, 0, 0, 1, 0), noise=0.0)
        pair = make_training_pair(s, np.random.default_rng(100 + seed))
        y = pair["seg_y"]
        assert pair["seg_x"].shape == (96, 96) and y.shape == (4, 96, 96)
        assert np.allclose(y.sum(0), 1, atol=1e-5)
        cols = np.arange(96)
        c_left = (y[2].sum(0) * cols).sum() / y[2].sum()
        c_right = (y[3].sum(0) * cols).sum() / y[3].sum()
        assert c_left > c_right + 10
        areas.add(bool(y[2].sum() > y[3].sum()))  # mirrored pairs swap which side is thicker
        assert pair["loc_y"].max() > 0.9
    assert areas == {True, False}


def test_user_cases_round_trip_and_errors(tmp_path):
    s = shape_sample(np.random.default_rng(0))
    np.savez(tmp_path / "case1.npz", image=s.image, labels=s.labels, spacing_mm=s.spacing_mm,
             orientation=s.orientation)
    cases = load_user_cases(tmp_path)
    assert len(cases) == 1 and cases[0].coverage.shape == (4, *s.image.shape)
    np.savez(tmp_path / "bad.npz", image=s.image)
    with pytest.raises(InputError, match="not a valid case"):
        load_user_cases(tmp_path)
    with pytest.raises(InputError):
        load_user_cases(tmp_path / "nope")
