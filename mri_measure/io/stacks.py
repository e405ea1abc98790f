"""Group images into stacks and check each stack's slice spacing.

A stack is the images of one series that share orientation (slice normals
within :data:`ANGLE_TOL_DEG`, the same in-plane row direction), matrix, pixel
spacing and echo time, sorted by position along the slice normal — never by
InstanceNumber or file name. Angled per-disc axial blocks inside one series
therefore become separate stacks.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ..types import SliceInfo

ANGLE_TOL_DEG = 1.0
DUPLICATE_TOL_MM = 0.01
GAP_FACTOR = 1.5  # a step this many times the median step is a gap
NONUNIFORM_REL = 0.1  # steps differing from the median by more than 10 % …
NONUNIFORM_ABS_MM = 0.05  # … and more than 0.05 mm are non-uniform
IN_PLANE_MIN_MM = 1.0  # parallel slices this far (or a pixel, if larger) off each other's line: two blocks
MIN_BLOCK_SLICES = 3  # only runs of this many slices on their own line become a block of their own


@lru_cache(maxsize=4096)
def normal_of(orientation: tuple[float, ...]) -> tuple[float, float, float]:
    """Unit slice normal (row x column) of an ImageOrientationPatient, in pure
    Python and cached: :attr:`SliceInfo.normal` (numpy) is slow in hot loops.

    >>> normal_of((1.0, 0.0, 0.0, 0.0, 1.0, 0.0))
    (0.0, 0.0, 1.0)
    """
    r0, r1, r2, c0, c1, c2 = (float(v) for v in orientation[:6])
    n = (r1 * c2 - r2 * c1, r2 * c0 - r0 * c2, r0 * c1 - r1 * c0)
    norm = math.sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2])
    if norm == 0.0:
        return (0.0, 0.0, 0.0)
    return (n[0] / norm, n[1] / norm, n[2] / norm)


def _angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b), -1.0, 1.0))))


def cluster_orientations(slices: Sequence[SliceInfo], tol_deg: float = ANGLE_TOL_DEG) -> list[list[int]]:
    """Indices of ``slices`` grouped by orientation.

    Two images share a cluster when both their normals and their row directions
    lie within ``tol_deg`` of the cluster's first member. Deterministic for a
    given input order.

    >>> from mri_measure.types import SliceInfo
    >>> def s(iop): return SliceInfo("1", "", (0, 0, 0), iop, (1, 1), 4, 4)
    >>> tilt = np.deg2rad(10)
    >>> ax = (1, 0, 0, 0, 1, 0)
    >>> ax_jitter = (1, 0, 0, 0, 0.99999, 0.0001)
    >>> ax_10deg = (1, 0, 0, 0, np.cos(tilt), np.sin(tilt))
    >>> cluster_orientations([s(ax), s(ax_10deg), s(ax_jitter)])
    [[0, 2], [1]]
    """
    seeds: list[tuple[np.ndarray, np.ndarray]] = []
    groups: list[list[int]] = []
    for i, sl in enumerate(slices):
        n = np.asarray(normal_of(sl.orientation))
        r = np.asarray(sl.orientation[:3], dtype=float)
        for k, (sn, sr) in enumerate(seeds):
            if _angle_deg(n, sn) <= tol_deg and _angle_deg(r, sr) <= tol_deg:
                groups[k].append(i)
                break
        else:
            seeds.append((n, r))
            groups.append([i])
    return groups


def sort_along_normal(slices: Sequence[SliceInfo]) -> list[SliceInfo]:
    """Slices sorted by position along their (shared) normal, ties by key."""
    if not slices:
        return []
    n = np.mean([normal_of(s.orientation) for s in slices], axis=0)
    n /= np.linalg.norm(n) or 1.0
    return sorted(slices, key=lambda s: (float(np.dot(s.position_mm, n)), s.key))


def slice_positions(slices: Sequence[SliceInfo]) -> np.ndarray:
    """Positions (mm) of sorted slices along their mean normal."""
    n = np.mean([normal_of(s.orientation) for s in slices], axis=0)
    n /= np.linalg.norm(n) or 1.0
    return np.array([float(np.dot(s.position_mm, n)) for s in slices])


def spacing_problems(slices: Sequence[SliceInfo]) -> list[str]:
    """Duplicates, gaps, non-uniform spacing and in-plane shifts of a sorted stack.

    >>> from mri_measure.types import SliceInfo
    >>> def at(z): return SliceInfo(str(z), "", (0, 0, z), (1, 0, 0, 0, 1, 0), (1, 1), 4, 4)
    >>> spacing_problems([at(z) for z in (0, 4, 8, 12)])
    []
    >>> spacing_problems([at(z) for z in (0, 4, 4, 8, 20, 24)])
    ['duplicate positions: 1 slice(s) at the same position as another', 'gap: 1 step(s) larger than 1.5x the median step 4.00 mm (largest 12.00 mm)']
    """
    if len(slices) < 2:
        return []
    problems: list[str] = []
    z = slice_positions(slices)
    steps = np.diff(z)
    dup = int(np.sum(steps < DUPLICATE_TOL_MM))
    if dup:
        problems.append(f"duplicate positions: {dup} slice(s) at the same position as another")
    real = steps[steps >= DUPLICATE_TOL_MM]
    if real.size >= 2:
        med = float(np.median(real))
        gaps = real[real > GAP_FACTOR * med]
        if gaps.size:
            problems.append(
                f"gap: {gaps.size} step(s) larger than {GAP_FACTOR:g}x the median step "
                f"{med:.2f} mm (largest {float(gaps.max()):.2f} mm)"
            )
        rest = real[real <= GAP_FACTOR * med]
        dev = np.abs(rest - med)
        if rest.size and float(dev.max()) > max(NONUNIFORM_ABS_MM, NONUNIFORM_REL * med):
            problems.append(
                f"non-uniform slice spacing: steps from {float(rest.min()):.2f} to {float(rest.max()):.2f} mm"
            )
    # in-plane shift: positions should lie on one line along the normal
    n = np.mean([normal_of(s.orientation) for s in slices], axis=0)
    n /= np.linalg.norm(n) or 1.0
    p = np.array([s.position_mm for s in slices], dtype=float)
    rel = p - p[0]
    inplane = rel - np.outer(rel @ n, n)
    shift = float(np.max(np.linalg.norm(inplane, axis=1)))
    if shift > max(slices[0].spacing_mm):
        problems.append(f"in-plane shift between slices up to {shift:.1f} mm")
    return problems


def median_step_mm(slices: Sequence[SliceInfo]) -> float | None:
    """Median distance between consecutive distinct slice positions (mm)."""
    if len(slices) < 2:
        return None
    steps = np.diff(slice_positions(slices))
    steps = steps[steps >= DUPLICATE_TOL_MM]
    return float(np.median(steps)) if steps.size else None


def group_key(info: SliceInfo, echo_time_ms: float | None) -> tuple:
    """Matrix, spacing and echo time must match within a stack."""
    return (
        info.rows,
        info.columns,
        round(info.spacing_mm[0], 3),
        round(info.spacing_mm[1], 3),
        None if echo_time_ms is None else round(echo_time_ms, 1),
    )


def in_plane_offsets(positions: np.ndarray, normal: Sequence[float] | np.ndarray) -> np.ndarray:
    """The (n, 3) positions with their component along the unit ``normal`` removed:
    where each slice lies within its plane. Slices of one stack share it."""
    p = np.asarray(positions, dtype=float)
    n = np.asarray(normal, dtype=float)
    return p - np.outer(p @ n, n)


def split_in_plane(slices: list[SliceInfo]) -> list[list[SliceInfo]]:
    """Split a parallel group of slices into per-disc blocks prescribed at the
    same angle but centred apart: slices whose in-plane offsets from each other
    stay within a pixel (at least :data:`IN_PLANE_MIN_MM`) lie on one line and
    form one block. Only lines holding at least :data:`MIN_BLOCK_SLICES` slices
    are blocks of their own; a slice or two off every such line (a damaged
    ImagePositionPatient) stays with the nearest block, whose spacing check then
    rejects it, rather than being measured alone as if intact. With fewer than
    two such lines the group is returned whole. Each block stays sorted.

    >>> from mri_measure.types import SliceInfo
    >>> def at(y, z): return SliceInfo(f"{y}-{z}", "", (0, y, z), (1, 0, 0, 0, 1, 0), (1, 1), 4, 4)
    >>> [len(b) for b in split_in_plane([at(0, z) for z in (0, 4, 8)] + [at(25, z) for z in (30, 34, 38)])]
    [3, 3]
    >>> [len(b) for b in split_in_plane([at(0, 0), at(0, 4), at(25, 8), at(0, 12)])]
    [4]
    """
    if len(slices) < 2 * MIN_BLOCK_SLICES:
        return [slices]
    n = np.asarray(normal_of(slices[0].orientation), dtype=float)
    pos = np.asarray([s.position_mm for s in slices], dtype=float)
    if not n.any() or not np.isfinite(pos).all():
        return [slices]
    inplane = in_plane_offsets(pos - pos[0], n)
    pixel = [abs(float(v)) for s in slices for v in s.spacing_mm if math.isfinite(float(v))]
    tol = max([IN_PLANE_MIN_MM, *pixel])
    if float(np.linalg.norm(inplane, axis=1).max()) <= tol:
        return [slices]  # all on the first slice's line (the usual stack): nothing to cluster
    # single-linkage clustering of the in-plane offsets
    label = -np.ones(len(slices), dtype=int)
    for i in range(len(slices)):
        if label[i] >= 0:
            continue
        label[i] = i
        todo = [i]
        while todo:
            j = todo.pop()
            near = np.nonzero((label < 0) & (np.linalg.norm(inplane - inplane[j], axis=1) <= tol))[0]
            label[near] = i
            todo.extend(int(v) for v in near)
    big = [lab for lab in np.unique(label) if int((label == lab).sum()) >= MIN_BLOCK_SLICES]
    if len(big) < 2:
        return [slices]
    centres = {lab: inplane[label == lab].mean(axis=0) for lab in big}
    for i in range(len(slices)):
        if label[i] not in centres:
            label[i] = min(big, key=lambda lab: float(np.linalg.norm(inplane[i] - centres[lab])))
    return [[s for s, lab in zip(slices, label) if lab == b] for b in big]


def split_series(items: Sequence[tuple[SliceInfo, float | None]]) -> list[list[SliceInfo]]:
    """Split one series' images into sorted stacks, ordered by position of
    their centre along the series' mean normal (then by key, for stability)."""
    by_key: dict[tuple, list[SliceInfo]] = defaultdict(list)
    for info, te in sorted(items, key=lambda it: it[0].key):
        by_key[group_key(info, te)].append(info)
    stacks: list[list[SliceInfo]] = []
    for key in sorted(by_key, key=repr):
        members = by_key[key]
        for idx in cluster_orientations(members):
            stacks.extend(split_in_plane(sort_along_normal([members[i] for i in idx])))
    if len(stacks) > 1:
        mean_n = np.mean([normal_of(st[0].orientation) for st in stacks], axis=0)
        nn = np.linalg.norm(mean_n)
        mean_n = mean_n / nn if nn > 0 else np.array([0.0, 0.0, 1.0])
        stacks.sort(
            key=lambda st: (
                float(np.dot(np.mean([s.position_mm for s in st], axis=0), mean_n)),
                st[0].key,
            )
        )
    return stacks
