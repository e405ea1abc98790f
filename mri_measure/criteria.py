"""mild-procedure imaging thresholds: values, direction and inclusivity.

Defaults follow docs/clinical.md: ligamentum flavum thickened when
max(left, right) >= 2.5 mm; canal narrowed when dural-sac area <= 100 mm²;
both inclusive. The thresholds used are recorded in every output
(:meth:`Thresholds.to_dict`).

>>> t = Thresholds()
>>> t.lf_thickened(2.5), t.lf_thickened(2.49)
(True, False)
>>> t.canal_narrowed(100.0), t.canal_narrowed(100.01)
(True, False)
>>> t.meets(90.0, 3.0), t.meets(120.0, None), t.meets(90.0, None)
(True, False, None)
>>> Thresholds.from_dict(Thresholds(3.0, 90.0).to_dict())
Thresholds(lf_threshold_mm=3.0, canal_threshold_mm2=90.0)
>>> canal_grade(74.0), canal_grade(99.0), canal_grade(129.0), canal_grade(150.0)
('absolute', 'relative', 'early', 'normal')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import OptionError
from .levels.names import level_sort_key
from .vocabulary import LEVEL_SOURCE_PRECEDENCE, LevelSource

if TYPE_CHECKING:  # types is imported where levels are built: importing criteria stays cheap
    from .types import LevelMeasurement, SliceResult

#: Ligamentum flavum thickened when max(left, right) >= this (mm, inclusive).
DEFAULT_LF_THRESHOLD_MM = 2.5
#: Canal narrowed when the dural-sac area <= this (mm², inclusive).
DEFAULT_CANAL_THRESHOLD_MM2 = 100.0

CANAL_GRADES_MM2 = (
    (75.0, "absolute"),  # < 75 mm²: absolute stenosis (Schönström / Bolender)
    (100.0, "relative"),  # < 100 mm²: relative stenosis
    (130.0, "early"),  # < 130 mm²: early stenosis
)


@dataclass(frozen=True)
class Thresholds:
    """The two mild imaging criteria: values, direction and inclusivity in one object.

    Carried as is in :attr:`mri_measure.types.StudyReport.thresholds`; every
    reader asks it (:meth:`lf_thickened`, :meth:`canal_narrowed`, :meth:`meets`,
    :meth:`criteria_text`) instead of comparing by itself. It becomes a dict only
    in ``measurements.json`` (:meth:`to_dict`), and comes back with :meth:`from_dict`.
    """

    lf_threshold_mm: float = DEFAULT_LF_THRESHOLD_MM
    canal_threshold_mm2: float = DEFAULT_CANAL_THRESHOLD_MM2

    def __post_init__(self) -> None:
        if not (0.0 < self.lf_threshold_mm < 20.0):
            raise OptionError(
                f"LF threshold must be between 0 and 20 mm, got {self.lf_threshold_mm:g}"
            )
        if not (0.0 < self.canal_threshold_mm2 < 1000.0):
            raise OptionError(
                "canal threshold must be between 0 and 1000 mm², "
                f"got {self.canal_threshold_mm2:g}"
            )

    def lf_thickened(self, lf_max_mm: float | None) -> bool | None:
        """max(left, right) LF thickness >= threshold (inclusive)."""
        if lf_max_mm is None:
            return None
        return lf_max_mm >= self.lf_threshold_mm

    def canal_narrowed(self, canal_area_mm2: float | None) -> bool | None:
        """Dural-sac area <= threshold (inclusive)."""
        if canal_area_mm2 is None:
            return None
        return canal_area_mm2 <= self.canal_threshold_mm2

    def meets(self, canal_area_mm2: float | None, lf_max_mm: float | None) -> bool | None:
        """Both criteria at one level: True when both hold, False when either is known
        not to, None when one is unknown and the other holds (or both are unknown)."""
        narrowed = self.canal_narrowed(canal_area_mm2)
        thickened = self.lf_thickened(lf_max_mm)
        if narrowed is False or thickened is False:
            return False
        if narrowed is None or thickened is None:
            return None
        return True

    @property
    def canal_grades_mm2(self) -> dict[str, float]:
        """Context grades of the dural-sac area: name -> upper limit (exclusive), mm²."""
        return {name: limit for limit, name in CANAL_GRADES_MM2}

    def lf_text(self) -> str:
        """``LF ≥ 2.5 mm``"""
        return f"LF ≥ {self.lf_threshold_mm:g} mm"

    def canal_text(self) -> str:
        """``dural-sac area ≤ 100 mm²``"""
        return f"dural-sac area ≤ {self.canal_threshold_mm2:g} mm²"

    def criteria_text(self) -> str:
        """``LF ≥ 2.5 mm and dural-sac area ≤ 100 mm²``"""
        return f"{self.lf_text()} and {self.canal_text()}"

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Thresholds:
        """The thresholds recorded in a ``measurements.json`` ``thresholds`` object
        (:meth:`to_dict`); a missing value is an :class:`~mri_measure.errors.InputError`."""
        from .errors import InputError

        try:
            return cls(
                lf_threshold_mm=float(doc["lf_thickness_mm"]["value"]),
                canal_threshold_mm2=float(doc["canal_area_mm2"]["value"]),
            )
        except (KeyError, TypeError, ValueError):
            raise InputError(
                "the thresholds object has no lf_thickness_mm.value / canal_area_mm2.value; "
                "is it a measurements.json (schema_version 1) written by mri-measure?"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "lf_thickness_mm": {
                "value": self.lf_threshold_mm,
                "comparison": ">=",
                "inclusive": True,
                "applies_to": "max(left, right) ligamentum flavum thickness",
            },
            "canal_area_mm2": {
                "value": self.canal_threshold_mm2,
                "comparison": "<=",
                "inclusive": True,
                "applies_to": "dural-sac cross-sectional area",
            },
            "canal_grades_mm2": self.canal_grades_mm2,
        }


def canal_grade(canal_area_mm2: float | None) -> str | None:
    """Classic dural-sac area grade: 'absolute' < 75, 'relative' < 100,
    'early' < 130 mm², else 'normal'."""
    if canal_area_mm2 is None:
        return None
    for limit, name in CANAL_GRADES_MM2:
        if canal_area_mm2 < limit:
            return name
    return "normal"


# ---------------------------------------------------------------- per level

BORDERLINE_Z = 1.96
"""A value is borderline when value ± BORDERLINE_Z × uncertainty straddles its threshold."""


def aggregate_levels(slice_results: Sequence[SliceResult], thresholds: Thresholds) -> tuple[LevelMeasurement, ...]:
    """Per disc level: canal = minimum over the level's slices, LF = maximum per side.

    Slices without a level (``level.level is None``) are skipped; levels come
    out in anatomical order. The slice that gave each value is kept;
    ``representative_sop_instance_uid`` is the canal-minimum slice, or the
    slice of the larger LF when no canal was measured, and ``canal_ap_mm``
    comes from it. ``level_source`` is the most common source among the
    level's slices (ties: user > sagittal > axial_blocks > unknown; a slice the
    user re-assigned carries source "user" and counts as such) and
    ``level_confidence`` the lowest confidence among them.
    ``meets_mild_imaging_criteria`` is True only when both criteria hold at
    this level, False when either is known False, else None. A criterion is
    ``borderline`` when its value ± 1.96 × its uncertainty straddles the
    threshold (for LF: when max(left, right) could fall on either side).

    >>> from mri_measure.types import SliceResult, SliceMeasurement, LevelAssignment
    >>> def res(uid, canal, lf):
    ...     m = SliceMeasurement(canal_area_mm2=canal, canal_area_uncertainty_mm2=2.0,
    ...                          lf_thickness_left_mm=lf, lf_thickness_left_uncertainty_mm=0.1)
    ...     return SliceResult(uid, "3.1", None, LevelAssignment("L4-L5", "sagittal", 0.9), m)
    >>> (lvl,) = aggregate_levels([res("a", 120.0, 2.0), res("b", 90.0, 3.1)], Thresholds())
    >>> lvl.canal_area_mm2, lvl.canal_area_sop_instance_uid, lvl.lf_thickness_max_mm
    (90.0, 'b', 3.1)
    >>> lvl.meets_mild_imaging_criteria, lvl.canal_grade, lvl.borderline
    (True, 'relative', False)
    """
    if not isinstance(thresholds, Thresholds):
        raise OptionError(
            f"thresholds must be a criteria.Thresholds, got {type(thresholds).__name__}; "
            "build one with Thresholds(lf_threshold_mm=..., canal_threshold_mm2=...)"
        )
    groups: dict[str, list[SliceResult]] = {}
    for res in slice_results:
        if res.level is None or res.level.level is None:
            continue
        groups.setdefault(res.level.level, []).append(res)
    return tuple(
        _aggregate_one(name, groups[name], thresholds)
        for name in sorted(groups, key=level_sort_key)
    )


def _extreme(
    results: Sequence[SliceResult], value: str, pick: Callable[[float, float], bool]
) -> tuple[Any, Any, Any, Any]:
    """(value, uncertainty, uid) of the slice with the min/max of a measurement."""
    best = None
    for res in results:
        v = getattr(res.measurement, value)
        if v is None or not getattr(res.quality, value).ok:  # a flagged value is never used
            continue
        if best is None or pick(v, best[0]):
            u = getattr(res.measurement, value.replace("_mm", "_uncertainty_mm", 1))
            best = (v, u, res.sop_instance_uid, res)
    return best if best is not None else (None, None, None, None)


def _level_source(results: Sequence[SliceResult]) -> tuple[LevelSource, float]:
    counts: dict[LevelSource, int] = {}
    for res in results:
        counts[res.level.source] = counts.get(res.level.source, 0) + 1

    def rank(src: LevelSource) -> tuple[int, int]:
        return (-counts[src], LEVEL_SOURCE_PRECEDENCE.index(src))

    source = min(counts, key=rank)
    return source, min(float(res.level.confidence) for res in results)


def straddles_threshold(value: float | None, uncertainty: float | None, threshold: float) -> bool:
    """True when ``value`` ± 1.96 × ``uncertainty`` contains ``threshold`` (a borderline call).

    >>> straddles_threshold(2.6, 0.1, 2.5), straddles_threshold(2.9, 0.1, 2.5), straddles_threshold(2.6, None, 2.5)
    (True, False, False)
    """
    if value is None or not uncertainty or uncertainty <= 0:
        return False
    half = BORDERLINE_Z * uncertainty
    return value - half <= threshold <= value + half


def _aggregate_one(name: str, results: list[SliceResult], t: Thresholds) -> LevelMeasurement:
    canal, canal_u, canal_uid, canal_res = _extreme(results, "canal_area_mm2", lambda a, b: a < b)
    left, left_u, left_uid, left_res = _extreme(results, "lf_thickness_left_mm", lambda a, b: a > b)
    right, right_u, right_uid, right_res = _extreme(results, "lf_thickness_right_mm", lambda a, b: a > b)
    sides = [(s, v, u, r) for s, v, u, r in (("left", left, left_u, left_res), ("right", right, right_u, right_res)) if v is not None]
    lf_max = max((v for _, v, _, _ in sides), default=None)

    from .types import LevelMeasurement

    canal_narrowed = t.canal_narrowed(canal)
    lf_thickened = t.lf_thickened(lf_max)
    meets = t.meets(canal, lf_max)

    reasons: list[str] = []
    if straddles_threshold(canal, canal_u, t.canal_threshold_mm2):
        reasons.append(
            f"canal area {canal:.0f} ± {BORDERLINE_Z * canal_u:.0f} mm² straddles the "
            f"{t.canal_threshold_mm2:g} mm² threshold"
        )
    if sides:
        lo = max(v - BORDERLINE_Z * (u or 0.0) for _, v, u, _ in sides)
        hi = max(v + BORDERLINE_Z * (u or 0.0) for _, v, u, _ in sides)
        if lo <= t.lf_threshold_mm <= hi and lo < hi:
            for side, v, u, _ in sides:
                if straddles_threshold(v, u, t.lf_threshold_mm):
                    reasons.append(
                        f"LF thickness {side} {v:.1f} ± {BORDERLINE_Z * u:.1f} mm straddles the "
                        f"{t.lf_threshold_mm:g} mm threshold"
                    )

    if canal_res is not None:
        rep = canal_res
    elif sides:
        rep = max(sides, key=lambda s: s[1])[3]
    else:
        rep = None
    source, confidence = _level_source(results)
    from .types import Quality

    quality = Quality(**{
        value: _level_verdict(results, value, uid)
        for value, uid in (("canal_area_mm2", canal_uid), ("lf_thickness_left_mm", left_uid),
                           ("lf_thickness_right_mm", right_uid))
    })
    canal_ap = rep.measurement.canal_ap_mm if rep is not None else None
    if rep is not None and rep.measurement.canal_area_mm2 is not None and not rep.quality.canal_area_mm2.ok:
        canal_ap = None  # the sac of that slice was refused: so is its AP diameter
    return LevelMeasurement(
        level=name,
        level_source=source,
        level_confidence=confidence,
        canal_area_mm2=canal,
        canal_area_uncertainty_mm2=canal_u,
        lf_thickness_left_mm=left,
        lf_thickness_left_uncertainty_mm=left_u,
        lf_thickness_right_mm=right,
        lf_thickness_right_uncertainty_mm=right_u,
        lf_thickness_max_mm=lf_max,
        canal_ap_mm=canal_ap,
        canal_narrowed=canal_narrowed,
        lf_thickened=lf_thickened,
        meets_mild_imaging_criteria=meets,
        borderline=bool(reasons),
        borderline_reasons=tuple(reasons),
        canal_grade=canal_grade(canal),
        representative_sop_instance_uid=rep.sop_instance_uid if rep is not None else None,
        canal_area_sop_instance_uid=canal_uid,
        lf_thickness_left_sop_instance_uid=left_uid,
        lf_thickness_right_sop_instance_uid=right_uid,
        slice_sop_instance_uids=tuple(r.sop_instance_uid for r in results),
        quality=quality,
    )


def _level_verdict(results: Sequence[SliceResult], value: str, uid: str | None) -> Any:
    """A level's verdict for one value: that of the slice the value came from, or
    (no ok slice) not measurable with the most common reason among its slices."""
    from .types import NOT_MEASURABLE, Verdict

    if uid is not None:
        for res in results:
            if res.sop_instance_uid == uid:
                return getattr(res.quality, value)
    counts: dict[tuple[str, str | None], int] = {}
    for res in results:
        v = getattr(res.quality, value)
        if not v.ok and v.reason:
            key = (v.reason, v.flag)
            counts[key] = counts.get(key, 0) + 1
    if not counts:
        return Verdict(NOT_MEASURABLE, "not found on any slice of the level", "not_found")
    (reason, flag), n = max(counts.items(), key=lambda kv: kv[1])
    more = len(results) - n
    note = f" ({n} of {len(results)} slices; others differ)" if more else ""
    return Verdict(NOT_MEASURABLE, reason + note, flag)
