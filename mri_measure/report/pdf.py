"""``report.pdf``: the HTML report's content on A4 pages (reportlab).

The content frame is 174 × 243 mm, which fits both A4 (210 × 297 mm) and
US Letter (215.9 × 279.4 mm), so the file prints on either without scaling
anything off the page. Text uses Bitstream Vera Sans (shipped with
reportlab itself) so "≥", "²", "±" and "—" print; the few characters Vera
lacks are spelled out (:data:`_SPELL`).

Images are the JPEG rasters of :mod:`.figures`, embedded as they are
(binary streams: reportlab's default ASCII85 text encoding of every image
and page runs in pure Python and took most of the PDF's time).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from ..types import StudyAnalysis
from . import content
from ._common import atomic_write_bytes
from .figures import FULL_WIDTH_PX, Figures, render_figures

FRAME_W_MM = 174.0
FRAME_H_MM = 243.0
_FONTS_DONE = False

#: Characters of the package's messages that Vera Sans has no glyph for.
_SPELL = str.maketrans({"→": "->", "σ": "SD", "κ": "kappa"})


def _register_fonts() -> tuple[str, str]:
    global _FONTS_DONE
    if not _FONTS_DONE:
        import reportlab
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        ttf = Path(reportlab.__file__).parent / "fonts"
        pdfmetrics.registerFont(TTFont("MMSans", str(ttf / "Vera.ttf")))
        pdfmetrics.registerFont(TTFont("MMSans-Bold", str(ttf / "VeraBd.ttf")))
        pdfmetrics.registerFontFamily("MMSans", normal="MMSans", bold="MMSans-Bold",
                                      italic="MMSans", boldItalic="MMSans-Bold")
        _FONTS_DONE = True
    return "MMSans", "MMSans-Bold"


def render_pdf(analysis: StudyAnalysis, figures: Figures | None = None) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        Image,
        KeepTogether,
        ListFlowable,
        ListItem,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )
    from xml.sax.saxutils import escape

    report = analysis.report
    if figures is None:
        figures = render_figures(analysis)
    font, bold = _register_fonts()
    body = ParagraphStyle("body", fontName=font, fontSize=9, leading=12)
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=9.5)
    cell = ParagraphStyle("cell", parent=body, fontSize=7.2, leading=8.6, alignment=1)
    h1 = ParagraphStyle("h1", parent=body, fontName=bold, fontSize=15, leading=19,
                        spaceAfter=4)
    h2 = ParagraphStyle("h2", parent=body, fontName=bold, fontSize=11.5, leading=15,
                        spaceBefore=9, spaceAfter=4)
    headline = ParagraphStyle("headline", parent=body, fontName=bold, fontSize=10.5,
                              leading=14, spaceBefore=4, spaceAfter=6)
    banner = ParagraphStyle("banner", parent=body, backColor=colors.HexColor("#fff4d6"),
                            borderColor=colors.HexColor("#e0b84c"), borderWidth=0.6,
                            borderPadding=4, spaceBefore=4, spaceAfter=8)

    def P(text: str, style=body) -> Paragraph:
        return Paragraph(escape(text.translate(_SPELL)), style)

    sw = report.software or {}
    story = [
        P(content.TITLE, h1),
        P(f"{sw.get('name', 'mri-measure')} {sw.get('version', '')} · axial T2 MRI · "
          "dural-sac area and ligamentum flavum (LF) thickness per disc level", small),
        Spacer(1, 3 * mm),
        Paragraph("<b>Decision support, not a candidacy decision.</b> Results are preliminary "
                  "and unverified until a reader has checked the outlines.", banner),
        P(content.summary_line(report), headline),
    ]

    head = ParagraphStyle("head", parent=cell, fontSize=6.6, leading=8)
    header = [Paragraph("<b>" + escape(h).replace("\n", "<br/>") + "</b>", head)
              for h in content.TABLE_HEADER]
    data = [header] + [[Paragraph(escape(c.translate(_SPELL)), cell) for c in row]
                       for row in content.table_rows(report)]
    widths_mm = (12, 16, 20, 15, 10, 17, 17, 11, 15, 15, 12, 14)
    table = Table(data, colWidths=[w * mm for w in widths_mm], repeatRows=1)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef1f5")),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LEFTPADDING", (0, 0), (-1, -1), 2),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2),
    ]
    for i, lv in enumerate(report.levels, start=1):
        if lv.meets_mild_imaging_criteria:
            style.append(("BACKGROUND", (0, i), (-1, i), colors.HexColor("#e7f6e7")))
    table.setStyle(TableStyle(style))
    story += [table, Spacer(1, 1.5 * mm),
              P("Values ± one standard uncertainty. Canal: smallest dural-sac area over the "
                "level's slices; LF: largest thickness per side.", small)]
    story += [P(n, small) for n in content.quality_notes(report)]

    story.append(P("How to read this report", h2))
    story.append(ListFlowable(
        [ListItem(P(c, small), leftIndent=10) for c in content.caveats(report)],
        bulletType="bullet", start="•", leftIndent=10, bulletFontName=font))

    story.append(P("Thresholds used", h2))
    kv = Table([[P(k, small), P(v, small)] for k, v in content.threshold_rows(report)],
               colWidths=[45 * mm, 125 * mm])
    kv.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#bbbbbb"))]))
    story.append(kv)

    story.append(P("Images per level", h2))
    story.append(P("Outlines: dural sac cyan, ligamentum flavum patient-LEFT orange, "
                   "patient-RIGHT magenta; white lines show where thicknesses and the canal "
                   "AP diameter were measured; edge letters from the DICOM orientation.", small))
    for lv in report.levels:
        raster = figures.jpeg.get(lv.level) or figures.levels.get(lv.level)
        block = [P(f"Level {lv.level}", h2)]
        if raster is not None:
            img = Image(io.BytesIO(raster))
            # one px → mm scale for every level figure (the widest fills the frame)
            scale = min(FRAME_W_MM * mm / img.imageWidth, FRAME_W_MM * mm / FULL_WIDTH_PX)
            img.drawWidth, img.drawHeight = img.imageWidth * scale, img.imageHeight * scale
            block.append(img)
        else:
            block.append(P("No image available for this level.", small))
        block.append(P(content.figure_caption(lv), small))
        story.append(KeepTogether(block))

    if figures.sagittal is not None:
        img = Image(io.BytesIO(figures.jpeg.get("sagittal") or figures.sagittal))
        scale = min((100 * mm) / img.imageWidth, (150 * mm) / img.imageHeight)
        img.drawWidth, img.drawHeight = img.imageWidth * scale, img.imageHeight * scale
        story.append(KeepTogether([
            P("Sagittal overview", h2), img,
            P("Disc planes found on the sagittal series, numbered upward from the sacrum.",
              small)]))

    story.append(P("Warnings", h2))
    for w in report.warnings or ("None.",):
        story.append(P(f"• {w}", small))

    story.append(P("Software and model", h2))
    sw_table = Table([[P(k, small), P(v, small)] for k, v in content.software_rows(report)],
                     colWidths=[35 * mm, 135 * mm])
    sw_table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#bbbbbb"))]))
    story.append(sw_table)

    page_w, page_h = A4
    side = (page_w - FRAME_W_MM * mm) / 2
    top = 16 * mm
    bottom = page_h - top - FRAME_H_MM * mm

    def footer(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(font, 7)
        canvas.drawString(side, bottom - 8 * mm,
                          "mri-measure · decision support, not a candidacy decision · "
                          "preliminary, unverified")
        canvas.drawRightString(page_w - side, bottom - 8 * mm, f"page {doc.page}")
        canvas.restoreState()

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=side, rightMargin=side,
                            topMargin=top, bottomMargin=bottom, title=content.TITLE,
                            author="mri-measure", subject="lumbar spine MRI measurements",
                            creator="mri-measure", invariant=1)
    from reportlab import rl_config

    a85 = rl_config.useA85
    rl_config.useA85 = 0  # binary streams; restored for other reportlab users
    try:
        doc.build(story, onFirstPage=footer, onLaterPages=footer)
    finally:
        rl_config.useA85 = a85
    return buf.getvalue()


def write_pdf(analysis: StudyAnalysis, path: str | os.PathLike[str],
              figures: Figures | None = None) -> Path:
    """Write ``report.pdf`` atomically (A4; content fits US Letter)."""
    return atomic_write_bytes(path, render_pdf(analysis, figures))
