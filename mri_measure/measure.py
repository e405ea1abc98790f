"""Per-slice measurements in mm / mm²: canal area, LF thickness, canal AP diameter.

:func:`measure_slice` is the public entry point (a DESIGN.md contract). It is
called for every axial slice and again live while a reader edits outlines in
napari, so every structure is cropped to its bounding box before any
sub-pixel work.

Label values (DESIGN.md): 0 background, 1 dural sac / central canal,
2 ligamentum flavum patient-left, 3 ligamentum flavum patient-right; any
other value is ignored. Left/right come purely from the label value.

Methods (all sub-pixel, spacing (row, col) may be anisotropic):

* **Structure selection.** Each structure is the *largest* 8-connected
  component of its label; smaller islands of the same label (segmentation
  specks) are ignored. Presence is decided by ``labels`` alone.
* **Canal area.** With ``probabilities``: the canal probability summed over
  the canal component dilated by :data:`NEIGHBOURHOOD_PX` pixels (so
  partial-volume pixels just outside the hard mask count, but far-away stray
  mass does not), times the pixel area. With hard labels only: the mask is
  smoothed with a Gaussian of :data:`HARD_SMOOTHING_PX` pixels, its 0.5
  iso-contour is traced with marching squares and the polygon area is taken in
  mm; the smoothing shrinks a closed contour by ``π σ²`` (total curvature 2π
  times the σ²κ/2 iso-line shift), which is added back.
* **LF thickness.** Maximum thickness perpendicular to the ligament's own long
  axis = twice the largest inscribed radius, found on a sub-pixel
  representation: the component's field (its probability, or for hard labels
  the mask smoothed by :data:`LF_ALONG_SMOOTHING_PX` pixels *along* the
  ligament only, using the structure-tensor direction, so the pixel staircase
  averages out while the across profile is kept) is resampled by linear
  interpolation onto an isotropic grid of ``h`` mm (1/5 pixel) and
  thresholded at 0.5; the Euclidean distance transform (sampling ``h``)
  gives candidate centres on the medial axis, which are refined against the
  exact marching-squares 0.5 contour (nearest-point distances, compass
  search), so no EDT half-sample bias remains. The thickness is then the
  integral of the field along the line through the inscribed disc's centre
  towards its nearest edge point (i.e. across the ligament): for
  partial-volume coverage this integral is exact, whereas the 0.5 crossing of
  interpolated coverage is off by up to 1/8 pixel per edge. With hard labels
  the integral is averaged over 7 lines spread along the ligament over
  ± :data:`LF_HARD_WINDOW_RADII` inscribed radii (a stretch 1.5 × as long as
  the ligament is thick), because the maximum over a rasterised staircase
  edge is otherwise biased upward (+0.1 mm on the phantom with ± 1 radius,
  +0.06 mm with ± 1.5); the price is that a sharply tapered ligament's peak
  is slightly averaged. ``lf_*_line_px`` is that line, of that length.
* **Canal AP diameter.** Extent of the canal along the *image column direction*
  (top → bottom of the image, anterior → posterior on a standard axial slice;
  not the canal's minor axis) through the canal centroid: the run of the
  linearly interpolated field above 0.5 containing the centroid, measured as
  the integral of the field along that line. A cross-check value, not a
  criterion.
* **Uncertainty** (one standard uncertainty, same unit): a boundary positional
  uncertainty of :data:`POSITION_UNCERTAINTY_PX` pixels (smaller with
  probabilities than with hard labels); area: perimeter × positional
  uncertainty (a systematic in/out shift of the whole outline); lengths:
  √2 × positional uncertainty (two independent edges), in the pixel size
  along the measuring line.
* **Probabilities that disagree with labels.** When a structure present in
  ``labels`` has no probability above 0.5 near it (e.g. an outline drawn by
  hand), that structure is measured from the labels, with the hard-label
  uncertainty. After manual edits, pass the edited labels and
  ``probabilities=None``.

>>> import numpy as np
>>> labels = np.zeros((30, 30), dtype=np.uint8)
>>> labels[5:25, 5:25] = 1            # 20 x 20 px canal at 0.5 mm: 100 mm²
>>> labels[26:29, 5:15] = 2           # 3 px = 1.5 mm thick LF, patient-left
>>> m = measure_slice(labels, (0.5, 0.5))
>>> round(m.canal_area_mm2), round(m.canal_ap_mm, 1), round(m.lf_thickness_left_mm, 1)
(100, 10.0, 1.5)
>>> m.lf_thickness_right_mm is None
True
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage import measure as skmeasure

from .errors import OptionError
from .types import SliceMeasurement
from .vocabulary import Label

CANAL, LF_LEFT, LF_RIGHT = Label.CANAL, Label.LF_LEFT, Label.LF_RIGHT
NEIGHBOURHOOD_PX = 2
"""Dilation (pixels) of a component's mask within which probability mass counts."""
HARD_SMOOTHING_PX = 0.7
"""Gaussian σ (pixels) applied to a hard mask before contouring the canal."""
POSITION_UNCERTAINTY_PX = {"probabilities": 0.15, "labels": 0.3}
"""One standard uncertainty of an edge's position, in pixels."""
FINE_STEPS_PER_PIXEL = 5
"""Fine-grid steps per (smallest) pixel for the LF distance transform."""
FINE_STEP_MIN_MM = 0.04
LF_ALONG_SMOOTHING_PX = 1.5
"""Gaussian σ (pixels) of the smoothing along the ligament applied to hard LF masks."""
LF_HARD_WINDOW_RADII = 1.5
"""Hard labels: LF width averaged along the ligament over ± this many inscribed radii."""
_TENSOR_SIGMA_PX = 1.5
_PAD_PX = 3
_EIGHT = np.ones((3, 3), dtype=bool)

