"""Frozen data types shared across the core.

Geometry follows DICOM patient coordinates (LPS, millimetres):
``orientation`` is ImageOrientationPatient (row direction cosines, then
column direction cosines), ``position_mm`` is ImagePositionPatient (centre of
the first transmitted pixel), ``spacing_mm`` is PixelSpacing = (row spacing,
column spacing), i.e. (distance between rows, distance between columns).

Nothing here imports anything heavier than numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .vocabulary import LevelSource, StackRole

if TYPE_CHECKING:  # criteria imports types at run time; this is for the annotation only
    from .compact import CroppedProbabilities
    from .criteria import Thresholds


def _normal(orientation: tuple[float, ...]) -> tuple[float, float, float]:
    row = np.asarray(orientation[:3], dtype=float)
    col = np.asarray(orientation[3:6], dtype=float)
    n = np.cross(row, col)
    norm = float(np.linalg.norm(n))
    if norm == 0.0:
        return (0.0, 0.0, 0.0)
    return tuple(float(v) for v in n / norm)  # type: ignore[return-value]


@dataclass(frozen=True)
class SliceInfo:
    """One 2-D image: a single-frame file or one frame of a multi-frame file.

    ``source`` is an opaque locator only :mod:`mri_measure.io` interprets (a
    file path, or a member of a zip archive). It must never be written to any
    output or log: it can contain patient names.
    """

    sop_instance_uid: str
    source: str
    position_mm: tuple[float, float, float]
    orientation: tuple[float, float, float, float, float, float]
    spacing_mm: tuple[float, float]
    rows: int
    columns: int
    instance_number: int | None = None
    frame_index: int | None = None  # 0-based frame in a multi-frame file
    thickness_mm: float | None = None
    transfer_syntax_uid: str | None = None

    @property
    def normal(self) -> tuple[float, float, float]:
        """Unit slice normal (row direction × column direction)."""
        return _normal(self.orientation)

    @property
    def key(self) -> str:
        """Unique per image: the SOPInstanceUID, plus ``#frame`` for multi-frame."""
        if self.frame_index is None:
            return self.sop_instance_uid
        return f"{self.sop_instance_uid}#{self.frame_index + 1}"

    def pixel_to_patient(self, row: float, col: float) -> np.ndarray:
        """Patient coordinate (mm) of a (row, col) pixel index (may be fractional)."""
        r = np.asarray(self.orientation[:3], dtype=float)
        c = np.asarray(self.orientation[3:6], dtype=float)
        return (
            np.asarray(self.position_mm, dtype=float)
            + r * col * self.spacing_mm[1]
            + c * row * self.spacing_mm[0]
        )


@dataclass(frozen=True)
class Stack:
    """Images of one series sharing orientation, matrix and spacing,
    sorted by position along the slice normal (never by InstanceNumber)."""

    stack_id: str  # short stable id, e.g. "3.1" (series number . block)
    study_instance_uid: str
    series_instance_uid: str
    slices: tuple[SliceInfo, ...]
    role: StackRole = StackRole.OTHER
    series_number: int | None = None
    series_description: str = ""
    modality: str = "MR"
    frame_of_reference_uid: str | None = None
    echo_time_ms: float | None = None
    repetition_time_ms: float | None = None
    image_type: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # duplicates, gaps, non-uniform spacing, …
    #: why the stack must not be measured at all (no usable or an implausible
    #: PixelSpacing, images of several patients); ``None`` when it may be
    unusable: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.role, StackRole):
            object.__setattr__(self, "role", StackRole(self.role))

    @property
    def n_slices(self) -> int:
        return len(self.slices)

    @property
    def orientation(self) -> tuple[float, ...]:
        return self.slices[0].orientation

    @property
    def normal(self) -> tuple[float, float, float]:
        return self.slices[0].normal

    @property
    def spacing_mm(self) -> tuple[float, float]:
        return self.slices[0].spacing_mm

    @property
    def rows(self) -> int:
        return self.slices[0].rows

    @property
    def columns(self) -> int:
        return self.slices[0].columns

    @property
    def plane(self) -> str:
        """'axial', 'sagittal', 'coronal' or 'oblique' (normal within 30° of an axis)."""
        n = np.abs(np.asarray(self.normal))
        axis = int(np.argmax(n))
        if n[axis] < np.cos(np.deg2rad(30)):
            return "oblique"
        return ("sagittal", "coronal", "axial")[axis]


@dataclass(frozen=True)
class Study:
    study_instance_uid: str
    stacks: tuple[Stack, ...]
    study_description: str = ""

    def stacks_with_role(self, role: StackRole | str) -> tuple[Stack, ...]:
        return tuple(s for s in self.stacks if s.role == role)


