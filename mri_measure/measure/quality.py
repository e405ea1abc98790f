"""Quality verdict per slice and value (numpy/scipy only): refuse rather than mislead.

A wrong number is worse than "not measurable". :func:`assess_slice` gives each
of the three reported values of one axial slice (canal area, LF left, LF
right) a :class:`~mri_measure.types.Verdict`: ``"ok"``, or
``"not_measurable"`` with a short reason. A flagged value is never reported
as a number and no criterion is computed from it (:mod:`mri_measure.criteria`).
The criteria, in the order they are checked (the first that fails gives the
reason; ``flag`` is the name that goes into ``quality_flags``):

Dural sac (canal area), flag — check (threshold) — reason text:

- ``no_canal_found`` — a sac was segmented — "no dural sac found"
- ``tta_disagreement`` — mirror-TTA Dice of the sac ≥ :data:`MIN_TTA_DICE_SAC`
  (0.80) — "the model disagrees with itself on the sac (mirror Dice 0.62 < 0.80)"
- ``sac_area_implausible`` — area within :data:`SAC_AREA_RANGE_MM2` (20–400 mm²)
  — "sac area 12 mm² outside 20–400 mm²"
- ``sac_fragmented`` — second-largest sac piece < :data:`MAX_SECOND_COMPONENT`
  (30 %) of the main one — "sac in 2 pieces (second 45 % of the main one)"
- ``sac_shape_implausible`` — solidity ≥ :data:`MIN_SOLIDITY` (0.70) and axis
  ratio ≤ :data:`MAX_AXIS_RATIO` (3.5) — "sac shape implausible (solidity 0.52
  < 0.70)" / "sac shape implausible (axis ratio 4.8 > 3.5)"
- ``sac_in_uniform_region`` — less than :data:`MAX_UNIFORM_RING` (60 %) of a
  :data:`RING_MM` (1.5–5 mm) ring around the sac within ± :data:`UNIFORM_TOLERANCE`
  (10 %) of the slice's 1–99 % intensity range of the sac's median — "the
  outline lies inside a uniform region larger than a canal (vertebral body or disc?)"
- ``sac_not_bright`` (T2 only) — the sac's CSF (its :data:`CSF_PERCENTILE`,
  75th, percentile: roots, conus or cord may fill half the sac) − ring median ≥
  :data:`MIN_T2_CONTRAST` (0.05) × range — "the sac is not brighter than its
  surroundings on T2 (CSF is bright)"; and the sac's CSF brighter than at
  least :data:`MIN_T2_BRIGHTNESS_RANK` (75 %) of the pixels within
  :data:`NEIGHBOURHOOD_MM` (20 mm) — "the sac is not among the brightest
  tissue around it on T2 (brighter than 59 % < 75 % within 20 mm; CSF is bright)"

- ``brighter_structure_beside`` (T2 only) — no connected region within
  :data:`BRIGHTER_NEIGHBOUR_MM` (10 mm) of the outline brighter than the sac's
  CSF by :data:`BRIGHTER_MARGIN` (0.08) × range and at least
  :data:`BRIGHTER_NEIGHBOUR_MIN_MM2` (25 mm²) and 30 % of the sac — "a brighter
  structure of 120 mm² lies beside the outline on T2 (the canal may have been
  missed)": an outline on the grey tissue next to the bright canal.
- ``sac_edge_missed`` (T2 only) — the one-pixel band just outside the outline
  is darker than the sac inside it: its mean above the slice's 1st percentile
  below :data:`MAX_EDGE_BRIGHTNESS` (0.95) × the sac's — "the outline stops
  inside the bright sac on T2 (the pixels just outside are 121 % as bright as
  those inside): its edge was missed". An outline cut short inside the CSF
  reports a sac too small.

Ligamentum flavum, per side:

- ``no_lf_found`` — an LF of that side was segmented — "no ligamentum flavum found (patient left)"
- ``lf_without_sac`` — the slice's sac is ok (the LF is checked against it) —
  "dural sac not measurable: the LF position cannot be checked"
- ``lf_tta_disagreement`` — mirror-TTA Dice of that LF ≥ :data:`MIN_TTA_DICE_LF`
  (0.50, a thin structure) — "the model disagrees with itself on the left LF
  (mirror Dice 0.31 < 0.50)"
- ``lf_thickness_implausible`` — thickness within :data:`LF_THICKNESS_RANGE_MM`
  (0.5–10 mm) — "LF thickness 12.3 mm outside 0.5–10 mm"
- ``lf_position_implausible`` — centroid not more than
  :data:`ANTERIOR_TOLERANCE_MM` (2 mm) in front of the sac's anterior border —
  "left LF lies in front of the sac"; on its own side of the sac's centroid
  (at most :data:`MIDLINE_TOLERANCE_MM`, 2 mm, across) — "left LF is on the
  wrong side"; at most :data:`MAX_LF_SAC_GAP_MM` (8 mm) from the sac — "left
  LF is 14.2 mm from the sac (> 8 mm)"
- ``lf_not_dark`` (T2 only) — LF median below the sac median — "the left LF
  is not darker than the sac on T2"

Why these thresholds (docs/clinical.md has the long form):

- **TTA.** The mirror test-time augmentation runs anyway; a sac the network
  segments differently when the slice is mirrored is a guess. On the
  project's phantoms the sac's mirror Dice is > 0.95 and the LF's > 0.8;
  0.80 / 0.50 leave a wide margin. Not applied when the segmenter gives no
  TTA (ground truth, a corrected outline).
- **Sac area 20–400 mm².** Adult dural-sac areas are 120–180 mm² (L1–L4),
  100–200 mm² at L5–S1, stenotic L4–L5 80 ± 35 mm² (CLINICAL.md); 20 mm² is
  below the most severe stenosis reported (≈ 2 SD under the stenotic mean) and
  400 mm² twice the largest normal sac: outside, the outline is not a sac.
- **One component, solidity, axis ratio.** The sac is one connected tube;
  round at L1–L2, triangular/trefoil at L4–S1 (solidity ≈ 0.85–0.95, indented
  by a disc bulge or facets ≈ 0.75) and at most about 2.5 × wider than deep;
  0.70 and 3.5 keep every such shape and reject crescents, rings and streaks.
- **Uniform region.** A blob inside the vertebral body or a disc has the
  intensity of what surrounds it; a sac is bounded by fat, ligament, bone and
  roots of other intensities. 60 % of a 1.5–5 mm ring at the sac's own
  intensity means the outline sits inside something larger than a canal.
- **T2 brightness.** On T2, CSF is the brightest tissue around the canal. On
  the real cervical T2 of ``../shared/data/tptbox_cervical_t2`` (13 slices,
  canal + cord labels) the ring contrast is 0.43–0.79, the brightness rank
  0.90–1.00 and the uniform ring fraction 0.01–0.07; a phantom sac moved onto
  the disc in front of it ranks 0.59. Applied only when the series is T2
  (``is_t2``: the pipeline's axial T2 role or an echo time ≥ 60 ms), because
  on T1 CSF is dark.
- **LF thickness 0.5–10 mm, position, darkness.** Normal LF is 2.2–3.5 mm,
  stenotic 4–5.5 mm (CLINICAL.md); < 0.5 mm is below a pixel, > 10 mm is
  lamina or muscle. The LF lines the posterolateral canal: its centroid is
  never in front of the sac's anterior border (on slices cut obliquely through
  the lordosis it lies beside the sac, level with its centre, and a fringe
  of it can reach the sac's anterior corner: 2 mm tolerance), on its own side (2 mm midline tolerance: the two
  ligaments meet in the midline), and it touches the sac or is separated from
  it only by epidural fat (≤ 8 mm even with abundant fat). On T2 it is dark.
- **Edge.** On T2 the sac's CSF ends at the dura, dark, and partial volume makes
  the pixels just outside a right outline darker than those inside it: on the
  real references (``benchmarks/real_refs``) the band outside is 41–62 % (thoracic,
  1 mm, cord inside) and 19–48 % (cervical, 1.5 mm) as bright as the inside; on
  the own phantom's model outlines at most 89 % (60 realistic-T2 slices). An
  outline that stopped inside the CSF has a band as bright as or brighter than
  its inside (the thoracic volume's under-segmented outlines: 86–163 %); 0.95
  refuses those and keeps every right one seen.

A reader's corrected outline (``corrected=True``) counts: the TTA criterion
no longer applies, the others are still evaluated, and a value that would
fail them stays ``"ok"`` with the note "reader correction accepted; automatic
check: <reason>" (flag ``corrected_despite_check``), so the radiologist's
edit is reported but the disagreement is visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from ..types import NOT_MEASURABLE, OK, Quality, SliceMeasurement, Verdict

MIN_TTA_DICE_SAC = 0.80
MIN_TTA_DICE_LF = 0.50
SAC_AREA_RANGE_MM2 = (20.0, 400.0)
MAX_SECOND_COMPONENT = 0.30
MIN_SOLIDITY = 0.70
MAX_AXIS_RATIO = 3.5
RING_MM = (1.5, 5.0)
UNIFORM_TOLERANCE = 0.10
MAX_UNIFORM_RING = 0.60
MIN_T2_CONTRAST = 0.05
MIN_T2_BRIGHTNESS_RANK = 0.75
#: the T2 brightness checks compare this percentile of the sac's pixels (its CSF)
CSF_PERCENTILE = 75
#: T2: a connected region within this distance of the outline, brighter than the
#: sac's CSF by this fraction of the intensity range and at least this big
#: (absolute, and relative to the sac), means the outline is beside the canal
BRIGHTER_NEIGHBOUR_MM = 10.0
BRIGHTER_MARGIN = 0.08
BRIGHTER_NEIGHBOUR_MIN_MM2 = 25.0
BRIGHTER_NEIGHBOUR_FRACTION = 0.3
NEIGHBOURHOOD_MM = 20.0
#: T2: the one-pixel band just outside a right outline is darker than the sac inside it
MAX_EDGE_BRIGHTNESS = 0.95
LF_THICKNESS_RANGE_MM = (0.5, 10.0)
MIDLINE_TOLERANCE_MM = 2.0
ANTERIOR_TOLERANCE_MM = 2.0
MAX_LF_SAC_GAP_MM = 8.0
#: the echo time from which a series counts as T2-weighted (ms)
T2_MIN_ECHO_TIME_MS = 60.0

SIDES = (("left", 2, "lf_thickness_left_mm"), ("right", 3, "lf_thickness_right_mm"))


@dataclass(frozen=True)
class _Fail:
    flag: str
    reason: str


def _bad(flag: str, reason: str) -> _Fail:
    return _Fail(flag, reason)


def _verdict(fail: _Fail | None, corrected: bool, *, absent: bool = False) -> Verdict:
    if fail is None:
        return Verdict(OK)
    if corrected and not absent:
        return Verdict(OK, f"reader correction accepted; automatic check: {fail.reason}",
                       "corrected_despite_check")
    return Verdict(NOT_MEASURABLE, fail.reason, fail.flag)


def is_t2_series(role: str | None, echo_time_ms: float | None) -> bool:
    """True for the pipeline's axial T2 role, or an echo time of at least 60 ms."""
    if str(role or "") == "axial_t2":
        return True
    return echo_time_ms is not None and echo_time_ms >= T2_MIN_ECHO_TIME_MS


