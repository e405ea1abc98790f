"""Segmentation of axial lumbar slices: dural sac and left/right ligamentum flavum.

With :mod:`mri_measure.training`, the only package that imports torch — and
only when a model is loaded:
``import mri_measure.segment`` itself stays light. Public API:

- :class:`Segmenter` — the protocol (``name``, ``version``, ``sha256``,
  ``predict(images, spacing_mm, orientation)``, ``predict_stack(loaded)``).
- :func:`load_segmenter` — the shipped (or a given) bundle, cached per process.

Runtime inference only: training, calibration and evaluation live in
:mod:`mri_measure.training`, the ground-truth segmenter for tests in
:mod:`mri_measure.testing.truth`.
"""

from __future__ import annotations

from .protocol import Segmenter
from .threads import prepare_environment

prepare_environment()  # before any torch import: idle OpenMP threads sleep


def load_segmenter(bundle_dir=None, device: str = "cpu"):
    """Load a segmenter bundle (default: the shipped one); see
    :func:`mri_measure.segment.inference.load_segmenter`."""
    from .inference import load_segmenter as _load

    return _load(bundle_dir, device=device)


__all__ = ["Segmenter", "load_segmenter"]
