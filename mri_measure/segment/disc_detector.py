"""The learned sagittal disc detector: probabilities of background, disc,
vertebra and sacrum on a canonical mid-sagittal view (run by ONNX Runtime
on a CPU, torch on a GPU: :mod:`.runtime`).

The bundle (``models/sagittal-disc-unet``, trained by
:mod:`mri_measure.training.disc_train` on synthetic scenes only) is loaded once
per process. :func:`load_disc_detector` raises :class:`ModelError` when the
bundle is missing or corrupt; :func:`mri_measure.levels.find_discs`
then falls back to its classical column analysis.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from . import bundle as _bundle
from .preprocess import normalise_sagittal
from .runtime import Net, load_networks, requested_backend, softmax

DEFAULT_BUNDLE_NAME = _bundle.DISC_DETECTOR_BUNDLE_NAME
_CACHE: dict[str, DiscDetector] = {}
_LOCK = threading.Lock()


class DiscDetector:
    def __init__(self, net: Net, meta: dict[str, Any]) -> None:
        self.net = net
        self.backend = str(getattr(net, "backend", "unknown"))
        self.meta = meta
        self.name = str(meta["name"])
        self.version = str(meta["version"])
        self.grid_mm = float(meta["preprocessing"]["grid_mm"])
        self.pad_multiple = int(meta["preprocessing"].get("pad_multiple", 16))

    def probabilities(self, view: np.ndarray) -> np.ndarray:
        """(4, H, W) float32 softmax for a canonical view already on ``grid_mm``
        (rows head → feet, columns anterior → posterior; NaN outside the slice)."""
        img = normalise_sagittal(view)
        h, w = img.shape
        m = self.pad_multiple
        ph, pw = (-h) % m, (-w) % m
        x = np.pad(img, ((0, ph), (0, pw))).astype(np.float32)[None, None]
        return np.ascontiguousarray(softmax(self.net(x), axis=1)[0, :, :h, :w])


def load_disc_detector(bundle_dir: str | Path | None = None) -> DiscDetector:
    """The shipped (or a given) detector bundle, cached per process."""
    path = Path(bundle_dir) if bundle_dir is not None else _bundle.models_dir() / DEFAULT_BUNDLE_NAME
    key = f"{path.resolve()}|{requested_backend() or ''}"
    with _LOCK:
        if key not in _CACHE:
            meta = _bundle.read_metadata(path)
            _CACHE[key] = DiscDetector(load_networks(path, meta, ("detector",))["detector"], meta)
        return _CACHE[key]
