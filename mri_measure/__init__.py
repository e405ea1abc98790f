"""mri-measure: dural-sac area and ligamentum flavum thickness per lumbar level.

Importing this package is cheap: it loads neither torch nor napari nor Qt.
"""

__version__ = "0.1.0"

LABELS = {0: "background", 1: "dural_sac", 2: "lf_left", 3: "lf_right"}
"""Label contract shared by every mask, SEG segment and napari labels layer:
``0`` background, ``1`` dural sac / central canal, ``2`` ligamentum flavum
patient-left, ``3`` ligamentum flavum patient-right."""

from .levels.names import LUMBAR_LEVELS  # noqa: E402  (the one home of level names)
