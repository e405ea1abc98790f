"""From the disc detector's label probabilities to the column's discs, counted
from the sacrum (numpy only; the network itself lives in
:mod:`mri_measure.segment.disc_detector`).

The detector labels each pixel of the canonical mid-sagittal view as
background, disc, vertebra or sacrum. Here:

1. **discs** are the connected regions labelled disc that touch bone
   (vertebra or sacrum) within a few millimetres — a bright blob in the
   abdomen is not a disc; two pieces of one disc (split by a dark cleft) are
   merged when they lie side by side along the disc rather than one above
   the other; a region more than 2.3 times the median disc height is two
   discs joined across a collapsed body and is split in two across the column;
2. **sacrum** is the largest region labelled sacrum; the highest disc that
   touches it is L5-S1, and regions labelled disc below it (a sacral remnant
   taken for a disc) are dropped. No sacrum: no answer (the caller falls back);
   the sacrum must also be **in view** (:func:`sacrum_in_view`): the image
   must go on for at least 1.2 disc spacings below the disc taken for
   L5-S1; a region labelled sacrum smaller than a whole S1 body (0.6 disc
   spacings squared) counts only with 1.7 spacings of image below, and one
   that reaches the lower edge of the view needs 1.6 (the detector calls
   the lowest visible body, or the part of it left by the cut, "sacrum"
   when the image ends above S1); otherwise the levels are unknown (``"not_in_view"``) rather than
   counted from the wrong bone. A column of at least three discs with no
   sacrum region under it (none labelled, or none that a disc touches) is
   ``"no_discs"`` with the room below its lowest disc (``Column.room``): the
   caller names nothing when that room is under ``NO_SACRUM_ROOM_SPACINGS``
   on its slices (the column is seen, what it stands on is not, and counting
   from the lowest disc is what must not happen) and may otherwise fall back
   to its classical analysis;
3. every disc gets its centre, its direction (the principal axes of the
   region: the long axis runs along the disc, the short one along the
   column) and its height (area / length).

>>> p = np.zeros((4, 60, 40), np.float32); p[0] = 1
>>> for r in (10, 30):  # two discs on a column of bodies, the sacrum below
...     p[:, r - 8 : r - 2, 10:30] = np.array([0, 0, 1, 0])[:, None, None]
...     p[:, r - 2 : r + 2, 10:30] = np.array([0, 1, 0, 0])[:, None, None]
>>> p[:, 32:50, 10:30] = np.array([0, 0, 0, 1])[:, None, None]
>>> [round(d.centre_px[0], 1) for d in discs_from_probabilities(p, grid_mm=1.5)]
[9.5, 29.5]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

DISC, VERTEBRA, SACRUM = 1, 2, 3
MIN_DISC_MM2 = 20.0  # smaller regions labelled disc are noise
MIN_SACRUM_MM2 = 150.0
#: Image below L5-S1 (× the median disc spacing) to see the sacrum. On SPIDER the full
#: mid slices have 1.22–3.4, the same slices cut 8 px above L5-S1 at most 1.31
#: (degenerate 152; otherwise ≤ 1.19): the margin is thin (benchmarks/RESULTS.md).
SACRUM_ROOM_SPACINGS = 1.2
#: The region labelled sacrum must cover this × the squared median disc spacing (about one
#: whole S1 body); on the SPIDER development half, full slices 0.74–3.1, slices cut 8 px
#: above L5-S1 that pass the room rule 0.29–0.84 (benchmarks/RESULTS.md).
SACRUM_AREA_SPACINGS2 = 0.6
#: A sacrum region that reaches the lower edge of the view (the field of view cuts it) needs
#: this much image below L5-S1 (× spacing): S1 and most of S2. On the SPIDER development half
#: no full slice's sacrum reaches the edge; the cut slices that pass the room rule reach it
#: with 1.42–1.45 spacings.
SACRUM_AT_EDGE_SPACINGS = 1.6
#: Discs on the column (after the clean-up) that make "no sacrum under them" mean "not in
#: view" rather than a failed detector.
MIN_COLUMN_DISCS = 3
#: … and with less image than this below the column's lowest disc (× spacing) the sacrum is
#: out of view; the same room is asked of a column whose sacrum region is smaller than
#: ``SACRUM_AREA_SPACINGS2``. SPIDER development half cut 8 px above L5-S1: at most 0.69 with
#: no sacrum region under the column, 1.45 with a small one (held-out 1.13 and 2.05); full
#: slices whose sacrum the detector missed: 2.7–2.9 (held-out 152); the synthetic test
#: sagittals of phantom seeds 1 and 2 (a sacrum drawn like one more body): 1.88–2.31.
NO_SACRUM_ROOM_SPACINGS = 1.7
LUMBARISED_FRACTION = 0.6  # a disc region inside the sacrum this big (× median disc area): S1-S2 disc
TOUCH_MM = 4.5  # a disc touches bone within this distance
MERGE_GAP_MM = 3.0  # pieces closer than this along the column are one disc
SHORT_FRACTION = 0.5  # a disc is at least this share of the median disc length
OFF_COLUMN_FRACTION = 0.6  # … and its centre this close to the column (× median length)
#: A region this many times the median disc height (area / length) is two discs joined across
#: the body between them (a collapsed body labelled disc): SPIDER development half, one such
#: region at 2.9 (patient 241); single discs up to 1.8 (a disc the mask draws in two pieces).
SPLIT_HEIGHT_FRACTION = 2.3


@dataclass(frozen=True)
class DetectedDisc:
    centre_px: tuple[float, float]  # (row, col) on the detector grid
    along_px: tuple[float, float]  # unit vector along the disc (its long axis)
    normal_px: tuple[float, float]  # unit vector along the column, pointing to the feet
    height_mm: float
    length_mm: float
    probability: float  # mean disc probability over the region


def _axes(rr: np.ndarray, cc: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre, long-axis and short-axis unit vectors of a pixel set."""
    x = np.stack([rr, cc], 1).astype(float)
    c = x.mean(0)
    cov = np.cov((x - c).T) if len(x) > 2 else np.eye(2)
    w, v = np.linalg.eigh(cov)
    long_ax, short_ax = v[:, 1], v[:, 0]
    if short_ax[0] < 0:
        short_ax = -short_ax  # toward the feet
    return c, long_ax, short_ax


