"""The SPIDER sagittal reference (CC BY 4.0 PNG slices + masks under
``../shared/data/spider_sagittal``) and its scoring, shared by
``tests/test_levels_sagittal.py`` and ``benchmarks/bench_levels_spider.py``
(whose docstring explains the assumed spacing, the orientation and how the
mask's disc components are cleaned into the reference discs).

>>> import numpy as np
>>> m = np.zeros((200, 100), np.uint8); m[40:52, 20:80] = 29; m[120:132, 20:80] = 29
>>> [int(d.sum()) for d in mask_discs(m)]
[720, 720]
>>> patient_to_pixel(as_loaded_stack(np.zeros((4, 5))).slices[0].position_mm)
(0.0, 0.0)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
from scipy import ndimage as ndi

from ..levels import find_disc_levels
from ..types import LoadedStack, SliceInfo, Stack

ASSUMED_PIXEL_MM = 0.6
#: Assumed distance (mm) between a patient's mid slice and its ±3 neighbours when they are
#: fused as a three-slice mini-series (the re-export kept no slice positions; SPIDER's
#: T2 SPACE slices are about 1 mm apart at the source, so ±3 slices ≈ ±3 mm).
ASSUMED_OFFSET_MM = 3.0
MATCH_PX = 20  # a detected disc centre within 20 px (~12 mm) of a mask disc matches it


def read_png(path: Path) -> np.ndarray:
    from PIL import Image

    a = np.asarray(Image.open(path))
    return a[..., 0] if a.ndim == 3 else a


def as_loaded_stack(image: np.ndarray, pixel_mm: float = ASSUMED_PIXEL_MM) -> LoadedStack:
    """Wrap a 2-D sagittal PNG (anterior left, head up) as a one-slice LoadedStack."""
    sl = SliceInfo(
        sop_instance_uid="2.25.1",
        source="spider",
        position_mm=(0.0, -150.0, 200.0),
        orientation=(0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
        spacing_mm=(pixel_mm, pixel_mm),
        rows=int(image.shape[0]),
        columns=int(image.shape[1]),
    )
    st = Stack("1", "2.25.2", "2.25.3", (sl,), role="sagittal_t2", frame_of_reference_uid="2.25.4")
    return LoadedStack(st, image[None].astype(np.float32), (sl,))


def as_mini_series(images: list[np.ndarray], pixel_mm: float = ASSUMED_PIXEL_MM,
                   offset_mm: float = ASSUMED_OFFSET_MM) -> LoadedStack:
    """A patient's slices (−3, mid, +3, in that order, same size) as one sagittal
    LoadedStack, ``offset_mm`` apart, the mid slice at x = 0 (as :func:`as_loaded_stack`)."""
    n = len(images)
    h = min(int(im.shape[0]) for im in images)
    w = min(int(im.shape[1]) for im in images)
    sls = tuple(
        SliceInfo(sop_instance_uid=f"2.25.1{k}", source="spider",
                  position_mm=((k - (n - 1) / 2) * offset_mm, -150.0, 200.0),
                  orientation=(0.0, 1.0, 0.0, 0.0, 0.0, -1.0), spacing_mm=(pixel_mm, pixel_mm),
                  rows=h, columns=w)
        for k in range(n)
    )
    st = Stack("1", "2.25.2", "2.25.3", sls, role="sagittal_t2", frame_of_reference_uid="2.25.4")
    pixels = np.stack([im[:h, :w] for im in images]).astype(np.float32)
    return LoadedStack(st, pixels, sls)


def patient_to_pixel(p, pixel_mm: float = ASSUMED_PIXEL_MM) -> tuple[float, float]:
    """Pixel (row, col) of a patient point on the slice made by :func:`as_loaded_stack`."""
    return (200.0 - p[2]) / pixel_mm, (p[1] + 150.0) / pixel_mm


def _column_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Gap (px; negative = overlap) between two components along the column
    direction, taken as the minor axis of the larger one (a disc is a flat band)."""
    big = a if a.sum() >= b.sum() else b
    rr, cc = np.nonzero(big)
    x = np.stack([rr - rr.mean(), cc - cc.mean()], 1).astype(float)
    _, vec = np.linalg.eigh(x.T @ x)
    u = vec[:, 0]
    pa = [r * u[0] + c * u[1] for r, c in [np.nonzero(a)]][0]
    pb = [r * u[0] + c * u[1] for r, c in [np.nonzero(b)]][0]
    return float(max(pa.min(), pb.min()) - min(pa.max(), pb.max()))