def mirror_dice(plain: np.ndarray, mirrored: np.ndarray) -> tuple[float, float, float]:
    """Dice of the sac, LF-left and LF-right between two (4, H, W) probability maps
    (hard labels by argmax); 1.0 where neither has the structure."""
    a = np.argmax(plain, axis=0)
    b = np.argmax(mirrored, axis=0)
    out = []
    for lab in (1, 2, 3):
        ma, mb = a == lab, b == lab
        s = int(ma.sum()) + int(mb.sum())
        out.append(1.0 if s == 0 else 2.0 * int(np.logical_and(ma, mb).sum()) / s)
    return (out[0], out[1], out[2])


def _directions(orientation: Sequence[float] | None) -> tuple[np.ndarray, np.ndarray]:
    """(posterior, patient-left) as unit (row, col) displacement weights: the
    patient-frame component of a (drow_mm, dcol_mm) step is ``d @ w``."""
    if orientation is None or len(orientation) != 6:
        orientation = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    row_dir = np.asarray(orientation[:3], float)  # along increasing column index
    col_dir = np.asarray(orientation[3:6], float)  # along increasing row index
    posterior = np.array([col_dir[1], row_dir[1]])
    left = np.array([col_dir[0], row_dir[0]])
    return posterior, left


def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lab, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        return lab, np.zeros(0)
    return lab, np.bincount(lab.ravel())[1:]


