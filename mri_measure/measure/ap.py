"""Canal AP diameter (a cross-check value): the canal's extent along the image
column direction through its centroid."""

from __future__ import annotations

import numpy as np

from .fields import _crossing, _profile_extent, _runs


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
