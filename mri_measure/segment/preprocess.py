"""Preprocessing shared by training and inference (numpy only): the one home
of input intensity normalisation (axial: :func:`normalise`; sagittal disc
detector: :func:`normalise_sagittal`) and the two axial working grids. The
trainers (:mod:`mri_measure.training`) and the runtime
(:mod:`mri_measure.segment.inference`, :mod:`mri_measure.segment.disc_detector`)
both call these, so the networks see the same inputs in training and use.

- Localiser grid: the whole canonicalised slice at ``localiser.spacing_mm``
  (coarse, ~2 mm/px), centred on the slice centre, sides rounded up to a
  multiple of ``localiser.multiple`` pixels.
- Segmenter grid: a fixed ``segmenter.size`` square at ``segmenter.spacing_mm``
  (fine, 0.45 mm/px; 96 px = 43.2 mm) centred ``posterior_offset_mm`` behind the
  canal centre found by the localiser.

>>> g = localiser_grid((256, 200), (0.8, 0.8), PREPROCESSING)
>>> g.size, g.spacing_mm, g.centre_rc
((104, 80), 2.0, (127.5, 99.5))
>>> x = normalise(np.linspace(0, 100, 1001, dtype=np.float32))
>>> round(float(np.median(x)), 2)
0.5
>>> v = normalise_sagittal(np.r_[np.nan, np.linspace(0, 100, 1000)].astype(np.float32))
>>> v.dtype, float(v[0]), round(float(np.percentile(v, 99.5)), 2), float(v.max()) <= 1.2
(dtype('float32'), 0.0, 1.0, True)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .resample import Grid

PREPROCESSING: dict[str, Any] = {
    "canonical_orientation": "rows along +x (patient left), columns along +y (posterior), "
    "by 90-degree rotations/flips from ImageOrientationPatient",
    "normalisation": "linear map of the 1st..99th intensity percentile to 0..1 "
    "(localiser: whole slice; segmenter: the crop), clipped to [-1, 3]",
    "localiser": {"spacing_mm": 2.0, "multiple": 8, "min_size": 64, "classes": ["other", "dural_sac"]},
    "segmenter": {"spacing_mm": 0.45, "size": 96, "posterior_offset_mm": 4.0, "classes": [0, 1, 2, 3]},
}


def normalise(image: np.ndarray, region: np.ndarray | None = None) -> np.ndarray:
    """Map the 1st..99th percentile of ``image`` (or of ``image[region]``) to 0..1."""
    values = image[region] if region is not None else image
    values = values[np.isfinite(values)]
    if values.size == 0:
        return np.zeros_like(image, dtype=np.float32)
    lo, hi = np.percentile(values, [1.0, 99.0])
    scale = hi - lo
    if not scale > 1e-6 * max(1.0, abs(hi)):
        scale = 1.0
    out = (np.asarray(image, dtype=np.float32) - np.float32(lo)) / np.float32(scale)
    return np.clip(np.nan_to_num(out), -1.0, 3.0).astype(np.float32, copy=False)


def normalise_sagittal(img: np.ndarray) -> np.ndarray:
    """The disc detector's input scaling: NaN → 0, divided by the 99.5th percentile,
    clipped to [0, 1.2] (the same for training views and real slices)."""
    a = np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0)
    hi = float(np.percentile(a, 99.5)) if a.size else 1.0
    return np.clip(a / max(hi, 1e-6), 0.0, 1.2).astype(np.float32)


def localiser_grid(shape: tuple[int, int], spacing: tuple[float, float], prep: dict[str, Any]) -> Grid:
    loc = prep["localiser"]
    s, m = float(loc["spacing_mm"]), int(loc["multiple"])
    size = []
    for n, sp in zip(shape, spacing):
        k = math.ceil(n * sp / s)
        k = max(int(loc["min_size"]), int(math.ceil(k / m) * m))
        size.append(k)
    centre = ((shape[0] - 1) / 2, (shape[1] - 1) / 2)
    return Grid(centre_rc=centre, spacing_mm=s, size=(size[0], size[1]))


def segmenter_grid(canal_rc: tuple[float, float], spacing: tuple[float, float], prep: dict[str, Any]) -> Grid:
    """The fine crop: centred ``posterior_offset_mm`` behind the canal centre
    (the LF lies posterior of the sac), on the canonical array."""
    seg = prep["segmenter"]
    n = int(seg["size"])
    dr = float(seg.get("posterior_offset_mm", 0.0)) / float(spacing[0])
    return Grid(centre_rc=(float(canal_rc[0]) + dr, float(canal_rc[1])),
                spacing_mm=float(seg["spacing_mm"]), size=(n, n))


def grid_to_source_point(grid: Grid, rc: tuple[float, float], src_spacing) -> tuple[float, float]:
    scale, offset = grid.to_source(src_spacing)
    return (float(offset[0] + scale[0] * rc[0]), float(offset[1] + scale[1] * rc[1]))
