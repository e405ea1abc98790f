"""Drawing primitives for the report figures: numpy + Pillow only.

Everything is drawn on a canvas ``SS`` times larger than the final image and
reduced at the end (box filter), which antialiases lines and text at the
cost of a few milliseconds. Coordinates passed in are *final* pixels
(floats); the helpers scale them.

Text uses Bitstream Vera Sans (regular and bold), the TrueType files that
ship with reportlab (the PDF writer's dependency, found without importing
it), else Pillow's built-in scalable font: no matplotlib is needed.
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SS = 2  # supersampling factor

Point = tuple[float, float]


@lru_cache(maxsize=None)
def font_file(bold: bool = False) -> Path | None:
    """reportlab's Vera Sans TrueType file, or ``None`` when absent."""
    spec = importlib.util.find_spec("reportlab")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "fonts" / (
        "VeraBd.ttf" if bold else "Vera.ttf")
    return path if path.is_file() else None


@lru_cache(maxsize=None)
def font(size: float, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The figure font at ``size`` final pixels (em height)."""
    px = max(1, round(size * SS))
    path = font_file(bold)
    if path is not None:
        try:
            return ImageFont.truetype(str(path), px)
        except OSError:  # pragma: no cover - unreadable font file
            pass
    return ImageFont.load_default(size=px)


def window(img: np.ndarray) -> tuple[float, float]:
    """Display window: 1st to 99.5th percentile of the slice."""
    lo, hi = np.percentile(img, (1.0, 99.5))
    if hi <= lo:
        hi = lo + 1.0
    return float(lo), float(hi)


def grey(img: np.ndarray, vmin: float, vmax: float) -> Image.Image:
    """``img`` windowed to 8-bit grey (mode ``L``)."""
    scaled = (np.asarray(img, dtype=np.float32) - vmin) * (255.0 / (vmax - vmin))
    return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), "L")


def resample(src: Image.Image, box: tuple[float, float, float, float],
             size: tuple[float, float]) -> Image.Image:
    """The region ``box`` (left, top, right, bottom in source pixels, pixel
    ``i`` covering ``[i, i+1)``) resampled bilinearly to ``size`` final
    pixels, as RGB on the supersampled grid."""
    w, h = max(1, round(size[0] * SS)), max(1, round(size[1] * SS))
    return src.resize((w, h), Image.Resampling.BILINEAR, box=box).convert("RGB")


class Canvas:
    """An RGB image in final-pixel coordinates, drawn at ``SS``× resolution."""

    def __init__(self, width: float, height: float, background: str = "white"):
        self.width, self.height = width, height
        self.image = Image.new("RGB", (round(width * SS), round(height * SS)), background)
        self.draw = ImageDraw.Draw(self.image)

    @staticmethod
    def _xy(points: Sequence[Point]) -> list[tuple[float, float]]:
        return [(x * SS, y * SS) for x, y in points]

    def paste(self, image: Image.Image, at: Point) -> None:
        """Paste a supersampled image with its top-left corner at ``at``."""
        self.image.paste(image, (round(at[0] * SS), round(at[1] * SS)))

    def polyline(self, points: Sequence[Point], colour: str, width: float,
                 outline: float = 0.0, closed: bool = False) -> None:
        """A line through ``points``; ``outline`` > 0 draws a black halo of
        that many pixels on each side first."""
        xy = self._xy(points)
        if closed and len(xy) > 2:
            xy = xy + xy[:1]
        if len(xy) < 2:
            return
        if outline > 0:
            self.draw.line(xy, fill="black", width=max(1, round((width + 2 * outline) * SS)),
                           joint="curve")
        self.draw.line(xy, fill=colour, width=max(1, round(width * SS)), joint="curve")

    def dashed(self, p0: Point, p1: Point, colour: str, width: float, outline: float = 0.0,
               dash: float = 3.5, gap: float = 2.5) -> None:
        """A dashed straight line from ``p0`` to ``p1``."""
        v = np.subtract(p1, p0, dtype=float)
        length = float(np.hypot(*v))
        if length == 0:
            return
        u = v / length
        segments = []
        s = 0.0
        while s < length:
            e = min(s + dash, length)
            segments.append((tuple(np.add(p0, u * s)), tuple(np.add(p0, u * e))))
            s = e + gap
        for halo in ((True, False) if outline > 0 else (False,)):
            for a, b in segments:
                if halo:
                    self.polyline((a, b), "black", width + 2 * outline)
                else:
                    self.polyline((a, b), colour, width)

    def dot(self, centre: Point, radius: float, colour: str, outline: float = 0.0) -> None:
        x, y = centre[0] * SS, centre[1] * SS
        r = (radius + outline) * SS
        if outline > 0:
            self.draw.ellipse((x - r, y - r, x + r, y + r), fill="black")
        r = radius * SS
        self.draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)

    def rectangle(self, box: tuple[float, float, float, float], colour: str,
                  width: float = 0.0, fill: str | None = None) -> None:
        x0, y0, x1, y1 = (v * SS for v in box)
        self.draw.rectangle((x0, y0, x1, y1), fill=fill,
                            outline=colour if width > 0 else None,
                            width=max(1, round(width * SS)) if width > 0 else 0)

    def text(self, at: Point, text: str, size: float, colour: str = "black",
             anchor: str = "la", halo: float = 0.0, spacing: float = 2.0,
             bold: bool = False) -> None:
        """Text at ``at`` with a Pillow ``anchor`` (e.g. ``la`` left/ascender,
        ``mm`` centre, ``rm`` right/middle); ``halo`` > 0 draws a black stroke
        around the glyphs (readable on any image)."""
        stroke_width = max(1, round(halo * SS)) if halo > 0 else 0
        stroke_fill = "black" if halo > 0 else None
        if "\n" in text:
            self.draw.multiline_text((at[0] * SS, at[1] * SS), text, fill=colour,
                                     font=font(size, bold), anchor=anchor, spacing=spacing * SS,
                                     stroke_width=stroke_width, stroke_fill=stroke_fill)
        else:
            self.draw.text((at[0] * SS, at[1] * SS), text, fill=colour, font=font(size, bold),
                           anchor=anchor, stroke_width=stroke_width, stroke_fill=stroke_fill)

    def final(self) -> Image.Image:
        """The image at final resolution (box-filter reduction)."""
        return self.image.reduce(SS) if SS > 1 else self.image


def encode(image: Image.Image) -> tuple[bytes, bytes]:
    """(PNG, JPEG) bytes of the same raster: PNG for the HTML, JPEG for the PDF
    (reportlab embeds JPEG as it is, whereas a PNG would be decoded and
    recompressed)."""
    png, jpg = io.BytesIO(), io.BytesIO()
    image.save(png, "PNG", compress_level=1)
    image.save(jpg, "JPEG", quality=92, subsampling=0)
    return png.getvalue(), jpg.getvalue()
