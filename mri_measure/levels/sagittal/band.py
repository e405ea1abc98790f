"""The disc band in 2-D: orientation, mid-line and shape measures.

Used by stage 5 (is a band disc-like? its slope, length and mass) and stage 6
(the plane: the angle across which the band is sharpest, refined by a line
through the mid-points between its two endplate edges).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .canal import _Straight
from .constants import DISC_OFFSET_MM


def _gradients(img: np.ndarray) -> np.ndarray:
    """The image the disc orientation is fitted on (lightly smoothed)."""
    return ndi.gaussian_filter(img, 1.0)


def _disc_axes(
    smooth: np.ndarray, st: _Straight, s: int, refine: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre (i, j), unit normal toward the head and unit anterior axis of the
    disc at arc length ``s``. The normal is the direction across which the
    disc band is sharpest: profiles across candidate angles (±30° around the
    column direction, averaged along the disc) are compared and the one with
    the largest contrast wins."""
    pi, pj = st.points[s]
    ai, aj = st.anterior[s]
    centre = np.array([pi + ai * DISC_OFFSET_MM, pj + aj * DISC_OFFSET_MM])
    guess = np.array([-aj, ai]) if -aj < 0 else np.array([aj, -ai])  # toward the head (−i)
    h, w = smooth.shape
    half = 20
    i0, i1 = int(max(0, centre[0] - half)), int(min(h, centre[0] + half + 1))
    j0, j1 = int(max(0, centre[1] - half)), int(min(w, centre[1] + half + 1))
    best_n, best_score, best_prof = guess, -1.0, None
    if i1 - i0 >= 9 and j1 - j0 >= 9:
        ii, jj = np.mgrid[i0:i1, j0:j1].astype(float)
        di, dj = (ii - centre[0]).ravel(), (jj - centre[1]).ravel()
        vals = smooth[i0:i1, j0:j1].ravel()
        base = np.arctan2(guess[1], guess[0])
        for dt in np.deg2rad(np.arange(-30, 31, 2)):
            n = np.array([np.cos(base + dt), np.sin(base + dt)])
            across = di * n[0] + dj * n[1]
            along = -di * n[1] + dj * n[0]
            sel = (np.abs(along) <= 12) & (np.abs(across) <= 12)
            bins = np.round(across[sel]).astype(int) + 12
            cnt = np.bincount(bins, minlength=25)
            mean = np.bincount(bins, vals[sel], minlength=25) / np.maximum(cnt, 1)
            ok = cnt > 3
            if ok.sum() < 10:
                continue
            score = float(np.var(mean[ok])) - 1e-4 * abs(np.rad2deg(dt))
            if score > best_score:
                best_n, best_score, best_prof = n, score, np.where(ok, mean, np.nan)
    n = best_n
    if best_score > 0:
        # re-centre on the band: midway between its two endplate edges
        prof = best_prof
        if np.isfinite(prof).all():
            deriv = np.gradient(ndi.gaussian_filter1d(prof, 1.0))
            a, b = int(np.argmax(deriv)), int(np.argmin(deriv))
            if 3 <= abs(a - b) <= 16:
                shift = float(np.clip((a + b) / 2.0 - 12.0, -8.0, 8.0))
                centre = centre + shift * n
    if refine:
        centre, n, _ = _refine_band(smooth, centre, n)
    ant = np.array([n[1], -n[0]])
    if np.dot(ant, [ai, aj]) < 0:
        ant = -ant
    return centre, n, ant


def _refine_band(
    smooth: np.ndarray, centre: np.ndarray, n: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float | None]:
    """Fit the disc's mid-line: in each column across the band (every 1 mm along
    it) take the midpoint between its two edges, then fit a straight line.
    Also returns the band's height (median edge-to-edge distance, mm)."""
    t = np.array([-n[1], n[0]])  # along the disc
    along = np.arange(-15.0, 15.1, 1.0)
    across = np.arange(-10.0, 10.01, 0.5)
    pts_i = centre[0] + along[:, None] * t[0] + across[None, :] * n[0]
    pts_j = centre[1] + along[:, None] * t[1] + across[None, :] * n[1]
    prof = ndi.map_coordinates(smooth, [pts_i, pts_j], order=1, mode="nearest")
    deriv = np.gradient(ndi.gaussian_filter1d(prof, 1.5, axis=1), axis=1)
    a, b = np.argmax(deriv, axis=1), np.argmin(deriv, axis=1)
    width = np.abs(a - b) * 0.5
    ok = (width >= 3.0) & (width <= 14.0)
    if ok.sum() < 10:
        return centre, n, None
    height = float(np.median(width[ok]))
    mid = across[0] + (a + b)[ok] * 0.25
    x = along[ok]
    for _ in range(2):  # least squares, then without the outliers
        slope, icpt = np.polyfit(x, mid, 1)
        res = np.abs(mid - (slope * x + icpt))
        keep = res <= max(1.5, 2.0 * float(np.median(res)))
        if keep.sum() < 8:
            return centre, n, height
        x, mid = x[keep], mid[keep]
    slope, icpt = np.polyfit(x, mid, 1)
    angle = np.arctan(slope)
    if abs(angle) > np.deg2rad(6.0) or abs(icpt) > 8.0:
        return centre, n, height
    new_t = np.cos(angle) * t + np.sin(angle) * n
    new_n = np.array([new_t[1], -new_t[0]])
    if np.dot(new_n, n) < 0:
        new_n = -new_n
    return centre + icpt * n, new_n / np.linalg.norm(new_n), height


