"""The public entry point :func:`measure_slice` (a docs contract) and the
per-structure orchestration."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..types import SliceMeasurement
from .ap import _canal_ap
from .area import _canal_area_mm2
from .fields import CANAL, LF_LEFT, LF_RIGHT, POSITION_UNCERTAINTY_PX, _largest_component, _shift, _structure_field
from .thickness import _max_thickness, _smooth_along_structure
from .validate import _to_builtin, _validate


def measure_slice(
    labels: np.ndarray,
    spacing_mm: Sequence[float],
    *,
    probabilities: np.ndarray | None = None,
) -> SliceMeasurement:
    """Measure canal area, LF thickness per side and canal AP diameter on one slice.

    ``labels``: 2-D integer array (0 background, 1 dural sac, 2 LF patient-left,
    3 LF patient-right; other values ignored). ``spacing_mm``: (row, col)
    pixel spacing from DICOM PixelSpacing. ``probabilities``: optional float
    array (k >= 4, rows, cols), class channel first, summing to 1 per pixel
    (soft segmentation or partial-volume coverage); channels 0–3 are the
    label values above. Values are ``None`` where a structure is absent.

    >>> import numpy as np
    >>> measure_slice(np.zeros((4, 4), int), (0.7, 0.7)).canal_area_mm2 is None
    True
    >>> measure_slice(np.zeros((4, 4), int), (0.7, -1))
    Traceback (most recent call last):
    ...
    mri_measure.errors.OptionError: spacing_mm must be two finite positive numbers (row, col) in mm from DICOM PixelSpacing, got (0.7, -1)
    """
    labels, spacing, probs = _validate(labels, spacing_mm, probabilities)
    out: dict[str, object] = {}
    canal = _largest_component(labels == CANAL)
    if canal is not None:
        out.update(_measure_canal(canal, probs, spacing, labels.shape))
    for value, side in ((LF_LEFT, "left"), (LF_RIGHT, "right")):
        comp = _largest_component(labels == value)
        if comp is not None:
            out.update(_measure_lf(comp, probs, value, side, spacing, labels.shape))
    return SliceMeasurement(**_to_builtin(out))


def _measure_canal(comp, probs, spacing, shape) -> dict[str, object]:
    field, kind = _structure_field(comp, probs, CANAL, shape)
    area, perimeter_mm = _canal_area_mm2(field, comp.mask, spacing, kind)
    u_pos_mm = POSITION_UNCERTAINTY_PX[kind] * float(np.sqrt(spacing[0] * spacing[1]))
    out: dict[str, object] = {
        "canal_area_mm2": area,
        "canal_area_uncertainty_mm2": perimeter_mm * u_pos_mm,
    }
    ap = _canal_ap(field, spacing)
    if ap is not None:
        ap_mm, start, end = ap
        out["canal_ap_mm"] = ap_mm
        out["canal_ap_uncertainty_mm"] = np.sqrt(2) * POSITION_UNCERTAINTY_PX[kind] * spacing[0]
        out["canal_ap_line_px"] = _shift(start, end, comp.origin)
    return out


def _measure_lf(comp, probs, value, side, spacing, shape) -> dict[str, object]:
    field, kind = _structure_field(comp, probs, value, shape)
    if kind == "labels":
        smooth = _smooth_along_structure(comp.mask)
        if smooth.max() > 0.5:  # else a speck that smoothing would erase
            field = smooth
    thickness, (start, end), along_px = _max_thickness(field, spacing, window=kind == "labels")
    return {
        f"lf_thickness_{side}_mm": thickness,
        f"lf_thickness_{side}_uncertainty_mm": np.sqrt(2) * POSITION_UNCERTAINTY_PX[kind] * along_px,
        f"lf_{side}_line_px": _shift(start, end, comp.origin),
    }
