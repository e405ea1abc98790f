"""Stage 2 — the canal and the straightened column.

The bright CSF tube (darker on both sides, tissue beyond) is tracked top to
bottom by dynamic programming; the image is then resampled along the smoothed
canal path (row = arc length, column = distance anterior of the canal). The
mid-sagittal slice is the middle of the run of near-central slices that show
the canal well.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ...types import SliceInfo
from .canonical import canonical_view, _normalise
from .constants import BAND_INSIDE, GRID_MM, MID_RADIUS_MM, PATH_SMOOTH_MM


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
    steps = np.arange(-max_step, max_step + 1)
    cost = penalty * np.abs(steps).astype(resp.dtype)
    cols = np.arange(w)
    src = np.clip(cols[:, None] + steps[None, :], 0, w - 1)  # edge replicated, as _shift
    for i in range(1, h):
        # cands[j, m] = score[j + steps[m]] - cost[m], steps in order (ties: the first, as before)
        cands = score[src] - cost
        k = np.argmax(cands, axis=1)
        back[i] = src[cols, k]
        score = resp[i] + cands[cols, k]
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
    """Analysis of the mid-sagittal slice: ``(k, (view, straightened, score))``
    (:func:`_canal_run`)."""
    run = _canal_run(pixels, slices)
    return None if run is None else (run[0], run[1][run[0]])


def _canal_run(pixels: np.ndarray, slices) -> tuple | None:
    """The mid-sagittal slice, the analyses of the candidate slices and the
    run of slices through the canal, nearest the middle first:
    ``(k_mid, {k: analysis}, [k_mid, …])``.

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
    run = sorted(order[lo : hi + 1], key=lambda q: (abs(pos[q] - pos[k]), pos[q]))
    return k, got, run