Line = tuple[tuple[float, float], tuple[float, float]]


# --------------------------------------------------------------------------- API


def measure_slice(
    labels: np.ndarray,
    spacing_mm: Sequence[float],
    *,
    probabilities: np.ndarray | None = None,
) -> SliceMeasurement:
    """Measure canal area, LF thickness per side and canal AP diameter on one slice.

    ``labels``: 2-D integer array (0 background, 1 dural sac, 2 LF patient-left,
    3 LF patient-right; other values ignored). ``spacing_mm``: (row, col)
    pixel spacing from DICOM PixelSpacing. ``probabilities``: optional float
    array (k >= 4, rows, cols), class channel first, summing to 1 per pixel
    (soft segmentation or partial-volume coverage); channels 0–3 are the
    label values above. Values are ``None`` where a structure is absent.

    >>> import numpy as np
    >>> measure_slice(np.zeros((4, 4), int), (0.7, 0.7)).canal_area_mm2 is None
    True
    >>> measure_slice(np.zeros((4, 4), int), (0.7, -1))
    Traceback (most recent call last):
    ...
    mri_measure.errors.OptionError: spacing_mm must be two finite positive numbers (row, col) in mm from DICOM PixelSpacing, got (0.7, -1)
    """
    labels, spacing, probs = _validate(labels, spacing_mm, probabilities)
    out: dict[str, object] = {}
    canal = _largest_component(labels == CANAL)
    if canal is not None:
        out.update(_measure_canal(canal, probs, spacing, labels.shape))
    for value, side in ((LF_LEFT, "left"), (LF_RIGHT, "right")):
        comp = _largest_component(labels == value)
        if comp is not None:
            out.update(_measure_lf(comp, probs, value, side, spacing, labels.shape))
    return SliceMeasurement(**_to_builtin(out))


