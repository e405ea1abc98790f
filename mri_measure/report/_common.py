"""Helpers shared by the report writers: atomic writes, rounding, lookups.

Nothing here ever formats a :attr:`SliceInfo.source` (it may hold a path
with a patient's name in it).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pydicom

    from ..types import LoadedStack, SliceInfo, StackAnalysis, StudyAnalysis

# the writers' atomic file writes live in the foundation-level mri_measure.atomic
from ..atomic import atomic_write_bytes, temp_path_beside  # noqa: F401
from ..atomic import file_mode as _file_mode  # noqa: F401

SOFTWARE_NAME = "mri-measure"


def software_version() -> str:
    from .. import __version__

    return __version__


def rnd(value: float | None, digits: int) -> float | None:
    """Round for output; ``None`` and non-finite values become ``None``."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    return round(value, digits)


def fmt(value: float | None, digits: int, missing: str = "—") -> str:
    """Format a number for humans, ``—`` when absent."""
    v = rnd(value, digits)
    if v is None:
        return missing
    return f"{v:.{digits}f}"


def fmt_pm(value: float | None, unc: float | None, digits: int) -> str:
    """``"93.2 ± 6.1"`` or ``"93.2"`` or ``"—"``."""
    if rnd(value, digits) is None:
        return "—"
    if rnd(unc, digits) is None:
        return fmt(value, digits)
    return f"{fmt(value, digits)} ± {fmt(unc, digits)}"


def yes_no(flag: bool | None) -> str:
    if flag is None:
        return "—"
    return "yes" if flag else "no"


def find_slice(
    analysis: StudyAnalysis, key: str | None
) -> tuple[StackAnalysis, int] | None:
    """The axial stack and index within ``loaded.slices`` of a slice key."""
    if key is None:
        return None
    for sa in analysis.axial:
        for i, s in enumerate(sa.loaded.slices):
            if s.key == key or s.sop_instance_uid == key:
                return sa, i
    return None


DERIVED_PREFIX = "derived:"


def is_derived(info: SliceInfo) -> bool:
    """A slice computed by the tool (e.g. reformatted from a 3-D volume by
    :mod:`mri_measure.levels.reformat`, source ``"derived:…"``): no DICOM file of its own."""
    return str(info.source).startswith(DERIVED_PREFIX)


def _read_one_header(info: SliceInfo) -> pydicom.Dataset:
    """Header of a plain-file slice; errors never carry the file path."""
    import pydicom

    from ..errors import IntegrityError

    try:
        return pydicom.dcmread(info.source, stop_before_pixels=True)
    except Exception as exc:  # the message may hold the path: replace it
        raise IntegrityError(
            f"cannot re-read the header of slice {info.key} for DICOM SEG/SR "
            f"({exc.__class__.__name__}); the input changed or is not a plain file"
        ) from None


#: Type 2 attributes (present, possibly empty) of the Patient, General Study and
#: MR Image modules that highdicom reads from the first source image to build a
#: SEG or SR. Anonymised CDs often drop them altogether.
WRITER_TYPE2 = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "SliceThickness",
)


def writer_header(ds: Any) -> Any:
    """``ds``, or a copy of it with every absent :data:`WRITER_TYPE2` attribute
    added *empty* (type 2: present, value unknown). Never invents a value, and
    never modifies ``ds``."""
    missing = [kw for kw in WRITER_TYPE2 if kw not in ds]
    if not missing:
        return ds
    from pydicom.dataset import Dataset

    out = Dataset()
    if hasattr(ds, "file_meta"):
        out.file_meta = ds.file_meta
    for elem in ds:
        out.add(elem)
    for kw in missing:
        setattr(out, kw, None)
    return out


def source_headers(loaded: LoadedStack) -> dict[str, Any]:
    """Headers (no pixels) of a loaded stack's source files, keyed by slice key.

    Uses :func:`mri_measure.io.read_headers` when the io package provides it
    (it understands archive members); otherwise reads plain files directly.
    Derived slices (see :func:`is_derived`) have no header and are left out.
    Each header passes through :func:`writer_header` (absent type 2 attributes
    added empty), so highdicom can build a SEG/SR from an anonymised CD.
    """
    from dataclasses import replace

    real = tuple(s for s in loaded.slices if not is_derived(s))
    if not real:
        return {}
    try:
        from ..io import read_headers  # type: ignore[attr-defined]
    except ImportError:
        read_headers = None
    by_key: dict[str, Any] = {}
    if read_headers is not None:
        stack = loaded.stack
        if any(is_derived(s) for s in stack.slices):
            stack = replace(stack, slices=tuple(s for s in stack.slices if not is_derived(s)))
        headers = list(read_headers(stack))
        by_key = {s.key: h for s, h in zip(stack.slices, headers)}
    out: dict[str, Any] = {}
    completed: dict[int, Any] = {}  # frames of one multi-frame file share one header
    for info in real:
        ds = by_key.get(info.key)
        if ds is None:
            ds = _read_one_header(info)
        if id(ds) not in completed:
            completed[id(ds)] = writer_header(ds)
        out[info.key] = completed[id(ds)]
    return out
