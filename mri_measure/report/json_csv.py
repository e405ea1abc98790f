"""``measurements.json`` (schema_version "1") and ``measurements.csv``.

Areas are rounded to 0.1 mm², thicknesses to 0.01 mm, AP diameters to
0.1 mm, confidences to 0.001. Criteria flags are computed upstream on the
unrounded values; a value that rounds onto a threshold is what the
``borderline`` flag is for.

No patient name, ID, birth date or file path is ever written: only the
fields below, with UIDs as the only identifiers.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from ..levels.names import is_uncertain
from ..types import LevelMeasurement, SliceResult, StudyReport
from ._common import atomic_write_bytes, rnd

AREA_DIGITS = 1
THICKNESS_DIGITS = 2
AP_DIGITS = 1
CONFIDENCE_DIGITS = 3

SCHEMA_PATH = Path(__file__).with_name("measurements.schema.json")

#: Per-level measurement columns shared by measurements.csv and batch results tables.
LEVEL_COLUMNS = (
    "level",
    "level_source",
    "level_confidence",
    "canal_area_mm2",
    "canal_area_uncertainty_mm2",
    "canal_grade",
    "canal_ap_mm",
    "lf_thickness_left_mm",
    "lf_thickness_left_uncertainty_mm",
    "lf_thickness_right_mm",
    "lf_thickness_right_uncertainty_mm",
    "lf_thickness_max_mm",
    "canal_narrowed",
    "lf_thickened",
    "meets_mild_imaging_criteria",
    "borderline",
    "borderline_reasons",
)

CSV_COLUMNS = (*LEVEL_COLUMNS, "representative_sop_instance_uid")


def _level_dict(lv: LevelMeasurement) -> dict[str, Any]:
    return {
        "level": lv.level,
        "level_source": lv.level_source,
        "level_confidence": rnd(lv.level_confidence, CONFIDENCE_DIGITS),
        "level_uncertain": is_uncertain(lv.level, lv.level_confidence),
        "canal_area_mm2": rnd(lv.canal_area_mm2, AREA_DIGITS),
        "canal_area_uncertainty_mm2": rnd(lv.canal_area_uncertainty_mm2, AREA_DIGITS),
        "lf_thickness_left_mm": rnd(lv.lf_thickness_left_mm, THICKNESS_DIGITS),
        "lf_thickness_left_uncertainty_mm": rnd(
            lv.lf_thickness_left_uncertainty_mm, THICKNESS_DIGITS
        ),
        "lf_thickness_right_mm": rnd(lv.lf_thickness_right_mm, THICKNESS_DIGITS),
        "lf_thickness_right_uncertainty_mm": rnd(
            lv.lf_thickness_right_uncertainty_mm, THICKNESS_DIGITS
        ),
        "lf_thickness_max_mm": rnd(lv.lf_thickness_max_mm, THICKNESS_DIGITS),
        "canal_ap_mm": rnd(lv.canal_ap_mm, AP_DIGITS),
        "canal_narrowed": lv.canal_narrowed,
        "lf_thickened": lv.lf_thickened,
        "meets_mild_imaging_criteria": lv.meets_mild_imaging_criteria,
        "borderline": bool(lv.borderline),
        "borderline_reasons": list(lv.borderline_reasons),
        "canal_grade": lv.canal_grade,
        "representative_sop_instance_uid": lv.representative_sop_instance_uid,
        "canal_area_sop_instance_uid": lv.canal_area_sop_instance_uid,
        "lf_thickness_left_sop_instance_uid": lv.lf_thickness_left_sop_instance_uid,
        "lf_thickness_right_sop_instance_uid": lv.lf_thickness_right_sop_instance_uid,
        "slice_sop_instance_uids": list(lv.slice_sop_instance_uids),
    }


def _slice_dict(sr: SliceResult) -> dict[str, Any]:
    m = sr.measurement
    sides = [v for v in (m.lf_thickness_left_mm, m.lf_thickness_right_mm) if v is not None]
    return {
        "sop_instance_uid": sr.sop_instance_uid,
        "stack_id": sr.stack_id,
        "instance_number": sr.instance_number,
        "level": sr.level.level,
        "level_source": sr.level.source,
        "level_confidence": rnd(sr.level.confidence, CONFIDENCE_DIGITS),
        "level_uncertain": is_uncertain(sr.level.level, sr.level.confidence),
        "level_distance_mm": rnd(sr.level.distance_mm, 1),
        "canal_area_mm2": rnd(m.canal_area_mm2, AREA_DIGITS),
        "canal_area_uncertainty_mm2": rnd(m.canal_area_uncertainty_mm2, AREA_DIGITS),
        "lf_thickness_left_mm": rnd(m.lf_thickness_left_mm, THICKNESS_DIGITS),
        "lf_thickness_left_uncertainty_mm": rnd(
            m.lf_thickness_left_uncertainty_mm, THICKNESS_DIGITS
        ),
        "lf_thickness_right_mm": rnd(m.lf_thickness_right_mm, THICKNESS_DIGITS),
        "lf_thickness_right_uncertainty_mm": rnd(
            m.lf_thickness_right_uncertainty_mm, THICKNESS_DIGITS
        ),
        "lf_thickness_max_mm": rnd(max(sides), THICKNESS_DIGITS) if sides else None,
        "canal_ap_mm": rnd(m.canal_ap_mm, AP_DIGITS),
        "canal_ap_uncertainty_mm": rnd(m.canal_ap_uncertainty_mm, AP_DIGITS),
        "quality_flags": list(sr.quality_flags),
        "corrected": bool(sr.corrected),
    }


def _jsonable(value: Any) -> Any:
    """Plain JSON types only (tuples → lists, numpy scalars → Python)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return value.item()
    return value


def report_to_dict(report: StudyReport) -> dict[str, Any]:
    """The ``measurements.json`` document (schema_version "1") as a dict."""
    model = None
    if report.model is not None:
        model = {
            "name": report.model.get("name"),
            "version": report.model.get("version"),
            "sha256": report.model.get("sha256"),
        }
    doc: dict[str, Any] = {
        "schema_version": str(report.schema_version),
        "software": _jsonable(dict(report.software)),
        "model": model,
        "thresholds": _jsonable(report.thresholds.to_dict()),
        "study": _jsonable(dict(report.study)),
        "levels": [_level_dict(lv) for lv in report.levels],
        "slices": [_slice_dict(s) for s in report.slices],
        "warnings": [str(w) for w in report.warnings],
    }
    if report.timings_s:
        doc["timings_s"] = {k: rnd(v, 3) for k, v in report.timings_s.items()}
    return doc


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``measurements.json``."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def write_json(report: StudyReport, path: str | os.PathLike[str]) -> Path:
    """Write ``measurements.json`` atomically; returns the path."""
    text = json.dumps(report_to_dict(report), indent=2, ensure_ascii=False, allow_nan=False)
    return atomic_write_bytes(path, (text + "\n").encode("utf-8"))


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ";".join(str(v) for v in value)
    return str(value)


def write_csv(report: StudyReport, path: str | os.PathLike[str]) -> Path:
    """Write ``measurements.csv`` (one row per level) atomically."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for lv in report.levels:
        row = _level_dict(lv)
        writer.writerow([_csv_cell(row[c]) for c in CSV_COLUMNS])
    return atomic_write_bytes(path, buf.getvalue().encode("utf-8"))
