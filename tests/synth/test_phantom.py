"""Geometry of the 3-D phantom and exactness of its ground truth."""

import numpy as np
import pytest

from mri_measure.errors import MriMeasureError
from mri_measure.synth import make_phantom
from mri_measure.synth import anatomy as A
from mri_measure.synth.planes import Plane, disc_plane, plane_tissues, slice_truth

LEVELS = ("L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1")


@pytest.fixture(scope="module")
def ph():
    return make_phantom(11, stenosis="moderate")


def independent_labels(ph, plane: Plane, k: int) -> np.ndarray:
    """Contract labels on a k×k sub-pixel grid, mapping every point exactly
    (Newton foot points, no lattice interpolation), for the whole image."""
    h, w = plane.shape
    sub = (np.arange(k) + 0.5) / k - 0.5
    rows = (np.arange(h)[:, None] + sub).ravel()
    cols = (np.arange(w)[:, None] + sub).ravel()
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    pts = plane.pixel_to_patient(rr, cc).reshape(-1, 3)
    return A.canal_parts(ph, *ph.to_local(pts)).reshape(rr.shape)


def test_every_disc_mid_plane_meets_its_disc(ph):
    for lev in LEVELS:
        p = disc_plane(ph, lev, spacing_mm=(1.0, 1.0), shape=(64, 64), centre_on="body")
        tis = plane_tissues(ph, p)[0]
        c, n, post = ph.disc_frame(lev)
        # pixel nearest the disc centre
        d = p.pixel_points() - c
        r, col = np.unravel_index(np.argmin((d ** 2).sum(-1)), d.shape[:2])
        assert tis[r, col] in (A.NUCLEUS, A.ANNULUS), lev
        # 8 mm away from the mid-plane we are in bone (vertebral body)
        tis_up = plane_tissues(ph, p.moved(ph.disc_height[ph.level_index(lev)] / 2 + 4))[0]
        assert tis_up[r, col] in (A.MARROW, A.CORTEX), lev
        assert abs(np.linalg.norm(n) - 1) < 1e-9 and abs(np.dot(n, post)) < 1e-9


@pytest.mark.parametrize("level,tilt,rot,spacing", [
    ("L4-L5", (0, 0), 0, 0.625), ("L3-L4", (7, -5), 15, 0.8), ("L5-S1", (-9, 4), -18, 0.45),
])
def test_truth_area_matches_an_independent_supersampled_count(ph, level, tilt, rot, spacing):
    p = disc_plane(ph, level, spacing_mm=(spacing, spacing), shape=(96, 96), tilt_deg=tilt,
                   rotation_deg=rot, offset_mm=2.0)
    tr = slice_truth(ph, p)
    fine = independent_labels(ph, p, 12)
    fine_area = (fine == 1).sum() * (spacing / 12) ** 2
    assert tr.canal_area_mm2 == pytest.approx(fine_area, rel=0.01)
    # coverage agrees with the independent count pixel by pixel (mostly)
    cov_sac = (fine == 1).reshape(96, 12, 96, 12).mean(axis=(1, 3))
    assert np.abs(tr.coverage[1] - cov_sac).max() < 0.2
    # LF present on both sides at a disc level
    assert (fine == 2).any() and (fine == 3).any()


def test_lf_truth_follows_the_thickness_knob():
    for left, right in ((1.5, 4.0), (3.0, 3.0), (6.5, 2.2)):
        ph = make_phantom(4, lf_thickness_mm={"L4-L5": (left, right)})
        p = disc_plane(ph, "L4-L5", spacing_mm=(0.5, 0.5), shape=(96, 96))
        tr = slice_truth(ph, p, k=8)
        assert tr.lf_thickness_left_mm == pytest.approx(left, abs=0.25)
        assert tr.lf_thickness_right_mm == pytest.approx(right, abs=0.25)


def test_labels_are_on_the_patients_side_for_any_orientation(ph):
    """Label 2 (LF patient-left) lies at +x (patient left) of the sac in patient
    coordinates however the image plane is rotated or flipped."""
    base = disc_plane(ph, "L4-L5", spacing_mm=(0.6, 0.6), shape=(96, 96))
    for angle in (0, 20, -20, 90, 180):
        for flip in (False, True):
            row = base.row_dir
            col = base.col_dir
            n = np.cross(row, col)
            from mri_measure.synth.planes import rotation

            R = rotation(n, np.deg2rad(angle))
            row, col = R @ row, R @ col
            if flip:
                row = -row  # mirrored matrix: columns run towards patient right
            p = Plane(base.centre, row, col, base.spacing_mm, base.shape)
            lab = slice_truth(ph, p).labels
            pts = p.pixel_points()
            x_sac = pts[lab == 1][:, 0].mean()
            assert pts[lab == 2][:, 0].mean() > x_sac + 3, (angle, flip)
            assert pts[lab == 3][:, 0].mean() < x_sac - 3, (angle, flip)


def test_stenosis_narrows_l4_l5_and_thickens_lf():
    normal, severe = make_phantom(8), make_phantom(8, stenosis="severe")
    for lev in ("L4-L5",):
        pn = disc_plane(normal, lev, spacing_mm=(0.5, 0.5), shape=(96, 96))
        ps = disc_plane(severe, lev, spacing_mm=(0.5, 0.5), shape=(96, 96))
        tn, ts = slice_truth(normal, pn), slice_truth(severe, ps)
        assert 100 < tn.canal_area_mm2 < 200
        assert ts.canal_area_mm2 < 75
        assert min(ts.lf_thickness_left_mm, ts.lf_thickness_right_mm) > 4.5


def test_transitional_anatomy_and_bad_knobs():
    six = make_phantom(2, n_lumbar=6)
    four = make_phantom(2, n_lumbar=4)
    assert "L6-S1" in six.discs and "L5-L6" in six.discs
    assert four.discs[-1] == "L4-S1" and "L4-L5" not in four.discs
    with pytest.raises(MriMeasureError, match="n_lumbar"):
        make_phantom(0, n_lumbar=7)
    with pytest.raises(MriMeasureError, match="unknown phantom knob"):
        make_phantom(0, wobble=3)
    with pytest.raises(MriMeasureError, match="stenosis"):
        make_phantom(0, stenosis="mild")
    with pytest.raises(MriMeasureError, match="not in this phantom"):
        four.level_index("L4-L5")


def test_t2_contrast_follows_real_t2_ordering(ph):
    """CSF brightest, fat bright, muscle and LF dark-intermediate, annulus dark."""
    from mri_measure.synth import render as R

    p = disc_plane(ph, "L3-L4", spacing_mm=(0.7, 0.7), shape=(256, 256), centre_on="body")
    tis = plane_tissues(ph, p, (-1.0, 0.0, 1.0))
    img = R.render(tis, R.tissue_intensities("t2"), np.random.default_rng(0), noise_sigma=12.0)
    centre = tis[1]
    # only pixels with the same tissue through the slab (no partial volume)
    pure = (tis == centre).all(axis=0)

    def mean(*codes):
        m = np.isin(centre, codes) & pure
        assert m.sum() > 20, codes
        return float(img[m].mean())

    csf, fat = mean(A.CSF), mean(A.SUBCUT_FAT, A.FAT, A.EPIDURAL_FAT)
    muscle, lf, annulus = mean(A.MUSCLE, A.PSOAS), mean(A.LF_LEFT, A.LF_RIGHT), mean(A.ANNULUS)
    assert csf > fat > 1.5 * muscle
    assert fat > 1.5 * lf
    assert mean(A.NUCLEUS) > lf and lf > annulus
