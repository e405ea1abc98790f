"""Disc-level names and their order: the one home of the vocabulary.

A disc level is named by the two vertebrae around it (``"L4-L5"``). Names run
from the sacrum upward in :data:`LEVELS_FROM_SACRUM` (index 0 = L5-S1, the
lowest disc); readers may also set the transitional names of six-lumbar
anatomy (:data:`TRANSITIONAL_LEVELS`). Everything that names, validates or
sorts levels uses this module; it depends on nothing but
:mod:`mri_measure.errors`, so every layer may import it.

>>> level_name(0), level_name(4), level_name(5), level_name(6)
('L5-S1', 'L1-L2', 'T12-L1', 'T11-T12')
>>> normalise_level(" l4-l5 ")
'L4-L5'
>>> normalise_level("L9-L10")
Traceback (most recent call last):
...
mri_measure.errors.OptionError: unknown level 'L9-L10': use a disc name such as L4-L5, L5-S1 or T12-L1
>>> LUMBAR_LEVELS
('L1-L2', 'L2-L3', 'L3-L4', 'L4-L5', 'L5-S1')
"""

from __future__ import annotations

from ..errors import OptionError

__all__ = [
    "UNCERTAIN_BELOW",
    "is_uncertain",
    "CHOOSABLE_LEVELS",
    "LEVELS_FROM_SACRUM",
    "LUMBAR_LEVELS",
    "TRANSITIONAL_LEVELS",
    "VALID_LEVELS",
    "level_name",
    "level_sort_key",
    "normalise_level",
]

#: Disc names from the sacrum upward: index 0 is the lowest disc.
LEVELS_FROM_SACRUM: tuple[str, ...] = (
    "L5-S1", "L4-L5", "L3-L4", "L2-L3", "L1-L2", "T12-L1",
    *(f"T{i}-T{i + 1}" for i in range(11, 0, -1)),
)
#: The five lumbar discs, head to feet (reading order).
LUMBAR_LEVELS: tuple[str, ...] = LEVELS_FROM_SACRUM[4::-1]
#: Extra names a reader may set for transitional anatomy (six lumbar vertebrae).
TRANSITIONAL_LEVELS: tuple[str, ...] = ("L5-L6", "L6-S1")
VALID_LEVELS = frozenset(LEVELS_FROM_SACRUM + TRANSITIONAL_LEVELS)
#: What a reader picks a slice's level from, head to feet: T12-L1, the lumbar
#: discs, then the transitional names.
CHOOSABLE_LEVELS: tuple[str, ...] = (LEVELS_FROM_SACRUM[5], *LUMBAR_LEVELS, *TRANSITIONAL_LEVELS)

#: A level named at a confidence below this is shown as **uncertain** in every
#: output (JSON ``level_uncertain``, console, HTML/PDF, napari table). The
#: calibration table in benchmarks/RESULTS.md ("Level confidence calibration")
#: shows how often names at each confidence were right on SPIDER and the
#: synthetic CDs; levels from axial blocks (0.6) are always below it.
UNCERTAIN_BELOW = 0.7


def is_uncertain(level: str | None, confidence: float) -> bool:
    """Whether a named level should be shown as uncertain (an unknown level is not "uncertain").

    >>> is_uncertain("L4-L5", 0.6), is_uncertain("L4-L5", 0.9), is_uncertain(None, 0.0)
    (True, False, False)
    """
    return level is not None and float(confidence) < UNCERTAIN_BELOW


_VERTEBRA = {"C": 0, "T": 7, "L": 19, "S": 25}


def level_name(index_from_sacrum: int) -> str:
    """Name of the disc ``index_from_sacrum`` discs above the sacrum (0 = L5-S1)."""
    if not 0 <= index_from_sacrum < len(LEVELS_FROM_SACRUM):
        raise ValueError(f"no disc {index_from_sacrum} levels above the sacrum")
    return LEVELS_FROM_SACRUM[index_from_sacrum]


def normalise_level(level: str) -> str:
    """Upper-case and validate a disc name; :class:`OptionError` if it is not one."""
    text = str(level).strip().upper().replace("–", "-").replace("/", "-")
    if text not in VALID_LEVELS:
        raise OptionError(
            f"unknown level {str(level).strip()!r}: use a disc name such as L4-L5, L5-S1 or T12-L1"
        )
    return text


def level_sort_key(level: str) -> tuple:
    """Anatomical order of disc-level names ("T12-L1" … "L5-S1", "L6-S1").

    Transitional levels sort in place (L5-L6 before L5-S1 before L6-S1);
    unparseable names go last, alphabetically.

    >>> sorted(["L5-S1", "L1-L2", "T12-L1", "L6-S1", "L4-L5", "L5-L6"], key=level_sort_key)
    ['T12-L1', 'L1-L2', 'L4-L5', 'L5-L6', 'L5-S1', 'L6-S1']
    """
    parts = level.upper().split("-")
    try:
        idx = tuple(_VERTEBRA[p[0]] + int(p[1:]) for p in parts)
    except (KeyError, ValueError, IndexError):
        return (1, (), level)
    if len(idx) != 2:
        return (1, (), level)
    return (0, idx, level)
