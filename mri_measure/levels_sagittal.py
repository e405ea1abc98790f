"""Find the discs on a sagittal T2 stack.

:func:`find_discs` first asks the learned disc detector
(:mod:`mri_measure.segment.disc_detector`, post-processed by
:mod:`mri_measure.levels_learned`) on the mid-sagittal slice; where torch or
its bundle is missing or it sees no sacrum, the classical column analysis
below (no model) answers instead. Classical steps, in millimetres on a grid
resampled from the DICOM geometry (pixel spacing and orientation come from the
headers, never assumed):

1. **canonical view** — each sagittal slice is resampled (1 mm grid) so that
   rows run head → feet (−z) and columns anterior → posterior (+y);
2. **canal** — the bright CSF tube (darker on both sides, tissue beyond) is
   tracked top to bottom by dynamic programming; the mid-sagittal slice is
   the middle of the run of near-central slices that show it well;
3. **column** — the image is straightened along the canal and the vertebral
   body band just anterior to it is summarised row by row into a disc-ness
   profile: edge energy across the band (endplates) + how far the band
   differs from the bodies around it (bright nucleus or dark degenerate
   disc). Only the part of the band inside the image counts, so a disc cut by
   the border of the field of view is still seen when most of its band is;
4. **size normalisation** — bodies and discs alternate, so the profile's
   autocorrelation gives the disc spacing (most negative at half of it). When
   it differs from a nominal adult column (40 mm), the slice is resampled so
   that it becomes nominal and the discs are chosen there (step 5): every
   length the choice uses is then relative to the patient's own vertebrae,
   whatever the body size — or the pixel spacing, when it is unknown. Each
   chosen disc goes back to the nearest profile peak of the 1 mm column, where
   its plane is fitted (step 6);
5. **discs and sacrum** — candidates are the profile's peaks at least half a
   spacing apart. Going down the column, the count ends where **the column
   ends at the sacrum**: once no *disc-like* band follows the last disc within
   1.6 spacings, that disc is L5-S1. Disc-like is measured in 2-D, relative to
   the discs already found: a disc runs across the whole vertebral body
   (band length along its own direction) and differs from the bone on both
   sides over its height (band mass); the remnant lines of the fused sacral
   segments are short (the sacrum narrows) and thin. Kept from before: a big
   gap, a faint band after a gap or a slope reversal also end the column, and
   a band sloping like the S1 endplate (≥ 37°) is the S1-S2 remnant when more
   disc-like column follows — unless it is itself disc-like with the column
   ending below it (a steep L5-S1), or a full, ordinary disc follows at a
   regular spacing (a sheared, slipped disc). Then the regular alternation is
   used twice: a band that splits one spacing into two short ones lies inside
   a body (dropped), and a gap of about two spacings hides a missed disc (the
   best profile maximum in its middle is added). The last disc is L5-S1 and
   the others are counted upward from it;
6. **plane** — each disc's orientation is the angle across which its band is
   sharpest, refined by a line through the mid-points between its two
   endplate edges; normals that disagree with both neighbours (a sheared,
   slipped disc) take their mean; centres map back to patient coordinates.

Validated on the synthetic phantom (exact truth) and on 21 real SPIDER slices
(``benchmarks/bench_levels_spider.py``: developed on one half, the other half
held out; also at several assumed pixel spacings); see benchmarks/RESULTS.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from .types import DiscPlane, LoadedStack, SliceInfo

N_NAMED = 17  # names exist for 17 discs above the sacrum (L5-S1 … T1-T2)

__all__ = ["find_discs", "canonical_view", "CanonicalView"]

GRID_MM = 1.0
PATH_SMOOTH_MM = 10.0  # the straightening follows the canal smoothed at this scale
MID_RADIUS_MM = 10.0  # the mid-sagittal slice is looked for this close to the stack centre


@dataclass(frozen=True)
class CanonicalView:
    """A sagittal slice resampled to ``GRID_MM`` with rows → −z and columns → +y.

    ``image[i, j]`` is at patient point ``origin + i*down + j*post`` projected
    back into the slice plane (:meth:`to_patient`).
    """

    image: np.ndarray  # (H, W) float32, NaN outside the source slice
    slice_info: SliceInfo
    z_top: float
    y_ant: float
    grid_mm: float = GRID_MM  # millimetres per canonical pixel

    def to_patient(self, i: float, j: float) -> np.ndarray:
        """Patient coordinate (mm) of canonical pixel (i, j), in the slice plane."""
        g = self.grid_mm
        r, c = _yz_to_rc(self.slice_info, self.y_ant + j * g, self.z_top - i * g)
        return self.slice_info.pixel_to_patient(r, c)


def _yz_to_rc(sl: SliceInfo, y, z):
    """Pixel (row, col) of the in-plane point with patient (y, z) (x from the plane)."""
    rd = np.asarray(sl.orientation[:3], dtype=float) * sl.spacing_mm[1]
    cd = np.asarray(sl.orientation[3:6], dtype=float) * sl.spacing_mm[0]
    m = np.array([[rd[1], cd[1]], [rd[2], cd[2]]])  # [dy/dcol dy/drow; dz/dcol dz/drow]
    inv = np.linalg.inv(m)
    dy = np.asarray(y, dtype=float) - sl.position_mm[1]
    dz = np.asarray(z, dtype=float) - sl.position_mm[2]
    col = inv[0, 0] * dy + inv[0, 1] * dz
    row = inv[1, 0] * dy + inv[1, 1] * dz
    return row, col


def canonical_view(image: np.ndarray, sl: SliceInfo, grid_mm: float = GRID_MM) -> CanonicalView:
    """Resample one sagittal slice to the canonical head-down/anterior-left grid
    (``grid_mm`` per pixel, 1 mm unless the column is rescaled, see :func:`find_discs`)."""
    corners = np.array(
        [sl.pixel_to_patient(r, c) for r in (0, sl.rows - 1) for c in (0, sl.columns - 1)]
    )
    y0, y1 = corners[:, 1].min(), corners[:, 1].max()
    z0, z1 = corners[:, 2].min(), corners[:, 2].max()
    h = int(np.floor((z1 - z0) / grid_mm)) + 1
    w = int(np.floor((y1 - y0) / grid_mm)) + 1
    ii, jj = np.mgrid[0:h, 0:w].astype(float)
    r, c = _yz_to_rc(sl, y0 + jj * grid_mm, z1 - ii * grid_mm)
    img = np.asarray(image, dtype=np.float32)
    # smooth before downsampling when the source pixels are finer than the grid
    sig = [max(0.0, 0.4 * grid_mm / s - 0.3) for s in sl.spacing_mm]
    if max(sig) > 0:
        img = ndi.gaussian_filter(img, sig)
    out = ndi.map_coordinates(img, [r, c], order=1, mode="constant", cval=np.nan)
    return CanonicalView(out.astype(np.float32), sl, float(z1), float(y0), float(grid_mm))


def _normalise(img: np.ndarray) -> np.ndarray:
    """NaN → 0 and robust scaling to [0, ~1] (99th percentile of the valid pixels)."""
    valid = np.isfinite(img)
    out = np.where(valid, img, 0.0).astype(np.float32)
    if valid.any():
        lo, hi = np.percentile(out[valid], [1, 99])
        out = np.clip((out - lo) / max(hi - lo, 1e-6), 0.0, 1.5)
    return out


def _shift(a: np.ndarray, d: int) -> np.ndarray:
    """``out[:, j] = a[:, j + d]`` with edge replication."""
    idx = np.clip(np.arange(a.shape[1]) + d, 0, a.shape[1] - 1)
    return a[:, idx]


def _canal_ridge(img: np.ndarray) -> np.ndarray:
    """Bright-tube response: brighter than both sides at 4–12 mm, per pixel."""
    s = ndi.gaussian_filter(img, 1.0)
    best = np.zeros_like(s)
    for w in (4, 6, 8, 10, 12):
        r = np.minimum(s - _shift(s, -w), s - _shift(s, w))
        best = np.maximum(best, r)
    # the canal has tissue on both sides (bodies in front, posterior elements and
    # muscle behind); a bright rim at the skin has air behind it
    body = ndi.uniform_filter(s, (1, 21))
    tissue = np.minimum(_shift(body, -28), _shift(body, 28))
    best *= np.clip(tissue / 0.12, 0.0, 1.0)
    return ndi.gaussian_filter(best, (4.0, 0.5))


def _track(resp: np.ndarray, max_step: int = 2, penalty: float = 0.02) -> np.ndarray:
    """Column per row maximising the summed response (dynamic programming)."""
    h, w = resp.shape
    score = resp[0].copy()
    back = np.zeros((h, w), dtype=np.int16)
    steps = range(-max_step, max_step + 1)
    for i in range(1, h):
        cands = np.stack([_shift(score[None], d)[0] - penalty * abs(d) for d in steps])
        k = np.argmax(cands, axis=0)
        back[i] = np.clip(np.arange(w) + np.array(list(steps))[k], 0, w - 1)
        score = resp[i] + cands[k, np.arange(w)]
    path = np.zeros(h, dtype=int)
    path[-1] = int(np.argmax(score))
    for i in range(h - 1, 0, -1):
        path[i - 1] = back[i, path[i]]
    return path


@dataclass(frozen=True)
class _Straight:
    """Image resampled along the canal: row s = arc length (mm, head → feet),
    column d = distance anterior of the canal centre (mm)."""

    image: np.ndarray  # (n_s, n_d)
    points: np.ndarray  # (n_s, 2) canonical (i, j) of the canal centre at each s
    anterior: np.ndarray  # (n_s, 2) unit vector (di, dj) pointing anterior
    valid: np.ndarray | None = None  # (n_s,) enough of the body band lies inside the source image
    inside: np.ndarray | None = None  # (n_s, n_d) 1 where the sample lies inside the source image


def _straighten(
    img: np.ndarray, path_j: np.ndarray, i0: int, i1: int, depth_mm: int = 70,
    inside: np.ndarray | None = None,
) -> _Straight:
    """Resample ``img`` along the smoothed canal path between rows i0..i1."""
    ii = np.arange(i0, i1, dtype=float)
    jj = ndi.gaussian_filter1d(path_j[i0:i1].astype(float), PATH_SMOOTH_MM, mode="nearest")
    seg = np.hypot(np.diff(ii), np.diff(jj))
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    s = np.arange(0.0, arc[-1], GRID_MM)
    pi = np.interp(s, arc, ii)
    pj = np.interp(s, arc, jj)
    ti = np.gradient(pi)
    tj = np.gradient(pj)
    tn = np.hypot(ti, tj) + 1e-9
    ti, tj = ti / tn, tj / tn
    # anterior normal: perpendicular to the tangent, pointing to smaller j
    ai, aj = tj, -ti
    flip = aj > 0
    ai[flip], aj[flip] = -ai[flip], -aj[flip]
    d = np.arange(0.0, depth_mm, GRID_MM)
    ci = pi[:, None] + ai[:, None] * d[None, :]
    cj = pj[:, None] + aj[:, None] * d[None, :]
    out = ndi.map_coordinates(img, [ci, cj], order=1, mode="constant", cval=0.0)
    valid = ins = None
    if inside is not None:
        ins = ndi.map_coordinates(inside.astype(np.float32), [ci, cj], order=0, mode="constant", cval=0.0)
        # most of the body band (and a margin around it) must lie inside the source
        # slice: a disc cut by the border of the field of view still counts when
        # its band is visible across most of the body
        valid = ndi.minimum_filter1d(ins[:, 5:45].mean(axis=1), size=5, mode="constant", cval=0.0) >= BAND_INSIDE
    return _Straight(out.astype(np.float32), np.stack([pi, pj], 1), np.stack([ai, aj], 1), valid, ins)


def _disc_profile(st: _Straight, d0: int = 10, d1: int = 38) -> np.ndarray:
    """Disc-ness along the canal: edge energy across the body band (endplates)
    plus how far the band differs from the bodies around it (dark or bright disc)."""
    if st.inside is None:
        sm = ndi.gaussian_filter(st.image, 1.5)
    else:
        # smoothing that ignores samples outside the image (no edge at the border),
        # and only the part of the band inside the image counts
        w = ndi.gaussian_filter(st.inside, 1.5)
        sm = ndi.gaussian_filter(st.image * st.inside, 1.5) / np.maximum(w, 1e-3)
        sm = np.where((w > 0.5) & (st.inside > 0.5), sm, np.nan)
    band = sm[:, d0:d1]
    seen = np.isfinite(band).mean(axis=1) >= BAND_INSIDE
    band = np.where(seen[:, None], band, 0.0)
    grad = np.abs(np.gradient(band, axis=0))
    edge = np.nan_to_num(_nanmedian_rows(grad))
    edge = ndi.gaussian_filter1d(edge, 3.5)
    med = _nanmedian_rows(band)
    if np.isnan(med).any():  # rows with no valid sample take their neighbours' value
        ok = np.isfinite(med)
        med = np.interp(np.arange(len(med)), np.flatnonzero(ok), med[ok]) if ok.any() else np.zeros_like(med)
    base = ndi.median_filter(med, size=41, mode="nearest")
    dev = ndi.gaussian_filter1d(np.abs(med - base), 2.0)

    def unit(a: np.ndarray) -> np.ndarray:
        scale = np.percentile(a, 95) if a.size else 1.0
        return a / max(float(scale), 1e-6)

    f = unit(edge) + unit(dev)
    if st.valid is not None:  # the image border is not an endplate
        f = np.where(st.valid, f, 0.0)
    return f


def _nanmedian_rows(a: np.ndarray) -> np.ndarray:
    """Row medians ignoring NaN (NaN where a row has none), without warnings."""
    out = np.full(a.shape[0], np.nan)
    ok = np.isfinite(a).any(axis=1)
    if ok.any():
        out[ok] = np.nanmedian(a[ok], axis=1)
    return out


def _peaks(f: np.ndarray, min_sep: int = 20) -> list[int]:
    """Local maxima at least ``min_sep`` mm apart (strongest kept), strongest first."""
    mx = ndi.maximum_filter1d(f, size=7, mode="nearest")
    idx = np.where((f >= mx - 1e-9) & (f > 0))[0]
    kept: list[int] = []
    for i in sorted(idx.tolist(), key=lambda i: -f[i]):
        if all(abs(i - k) >= min_sep for k in kept):
            kept.append(i)
    # a shoulder is not a peak: between two discs the profile must dip
    changed = True
    while changed and len(kept) > 1:
        changed = False
        order = sorted(kept)
        for a, b in zip(order, order[1:]):
            if f[a:b + 1].min() > DIP * min(f[a], f[b]):
                kept.remove(a if f[a] < f[b] else b)
                changed = True
                break
    return sorted(kept, key=lambda i: -f[i])


BAND_INSIDE = 0.6  # a row of the column counts when this share of its body band is inside the image
MIN_SPACING_MM = 18  # discs closer than this are one disc (less when the column's spacing is small)
NOMINAL_PERIOD_MM = 40.0  # adult lumbar disc spacing (centre to centre); also the default
MAX_RESCALE = 1.6  # the size normalisation stays within 1/1.6 … 1.6
SNAP_MM = 4  # a disc chosen on the resampled column moves to the 1 mm profile's peak this close
RESCALE_TOL = 0.03  # columns within 10 % of nominal are not resampled
ENDS_LIKE = 0.5  # a band whose length × mass is under this × the median disc's is not disc-like
ORDINARY_LIKE = 0.75  # …and one over this × is a full, ordinary disc
ENDS_WINDOW = 1.6  # …and when none follows a disc within this many spacings, the column ends
FILL, FILL_MIN, FILL_MAX, FILL_FLOOR = True, 1.65, 2.6, 0.25
SPLIT_SHORT = 0.7  # two consecutive spacings both shorter than this × the period: a band inside a body
DIP = 0.7  # between two discs the profile falls below this fraction of the weaker one
SACRAL_SLOPE_STOP_DEG = 37.0  # a "disc" sloping more than this lies in the sacrum (S1-S2)
GAP_STOP = 2.6  # a spacing this many times the median ends the column (past the sacrum)
WEAK_LOW = 0.6  # in the lower column, a band weaker than this × the median disc is noise
FAINT, FAINT_GAP = 0.65, 1.45  # a band this faint after such a gap lies below the sacrum
REVERSAL_DEG = 25.0
BELOW_FLOOR = 0.15  # any band this strong below a steep one means the column goes on
EDGE_MARGIN_MM = 3  # ignore responses at the very ends of the tracked canal
DISC_OFFSET_MM = 28.0  # disc centre: this far anterior of the canal centre


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


def _period(f: np.ndarray, lo: int = 8, hi: int = 30) -> float:
    """Disc spacing (mm) along the column: bodies and discs alternate, so the
    profile's autocorrelation is most negative at half the spacing (a disc
    lies on a body). The half-period is looked for between ``lo`` and ``hi`` mm;
    the trough is used rather than the next maximum, which a missing or
    doubled disc can move to a multiple of the spacing."""
    g = f - ndi.uniform_filter1d(f, 81, mode="nearest")
    n = len(g)
    hi = min(hi, n // 4)
    if hi <= lo + 2:
        return NOMINAL_PERIOD_MM
    ac = np.array([np.dot(g[: n - k], g[k:]) / (n - k) for k in range(hi + 1)])
    if ac[0] <= 0:
        return NOMINAL_PERIOD_MM
    k = lo + int(np.argmin(ac[lo : hi + 1]))
    if ac[k] >= 0:  # no alternation at all
        return NOMINAL_PERIOD_MM
    return 2.0 * float(k)


def _choose_column(st: _Straight, f: np.ndarray, grads, period: float | None = None) -> list[int]:
    """Disc positions (arc length, top → bottom) ending at L5-S1 (see :func:`_choose`)."""

    def slope_of(p: int) -> float:
        return _slope_deg(_disc_axes(grads, st, p, refine=False)[1])

    def shape_of(p: int) -> tuple[float, float]:
        c, nrm, ant = _disc_axes(grads, st, p)
        return _band_length(grads, c, nrm, ant), _band_mass(grads, c, nrm)

    return _choose(f, slope_of, shape_of, period)


def _fills_gap(p: int, chain: list[int], cands: list[int], f: np.ndarray, floor: float, spacing: float) -> bool:
    """…unless it sits at a regular spacing between the last disc and the next
    clear one, which would otherwise leave a one-disc gap (a dim slipped disc)."""
    nxt = next((q for q in cands if q > p and f[q] >= floor), None)
    if nxt is None:
        return False
    before, after = p - chain[-1], nxt - p
    return (
        nxt - chain[-1] > 1.6 * spacing
        and 0.7 * spacing <= before <= 1.35 * spacing
        and 0.7 * spacing <= after <= 1.35 * spacing
    )


def _fill_missing(chain: list[int], f: np.ndarray, ref: float) -> list[int]:
    """A vertebral body is never twice as tall as its neighbours: where two
    consecutive discs are about two spacings apart, the disc between them was
    missed (a dim or mixed bright/dark disc whose profile peak merged into a
    shoulder) — take the best local maximum of the profile in the middle of the
    gap, if there is any band there at all."""
    if len(chain) < 3:
        return chain
    out = list(chain)
    gaps = np.diff(chain).astype(float)
    for k, (a, b, g) in enumerate(zip(chain, chain[1:], gaps)):
        # compared with the neighbouring bodies (the spacing grows down the column)
        local = max(gaps[max(0, k - 1) : k].tolist() + gaps[k + 1 : k + 2].tolist(), default=0.0)
        if local <= 0 or not (FILL_MIN * local <= g <= FILL_MAX * local):
            continue
        lo, hi = int(a + 0.3 * g), int(b - 0.3 * g)
        seg = f[lo : hi + 1]
        if seg.size < 3:
            continue
        loc = [lo + k for k in range(1, seg.size - 1) if seg[k] >= seg[k - 1] and seg[k] >= seg[k + 1]]
        if not loc:
            continue
        best = max(loc, key=lambda i: f[i])
        if f[best] >= FILL_FLOOR * ref:
            out.append(best)
    return sorted(out)


def _drop_inside_bodies(chain: list[int], f: np.ndarray, period: float) -> list[int]:
    """Bodies and discs alternate regularly: a band that splits one ordinary
    spacing into two short ones (each under ``SPLIT_SHORT`` × the period, the two
    together 0.8–1.4 periods) lies inside a vertebral body (a haemangioma, a
    Modic change, a Schmorl node), not between two — drop it."""
    out = list(chain)
    changed = True
    while changed and len(out) >= 3:
        changed = False
        for a, m, b in zip(out, out[1:], out[2:]):
            if (
                m - a < SPLIT_SHORT * period and b - m < SPLIT_SHORT * period
                and 0.8 * period <= b - a <= 1.4 * period
            ):
                out.remove(m)
                changed = True
                break
    return out


def _choose(f: np.ndarray, slope_of, shape_of=None, period: float | None = None) -> list[int]:
    """Disc positions (arc length, top → bottom) ending at L5-S1.

    Candidates are the profile's peaks at least half a disc spacing apart
    (``period``, else the profile's own, :func:`_period`). Going down the
    column: a big gap ends it (past the sacrum); in the lower half, **the
    column ends at the sacrum** — once no disc-like band (band length × band
    mass, each relative to the median of the discs so far, at least
    ``ENDS_LIKE``; :func:`_band_length`, :func:`_band_mass`) follows the last
    disc within ``ENDS_WINDOW`` spacings, that disc is L5-S1 and what lies
    below are the short, thin remnant lines of the fused sacral segments; a
    band much weaker than the discs above is not a disc; a band sloping like
    the S1 endplate or steeper is the S1-S2 remnant when more column follows
    below it, and the lumbosacral disc itself when it is disc-like and the
    column ends below it, or a sheared disc when a full, ordinary disc follows
    at a regular spacing. Finally bands inside a body are dropped and a disc
    missed between two found ones is filled in (:func:`_drop_inside_bodies`,
    :func:`_fill_missing`).
    """
    n = len(f)
    if period is None:
        period = _period(f)
    min_sep = int(round(min(MIN_SPACING_MM, max(12.0, 0.5 * period))))
    peaks = _peaks(f, min_sep)
    peaks = [p for p in peaks if EDGE_MARGIN_MM <= p < n - EDGE_MARGIN_MM]
    if not peaks:
        return []
    ref = float(np.percentile([f[p] for p in peaks], 90))
    strong = sorted(p for p in peaks if f[p] >= 0.3 * ref)
    shapes: dict[int, tuple[float, float]] = {}

    def shape(p: int) -> tuple[float, float]:
        if p not in shapes:
            shapes[p] = shape_of(p) if shape_of is not None else (1.0, 1.0)
        return shapes[p]

    def disc_like(p: int, chain: list[int]) -> float:
        """Band length × band mass, each relative to the median of the discs so far."""
        ln = max(float(np.median([shape(q)[0] for q in chain])), 1.0)
        ms = max(float(np.median([shape(q)[1] for q in chain])), 1e-6)
        return shape(p)[0] / ln * shape(p)[1] / ms

    def column_ends(e: int, chain: list[int], spacing: float) -> bool:
        """No disc-like band follows ``e`` within ENDS_WINDOW spacings."""
        if shape_of is None:
            return False
        below = [q for q in peaks if e < q <= e + ENDS_WINDOW * spacing]
        # an empty window is a gap (a missed disc or the end of the image), not a sacrum
        return bool(below) and all(disc_like(q, chain) < ENDS_LIKE for q in below)

    chain: list[int] = []
    for p in strong:
        if len(chain) >= 3:
            spacing = float(np.median(np.diff(chain)))
            if p - chain[-1] > GAP_STOP * spacing:
                break
            if p > n / 2:
                if len(chain) >= 4 and chain[-1] > n / 2 and column_ends(chain[-1], chain, spacing):
                    break  # the sacrum: no disc follows the last one
                median_f = float(np.median([f[q] for q in chain]))
                if f[p] < WEAK_LOW * median_f and not (
                    f[p] >= 0.5 * median_f and _fills_gap(p, chain, strong, f, WEAK_LOW * median_f, spacing)
                ):
                    continue  # a faint band low in the column is not a disc…
                if p - chain[-1] > FAINT_GAP * spacing and f[p] < FAINT * median_f:
                    break  # a faint band after a gap: below the sacrum
                prev, here = slope_of(chain[-1]), slope_of(p)
                if (prev <= -20.0 and here >= prev + REVERSAL_DEG) or here >= 30.0:
                    break  # lordosis tilts the low discs ever more; a reversal is past the sacrum
            # the slope of the whole band (not its refined mid-line) tells the sacrum
            if slope_of(p) <= -SACRAL_SLOPE_STOP_DEG:
                step = p - chain[-1]
                regular = 0.75 * spacing <= step <= 1.6 * spacing
                if (
                    shape_of is not None and p > n / 2 and regular
                    and disc_like(p, chain) >= ENDS_LIKE
                    and column_ends(p, chain, spacing)
                ):
                    chain.append(p)  # a steep but full disc with the sacrum below: L5-S1
                    break
                median_f = float(np.median([f[q] for q in chain]))
                below = [
                    q for q in peaks
                    if p < q <= p + GAP_STOP * spacing and f[q] >= BELOW_FLOOR * median_f
                ]
                # …unless a full, ordinary disc follows at a regular spacing: then the
                # steep band is a sheared disc (spondylolisthesis), not the sacrum
                here = slope_of(p)
                ordinary = [
                    q for q in below
                    if q - p <= 1.3 * spacing and abs(slope_of(q)) < SACRAL_SLOPE_STOP_DEG
                    and slope_of(q) < here + REVERSAL_DEG  # a reversed band lies past the sacrum
                    and (disc_like(q, chain) >= ORDINARY_LIKE if shape_of is not None else f[q] >= 0.85 * ref)
                ]
                if step < 0.75 * spacing or step > 1.4 * spacing or (below and not ordinary):
                    break
        chain.append(p)
    chain = _drop_inside_bodies(chain, f, period)
    return _fill_missing(chain, f, ref) if FILL else chain


def _analyse_slice(image: np.ndarray, sl: SliceInfo, grid_mm: float = GRID_MM):
    """Canonical view, canal path, straightened column and canal score."""
    cv = canonical_view(image, sl, grid_mm)
    img = _normalise(cv.image)
    if img.shape[0] < 60 or img.shape[1] < 60:
        return None
    ridge = _canal_ridge(img)
    path = _track(ridge)
    along = ridge[np.arange(len(path)), path]
    score = float(np.sum(along))
    st = _straighten(img, path, 0, len(path), inside=np.isfinite(cv.image))
    if st.image.shape[0] < 60:
        return None
    return cv, st, score


def _mid_sagittal(pixels: np.ndarray, slices) -> tuple | None:
    """Analysis of the mid-sagittal slice.

    Lumbar sagittal series are centred on the spine, so only slices within
    ``MID_RADIUS_MM`` of the stack's centre (at least the middle three) are
    candidates; among them, the middle of the run that shows the canal well
    (the canal is ~±8 mm wide and its strongest response is often beside the
    cauda equina, not on it)."""
    n = len(slices)
    pos = np.array([float(np.dot(s.position_mm, s.normal)) for s in slices])
    centre = (pos.min() + pos.max()) / 2.0
    near = np.argsort(np.abs(pos - centre))
    cand = sorted(int(k) for k in near if abs(pos[k] - centre) <= MID_RADIUS_MM)
    if len(cand) < min(3, n):
        cand = sorted(int(k) for k in near[: min(3, n)])
    got = {k: _analyse_slice(pixels[k], slices[k]) for k in cand}
    scores = {k: g[2] for k, g in got.items() if g is not None}
    if not scores:
        return None
    kmax = max(scores, key=scores.get)
    order = sorted(scores, key=lambda k: pos[k])
    i = order.index(kmax)
    lo = hi = i
    while lo - 1 >= 0 and scores[order[lo - 1]] >= 0.6 * scores[kmax]:
        lo -= 1
    while hi + 1 < len(order) and scores[order[hi + 1]] >= 0.6 * scores[kmax]:
        hi += 1
    middle = (pos[order[lo]] + pos[order[hi]]) / 2.0
    k = min(order[lo : hi + 1], key=lambda q: abs(pos[q] - middle))
    return k, got[k]


def _smooth_normals(normals: list[np.ndarray], max_dev_deg: float = 15.0) -> list[np.ndarray]:
    """Replace an inner disc's normal that deviates from both neighbours' mean by
    more than ``max_dev_deg`` (a sheared, slipped disc fits badly) by that mean."""
    out = [np.asarray(v, float) for v in normals]

    def dev(a, b) -> float:
        return float(np.degrees(np.arccos(min(1.0, abs(float(np.dot(a, b)))))))

    for i in range(1, len(normals) - 1):
        mean = normals[i - 1] + normals[i + 1]
        mean = mean / max(float(np.linalg.norm(mean)), 1e-9)
        if dev(mean, normals[i]) > max_dev_deg:
            out[i] = mean
    # the top disc is often cut by the field of view: trust its neighbour instead
    # (not at L5-S1, whose wedge really differs from L4-L5)
    if len(out) >= 3 and dev(out[-1], out[-2]) > max_dev_deg:
        out[-1] = out[-2].copy()
    return out


def _choose_column_normalised(image: np.ndarray, sl: SliceInfo, st: _Straight, f: np.ndarray) -> list[int] | None:
    """Size normalisation of the disc choice: when the column's disc spacing
    (:func:`_period`) differs from ``NOMINAL_PERIOD_MM``, the slice is resampled
    so that it becomes nominal, the discs are chosen there — every length the
    choice uses (peak separation, windows of the band measures, look-ahead below
    the last disc) is then relative to the patient's own vertebrae, whatever the
    body size or the (possibly unknown) pixel spacing — and each chosen disc is
    mapped back to the nearest arc position of the 1 mm column ``st``, where its
    plane is fitted. ``None`` when no resampling is needed or possible."""
    period = _period(f)
    scale = float(np.clip(period / NOMINAL_PERIOD_MM, 1.0 / MAX_RESCALE, MAX_RESCALE))
    if abs(scale - 1.0) <= RESCALE_TOL:
        return None
    again = _analyse_slice(image, sl, GRID_MM * scale)
    if again is None:
        return None
    cv2, st2, _ = again
    chain2 = _choose_column(st2, _disc_profile(st2), _gradients(_normalise(cv2.image)), period / scale)
    out: list[int] = []
    for s2 in chain2:
        # the same canal point in 1 mm canonical pixels (both grids share their origin)
        p = st2.points[s2] * (cv2.grid_mm / GRID_MM)
        s = int(np.argmin(np.hypot(st.points[:, 0] - p[0], st.points[:, 1] - p[1])))
        # …on the 1 mm column's own profile peak nearby, where the plane fit starts
        lo, hi = max(0, s - SNAP_MM), min(len(f), s + SNAP_MM + 1)
        s = lo + int(np.argmax(f[lo:hi]))
        if not out or s > out[-1]:
            out.append(s)
    return out


def _column_confidence(positions) -> float:
    """1.0 for at least five regularly spaced discs (spacing varies by less
    than 25 %), 0.8 for four or an irregular column, 0.6 otherwise."""
    spacing = np.diff(np.asarray(positions, dtype=float))
    regular = float(np.std(spacing) / max(float(np.mean(np.abs(spacing))), 1e-6)) if len(spacing) else 1.0
    n = len(positions)
    return 1.0 if n >= 5 and regular < 0.25 else 0.8 if n >= 4 else 0.6


def _learned_discs(image: np.ndarray, sl: SliceInfo, for_uid: str | None) -> tuple[DiscPlane, ...] | None:
    """Discs by the learned detector (:mod:`mri_measure.segment.disc_detector`
    and :mod:`mri_measure.levels_learned`) on one sagittal slice; ``None`` when
    torch or the detector bundle is unavailable, or the detector sees no sacrum
    or fewer than two discs."""
    from .errors import ModelError
    from .levels import level_name
    from .levels_learned import discs_from_probabilities

    try:
        from .segment.disc_detector import load_disc_detector

        detector = load_disc_detector()
    except (ImportError, ModelError):
        return None
    cv = canonical_view(image, sl, detector.grid_mm)
    found = discs_from_probabilities(detector.probabilities(cv.image), detector.grid_mm)
    if not found or len(found) < 2:
        return None
    conf = _column_confidence([d.centre_px[0] for d in found])
    planes = []
    for d in reversed(found[-N_NAMED:]):  # caudal first
        ci, cj = d.centre_px
        centre = cv.to_patient(ci, cj)
        nvec = cv.to_patient(ci - d.normal_px[0], cj - d.normal_px[1]) - centre  # toward the head
        planes.append((centre, nvec / max(float(np.linalg.norm(nvec)), 1e-9), d.height_mm))
    normals = _smooth_normals([nv for _, nv, _ in planes])
    return tuple(
        DiscPlane(level=level_name(rank), centre_mm=tuple(float(v) for v in centre),  # type: ignore[arg-type]
                  normal=tuple(float(v) for v in nvec), confidence=conf,  # type: ignore[arg-type]
                  height_mm=float(height), frame_of_reference_uid=for_uid)
        for rank, ((centre, _, height), nvec) in enumerate(zip(planes, normals))
    )


def find_discs(loaded_sagittal: LoadedStack, method: str = "auto") -> tuple[DiscPlane, ...]:
    """Discs on a sagittal T2 stack, named from the sacrum upward (L5-S1 first).

    ``method``: ``"learned"`` — the disc detector on the mid-sagittal slice;
    ``"classical"`` — the column analysis of this module; ``"auto"`` (default)
    — learned, falling back to classical when torch or the detector bundle is
    missing or the detector finds no sacrum. Returns ``()`` when the stack is
    unusable (not sagittal, too small, no canal or too few discs): the caller
    warns and falls back. Confidence: see :func:`_column_confidence`.
    """
    from .levels import level_name

    if method not in ("auto", "learned", "classical"):
        raise ValueError(f"unknown disc-finding method {method!r}")
    slices = loaded_sagittal.slices
    pixels = np.asarray(loaded_sagittal.pixels)
    if not slices or pixels.ndim != 3 or pixels.shape[0] != len(slices):
        return ()
    n = np.abs(np.asarray(slices[0].normal))
    if n[0] < np.cos(np.deg2rad(45)):  # not sagittal enough to look along the column
        return ()
    best = _mid_sagittal(pixels, slices)
    if best is None:
        return ()
    k_mid, (cv, st, _) = best
    for_uid = loaded_sagittal.stack.frame_of_reference_uid
    if method != "classical":
        learned = _learned_discs(pixels[k_mid], slices[k_mid], for_uid)
        if learned is not None or method == "learned":
            return learned or ()
    f = _disc_profile(st)
    grads = _gradients(_normalise(cv.image))
    chain = _choose_column_normalised(pixels[k_mid], slices[k_mid], st, f)
    if chain is None:
        chain = _choose_column(st, f, grads)
    if len(chain) < 2:
        return ()
    conf = _column_confidence(chain)
    axes = {s: _disc_axes(grads, st, s) for s in chain}
    # two bands that settle on the same disc after re-centring are one disc
    merged: list[int] = []
    for s in chain:
        if merged and np.linalg.norm(axes[s][0] - axes[merged[-1]][0]) < 0.7 * MIN_SPACING_MM:
            if f[s] > f[merged[-1]]:
                merged[-1] = s
            continue
        merged.append(s)
    chain = merged
    found = []
    for s in reversed(chain[-N_NAMED:]):  # caudal first
        (ci, cj), (ti, tj), _ = axes[s]
        _, _, height = _refine_band(grads, np.array([ci, cj]), np.array([ti, tj]))
        centre = cv.to_patient(ci, cj)
        nvec = cv.to_patient(ci + ti, cj + tj) - centre
        found.append((centre, nvec / max(float(np.linalg.norm(nvec)), 1e-9), height))
    normals = _smooth_normals([nv for _, nv, _ in found])
    discs = []
    for rank, ((centre, _, height), nvec) in enumerate(zip(found, normals)):
        discs.append(
            DiscPlane(
                level=level_name(rank),
                centre_mm=tuple(float(v) for v in centre),  # type: ignore[arg-type]
                normal=tuple(float(v) for v in nvec),  # type: ignore[arg-type]
                confidence=conf,
                height_mm=height,
                frame_of_reference_uid=for_uid,
            )
        )
    return tuple(discs)
