"""Figures for the human report, rendered once as PNG (and JPEG) bytes with
numpy + Pillow (:mod:`._raster`) and reused by the HTML and PDF writers.

* per level: the representative axial slice, cropped to a 60 mm box around
  the dural sac, with label outlines (canal cyan, LF patient-left orange,
  LF patient-right magenta), the LF thickness lines and the canal AP line,
  edge letters from ImageOrientationPatient, a 10 mm scale bar, a full-slice
  thumbnail with the crop box and a legend;
* a sagittal overview: the middle sagittal slice with each disc plane drawn
  as a short line through its centre and labelled.

Images are drawn in millimetres (pixel centre ``i`` at ``(i + 0.5) ×``
PixelSpacing), so the aspect ratio is physical whatever the pixel spacing.
No matplotlib: drawing the figures this way takes milliseconds, and the
measure path does not pay matplotlib's import.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..types import LevelMeasurement, SliceInfo, SliceMeasurement, StudyAnalysis
from ..vocabulary import Label
from ._common import find_slice, fmt
from ._raster import Canvas, encode, grey, resample, window

CANAL_COLOUR = "#00e5ff"  # cyan
LF_LEFT_COLOUR = "#ff9800"  # orange
LF_RIGHT_COLOUR = "#ff2bd6"  # magenta
DISC_COLOUR = "#ffff00"  # yellow
CROP_MM = 60.0

LABEL_STYLE = (
    (Label.CANAL, CANAL_COLOUR, "Dural sac (canal)"),
    (Label.LF_LEFT, LF_LEFT_COLOUR, "Lig. flavum, patient-LEFT"),
    (Label.LF_RIGHT, LF_RIGHT_COLOUR, "Lig. flavum, patient-RIGHT"),
)

# layout, in final pixels
MARGIN = 8.0
TITLE_H = 19.0
PANEL_TWO = 320.0  # two slice panels side by side
PANEL_ONE = 380.0  # one slice panel
RIGHT_W = 205.0  # thumbnail + legend column
GAP = 8.0
#: Width of the widest level figure (two panels): the PDF draws every figure
#: at the scale that fits this width into its frame, so text sizes match.
FULL_WIDTH_PX = MARGIN + 2 * PANEL_TWO + GAP + 1.5 * GAP + RIGHT_W + MARGIN
SAGITTAL_W = 460.0


@dataclass
class Figures:
    """PNG bytes: one per level name (absent when the level has no image) and
    the sagittal overview (``None`` without sagittal stack or discs).

    ``jpeg`` holds the same rasters as JPEG (keys: level names and
    ``"sagittal"``) for the PDF: reportlab embeds JPEG as is, whereas a PNG
    would be decoded and recompressed (slow)."""

    levels: dict[str, bytes] = field(default_factory=dict)
    sagittal: bytes | None = None
    jpeg: dict[str, bytes] = field(default_factory=dict)


def _letter(vec) -> str:
    """DICOM LPS: +x patient left, +y posterior, +z superior (head)."""
    v = np.asarray(vec, dtype=float)
    axis = int(np.argmax(np.abs(v)))
    positive = v[axis] >= 0
    return (("L", "R"), ("P", "A"), ("S", "I"))[axis][0 if positive else 1]


def orientation_letters(orientation) -> dict[str, str]:
    """Letters for the four image edges from ImageOrientationPatient.

    >>> orientation_letters((1, 0, 0, 0, 1, 0))
    {'left': 'R', 'right': 'L', 'top': 'A', 'bottom': 'P'}
    >>> orientation_letters((0, 1, 0, 0, 0, -1))
    {'left': 'A', 'right': 'P', 'top': 'S', 'bottom': 'I'}
    """
    row = np.asarray(orientation[:3], dtype=float)
    col = np.asarray(orientation[3:6], dtype=float)
    return {
        "left": _letter(-row),
        "right": _letter(row),
        "top": _letter(-col),
        "bottom": _letter(col),
    }




class _View:
    """Maps an image's millimetres (x along columns, y along rows, from the
    outer corner of the first pixel) onto a canvas region."""

    def __init__(self, box_mm: tuple[float, float, float, float], origin: tuple[float, float],
                 px_per_mm: float):
        self.x0, self.y0, self.x1, self.y1 = box_mm  # left, top, right, bottom (mm)
        self.ox, self.oy = origin
        self.s = px_per_mm

    def mm(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        return self.ox + (x_mm - self.x0) * self.s, self.oy + (y_mm - self.y0) * self.s

    def px(self, row: float, col: float, spacing) -> tuple[float, float]:
        dr, dc = spacing
        return self.mm((col + 0.5) * dc, (row + 0.5) * dr)

    @property
    def size(self) -> tuple[float, float]:
        return (self.x1 - self.x0) * self.s, (self.y1 - self.y0) * self.s


def _image(canvas: Canvas, img: np.ndarray, spacing, view: _View, vmin: float,
           vmax: float) -> None:
    """Paste the windowed slice region ``view`` covers."""
    dr, dc = spacing
    box = (view.x0 / dc, view.y0 / dr, view.x1 / dc, view.y1 / dr)
    canvas.paste(resample(grey(img, vmin, vmax), box, view.size), (view.ox, view.oy))


def _edge_letters(canvas: Canvas, letters: dict[str, str], box: tuple[float, float, float, float],
                  size: float = 15.0) -> None:
    """Orientation letters inside the four edges of ``box`` (x0, y0, x1, y1 px)."""
    x0, y0, x1, y1 = box
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    dx, dy = 0.03 * (x1 - x0) + 2, 0.03 * (y1 - y0) + 2
    style = {"size": size, "colour": "white", "halo": 2.0, "bold": True}
    canvas.text((x0 + dx, ym), letters["left"], anchor="lm", **style)
    canvas.text((x1 - dx, ym), letters["right"], anchor="rm", **style)
    canvas.text((xm, y0 + dy), letters["top"], anchor="mt", **style)
    canvas.text((xm, y1 - dy), letters["bottom"], anchor="mb", **style)


def _contours(canvas: Canvas, labels: np.ndarray, spacing, view: _View, width: float) -> None:
    from skimage.measure import find_contours

    for value, colour, _ in LABEL_STYLE:
        mask = labels == value
        if not mask.any():
            continue
        padded = np.pad(mask, 1).astype(np.float32)
        for c in find_contours(padded, 0.5):
            pts = [view.px(r - 1, q - 1, spacing) for r, q in c]
            canvas.polyline(pts, colour, width)


def _measure_lines(canvas: Canvas, m: SliceMeasurement, spacing, view: _View) -> None:
    """Draw the measurement lines; LF labels go outward (away from the sac's
    midline) so left and right labels never overlap."""
    items = (
        (m.lf_left_line_px, LF_LEFT_COLOUR, False, m.lf_thickness_left_mm, 2, "mm"),
        (m.lf_right_line_px, LF_RIGHT_COLOUR, False, m.lf_thickness_right_mm, 2, "mm"),
        (m.canal_ap_line_px, CANAL_COLOUR, True, m.canal_ap_mm, 1, "mm AP"),
    )
    ends = {id(line): (view.px(*line[0], spacing), view.px(*line[1], spacing))
            for line, *_ in items if line is not None}
    if m.canal_ap_line_px is not None:
        a, b = ends[id(m.canal_ap_line_px)]
        midline = (a[0] + b[0]) / 2
    else:
        xs = [(a[0] + b[0]) / 2 for a, b in ends.values()]
        midline = float(np.mean(xs)) if xs else 0.0
    s = view.s
    for line, colour, dashed, value, digits, unit in items:
        if line is None:
            continue
        a, b = ends[id(line)]
        if dashed:
            canvas.dashed(a, b, "white", 1.6, outline=1.0)
        else:
            canvas.polyline((a, b), "white", 1.6, outline=1.0)
        for p in (a, b):
            canvas.dot(p, 1.7, "white", outline=0.8)
        if value is None:
            continue
        xs, ys = (a[0], b[0]), (a[1], b[1])
        if dashed:  # AP: label beside the upper end
            at, anchor = (max(xs) + 1.5 * s, min(ys) + 1.0 * s), "lt"
        elif np.mean(xs) >= midline:  # LF on the image right: label to the right
            at, anchor = (max(xs) + 1.0 * s, max(ys) + 0.5 * s), "lt"
        else:
            at, anchor = (min(xs) - 1.0 * s, max(ys) + 0.5 * s), "rt"
        canvas.text(at, f"{fmt(value, digits)} {unit}", size=12.5, colour=colour,
                    anchor=anchor, halo=1.6, bold=True)


def _crop_box(labels: np.ndarray, spacing, shape) -> tuple[float, float, float, float]:
    """(x0, x1, y_bottom, y_top) in mm: a CROP_MM square around the sac."""
    dr, dc = spacing
    rows, cols = shape
    mask = labels == Label.CANAL
    if not mask.any():
        mask = labels > 0
    if mask.any():
        rr, cc = np.nonzero(mask)
        cy, cx = (rr.mean() + 0.5) * dr, (cc.mean() + 0.5) * dc
        cy += 6.0  # include the LF behind the sac
    else:
        cy, cx = rows * dr / 2, cols * dc / 2
    h = CROP_MM / 2
    height, width = rows * dr, cols * dc
    x0 = min(max(cx - h, 0.0), max(width - CROP_MM, 0.0))
    y1 = min(max(cy - h, 0.0), max(height - CROP_MM, 0.0))
    return x0, min(x0 + CROP_MM, width), min(y1 + CROP_MM, height), y1


def _lf_key(level: LevelMeasurement) -> str | None:
    """Slice key that gave the level's largest LF value (either side)."""
    left, right = level.lf_thickness_left_mm, level.lf_thickness_right_mm
    if left is None and right is None:
        return None
    if right is None or (left is not None and left >= right):
        return level.lf_thickness_left_sop_instance_uid
    return level.lf_thickness_right_sop_instance_uid


