"""Finding the canal wherever it is visible: candidates, neighbour fallback,
crop scoring and the mirror-TTA agreement the quality verdict reads."""

import numpy as np

from mri_measure.segment.inference import _neighbour_centres, canal_candidates, fine_score
from mri_measure.synth import sample_axial_2d
from mri_measure.training.metrics import dice


def test_candidates_are_ranked_by_mass_with_a_low_floor():
    p = np.zeros((64, 64), np.float32)
    p[8:16, 8:16] = 0.2  # faint but large: below the old 0.3 peak threshold
    p[40:42, 40:42] = 0.9
    p[30, 5] = 0.06  # too little mass to be a canal
    c = canal_candidates(p)
    assert len(c) == 2
    assert c[0][1] > c[1][1] and np.allclose(c[0][0], (11.5, 11.5)) and np.allclose(c[1][0], (40.5, 40.5))
    assert canal_candidates(np.zeros((8, 8), np.float32)) == []
    assert len(canal_candidates(np.tile(np.r_[0.9, 0, 0, 0], 16).reshape(8, 8).astype(np.float32), k=3)) <= 3


def test_a_slice_without_candidates_borrows_its_neighbours():
    cands = [[((10.0, 10.0), 5.0)], [], [], [((30.0, 31.0), 4.0), ((40.0, 40.0), 1.0)], []]
    assert _neighbour_centres(cands, 1) == [(10.0, 10.0), (30.0, 31.0)]
    assert _neighbour_centres(cands, 4) == [(30.0, 31.0)]
    near = [[((10.0, 10.0), 5.0)], [], [((12.0, 11.0), 4.0)]]
    assert _neighbour_centres(near, 1) == [(10.0, 10.0)]  # the same place twice: tried once
    assert _neighbour_centres([[], [], [], [], [], []], 0) == []


def test_fine_score_prefers_a_plausible_confident_sac_and_sees_the_edge():
    def crop(r0, r1, c0, c1, p=0.95):
        out = np.zeros((4, 96, 96), np.float32)
        out[0] = 1
        out[:, r0:r1, c0:c1] = np.array([1 - p, p, 0, 0], np.float32)[:, None, None]
        return out

    good = fine_score(crop(30, 60, 30, 60), 0.45)  # 30 px = 13.5 mm square: 182 mm²
    edge = fine_score(crop(0, 30, 30, 60), 0.45)
    tiny = fine_score(crop(40, 44, 40, 44), 0.45)  # 3 mm²
    unsure = fine_score(crop(30, 60, 30, 60, p=0.55), 0.45)
    assert good[1] and not good[2]
    assert edge[2] and not edge[1] and edge[0] < good[0]
    assert tiny[0] == 0.0 and not tiny[1]
    assert not unsure[1] and unsure[0] < good[0]


def test_canal_near_the_image_edge_is_found_and_tta_agreement_is_exposed(shipped):
    s = sample_axial_2d(np.random.default_rng(90_002), randomise=False, spacing_mm=0.6)
    rr, cc = np.nonzero(s.labels == 1)
    c0 = max(0, int(cc.mean()) - 40)  # a narrow field of view, the canal near its left edge
    img, lab = s.image[:, c0:c0 + 140], s.labels[:, c0:c0 + 140]
    p = shipped.predict(np.stack([img, img]), s.spacing_mm, s.orientation)
    assert dice(p[0].argmax(0), lab, 1) > 0.85
    tta = shipped.last_tta_dice
    if shipped.mirror_tta:
        assert tta.shape == (2, 3) and np.all((tta >= 0) & (tta <= 1))
        assert tta[0, 0] > 0.8  # the plain and mirrored sac agree on a clean slice
    else:
        assert tta is None
    shipped.predict(np.zeros((1, 64, 64), np.float32), (0.7, 0.7), (1, 0, 0, 0, 1, 0))
    if shipped.mirror_tta:  # no crop segmented: NaN, not a made-up agreement
        assert shipped.last_tta_dice.shape == (1, 3) and np.isnan(shipped.last_tta_dice).all()
