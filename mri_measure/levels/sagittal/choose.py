"""Stages 4 and 5 — size normalisation, then the discs down to the sacrum.

Candidates are the profile's peaks at least half a spacing apart; going down
the column the count ends where the column ends at the sacrum (no disc-like
band follows the last disc), with the safeguards described in :func:`_choose`.
When the column's spacing differs from a nominal adult one the choice runs on
a resampled slice (:func:`_choose_column_normalised`), so every length it
uses is relative to the patient's own vertebrae.
"""

from __future__ import annotations

import numpy as np

from ...types import SliceInfo
from .band import _band_length, _band_mass, _disc_axes, _gradients, _slope_deg
from .canal import _analyse_slice, _Straight
from .canonical import _normalise
from .constants import (
    BELOW_FLOOR,
    EDGE_MARGIN_MM,
    ENDS_LIKE,
    ENDS_WINDOW,
    FAINT,
    FAINT_GAP,
    FILL,
    FILL_FLOOR,
    FILL_MAX,
    FILL_MIN,
    GAP_STOP,
    GRID_MM,
    MAX_RESCALE,
    MIN_SPACING_MM,
    NOMINAL_PERIOD_MM,
    ORDINARY_LIKE,
    RESCALE_TOL,
    REVERSAL_DEG,
    SACRAL_SLOPE_STOP_DEG,
    SNAP_MM,
    SPLIT_SHORT,
    WEAK_LOW,
)
from .profile import _disc_profile, _peaks, _period


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
