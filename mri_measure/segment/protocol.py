"""The :class:`Segmenter` protocol and :func:`one_hot` (numpy only).

A segmenter maps axial images to per-pixel probabilities of the contract
labels (0 background, 1 dural sac, 2 LF patient-left, 3 LF patient-right),
on the images' own grid. The pipeline always calls
``segmenter.predict_stack(loaded_stack)``, so tests can substitute
:class:`mri_measure.testing.truth.TruthSegmenter`, which returns ground truth
instead of a prediction.

>>> import numpy as np
>>> lab = np.zeros((4, 5), np.uint8); lab[1:3, 1:3] = 1; lab[3, 0] = 7  # 7: a helper class
>>> p = one_hot(lab)
>>> p.shape, float(p[1].sum()), float(p[0, 3, 0])   # helper classes count as background
((4, 4, 5), 4.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..vocabulary import Label, one_hot  # noqa: F401 - one_hot is re-exported

N_CLASSES = len(Label)


@runtime_checkable
class Segmenter(Protocol):
    """What the pipeline and the napari plugin need from a segmenter."""

    name: str
    version: str
    sha256: str | None

    def predict(
        self, images: np.ndarray, spacing_mm: tuple[float, float], orientation: Sequence[float]
    ) -> np.ndarray:
        """``images`` (n, H, W) → probabilities (n, 4, H, W) float32 summing to 1 over axis 1."""
        ...

    def predict_stack(self, loaded_stack: Any) -> np.ndarray:
        """Probabilities for a :class:`~mri_measure.types.LoadedStack`'s pixels."""
        ...


