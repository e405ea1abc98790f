"""Ligamentum flavum thickness: twice the largest inscribed radius on a sub-pixel
field, refined against the exact 0.5 contour, integrated across the ligament
(see :mod:`mri_measure.measure` for the method)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage import measure as skmeasure

from .fields import Line, _profile_extent


FINE_STEPS_PER_PIXEL = 5
"""Fine-grid steps per (smallest) pixel for the LF distance transform."""


FINE_STEP_MIN_MM = 0.04


LF_ALONG_SMOOTHING_PX = 1.5
"""Gaussian σ (pixels) of the smoothing along the ligament applied to hard LF masks."""


LF_HARD_WINDOW_RADII = 1.5
"""Hard labels: LF width averaged along the ligament over ± this many inscribed radii."""


_TENSOR_SIGMA_PX = 1.5


def _smooth_along_structure(mask: np.ndarray) -> np.ndarray:
    """Hard mask smoothed along the structure's local long axis only.

    Staircase edges of a rasterised band average out along the band while its
    across-band profile (the thickness) is kept. The local direction is the
    minor eigenvector of the structure tensor, in pixel space.
    """
    f = mask.astype(np.float64)
    sigma = LF_ALONG_SMOOTHING_PX
    g = ndimage.gaussian_filter(f, 0.7, mode="constant")
    gr = ndimage.sobel(g, axis=0)
    gc = ndimage.sobel(g, axis=1)
    arr = ndimage.gaussian_filter(gr * gr, _TENSOR_SIGMA_PX, mode="constant")
    arc = ndimage.gaussian_filter(gr * gc, _TENSOR_SIGMA_PX, mode="constant")
    acc = ndimage.gaussian_filter(gc * gc, _TENSOR_SIGMA_PX, mode="constant")
    theta = 0.5 * np.arctan2(2 * arc, arr - acc)  # dominant gradient direction (r, c)
    tr, tc = -np.sin(theta), np.cos(theta)  # tangent
    rr, cc = np.mgrid[0 : f.shape[0], 0 : f.shape[1]].astype(np.float64)
    k = np.arange(-2.0 * sigma, 2.0 * sigma + 1e-9, 0.5)
    wts = np.exp(-0.5 * (k / sigma) ** 2)
    wts /= wts.sum()
    out = np.zeros_like(f)
    for kk, ww in zip(k, wts):
        out += ww * ndimage.map_coordinates(f, [rr + kk * tr, cc + kk * tc], order=1, mode="constant")
    return out


def _interp_matrix(n_in: int, step_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Linear-interpolation weights (n_out, n_in) sampling [0, n_in-1] every step_px."""
    pos = np.arange(0.0, n_in - 1 + 1e-9, step_px)
    i0 = np.clip(np.floor(pos).astype(int), 0, n_in - 2) if n_in > 1 else np.zeros(len(pos), int)
    t = pos - i0
    w = np.zeros((len(pos), n_in))
    idx = np.arange(len(pos))
    w[idx, i0] = 1 - t
    if n_in > 1:
        w[idx, i0 + 1] += t
    return w, pos


