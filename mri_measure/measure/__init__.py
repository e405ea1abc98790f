"""Per-slice measurements in mm / mm²: canal area, LF thickness, canal AP diameter.

:func:`measure_slice` is the public entry point (a docs/design.md contract). It is
called for every axial slice and again live while a reader edits outlines in
napari, so every structure is cropped to its bounding box before any
sub-pixel work.

Label values (docs/design.md): 0 background, 1 dural sac / central canal,
2 ligamentum flavum patient-left, 3 ligamentum flavum patient-right; any
other value is ignored. Left/right come purely from the label value.

Methods (all sub-pixel, spacing (row, col) may be anisotropic):

* **Structure selection.** Each structure is the *largest* 8-connected
  component of its label; smaller islands of the same label (segmentation
  specks) are ignored. Presence is decided by ``labels`` alone.
* **Canal area.** With ``probabilities``: the canal probability summed over
  the canal component dilated by :data:`NEIGHBOURHOOD_PX` pixels (so
  partial-volume pixels just outside the hard mask count, but far-away stray
  mass does not), times the pixel area. With hard labels only: the mask is
  smoothed with a Gaussian of :data:`HARD_SMOOTHING_PX` pixels, its 0.5
  iso-contour is traced with marching squares and the polygon area is taken in
  mm; the smoothing shrinks a closed contour by ``π σ²`` (total curvature 2π
  times the σ²κ/2 iso-line shift), which is added back.
* **LF thickness.** Maximum thickness perpendicular to the ligament's own long
  axis = twice the largest inscribed radius, found on a sub-pixel
  representation: the component's field (its probability, or for hard labels
  the mask smoothed by :data:`LF_ALONG_SMOOTHING_PX` pixels *along* the
  ligament only, using the structure-tensor direction, so the pixel staircase
  averages out while the across profile is kept) is resampled by linear
  interpolation onto an isotropic grid of ``h`` mm (1/5 pixel) and
  thresholded at 0.5; the Euclidean distance transform (sampling ``h``)
  gives candidate centres on the medial axis, which are refined against the
  exact marching-squares 0.5 contour (nearest-point distances, compass
  search), so no EDT half-sample bias remains. The thickness is then the
  integral of the field along the line through the inscribed disc's centre
  towards its nearest edge point (i.e. across the ligament): for
  partial-volume coverage this integral is exact, whereas the 0.5 crossing of
  interpolated coverage is off by up to 1/8 pixel per edge. With hard labels
  the integral is averaged over 7 lines spread along the ligament over
  ± :data:`LF_HARD_WINDOW_RADII` inscribed radii (a stretch 1.5 × as long as
  the ligament is thick), because the maximum over a rasterised staircase
  edge is otherwise biased upward (+0.1 mm on the phantom with ± 1 radius,
  +0.06 mm with ± 1.5); the price is that a sharply tapered ligament's peak
  is slightly averaged. ``lf_*_line_px`` is that line, of that length.
* **Canal AP diameter.** Extent of the canal along the *image column direction*
  (top → bottom of the image, anterior → posterior on a standard axial slice;
  not the canal's minor axis) through the canal centroid: the run of the
  linearly interpolated field above 0.5 containing the centroid, measured as
  the integral of the field along that line. A cross-check value, not a
  criterion.
* **Uncertainty** (one standard uncertainty, same unit): a boundary positional
  uncertainty of :data:`POSITION_UNCERTAINTY_PX` pixels (smaller with
  probabilities than with hard labels); area: perimeter × positional
  uncertainty (a systematic in/out shift of the whole outline); lengths:
  √2 × positional uncertainty (two independent edges), in the pixel size
  along the measuring line.
* **Probabilities that disagree with labels.** When a structure present in
  ``labels`` has no probability above 0.5 near it (e.g. an outline drawn by
  hand), that structure is measured from the labels, with the hard-label
  uncertainty. After manual edits, pass the edited labels and
  ``probabilities=None``.

>>> import numpy as np
>>> labels = np.zeros((30, 30), dtype=np.uint8)
>>> labels[5:25, 5:25] = 1            # 20 x 20 px canal at 0.5 mm: 100 mm²
>>> labels[26:29, 5:15] = 2           # 3 px = 1.5 mm thick LF, patient-left
>>> m = measure_slice(labels, (0.5, 0.5))
>>> round(m.canal_area_mm2), round(m.canal_ap_mm, 1), round(m.lf_thickness_left_mm, 1)
(100, 10.0, 1.5)
>>> m.lf_thickness_right_mm is None
True
"""

from __future__ import annotations

from .api import measure_slice
from .area import HARD_SMOOTHING_PX
from .fields import CANAL, LF_LEFT, LF_RIGHT, NEIGHBOURHOOD_PX, POSITION_UNCERTAINTY_PX, Line
from .thickness import FINE_STEP_MIN_MM, FINE_STEPS_PER_PIXEL, LF_ALONG_SMOOTHING_PX, LF_HARD_WINDOW_RADII

__all__ = [
    "CANAL",
    "FINE_STEPS_PER_PIXEL",
    "FINE_STEP_MIN_MM",
    "HARD_SMOOTHING_PX",
    "LF_ALONG_SMOOTHING_PX",
    "LF_HARD_WINDOW_RADII",
    "LF_LEFT",
    "LF_RIGHT",
    "Line",
    "NEIGHBOURHOOD_PX",
    "POSITION_UNCERTAINTY_PX",
    "measure_slice",
]
