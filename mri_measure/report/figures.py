"""Figures for the human report, rendered once as PNG bytes (matplotlib, Agg)
and reused by the HTML and PDF writers.

* per level: the representative axial slice, cropped to a 60 mm box around
  the dural sac, with label outlines (canal cyan, LF patient-left orange,
  LF patient-right magenta), the LF thickness lines and the canal AP line,
  edge letters from ImageOrientationPatient, and a full-slice thumbnail;
* a sagittal overview: the middle sagittal slice with each disc plane drawn
  as a short line through its centre and labelled.

Images are drawn in millimetres (``extent`` from PixelSpacing), so the aspect
ratio is physical whatever the pixel spacing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

from ..types import LevelMeasurement, SliceInfo, SliceMeasurement, StudyAnalysis
from ._common import find_slice, fmt

CANAL_COLOUR = "#00e5ff"  # cyan
LF_LEFT_COLOUR = "#ff9800"  # orange
LF_RIGHT_COLOUR = "#ff2bd6"  # magenta
CROP_MM = 60.0
DPI = 100

LABEL_STYLE = (
    (1, CANAL_COLOUR, "Dural sac (canal)"),
    (2, LF_LEFT_COLOUR, "Lig. flavum, patient-LEFT"),
    (3, LF_RIGHT_COLOUR, "Lig. flavum, patient-RIGHT"),
)


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


def _new_figure(w_in: float, h_in: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w_in, h_in), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def _encode(fig) -> tuple[bytes, bytes]:
    """Draw once; return (PNG, JPEG) bytes of the same raster."""
    from PIL import Image

    fig.canvas.draw()
    w, h = fig.canvas.get_width_height()
    img = Image.frombuffer("RGBA", (w, h), fig.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    img = img.convert("RGB")
    png, jpg = io.BytesIO(), io.BytesIO()
    img.save(png, "PNG", compress_level=6)
    img.save(jpg, "JPEG", quality=92, subsampling=0)
    return png.getvalue(), jpg.getvalue()


def _window(img: np.ndarray) -> tuple[float, float]:
    lo, hi = np.percentile(img, (1.0, 99.5))
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def _edge_letters(ax, letters: dict[str, str], xlim, ylim) -> None:
    import matplotlib.patheffects as pe

    x0, x1 = xlim
    y0, y1 = ylim  # y0 = bottom (larger mm), y1 = top
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    dx, dy = 0.03 * (x1 - x0), 0.04 * (y0 - y1)
    style = dict(color="white", fontsize=11, fontweight="bold",
                 path_effects=[pe.withStroke(linewidth=2.5, foreground="black")])
    ax.text(x0 + dx, ym, letters["left"], ha="left", va="center", **style)
    ax.text(x1 - dx, ym, letters["right"], ha="right", va="center", **style)
    ax.text(xm, y1 + dy, letters["top"], ha="center", va="top", **style)
    ax.text(xm, y0 - dy, letters["bottom"], ha="center", va="bottom", **style)


def _contours(ax, labels: np.ndarray, spacing, lw: float) -> None:
    from skimage.measure import find_contours

    dr, dc = spacing
    for value, colour, _ in LABEL_STYLE:
        mask = labels == value
        if not mask.any():
            continue
        padded = np.pad(mask, 1).astype(np.float32)
        for c in find_contours(padded, 0.5):
            rows, cols = c[:, 0] - 1, c[:, 1] - 1
            ax.plot((cols + 0.5) * dc, (rows + 0.5) * dr, color=colour, lw=lw)


def _measure_lines(ax, m: SliceMeasurement, spacing) -> None:
    """Draw the measurement lines; LF labels go outward (away from the sac's
    midline) so left and right labels never overlap."""
    import matplotlib.patheffects as pe

    dr, dc = spacing
    items = (
        (m.lf_left_line_px, LF_LEFT_COLOUR, "-", m.lf_thickness_left_mm, 2, "mm"),
        (m.lf_right_line_px, LF_RIGHT_COLOUR, "-", m.lf_thickness_right_mm, 2, "mm"),
        (m.canal_ap_line_px, CANAL_COLOUR, "--", m.canal_ap_mm, 1, "mm AP"),
    )
    lines_x = [((c0 + c1) / 2 + 0.5) * dc for line, *_ in items if line is not None
               for (_, c0), (_, c1) in [line]]
    if m.canal_ap_line_px is not None:
        midline = (m.canal_ap_line_px[0][1] + m.canal_ap_line_px[1][1]) / 2 * dc + 0.5 * dc
    else:
        midline = float(np.mean(lines_x)) if lines_x else 0.0
    outline = [pe.withStroke(linewidth=3.5, foreground="black")]
    text_fx = [pe.withStroke(linewidth=2.5, foreground="black")]
    for line, colour, style, value, digits, unit in items:
        if line is None:
            continue
        (r0, c0), (r1, c1) = line
        xs = [(c0 + 0.5) * dc, (c1 + 0.5) * dc]
        ys = [(r0 + 0.5) * dr, (r1 + 0.5) * dr]
        ax.plot(xs, ys, color="white", ls=style, lw=1.6, path_effects=outline,
                marker="o", markersize=2.5)
        if value is None:
            continue
        if style == "--":  # AP: label beside the upper end
            x, y, ha = max(xs) + 1.5, min(ys) + 1.0, "left"
        elif np.mean(xs) >= midline:  # LF on the image right: label to the right
            x, y, ha = max(xs) + 1.0, max(ys) + 0.5, "left"
        else:
            x, y, ha = min(xs) - 1.0, max(ys) + 0.5, "right"
        ax.text(x, y, f"{fmt(value, digits)} {unit}", color=colour, fontsize=8.5,
                fontweight="bold", ha=ha, va="top", path_effects=text_fx)


def _crop_box(labels: np.ndarray, spacing, shape) -> tuple[float, float, float, float]:
    """(x0, x1, y_bottom, y_top) in mm: a CROP_MM square around the sac."""
    dr, dc = spacing
    rows, cols = shape
    mask = labels == 1
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


def _slice_panel(ax, sa, i: int, title: str) -> tuple[float, float, float, float]:
    """Crop of slice ``i`` with outlines, measurement lines, edge letters and a
    10 mm scale bar; returns the crop box (x0, x1, y_bottom, y_top) in mm."""
    info: SliceInfo = sa.loaded.slices[i]
    img = sa.loaded.pixels[i]
    labels = sa.labels[i]
    dr, dc = info.spacing_mm
    rows, cols = img.shape
    vmin, vmax = _window(img)
    ax.imshow(img, cmap="gray", vmin=vmin, vmax=vmax, extent=(0.0, cols * dc, rows * dr, 0.0),
              interpolation="bilinear")
    _contours(ax, labels, (dr, dc), lw=1.3)
    _measure_lines(ax, sa.measurements[i], (dr, dc))
    x0, x1, yb, yt = _crop_box(labels, (dr, dc), img.shape)
    ax.set_xlim(x0, x1)
    ax.set_ylim(yb, yt)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    _edge_letters(ax, orientation_letters(info.orientation), (x0, x1), (yb, yt))
    ax.plot([x0 + 3, x0 + 13], [yb - 3, yb - 3], color="white", lw=2.5)
    ax.text(x0 + 8, yb - 4.2, "10 mm", color="white", ha="center", va="bottom", fontsize=8)
    ax.set_title(title, fontsize=8.5, loc="left", pad=3)
    return x0, x1, yb, yt


def _image_name(sa, i: int) -> str:
    info = sa.loaded.slices[i]
    number = info.instance_number if info.instance_number is not None else "?"
    return f"image {number} (stack {sa.loaded.stack.stack_id}, slice {i + 1}/{len(sa.loaded.slices)})"


def render_level(analysis: StudyAnalysis, level: LevelMeasurement) -> tuple[bytes, bytes] | None:
    """(PNG, JPEG) of a level's representative slice, or ``None`` when it has none.

    When the largest LF value of the level comes from another slice, that
    slice is shown beside the representative (smallest-canal) one.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    found = find_slice(analysis, level.representative_sop_instance_uid)
    if found is None:
        return None
    sa, i = found
    lf_found = find_slice(analysis, _lf_key(level))
    two = lf_found is not None and (lf_found[0] is not sa or lf_found[1] != i)
    info: SliceInfo = sa.loaded.slices[i]
    img = sa.loaded.pixels[i]
    dr, dc = info.spacing_mm
    rows, cols = img.shape
    letters = orientation_letters(info.orientation)

    fig = _new_figure(7.6, 4.1 if not two else 3.55)
    if two:
        gs = fig.add_gridspec(2, 3, width_ratios=(1.0, 1.0, 0.62), height_ratios=(1.0, 1.1),
                              left=0.01, right=0.99, top=0.935, bottom=0.02,
                              wspace=0.04, hspace=0.08)
        ax = fig.add_subplot(gs[:, 0])
        ax_lf = fig.add_subplot(gs[:, 1])
        th = fig.add_subplot(gs[0, 2])
        lg = fig.add_subplot(gs[1, 2])
    else:
        gs = fig.add_gridspec(2, 2, width_ratios=(2.15, 1.0), height_ratios=(1.0, 1.0),
                              left=0.01, right=0.99, top=0.94, bottom=0.02,
                              wspace=0.04, hspace=0.08)
        ax = fig.add_subplot(gs[:, 0])
        ax_lf = None
        th = fig.add_subplot(gs[0, 1])
        lg = fig.add_subplot(gs[1, 1])
    x0, x1, yb, yt = _slice_panel(ax, sa, i, f"Smallest canal: {_image_name(sa, i)}")
    if ax_lf is not None:
        _slice_panel(ax_lf, lf_found[0], lf_found[1],
                     f"Thickest LF: {_image_name(*lf_found)}")

    vmin, vmax = _window(img)
    th.imshow(img, cmap="gray", vmin=vmin, vmax=vmax, extent=(0.0, cols * dc, rows * dr, 0.0))
    th.add_patch(Rectangle((x0, yt), x1 - x0, yb - yt, fill=False, ec="yellow", lw=1.2))
    th.set_xlim(0, cols * dc)
    th.set_ylim(rows * dr, 0)
    th.set_aspect("equal")
    th.set_xticks([])
    th.set_yticks([])
    _edge_letters(th, letters, (0, cols * dc), (rows * dr, 0))

    lg.axis("off")
    handles = [Line2D([], [], color=c, lw=2.5, label=name) for _, c, name in LABEL_STYLE]
    handles.append(Line2D([], [], color="black", lw=1.5, marker="_",
                          label="LF thickness line"))
    handles.append(Line2D([], [], color="black", lw=1.5, ls="--", label="Canal AP diameter"))
    lg.legend(handles=handles, loc="upper left", fontsize=7.5 if two else 8, frameon=False,
              borderaxespad=0.0, handlelength=1.8)
    where = next((edge for edge, letter in letters.items() if letter == "L"), "edge marked L")
    lg.text(0.0, 0.0,
            f"Patient left is on the image {where}\n(edge letters from the DICOM\n"
            "orientation). Yellow box: area\nshown enlarged.",
            fontsize=7, transform=lg.transAxes, va="bottom")
    return _encode(fig)


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
    import matplotlib.patheffects as pe

    sag = analysis.sagittal
    if sag is None or not analysis.discs or len(sag.slices) == 0:
        return None
    k = len(sag.slices) // 2
    info = sag.slices[k]
    img = sag.pixels[k]
    dr, dc = info.spacing_mm
    rows, cols = img.shape
    width, height = cols * dc, rows * dr
    aspect = height / width
    w_in = 4.6
    fig = _new_figure(w_in, min(max(w_in * aspect, 3.0), 7.0) + 0.35)
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.98 - 0.35 / fig.get_figheight()))
    vmin, vmax = _window(img)
    ax.imshow(img, cmap="gray", vmin=vmin, vmax=vmax, extent=(0, width, height, 0))
    r = np.asarray(info.orientation[:3], dtype=float)
    c = np.asarray(info.orientation[3:6], dtype=float)
    n_sag = np.cross(r, c)
    outline = [pe.withStroke(linewidth=3, foreground="black")]
    for disc in analysis.discs:
        x, y = _project(info, disc.centre_mm)
        u = np.cross(np.asarray(disc.normal, dtype=float), n_sag)
        if np.linalg.norm(u) < 1e-6:
            u = r
        u = u / np.linalg.norm(u)
        ux, uy = float(u @ r), float(u @ c)
        if ux < 0:
            ux, uy = -ux, -uy
        half = 14.0
        ax.plot([x - half * ux, x + half * ux], [y - half * uy, y + half * uy],
                color="yellow", lw=2.0, path_effects=outline)
        ax.text(x - half * ux - 2.0, y - half * uy, disc.level, color="yellow",
                fontsize=9, fontweight="bold", ha="right", va="center",
                path_effects=outline)
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    _edge_letters(ax, orientation_letters(info.orientation), (0, width), (height, 0))
    fig.suptitle("Sagittal overview: disc levels (counted from the sacrum)", fontsize=9.5,
                 x=0.01, ha="left", y=0.995)
    return _encode(fig)


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