def _fit(box_mm: tuple[float, float, float, float], at: tuple[float, float],
         size: tuple[float, float]) -> _View:
    """A view showing ``box_mm`` as large as fits in ``size`` px at ``at``, centred."""
    w_mm, h_mm = box_mm[2] - box_mm[0], box_mm[3] - box_mm[1]
    s = min(size[0] / w_mm, size[1] / h_mm)
    ox = at[0] + (size[0] - w_mm * s) / 2
    oy = at[1] + (size[1] - h_mm * s) / 2
    return _View(box_mm, (ox, oy), s)


def shown_measurement(sa, i: int) -> SliceMeasurement:
    """Slice ``i``'s measurement without the values (and lines) a quality check
    refused (:func:`mri_measure.measure.quality.reported`): never drawn as a number."""
    from ..measure.quality import reported

    m = sa.measurements[i]
    if len(getattr(sa, "qualities", ())) != len(sa.measurements):
        return m
    return reported(m, sa.qualities[i])


def _slice_panel(canvas: Canvas, sa, i: int, title: str, at: tuple[float, float],
                 size: float) -> tuple[float, float, float, float]:
    """Crop of slice ``i`` with outlines, measurement lines, edge letters and a
    10 mm scale bar in the square ``size`` px panel at ``at`` (below a title
    line); returns the crop box (x0, x1, y_bottom, y_top) in mm."""
    info: SliceInfo = sa.loaded.slices[i]
    img = sa.loaded.pixels[i]
    labels = sa.labels[i]
    spacing = info.spacing_mm
    canvas.text((at[0], at[1] + TITLE_H - 5), title, size=11.0, anchor="ls")
    top = at[1] + TITLE_H
    x0, x1, yb, yt = _crop_box(labels, spacing, img.shape)
    panel = Canvas(size, size, background="black")
    view = _fit((x0, yt, x1, yb), (0.0, 0.0), (size, size))
    vmin, vmax = window(img)
    _image(panel, img, spacing, view, vmin, vmax)
    _contours(panel, labels, spacing, view, width=1.6)
    _measure_lines(panel, shown_measurement(sa, i), spacing, view)
    w, h = view.size
    box = (view.ox, view.oy, view.ox + w, view.oy + h)
    _edge_letters(panel, orientation_letters(info.orientation), box)
    bar_y = view.oy + h - 3 * view.s
    bar = (view.ox + 3 * view.s, view.ox + 13 * view.s)
    panel.polyline(((bar[0], bar_y), (bar[1], bar_y)), "white", 3.0, outline=0.8)
    panel.text(((bar[0] + bar[1]) / 2, bar_y - 3), "10 mm", size=11.0, colour="white", bold=True,
               anchor="mb", halo=1.2)
    canvas.paste(panel.image, (at[0], top))
    canvas.rectangle((at[0], top, at[0] + size, top + size), "#888888", width=1.0)
    return x0, x1, yb, yt


