"""Exact analytic shapes for the measurement tests and benchmark (numpy only).

Shapes are defined in millimetres as inside-tests ``f(y_mm, x_mm) -> bool``
(y along rows, x along columns) and rendered two ways: hard labels sampled at
pixel centres (:func:`hard_of`), and exact partial-volume coverage by 8 x 8
supersampling (:func:`coverage_of`). :func:`make_canal_case` and
:func:`make_band_case` draw random canals and LF bands from a numpy
generator; :func:`area_error` and :func:`thickness_error` measure one with
:func:`mri_measure.measure.measure_slice` against its truth. Used by
``tests/test_measure.py`` and ``benchmarks/bench_measure.py``.

>>> import numpy as np
>>> area, inside, shape_px, spacing = make_canal_case(np.random.default_rng(0))
>>> abs(float(coverage_of(inside, shape_px, spacing).sum()) * spacing[0] * spacing[1] - area) / area < 0.01
True
"""

from __future__ import annotations

import math

import numpy as np

from ..measure import measure_slice

SUPERSAMPLE = 8

# ----------------------------------------------------------------- shapes (mm)


def ellipse(area_mm2, aspect, angle, centre):
    """Ellipse of the given area, axis ratio and in-plane angle (radians)."""
    b = math.sqrt(area_mm2 / (math.pi * aspect))
    a = aspect * b
    c, s = math.cos(angle), math.sin(angle)
    cy, cx = centre

    def inside(y, x):
        u = c * (x - cx) + s * (y - cy)
        v = -s * (x - cx) + c * (y - cy)
        return (u / a) ** 2 + (v / b) ** 2 <= 1.0

    return inside


def trefoil(area_mm2, bump, angle, centre):
    """r(θ) = r0 (1 + bump cos 3(θ - angle)); area = π r0² (1 + bump²/2)."""
    r0 = math.sqrt(area_mm2 / (math.pi * (1 + bump * bump / 2)))
    cy, cx = centre

    def inside(y, x):
        dy, dx = y - cy, x - cx
        return np.hypot(dx, dy) <= r0 * (1 + bump * np.cos(3 * (np.arctan2(dy, dx) - angle)))

    return inside


def straight_band(width_mm, length_mm, angle, centre):
    """Rectangle width x length, long axis at ``angle`` from the column axis."""
    c, s = math.cos(angle), math.sin(angle)
    cy, cx = centre

    def inside(y, x):
        u = c * (x - cx) + s * (y - cy)
        v = -s * (x - cx) + c * (y - cy)
        return (np.abs(v) <= width_mm / 2) & (np.abs(u) <= length_mm / 2)

    return inside


def annular_arc(width_mm, inner_radius_mm, span, mid_angle, centre):
    """Annular sector: radii [inner, inner + width], angular span around mid_angle."""
    cy, cx = centre

    def inside(y, x):
        dy, dx = y - cy, x - cx
        rho = np.hypot(dx, dy)
        ang = np.angle(np.exp(1j * (np.arctan2(dy, dx) - mid_angle)))
        return (rho >= inner_radius_mm) & (rho <= inner_radius_mm + width_mm) & (np.abs(ang) <= span / 2)

    return inside


def hard_of(inside, shape_px, spacing):
    """Label mask sampled at pixel centres (pixel (i, j) centre at (i·sr, j·sc) mm)."""
    sr, sc = spacing
    y = np.arange(shape_px[0]) * sr
    x = np.arange(shape_px[1]) * sc
    return inside(y[:, None], x[None, :])


def coverage_of(inside, shape_px, spacing, ss=SUPERSAMPLE):
    """Partial-volume coverage of each pixel by ss x ss supersampling."""
    sr, sc = spacing
    off = (np.arange(ss) + 0.5) / ss - 0.5
    y = (np.arange(shape_px[0])[:, None] + off[None, :]).ravel() * sr
    x = (np.arange(shape_px[1])[:, None] + off[None, :]).ravel() * sc
    return inside(y[:, None], x[None, :]).reshape(shape_px[0], ss, shape_px[1], ss).mean(axis=(1, 3))


def probabilities_of(coverage, label):
    p = np.zeros((4,) + coverage.shape)
    p[label] = coverage
    p[0] = 1.0 - coverage
    return p


