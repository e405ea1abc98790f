"""mri-measure: dural-sac area and ligamentum flavum thickness per lumbar level.

Importing this package is cheap: it loads neither torch nor napari nor Qt.
"""

__version__ = "0.1.0"

from .vocabulary import Label

LABELS = {int(lab): lab.key for lab in Label}
"""Label contract (value -> name), derived from :class:`mri_measure.vocabulary.Label`."""

LUMBAR_LEVELS = ("L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1")