def _solidity_and_axis_ratio(mask: np.ndarray, spacing: tuple[float, float]) -> tuple[float, float]:
    rr, cc = np.nonzero(mask)
    if rr.size < 5:
        return 1.0, 1.0
    # convex hull of the pixel squares' corners, in mm
    pts = np.concatenate([np.stack([rr + dr, cc + dc], 1) for dr in (-0.5, 0.5) for dc in (-0.5, 0.5)])
    pts = pts * np.asarray(spacing, float)
    try:
        from scipy.spatial import ConvexHull

        hull_area = float(ConvexHull(pts).volume)
    except Exception:  # degenerate (a line): no hull
        return 0.0, float("inf")
    area = rr.size * spacing[0] * spacing[1]
    solidity = area / hull_area if hull_area > 0 else 0.0
    xy = np.stack([rr * spacing[0], cc * spacing[1]], 1)
    cov = np.cov(xy.T) + np.eye(2) * (spacing[0] * spacing[1]) / 12.0  # a pixel's own spread
    ev = np.sort(np.linalg.eigvalsh(cov))
    ratio = float(np.sqrt(ev[1] / ev[0])) if ev[0] > 0 else float("inf")
    return float(solidity), ratio


def _ring(mask: np.ndarray, spacing: tuple[float, float]) -> np.ndarray:
    dist = ndimage.distance_transform_edt(~mask, sampling=spacing)
    return (dist >= RING_MM[0]) & (dist <= RING_MM[1])


