"""Disc levels: find the discs, name them, give every axial slice its level.

* :mod:`.names` — the level names and their order (the one home of the vocabulary);
* :mod:`.sagittal` — the discs on a sagittal T2 (learned detector first,
  classical column analysis as fallback), one module per stage;
* :mod:`.learned` — post-processing of the learned detector's probabilities;
* :mod:`.reformat` — axial / sagittal reformats of an isotropic 3-D volume;
* :mod:`.assign` — each axial slice to a disc (sagittal geometry, axial
  blocks, user overrides).
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (kept cheap)

#: Public name → the module that defines it. Loaded on first use, so that
#: ``mri_measure.levels.names`` (imported by the lowest layers) stays cheap.
_EXPORTS = {
    "SACRUM_NOTE": ".assign",
    "assign_levels": ".assign",
    "override_level": ".assign",
    "slice_centre_mm": ".assign",
    "transitional_warnings": ".assign",
    "LEVELS_FROM_SACRUM": ".names",
    "level_name": ".names",
    "level_sort_key": ".names",
    "normalise_level": ".names",
    "reformat_axials": ".reformat",
    "sagittal_from_volume": ".reformat",
    "find_discs": ".sagittal",
    "find_disc_levels": ".sagittal",
    "DiscFinding": ".sagittal",
    "SACRUM_NOT_IN_VIEW": ".sagittal",
    "LUMBARISED_S1": ".sagittal",
}
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from typing import Any

    from .assign import SACRUM_NOTE, assign_levels, override_level, slice_centre_mm, transitional_warnings
    from .names import LEVELS_FROM_SACRUM, level_name, level_sort_key, normalise_level
    from .reformat import reformat_axials, sagittal_from_volume
    from .sagittal import LUMBARISED_S1, SACRUM_NOT_IN_VIEW, DiscFinding, find_disc_levels, find_discs


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
