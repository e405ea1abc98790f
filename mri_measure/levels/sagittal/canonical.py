"""Stage 1 of the classical disc finder — the canonical view.

Each sagittal slice is resampled to a grid of ``GRID_MM`` (1 mm unless the
column is rescaled) whose rows run head → feet (−z) and columns anterior →
posterior (+y), using the slice's DICOM geometry (pixel spacing and
orientation from the headers, never assumed). The learned detector reads the
same view (at its own grid).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ...types import SliceInfo
from .constants import GRID_MM


@dataclass(frozen=True)
class CanonicalView:
    """A sagittal slice resampled to ``GRID_MM`` with rows → −z and columns → +y.

    ``image[i, j]`` is at patient point ``origin + i*down + j*post`` projected
    back into the slice plane (:meth:`to_patient`).
    """

    image: np.ndarray  # (H, W) float32, NaN outside the source slice
    slice_info: SliceInfo
    z_top: float
    y_ant: float
    grid_mm: float = GRID_MM  # millimetres per canonical pixel

    def to_patient(self, i: float, j: float) -> np.ndarray:
        """Patient coordinate (mm) of canonical pixel (i, j), in the slice plane."""
        g = self.grid_mm
        r, c = _yz_to_rc(self.slice_info, self.y_ant + j * g, self.z_top - i * g)
        return self.slice_info.pixel_to_patient(r, c)


def _yz_to_rc(sl: SliceInfo, y, z):
    """Pixel (row, col) of the in-plane point with patient (y, z) (x from the plane)."""
    rd = np.asarray(sl.orientation[:3], dtype=float) * sl.spacing_mm[1]
    cd = np.asarray(sl.orientation[3:6], dtype=float) * sl.spacing_mm[0]
    m = np.array([[rd[1], cd[1]], [rd[2], cd[2]]])  # [dy/dcol dy/drow; dz/dcol dz/drow]
    inv = np.linalg.inv(m)
    dy = np.asarray(y, dtype=float) - sl.position_mm[1]
    dz = np.asarray(z, dtype=float) - sl.position_mm[2]
    col = inv[0, 0] * dy + inv[0, 1] * dz
    row = inv[1, 0] * dy + inv[1, 1] * dz
    return row, col


def canonical_view(image: np.ndarray, sl: SliceInfo, grid_mm: float = GRID_MM) -> CanonicalView:
    """Resample one sagittal slice to the canonical head-down/anterior-left grid
    (``grid_mm`` per pixel, 1 mm unless the column is rescaled, see :func:`find_discs`)."""
    corners = np.array(
        [sl.pixel_to_patient(r, c) for r in (0, sl.rows - 1) for c in (0, sl.columns - 1)]
    )
    y0, y1 = corners[:, 1].min(), corners[:, 1].max()
    z0, z1 = corners[:, 2].min(), corners[:, 2].max()
    h = int(np.floor((z1 - z0) / grid_mm)) + 1
    w = int(np.floor((y1 - y0) / grid_mm)) + 1
    ii, jj = np.mgrid[0:h, 0:w].astype(float)
    r, c = _yz_to_rc(sl, y0 + jj * grid_mm, z1 - ii * grid_mm)
    img = np.asarray(image, dtype=np.float32)
    # smooth before downsampling when the source pixels are finer than the grid
    sig = [max(0.0, 0.4 * grid_mm / s - 0.3) for s in sl.spacing_mm]
    if max(sig) > 0:
        img = ndi.gaussian_filter(img, sig)
    out = ndi.map_coordinates(img, [r, c], order=1, mode="constant", cval=np.nan)
    return CanonicalView(out.astype(np.float32), sl, float(z1), float(y0), float(grid_mm))


def _normalise(img: np.ndarray) -> np.ndarray:
    """NaN → 0 and robust scaling to [0, ~1] (99th percentile of the valid pixels)."""
    valid = np.isfinite(img)
    out = np.where(valid, img, 0.0).astype(np.float32)
    if valid.any():
        lo, hi = np.percentile(out[valid], [1, 99])
        out = np.clip((out - lo) / max(hi - lo, 1e-6), 0.0, 1.5)
    return out
