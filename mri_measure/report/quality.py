"""The quality verdict of each value in ``measurements.json`` 1.1 (``quality``
on every entry of ``levels[]`` and ``slices[]``).

This is the interim verdict, from what the pipeline knows today: a value that
is ``None`` is ``not_measurable`` (the reason from the slice's quality flags,
e.g. ``no canal found``), any other value is ``ok``. :func:`value_quality` is
the one place that decides; a richer quality check replaces it with the same
JSON shape::

    {"canal_area_mm2": {"verdict": "ok" | "not_measurable", "reason": null | "<text>"},
     "lf_thickness_left_mm": {...}, "lf_thickness_right_mm": {...}}

>>> value_quality({"canal_area_mm2": 80.5, "lf_thickness_left_mm": None,
...                "lf_thickness_right_mm": None}, ["no_lf_found"])["lf_thickness_left_mm"]
{'verdict': 'not_measurable', 'reason': 'no LF found'}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: The values that carry a verdict, in order.
QUALITY_FIELDS = ("canal_area_mm2", "lf_thickness_left_mm", "lf_thickness_right_mm")
VERDICTS = ("ok", "not_measurable")

#: The quality flag (``slices[].quality_flags``) that explains a missing value.
_FLAG_OF = {
    "canal_area_mm2": "no_canal_found",
    "lf_thickness_left_mm": "no_lf_found",
    "lf_thickness_right_mm": "no_lf_found",
}
#: The reason when no flag explains it (one side missing, a level's aggregate).
_DEFAULT_REASON = {
    "canal_area_mm2": "no canal found",
    "lf_thickness_left_mm": "no LF found on the patient-left side",
    "lf_thickness_right_mm": "no LF found on the patient-right side",
}


def _words(flag: str) -> str:
    return flag.replace("_", " ").replace(" lf ", " LF ").replace("no lf", "no LF")


def value_quality(values: Mapping[str, Any], flags: Iterable[str] = ()) -> dict[str, dict[str, str | None]]:
    """``{field: {"verdict", "reason"}}`` for each of :data:`QUALITY_FIELDS`."""
    flags = set(flags)
    out: dict[str, dict[str, str | None]] = {}
    for name in QUALITY_FIELDS:
        if values.get(name) is not None:
            out[name] = {"verdict": "ok", "reason": None}
            continue
        flag = _FLAG_OF[name]
        out[name] = {"verdict": "not_measurable",
                     "reason": _words(flag) if flag in flags else _DEFAULT_REASON[name]}
    return out
