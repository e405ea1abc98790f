"""The ground-truth segmenter (numpy only): returns one-hot ground truth
instead of a prediction, so tests and benchmarks exercise the pipeline, batch
and reports without a network.

>>> import numpy as np
>>> lab = np.zeros((4, 5), np.uint8); lab[1:3, 1:3] = 1; lab[3, 0] = 7  # 7: a helper class
>>> p = TruthSegmenter({"1.2.3": lab}).probabilities_for(["1.2.3"])
>>> p.shape, float(p[0, 1].sum()), float(p[0, 0, 3, 0])   # helper classes count as background
((1, 4, 4, 5), 4.0, 1.0)
>>> spec = truth_spec("/tmp")
>>> spec.factory
'mri_measure.testing.truth:truth_segmenter_from_tree'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, ModelError
from ..segment.protocol import one_hot


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


def truth_segmenter_from_tree(folder: str) -> TruthSegmenter:
    """One ground-truth segmenter over every ``truth_labels.npz`` under
    ``folder`` (SOPInstanceUIDs are unique, so the maps merge)."""
    labels: dict[str, Any] = {}
    for p in sorted(Path(folder).rglob("truth_labels.npz")):
        with np.load(p) as z:
            labels.update({k: z[k] for k in z.files})
    return TruthSegmenter(labels)


def truth_spec(folder: str | Path, device: str = "cpu"):
    """The batch :class:`~mri_measure.batch.worker.SegmenterSpec` whose workers
    segment with the ground truth found under ``folder`` (synthetic CDs)."""
    from ..batch.worker import SegmenterSpec

    return SegmenterSpec(device=device, factory="mri_measure.testing.truth:truth_segmenter_from_tree",
                         args=(str(Path(folder).resolve()),))
