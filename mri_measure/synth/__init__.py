"""mri_measure.synth: a 3-D procedural lumbar spine phantom with exact ground truth.

- :func:`make_phantom` / :class:`SpinePhantom` — the continuous, seeded 3-D model.
- :func:`sample_axial_2d` / :class:`AxialSample` — the fast labelled 2-D path for training.
- :func:`write_cd` (in :mod:`.cd`) — a complete synthetic patient CD + truth files.

Importing this package loads numpy/scipy only (no pydicom until ``write_cd``).
"""

from .phantom import STENOSIS_GRADES, SpinePhantom, make_phantom
from .sample import TRAINING_LEVELS, AxialSample, sample_axial_2d


def write_cd(*args, **kwargs):
    """Write a synthetic patient CD; see :func:`mri_measure.synth.cd.write_cd`."""
    from .cd import write_cd as _write_cd

    return _write_cd(*args, **kwargs)


__all__ = [
    "STENOSIS_GRADES", "TRAINING_LEVELS", "AxialSample", "SpinePhantom", "make_phantom",
    "sample_axial_2d", "write_cd",
]