def canvas(extent_mm, spacing, offset, margin_px=5):
    """Grid size (px) and shape centre (mm) for a shape of radius extent_mm."""
    sr, sc = spacing
    shape_px = (int(2 * extent_mm / sr) + 2 * margin_px, int(2 * extent_mm / sc) + 2 * margin_px)
    centre = ((shape_px[0] / 2 + offset[0]) * sr, (shape_px[1] / 2 + offset[1]) * sc)
    return shape_px, centre


def _uniform_spacing(rng):
    """0.3–1.0 mm pixels, isotropic or anisotropic (ratio up to 2)."""
    sr = rng.uniform(0.3, 1.0)
    if rng.random() < 0.5:
        return (sr, sr)
    return (sr, rng.uniform(max(0.3, sr / 2), min(1.0, sr * 2)))


def make_canal_case(rng):
    """(true area mm², inside-test, grid shape, spacing) of a random ellipse or trefoil."""
    area = rng.uniform(40.0, 300.0)
    angle = rng.uniform(0.0, math.pi)
    spacing = _uniform_spacing(rng)
    offset = tuple(rng.uniform(-0.5, 0.5, 2))
    if rng.random() < 0.5:
        aspect = rng.uniform(1.0, 2.2)
        extent = math.sqrt(area * aspect / math.pi)
        shape_px, centre = canvas(extent, spacing, offset)
        return area, ellipse(area, aspect, angle, centre), shape_px, spacing
    bump = rng.uniform(0.0, 0.3)
    extent = math.sqrt(area / (math.pi * (1 + bump * bump / 2))) * (1 + bump)
    shape_px, centre = canvas(extent, spacing, offset)
    return area, trefoil(area, bump, angle, centre), shape_px, spacing


def make_band_case(rng, width=None, spacing=None, angle=None, curved=None):
    """(true width mm, label, inside-test, grid shape, spacing) of a straight band
    (length 3–4 × width) or an annular arc (mid-arc length 3–4 × width)."""
    width = rng.uniform(1.5, 8.0) if width is None else width
    spacing = _uniform_spacing(rng) if spacing is None else spacing
    angle = rng.uniform(0.0, 2 * math.pi) if angle is None else angle
    curved = rng.random() < 0.5 if curved is None else curved
    offset = tuple(rng.uniform(-0.5, 0.5, 2))
    label = int(rng.choice([2, 3]))
    if not curved:
        length = width * rng.uniform(3.0, 4.0)
        shape_px, centre = canvas(math.hypot(width, length) / 2, spacing, offset)
        return width, label, straight_band(width, length, angle, centre), shape_px, spacing
    inner = rng.uniform(max(width, 4.0), 16.0)
    span = min(width * rng.uniform(3.0, 4.0) / (inner + width / 2), 3.5)
    shape_px, centre = canvas(inner + width, spacing, offset)
    return width, label, annular_arc(width, inner, span, angle, centre), shape_px, spacing


def area_error(case, soft):
    area, inside, shape_px, spacing = case
    if soft:
        cov = coverage_of(inside, shape_px, spacing)
        labels = (cov >= 0.5).astype(np.uint8)
        m = measure_slice(labels, spacing, probabilities=probabilities_of(cov, 1))
    else:
        m = measure_slice(hard_of(inside, shape_px, spacing).astype(np.uint8), spacing)
    err = m.canal_area_mm2 - area
    return err / area, err / (1.96 * m.canal_area_uncertainty_mm2)


def thickness_error(case, soft, with_uncertainty=False):
    width, label, inside, shape_px, spacing = case
    if soft:
        cov = coverage_of(inside, shape_px, spacing)
        labels = (cov >= 0.5).astype(np.uint8) * label
        m = measure_slice(labels, spacing, probabilities=probabilities_of(cov, label))
    else:
        m = measure_slice(hard_of(inside, shape_px, spacing).astype(np.uint8) * label, spacing)
    side, other = ("left", "right") if label == 2 else ("right", "left")
    assert getattr(m, f"lf_thickness_{other}_mm") is None
    err = getattr(m, f"lf_thickness_{side}_mm") - width
    if not with_uncertainty:
        return err
    return err, err / (1.96 * getattr(m, f"lf_thickness_{side}_uncertainty_mm"))
