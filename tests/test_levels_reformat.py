"""3-D volumes: SimpleITK reformats through disc planes and mid-sagittal reformats."""

from __future__ import annotations

import numpy as np
import pytest

from mri_measure.errors import InputError
from mri_measure.levels import reformat_axials, sagittal_from_volume
from mri_measure.levels.reformat import volume_to_sitk
from mri_measure.types import DiscPlane, LoadedStack, SliceInfo, Stack

BALL = np.array([6.0, 14.0, -9.0])  # patient mm


def make_volume(orientation, *, n=48, step=1.5, px=1.5, origin=(-36.0, -30.0, -40.0)) -> LoadedStack:
    """A volume whose voxels hold a smooth function of the patient position:
    a bright ball (radius ~4 mm) at BALL plus a linear ramp along +z."""
    row = np.asarray(orientation[:3], float)
    col = np.asarray(orientation[3:6], float)
    nrm = np.cross(row, col)
    slices, pixels = [], []
    rr, cc = np.mgrid[0:n, 0:n].astype(float)
    for k in range(n):
        ipp = np.asarray(origin, float) + k * step * nrm
        pts = ipp + rr[..., None] * px * col + cc[..., None] * px * row
        d2 = np.sum((pts - BALL) ** 2, axis=-1)
        pixels.append(1000.0 * np.exp(-d2 / (2 * 2.5**2)) + pts[..., 2])
        slices.append(SliceInfo(f"1.2.3.{k}", f"/data/{k}.dcm", tuple(ipp), tuple(orientation),
                                (px, px), n, n, k + 1, None, step))
    st = Stack("5.1", "1.2.3", "1.2.3.9", tuple(slices), role="other", frame_of_reference_uid="1.2.3.7")
    return LoadedStack(st, np.asarray(pixels, np.float32), st.slices)


