"""The learned sagittal disc detector (torch): probabilities of background,
disc, vertebra and sacrum on a canonical mid-sagittal view.

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
import torch
import torch.nn.functional as F

from . import bundle as _bundle
from .inference import build_part
from .network import fuse_for_inference
from .preprocess import normalise_sagittal

DEFAULT_BUNDLE_NAME = _bundle.DISC_DETECTOR_BUNDLE_NAME
_CACHE: dict[str, DiscDetector] = {}
_LOCK = threading.Lock()


class DiscDetector:
    def __init__(self, net: torch.nn.Module, meta: dict[str, Any]) -> None:
        self.net = fuse_for_inference(net)
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
        x = torch.from_numpy(np.pad(img, ((0, ph), (0, pw))))[None, None]
        with torch.inference_mode():
            p = F.softmax(self.net(x), dim=1)[0, :, :h, :w]
        return p.numpy().astype(np.float32)


def load_disc_detector(bundle_dir: str | Path | None = None) -> DiscDetector:
    """The shipped (or a given) detector bundle, cached per process."""
    path = Path(bundle_dir) if bundle_dir is not None else _bundle.models_dir() / DEFAULT_BUNDLE_NAME
    key = str(path.resolve())
    with _LOCK:
        if key not in _CACHE:
            meta = _bundle.read_metadata(path)
            weights = _bundle.verified_weights_path(path, meta)
            net = build_part(meta, _bundle.load_state(weights), "detector")
            _CACHE[key] = DiscDetector(net, meta)
        return _CACHE[key]
