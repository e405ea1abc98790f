"""``measurements.json`` (schema_version "1.1") and ``measurements.csv``.

Schema 1.1 only adds to version 1 (docs/measurements-json.md): ``models`` (the axial segmenter's and the sagittal disc detector's
name, version and sha256), and on every level and slice ``level_method`` and
``quality``. Every version-1 field keeps its name and meaning, so a reader that
ignores unknown keys reads both; :func:`as_version_1` gives the exact version-1
document (valid against the unchanged ``measurements.schema.v1.json``) for a
reader that validates strictly. Both schemas ship beside this module.

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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..levels.names import is_uncertain
from ..measure.quality import absent_only
from ..types import LevelMeasurement, SliceResult, StudyReport
from ..vocabulary import LevelMethod
from ._common import atomic_write_bytes, rnd

AREA_DIGITS = 1
THICKNESS_DIGITS = 2
AP_DIGITS = 1
CONFIDENCE_DIGITS = 3

#: The version :func:`report_to_dict` writes, and the versions it can write.
SCHEMA_VERSION = "1.1"
SCHEMA_PATHS = {
    "1": Path(__file__).with_name("measurements.schema.v1.json"),
    "1.1": Path(__file__).with_name("measurements.schema.v1.1.json"),
}
SCHEMA_PATH = SCHEMA_PATHS[SCHEMA_VERSION]
#: What 1.1 adds: top-level keys, and keys of every levels[] / slices[] entry.
ADDED_IN_1_1 = {"document": ("models",), "level": ("level_method", "level_uncertain", "quality"),
                "slice": ("level_method", "level_uncertain", "quality")}

#: Per-level measurement columns shared by measurements.csv and batch results tables.
LEVEL_COLUMNS = (
    "level",
    "level_source",
    "level_method",
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

#: one "not measurable" reason column per value (empty when the value is ok)
QUALITY_COLUMNS = (
    "canal_area_not_measurable_reason",
    "lf_thickness_left_not_measurable_reason",
    "lf_thickness_right_not_measurable_reason",
)

CSV_COLUMNS = (*LEVEL_COLUMNS, "representative_sop_instance_uid", *QUALITY_COLUMNS)


def _level_dict(lv: LevelMeasurement, disc_method: str | None = None) -> dict[str, Any]:
    return {
        "level": lv.level,
        "level_source": lv.level_source,
        "level_method": LevelMethod.from_source(lv.level_source, disc_method),
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
        "quality": _quality_dict(lv.quality, lv),
    }


#: the reason written when a value is absent but its verdict was never set (a hand-built report)
def _quality_dict(quality: Any, values: Any) -> dict[str, dict[str, str | None]]:
    """``quality`` as JSON; a value that is absent never reads "ok" (no value is
    missing without a stated reason, whoever built the report)."""
    out = quality.to_dict()
    absent = absent_only(values).to_dict()  # the pipeline's own texts for an absent value
    for name, verdict in absent.items():
        if getattr(values, name) is None and out[name]["verdict"] == "ok":
            out[name] = verdict
    return out


def _ok(sr: SliceResult, name: str, value: Any) -> Any:
    """``value`` when the slice's verdict for ``name`` is ok, else None (never a flagged number)."""
    return value if getattr(sr.quality, name).ok else None


