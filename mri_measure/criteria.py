"""mild-procedure imaging thresholds: values, direction and inclusivity.

Defaults follow CLINICAL.md: ligamentum flavum thickened when
max(left, right) >= 2.5 mm; canal narrowed when dural-sac area <= 100 mm²;
both inclusive. The thresholds used are recorded in every output
(:meth:`Thresholds.to_dict`).

>>> t = Thresholds()
>>> t.lf_thickened(2.5), t.lf_thickened(2.49)
(True, False)
>>> t.canal_narrowed(100.0), t.canal_narrowed(100.01)
(True, False)
>>> canal_grade(74.0), canal_grade(99.0), canal_grade(129.0), canal_grade(150.0)
('absolute', 'relative', 'early', 'normal')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import OptionError

CANAL_GRADES_MM2 = (
    (75.0, "absolute"),  # < 75 mm²: absolute stenosis (Schönström / Bolender)
    (100.0, "relative"),  # < 100 mm²: relative stenosis
    (130.0, "early"),  # < 130 mm²: early stenosis
)


@dataclass(frozen=True)
class Thresholds:
    lf_threshold_mm: float = 2.5
    canal_threshold_mm2: float = 100.0

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
            "canal_grades_mm2": {name: limit for limit, name in CANAL_GRADES_MM2},
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
