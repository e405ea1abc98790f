"""napari writer: the mri-measure labels layer as a DICOM SEG (``.dcm``).

Only a labels layer made by the widget's **Segment** can be written: it carries
the review session (study, slices, model) that a SEG must reference. The
layer's current (possibly corrected) labels are used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mri_measure import InputError

from ._layers import META_KEY


def write_seg(path: str, data: Any, meta: dict) -> list[str]:
    """Single-layer writer hook: write a DICOM SEG of the labels layer.

    Returns every file written: angled per-disc blocks give one SEG instance per
    plane orientation (``seg.dcm``, ``seg_2.dcm``, … in one SEG series).
    """
    info = (meta.get("metadata") or {}).get(META_KEY) or {}
    session = info.get("session")
    stack_index = info.get("stack_index")
    if session is None or stack_index is None:
        raise InputError(
            "this labels layer was not made by mri-measure's Segment: a DICOM SEG needs "
            "the study it came from — open the study and press Segment first"
        )
    session.sync(int(stack_index), data)
    from mri_measure.report import write_seg as _write_seg

    out = Path(path)
    if out.suffix.lower() != ".dcm":
        out = out.with_suffix(".dcm")
    out.parent.mkdir(parents=True, exist_ok=True)
    written = _write_seg(session.analysis(), out)
    return [str(p) for p in written] if written else []