class _Boundary:
    """The 0.5 iso-contour of a field, in mm, densely resampled for nearest-point queries.

    Points are spaced at most ``step_mm`` apart along the marching-squares
    polygon, so a nearest-point distance overestimates the distance to the
    polygon by at most step²/(8·distance): negligible at the scales used.
    """

    def __init__(self, field: np.ndarray, spacing, step_mm: float):
        sp = np.asarray(spacing, dtype=float)
        pts = []
        for contour in skmeasure.find_contours(field, 0.5):
            c = contour * sp
            seg = np.diff(c, axis=0)
            n = np.maximum(np.ceil(np.hypot(seg[:, 0], seg[:, 1]) / step_mm).astype(int), 1)
            frac = np.concatenate([np.arange(k) / k for k in n])
            start = np.repeat(c[:-1], n, axis=0)
            pts.append(start + np.repeat(seg, n, axis=0) * frac[:, None])
        self.points = np.concatenate(pts) if pts else np.zeros((0, 2))
        self.tree = cKDTree(self.points) if len(self.points) else None

    def nearest(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance (mm) from each point (n, 2) to the boundary, and the nearest point."""
        d, i = self.tree.query(p)
        return d, self.points[i]


_COMPASS = np.array(
    [[1, 0], [-1, 0], [0, 1], [0, -1], [0.7071, 0.7071], [0.7071, -0.7071], [-0.7071, 0.7071], [-0.7071, -0.7071]]
)


def _refine_inscribed(pts, d, boundary: _Boundary, step, inside=None):
    """Compass search maximising the distance to the contour from several starts.

    The inscribed radius is a tent-shaped ridge, so grid samples miss its top by
    up to half a step; a few halvings of the step recover it to ~step/64.
    ``inside(points_mm) -> bool array`` keeps the search inside the structure:
    outside a small closed contour the distance to it grows without bound.
    """
    pts = pts.copy()
    d = d.copy()
    steps = np.full(len(pts), float(step))
    for _ in range(24):
        trial = (pts[:, None, :] + steps[:, None, None] * _COMPASS[None]).reshape(-1, 2)
        dt, _ = boundary.nearest(trial)
        if inside is not None:
            dt = np.where(inside(trial), dt, -np.inf)
        dt = dt.reshape(len(pts), len(_COMPASS))
        best = np.argmax(dt, axis=1)
        dbest = dt[np.arange(len(pts)), best]
        gain = dbest > d
        pts[gain] += steps[gain, None] * _COMPASS[best[gain]]
        d[gain] = dbest[gain]
        steps[~gain] *= 0.5
        if steps.max() < step / 16:
            break
    k = int(np.argmax(d))
    dk, qk = boundary.nearest(pts[k : k + 1])
    return pts[k], float(dk[0]), qk[0]


def _across_direction(dist: np.ndarray, h: float, centre, radius: float, nearest) -> np.ndarray:
    """Unit vector (mm, (row, col)) across the structure at ``centre``.

    Inside the inscribed disc every distance-transform gradient points away
    from the disc's contact with the nearest edge, i.e. ± across the
    structure; the principal axis of those gradients (their structure tensor)
    is the across direction, perpendicular to the local long axis, for
    straight and curved bands alike and whichever side the contacts are on.
    Falls back to the direction to the nearest edge point for a round blob.
    """
    i0, j0 = centre / h
    k = int(np.ceil(radius / h)) + 1
    r0, r1 = max(int(i0) - k, 0), min(int(i0) + k + 2, dist.shape[0])
    c0, c1 = max(int(j0) - k, 0), min(int(j0) + k + 2, dist.shape[1])
    win = dist[r0:r1, c0:c1]
    if win.shape[0] >= 3 and win.shape[1] >= 3:
        gr, gc = np.gradient(win)
        ii, jj = np.mgrid[r0:r1, c0:c1]
        sel = (np.hypot(ii - i0, jj - j0) <= radius / h) & (win > 0)
        g = np.column_stack([gr[sel], gc[sel]])
        if len(g) >= 3:
            evals, evecs = np.linalg.eigh(g.T @ g)
            if evals[1] > 2.0 * evals[0]:
                return evecs[:, 1]
    u = nearest - centre
    return u / (np.linalg.norm(u) or 1.0)


def _max_thickness(field: np.ndarray, spacing, window=False) -> tuple[float, Line, float]:
    """Twice the largest inscribed radius (mm) of {field > 0.5}, its line, and the
    pixel size (mm) along that line."""
    sr, sc = spacing
    h = max(min(sr, sc) / FINE_STEPS_PER_PIXEL, FINE_STEP_MIN_MM)
    wr, pos_r = _interp_matrix(field.shape[0], h / sr)
    wc, pos_c = _interp_matrix(field.shape[1], h / sc)
    fine = wr @ field @ wc.T
    inside = fine > 0.5
    if not inside.any():  # cannot happen for a mask or a field above 0.5; guard anyway
        inside = fine >= 0.5 * fine.max()
    dist = ndimage.distance_transform_edt(inside, sampling=(h, h))
    dmax = float(dist.max())
    boundary = _Boundary(field, spacing, h / 4)
    cand = np.flatnonzero(dist.ravel() >= dmax - 1.5 * h)
    if len(cand) > 256:
        cand = cand[np.argsort(dist.ravel()[cand])[-256:]]
    ci, cj = np.unravel_index(cand, dist.shape)
    pts = np.column_stack([pos_r[ci] * sr, pos_c[cj] * sc])
    if boundary.tree is None or len(pts) == 0:
        return 0.0, ((0.0, 0.0), (0.0, 0.0)), min(sr, sc)
    d, _ = boundary.nearest(pts)
    top = np.argsort(d)[-8:]

    def is_inside(p_mm: np.ndarray) -> np.ndarray:
        i = np.rint((p_mm[:, 0] / sr - pos_r[0]) / (h / sr)).astype(int)
        j = np.rint((p_mm[:, 1] / sc - pos_c[0]) / (h / sc)).astype(int)
        ok = (i >= 0) & (i < inside.shape[0]) & (j >= 0) & (j < inside.shape[1])
        out = np.zeros(len(p_mm), dtype=bool)
        out[ok] = inside[i[ok], j[ok]]
        return out

    centre, radius, q = _refine_inscribed(pts[top], d[top], boundary, h, is_inside)
    if not np.isfinite(radius) or radius > dmax + 2 * h:  # the contour disagrees with the mask
        k = int(np.argmax(dist.ravel()[cand]))  # (a speck): trust the distance transform
        centre, radius = pts[k], dmax
        q = boundary.nearest(centre[None])[1][0]
    u = _across_direction(dist, h, centre, radius, q)
    along_px = 1.0 / float(np.hypot(u[0] / sr, u[1] / sc))
    lo, hi = _profile_extent(field, spacing, centre, u, radius + 1.5 * along_px, h)
    if lo is not None and abs((hi - lo) - 2 * radius) <= along_px:
        t0, t1, thickness = lo, hi, hi - lo
        if window:
            tang = np.array([-u[1], u[0]])
            ell = max(LF_HARD_WINDOW_RADII * radius, along_px)
            offs = np.linspace(-ell, ell, 7)
            ps = centre[None] + offs[:, None] * tang[None]
            _, qs = boundary.nearest(ps)
            widths = []
            for p_s, q_s in zip(ps, qs):
                us = _across_direction(dist, h, p_s, radius, q_s)
                contact = q_s - p_s
                if abs(contact @ us) < 0.7 * np.linalg.norm(contact):
                    continue  # nearest edge lies along the ligament: past its end
                l2, h2 = _profile_extent(field, spacing, p_s, us, radius + 1.5 * along_px, h)
                if l2 is not None and abs((h2 - l2) - 2 * radius) <= 2 * along_px:
                    widths.append(h2 - l2)
            if len(widths) >= 3:
                thickness = float(np.mean(widths))
                mid = 0.5 * (t0 + t1)
                t0, t1 = mid - thickness / 2, mid + thickness / 2
    else:
        t0, t1, thickness = -radius, radius, 2.0 * radius
    p0 = (centre + u * t0) / np.asarray(spacing)
    p1 = (centre + u * t1) / np.asarray(spacing)
    return thickness, ((p0[0], p0[1]), (p1[0], p1[1])), along_px