@dataclass(frozen=True)
class Discovery:
    """What :func:`mri_measure.io.discover` found under a path (headers only)."""

    studies: tuple[Study, ...]
    n_files_scanned: int = 0
    n_dicom_files: int = 0
    n_skipped_non_dicom: int = 0
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class LoadedStack:
    """Pixels of one stack, after integrity checks and rescale.

    ``pixels`` is float32 of shape (len(slices), rows, cols) holding only the
    slices that passed; ``excluded`` lists (slice key, reason) for the rest.
    (The pipeline keeps measured stacks' pixels as uint16/int16 when every value
    is an integer in range: the same values, half the memory.)
    """

    stack: Stack
    pixels: np.ndarray
    slices: tuple[SliceInfo, ...]
    excluded: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SliceMeasurement:
    """Measurements on one axial slice, in its own plane; ``None`` where absent.

    Uncertainties are one standard uncertainty in the same unit. The ``*_line_px``
    fields are ((row0, col0), (row1, col1)) pixel coordinates of the line along
    which the value was measured, for drawing.
    """

    canal_area_mm2: float | None = None
    lf_thickness_left_mm: float | None = None
    lf_thickness_right_mm: float | None = None
    canal_ap_mm: float | None = None
    canal_area_uncertainty_mm2: float | None = None
    lf_thickness_left_uncertainty_mm: float | None = None
    lf_thickness_right_uncertainty_mm: float | None = None
    canal_ap_uncertainty_mm: float | None = None
    lf_left_line_px: tuple[tuple[float, float], tuple[float, float]] | None = None
    lf_right_line_px: tuple[tuple[float, float], tuple[float, float]] | None = None
    canal_ap_line_px: tuple[tuple[float, float], tuple[float, float]] | None = None


@dataclass(frozen=True)
class LevelAssignment:
    level: str | None  # "L4-L5", … or None when unknown
    source: LevelSource = LevelSource.UNKNOWN
    confidence: float = 0.0  # 0..1
    distance_mm: float | None = None  # point-to-plane distance to the disc, if known

    def __post_init__(self) -> None:
        if not isinstance(self.source, LevelSource):
            object.__setattr__(self, "source", LevelSource(self.source))


@dataclass(frozen=True)
class DiscPlane:
    """A disc found on the sagittal stack: name, 3-D centre and unit normal (mm, LPS)."""

    level: str
    centre_mm: tuple[float, float, float]
    normal: tuple[float, float, float]
    confidence: float = 1.0
    height_mm: float | None = None  # disc height along the normal, when measured
    frame_of_reference_uid: str | None = None  # of the series the disc was found on
    #: which finder found it: "learned" (the disc detector), "classical" (column analysis), "" unknown
    method: str = ""


OK = "ok"
NOT_MEASURABLE = "not_measurable"
#: flags of values that are simply not there (nothing segmented), not refused by a check
ABSENT_FLAGS = frozenset({"no_canal_found", "no_lf_found", "not_found"})


@dataclass(frozen=True)
class Verdict:
    """Whether one value may be reported as a number (:mod:`mri_measure.measure.quality`).

    ``verdict`` is ``"ok"`` or ``"not_measurable"``; ``reason`` a short human
    text (always set when not measurable; on an ``"ok"`` value only as a note,
    e.g. a reader's correction that the automatic check would have refused);
    ``flag`` the machine name that goes into ``quality_flags``.
    """

    verdict: str = OK
    reason: str | None = None
    flag: str | None = None

    def __post_init__(self) -> None:
        if self.verdict not in (OK, NOT_MEASURABLE):
            raise ValueError(f"verdict must be 'ok' or 'not_measurable', got {self.verdict!r}")
        if self.verdict == NOT_MEASURABLE and not self.reason:
            raise ValueError("a not_measurable verdict needs a reason")

    @property
    def ok(self) -> bool:
        return self.verdict == OK

    @property
    def refused(self) -> bool:
        """Not measurable although something was segmented (a check failed), as opposed
        to simply absent (:data:`ABSENT_FLAGS`; shown as "—" like before)."""
        return not self.ok and self.flag not in ABSENT_FLAGS

    def to_dict(self) -> dict[str, str | None]:
        return {"verdict": self.verdict, "reason": self.reason}


#: the values a verdict is given for, in ``quality`` objects and CSV columns
QUALITY_VALUES = ("canal_area_mm2", "lf_thickness_left_mm", "lf_thickness_right_mm")


