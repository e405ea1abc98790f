"""Random mid-sagittal scenes for the disc detector: reproducible, anatomically ordered."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from mri_measure.synth import sagittal_scene as S


def test_scene_is_reproducible_from_its_seed():
    a = S.make_scene(np.random.default_rng(7))
    b = S.make_scene(np.random.default_rng(7))
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.instance, b.instance)
    c = S.make_scene(np.random.default_rng(8))
    assert not np.array_equal(a.labels, c.labels)


def test_discs_alternate_with_bodies_down_to_the_sacrum():
    for seed in range(3):
        scene = S.make_scene(np.random.default_rng(seed))
        t = scene.target
        ids = sorted(int(k) for k in np.unique(scene.instance) if 0 < k < 100)
        assert len(ids) >= 5
        rows = [float(np.nonzero(scene.instance == k)[0].mean()) for k in ids]
        assert rows == sorted(rows)  # disc k+1 lies below disc k
        sac_rows = np.nonzero(t == S.TARGET_SACRUM)[0]
        assert sac_rows.size and np.median(sac_rows) > rows[-1]  # the sacrum below the last disc
        # sacral remnants are sacrum, never disc
        assert not np.any(t[scene.labels == S.REMNANT] == S.TARGET_DISC)
        # each disc is one region (at most a pixel or two split off by the endplates' curve)
        for k in ids[-5:]:
            lab, n = ndi.label(scene.instance == k)
            sizes = ndi.sum(lab > 0, lab, range(1, n + 1))
            assert sizes.max() >= 0.99 * sizes.sum()


def test_training_pair_is_normalised_and_matches_its_target():
    from mri_measure.segment.preprocess import normalise_sagittal
    from mri_measure.training.disc_data import training_pair

    scene = S.make_scene(np.random.default_rng(3))
    raw, raw_target = S.scene_view(scene, np.random.default_rng(4))
    img, target = training_pair(scene, np.random.default_rng(4))
    assert img.shape == S.TRAIN_SHAPE == target.shape
    assert img.dtype == np.float32 and 0.0 <= img.min() and img.max() <= 1.2
    assert set(np.unique(target)) <= {0, 1, 2, 3}
    assert (target == S.TARGET_VERTEBRA).any() or (target == S.TARGET_SACRUM).any()
    # the pair is the raw view scaled as the detector scales its input at run time
    assert np.array_equal(img, normalise_sagittal(raw)) and np.array_equal(target, raw_target)
    img2, target2 = training_pair(scene, np.random.default_rng(4))
    assert np.array_equal(img, img2) and np.array_equal(target, target2)