def _check_sac(
    main: np.ndarray, sizes: np.ndarray, area_mm2: float, image: np.ndarray | None,
    spacing: tuple[float, float], is_t2: bool, tta: float | None, corrected: bool,
    scale: float, floor: float = 0.0,
) -> _Fail | None:
    if tta is not None and not corrected and tta < MIN_TTA_DICE_SAC:
        return _bad("tta_disagreement",
                    f"the model disagrees with itself on the sac (mirror Dice {tta:.2f} < {MIN_TTA_DICE_SAC:.2f})")
    lo, hi = SAC_AREA_RANGE_MM2
    if not lo <= area_mm2 <= hi:
        return _bad("sac_area_implausible", f"sac area {area_mm2:.0f} mm² outside {lo:g}–{hi:g} mm²")
    if sizes.size > 1:
        order = np.sort(sizes)[::-1]
        frac = order[1] / order[0]
        if frac >= MAX_SECOND_COMPONENT:
            return _bad("sac_fragmented",
                        f"sac in {int((sizes >= MAX_SECOND_COMPONENT * order[0]).sum())} pieces "
                        f"(second {100 * frac:.0f} % of the main one)")
    solidity, ratio = _solidity_and_axis_ratio(main, spacing)
    if solidity < MIN_SOLIDITY:
        return _bad("sac_shape_implausible", f"sac shape implausible (solidity {solidity:.2f} < {MIN_SOLIDITY:.2f})")
    if ratio > MAX_AXIS_RATIO:
        return _bad("sac_shape_implausible", f"sac shape implausible (axis ratio {ratio:.1f} > {MAX_AXIS_RATIO:g})")
    if image is None:
        return None
    ring = _ring(main, spacing) & np.isfinite(image)
    if ring.sum() < 10:
        return None
    inside = float(np.median(image[main]))
    ring_vals = image[ring]
    uniform = float(np.mean(np.abs(ring_vals - inside) <= UNIFORM_TOLERANCE * scale))
    if uniform >= MAX_UNIFORM_RING:
        return _bad("sac_in_uniform_region",
                    "the outline lies inside a uniform region larger than a canal (vertebral body or disc?)")
    # CSF is the bright part of the sac: roots, conus or cord may fill half of it or
    # more (clumped roots in a stenotic canal), so the T2 checks use its upper quartile
    csf = float(np.percentile(image[main], CSF_PERCENTILE))
    if is_t2 and (csf - float(np.median(ring_vals))) < MIN_T2_CONTRAST * scale:
        return _bad("sac_not_bright", "the sac is not brighter than its surroundings on T2 (CSF is bright)")
    if is_t2:
        dist = ndimage.distance_transform_edt(~main, sampling=spacing)
        near = (dist > 0) & (dist <= NEIGHBOURHOOD_MM) & np.isfinite(image)
        rank = float(np.mean(image[near] < csf)) if near.any() else 1.0
        if rank < MIN_T2_BRIGHTNESS_RANK:
            return _bad("sac_not_bright",
                        f"the sac is not among the brightest tissue around it on T2 (brighter than "
                        f"{100 * rank:.0f} % < {100 * MIN_T2_BRIGHTNESS_RANK:.0f} % within "
                        f"{NEIGHBOURHOOD_MM:g} mm; CSF is bright)")
        brighter = near & (dist <= BRIGHTER_NEIGHBOUR_MM) & (image > csf + BRIGHTER_MARGIN * scale)
        if brighter.any():
            lab, n = ndimage.label(brighter)
            px_mm2 = float(spacing[0] * spacing[1])
            biggest = float(ndimage.sum(brighter, lab, index=np.arange(1, n + 1)).max()) * px_mm2
            if biggest >= max(BRIGHTER_NEIGHBOUR_MIN_MM2, BRIGHTER_NEIGHBOUR_FRACTION * area_mm2):
                return _bad("brighter_structure_beside",
                            f"a brighter structure of {biggest:.0f} mm² lies beside the outline on T2 "
                            "(the canal may have been missed)")
        band = ndimage.binary_dilation(main) & ~main & np.isfinite(image)
        if band.sum() >= 8:
            edge = (float(image[band].mean()) - floor) / max(float(image[main].mean()) - floor, 1e-6 * scale)
            if edge >= MAX_EDGE_BRIGHTNESS:
                return _bad("sac_edge_missed",
                            f"the outline stops inside the bright sac on T2 (the pixels just outside are "
                            f"{100 * edge:.0f} % as bright as those inside): its edge was missed")
    return None


