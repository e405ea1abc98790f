import itertools

import numpy as np
import pytest

from mri_measure.errors import InputError
from mri_measure.segment.orientation import canonical_transform
from mri_measure.segment.resample import Grid, from_grid, to_grid


def _iops():
    x, y = np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
    for transpose, sr, sc in itertools.product((False, True), (1, -1), (1, -1)):
        a, b = (sc * x, sr * y) if not transpose else (sr * y, sc * x)
        yield tuple(a) + tuple(b)


@pytest.mark.parametrize("iop", list(_iops()))
def test_canonical_puts_patient_left_right_and_posterior_down(iop):
    # patient coordinates of every pixel of a 5x7 slice; after canonicalisation
    # x (patient left) must grow along columns and y (posterior) along rows
    a, b = np.array(iop[:3]), np.array(iop[3:])
    rr, cc = np.indices((5, 7))
    pos = cc[..., None] * a + rr[..., None] * b
    t = canonical_transform(iop)
    px, py = t.apply(pos[..., 0]), t.apply(pos[..., 1])
    assert np.all(np.diff(px, axis=1) > 0) and np.all(np.diff(py, axis=0) > 0)
    assert np.array_equal(t.undo(t.apply(pos[..., 0])), pos[..., 0])


def test_tilted_and_rotated_iop_still_canonical():
    ang = np.deg2rad(30)
    iop = (np.cos(ang), np.sin(ang), 0.1, -np.sin(ang), np.cos(ang), 0.2)
    assert canonical_transform(iop) == canonical_transform((1, 0, 0, 0, 1, 0))


def test_sagittal_slice_is_refused():
    with pytest.raises(InputError, match="not axial"):
        canonical_transform((0, 1, 0, 0, 0, -1))


def test_resample_round_trip_preserves_area_and_sum():
    rng = np.random.default_rng(0)
    for sp in (0.3, 0.6, 0.9):
        n = int(60 / sp)
        rr, cc = np.indices((n, n)) * sp
        disc = ((rr - 30) ** 2 + (cc - 28) ** 2 <= 8**2).astype(np.float32)  # 201 mm²
        g = Grid(centre_rc=(30 / sp + rng.uniform(-1, 1), 28 / sp), spacing_mm=0.45, size=(96, 96))
        crop = to_grid(disc, (sp, sp), g)
        assert abs(crop.sum() * 0.45**2 - np.pi * 64) < 0.03 * np.pi * 64
        back = from_grid(np.stack([1 - crop, crop]), g, (sp, sp), (n, n), fill=(1.0, 0.0))
        assert np.allclose(back.sum(0), 1, atol=1e-5)
        assert abs(back[1].sum() * sp * sp - np.pi * 64) < 0.03 * np.pi * 64