def _measure_canal(comp, probs, spacing, shape) -> dict[str, object]:
    field, kind = _structure_field(comp, probs, CANAL, shape)
    area, perimeter_mm = _canal_area_mm2(field, comp.mask, spacing, kind)
    u_pos_mm = POSITION_UNCERTAINTY_PX[kind] * float(np.sqrt(spacing[0] * spacing[1]))
    out: dict[str, object] = {
        "canal_area_mm2": area,
        "canal_area_uncertainty_mm2": perimeter_mm * u_pos_mm,
    }
    ap = _canal_ap(field, spacing)
    if ap is not None:
        ap_mm, start, end = ap
        out["canal_ap_mm"] = ap_mm
        out["canal_ap_uncertainty_mm"] = np.sqrt(2) * POSITION_UNCERTAINTY_PX[kind] * spacing[0]
        out["canal_ap_line_px"] = _shift(start, end, comp.origin)
    return out


def _measure_lf(comp, probs, value, side, spacing, shape) -> dict[str, object]:
    field, kind = _structure_field(comp, probs, value, shape)
    if kind == "labels":
        smooth = _smooth_along_structure(comp.mask)
        if smooth.max() > 0.5:  # else a speck that smoothing would erase
            field = smooth
    thickness, (start, end), along_px = _max_thickness(field, spacing, window=kind == "labels")
    return {
        f"lf_thickness_{side}_mm": thickness,
        f"lf_thickness_{side}_uncertainty_mm": np.sqrt(2) * POSITION_UNCERTAINTY_PX[kind] * along_px,
        f"lf_{side}_line_px": _shift(start, end, comp.origin),
    }


def _shift(start, end, origin) -> Line:
    """Crop pixel coordinates -> image pixel coordinates."""
    return (
        (start[0] + origin[0], start[1] + origin[1]),
        (end[0] + origin[0], end[1] + origin[1]),
    )


# ----------------------------------------------------------------- validation


def _validate(labels, spacing_mm, probabilities):
    arr = np.asarray(labels)
    if arr.ndim != 2 or min(arr.shape, default=0) < 1:
        raise OptionError(
            f"labels must be a 2-D array (rows, cols), got shape {arr.shape}; "
            "pass one slice at a time"
        )
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise OptionError(
            f"labels must be an integer array (0 background, 1 dural sac, 2 LF left, "
            f"3 LF right), got dtype {arr.dtype}; convert with labels.astype(np.uint8)"
        )
    try:
        sp = tuple(float(s) for s in spacing_mm)
    except (TypeError, ValueError):
        sp = ()
    if len(sp) != 2 or not all(np.isfinite(s) and s > 0 for s in sp):
        raise OptionError(
            "spacing_mm must be two finite positive numbers (row, col) in mm "
            f"from DICOM PixelSpacing, got {_short(spacing_mm)}"
        )
    probs = None
    if probabilities is not None:
        probs = np.asarray(probabilities)
        if probs.ndim != 3 or probs.shape[0] < 4 or probs.shape[1:] != arr.shape:
            raise OptionError(
                f"probabilities must have shape (4, {arr.shape[0]}, {arr.shape[1]}) "
                f"(class channel first, same grid as labels), got {probs.shape}"
            )
        if not np.issubdtype(probs.dtype, np.floating):
            probs = probs.astype(np.float32)
        if not np.isfinite(probs).all():
            raise OptionError("probabilities contain NaN or infinite values; pass a finite array")
        total = probs.sum(axis=0)
        if np.abs(total - 1.0).max() > 1e-2 or probs.min() < -1e-3:
            raise OptionError(
                "probabilities must be non-negative and sum to 1 over the class axis "
                "(axis 0) at every pixel; apply softmax over axis 0 first"
            )
    return arr, sp, probs


def _short(value) -> str:
    text = repr(tuple(value)) if isinstance(value, (list, tuple, np.ndarray)) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _to_builtin(values: dict[str, object]) -> dict[str, object]:
    def conv(v):
        if isinstance(v, tuple):
            return tuple(conv(x) for x in v)
        return float(v)

    return {k: conv(v) for k, v in values.items()}


# ------------------------------------------------------------------- helpers