ORIENTATIONS = {
    "axial": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    "sagittal": (0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
    "coronal": (1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
}


def _origin_for(orientation, n=48, step=1.5, px=1.5):
    """Pick an origin so that the volume covers roughly [-36, 36] mm around 0 in every axis."""
    row = np.asarray(orientation[:3]); col = np.asarray(orientation[3:6]); nrm = np.cross(row, col)
    ext = (n - 1) * px
    return tuple(-ext / 2 * (row + col) - (n - 1) * step / 2 * nrm)


@pytest.mark.parametrize("name", sorted(ORIENTATIONS))
def test_sitk_image_geometry_matches_dicom(name):
    o = ORIENTATIONS[name]
    vol = make_volume(o, origin=_origin_for(o))
    img = volume_to_sitk(vol)
    for k, r, c in ((0, 0, 0), (7, 3, 11), (47, 47, 0)):
        expect = vol.slices[k].pixel_to_patient(r, c)
        got = img.TransformIndexToPhysicalPoint((c, r, k))
        assert np.allclose(got, expect, atol=1e-6)


@pytest.mark.parametrize("name", sorted(ORIENTATIONS))
def test_reformat_through_a_tilted_disc_hits_the_ball(name):
    o = ORIENTATIONS[name]
    vol = make_volume(o, origin=_origin_for(o))
    tilt = np.deg2rad(25.0)
    normal = (0.0, -np.sin(tilt), np.cos(tilt))
    # put the disc plane through the ball: centre 20 mm anterior of the ball, in the plane
    post = np.array([0.0, np.cos(tilt), np.sin(tilt)])
    disc = DiscPlane("L4-L5", tuple(BALL - 20.0 * post), normal, 0.8)
    (loaded, levels), = reformat_axials(vol, [disc], n_slices=5, spacing_between_mm=3.0, pixel_mm=0.5, fov_mm=60)
    assert loaded.pixels.shape == (5, 120, 120)
    mid = loaded.slices[2]
    assert np.allclose(mid.normal, normal, atol=1e-9)
    assert mid.orientation[0] == pytest.approx(1.0)  # rows run toward patient left
    r, c = np.unravel_index(np.argmax(loaded.pixels[2] - loaded.pixels[2].min()), loaded.pixels[2].shape)
    assert np.linalg.norm(mid.pixel_to_patient(r, c) - BALL) < 1.0
    peaks = [float(p.max()) for p in loaded.pixels]
    assert peaks[2] > peaks[1] > peaks[0] and peaks[2] > peaks[3] > peaks[4]
    # the ramp along +z checks the in-plane geometry away from the ball
    far = mid.pixel_to_patient(5, 110)
    assert loaded.pixels[2][5, 110] == pytest.approx(far[2], abs=0.5)
    # offsets along the normal, inferior first
    along = [float(np.dot(np.asarray(s.position_mm) - np.asarray(mid.position_mm), normal)) for s in loaded.slices]
    assert along == pytest.approx([-6.0, -3.0, 0.0, 3.0, 6.0], abs=1e-9)
    assert [levels[s.key].level for s in loaded.slices] == ["L4-L5"] * 5
    assert {levels[s.key].source for s in loaded.slices} == {"sagittal"}
    assert levels[mid.key].confidence > levels[loaded.slices[0].key].confidence


def test_derived_uids_are_deterministic_and_distinct():
    o = ORIENTATIONS["axial"]
    vol = make_volume(o, origin=_origin_for(o))
    discs = [DiscPlane("L4-L5", (0.0, 0.0, 0.0), (0.0, 0.0, 1.0)), DiscPlane("L5-S1", (0.0, 0.0, -20.0), (0.0, -0.5, 0.866))]
    a = reformat_axials(vol, discs, n_slices=3, fov_mm=30)
    b = reformat_axials(vol, discs, n_slices=3, fov_mm=30)
    uids_a = [s.sop_instance_uid for lo, _ in a for s in lo.slices]
    assert uids_a == [s.sop_instance_uid for lo, _ in b for s in lo.slices]
    assert len(set(uids_a)) == 6
    assert [s.source for s in a[1][0].slices] == ["derived:L5-S1:0", "derived:L5-S1:1", "derived:L5-S1:2"]
    assert a[0][0].stack.frame_of_reference_uid == "1.2.3.7"
    assert a[0][0].stack.series_instance_uid != vol.stack.series_instance_uid
    assert a[0][0].stack.role == "axial_t2"
    assert a[0][0].slices[0].spacing_mm == (0.6, 0.6)


@pytest.mark.parametrize("name", ["axial", "coronal"])
def test_sagittal_from_volume_geometry(name):
    o = ORIENTATIONS[name]
    vol = make_volume(o, origin=_origin_for(o))
    sag = sagittal_from_volume(vol, n_slices=5, spacing_between_mm=3.0)
    assert sag.stack.plane == "sagittal" and sag.stack.role == "sagittal_t2"
    assert sag.pixels.shape[0] == 5
    # the ball is at x = 6: the sagittal slice at x = 6 (centre is x=0, steps of 3) shows it
    xs = [s.position_mm[0] for s in sag.slices]
    k = int(np.argmin(np.abs(np.asarray(xs) - BALL[0])))
    img = sag.pixels[k]
    r, c = np.unravel_index(np.argmax(img), img.shape)
    assert np.linalg.norm(sag.slices[k].pixel_to_patient(r, c) - BALL) < 1.6
    # slices are sorted along their normal (-x)
    along = [float(np.dot(s.position_mm, s.normal)) for s in sag.slices]
    assert along == sorted(along)


def test_uneven_volume_is_refused_with_a_clear_error():
    o = ORIENTATIONS["axial"]
    vol = make_volume(o, n=8, origin=_origin_for(o, n=8))
    bad = list(vol.slices)
    s = bad[3]
    bad[3] = SliceInfo(s.sop_instance_uid, s.source, (s.position_mm[0], s.position_mm[1], s.position_mm[2] + 0.9),
                       s.orientation, s.spacing_mm, s.rows, s.columns)
    vol2 = LoadedStack(vol.stack, vol.pixels, tuple(bad))
    with pytest.raises(InputError, match="unevenly spaced") as e:
        reformat_axials(vol2, [DiscPlane("L4-L5", (0, 0, 0), (0, 0, 1))])
    assert "/data" not in str(e.value)