def _check_lf(
    side: str, lf: np.ndarray, sac: np.ndarray, thickness_mm: float, image: np.ndarray | None,
    spacing: tuple[float, float], orientation: Sequence[float] | None, is_t2: bool,
    tta: float | None, corrected: bool,
) -> _Fail | None:
    if tta is not None and not corrected and tta < MIN_TTA_DICE_LF:
        return _bad("lf_tta_disagreement",
                    f"the model disagrees with itself on the {side} LF (mirror Dice {tta:.2f} < {MIN_TTA_DICE_LF:.2f})")
    lo, hi = LF_THICKNESS_RANGE_MM
    if not lo <= thickness_mm <= hi:
        return _bad("lf_thickness_implausible", f"LF thickness {thickness_mm:.1f} mm outside {lo:g}–{hi:g} mm")
    sp = np.asarray(spacing, float)
    c_sac = np.array(ndimage.center_of_mass(sac)) * sp
    c_lf = np.array(ndimage.center_of_mass(lf)) * sp
    posterior, left = _directions(orientation)
    d = c_lf - c_sac
    rr, cc = np.nonzero(sac)
    depth = (np.stack([rr, cc], 1) * sp - c_sac) @ posterior  # sac pixels along posterior
    if float(d @ posterior) < float(depth.min()) - ANTERIOR_TOLERANCE_MM:
        return _bad("lf_position_implausible", f"{side} LF lies in front of the sac")
    lateral = float(d @ left) * (1.0 if side == "left" else -1.0)
    if lateral < -MIDLINE_TOLERANCE_MM:
        return _bad("lf_position_implausible", f"{side} LF is on the wrong side")
    gap = float(ndimage.distance_transform_edt(~sac, sampling=spacing)[lf].min())
    if gap > MAX_LF_SAC_GAP_MM:
        return _bad("lf_position_implausible", f"{side} LF is {gap:.1f} mm from the sac (> {MAX_LF_SAC_GAP_MM:g} mm)")
    if is_t2 and image is not None:
        if float(np.median(image[lf])) >= float(np.median(image[sac])):
            return _bad("lf_not_dark", f"the {side} LF is not darker than the sac on T2")
    return None