class _Component:
    """Largest connected component: boolean mask cropped with padding, and origin."""

    __slots__ = ("mask", "origin")

    def __init__(self, mask: np.ndarray, origin: tuple[int, int]):
        self.mask = mask
        self.origin = origin


def _largest_component(mask: np.ndarray) -> _Component | None:
    """Largest 8-connected component, cropped to its bounding box plus padding.

    >>> m = np.zeros((8, 8), bool); m[1:3, 1:3] = True; m[5:8, 5:8] = True
    >>> c = _largest_component(m); c.origin, int(c.mask.sum())
    ((2, 2), 9)
    """
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    br, bc = int(rows[0]), int(cols[0])
    sub = mask[br : rows[-1] + 1, bc : cols[-1] + 1]
    lab, n = ndimage.label(sub, structure=_EIGHT)
    if n > 1:
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        keep = int(np.argmax(sizes))
    else:
        keep = 1
    sl = ndimage.find_objects(lab, max_label=keep)[keep - 1]
    r0, r1 = sl[0].start - _PAD_PX, sl[0].stop + _PAD_PX
    c0, c1 = sl[1].start - _PAD_PX, sl[1].stop + _PAD_PX
    crop = np.zeros((r1 - r0, c1 - c0), dtype=bool)
    crop[_PAD_PX:-_PAD_PX, _PAD_PX:-_PAD_PX] = lab[sl] == keep
    r0, c0 = r0 + br, c0 + bc
    return _Component(crop, (r0, c0))


def _structure_field(comp: _Component, probs, channel: int, shape) -> tuple[np.ndarray, str]:
    """Field used for sub-pixel work on the component's crop, and its kind.

    With probabilities: the class probability inside the component's
    neighbourhood (dilated by NEIGHBOURHOOD_PX), 0 elsewhere -- unless it never
    exceeds 0.5 there (labels drawn without support from the probabilities),
    in which case the hard mask is used.
    """
    mask = comp.mask
    if probs is not None:
        r0, c0 = comp.origin
        h, w = mask.shape
        crop = np.zeros((h, w), dtype=np.float64)
        rr0, cc0 = max(r0, 0), max(c0, 0)
        rr1, cc1 = min(r0 + h, shape[0]), min(c0 + w, shape[1])
        crop[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0] = probs[channel, rr0:rr1, cc0:cc1]
        near = ndimage.binary_dilation(mask, structure=_EIGHT, iterations=NEIGHBOURHOOD_PX)
        crop[~near] = 0.0
        if crop.max() > 0.5:
            return crop, "probabilities"
    return mask.astype(np.float64), "labels"


def _polygon_area_px(contour: np.ndarray) -> float:
    """Signed shoelace area in pixel² of a closed (row, col) polygon."""
    r, c = contour[:, 0], contour[:, 1]
    return 0.5 * float(np.dot(c, np.roll(r, -1)) - np.dot(r, np.roll(c, -1)))


def _contours_mm(field: np.ndarray, spacing) -> tuple[float, float]:
    """Area (pixel², islands minus holes) and perimeter (mm) of the 0.5 iso-contour."""
    area_px = 0.0
    perim_mm = 0.0
    for contour in skmeasure.find_contours(field, 0.5, positive_orientation="high"):
        area_px += _polygon_area_px(contour)
        d = np.diff(contour, axis=0) * np.asarray(spacing)
        perim_mm += float(np.hypot(d[:, 0], d[:, 1]).sum())
    return abs(area_px), perim_mm


def _canal_area_mm2(field, mask, spacing, kind) -> tuple[float, float]:
    """Area (mm²) and perimeter (mm) of the canal component."""
    pixel_mm2 = spacing[0] * spacing[1]
    if kind == "probabilities":
        _, perim_mm = _contours_mm(field, spacing)
        return float(field.sum()) * pixel_mm2, perim_mm
    sigma = HARD_SMOOTHING_PX
    smooth = ndimage.gaussian_filter(mask.astype(np.float64), sigma, mode="constant")
    if smooth.max() <= 0.5:  # a speck of a few pixels: smoothing would erase it
        area_px, perim_mm = _contours_mm(mask.astype(np.float64), spacing)
        return float(mask.sum()) * pixel_mm2, perim_mm
    area_px, perim_mm = _contours_mm(smooth, spacing)
    return (area_px + np.pi * sigma**2) * pixel_mm2, perim_mm


