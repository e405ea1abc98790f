"""``mri-measure inspect PATH [--json]``: what is on this CD, headers only.

Prints study → series → stacks (role, orientation, slices, pixel spacing,
slice thickness, transfer syntax, problems) as a table, or the same as JSON
(format documented in README.md, "inspect --json format"). Never prints
patient name, ID, birth date or any path; UIDs are fine.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any, TextIO

from pydicom.uid import UID

from .. import __version__
from ..types import Discovery, Stack
from .roles import dominant_plane
from .stacks import median_step_mm

INSPECT_SCHEMA = "mri-measure-inspect/1"


def _ts_name(uid: str | None) -> str:
    if not uid:
        return "unknown"
    name = UID(uid).name
    return name if name and name != uid else uid


def _round(v: float | None, nd: int = 3) -> float | None:
    return None if v is None else round(float(v), nd)


def tilt_deg(normal: tuple[float, float, float]) -> float:
    """Angle (degrees) between the slice normal and the nearest patient axis.

    >>> round(tilt_deg((0.0, -0.2588, 0.9659)), 1)
    15.0
    """
    m = max(abs(v) for v in normal)
    return math.degrees(math.acos(min(1.0, m)))


def stack_to_dict(stack: Stack) -> dict[str, Any]:
    """JSON-ready summary of one stack (no PHI, no paths)."""
    thicknesses = sorted({s.thickness_mm for s in stack.slices if s.thickness_mm is not None})
    syntaxes = sorted({s.transfer_syntax_uid or "" for s in stack.slices})
    return {
        "stack_id": stack.stack_id,
        "role": stack.role,
        "plane": stack.plane,
        "dominant_plane": dominant_plane(stack.normal),
        "n_slices": stack.n_slices,
        "rows": stack.rows,
        "columns": stack.columns,
        "pixel_spacing_mm": [_round(v, 4) for v in stack.spacing_mm],
        "slice_thickness_mm": _round(thicknesses[0]) if len(thicknesses) == 1 else (
            [_round(t) for t in thicknesses] if thicknesses else None
        ),
        "slice_step_mm": _round(median_step_mm(stack.slices)),
        "tilt_deg": _round(tilt_deg(stack.normal), 1),
        "orientation": [_round(v, 5) for v in stack.orientation],
        "normal": [_round(v, 5) for v in stack.normal],
        "multiframe": any(s.frame_index is not None for s in stack.slices),
        "transfer_syntax_uids": [s for s in syntaxes if s],
        "transfer_syntaxes": [_ts_name(s) for s in syntaxes if s],
        "echo_time_ms": _round(stack.echo_time_ms),
        "repetition_time_ms": _round(stack.repetition_time_ms),
        "image_type": list(stack.image_type),
        "frame_of_reference_uid": stack.frame_of_reference_uid,
        "problems": list(stack.problems),
    }


def discovery_to_dict(discovery: Discovery) -> dict[str, Any]:
    studies = []
    for study in discovery.studies:
        series: OrderedDict[str, dict[str, Any]] = OrderedDict()
        for st in study.stacks:
            entry = series.get(st.series_instance_uid)
            if entry is None:
                entry = series[st.series_instance_uid] = {
                    "series_instance_uid": st.series_instance_uid,
                    "series_number": st.series_number,
                    "series_description": st.series_description,
                    "modality": st.modality,
                    "stacks": [],
                }
            entry["stacks"].append(stack_to_dict(st))
        studies.append(
            {
                "study_instance_uid": study.study_instance_uid,
                "study_description": study.study_description,
                "series": list(series.values()),
            }
        )
    return {
        "schema": INSPECT_SCHEMA,
        "software": {"name": "mri-measure", "version": __version__},
        "n_files_scanned": discovery.n_files_scanned,
        "n_dicom_files": discovery.n_dicom_files,
        "n_skipped_non_dicom": discovery.n_skipped_non_dicom,
        "warnings": list(discovery.warnings),
        "studies": studies,
    }


def _fmt_spacing(sp: list[float | None]) -> str:
    return "x".join(f"{v:.3g}" for v in sp if v is not None)


def print_table(data: dict[str, Any], out: TextIO) -> None:
    """Readable study → series → stack listing."""
    w = out.write
    w(
        f"{data['n_files_scanned']} file(s) scanned: {data['n_dicom_files']} DICOM, "
        f"{data['n_skipped_non_dicom']} non-DICOM skipped\n"
    )
    header = (
        f"    {'stack':<8} {'role':<12} {'plane':<9} {'tilt':>5} {'slices':>6} {'matrix':>9} "
        f"{'pixel mm':>11} {'thick mm':>8} {'step mm':>7}  {'transfer syntax':<28} problems"
    )
    for study in data["studies"]:
        desc = f" — {study['study_description']}" if study["study_description"] else ""
        w(f"\nStudy {study['study_instance_uid']}{desc}\n")
        for series in study["series"]:
            num = series["series_number"] if series["series_number"] is not None else "?"
            w(
                f"  Series {num} [{series['modality'] or '?'}] {series['series_description'] or '(no description)'}"
                f"  uid {series['series_instance_uid']}\n"
            )
            w(header + "\n")
            for st in series["stacks"]:
                thick = st["slice_thickness_mm"]
                thick_s = "-" if thick is None else (f"{thick:g}" if not isinstance(thick, list) else "mixed")
                step = "-" if st["slice_step_mm"] is None else f"{st['slice_step_mm']:.2f}"
                ts = ", ".join(st["transfer_syntaxes"]) or "unknown"
                if len(ts) > 28:
                    ts = ts[:27] + "…"
                problems = "; ".join(st["problems"]) or "-"
                w(
                    f"    {st['stack_id']:<8} {st['role']:<12} {st['plane']:<9} {st['tilt_deg']:>4.0f}° {st['n_slices']:>6} "
                    f"{str(st['rows']) + 'x' + str(st['columns']):>9} {_fmt_spacing(st['pixel_spacing_mm']):>11} "
                    f"{thick_s:>8} {step:>7}  {ts:<28} {problems}\n"
                )
    if not data["studies"]:
        w("\nNo image stacks with usable geometry.\n")
    if data["warnings"]:
        w("\nWarnings:\n")
        for msg in data["warnings"]:
            w(f"  - {msg}\n")
