"""Canal (dural-sac) area in mm²: probability mass, or the smoothed hard
mask's 0.5 iso-contour with the smoothing shrinkage added back."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage import measure as skmeasure


HARD_SMOOTHING_PX = 0.7
"""Gaussian σ (pixels) applied to a hard mask before contouring the canal."""


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