def _image_name(sa, i: int) -> str:
    info = sa.loaded.slices[i]
    number = info.instance_number if info.instance_number is not None else "?"
    return f"image {number} (stack {sa.loaded.stack.stack_id}, slice {i + 1}/{len(sa.loaded.slices)})"


def _thumbnail(canvas: Canvas, img: np.ndarray, info: SliceInfo, crop, at, size) -> float:
    """The whole slice with the crop box in yellow; returns its bottom (px)."""
    dr, dc = info.spacing_mm
    rows, cols = img.shape
    full = (0.0, 0.0, cols * dc, rows * dr)
    view = _fit(full, at, size)
    w, h = view.size
    view = _View(full, (at[0], at[1]), view.s)  # left-aligned, top-aligned
    vmin, vmax = window(img)
    _image(canvas, img, (dr, dc), view, vmin, vmax)
    x0, x1, yb, yt = crop
    (bx0, by0), (bx1, by1) = view.mm(x0, yt), view.mm(x1, yb)
    canvas.rectangle((bx0, by0, bx1, by1), DISC_COLOUR, width=1.4)
    _edge_letters(canvas, orientation_letters(info.orientation),
                  (at[0], at[1], at[0] + w, at[1] + h), size=13.0)
    return at[1] + h


def _legend(canvas: Canvas, at: tuple[float, float], letters: dict[str, str]) -> None:
    x, y = at
    row = 17.0
    for _, colour, name in LABEL_STYLE:
        canvas.polyline(((x, y), (x + 22, y)), colour, 3.0)
        canvas.text((x + 30, y), name, size=10.5, anchor="lm")
        y += row
    canvas.polyline(((x, y), (x + 22, y)), "black", 1.6)
    for p in ((x, y), (x + 22, y)):
        canvas.dot(p, 1.8, "black")
    canvas.text((x + 30, y), "LF thickness line", size=10.5, anchor="lm")
    y += row
    canvas.dashed((x, y), (x + 22, y), "black", 1.6)
    canvas.text((x + 30, y), "Canal AP diameter", size=10.5, anchor="lm")
    y += row + 4
    where = next((edge for edge, letter in letters.items() if letter == "L"), "edge marked L")
    canvas.text((x, y), f"Patient left is on the image {where}\n(edge letters from the\n"
                "DICOM orientation). Yellow box:\narea shown enlarged.", size=9.5,
                colour="#222222", anchor="la")


