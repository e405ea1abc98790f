"""Training pairs for the sagittal disc detector (numpy only): a random view
of a synthetic scene (:func:`mri_measure.synth.sagittal_scene.scene_view`),
scaled as the detector scales its input at run time
(:func:`mri_measure.segment.preprocess.normalise_sagittal`).

>>> import numpy as np
>>> from mri_measure.synth import sagittal_scene as S
>>> img, target = training_pair(S.make_scene(np.random.default_rng(3)), np.random.default_rng(4))
>>> img.shape == target.shape == S.TRAIN_SHAPE, img.dtype, 0.0 <= float(img.min()) <= float(img.max()) <= 1.2
(True, dtype('float32'), True)
"""

from __future__ import annotations

import numpy as np

from ..segment.preprocess import normalise_sagittal
from ..synth.sagittal_scene import DETECTOR_GRID_MM, TRAIN_SHAPE, Scene, scene_view


def training_pair(scene: Scene, rng: np.random.Generator, shape=TRAIN_SHAPE,
                  grid_mm: float = DETECTOR_GRID_MM) -> tuple[np.ndarray, np.ndarray]:
    """(normalised image float32, target uint8) of one random view of ``scene``."""
    img, target = scene_view(scene, rng, shape, grid_mm)
    return normalise_sagittal(img), target
