"""Canonical in-plane orientation of axial slices (numpy only).

The network always sees slices in the standard axial display: increasing
column index ≈ +x (patient left, DICOM LPS) and increasing row index ≈ +y
(posterior). :func:`canonical_transform` finds the 90° rotation / flips
(a transpose plus optional row and column flips) that bring a slice there
from its ImageOrientationPatient; residual in-plane rotation (< 45°) and
tilt are left to the network, which is trained on such slices.

>>> t = canonical_transform((-1, 0, 0, 0, 1, 0))   # rows run to patient right
>>> t
CanonicalTransform(transpose=False, flip_rows=False, flip_cols=True)
>>> a = np.arange(6).reshape(2, 3)
>>> t.apply(a).tolist(), bool((t.undo(t.apply(a)) == a).all())
([[2, 1, 0], [5, 4, 3]], True)
>>> t.spacing((0.5, 0.7))
(0.5, 0.7)
>>> canonical_transform((0, 1, 0, 1, 0, 0)).spacing((0.5, 0.7))
(0.7, 0.5)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class CanonicalTransform:
    """Array operations on the last two axes: transpose first, then flips."""

    transpose: bool
    flip_rows: bool
    flip_cols: bool

    def apply(self, arr: np.ndarray) -> np.ndarray:
        out = np.swapaxes(arr, -1, -2) if self.transpose else arr
        if self.flip_rows:
            out = np.flip(out, axis=-2)
        if self.flip_cols:
            out = np.flip(out, axis=-1)
        return np.ascontiguousarray(out)

    def undo(self, arr: np.ndarray) -> np.ndarray:
        out = arr
        if self.flip_cols:
            out = np.flip(out, axis=-1)
        if self.flip_rows:
            out = np.flip(out, axis=-2)
        if self.transpose:
            out = np.swapaxes(out, -1, -2)
        return np.ascontiguousarray(out)

    def spacing(self, spacing_mm: tuple[float, float]) -> tuple[float, float]:
        """(row, col) spacing of the canonical array."""
        r, c = float(spacing_mm[0]), float(spacing_mm[1])
        return (c, r) if self.transpose else (r, c)

    def point(self, rc: tuple[float, float], shape: tuple[int, int]) -> tuple[float, float]:
        """A (row, col) index of the source array in canonical-array coordinates."""
        r, c = float(rc[0]), float(rc[1])
        h, w = shape
        if self.transpose:
            r, c, h, w = c, r, w, h
        if self.flip_rows:
            r = h - 1 - r
        if self.flip_cols:
            c = w - 1 - c
        return r, c


def canonical_transform(orientation) -> CanonicalTransform:
    """Transform bringing a slice with this IOP to the standard axial display.

    Raises :class:`InputError` when the slice is not roughly axial (its
    in-plane axes do not span patient x and y).
    """
    iop = np.asarray(orientation, dtype=float).reshape(-1)
    if iop.shape != (6,) or not np.all(np.isfinite(iop)):
        raise InputError("ImageOrientationPatient must be 6 finite numbers")
    a, b = iop[:3], iop[3:]  # a: along a row (column index), b: along a column (row index)
    straight = abs(a[0]) + abs(b[1])
    swapped = abs(a[1]) + abs(b[0])
    normal = np.cross(a, b)
    norm = float(np.linalg.norm(normal))
    if norm < 1e-3 or abs(normal[2]) / norm < 0.5:  # tilted more than 60° from axial
        raise InputError(
            "slice is not axial (its orientation does not span patient left-right and "
            "anterior-posterior); the segmenter only takes axial slices"
        )
    if straight >= swapped:
        return CanonicalTransform(False, bool(b[1] < 0), bool(a[0] < 0))
    # transposed: new columns run along b, new rows along a
    return CanonicalTransform(True, bool(a[1] < 0), bool(b[0] < 0))
