"""Fuse the discs found on several sagittal slices into one column (numpy only).

The learned detector runs on every slice through the canal (up to
``FUSE_MAX_SLICES`` nearest the mid-sagittal one); each slice gives its discs
counted from its own sacrum, or no answer. Here they are fused by 3-D
consensus, so the result does not hang on which slice is central:

1. **the sacrum** must be seen on a majority of the slices that show the
   canal; otherwise the levels are unknown (``"not_in_view"``);
2. **discs** of all slices are grouped by position in the sagittal plane
   (patient y, z): within ``MATCH_MM`` along the disc's normal (across the
   disc) and ``ALONG_MM`` along the disc (the detector may see only part of a
   disc on one slice, which moves its centre along the disc), the slice
   nearest the middle first;
3. **L5-S1** is the group that most slices call their lowest disc; a tie
   goes to the group nearest ``prefer_yz`` (the caller passes the classical
   column analysis' L5-S1 as the cross-check), else to the mid slice's, and
   the column is marked ``contested``;
4. every group above it seen on at least half of the answering slices is a
   disc; groups below L5-S1, and groups seen on too few slices (a sliver at the
   top of one slice, a patch inside a body), are dropped;
5. each fused disc takes the normal, height and x (across the column) of its
   member on the slice nearest the middle, and the mean (y, z) of its members
   (the part of a disc the detector sees varies from slice to slice); its **agreement** is the fraction of answering
   slices that saw it, and the column's agreement is the fraction of slices
   whose own count and order match the fused column.

>>> a = SliceColumn(0.0, "seen", [((0, 0, 0), (0, 0, 1), 9.0), ((0, 0, 40), (0, 0, 1), 9.0)])
>>> b = SliceColumn(4.0, "seen", [((4, 1, 1), (0, 0, 1), 9.0), ((4, 0, 41), (0, 0, 1), 9.0),
...                               ((4, 0, 80), (0, 0, 1), 9.0)])
>>> f = fuse([a, b, SliceColumn(-4.0, "seen", a.discs)])
>>> f.status, [round(d.centre_mm[2]) for d in f.discs], f.agreement
('seen', [0, 40], 0.67)
>>> fuse([a, SliceColumn(4.0, "not_in_view", []), SliceColumn(-4.0, "not_in_view", [])]).status
'not_in_view'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

FUSE_MAX_SLICES = 5  # slices through the canal the detector runs on (nearest the middle)
MATCH_MM = 12.0  # two slices' discs within this across the disc (along its normal) …
ALONG_MM = 35.0  # … and this along the disc (patient y, z) are the same disc


@dataclass(frozen=True)
class SliceColumn:
    """One slice's answer: its position across the column (mm), the sacrum
    status (``"seen"``, ``"not_in_view"``, ``"no_discs"``) and its discs, caudal
    first, as (centre, unit normal toward the head, height) in patient mm."""

    x_mm: float
    status: str
    discs: list = field(default_factory=list)
    below: int = 0  # disc-like regions inside the sacrum (lumbarised S1 look-alikes)
    room: float | None = None  # no sacrum under a column of discs: image below its lowest (× spacing)


@dataclass(frozen=True)
class FusedDisc:
    centre_mm: tuple[float, float, float]
    normal: tuple[float, float, float]
    height_mm: float | None
    support: float  # fraction of the answering slices that saw this disc


@dataclass(frozen=True)
class FusedColumn:
    status: str  # "seen", "not_in_view" or "no_discs"
    discs: tuple[FusedDisc, ...] = ()  # caudal first (L5-S1 first)
    agreement: float = 0.0  # fraction of answering slices whose count and order match
    n_slices: int = 0  # slices that showed the canal
    n_answered: int = 0  # of them, slices that saw the sacrum and discs
    below: float = 0.0  # fraction of answering slices with a disc-like band inside the sacrum
    contested: bool = False  # no single group won the L5-S1 vote


def _yz(c) -> np.ndarray:
    return np.asarray(c, float)[1:3]


def fuse(columns: list[SliceColumn], prefer_yz=None) -> FusedColumn:
    """The consensus column (see the module docstring); ``columns`` ordered
    with the slice nearest the middle first; ``prefer_yz``: patient (y, z) of
    an independent L5-S1 that breaks a tie in the L5-S1 vote."""
    n = len(columns)
    answered = [c for c in columns if c.status == "seen" and c.discs]
    if not answered or len(answered) < math.ceil(n / 2):
        seen_not = sum(c.status == "not_in_view" for c in columns)
        status = "not_in_view" if seen_not >= sum(c.status == "no_discs" for c in columns) else "no_discs"
        return FusedColumn(status, n_slices=n, n_answered=len(answered))
    groups: list[list[tuple[int, int]]] = []  # members (column index, rank from sacrum)
    centres: list[np.ndarray] = []
    normals: list[np.ndarray] = []
    for ci, col in enumerate(answered):
        taken: set[int] = set()
        for rank, (c, nv, _) in enumerate(col.discs):
            p = _yz(c)
            d = []
            for g, (q, u) in enumerate(zip(centres, normals)):
                across = abs(float(np.dot(p - q, u)))
                along = float(np.linalg.norm(p - q - np.dot(p - q, u) * u))
                d.append(across if g not in taken and along <= ALONG_MM else np.inf)
            g = int(np.argmin(d)) if d else -1
            if g < 0 or d[g] > MATCH_MM:
                groups.append([])
                centres.append(p)
                u = _yz(nv)
                normals.append(u / max(float(np.linalg.norm(u)), 1e-9))
                g = len(groups) - 1
            groups[g].append((ci, rank))
            taken.add(g)
    votes = [sum(1 for ci, r in members if r == 0) for members in groups]
    best = max(votes)
    tied = [g for g, v in enumerate(votes) if v == best]
    anchor = next((g for g in tied if any(ci == 0 and r == 0 for ci, r in groups[g])), tied[0])
    if len(tied) > 1 and prefer_yz is not None:
        anchor = min(tied, key=lambda g: float(np.linalg.norm(centres[g] - np.asarray(prefer_yz, float))))
    z_anchor = centres[anchor][1]
    need = max(1, math.ceil(len(answered) / 2))
    keep = [anchor] + [
        g for g in range(len(groups))
        if g != anchor and centres[g][1] > z_anchor and len({ci for ci, _ in groups[g]}) >= need
    ]
    keep.sort(key=lambda g: centres[g][1])  # caudal first
    fused = []
    for g in keep:
        ci, rank = min(groups[g])  # the member on the slice nearest the middle
        c, nv, h = answered[ci].discs[rank]
        yz = np.mean([_yz(answered[k].discs[r][0]) for k, r in groups[g]], axis=0)
        c = (float(np.asarray(c, float)[0]), float(yz[0]), float(yz[1]))
        fused.append(FusedDisc(tuple(float(v) for v in c), tuple(float(v) for v in nv),  # type: ignore[arg-type]
                               None if h is None else float(h),
                               round(len({k for k, _ in groups[g]}) / len(answered), 3)))
    kept = {g: i for i, g in enumerate(keep)}
    agree = 0
    for ci, col in enumerate(answered):
        mine = [next((g for g, members in enumerate(groups) if (ci, r) in members), -1)
                for r in range(len(col.discs))]
        agree += [kept.get(g, -1) for g in mine] == list(range(len(keep)))
    below = sum(c.below > 0 for c in answered) / len(answered)
    return FusedColumn("seen", tuple(fused), round(agree / len(answered), 2), n, len(answered),
                       round(below, 2), len(tied) > 1)
