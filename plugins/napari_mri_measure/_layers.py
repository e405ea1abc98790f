"""Pure conversions between mri-measure core objects and napari layer data.

Nothing here imports napari or Qt: every function returns plain numpy arrays
and keyword dicts in napari's *layer data tuple* form ``(data, kwargs,
layer_type)``, so the conversions are tested without a display.

Geometry. A stack is shown in its own frame, in millimetres: data axes are
(slice, row, column), ``scale`` is (slice spacing, row spacing, column
spacing) and ``translate`` is the first pixel's position projected on the
stack's own axes (slice normal, column direction cosine, row direction
cosine; DICOM LPS). Stacks of one orientation therefore line up in world
coordinates; a sagittal stack has the same units but different axes (it is
hidden by default when the study has axial images).

Names say role, series and block (``"axial_t2 #3 block 1"``), never patient
data. The :class:`~mri_measure.types.Stack` is kept in ``metadata``.

>>> LABEL_NAMES[1], LABEL_NAMES[2], LABEL_NAMES[3]
('canal', 'LF left', 'LF right')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mri_measure import (
    Label,
    LevelAssignment,  # noqa: F401 - used by the doctests
    LevelSource,
    LoadedStack,
    SliceInfo,
    SliceMeasurement,
    SliceResult,
    Stack,
    StackAnalysis,
    StudyReport,
    Thresholds,
)
from mri_measure.levels.names import is_uncertain

#: Contract label values (:class:`mri_measure.vocabulary.Label`) and their display names.
LABEL_NAMES: dict[int, str] = {int(lab): lab.display_name for lab in Label}
#: Named colours of the labels layer (RGBA 0–1), used by the layer and the legend.
LABEL_COLORS: dict[int | None, tuple[float, float, float, float]] = {
    None: (0.0, 0.0, 0.0, 0.0),
    **{int(lab): lab.colour_rgba for lab in Label},
}
#: Colours of the measurement lines (shapes layer), by line kind.
LINE_COLORS: dict[str, tuple[float, float, float, float]] = {
    "lf_left": (1.0, 0.85, 0.0, 1.0),
    "lf_right": (1.0, 0.85, 0.0, 1.0),
    "canal_ap": (1.0, 0.2, 0.6, 1.0),
}
META_KEY = "mri_measure"
LineLike = tuple[tuple[float, float], tuple[float, float]]


# --------------------------------------------------------------------------- names / geometry


def block_number(stack: Stack) -> int:
    """1-based block of a stack within its series, from ``stack_id`` ("3.2" -> 2)."""
    tail = str(stack.stack_id).rsplit(".", 1)[-1]
    try:
        return int(tail)
    except ValueError:
        return 1


def stack_name(stack: Stack) -> str:
    """Layer name: role, series number and block; no patient data.

    >>> from mri_measure import Stack
    >>> stack_name(Stack("3.1", "1.2", "1.2.3", (), role="axial_t2", series_number=3))
    'axial_t2 #3 block 1'
    """
    series = f"#{stack.series_number}" if stack.series_number is not None else "#?"
    return f"{stack.role} {series} block {block_number(stack)}"


def slice_spacing_mm(slices: Sequence[SliceInfo]) -> float:
    """Median distance between neighbouring slices along the slice normal (mm);
    the slice thickness (or 1 mm) for a single slice."""
    if len(slices) >= 2:
        n = np.asarray(slices[0].normal, dtype=float)
        pos = np.sort([float(np.dot(n, s.position_mm)) for s in slices])
        d = np.diff(pos)
        d = d[d > 1e-3]
        if d.size:
            return float(np.median(d))
    thick = slices[0].thickness_mm if slices else None
    return float(thick) if thick else 1.0


def stack_geometry(
    stack: Stack, slices: Sequence[SliceInfo] | None = None
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """(scale, translate) in mm for a (slice, row, col) array of ``slices``
    (default: the stack's slices).

    Rows advance along the column direction cosine by the row spacing, columns
    along the row direction cosine by the column spacing (DICOM PixelSpacing).
    """
    slices = tuple(slices if slices is not None else stack.slices)
    if not slices:
        return (1.0, *stack.spacing_mm), (0.0, 0.0, 0.0)  # type: ignore[return-value]
    first = slices[0]
    row_dir = np.asarray(first.orientation[:3], dtype=float)
    col_dir = np.asarray(first.orientation[3:6], dtype=float)
    normal = np.asarray(first.normal, dtype=float)
    p0 = np.asarray(first.position_mm, dtype=float)
    scale = (slice_spacing_mm(slices), float(first.spacing_mm[0]), float(first.spacing_mm[1]))
    translate = (float(normal @ p0), float(col_dir @ p0), float(row_dir @ p0))
    return scale, translate


def slice_world_position(
    scale: Sequence[float], translate: Sequence[float], index: int
) -> float:
    """World coordinate (mm) of slice ``index`` along the slider axis."""
    return float(translate[0]) + float(scale[0]) * int(index)


def display_range(pixels: np.ndarray) -> tuple[float, float]:
    """Robust contrast limits (0.5th–99.5th percentile) of an image stack."""
    arr = np.asarray(pixels, dtype=np.float32)
    if arr.size == 0:
        return (0.0, 1.0)
    lo, hi = np.percentile(arr[:: max(1, arr.shape[0] // 8)], (0.5, 99.5))
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        if hi <= lo:
            hi = lo + 1.0
    return (float(lo), float(hi))


# --------------------------------------------------------------------------- layers


def image_layer_data(
    loaded: LoadedStack, *, study: Any = None, visible: bool = True, extra_meta: dict | None = None
) -> tuple[np.ndarray, dict[str, Any], str]:
    """Image layer tuple of one loaded stack (pixels of the slices that passed)."""
    scale, translate = stack_geometry(loaded.stack, loaded.slices)
    meta: dict[str, Any] = {
        "stack": loaded.stack,
        "slice_keys": tuple(s.key for s in loaded.slices),
        "excluded": loaded.excluded,
    }
    if study is not None:
        meta["study"] = study
    if extra_meta:
        meta.update(extra_meta)
    kwargs = {
        "name": stack_name(loaded.stack),
        "scale": scale,
        "translate": translate,
        "units": ("mm", "mm", "mm"),
        "colormap": "gray",
        "contrast_limits": display_range(loaded.pixels),
        "visible": visible,
        "metadata": {META_KEY: meta},
    }
    return np.asarray(loaded.pixels, dtype=np.float32), kwargs, "image"


def labels_layer_data(
    sa: StackAnalysis, labels: np.ndarray | None = None
) -> tuple[np.ndarray, dict[str, Any], str]:
    """Labels layer tuple (contract values 0–3, named colours) of a measured stack."""
    scale, translate = stack_geometry(sa.loaded.stack, sa.loaded.slices)
    data = sa.labels if labels is None else labels
    kwargs = {
        "name": f"labels {stack_name(sa.loaded.stack)}",
        "scale": scale,
        "translate": translate,
        "units": ("mm", "mm", "mm"),
        "colormap": dict(LABEL_COLORS),
        "opacity": 0.45,
        "metadata": {META_KEY: {"stack": sa.loaded.stack, "label_names": dict(LABEL_NAMES)}},
    }
    return data, kwargs, "labels"


@dataclass(frozen=True)
class Lines:
    """Measurement lines of a stack in data coordinates (slice, row, col)."""

    data: list[np.ndarray]  # each (2, 3)
    kinds: list[str]  # lf_left | lf_right | canal_ap
    values_mm: list[float]
    slice_indices: list[int]

    @property
    def colors(self) -> np.ndarray:
        if not self.kinds:
            return np.zeros((0, 4), dtype=float)
        return np.asarray([LINE_COLORS[k] for k in self.kinds], dtype=float)

    @property
    def labels(self) -> list[str]:
        return [f"{v:.1f} mm" for v in self.values_mm]


def measurement_lines(
    measurements: Sequence[SliceMeasurement], indices: Sequence[int] | None = None
) -> Lines:
    """LF thickness lines (per side) and canal AP lines of every slice of a stack
    (``indices``: the slice index of each measurement; default 0, 1, …)."""
    data: list[np.ndarray] = []
    kinds: list[str] = []
    values: list[float] = []
    index: list[int] = []
    ks = range(len(measurements)) if indices is None else indices
    for k, m in zip(ks, measurements):
        for kind, line, value in (
            ("lf_left", m.lf_left_line_px, m.lf_thickness_left_mm),
            ("lf_right", m.lf_right_line_px, m.lf_thickness_right_mm),
            ("canal_ap", m.canal_ap_line_px, m.canal_ap_mm),
        ):
            if line is None or value is None:
                continue
            (r0, c0), (r1, c1) = line
            data.append(np.array([[k, r0, c0], [k, r1, c1]], dtype=float))
            kinds.append(kind)
            values.append(float(value))
            index.append(k)
    return Lines(data, kinds, values, index)


def lines_layer_data(
    sa: StackAnalysis, measurements: Sequence[SliceMeasurement] | None = None
) -> tuple[list[np.ndarray], dict[str, Any], str]:
    """Shapes layer tuple with the LF thickness and canal AP lines of a stack."""
    scale, translate = stack_geometry(sa.loaded.stack, sa.loaded.slices)
    lines = measurement_lines(sa.measurements if measurements is None else measurements)
    kwargs = {
        "name": f"lines {stack_name(sa.loaded.stack)}",
        "ndim": 3,
        "scale": scale,
        "translate": translate,
        "units": ("mm", "mm", "mm"),
        "shape_type": "line",
        "edge_color": lines.colors if lines.data else "yellow",
        "edge_width": 0.5,
        "features": {"kind": lines.kinds, "value_mm": lines.values_mm, "label": lines.labels},
        "text": {"string": "{label}", "size": 9, "color": "yellow", "anchor": "upper_left"},
        "metadata": {META_KEY: {"stack": sa.loaded.stack}},
    }
    return lines.data, kwargs, "shapes"


# --------------------------------------------------------------------------- table rows


@dataclass(frozen=True)
class TableRow:
    """One row of the per-level table (a level) or of its slices (``is_slice``)."""

    title: str  # "L4-L5" or "slice 3 (im 12)"
    canal_mm2: float | None
    lf_left_mm: float | None
    lf_right_mm: float | None
    flags: str
    source: str  # "auto" | "corrected"
    level_source: str  # sagittal | axial_blocks | user | unknown
    slice_key: str | None  # slice to jump to on click
    is_slice: bool = False
    children: tuple["TableRow", ...] = ()
    #: per value (canal, LF left, LF right): the reason it is not measurable, else None
    not_measurable: tuple[str | None, str | None, str | None] = (None, None, None)

    def cells(self) -> list[str]:
        values = [fmt(self.canal_mm2, 1), fmt(self.lf_left_mm, 2), fmt(self.lf_right_mm, 2)]
        for i, reason in enumerate(self.not_measurable):
            if reason is not None:
                values[i] = f"not measurable: {reason}"
        return [
            self.title,
            *values,
            self.flags,
            self.source,
            self.level_source,
        ]


TABLE_HEADERS = ("Level", "Canal mm²", "LF L mm", "LF R mm", "Flags", "Source", "Level from")


def fmt(value: float | None, digits: int) -> str:
    """>>> fmt(None, 1), fmt(101.26, 1)
    ('—', '101.3')
    """
    return "—" if value is None else f"{value:.{digits}f}"


def _criteria_flags(t: Thresholds, canal_narrowed: bool | None, lf_thickened: bool | None) -> list[str]:
    flags = []
    if canal_narrowed:
        flags.append(f"canal≤{t.canal_threshold_mm2:g}")
    if lf_thickened:
        flags.append(f"LF≥{t.lf_threshold_mm:g}")
    return flags


def _reasons(quality) -> tuple[str | None, str | None, str | None]:
    """The reason a check refused each value (canal, LF left, LF right), or None
    (ok, or simply not found: shown as "—")."""
    vs = list(quality.verdicts().values())
    return tuple(v.reason if v.refused else None for v in vs)  # type: ignore[return-value]


def _slice_flags(sr: SliceResult, t: Thresholds) -> str:
    m, q = sr.measurement, sr.quality
    canal = m.canal_area_mm2 if q.canal_area_mm2.ok else None  # never a criterion from a flagged value
    lf = [v for v, ok in ((m.lf_thickness_left_mm, q.lf_thickness_left_mm.ok),
                          (m.lf_thickness_right_mm, q.lf_thickness_right_mm.ok)) if v is not None and ok]
    flags = _criteria_flags(t, t.canal_narrowed(canal), t.lf_thickened(max(lf, default=None)))
    flags.extend(f for f in sr.quality_flags)
    flags.extend(v.reason for v in q.verdicts().values() if v.ok and v.reason)  # a reader's note
    if is_uncertain(sr.level.level, sr.level.confidence):
        flags.append("level uncertain")
    return ", ".join(flags)


def slice_title(index_in_stack: int, sr: SliceResult, stack_label: str = "") -> str:
    """Short title of a slice row: image number (or slice index) and block.

    >>> from mri_measure import SliceMeasurement
    >>> sr = SliceResult("1.2", "3.2", 7, LevelAssignment(None), SliceMeasurement())
    >>> slice_title(1, sr, "b2"), slice_title(1, sr), slice_title(0, SliceResult("1", "3.1", None, LevelAssignment(None), SliceMeasurement()))
    ('im 7 · b2', 'im 7', 'slice 1')
    """
    name = f"im {sr.instance_number}" if sr.instance_number is not None else f"slice {index_in_stack + 1}"
    return f"{name} · {stack_label}" if stack_label else name


def table_rows(report: StudyReport, slice_index: dict[str, tuple[int, int]] | None = None) -> list[TableRow]:
    """Per-level rows (with per-slice children), then an 'unassigned' row if any
    slice has no level. ``slice_index`` maps slice key -> (stack index, index in stack)."""
    t = report.thresholds
    by_key = {s.sop_instance_uid: s for s in report.slices}
    slice_index = slice_index or {}
    multi = len({v[0] for v in slice_index.values()}) > 1

    def child(sr: SliceResult) -> TableRow:
        si, k = slice_index.get(sr.sop_instance_uid, (0, 0))
        m = sr.measurement
        return TableRow(
            title=slice_title(k, sr, f"b{si + 1}" if multi else ""),
            canal_mm2=m.canal_area_mm2,
            lf_left_mm=m.lf_thickness_left_mm,
            lf_right_mm=m.lf_thickness_right_mm,
            flags=_slice_flags(sr, t),
            source="corrected" if sr.corrected else "auto",
            level_source=sr.level.source,
            slice_key=sr.sop_instance_uid,
            is_slice=True,
            not_measurable=_reasons(sr.quality),
        )

    rows: list[TableRow] = []
    for lv in report.levels:
        members = [by_key[k] for k in lv.slice_sop_instance_uids if k in by_key]
        flags = _criteria_flags(t, lv.canal_narrowed, lv.lf_thickened)
        if lv.meets_mild_imaging_criteria:
            flags.append("MEETS criteria")
        if lv.borderline:
            flags.append("borderline")
        if is_uncertain(lv.level, lv.level_confidence):
            flags.append("level uncertain")
        target = lv.canal_area_sop_instance_uid or lv.representative_sop_instance_uid
        if target is None and members:
            target = members[0].sop_instance_uid
        rows.append(
            TableRow(
                title=lv.level,
                canal_mm2=lv.canal_area_mm2,
                lf_left_mm=lv.lf_thickness_left_mm,
                lf_right_mm=lv.lf_thickness_right_mm,
                flags=", ".join(flags),
                source="corrected" if any(m.corrected for m in members) else "auto",
                level_source=lv.level_source,
                slice_key=target,
                children=tuple(child(m) for m in members),
                not_measurable=_reasons(lv.quality),
            )
        )
    unassigned = [s for s in report.slices if s.level.level is None]
    if unassigned:
        rows.append(
            TableRow(
                title="unassigned",
                canal_mm2=None,
                lf_left_mm=None,
                lf_right_mm=None,
                flags=f"{len(unassigned)} slice(s) without a level",
                source="corrected" if any(m.corrected for m in unassigned) else "auto",
                level_source=LevelSource.UNKNOWN,
                slice_key=unassigned[0].sop_instance_uid,
                children=tuple(child(m) for m in unassigned),
            )
        )
    return rows
