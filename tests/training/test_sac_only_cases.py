"""Slices with only the dural sac outlined (e.g. public canal labels): LF pixels
are unknown there, so training must learn sac-against-the-rest from them and
never "no LF here"."""

import numpy as np
import pytest
import torch

from mri_measure.errors import InputError
from mri_measure.training.data import UserCase, augment_user_case, load_user_cases, make_training_pair
from mri_measure.training.losses import mixed_segmentation_loss, sac_only_loss, segmentation_loss
from tests.training.shapes import shape_sample


def _write(path, s, **extra):
    np.savez(path, image=s.image, labels=s.labels, spacing_mm=s.spacing_mm, orientation=s.orientation, **extra)


def test_npz_flag_reaches_the_training_pair(tmp_path):
    s = shape_sample(np.random.default_rng(0), orientation=(1, 0, 0, 0, 1, 0))
    sac_only = np.where(s.labels == 1, 1, 0)
    _write(tmp_path / "a_full.npz", s)
    np.savez(tmp_path / "b_sac.npz", image=s.image, labels=sac_only, spacing_mm=s.spacing_mm,
             orientation=s.orientation, lf_annotated=np.asarray(False))
    full, part = load_user_cases(tmp_path)
    assert full.lf_annotated and not part.lf_annotated
    rng = np.random.default_rng(1)
    assert make_training_pair(full, rng)["seg_lf_known"] == 1.0
    assert make_training_pair(part, rng)["seg_lf_known"] == 0.0


def test_sac_only_case_with_lf_labels_is_refused(tmp_path):
    s = shape_sample(np.random.default_rng(0), orientation=(1, 0, 0, 0, 1, 0))
    assert np.isin(s.labels, (2, 3)).any()
    _write(tmp_path / "c.npz", s, lf_annotated=np.asarray(False))
    with pytest.raises(InputError, match="lf_annotated is false but its labels contain LF"):
        load_user_cases(tmp_path)


def _logits_and_target(lf_logit: float):
    """Two 8x8 items: a sac square; the network puts LF logit ``lf_logit`` on a
    strip the target calls background (on a sac-only slice: unknown)."""
    target = torch.zeros(2, 4, 8, 8)
    target[:, 0] = 1.0
    target[:, 0, 2:5, 2:5], target[:, 1, 2:5, 2:5] = 0.0, 1.0
    logits = torch.zeros(2, 4, 8, 8)
    logits[:, 1, 2:5, 2:5] = 6.0
    logits[:, 0] = 4.0
    logits[:, 0, 2:5, 2:5] = 0.0
    logits[:, 2, 6:8, :] = lf_logit
    return logits, target


def test_sac_only_loss_ignores_lf_but_not_the_sac():
    quiet = _logits_and_target(-5.0)
    loud = (quiet[0].clone(), quiet[1])  # the strip called LF instead of background, as confidently
    loud[0][:, [0, 2], 6:8, :] = quiet[0][:, [2, 0], 6:8, :]
    # the full loss punishes LF on "background"; the sac-only loss does not care what the rest is called
    assert segmentation_loss(loud[0], loud[1], torch.ones(4)) > segmentation_loss(quiet[0], quiet[1], torch.ones(4)) + 0.1
    assert float(sac_only_loss(loud[0], loud[1])) == pytest.approx(float(sac_only_loss(quiet[0], quiet[1])), abs=1e-3)
    # ... but a missed sac costs in both
    missed = quiet[0].clone()
    missed[:, 1] = -5.0
    assert sac_only_loss(missed, quiet[1]) > sac_only_loss(quiet[0], quiet[1]) + 0.5


def test_mixed_loss_gives_each_item_its_own_loss():
    logits, target = _logits_and_target(8.0)
    w = torch.ones(4)
    both_full = mixed_segmentation_loss(logits, target, w, torch.tensor([1.0, 1.0]))
    assert float(both_full) == pytest.approx(float(segmentation_loss(logits, target, w)))
    both_part = mixed_segmentation_loss(logits, target, w, torch.tensor([0.0, 0.0]))
    assert float(both_part) == pytest.approx(float(sac_only_loss(logits, target)))
    half = mixed_segmentation_loss(logits, target, w, torch.tensor([1.0, 0.0]))
    assert float(both_part) < float(half) < float(both_full)
    logits.requires_grad_(True)
    mixed_segmentation_loss(logits, target, w, torch.tensor([1.0, 0.0])).backward()
    # the LF strip of the sac-only item gets no gradient towards "background"
    assert float(logits.grad[1, 2, 6:8].abs().max()) < 1e-4 < float(logits.grad[0, 2, 6:8].abs().max())


def test_augmented_real_case_keeps_its_truth():
    s = shape_sample(np.random.default_rng(2), orientation=(1, 0, 0, 0, 1, 0))
    case = UserCase(s.image.astype(np.float32), np.where(s.labels == 1, 1, 0), tuple(s.spacing_mm),
                    tuple(s.orientation), lf_annotated=False)
    areas = []
    for i in range(6):
        a = augment_user_case(case, np.random.default_rng(i))
        assert a.image.shape == case.image.shape and not a.lf_annotated
        assert set(np.unique(a.labels)) <= {0, 1}
        areas.append((a.labels == 1).sum() * a.spacing_mm[0] * a.spacing_mm[1])
    true_area = (case.labels == 1).sum() * case.spacing_mm[0] * case.spacing_mm[1]
    # rotation keeps the pixel count (nearest neighbour); the scaled spacing sizes the anatomy within ±12 % (area ±25 %)
    assert all(0.72 * true_area <= a <= 1.3 * true_area for a in areas)
    assert len({round(float(a), 3) for a in areas}) > 1
