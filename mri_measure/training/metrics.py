"""Evaluation metrics (numpy only): Dice, error summaries, Cohen's κ,
Bland–Altman statistics.

>>> a = np.array([[0, 1, 1], [2, 2, 0]]); b = np.array([[0, 1, 0], [2, 2, 2]])
>>> round(dice(a, b, 1), 3), round(dice(a, b, 2), 3), dice(a, b, 3)
(0.667, 0.8, None)
>>> cohen_kappa([True, True, False, False], [True, False, False, False])
0.5
>>> s = error_summary([1.0, 2.0, None], [1.5, 1.5, 3.0])
>>> s["n"], s["n_missing"], s["mae"], s["bias"]
(2, 1, 0.5, 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def dice(pred: np.ndarray, truth: np.ndarray, label: int) -> float | None:
    """Dice of one label; ``None`` when absent from both."""
    a, b = pred == label, truth == label
    denom = int(a.sum()) + int(b.sum())
    if denom == 0:
        return None
    return float(2 * int((a & b).sum()) / denom)


def error_summary(pred: Sequence[float | None], truth: Sequence[float | None]) -> dict:
    """MAE, bias (pred − truth), SD of differences and 95 % limits of agreement
    over pairs where both exist; ``n_missing``: truth present, prediction absent;
    ``n_spurious``: prediction present, truth absent."""
    pairs = [(p, t) for p, t in zip(pred, truth) if p is not None and t is not None]
    missing = sum(1 for p, t in zip(pred, truth) if p is None and t is not None)
    spurious = sum(1 for p, t in zip(pred, truth) if p is not None and t is None)
    out: dict = {"n": len(pairs), "n_missing": missing, "n_spurious": spurious}
    if not pairs:
        return {**out, "mae": None, "bias": None, "sd": None, "loa": None, "p95_abs": None}
    d = np.array([p - t for p, t in pairs], dtype=float)
    sd = float(d.std(ddof=1)) if len(d) > 1 else 0.0
    bias = float(d.mean())
    return {**out, "mae": float(np.abs(d).mean()), "bias": bias, "sd": sd,
            "loa": [bias - 1.96 * sd, bias + 1.96 * sd], "p95_abs": float(np.percentile(np.abs(d), 95))}


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's κ of two binary ratings; ``None`` if undefined (chance agreement 1)."""
    x, y = np.asarray(a, bool), np.asarray(b, bool)
    if x.size == 0:
        return None
    po = float((x == y).mean())
    pe = float(x.mean() * y.mean() + (1 - x.mean()) * (1 - y.mean()))
    if pe >= 1.0:
        return None
    return (po - pe) / (1 - pe)


def agreement(pred: Sequence[bool], truth: Sequence[bool]) -> dict:
    x, y = np.asarray(pred, bool), np.asarray(truth, bool)
    return {
        "n": int(x.size),
        "agreement_pct": float(100 * (x == y).mean()) if x.size else None,
        "kappa": cohen_kappa(x, y),
        "truth_positive": int(y.sum()),
        "false_positive": int((x & ~y).sum()),
        "false_negative": int((~x & y).sum()),
    }


def mean_or_none(values: Sequence[float | None]) -> float | None:
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None