def _slope_deg(normal: np.ndarray) -> float:
    """Disc slope (degrees from the axial plane) from its canonical (i, j) normal;
    negative = sloping like the S1 endplate (anterior end higher than posterior)."""
    ni, nj = normal
    return float(np.degrees(np.arctan2(nj, -ni)))


def _band_length(smooth: np.ndarray, centre: np.ndarray, n: np.ndarray, ant: np.ndarray) -> float:
    """How far (mm) the band at ``centre`` runs along its own direction: over
    the contiguous stretch through the centre where the band still differs from
    the bone on both sides of it (same sign, at least 20 % of its contrast at the
    centre), each millimetre counted by the share of the central contrast it
    keeps (at most 1; a soft length, steadier than a threshold). A disc spans the whole vertebral body from the posterior to the
    anterior cortex; below L5-S1 the sacrum narrows quickly and the remnant
    lines of its fused segments are short."""
    t = np.asarray(ant, float) / max(float(np.linalg.norm(ant)), 1e-9)
    along = np.arange(-35.0, 40.1, 1.0)
    across = np.arange(-16.0, 16.01, 1.0)
    pi = centre[0] + along[:, None] * t[0] + across[None, :] * n[0]
    pj = centre[1] + along[:, None] * t[1] + across[None, :] * n[1]
    prof = ndi.map_coordinates(smooth, [pi, pj], order=1, mode="constant", cval=0.0)
    prof = ndi.uniform_filter1d(prof, 5, axis=0)
    core = prof[:, np.abs(across) <= 2].mean(axis=1)
    sides = 0.5 * (
        prof[:, (across >= 8) & (across <= 14)].mean(axis=1)
        + prof[:, (across <= -8) & (across >= -14)].mean(axis=1)
    )
    con = core - sides
    ref = float(np.median(con[np.abs(along) <= 8]))
    if abs(ref) < 1e-3:
        return 0.0
    rel = con / ref
    ok = rel >= 0.2
    k0 = int(np.argmin(np.abs(along)))
    i = j = k0
    while i > 0 and ok[i - 1]:
        i -= 1
    while j < len(ok) - 1 and ok[j + 1]:
        j += 1
    # soft length: each millimetre counts by how much of the central contrast it keeps
    return float(np.sum(np.clip(rel[i : j + 1], 0.0, 1.0)))


def _band_mass(smooth: np.ndarray, centre: np.ndarray, n: np.ndarray) -> float:
    """How much the band at ``centre`` (normal ``n``) differs from the bone on
    both sides of it: the area between the across-band profile (median over the
    central 20 mm of the body) and the nearer of the two bone levels (median of
    each side 10–22 mm away), over ±8 mm, relative to the bone's signal. A disc —
    bright, dark, or both — gives a large area; a thin remnant line inside the
    sacrum, or a step between two bones of different signal, a small one."""
    t = np.array([-n[1], n[0]])
    along = np.arange(-10.0, 10.1, 1.0)
    across = np.arange(-22.0, 22.01, 1.0)
    pi = centre[0] + along[:, None] * t[0] + across[None, :] * n[0]
    pj = centre[1] + along[:, None] * t[1] + across[None, :] * n[1]
    prof = np.median(ndi.map_coordinates(smooth, [pi, pj], order=1, mode="nearest"), axis=0)
    above = float(np.median(prof[across < -10.0]))
    below = float(np.median(prof[across > 10.0]))
    mid = np.abs(across) <= 8.0
    area = float(np.sum(np.minimum(np.abs(prof[mid] - above), np.abs(prof[mid] - below))))
    # relative to the bone's signal (Weber contrast): a disc in a dark or
    # coil-shaded part of the image is as much a disc as one in a bright part
    return area / max(0.5 * (above + below), 0.05)