@dataclass(frozen=True)
class Quality:
    """One :class:`Verdict` per reported value (canal area, LF left, LF right)."""

    canal_area_mm2: Verdict = Verdict()
    lf_thickness_left_mm: Verdict = Verdict()
    lf_thickness_right_mm: Verdict = Verdict()

    def verdicts(self) -> dict[str, Verdict]:
        return {name: getattr(self, name) for name in QUALITY_VALUES}

    @property
    def flags(self) -> tuple[str, ...]:
        """The distinct machine flags of the three verdicts, in value order."""
        out: list[str] = []
        for v in self.verdicts().values():
            if v.flag and v.flag not in out:
                out.append(v.flag)
        return tuple(out)

    def to_dict(self) -> dict[str, dict[str, str | None]]:
        return {name: v.to_dict() for name, v in self.verdicts().items()}


@dataclass(frozen=True)
class SliceResult:
    """One measured axial slice as it appears in ``measurements.json`` ``slices[]``."""

    sop_instance_uid: str  # the slice key (SOPInstanceUID, "#frame" for multi-frame)
    stack_id: str
    instance_number: int | None
    level: LevelAssignment
    measurement: SliceMeasurement
    quality_flags: tuple[str, ...] = ()
    corrected: bool = False  # outlines edited by a reader
    #: per-value verdict; a value whose verdict is not ok is never reported as a number
    quality: Quality = Quality()


@dataclass(frozen=True)
class LevelMeasurement:
    """Per-disc-level result: canal = minimum over the level's slices,
    LF = maximum per side; the slice that gave each value is kept."""

    level: str
    level_source: LevelSource
    level_confidence: float
    canal_area_mm2: float | None
    canal_area_uncertainty_mm2: float | None
    lf_thickness_left_mm: float | None
    lf_thickness_left_uncertainty_mm: float | None
    lf_thickness_right_mm: float | None
    lf_thickness_right_uncertainty_mm: float | None
    lf_thickness_max_mm: float | None
    canal_ap_mm: float | None
    canal_narrowed: bool | None
    lf_thickened: bool | None
    meets_mild_imaging_criteria: bool | None
    borderline: bool
    borderline_reasons: tuple[str, ...]
    canal_grade: str | None  # "absolute" (<75), "relative" (<100), "early" (<130), "normal"
    representative_sop_instance_uid: str | None
    canal_area_sop_instance_uid: str | None
    lf_thickness_left_sop_instance_uid: str | None
    lf_thickness_right_sop_instance_uid: str | None
    slice_sop_instance_uids: tuple[str, ...]
    #: per-value verdict of the level: ok when the value came from an ok slice,
    #: not measurable (with the slices' reason) when every slice's value was flagged
    quality: Quality = Quality()

    def __post_init__(self) -> None:
        if not isinstance(self.level_source, LevelSource):
            object.__setattr__(self, "level_source", LevelSource(self.level_source))


@dataclass(frozen=True)
class StudyReport:
    """Everything ``measurements.json`` (schema_version "1.1") holds. No PHI.

    ``provenance``: ``disc_method`` (:attr:`DiscPlane.method` of the discs that
    named the levels, or ``None``) and ``disc_detector`` (name, version, sha256
    and ``used`` of the sagittal disc detector bundle, or ``None`` when absent)."""

    software: dict[str, Any]
    model: dict[str, Any] | None
    thresholds: Thresholds  # written as a dict only in measurements.json (Thresholds.to_dict)
    study: dict[str, Any]  # study_instance_uid, axial/sagittal series UIDs used
    levels: tuple[LevelMeasurement, ...]
    slices: tuple[SliceResult, ...]
    warnings: tuple[str, ...] = ()
    schema_version: str = "1.1"
    provenance: dict[str, Any] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, eq=False)
class StackAnalysis:
    """One measured axial stack: pixels, model output and per-slice measurements,
    all aligned with ``loaded.slices``."""

    loaded: LoadedStack
    #: (n, 4, rows, cols), labels 0–3 in patient terms: an array, or (from the pipeline)
    #: a compact CroppedProbabilities whose slice k is a float32 (4, rows, cols)
    probabilities: np.ndarray | CroppedProbabilities
    labels: np.ndarray  # (n, rows, cols) uint8, contract values
    measurements: tuple[SliceMeasurement, ...]
    #: per-slice verdicts aligned with ``measurements`` (empty: not assessed, e.g. a
    #: hand-built analysis; then only absent values are not measurable)
    qualities: tuple[Quality, ...] = ()


@dataclass(frozen=True, eq=False)
class StudyAnalysis:
    """Everything the report writers and the napari plugin need about one study."""

    report: StudyReport
    axial: tuple[StackAnalysis, ...]
    sagittal: LoadedStack | None = None
    discs: tuple[DiscPlane, ...] = ()