def _main_component(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lab, sizes = _components(mask)
    if sizes.size == 0:
        return np.zeros_like(mask, bool), sizes
    return lab == (int(np.argmax(sizes)) + 1), sizes


def assess_slice(
    labels: np.ndarray,
    measurement: SliceMeasurement,
    spacing_mm: tuple[float, float],
    *,
    image: np.ndarray | None = None,
    orientation: Sequence[float] | None = None,
    is_t2: bool = False,
    tta_dice: Sequence[float] | None = None,
    corrected: bool = False,
) -> Quality:
    """Verdicts of one slice's canal area and LF thicknesses (see the module docstring).

    ``labels`` (H, W) contract labels, ``measurement`` their
    :func:`~mri_measure.measure.measure_slice` result, ``image`` the slice's
    pixels (the intensity criteria are skipped without it), ``orientation``
    its ImageOrientationPatient (for posterior / patient-left), ``tta_dice``
    the (sac, LF-left, LF-right) mirror Dice or ``None``.

    >>> import numpy as np
    >>> lab = np.zeros((60, 60), np.uint8)
    >>> yy, xx = np.mgrid[:60, :60]
    >>> lab[(yy - 25) ** 2 + (xx - 30) ** 2 < 100] = 1        # r = 10 px = 5 mm: 79 mm²
    >>> lab[36:40, 31:42] = 2; lab[36:40, 18:29] = 3          # LF behind, left = image right
    >>> m = SliceMeasurement(canal_area_mm2=79.0, lf_thickness_left_mm=2.0, lf_thickness_right_mm=2.0)
    >>> q = assess_slice(lab, m, (0.5, 0.5))
    >>> [v.verdict for v in q.verdicts().values()]
    ['ok', 'ok', 'ok']
    >>> lab2 = np.where(lab == 2, 0, lab); lab2[10:14, 31:42] = 2   # left LF in front of the sac
    >>> assess_slice(lab2, m, (0.5, 0.5)).lf_thickness_left_mm.reason
    'left LF lies in front of the sac'
    """
    spacing = (float(spacing_mm[0]), float(spacing_mm[1]))
    lab = np.asarray(labels)
    img = None if image is None else np.asarray(image, dtype=np.float32)
    scale, floor = 1.0, 0.0
    if img is not None:
        finite = img[np.isfinite(img)]
        if finite.size:
            p1, p99 = np.percentile(finite[:: max(1, finite.size // 65536)], [1.0, 99.0])
            scale = float(p99 - p1) if p99 > p1 else 1.0
            floor = float(p1)
        else:
            img = None
    # everything below is local: work on the structures' box plus the neighbourhood
    rows, cols = np.nonzero(np.isin(lab, (1, 2, 3)))
    if rows.size:
        pr = int(np.ceil((NEIGHBOURHOOD_MM + 1.0) / spacing[0]))
        pc = int(np.ceil((NEIGHBOURHOOD_MM + 1.0) / spacing[1]))
        box = (slice(max(0, rows.min() - pr), rows.max() + pr + 1),
               slice(max(0, cols.min() - pc), cols.max() + pc + 1))
        lab = lab[box]
        img = None if img is None else img[box]
    tta: tuple[float | None, ...] = (None, None, None)
    if tta_dice is not None:  # NaN: no crop was segmented, nothing to compare
        tta = tuple(float(v) if np.isfinite(v) else None for v in tta_dice)

    sac_present = measurement.canal_area_mm2 is not None and bool((lab == 1).any())
    sac, sizes = _main_component(lab == 1) if sac_present else (np.zeros(lab.shape, bool), np.zeros(0))
    if not sac_present:
        sac_fail: _Fail | None = _bad("no_canal_found", "no dural sac found")
    else:
        sac_fail = _check_sac(sac, sizes, float(measurement.canal_area_mm2), img, spacing, is_t2,
                              tta[0], corrected, scale, floor)
    canal_v = _verdict(sac_fail, corrected, absent=not sac_present)
    lf_verdicts = {}
    for (side, label, name), t in zip(SIDES, tta[1:]):
        value = getattr(measurement, name)
        lf, _ = _main_component(lab == label)
        if value is None or not lf.any():
            lf_verdicts[name] = Verdict(NOT_MEASURABLE, f"no ligamentum flavum found (patient {side})", "no_lf_found")
            continue
        if not canal_v.ok or not sac_present:
            lf_verdicts[name] = _verdict(
                _bad("lf_without_sac", "dural sac not measurable: the LF position cannot be checked"),
                corrected, absent=not sac_present)
            continue
        fail = _check_lf(side, lf, sac, float(value), img, spacing, orientation, is_t2, t, corrected)
        lf_verdicts[name] = _verdict(fail, corrected)
    return Quality(canal_v, lf_verdicts["lf_thickness_left_mm"], lf_verdicts["lf_thickness_right_mm"])


def absent_only(measurement: SliceMeasurement) -> Quality:
    """The verdicts when nothing can be assessed (no pixels, no labels): only
    absent values are not measurable."""
    canal = (Verdict(OK) if measurement.canal_area_mm2 is not None
             else Verdict(NOT_MEASURABLE, "no dural sac found", "no_canal_found"))
    sides = {}
    for side, _, name in SIDES:
        sides[name] = (Verdict(OK) if getattr(measurement, name) is not None
                       else Verdict(NOT_MEASURABLE, f"no ligamentum flavum found (patient {side})", "no_lf_found"))
    return Quality(canal, sides["lf_thickness_left_mm"], sides["lf_thickness_right_mm"])


def reported(measurement: SliceMeasurement, quality: Quality | None) -> SliceMeasurement:
    """``measurement`` without the values (and their drawing lines) ``quality``
    refused: what figures and viewers may show. Unchanged without a verdict.

    >>> m = SliceMeasurement(canal_area_mm2=46.0, canal_ap_mm=5.0, lf_thickness_left_mm=2.0)
    >>> bad = Verdict(NOT_MEASURABLE, "sac area 12 mm² outside 20–400 mm²", "sac_area_implausible")
    >>> r = reported(m, Quality(canal_area_mm2=bad))
    >>> r.canal_area_mm2, r.canal_ap_mm, r.lf_thickness_left_mm
    (None, None, 2.0)
    """
    if quality is None:
        return measurement
    changes: dict[str, None] = {}
    if quality.canal_area_mm2.refused:
        changes.update(canal_area_mm2=None, canal_area_uncertainty_mm2=None, canal_ap_mm=None,
                       canal_ap_uncertainty_mm=None, canal_ap_line_px=None)
    if quality.lf_thickness_left_mm.refused:
        changes.update(lf_thickness_left_mm=None, lf_thickness_left_uncertainty_mm=None, lf_left_line_px=None)
    if quality.lf_thickness_right_mm.refused:
        changes.update(lf_thickness_right_mm=None, lf_thickness_right_uncertainty_mm=None, lf_right_line_px=None)
    return replace(measurement, **changes) if changes else measurement