def mask_discs(mask: np.ndarray) -> list[np.ndarray]:
    """Boolean masks of the cleaned disc components, head → feet (see the module docstring)."""
    lab, n = ndi.label(mask == 29)
    comps = [(np.array(ndi.center_of_mass(lab == i)), lab == i) for i in range(1, n + 1)]
    comps = [c for c in comps if c[1].sum() >= 5]
    comps.sort(key=lambda c: c[0][0])
    merged: list[list] = []
    for com, m in comps:
        if merged and (
            np.linalg.norm(merged[-1][0] - com) < 25 or _column_gap(merged[-1][1], m) <= 3.0
        ):
            merged[-1][1] = merged[-1][1] | m
            merged[-1][0] = np.array(ndi.center_of_mass(merged[-1][1]))
        else:
            merged.append([com, m])
    # slivers under 150 px are dropped at the ends of the column (cut by the image border, or
    # a fragment above the top disc); a thin disc between two discs is a disc (SPIDER 177, +3)
    big = [m.sum() >= 150 for _, m in merged]
    lo = next((i for i, b in enumerate(big) if b), len(big))
    hi = len(big) - next((i for i, b in enumerate(reversed(big)) if b), len(big))
    return [m for _, m in merged[lo:hi]]


class Result(NamedTuple):
    method: str  # "learned", or "classical" when find_disc_levels fell back
    ok: bool  # count and order of all discs match the mask
    lowest_ok: bool  # the detected L5-S1 is the mask's lowest disc (and only it matches it)
    lumbar_ok: bool  # L5-S1 … L1-L2 match the mask's five lowest discs in order
    n_det: int
    n_mask: int
    pts: list  # detected centres (row, col) px, head → feet
    discs: tuple
    status: str = "named"  # find_disc_levels' status ("not_in_view": nothing named, no sacrum seen)
    correct: tuple = ()  # per named disc (caudal first): matches the mask disc of its rank from the lowest
    seconds: float = 0.0  # find_disc_levels alone


def evaluate(image: np.ndarray, mask: np.ndarray, pixel_mm: float = ASSUMED_PIXEL_MM,
             method: str = "auto", stack: LoadedStack | None = None) -> Result:
    """Score ``find_disc_levels`` on one slice (or on ``stack``, a mini-series
    whose discs are compared with ``mask``, the mid slice's) against the mask."""
    stack = as_loaded_stack(image, pixel_mm) if stack is None else stack
    t0 = time.perf_counter()
    finding = find_disc_levels(stack, method=method)
    seconds = time.perf_counter() - t0
    used, discs = finding.method or method, finding.discs
    truth = mask_discs(mask)
    pts = [patient_to_pixel(d.centre_mm, pixel_mm) for d in reversed(discs)]  # head → feet
    matched = []
    for r, c in pts:
        dists = []
        for m in truth:
            rr, cc = np.nonzero(m)
            dists.append(float(np.min(np.hypot(rr - r, cc - c))))
        k = int(np.argmin(dists)) if dists else -1
        matched.append(k if k >= 0 and dists[k] <= MATCH_PX else -1)
    nt = len(truth)
    ok = len(pts) == nt and matched == list(range(nt))
    lowest_ok = bool(pts) and bool(truth) and matched[-1] == nt - 1 and matched.count(nt - 1) == 1
    lumbar_ok = len(pts) >= 5 and nt >= 5 and matched[-5:] == list(range(nt - 5, nt))
    correct = tuple(m == nt - 1 - rank for rank, m in enumerate(reversed(matched)))
    return Result(used, ok, lowest_ok, lumbar_ok, len(pts), nt, pts, discs, finding.status, correct, seconds)


def halves(files: list[Path]) -> dict[str, list[Path]]:
    """The deterministic split: sorted names, even positions = development, odd = held-out."""
    files = sorted(files)
    return {"development": files[0::2], "held-out": files[1::2]}
