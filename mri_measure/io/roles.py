"""Guess what each stack is for: ``axial_t2``, ``sagittal_t2``, ``localizer`` or ``other``.

Evidence, strongest first: ImageType (LOCALIZER), stack orientation, echo and
repetition time (T2-weighted: TE >= 60 ms with TR >= 1200 ms, or TE >= 80 ms
at any TR for 3-D TSE; inversion recovery such as STIR/FLAIR is not T2),
Enhanced MR AcquisitionContrast. The SeriesDescription is only a hint when
timing is missing or ambiguous.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..vocabulary import StackRole

T2_MIN_TE_MS = 60.0
T2_MIN_TR_MS = 1200.0
T1_MAX_TE_MS = 30.0
T2_ANY_TR_TE_MS = 80.0  # no T1-weighted sequence uses an echo time this long

_LOCALIZER_WORDS = re.compile(r"\b(loc|locali[sz]er|scout|survey|3[- ]?plane|tri[- ]?pilot|pilot|aahead|aascout)\b", re.I)
_T2_WORDS = re.compile(r"t2", re.I)
_NOT_T2_WORDS = re.compile(r"t1|stir|flair|\bpd\b|dwi|diff|adc|tirm", re.I)


def dominant_plane(normal: Sequence[float]) -> str:
    """'sagittal', 'coronal' or 'axial': the patient axis closest to the normal
    (no 30° cut-off: per-disc axial blocks are often tilted 20–40°).

    >>> dominant_plane((0.0, 0.5, 0.866))
    'axial'
    >>> dominant_plane((1.0, 0.0, 0.0))
    'sagittal'
    """
    return ("sagittal", "coronal", "axial")[int(np.argmax(np.abs(np.asarray(normal, dtype=float))))]


def has_orthogonal_stacks(normals: Sequence[Sequence[float]]) -> bool:
    """True when two stack normals of a series are more than 60° apart
    (a 3-plane scout), unlike angled per-disc blocks (typically < 40° apart).

    >>> has_orthogonal_stacks([(0, 0, 1), (1, 0, 0)])
    True
    >>> has_orthogonal_stacks([(0, 0, 1), (0, -0.5, 0.866)])
    False
    """
    n = np.asarray(normals, dtype=float)
    if len(n) < 2:
        return False
    dots = np.abs(n @ n.T)
    return bool(np.any(dots < np.cos(np.deg2rad(60.0))))


def is_localizer(image_type: Sequence[str], description: str, n_slices: int, series_orthogonal: bool) -> bool:
    """ImageType LOCALIZER, or a short stack in a series with orthogonal
    stacks (3-plane scout), or a short stack whose description says so.

    >>> is_localizer(("ORIGINAL", "PRIMARY", "LOCALIZER"), "", 3, False)
    True
    >>> is_localizer((), "", 1, True)
    True
    >>> is_localizer((), "t2 ax", 4, False)  # angled blocks
    False
    """
    if any("LOCALIZER" in t or "SCOUT" in t for t in image_type):
        return True
    if n_slices <= 5 and series_orthogonal:
        return True
    return n_slices <= 5 and bool(_LOCALIZER_WORDS.search(description))


def weighting(
    echo_time_ms: float | None,
    repetition_time_ms: float | None,
    *,
    inversion: bool = False,
    acquisition_contrast: str | None = None,
    description: str = "",
) -> str:
    """'T2', 'T1', 'IR' or 'unknown'.

    >>> weighting(100.0, 4000.0)
    'T2'
    >>> weighting(10.0, 500.0)
    'T1'
    >>> weighting(120.0, 1000.0)  # 3-D TSE T2
    'T2'
    >>> weighting(None, None, description="T2 TSE AX")
    'T2'
    >>> weighting(80.0, 5000.0, inversion=True)
    'IR'
    """
    if inversion:
        return "IR"
    if acquisition_contrast:
        c = acquisition_contrast.upper()
        if c == "T2":
            return "T2"
        if c in ("T1", "PROTON_DENSITY", "DIFFUSION", "FLOW_ENCODED", "T2_STAR"):
            return "T1" if c == "T1" else "unknown"
    if echo_time_ms is not None:
        long_tr = repetition_time_ms is None or repetition_time_ms >= T2_MIN_TR_MS
        if echo_time_ms >= T2_MIN_TE_MS and long_tr:
            return "T2"
        if echo_time_ms >= T2_ANY_TR_TE_MS:  # 3-D TSE (SPACE/CUBE/VISTA) runs TR ~1000 ms
            return "T2"
        if echo_time_ms <= T1_MAX_TE_MS and repetition_time_ms is not None and repetition_time_ms < T2_MIN_TR_MS:
            return "T1"
        if echo_time_ms <= T1_MAX_TE_MS:
            return "unknown"  # PD or gradient echo
    if _T2_WORDS.search(description) and not _NOT_T2_WORDS.search(description):
        return "T2"
    return "unknown"


def guess_role(
    *,
    normal: Sequence[float],
    n_slices: int,
    modality: str,
    image_type: Sequence[str],
    echo_time_ms: float | None,
    repetition_time_ms: float | None,
    inversion_time_ms: float | None,
    scanning_sequence: Sequence[str],
    acquisition_contrast: str | None,
    description: str,
    series_orthogonal: bool,
) -> StackRole:
    """Role of one stack (see module docstring)."""
    if modality and modality.upper() != "MR":
        return StackRole.OTHER
    if any(t in ("PROJECTION IMAGE", "MIP", "PROJECTION") for t in image_type):
        return StackRole.OTHER
    if is_localizer(image_type, description, n_slices, series_orthogonal):
        return StackRole.LOCALIZER
    inversion = "IR" in scanning_sequence or (inversion_time_ms is not None and inversion_time_ms > 0)
    inversion = inversion or bool(re.search(r"stir|flair|tirm", description, re.I))
    if weighting(
        echo_time_ms,
        repetition_time_ms,
        inversion=inversion,
        acquisition_contrast=acquisition_contrast,
        description=description,
    ) != "T2":
        return StackRole.OTHER
    plane = dominant_plane(normal)
    if plane == "axial":
        return StackRole.AXIAL_T2
    if plane == "sagittal":
        return StackRole.SAGITTAL_T2
    return StackRole.OTHER
