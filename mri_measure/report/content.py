"""Words and table cells shared by the HTML and PDF reports (one source of
truth for the caveats of docs/clinical.md and for how values are shown)."""

from __future__ import annotations

from typing import Any

from ..types import LevelMeasurement, StudyReport
from ..vocabulary import LevelSource
from ._common import fmt, fmt_pm, yes_no

TITLE = "Lumbar canal and ligamentum flavum measurements"

TABLE_HEADER = (
    "Level",
    "Level from",
    "Canal area (mm²)",
    "Grade",
    "AP (mm)",
    "LF left (mm)",
    "LF right (mm)",
    "LF max (mm)",
    "Canal\nnarrowed",
    "LF\nthickened",
    "Both\ncriteria",
    "Border-\nline",
)

GRADE_WORDS = {
    "absolute": "absolute (<75)",
    "relative": "relative (<100)",
    "early": "early (<130)",
    "normal": "normal (≥130)",
}


def criteria_text(report: StudyReport) -> str:
    return report.thresholds.criteria_text()


def summary_line(report: StudyReport) -> str:
    """One line: which levels meet both imaging criteria."""
    meets = [lv.level for lv in report.levels if lv.meets_mild_imaging_criteria]
    border = [lv.level for lv in report.levels if lv.borderline]
    crit = criteria_text(report)
    if not report.levels:
        text = "No disc level could be measured."
    elif meets:
        text = f"Levels meeting both imaging criteria ({crit}): {', '.join(meets)}."
    else:
        text = f"No measured level meets both imaging criteria ({crit})."
    if border:
        text += f" Borderline (within measurement uncertainty of a threshold): {', '.join(border)}."
    return text


def slices_line(report: StudyReport) -> str:
    """``"15 axial slice(s) measured; levels counted from the sacrum."`` — the second
    half says where the slices' levels came from, and only what is true."""
    sources = {s.level.source for s in report.slices if s.level.level}
    counted = sources & {"sagittal", "axial_blocks"}
    if counted and "user" in sources:
        how = "levels counted from the sacrum, some set by the user"
    elif counted:
        how = "levels counted from the sacrum"
    elif sources:
        how = "levels set by the user"
    else:
        how = "no disc level assigned"
    return f"{len(report.slices)} axial slice(s) measured; {how}."


def level_source_text(lv: LevelMeasurement) -> str:
    from ..levels.names import is_uncertain

    text = f"{LevelSource(lv.level_source).words} ({lv.level_confidence:.0%})"
    return text + " — level uncertain" if is_uncertain(lv.level, lv.level_confidence) else text


NOT_MEASURABLE = "not measurable"

VALUE_WORDS = {
    "canal_area_mm2": "canal area",
    "lf_thickness_left_mm": "LF left",
    "lf_thickness_right_mm": "LF right",
}


def _cell(lv: LevelMeasurement, name: str, text: str) -> str:
    """The value's text ("—" when absent), or "not measurable" when a check refused
    it (reason in :func:`quality_notes`)."""
    return NOT_MEASURABLE if getattr(lv.quality, name).refused else text


def quality_notes(report: StudyReport) -> list[str]:
    """One line per level value a check refused (or accepted with a reader's
    note): ``"L4-L5 canal area: not measurable: <reason>"``. Values simply not
    found stay "—" in the table, as before."""
    out = []
    for lv in report.levels:
        for name, v in lv.quality.verdicts().items():
            if v.refused:
                out.append(f"{lv.level} {VALUE_WORDS[name]}: {NOT_MEASURABLE}: {v.reason}")
            elif v.reason:
                out.append(f"{lv.level} {VALUE_WORDS[name]}: {v.reason}")
    return out


def table_rows(report: StudyReport) -> list[list[str]]:
    rows = []
    for lv in report.levels:
        rows.append([
            lv.level,
            level_source_text(lv),
            _cell(lv, "canal_area_mm2", fmt_pm(lv.canal_area_mm2, lv.canal_area_uncertainty_mm2, 1)),
            GRADE_WORDS.get(lv.canal_grade or "", "—"),
            fmt(lv.canal_ap_mm, 1),
            _cell(lv, "lf_thickness_left_mm",
                  fmt_pm(lv.lf_thickness_left_mm, lv.lf_thickness_left_uncertainty_mm, 2)),
            _cell(lv, "lf_thickness_right_mm",
                  fmt_pm(lv.lf_thickness_right_mm, lv.lf_thickness_right_uncertainty_mm, 2)),
            fmt(lv.lf_thickness_max_mm, 2),
            yes_no(lv.canal_narrowed),
            yes_no(lv.lf_thickened),
            yes_no(lv.meets_mild_imaging_criteria),
            borderline_text(lv),
        ])
    return rows