def _canal_ap(field: np.ndarray, spacing):
    """AP extent along the image column direction through the field's centroid."""
    total = field.sum()
    if total <= 0:
        return None
    rows = np.arange(field.shape[0], dtype=float)
    cols = np.arange(field.shape[1], dtype=float)
    rc = float((field.sum(axis=1) * rows).sum() / total)
    cc = float((field.sum(axis=0) * cols).sum() / total)
    j = int(np.floor(cc))
    t = cc - j
    j1 = min(j + 1, field.shape[1] - 1)
    profile = (1 - t) * field[:, j] + t * field[:, j1]
    inside = profile > 0.5
    if not inside.any():
        return None
    # run containing the centroid row, else the longest run
    runs = _runs(inside)
    i = int(round(rc))
    run = next((r for r in runs if r[0] <= i < r[1]), max(runs, key=lambda r: r[1] - r[0]))
    a, b = run  # inside[a:b] True
    top = _crossing(profile, a - 1, a) if a > 0 else float(a) - 0.5
    bot = _crossing(profile, b - 1, b) if b < len(profile) else float(b) - 0.5
    # integrated extent (exact for partial-volume coverage), centred on the run
    sr, sc = spacing
    centre = np.array([0.5 * (top + bot) * sr, cc * sc])
    lo, hi = _profile_extent(
        field, spacing, centre, np.array([1.0, 0.0]), 0.5 * (bot - top) * sr + 1.5 * sr, sr / 5
    )
    if lo is not None and abs((hi - lo) - (bot - top) * sr) <= sr:
        top, bot = (centre[0] + lo) / sr, (centre[0] + hi) / sr
    return (bot - top) * sr, (top, cc), (bot, cc)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    d = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    starts = np.flatnonzero(d == 1)
    stops = np.flatnonzero(d == -1)
    return list(zip(starts.tolist(), stops.tolist()))


def _crossing(profile: np.ndarray, i: int, j: int) -> float:
    """Fractional index where the profile crosses 0.5 between samples i and j."""
    a, b = float(profile[i]), float(profile[j])
    if a == b:
        return 0.5 * (i + j)
    return i + (0.5 - a) / (b - a) * (j - i)


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


def _profile_extent(field, spacing, centre_mm, u, reach_mm, step_mm):
    """Integrated width of the field along the line centre + t·u (|t| <= reach).

    For partial-volume coverage of a straight edge the integral of the profile
    is exact where a 0.5 crossing of interpolated samples is not (coverage is
    piecewise linear only within half a pixel of the edge). Returns the
    interval (t0, t1) of that width centred on the profile's centre of mass,
    or (None, None) when the profile does not look like one crossing.
    """
    t = np.arange(-reach_mm, reach_mm + 0.5 * step_mm, step_mm)
    pts = centre_mm[:, None] + u[:, None] * t[None]
    coords = pts / np.asarray(spacing, dtype=float)[:, None]
    v = ndimage.map_coordinates(field, coords, order=1, mode="constant", cval=0.0)
    i0 = int(np.argmin(np.abs(t)))
    if v[i0] <= 0.5:
        return None, None
    low = v < 0.01
    left = np.flatnonzero(low[:i0])
    right = np.flatnonzero(low[i0:])
    a = left[-1] + 1 if len(left) else 0
    b = i0 + right[0] if len(right) else len(v)
    w = v[a:b]
    width = float(w.sum()) * step_mm
    if width <= 0:
        return None, None
    mid = float((w * t[a:b]).sum() / w.sum())
    return mid - 0.5 * width, mid + 0.5 * width
