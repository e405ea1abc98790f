"""``report.html``: one self-contained page (inline CSS, base64 PNG images,
no external URL, no script)."""

from __future__ import annotations

import base64
import os
from html import escape
from pathlib import Path

from ..types import StudyAnalysis
from . import content
from ._common import atomic_write_bytes
from .figures import Figures, render_figures

CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1b1b1b;
max-width:1100px;margin:24px auto;padding:0 16px;line-height:1.4}
h1{font-size:1.55em;margin:0 0 4px}
h2{font-size:1.2em;margin:28px 0 8px;border-bottom:1px solid #ccc;padding-bottom:3px}
.sub{color:#555;margin:0 0 12px}
.banner{background:#fff4d6;border:1px solid #e0b84c;padding:8px 12px;border-radius:4px}
.headline{font-size:1.12em;font-weight:600;margin:14px 0}
table{border-collapse:collapse;margin:8px 0;font-size:.93em}
th,td{border:1px solid #bbb;padding:4px 8px;text-align:center}
th{background:#eef1f5}
td.lvl{font-weight:700;white-space:nowrap}
table.levels{font-size:.88em}
table.levels td.num{white-space:nowrap}
tr.meets td{background:#e7f6e7}
td.yes{font-weight:700}
table.kv td{text-align:left}
figure{margin:12px 0 22px;page-break-inside:avoid}
figure img{max-width:100%;height:auto;border:1px solid #ccc}
figcaption{font-size:.9em;color:#333;margin-top:4px}
figure h3{margin:0 0 4px;font-size:1.05em}
ul.caveats li{margin-bottom:6px}
.warn li{color:#7a4b00}
footer{color:#666;font-size:.85em;margin-top:30px}
"""


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}">'


def render_html(analysis: StudyAnalysis, figures: Figures | None = None) -> str:
    """The report page as a string."""
    report = analysis.report
    if figures is None:
        figures = render_figures(analysis)
    sw = report.software or {}
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(content.TITLE)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(content.TITLE)}</h1>",
        f'<p class="sub">{escape(sw.get("name", "mri-measure"))} '
        f'{escape(str(sw.get("version", "")))} · axial T2 MRI · '
        "dural-sac area and ligamentum flavum (LF) thickness per disc level</p>",
        '<p class="banner"><b>Decision support, not a candidacy decision.</b> '
        "Results are preliminary and unverified until a reader has checked the outlines.</p>",
        f'<p class="headline" id="summary">{escape(content.summary_line(report))}</p>',
        '<table class="levels" id="levels"><thead><tr>',
        "".join(f"<th>{escape(h).replace(chr(10), '<br>')}</th>" for h in content.TABLE_HEADER),
        "</tr></thead><tbody>",
    ]
    for lv, row in zip(report.levels, content.table_rows(report)):
        cls = ' class="meets"' if lv.meets_mild_imaging_criteria else ""
        cells = []
        for i, cell in enumerate(row):
            c = "lvl" if i == 0 else ("yes" if cell.startswith("yes") and i >= 8 else "")
            if 2 <= i <= 7:
                c = (c + " num").strip()
            cells.append(f'<td class="{c}">{escape(cell)}</td>' if c else f"<td>{escape(cell)}</td>")
        out.append(f"<tr{cls}>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    out.append("<p>Values ± one standard uncertainty. Canal: smallest dural-sac area over the "
               "level's slices; LF: largest thickness per side.</p>")
    notes = content.quality_notes(report)
    if notes:
        out.append('<ul class="quality" id="quality">')
        out += [f"<li>{escape(n)}</li>" for n in notes]
        out.append("</ul>")

    out.append("<h2>How to read this report</h2><ul class=\"caveats\">")
    out += [f"<li>{escape(c)}</li>" for c in content.caveats(report)]
    out.append("</ul>")

    out.append("<h2>Thresholds used</h2><table class=\"kv\">")
    out += [f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>"
            for k, v in content.threshold_rows(report)]
    out.append("</table>")

    out.append("<h2>Images per level</h2>")
    out.append("<p>Outlines: <b style=\"color:#0097a7\">dural sac (cyan)</b>, "
               "<b style=\"color:#e08600\">ligamentum flavum patient-LEFT (orange)</b>, "
               "<b style=\"color:#d61fb4\">ligamentum flavum patient-RIGHT (magenta)</b>. "
               "White lines: where each thickness and the canal AP diameter were measured. "
               "Edge letters R/L/A/P come from the image orientation in the DICOM header.</p>")
    for lv in report.levels:
        png = figures.levels.get(lv.level)
        out.append(f'<figure class="level" id="level-{escape(lv.level)}">'
                   f"<h3>Level {escape(lv.level)}</h3>")
        if png is not None:
            out.append(_img(png, f"{lv.level} representative axial slice with outlines"))
        else:
            out.append("<p><i>No image available for this level.</i></p>")
        out.append(f"<figcaption>{escape(content.figure_caption(lv))}</figcaption></figure>")

    if figures.sagittal is not None:
        out.append("<h2>Sagittal overview</h2><figure class=\"sagittal\">")
        out.append(_img(figures.sagittal, "sagittal slice with disc levels marked"))
        out.append("<figcaption>Disc planes found on the sagittal series, numbered upward "
                   "from the sacrum.</figcaption></figure>")

    out.append("<h2>Warnings</h2>")
    if report.warnings:
        out.append('<ul class="warn">')
        out += [f"<li>{escape(w)}</li>" for w in report.warnings]
        out.append("</ul>")
    else:
        out.append("<p>None.</p>")

    out.append("<h2>Software and model</h2><table class=\"kv\">")
    out += [f"<tr><td>{escape(k)}</td><td>{escape(v)}</td></tr>"
            for k, v in content.software_rows(report)]
    out.append("</table>")
    out.append("<footer>Generated by mri-measure. Machine-readable results: measurements.json "
               "(schema 1), measurements.csv; DICOM SEG and SR beside this file.</footer>")
    out.append("</body></html>")
    return "\n".join(out)


def write_html(analysis: StudyAnalysis, path: str | os.PathLike[str],
               figures: Figures | None = None) -> Path:
    """Write ``report.html`` atomically. ``figures`` (from
    :func:`render_figures`) avoids rendering twice when the PDF is written too."""
    return atomic_write_bytes(path, render_html(analysis, figures).encode("utf-8"))