def borderline_text(lv: LevelMeasurement) -> str:
    """"no", "yes", or "yes (LF)" / "yes (canal)" / "yes (canal, LF)"."""
    if not lv.borderline:
        return "no"
    which = []
    reasons = " ".join(lv.borderline_reasons).lower()
    if "canal" in reasons or "area" in reasons:
        which.append("canal")
    if "lf" in reasons or "flavum" in reasons or "thick" in reasons:
        which.append("LF")
    return f"yes ({', '.join(which)})" if which else "yes"


def caveats(report: StudyReport) -> list[str]:
    t = report.thresholds
    return [
        "Decision support, not a candidacy decision. The tool measures imaging criteria only; "
        "symptoms (neurogenic claudication) and contraindications — e.g. spondylolisthesis "
        "> grade 1, large disc herniation, prior surgery at the level — are the physician's "
        "to weigh.",
        f"{t.lf_text()} alone is common: normal adult ligamentum flavum is about 2.2–3.5 mm "
        "and “hypertrophy” usually means > 4 mm. The canal test "
        f"({t.canal_text()}) does most of the selecting.",
        "Canal area is the dural-sac (thecal-sac) cross-sectional area in the slice's own "
        "plane — not the bony canal — and per level the smallest value over the level's "
        "slices. LF thickness is the maximum thickness perpendicular to the ligament, per "
        "side, over the level's slices. Context grades (Schönström/Bolender): < 75 mm² "
        "absolute, < 100 mm² relative, < 130 mm² early stenosis.",
        "Level numbers are counted upward from the sacrum (L5-S1 = lowest lumbar disc). "
        "Lumbar-only MRI misnumbers about 14 % of patients (transitional vertebrae): "
        "check the numbering against the sagittal images or a whole-spine localiser.",
        "“Borderline” means the value lies within its measurement uncertainty of a "
        "threshold (at 0.6–0.8 mm pixels a 2.5 mm ligament is only 3–4 pixels wide): "
        "the yes/no result at that level could flip; read the images.",
        "“Not measurable” means an automatic quality check refused the value (the model "
        "disagreed with itself, the outline is not shaped or placed like a dural sac or "
        "ligamentum flavum, or the sac is not bright on T2): no number and no criterion is "
        "reported from it. The reason is listed under the table.",
        "The segmentation model was trained on synthetic (procedurally generated) lumbar "
        "images, not on patient data. Check every outline; values are "
        "UNVERIFIED until a reader has reviewed them.",
    ]


def threshold_rows(report: StudyReport) -> list[tuple[str, str]]:
    t = report.thresholds
    grades = t.canal_grades_mm2
    rows = [
        ("LF thickened", f"max(left, right) ≥ {t.lf_threshold_mm:g} mm (inclusive)"),
        ("Canal narrowed", f"{t.canal_text()} (inclusive)"),
        ("Meets imaging criteria", "both at the same level"),
    ]
    if grades:
        rows.append(("Canal grades (context)",
                     ", ".join(f"{k} < {v:g} mm²" for k, v in grades.items())))
    return rows


def software_rows(report: StudyReport) -> list[tuple[str, str]]:
    sw = report.software or {}
    rows = [("Software", f"{sw.get('name', 'mri-measure')} {sw.get('version', '?')}")]
    model: dict[str, Any] | None = report.model
    if model:
        rows.append(("Model", f"{model.get('name', '?')} {model.get('version', '?')}"))
        if model.get("sha256"):
            rows.append(("Model sha256", str(model["sha256"])))
    else:
        rows.append(("Model", "none recorded"))
    study = report.study or {}
    if study.get("study_instance_uid"):
        rows.append(("Study Instance UID", str(study["study_instance_uid"])))
    return rows


def figure_caption(lv: LevelMeasurement) -> str:
    canal = _cell(lv, "canal_area_mm2", f"{fmt(lv.canal_area_mm2, 1)} mm²")
    left = _cell(lv, "lf_thickness_left_mm", f"{fmt(lv.lf_thickness_left_mm, 2)} mm")
    right = _cell(lv, "lf_thickness_right_mm", f"{fmt(lv.lf_thickness_right_mm, 2)} mm")
    parts = [f"{lv.level}: canal {canal}, LF left {left}, LF right {right} (level values)."]
    others = {lv.lf_thickness_left_sop_instance_uid, lv.lf_thickness_right_sop_instance_uid}
    others.discard(None)
    others.discard(lv.representative_sop_instance_uid)
    if others:
        parts.append("Shown: the slice with the smallest canal and, beside it, the slice with "
                     "the thickest ligamentum flavum; line labels give each slice's own values, "
                     "so one side's level value may come from a slice not shown.")
    return " ".join(parts)
