"""The shipped model, really run: shapes, probabilities, orientation handling, quality."""

import numpy as np
import pytest

from mri_measure.errors import InputError
from mri_measure.segment import Segmenter, load_segmenter
from mri_measure.training.metrics import dice
from mri_measure.synth import sample_axial_2d

ROT = {  # IOPs of the same anatomy seen with different array layouts
    "standard": (1, 0, 0, 0, 1, 0),
    "rows_to_patient_right": (-1, 0, 0, 0, 1, 0),
    "anterior_down": (1, 0, 0, 0, -1, 0),
    "transposed": (0, 1, 0, 1, 0, 0),
}


def _reorient(image, labels, name):
    """Array layout of a canonical slice for the IOP ``ROT[name]``."""
    if name == "standard":
        f = lambda a: a  # noqa: E731
    elif name == "rows_to_patient_right":
        f = lambda a: a[..., :, ::-1]  # noqa: E731
    elif name == "anterior_down":
        f = lambda a: a[..., ::-1, :]  # noqa: E731
    else:
        f = lambda a: np.swapaxes(a, -1, -2)  # noqa: E731
    return np.ascontiguousarray(f(image)), np.ascontiguousarray(f(labels)), f


@pytest.fixture(scope="module")
def realistic():
    s = sample_axial_2d(np.random.default_rng(90_001), randomise=False, spacing_mm=0.6)
    assert s.orientation[0] > 0.99 and s.orientation[4] > 0.9  # standard axial from synth
    return s


def test_shipped_model_is_a_segmenter(shipped):
    assert isinstance(shipped, Segmenter)
    assert shipped.name == "lumbar-axial-unet" and len(shipped.sha256) == 64
    assert load_segmenter() is shipped  # cached per (bundle, device)


@pytest.mark.parametrize("spacing", [0.35, 0.6, 0.9])
def test_probabilities_on_source_grid(shipped, spacing):
    s = sample_axial_2d(np.random.default_rng(int(spacing * 1000)), randomise=False,
                        spacing_mm=spacing, size_px=(200, 232))
    imgs = np.stack([s.image, s.image[:, ::-1]])
    p = shipped.predict(imgs, s.spacing_mm, s.orientation)
    assert p.shape == (2, 4, 200, 232) and p.dtype == np.float32
    assert np.all(p >= 0) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    assert dice(p[0].argmax(0), s.labels, 1) > 0.85  # the canal lands where it is, at this spacing
    # far from the spine everything is background with probability 1
    assert np.allclose(p[:, 0, :5, :5], 1.0)


@pytest.mark.parametrize("name", list(ROT))
def test_patient_left_channel_follows_the_patient(shipped, realistic, name):
    img, lab, f = _reorient(realistic.image, realistic.labels, name)
    p = shipped.predict(img[None], realistic.spacing_mm, ROT[name])[0]
    # identical network input after canonicalisation: the output is the re-oriented reference
    ref = shipped.predict(realistic.image[None], realistic.spacing_mm, ROT["standard"])[0]
    assert np.allclose(p, f(ref), atol=1e-4)
    pred = p.argmax(0)
    assert dice(pred, lab, 2) > 0.5 and dice(pred, lab, 3) > 0.5
    # and an IOP that lies about the layout swaps the sides: left/right come from the IOP
    wrong = ROT["rows_to_patient_right"] if name == "standard" else ROT["standard"]
    if name in ("standard", "rows_to_patient_right"):
        q = shipped.predict(img[None], realistic.spacing_mm, wrong)[0].argmax(0)
        assert dice(q, lab, 2) < 0.2 and dice(np.where(q == 2, 3, np.where(q == 3, 2, q)), lab, 2) > 0.5


def test_held_out_realistic_slices_canal_dice(shipped):
    scores = []
    for i, sp in enumerate((0.32, 0.55, 0.75, 0.88)):
        s = sample_axial_2d(np.random.default_rng([424_242, i]), randomise=False, spacing_mm=sp,
                            stenosis=("none", "moderate", "severe", "moderate")[i])
        p = shipped.predict(s.image[None], s.spacing_mm, s.orientation)[0]
        scores.append(dice(p.argmax(0), s.labels, 1))
    assert min(scores) >= 0.9, scores


def test_blank_slice_is_background_and_bad_input_is_refused(shipped):
    p = shipped.predict(np.zeros((1, 64, 64), np.float32), (0.7, 0.7), ROT["standard"])
    assert np.allclose(p[:, 0], 1.0)
    with pytest.raises(InputError):
        shipped.predict(np.zeros((2, 3), np.float32), (0.7, 0.7), ROT["standard"])
    with pytest.raises(InputError, match="spacing"):
        shipped.predict(np.zeros((1, 64, 64), np.float32), (0.0, 0.7), ROT["standard"])
    with pytest.raises(InputError, match="not axial"):
        shipped.predict(np.zeros((1, 64, 64), np.float32), (0.7, 0.7), (0, 1, 0, 0, 0, -1))
