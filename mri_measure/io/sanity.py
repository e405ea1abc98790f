"""Input sanity rules applied by discovery, before anything is measured.

* **Foreign images** — within a series, the StudyInstanceUID and the
  FrameOfReferenceUID held by at least 3/4 of its images win; within a
  study, so does the patient identity (hash of the normalised PatientID,
  PatientName and PatientBirthDate: :func:`~.headers.patient_key`). Images in
  the minority are excluded with a warning naming them by InstanceNumber and
  SOPInstanceUID — never by patient data or path. An identity missing on
  *every* image (anonymised CD) is consistent; missing on only some images
  while the others carry one is a disagreement like any other. A study whose
  images belong to several patients with no identity held by 3/4 of them is
  not measured at all (a mix-up, not a stray slice); a series with two
  FrameOfReferenceUIDs and no such majority keeps them (a stack problem).
* **Pixel spacing** — a stack without a usable PixelSpacing (missing, zero,
  negative), or an axial/sagittal T2 stack whose spacing or field of view is
  outside what lumbar MRI uses, is marked unusable (:attr:`Stack.unusable`):
  the tool never assumes a pixel size and never measures with a wrong one.
* **Duplicate positions** — slices of one stack at the same position: the
  latest acquisition (highest AcquisitionNumber, then highest InstanceNumber,
  then SOPInstanceUID) is kept, the others are excluded with a warning. (Two
  stacks of one series would both be measured, so duplicates are not split.)
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from ..types import SliceInfo
from .headers import ImageHeader
from .stacks import DUPLICATE_TOL_MM, slice_positions

#: plausible in-plane pixel spacing of lumbar axial/sagittal MR (CLINICAL.md:
#: axial T2 typically 0.3–0.9 mm; sagittal and 3-D T2 up to ~1.2 mm)
SPACING_RANGE_MM = (0.2, 2.0)
#: a field of view (spacing × matrix) beyond this is not a lumbar MR image;
#: no lower bound: spacing below the range is caught above, and small
#: matrices (crops, test images) have small fields of view legitimately
MAX_FOV_MM = 500.0
#: stacks whose pixel size becomes a measurement (canal area, disc planes)
MEASURED_ROLES = {"axial_t2": "axial T2", "sagittal_t2": "sagittal T2"}
#: at most this many slices are named per exclusion reason; the rest are counted
MAX_NAMED = 10
#: share of a series' (study's) images one StudyInstanceUID/FrameOfReferenceUID
#: (patient identity) must hold for the others to be excluded as foreign; below
#: it the images are not a study with a few strays but a mix-up
CLEAR_MAJORITY = 0.75


def slice_name(info: SliceInfo) -> str:
    """How a warning names an image: its key and InstanceNumber (no PHI, no path)."""
    inst = f" (instance {info.instance_number})" if info.instance_number is not None else ""
    return f"slice {info.key}{inst}"


def _named_warnings(infos: Sequence[SliceInfo], reason: str) -> list[str]:
    infos = sorted(infos, key=lambda i: (i.instance_number is None, i.instance_number or 0, i.key))
    out = [f"{slice_name(i)} excluded: {reason}" for i in infos[:MAX_NAMED]]
    if len(infos) > MAX_NAMED:
        out.append(f"{len(infos) - MAX_NAMED} more slice(s) excluded: {reason}")
    return out


def _majority(values: Iterable[object]) -> tuple[object, bool]:
    """Most common value and whether it is held by :data:`CLEAR_MAJORITY` of them."""
    counts = Counter(values)
    (top, n), = counts.most_common(1)
    return top, n >= CLEAR_MAJORITY * sum(counts.values())


def _split_minority(
    headers: list[ImageHeader], value: Callable[[ImageHeader], object], reason: str
) -> tuple[list[ImageHeader], list[str], bool]:
    """(kept, warnings, clear majority) for one group of images."""
    values = [value(h) for h in headers]
    if len(set(values)) <= 1:
        return headers, [], True
    top, clear = _majority(values)
    if not clear:
        return headers, [], False
    kept = [h for h, v in zip(headers, values) if v == top]
    dropped = [h.info for h, v in zip(headers, values) if v != top]
    return kept, _named_warnings(dropped, reason), True


def foreign_images(headers: Iterable[ImageHeader]) -> tuple[list[ImageHeader], list[str], dict[str, str]]:
    """Drop images that disagree with the rest of their series or study.

    Returns ``(kept headers, warnings, {study uid: reason})`` — the last for
    studies mixing patients without a clear majority (not measured at all).
    """
    warnings: list[str] = []
    by_series: dict[str, list[ImageHeader]] = defaultdict(list)
    for h in headers:
        by_series[h.series_instance_uid].append(h)
    kept: list[ImageHeader] = []
    for _, hs in sorted(by_series.items()):
        hs, w, _ = _split_minority(
            hs, lambda h: h.study_instance_uid,
            "its StudyInstanceUID differs from the rest of its series (an image of another study)",
        )
        warnings += w
        hs, w, _ = _split_minority(
            hs, lambda h: h.frame_of_reference_uid,
            "its FrameOfReferenceUID differs from the rest of its series (not the same scan)",
        )
        warnings += w
        kept += hs
    by_study: dict[str, list[ImageHeader]] = defaultdict(list)
    for h in kept:
        by_study[h.study_instance_uid].append(h)
    out: list[ImageHeader] = []
    mixed: dict[str, str] = {}
    for study_uid, hs in sorted(by_study.items()):
        hs, w, clear = _split_minority(
            hs, lambda h: h.patient_key,
            "it belongs to another patient than the rest of the study "
            "(PatientID, PatientName or PatientBirthDate differ, or are missing only on it)",
        )
        warnings += w
        if not clear:
            n = len({h.patient_key for h in hs})
            mixed[study_uid] = (
                f"the images of study {study_uid} belong to {n} different patients (PatientID, PatientName "
                "or PatientBirthDate disagree) and none holds 3/4 of its images; all its images are excluded — "
                "export each patient's study separately"
            )
        out += hs
    return out, warnings, mixed


def spacing_verdict(
    role: str, series: str, issue: str | None, spacing_mm: tuple[float, float], rows: int, columns: int
) -> str | None:
    """Why a stack cannot be measured because of its pixel spacing, or ``None``.

    >>> spacing_verdict("axial_t2", "3", None, (0.7, 0.7), 320, 320) is None
    True
    >>> print(spacing_verdict("axial_t2", "3", "missing", (0.0, 0.0), 320, 320))
    axial T2 series 3 has no usable PixelSpacing (missing); its slices are excluded — the tool never assumes a pixel size; re-export the study with PixelSpacing
    >>> print(spacing_verdict("axial_t2", "3", None, (6.25, 6.25), 320, 320))
    axial T2 series 3: PixelSpacing 6.25 × 6.25 mm is outside the plausible range for lumbar MRI (0.2–2 mm); its slices are excluded from measurement — check the export, the header's pixel size is wrong
    >>> spacing_verdict("localizer", "1", None, (6.25, 6.25), 320, 320) is None
    True
    """
    kind = MEASURED_ROLES.get(role)
    what = f"{kind} series {series}" if kind else f"series {series}"
    if issue is not None:
        return (
            f"{what} has no usable PixelSpacing ({issue}); its slices are excluded — the tool never "
            "assumes a pixel size; re-export the study with PixelSpacing"
        )
    if kind is None:
        return None
    lo, hi = SPACING_RANGE_MM
    shown = f"{spacing_mm[0]:g} × {spacing_mm[1]:g} mm"
    if not all(lo <= v <= hi for v in spacing_mm):
        return (
            f"{what}: PixelSpacing {shown} is outside the plausible range for lumbar MRI "
            f"({lo:g}–{hi:g} mm); its slices are excluded from measurement — check the export, the header's "
            "pixel size is wrong"
        )
    fov = (rows * spacing_mm[0], columns * spacing_mm[1])
    if max(fov) > MAX_FOV_MM:
        return (
            f"{what}: field of view {fov[0]:.0f} × {fov[1]:.0f} mm (PixelSpacing {shown} × matrix "
            f"{rows} × {columns}) is larger than lumbar MRI uses (at most {MAX_FOV_MM:g} mm); its "
            "slices are excluded from measurement — check the export, the header's pixel size is wrong"
        )
    return None


def _preference(info: SliceInfo, acquisition: dict[str, int | None]) -> tuple:
    acq = acquisition.get(info.key)
    return (acq is not None, acq or 0, info.instance_number is not None, info.instance_number or 0, info.key)


def drop_duplicate_positions(
    slices: Sequence[SliceInfo], acquisition: dict[str, int | None]
) -> tuple[list[SliceInfo], list[tuple[SliceInfo, SliceInfo]]]:
    """Keep one slice per position of a sorted stack: ``(kept, [(dropped, kept instead)])``.

    Slices are at the same position when they lie within :data:`DUPLICATE_TOL_MM`
    along the normal and within one pixel in-plane. The kept one is the latest
    acquisition: highest AcquisitionNumber, then InstanceNumber, then key.

    >>> from mri_measure.types import SliceInfo
    >>> def at(uid, z, n): return SliceInfo(uid, "", (0, 0, z), (1, 0, 0, 0, 1, 0), (1, 1), 4, 4, n)
    >>> kept, dropped = drop_duplicate_positions([at("a", 0, 1), at("b", 4, 2), at("c", 4, 7)], {})
    >>> [s.key for s in kept], [(d.key, k.key) for d, k in dropped]
    (['a', 'c'], [('b', 'c')])
    """
    if len(slices) < 2:
        return list(slices), []
    z = slice_positions(slices)
    # one pixel in-plane (a placeholder spacing of an unusable stack may be 0 or negative)
    inplane_tol = max(abs(v) for v in slices[0].spacing_mm) or 1.0
    kept: list[SliceInfo] = []
    dropped: list[tuple[SliceInfo, SliceInfo]] = []
    i = 0
    while i < len(slices):
        j = i + 1
        while j < len(slices) and z[j] - z[j - 1] < DUPLICATE_TOL_MM:
            j += 1
        run = list(slices[i:j])
        while run:
            best = max(run, key=lambda s: _preference(s, acquisition))
            same = [
                s for s in run
                if s is not best
                and float(np.linalg.norm(np.subtract(s.position_mm, best.position_mm))) <= inplane_tol
            ]
            kept.append(best)
            dropped += [(s, best) for s in same]
            run = [s for s in run if s is not best and all(s is not t for t in same)]  # always shrinks
        i = j
    order = {id(s): k for k, s in enumerate(slices)}
    kept.sort(key=lambda s: order[id(s)])
    return kept, dropped


def duplicate_warnings(stack_id: str, dropped: Sequence[tuple[SliceInfo, SliceInfo]]) -> list[str]:
    """One line per excluded duplicate (up to :data:`MAX_NAMED`), then a count."""
    reason = (
        f"same position as {{other}} in stack {stack_id}; the latest acquisition "
        "(highest AcquisitionNumber, then InstanceNumber) is kept"
    )
    out = [
        f"{slice_name(d)} excluded: " + reason.format(other=slice_name(k))
        for d, k in dropped[:MAX_NAMED]
    ]
    if len(dropped) > MAX_NAMED:
        out.append(
            f"{len(dropped) - MAX_NAMED} more slice(s) of stack {stack_id} excluded: same position as "
            "another slice (duplicates)"
        )
    return out
