"""What every measurement starts from: the structures (largest component of a
label, cropped) and their field (probability or hard mask), and 1-D profile helpers."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from ..vocabulary import Label


CANAL, LF_LEFT, LF_RIGHT = Label.CANAL, Label.LF_LEFT, Label.LF_RIGHT


NEIGHBOURHOOD_PX = 2
"""Dilation (pixels) of a component's mask within which probability mass counts."""


POSITION_UNCERTAINTY_PX = {"probabilities": 0.15, "labels": 0.3}
"""One standard uncertainty of an edge's position, in pixels."""


_PAD_PX = 3


_EIGHT = np.ones((3, 3), dtype=bool)


Line = tuple[tuple[float, float], tuple[float, float]]


def _shift(start, end, origin) -> Line:
    """Crop pixel coordinates -> image pixel coordinates."""
    return (
        (start[0] + origin[0], start[1] + origin[1]),
        (end[0] + origin[0], end[1] + origin[1]),
    )


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
