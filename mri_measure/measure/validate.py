"""Input checks of :func:`~mri_measure.measure.measure_slice` (one clear
:class:`~mri_measure.errors.OptionError` per mistake) and output conversion."""

from __future__ import annotations

import numpy as np

from ..errors import OptionError


def _validate(labels, spacing_mm, probabilities):
    arr = np.asarray(labels)
    if arr.ndim != 2 or min(arr.shape, default=0) < 1:
        raise OptionError(
            f"labels must be a 2-D array (rows, cols), got shape {arr.shape}; "
            "pass one slice at a time"
        )
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise OptionError(
            f"labels must be an integer array (0 background, 1 dural sac, 2 LF left, "
            f"3 LF right), got dtype {arr.dtype}; convert with labels.astype(np.uint8)"
        )
    try:
        sp = tuple(float(s) for s in spacing_mm)
    except (TypeError, ValueError):
        sp = ()
    if len(sp) != 2 or not all(np.isfinite(s) and s > 0 for s in sp):
        raise OptionError(
            "spacing_mm must be two finite positive numbers (row, col) in mm "
            f"from DICOM PixelSpacing, got {_short(spacing_mm)}"
        )
    probs = None
    if probabilities is not None:
        probs = np.asarray(probabilities)
        if probs.ndim != 3 or probs.shape[0] < 4 or probs.shape[1:] != arr.shape:
            raise OptionError(
                f"probabilities must have shape (4, {arr.shape[0]}, {arr.shape[1]}) "
                f"(class channel first, same grid as labels), got {probs.shape}"
            )
        if not np.issubdtype(probs.dtype, np.floating):
            probs = probs.astype(np.float32)
        if not np.isfinite(probs).all():
            raise OptionError("probabilities contain NaN or infinite values; pass a finite array")
        total = probs.sum(axis=0)
        if np.abs(total - 1.0).max() > 1e-2 or probs.min() < -1e-3:
            raise OptionError(
                "probabilities must be non-negative and sum to 1 over the class axis "
                "(axis 0) at every pixel; apply softmax over axis 0 first"
            )
    return arr, sp, probs


def _short(value) -> str:
    text = repr(tuple(value)) if isinstance(value, (list, tuple, np.ndarray)) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _to_builtin(values: dict[str, object]) -> dict[str, object]:
    def conv(v):
        if isinstance(v, tuple):
            return tuple(conv(x) for x in v)
        return float(v)

    return {k: conv(v) for k, v in values.items()}