def render_level(analysis: StudyAnalysis, level: LevelMeasurement) -> tuple[bytes, bytes] | None:
    """(PNG, JPEG) of a level's representative slice, or ``None`` when it has none.

    When the largest LF value of the level comes from another slice, that
    slice is shown beside the representative (smallest-canal) one.
    """
    found = find_slice(analysis, level.representative_sop_instance_uid)
    if found is None:
        return None
    sa, i = found
    lf_found = find_slice(analysis, _lf_key(level))
    two = lf_found is not None and (lf_found[0] is not sa or lf_found[1] != i)
    info: SliceInfo = sa.loaded.slices[i]
    panel = PANEL_TWO if two else PANEL_ONE
    n = 2 if two else 1
    right_x = MARGIN + n * panel + (n - 1) * GAP + 1.5 * GAP
    canvas = Canvas(right_x + RIGHT_W + MARGIN, MARGIN + TITLE_H + panel + MARGIN)
    crop = _slice_panel(canvas, sa, i, f"Smallest canal: {_image_name(sa, i)}",
                        (MARGIN, MARGIN), panel)
    if two:
        _slice_panel(canvas, lf_found[0], lf_found[1], f"Thickest LF: {_image_name(*lf_found)}",
                     (MARGIN + panel + GAP, MARGIN), panel)
    top = MARGIN + TITLE_H
    thumb_h = panel - 5 * 17.0 - 4 - 4 * 14.0 - 14
    bottom = _thumbnail(canvas, sa.loaded.pixels[i], info, crop, (right_x, top),
                        (RIGHT_W, thumb_h))
    _legend(canvas, (right_x + 2, bottom + 14), orientation_letters(info.orientation))
    return encode(canvas.final())