def _column_gap_px(a: np.ndarray, b: np.ndarray, axis: np.ndarray) -> float:
    """Gap (px; negative = overlap) between two pixel sets along ``axis``."""
    pa, pb = a @ axis, b @ axis
    return float(max(pa.min(), pb.min()) - min(pa.max(), pb.max()))


@dataclass(frozen=True)
class Column:
    """What the detector's labels say about the column (:func:`read_column`)."""

    discs: list[DetectedDisc] | None  # head → feet, the last one L5-S1; None: no answer
    sacrum: str  # "seen", "not_in_view" (no room below L5-S1 for a sacrum) or "no_discs"
    below: tuple[DetectedDisc, ...] = ()  # disc-like regions inside the sacrum (S1-S2 look-alikes)
    room: float | None = None  # image below the lowest disc (× disc spacing) when no sacrum is under it


def sacrum_in_view(centres_rows: list[float], l5s1_px: tuple[float, float], inside: np.ndarray | None,
                   shape: tuple[int, int], sacrum: np.ndarray | None = None) -> bool:
    """Whether the view shows the sacrum below the disc taken for L5-S1: at
    least ``SACRUM_ROOM_SPACINGS`` median disc spacings (``centres_rows``: the
    discs' centre rows, head → feet) of image below that disc's centre, down
    its column (S1 and a part of S2). When the image ends above the sacrum,
    the detector calls the lowest visible body "sacrum", and there is about
    one body of image below the disc it takes for L5-S1. With ``sacrum`` (the
    region labelled sacrum, a boolean map of ``shape``) also: the region
    covers at least ``SACRUM_AREA_SPACINGS2`` squared spacings (a whole S1
    body, not the part of a lumbar body left by the cut) or the room is
    ``NO_SACRUM_ROOM_SPACINGS``, and when it reaches the lower edge of the
    view the room must be ``SACRUM_AT_EDGE_SPACINGS``."""
    if len(centres_rows) < 2:
        return True  # nothing to measure the column with: trust the label
    spacing = float(np.median(np.diff(centres_rows)))
    room = room_spacings(centres_rows, l5s1_px, inside, shape) * spacing
    if room < SACRUM_ROOM_SPACINGS * spacing:
        return False
    if sacrum is None:
        return True
    if float(sacrum.sum()) < SACRUM_AREA_SPACINGS2 * spacing**2:
        # less than an S1 body labelled: as good as no sacrum label; only much image below
        # says the sacrum is there (the detector missed most of it) rather than cut off
        return room >= NO_SACRUM_ROOM_SPACINGS * spacing
    return not _at_lower_edge(sacrum, inside) or room >= SACRUM_AT_EDGE_SPACINGS * spacing


