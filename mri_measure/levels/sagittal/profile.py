"""Stage 3 — the disc-ness profile along the column, its peaks and its period.

The vertebral body band just anterior to the canal is summarised row by row:
edge energy across the band (endplates) + how far the band differs from the
bodies around it (bright nucleus or dark degenerate disc); only the part of
the band inside the image counts. Bodies and discs alternate, so the
profile's autocorrelation gives the disc spacing (:func:`_period`), which the
size normalisation (stage 4, :mod:`.choose`) uses.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .canal import _Straight
from .constants import BAND_INSIDE, DIP, NOMINAL_PERIOD_MM


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