def _slice_dict(sr: SliceResult, disc_method: str | None = None) -> dict[str, Any]:
    m = sr.measurement
    canal = _ok(sr, "canal_area_mm2", m.canal_area_mm2)
    left = _ok(sr, "lf_thickness_left_mm", m.lf_thickness_left_mm)
    right = _ok(sr, "lf_thickness_right_mm", m.lf_thickness_right_mm)
    sides = [v for v in (left, right) if v is not None]
    return {
        "sop_instance_uid": sr.sop_instance_uid,
        "stack_id": sr.stack_id,
        "instance_number": sr.instance_number,
        "level": sr.level.level,
        "level_source": sr.level.source,
        "level_method": LevelMethod.from_source(sr.level.source, disc_method),
        "level_confidence": rnd(sr.level.confidence, CONFIDENCE_DIGITS),
        "level_uncertain": is_uncertain(sr.level.level, sr.level.confidence),
        "level_distance_mm": rnd(sr.level.distance_mm, 1),
        "canal_area_mm2": rnd(canal, AREA_DIGITS),
        "canal_area_uncertainty_mm2": rnd(
            _ok(sr, "canal_area_mm2", m.canal_area_uncertainty_mm2), AREA_DIGITS
        ),
        "lf_thickness_left_mm": rnd(left, THICKNESS_DIGITS),
        "lf_thickness_left_uncertainty_mm": rnd(
            _ok(sr, "lf_thickness_left_mm", m.lf_thickness_left_uncertainty_mm), THICKNESS_DIGITS
        ),
        "lf_thickness_right_mm": rnd(right, THICKNESS_DIGITS),
        "lf_thickness_right_uncertainty_mm": rnd(
            _ok(sr, "lf_thickness_right_mm", m.lf_thickness_right_uncertainty_mm), THICKNESS_DIGITS
        ),
        "lf_thickness_max_mm": rnd(max(sides), THICKNESS_DIGITS) if sides else None,
        "canal_ap_mm": rnd(_ok(sr, "canal_area_mm2", m.canal_ap_mm), AP_DIGITS),
        "canal_ap_uncertainty_mm": rnd(_ok(sr, "canal_area_mm2", m.canal_ap_uncertainty_mm), AP_DIGITS),
        "quality_flags": list(sr.quality_flags),
        "corrected": bool(sr.corrected),
        "quality": _quality_dict(sr.quality, sr.measurement),
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


def _identity(ident: Any) -> dict[str, Any] | None:
    if ident is None:
        return None
    return {"name": ident.get("name"), "version": ident.get("version"), "sha256": ident.get("sha256")}


def report_to_dict(report: StudyReport) -> dict[str, Any]:
    """The ``measurements.json`` document as a dict, in ``report.schema_version``
    (``"1.1"`` unless the report says ``"1"``)."""
    version = str(report.schema_version)
    if version not in SCHEMA_PATHS:
        raise ValueError(f"cannot write measurements.json schema_version {version!r}")
    model = _identity(report.model)
    prov = report.provenance or {}
    disc_method = prov.get("disc_method")
    detector = prov.get("disc_detector")
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "software": _jsonable(dict(report.software)),
        "model": model,
        "models": {
            "axial_segmenter": model,
            "sagittal_disc_detector": None if detector is None
            else {**(_identity(detector) or {}), "used": bool(detector.get("used"))},
        },
        "thresholds": _jsonable(report.thresholds.to_dict()),
        "study": _jsonable(dict(report.study)),
        "levels": [_level_dict(lv, disc_method) for lv in report.levels],
        "slices": [_slice_dict(s, disc_method) for s in report.slices],
        "warnings": [str(w) for w in report.warnings],
    }
    if report.timings_s:
        doc["timings_s"] = {k: rnd(v, 3) for k, v in report.timings_s.items()}
    return as_version_1(doc) if version == "1" else _jsonable(doc)


def as_version_1(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The version-1 document of a 1.x ``measurements.json`` dict: the fields 1.1
    added dropped, ``schema_version`` ``"1"``; valid against the version-1 schema.
    A version-1 document comes back as it was (a copy)."""
    out = {k: v for k, v in doc.items() if k not in ADDED_IN_1_1["document"]}
    out["schema_version"] = "1"
    out["levels"] = [{k: v for k, v in lv.items() if k not in ADDED_IN_1_1["level"]}
                     for lv in doc.get("levels") or ()]
    out["slices"] = [{k: v for k, v in sl.items() if k not in ADDED_IN_1_1["slice"]}
                     for sl in doc.get("slices") or ()]
    return _jsonable(out)


def is_readable_version(version: Any) -> bool:
    """True for every schema_version this code reads: ``"1"`` and any ``"1.x"``
    (a later 1.x only adds fields).

    >>> [is_readable_version(v) for v in ("1", "1.1", "1.7", "2", "2.0", None, 1)]
    [True, True, True, False, False, False, False]
    """
    return isinstance(version, str) and (version == "1" or (version.startswith("1.") and version[2:].isdigit()))


def read_measurements(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A ``measurements.json`` (version 1 or 1.x) read back as a dict; an
    :class:`~mri_measure.errors.InputError` (one line) when it is unreadable or of
    another major version. Readers use ``doc.get`` for the fields 1.1 added."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read measurements.json ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or not is_readable_version(doc.get("schema_version")):
        version = doc.get("schema_version") if isinstance(doc, dict) else None
        raise InputError(
            f"measurements.json schema_version {version!r} is not one this version reads (1, 1.x)"
        )
    return doc


def level_method_of(entry: Mapping[str, Any]) -> str:
    """``level_method`` of a levels[] / slices[] entry; for a version-1 entry, the
    method its ``level_source`` implies (``LevelMethod.from_source``)."""
    method = entry.get("level_method")
    if method:
        return str(method)
    try:
        return str(LevelMethod.from_source(entry.get("level_source") or "unknown"))
    except ValueError:
        return str(LevelMethod.NONE)


def load_schema(version: str = SCHEMA_VERSION) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``measurements.json`` ``version``
    (``"1.1"``, the one written, by default; ``"1"``)."""
    try:
        path = SCHEMA_PATHS[str(version)]
    except KeyError:
        raise ValueError(f"no measurements.json schema for version {version!r}") from None
    return json.loads(path.read_text(encoding="utf-8"))


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
    disc_method = (report.provenance or {}).get("disc_method")
    for lv in report.levels:
        row = _level_dict(lv, disc_method)
        for col, v in zip(QUALITY_COLUMNS, lv.quality.verdicts().values()):
            row[col] = None if v.ok else v.reason
        writer.writerow([_csv_cell(row[c]) for c in CSV_COLUMNS])
    return atomic_write_bytes(path, buf.getvalue().encode("utf-8"))