def _project(info: SliceInfo, point) -> tuple[float, float]:
    """(x_mm, y_mm) in the image plane of ``info`` (x along columns, y along rows),
    measured from the outer corner of the first pixel."""
    r = np.asarray(info.orientation[:3], dtype=float)
    c = np.asarray(info.orientation[3:6], dtype=float)
    d = np.asarray(point, dtype=float) - np.asarray(info.position_mm, dtype=float)
    dr, dc = info.spacing_mm
    return float(d @ r + 0.5 * dc), float(d @ c + 0.5 * dr)


def render_sagittal(analysis: StudyAnalysis) -> tuple[bytes, bytes] | None:
    """(PNG, JPEG) of the middle sagittal slice with the disc planes marked, or ``None``."""
    sag = analysis.sagittal
    if sag is None or not analysis.discs or len(sag.slices) == 0:
        return None
    k = len(sag.slices) // 2
    info = sag.slices[k]
    img = sag.pixels[k]
    dr, dc = info.spacing_mm
    rows, cols = img.shape
    width, height = cols * dc, rows * dr
    w_px = SAGITTAL_W
    h_px = min(max(w_px * height / width, 300.0), 700.0)
    canvas = Canvas(MARGIN + w_px + MARGIN, MARGIN + TITLE_H + h_px + MARGIN)
    canvas.text((MARGIN, MARGIN + TITLE_H - 5),
                "Sagittal overview: disc levels (counted from the sacrum)", size=13.0,
                anchor="ls")
    top = MARGIN + TITLE_H
    canvas.rectangle((MARGIN, top, MARGIN + w_px, top + h_px), "black", fill="black")
    view = _fit((0.0, 0.0, width, height), (MARGIN, top), (w_px, h_px))
    vmin, vmax = window(img)
    _image(canvas, img, (dr, dc), view, vmin, vmax)
    r = np.asarray(info.orientation[:3], dtype=float)
    c = np.asarray(info.orientation[3:6], dtype=float)
    n_sag = np.cross(r, c)
    half = 14.0  # mm
    for disc in analysis.discs:
        x, y = _project(info, disc.centre_mm)
        u = np.cross(np.asarray(disc.normal, dtype=float), n_sag)
        if np.linalg.norm(u) < 1e-6:
            u = r
        u = u / np.linalg.norm(u)
        ux, uy = float(u @ r), float(u @ c)
        if ux < 0:
            ux, uy = -ux, -uy
        a = view.mm(x - half * ux, y - half * uy)
        b = view.mm(x + half * ux, y + half * uy)
        canvas.polyline((a, b), DISC_COLOUR, 2.2, outline=1.2)
        canvas.text((a[0] - 2.0 * view.s, a[1]), disc.level, size=12.5, colour=DISC_COLOUR,
                    anchor="rm", halo=2.0, bold=True)
    w, h = view.size
    _edge_letters(canvas, orientation_letters(info.orientation),
                  (view.ox, view.oy, view.ox + w, view.oy + h))
    return encode(canvas.final())


def render_figures(analysis: StudyAnalysis) -> Figures:
    """Render every figure once."""
    figs = Figures()
    for level in analysis.report.levels:
        pair = render_level(analysis, level)
        if pair is not None:
            figs.levels[level.level], figs.jpeg[level.level] = pair
    pair = render_sagittal(analysis)
    if pair is not None:
        figs.sagittal, figs.jpeg["sagittal"] = pair
    return figs
