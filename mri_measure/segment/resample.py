"""Resampling between a slice's own grid and the network's working grids
(numpy/scipy only).

A working grid is a square of ``size`` pixels at ``spacing`` mm/px whose
centre sits at a (row, col) position of the source array. Source → grid
uses :func:`scipy.ndimage.affine_transform` (linear) after a Gaussian
anti-aliasing pre-filter when the grid is coarser than the source; grid →
source does the same the other way, per channel, so probabilities stay
partial-volume-like on the source pixels and keep summing to 1.

>>> img = np.zeros((100, 100), np.float32); img[40:60, 40:60] = 1
>>> g = Grid(centre_rc=(49.5, 49.5), spacing_mm=0.25, size=(80, 80))
>>> crop = to_grid(img, (0.5, 0.5), g)
>>> round(float(crop.sum()) * 0.25**2, 1)   # area (mm²) of the 10 mm square
100.0
>>> back = from_grid(np.stack([1 - crop, crop]), g, (0.5, 0.5), (100, 100), fill=(1.0, 0.0))
>>> round(float(back[1].sum()) * 0.5**2, 1), bool(np.allclose(back.sum(0), 1))
(100.0, True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Grid:
    centre_rc: tuple[float, float]  # source (row, col) index at the grid centre
    spacing_mm: float
    size: tuple[int, int]

    def to_source(self, src_spacing: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
        """(matrix diagonal, offset): grid index → source index."""
        scale = np.array([self.spacing_mm / src_spacing[0], self.spacing_mm / src_spacing[1]])
        half = (np.asarray(self.size, dtype=float) - 1) / 2
        offset = np.asarray(self.centre_rc, dtype=float) - scale * half
        return scale, offset

    def source_bbox(
        self, src_spacing: tuple[float, float], src_shape: tuple[int, int], margin: int = 2
    ) -> tuple[slice, slice]:
        """Source-array slices covering the grid (clipped to the array)."""
        scale, offset = self.to_source(src_spacing)
        lo = np.floor(offset).astype(int) - margin
        hi = np.ceil(offset + scale * (np.asarray(self.size) - 1)).astype(int) + margin + 1
        lo = np.clip(lo, 0, src_shape)
        hi = np.clip(hi, 0, src_shape)
        return slice(int(lo[0]), int(hi[0])), slice(int(lo[1]), int(hi[1]))


def _antialias_sigma(factor: np.ndarray) -> np.ndarray:
    return np.where(factor > 1.0, (factor - 1.0) / 2.0, 0.0)


def to_grid(
    image: np.ndarray, src_spacing: tuple[float, float], grid: Grid, *, cval: float = 0.0
) -> np.ndarray:
    """Resample a 2-D source array onto ``grid`` (linear, anti-aliased)."""
    scale, offset = grid.to_source(src_spacing)
    sigma = _antialias_sigma(scale)
    src = np.asarray(image, dtype=np.float32)
    if np.any(sigma > 0):
        src = ndimage.gaussian_filter(src, sigma, mode="nearest")
    return ndimage.affine_transform(
        src, scale, offset=offset, output_shape=tuple(grid.size), order=1,
        mode="constant", cval=cval, prefilter=False,
    ).astype(np.float32, copy=False)


def from_grid(
    channels: np.ndarray,
    grid: Grid,
    src_spacing: tuple[float, float],
    src_shape: tuple[int, int],
    *,
    fill: tuple[float, ...],
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Resample (C, h, w) grid channels back to the source array shape (C, H, W).

    Source pixels outside the grid get ``fill[c]`` (e.g. background probability 1).
    Only the source bounding box of the grid is computed; with ``out`` given
    (already holding ``fill`` everywhere) only that box is written.
    """
    channels = np.asarray(channels, dtype=np.float32)
    n_c = channels.shape[0]
    if out is None:
        out = np.empty((n_c, *src_shape), dtype=np.float32)
        for c in range(n_c):
            out[c] = fill[c]
    rs, cs = grid.source_bbox(src_spacing, src_shape)
    if rs.stop <= rs.start or cs.stop <= cs.start:
        return out
    scale, offset = grid.to_source(src_spacing)
    inv = 1.0 / scale  # source index → grid index
    inv_offset = -offset * inv + inv * np.array([rs.start, cs.start])
    sigma = _antialias_sigma(inv)
    shape = (rs.stop - rs.start, cs.stop - cs.start)
    for c in range(n_c):
        ch = channels[c]
        if np.any(sigma > 0):
            ch = ndimage.gaussian_filter(ch, sigma, mode="nearest")
        out[c, rs, cs] = ndimage.affine_transform(
            ch, inv, offset=inv_offset, output_shape=shape, order=1,
            mode="constant", cval=fill[c], prefilter=False,
        )
    return out