def room_spacings(centres_rows: list[float], lowest_px: tuple[float, float], inside: np.ndarray | None,
                  shape: tuple[int, int]) -> float:
    """Image below the centre of the disc at ``lowest_px`` down its column, in
    median disc spacings of ``centres_rows`` (at least two discs)."""
    spacing = float(np.median(np.diff(centres_rows)))
    r, c = int(round(lowest_px[0])), int(round(lowest_px[1]))
    h, w = shape
    col = inside[:, min(max(c, 0), w - 1)] if inside is not None else np.ones(h, bool)
    rows = np.nonzero(col[max(r, 0):])[0]
    return (float(rows.max() + 1) if rows.size else 0.0) / max(spacing, 1e-6)


def _at_lower_edge(region: np.ndarray, inside: np.ndarray | None) -> bool:
    """Whether ``region`` reaches the last image row of any of its columns (the view's lower edge)."""
    valid = np.ones(region.shape, bool) if inside is None else inside
    h = valid.shape[0]
    has = valid.any(0)
    last = np.where(has, h - 1 - np.argmax(valid[::-1], axis=0), -1)  # last valid row per column
    rr, cc = np.nonzero(region)
    return bool(np.any(rr >= last[cc] - 1))


def discs_from_probabilities(prob: np.ndarray, grid_mm: float) -> list[DetectedDisc] | None:
    """Discs head → feet, the last one L5-S1; ``None`` when no sacrum is seen
    (see the module docstring). ``prob``: (4, H, W) on a grid of ``grid_mm``."""
    col = read_column(prob, grid_mm, check_view=False)
    return col.discs


def read_column(prob: np.ndarray, grid_mm: float, inside: np.ndarray | None = None,
                check_view: bool = True) -> Column:
    """The discs (see the module docstring) and whether the sacrum is in view
    (:func:`sacrum_in_view`, skipped when ``check_view`` is false); ``inside``:
    where the view holds image (False outside the source slice)."""
    label = np.argmax(prob, axis=0)
    px2 = grid_mm**2
    sac_lab, n_sac = ndi.label(label == SACRUM)
    # no usable sacrum region: decided below, from how many discs the column shows
    sacrum = None
    if n_sac:
        sizes = ndi.sum(np.ones_like(sac_lab), sac_lab, index=np.arange(1, n_sac + 1))
        if sizes.max() * px2 >= MIN_SACRUM_MM2:
            sacrum = sac_lab == (1 + int(np.argmax(sizes)))
    touch = max(1, int(round(TOUCH_MM / grid_mm)))
    near_sacrum = ndi.binary_dilation(sacrum, iterations=touch) if sacrum is not None else None
    near_bone = ndi.binary_dilation((label == VERTEBRA) | (sacrum if sacrum is not None else False),
                                    iterations=touch)

    disc_lab, n = ndi.label(label == DISC, structure=np.ones((3, 3)))
    pieces = []
    for k in range(1, n + 1):
        m = disc_lab == k
        if m.sum() * px2 < MIN_DISC_MM2 or not (m & near_bone).any():
            continue
        rr, cc = np.nonzero(m)
        pieces.append([np.stack([rr, cc], 1).astype(float),
                       near_sacrum is not None and bool((m & near_sacrum).any())])
    if not pieces:
        return Column(None, "no_discs")
    pieces.sort(key=lambda p: p[0][:, 0].mean())
    merged: list[list] = []
    for pts, on_sacrum in pieces:
        if merged:
            prev = merged[-1][0]
            big = prev if len(prev) >= len(pts) else pts
            _, _, normal = _axes(big[:, 0], big[:, 1])
            if _column_gap_px(prev, pts, normal) * grid_mm <= MERGE_GAP_MM:
                merged[-1][0] = np.concatenate([prev, pts])
                merged[-1][1] = merged[-1][1] or on_sacrum
                continue
        merged.append([pts, on_sacrum])
    merged = _split_doubles(_on_the_column(merged, label.shape, grid_mm), near_sacrum)
    # L5-S1: the highest disc touching the sacrum; anything below it is sacrum
    last = next((i for i, (_, s) in enumerate(merged) if s), None)
    if last is None:
        # no sacrum under the column (none labelled, or none that a disc touches): the
        # detector's failure ("no_discs": the caller may ask the classical analysis) — but
        # with the room below the lowest of at least MIN_COLUMN_DISCS discs, by which the
        # caller tells a sacrum cut off (:data:`NO_SACRUM_ROOM_SPACINGS`) from one missed
        room = None
        if len(merged) >= MIN_COLUMN_DISCS:
            rows = [float(p[:, 0].mean()) for p, _ in merged]
            room = room_spacings(rows, tuple(merged[-1][0].mean(0)), inside, label.shape)
        return Column(None, "no_discs", room=room)
    if check_view and not sacrum_in_view([float(p[:, 0].mean()) for p, _ in merged[: last + 1]],
                                         tuple(merged[last][0].mean(0)), inside, label.shape, sacrum):
        return Column(None, "not_in_view")
    pdisc = prob[DISC]

    def described(pts: np.ndarray) -> DetectedDisc:
        c, along, normal = _axes(pts[:, 0], pts[:, 1])
        length_mm = _length_px(pts, c, along) * grid_mm
        height_mm = len(pts) * px2 / max(length_mm, 1e-6)
        ri, ci = pts[:, 0].astype(int), pts[:, 1].astype(int)
        return DetectedDisc((float(c[0]), float(c[1])), (float(along[0]), float(along[1])),
                            (float(normal[0]), float(normal[1])), float(height_mm), length_mm,
                            float(pdisc[ri, ci].mean()))

    out = [described(pts) for pts, _ in merged[: last + 1]]
    med_area = float(np.median([len(p) for p, _ in merged[: last + 1]]))
    below = tuple(described(pts) for pts, _ in merged[last + 1 :]
                  if len(pts) >= LUMBARISED_FRACTION * med_area)
    return Column(out, "seen", below)


