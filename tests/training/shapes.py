"""Hand-made axial test slices: an elliptical dural sac and two oblique LF bands,
with exact partial-volume coverage, in any spacing and orientation.

Used where a test needs a known shape independent of ``mri_measure.synth``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mri_measure.segment.orientation import canonical_transform


@dataclass
class ShapeSample:
    image: np.ndarray
    labels: np.ndarray
    coverage: np.ndarray
    spacing_mm: tuple[float, float]
    orientation: tuple[float, ...]


def shape_sample(rng: np.random.Generator, *, spacing_mm: float = 0.6, size_px: int = 160,
                 orientation=(1, 0, 0, 0, 1, 0), lf_left_mm: float = 3.0, lf_right_mm: float = 4.0,
                 noise: float = 0.03) -> ShapeSample:
    """A slice in canonical display (then re-oriented to ``orientation``)."""
    sup = 4
    n = size_px * sup
    s = spacing_mm / sup
    idx = (np.arange(n) + 0.5) * s - size_px * spacing_mm / 2  # mm from the centre
    y, x = np.meshgrid(idx, idx, indexing="ij")  # y: +posterior (rows), x: +patient-left (cols)
    cy, cx = rng.uniform(-8, 8), rng.uniform(-8, 8)
    yy, xx = y - cy, x - cx
    lab = np.zeros((n, n), np.uint8)
    lab[(xx / 9.0) ** 2 + (yy / 6.5) ** 2 <= 1] = 1
    for side, thick in ((+1, lf_left_mm), (-1, lf_right_mm)):
        ang = np.deg2rad(35) * side
        # band centre posterolateral of the sac; long axis tilted towards the midline
        u = (xx - side * 6.0) * np.cos(ang) - (yy - 9.0) * np.sin(ang)
        v = (xx - side * 6.0) * np.sin(ang) + (yy - 9.0) * np.cos(ang)
        lab[(np.abs(u) <= 6.0) & (np.abs(v) <= thick / 2) & (lab == 0)] = 2 if side > 0 else 3
    cov = np.stack([(lab == k).reshape(size_px, sup, size_px, sup).mean((1, 3)) for k in range(4)])
    cov = cov.astype(np.float32)
    tissue = 0.35 + 0.1 * np.exp(-((x / 60) ** 2 + (y / 60) ** 2))
    hi = np.where(lab == 1, 1.0, np.where(lab >= 2, 0.08, tissue))
    img = hi.reshape(size_px, sup, size_px, sup).mean((1, 3)).astype(np.float32)
    img += rng.normal(0, noise, img.shape).astype(np.float32)
    labels = np.argmax(cov, axis=0).astype(np.uint8)
    t = canonical_transform(orientation)
    # the slice above is canonical; express it in the requested orientation
    return ShapeSample(t.undo(img * 1000), t.undo(labels), t.undo(cov), (spacing_mm, spacing_mm),
                       tuple(float(v) for v in orientation))
