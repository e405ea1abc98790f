"""The :class:`Segmenter` protocol and :class:`TruthSegmenter` (numpy only).

A segmenter maps axial images to per-pixel probabilities of the contract
labels (0 background, 1 dural sac, 2 LF patient-left, 3 LF patient-right),
on the images' own grid. The pipeline always calls
``segmenter.predict_stack(loaded_stack)``, so tests can substitute a
:class:`TruthSegmenter` that returns ground truth instead of a prediction.

>>> import numpy as np
>>> lab = np.zeros((4, 5), np.uint8); lab[1:3, 1:3] = 1; lab[3, 0] = 7  # 7: a helper class
>>> p = TruthSegmenter({"1.2.3": lab}).probabilities_for(["1.2.3"])
>>> p.shape, float(p[0, 1].sum()), float(p[0, 0, 3, 0])   # helper classes count as background
((1, 4, 4, 5), 4.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import InputError, ModelError
from ..vocabulary import Label, one_hot  # noqa: F401 - one_hot is used here and re-exported

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


class TruthSegmenter:
    """Returns one-hot ground truth looked up by slice key (SOPInstanceUID).

    Construct from a mapping key → (H, W) label array, or with
    :meth:`from_npz` from a synthetic CD's ``truth_labels.npz``.
    """

    name = "truth"
    version = "ground-truth"
    sha256 = None

    def __init__(self, labels_by_key: Mapping[str, np.ndarray]) -> None:
        self._labels = {str(k): np.asarray(v) for k, v in labels_by_key.items()}

    @classmethod
    def from_npz(cls, path: str | Path) -> "TruthSegmenter":
        try:
            with np.load(Path(path)) as z:
                return cls({k: z[k] for k in z.files})
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read truth labels ({exc.__class__.__name__}); "
                             "pass the truth_labels.npz written beside a synthetic CD") from None

    def probabilities_for(self, keys: Sequence[str]) -> np.ndarray:
        missing = [k for k in keys if k not in self._labels]
        if missing:
            raise InputError(f"no ground-truth labels for {len(missing)} of {len(keys)} slices; "
                             "the truth file does not belong to this study")
        return np.stack([one_hot(self._labels[k]) for k in keys]).astype(np.float32)

    def predict_stack(self, loaded_stack: Any) -> np.ndarray:
        keys = [s.key for s in loaded_stack.slices]
        probs = self.probabilities_for(keys)
        if probs.shape[2:] != tuple(loaded_stack.pixels.shape[1:]):
            raise InputError(f"ground-truth label shape {probs.shape[2:]} does not match the "
                             f"images {tuple(loaded_stack.pixels.shape[1:])}")
        return probs

    def predict(self, images, spacing_mm, orientation) -> np.ndarray:
        raise ModelError("TruthSegmenter cannot predict from pixels alone; call predict_stack(loaded_stack)")