def _length_px(pts: np.ndarray, c: np.ndarray, along: np.ndarray) -> float:
    proj = (pts - c) @ along
    return float(proj.max() - proj.min() + 1)


def _on_the_column(discs: list[list], shape: tuple[int, int], grid_mm: float) -> list[list]:
    """Keep the regions that are discs of the column: a real disc runs across
    the whole vertebral body (at least ``SHORT_FRACTION`` of the median disc
    length; a patch inside a body or a posterior element is short), lies on
    the column (within ``OFF_COLUMN_FRACTION`` of the median disc length of a
    quadratic through the discs' centres: spinous processes are far behind
    it), and is not a sliver cut by the image border (under half the median
    area)."""
    if len(discs) < 3:
        return discs
    cent = np.array([p.mean(0) for p, _ in discs])
    lengths = np.array([_length_px(p, p.mean(0), _axes(p[:, 0], p[:, 1])[1]) for p, _ in discs])
    areas = np.array([len(p) for p, _ in discs], float)
    med_len, med_area = float(np.median(lengths)), float(np.median(areas))
    keep = lengths >= SHORT_FRACTION * med_len
    for _ in range(2):  # robust fit: refit without the outliers once
        if keep.sum() >= 3:
            coef = np.polyfit(cent[keep, 0], cent[keep, 1], 2 if keep.sum() >= 5 else 1)
            off = np.abs(np.polyval(coef, cent[:, 0]) - cent[:, 1])
            keep &= off <= OFF_COLUMN_FRACTION * med_len
    h, w = shape
    for k, (p, _) in enumerate(discs):
        at_border = p[:, 0].min() <= 0 or p[:, 0].max() >= h - 1 or p[:, 1].min() <= 0 or p[:, 1].max() >= w - 1
        if at_border and areas[k] < 0.5 * med_area:
            keep[k] = False
    return [d for d, k in zip(discs, keep) if k]


def _height_px(p: np.ndarray) -> float:
    c, along, _ = _axes(p[:, 0], p[:, 1])
    return len(p) / _length_px(p, c, along)


def _split_doubles(discs: list[list], near_sacrum: np.ndarray | None) -> list[list]:
    """Split a region ``SPLIT_HEIGHT_FRACTION`` times the median disc height
    (two discs and the collapsed body between them, all labelled disc) in two
    across the column, where the projection of its pixels on its short axis
    divides best (Otsu's threshold), each half keeping a quarter of it at least."""
    if len(discs) < 4:
        return discs
    med = float(np.median([_height_px(p) for p, _ in discs]))
    out: list[list] = []
    for p, on_sacrum in discs:
        if _height_px(p) <= SPLIT_HEIGHT_FRACTION * med:
            out.append([p, on_sacrum])
            continue
        c, _, normal = _axes(p[:, 0], p[:, 1])
        proj = (p - c) @ normal
        cut = _otsu(proj)
        parts = [p[proj <= cut], p[proj > cut]]
        if min(len(q) for q in parts) < 0.25 * len(p):
            out.append([p, on_sacrum])
            continue
        for q in parts:
            ri, ci = q[:, 0].astype(int), q[:, 1].astype(int)
            out.append([q, near_sacrum is not None and bool(near_sacrum[ri, ci].any())])
    return out


def _otsu(x: np.ndarray) -> float:
    """The threshold that splits ``x`` into two groups of least within-group variance."""
    v = np.sort(x)
    n = len(v)
    k = np.arange(1, n)
    csum = np.cumsum(v)
    m1 = csum[:-1] / k
    m2 = (csum[-1] - csum[:-1]) / (n - k)
    between = k * (n - k) * (m1 - m2) ** 2
    i = int(np.argmax(between))
    return float((v[i] + v[i + 1]) / 2)

