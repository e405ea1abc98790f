"""Disc-level assignment: sagittal geometry, axial blocks, user override.

Order of preference (docs/clinical.md "Levels"):

1. **sagittal** — discs found on the sagittal T2 (:func:`~mri_measure.levels.find_discs`), counted
   upward from the sacrum; each axial slice goes to the disc whose plane is
   nearest in 3-D (point-to-plane distance of the slice centre), among discs
   whose centre lies within a plausible in-plane radius; a slice farther than
   half the local disc spacing from every disc gets no level (a gap).
2. **axial_blocks** — per-disc angled axial blocks, lowest = L5-S1 (confidence
   0.6, below :data:`~mri_measure.levels.names.UNCERTAIN_BELOW`: shown as
   uncertain); not when the sagittal images show no sacrum
   (``sacrum_in_view=False``): nothing is named from "the lowest disc".
3. **unknown** — no level; measurement goes on regardless. Each axial block
   left without a level gets its own warning with the one flag that names it
   (``--level SLICE=LEVEL``, SLICE = the block's middle slice).

User overrides win over all of them (``source="user"``, confidence 1.0). An
override of one slice of an axial block names the block's other unknown
slices too, and, in a series of per-disc blocks, the other blocks by their
order relative to it (``axial_blocks``, confidence 0.8).

Level names and their order live in :mod:`mri_measure.levels.names`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import OptionError
from ..types import DiscPlane, LevelAssignment, SliceInfo, Stack
from .names import LEVELS_FROM_SACRUM, level_name, normalise_level
from ..vocabulary import LevelSource

__all__ = [
    "SACRUM_NOTE",
    "assign_levels",
    "override_level",
    "slice_centre_mm",
    "transitional_warnings",
]

SACRUM_NOTE = (
    "disc levels are counted from the sacrum upward (lowest disc = L5-S1); lumbar-only "
    "MRI misnumbers about 14 % of patients (transitional vertebrae) — confirm the "
    "numbering on a whole-spine localizer if it matters"
)

BLOCKS_CONFIDENCE = 0.6
RELATIVE_CONFIDENCE = 0.8  # a block named by its order relative to a block the user named
IN_PLANE_RADIUS_MM = 60.0  # slice centre to disc centre, within the disc plane
DEFAULT_DISC_SPACING_MM = 38.0  # used when only one disc is known
MAX_BLOCK_EXTENT_MM = 30.0  # a per-disc block spans at most this along its normal
GAP_FACTOR = 2.0  # consecutive slices farther apart than this × median spacing → new block


def slice_centre_mm(sl: SliceInfo) -> np.ndarray:
    """Patient coordinate (mm) of the centre of a slice's pixel grid.

    >>> s = SliceInfo("1", "", (-80.0, -80.0, 10.0), (1, 0, 0, 0, 1, 0), (0.5, 0.5), 321, 321)
    >>> slice_centre_mm(s).tolist()
    [0.0, 0.0, 10.0]
    """
    return sl.pixel_to_patient((sl.rows - 1) / 2.0, (sl.columns - 1) / 2.0)


# --------------------------------------------------------------------------- sagittal mapping


def _disc_arrays(discs: Sequence[DiscPlane]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres (n,3), unit normals (n,3) and half spacings (n,2) in mm: to the next
    disc above (along the normal) and below; a side with no disc borrows the other."""
    centres = np.array([d.centre_mm for d in discs], dtype=float).reshape(-1, 3)
    normals = np.array([d.normal for d in discs], dtype=float).reshape(-1, 3)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-9)
    n = len(discs)
    half = np.full((n, 2), DEFAULT_DISC_SPACING_MM / 2.0)
    for i in range(n):
        rel = centres - centres[i]
        along = rel @ normals[i]
        dist = np.linalg.norm(rel, axis=1)
        up = dist[along > 1e-6]
        down = dist[along < -1e-6]
        sides = [float(up.min()) if up.size else None, float(down.min()) if down.size else None]
        if sides[0] is None:
            sides[0] = sides[1]
        if sides[1] is None:
            sides[1] = sides[0]
        for k in (0, 1):
            if sides[k] is not None:  # capped to sane anatomy
                half[i, k] = float(np.clip(sides[k], 15.0, 60.0)) / 2.0
    return centres, normals, half


def _assign_sagittal(
    slices: Sequence[SliceInfo], discs: Sequence[DiscPlane]
) -> tuple[dict[str, LevelAssignment], int, int]:
    """Point-to-plane mapping; returns assignments, n gap slices, n far-from-spine slices."""
    centres, normals, half = _disc_arrays(discs)
    out: dict[str, LevelAssignment] = {}
    n_gap = n_far = 0
    for sl in slices:
        p = slice_centre_mm(sl)
        rel = p[None, :] - centres
        along = np.einsum("ij,ij->i", rel, normals)
        plane_dist = np.abs(along)
        in_plane = np.linalg.norm(rel - along[:, None] * normals, axis=1)
        ok = in_plane <= IN_PLANE_RADIUS_MM
        if not ok.any():
            out[sl.key] = LevelAssignment(None, LevelSource.UNKNOWN, 0.0, None)
            n_far += 1
            continue
        cand = np.where(ok)[0]
        i = int(cand[np.argmin(plane_dist[cand])])
        d = float(plane_dist[i])
        h = half[i, 0] if along[i] >= 0 else half[i, 1]  # toward the neighbour on that side
        if d > h:
            out[sl.key] = LevelAssignment(None, LevelSource.UNKNOWN, 0.0, d)
            n_gap += 1
            continue
        # the disc's naming confidence (how often a name at that confidence is right,
        # benchmarks/RESULTS.md); a slice toward the boundary with the next disc may
        # belong to it, so it loses up to 20 % there
        conf = float(discs[i].confidence) * (1.0 - 0.2 * d / h)
        out[sl.key] = LevelAssignment(discs[i].level, LevelSource.SAGITTAL, round(conf, 3), d)
    return out, n_gap, n_far


# --------------------------------------------------------------------------- axial blocks


def _split_by_gaps(stack: Stack) -> list[list[SliceInfo]]:
    """Split a stack into runs of slices without a gap along the slice normal."""
    slices = list(stack.slices)
    if len(slices) < 2:
        return [slices] if slices else []
    n = np.asarray(stack.normal, dtype=float)
    pos = np.array([float(np.dot(slice_centre_mm(s), n)) for s in slices])
    order = np.argsort(pos)
    slices = [slices[i] for i in order]
    steps = np.diff(pos[order])
    med = float(np.median(steps)) if steps.size else 0.0
    blocks: list[list[SliceInfo]] = [[slices[0]]]
    for s, step in zip(slices[1:], steps):
        if med > 0 and step > GAP_FACTOR * med and step > med + 2.0:
            blocks.append([s])
        else:
            blocks[-1].append(s)
    return blocks


def _block_extent_mm(block: Sequence[SliceInfo]) -> float:
    n = np.asarray(block[0].normal, dtype=float)
    pos = [float(np.dot(slice_centre_mm(s), n)) for s in block]
    return max(pos) - min(pos)


def _slice_flag_key(s: SliceInfo, slices: Sequence[SliceInfo]) -> str:
    """What to type for SLICE in ``--level SLICE=LEVEL``: the InstanceNumber when unique, else the key."""
    if s.instance_number is not None and sum(x.instance_number == s.instance_number for x in slices) == 1:
        return str(s.instance_number)
    return s.key


def _block_hint(i: int, n: int, block: Sequence[SliceInfo], all_slices: Sequence[SliceInfo], why: str) -> str:
    mid = block[len(block) // 2]
    nums = [s.instance_number for s in block if s.instance_number is not None]
    span = f"slices {min(nums)}–{max(nums)}" if nums else f"{len(block)} slice(s)"
    extent = _block_extent_mm(block)
    if extent > MAX_BLOCK_EXTENT_MM:  # a contiguous run over several discs: one flag per disc
        return (f"axial block {i + 1} of {n} ({span}, {extent:.0f} mm, several discs): level unknown "
                f"({why}) — name a slice at each disc with --level SLICE=LEVEL (e.g. "
                f"--level {_slice_flag_key(mid, all_slices)}=L4-L5)")
    return (f"axial block {i + 1} of {n} ({span}): level unknown ({why}) — name it with "
            f"--level {_slice_flag_key(mid, all_slices)}=LEVEL (e.g. L4-L5)")


def _series_blocks(stacks: Sequence[Stack]) -> dict[str, list[list[SliceInfo]]]:
    by_series: dict[str, list[list[SliceInfo]]] = {}
    for st in stacks:
        by_series.setdefault(st.series_instance_uid, []).extend(_split_by_gaps(st))
    for uid, blocks in by_series.items():
        blocks = [b for b in blocks if b]
        z = [float(np.mean([slice_centre_mm(s)[2] for s in b])) for b in blocks]
        by_series[uid] = [blocks[i] for i in np.argsort(z)]  # lowest (caudal) first
    return by_series


def _per_disc(blocks: Sequence[Sequence[SliceInfo]]) -> bool:
    return 2 <= len(blocks) <= len(LEVELS_FROM_SACRUM) and all(
        _block_extent_mm(b) <= MAX_BLOCK_EXTENT_MM for b in blocks)


def _assign_blocks(stacks: Sequence[Stack], name_blocks: bool = True,
                   all_slices: Sequence[SliceInfo] = ()) -> tuple[dict[str, LevelAssignment], list[str]]:
    """Per-disc axial blocks, lowest along +z = L5-S1 (only when ``name_blocks``);
    else unknown, with one hint per block (:func:`_block_hint`)."""
    out: dict[str, LevelAssignment] = {}
    warnings: list[str] = []
    all_slices = list(all_slices) or [s for st in stacks for s in st.slices]
    for blocks in _series_blocks(stacks).values():
        per_disc = _per_disc(blocks)
        if not per_disc or not name_blocks:
            why = ("the sagittal images show no sacrum to count from" if per_disc else
                   "not one block per disc, and no sagittal series to place it")
            for i, b in enumerate(blocks):
                for s in b:
                    out[s.key] = LevelAssignment(None, LevelSource.UNKNOWN, 0.0, None)
                warnings.append(_block_hint(i, len(blocks), b, all_slices, why))
            continue
        for rank, b in enumerate(blocks):
            for s in b:
                out[s.key] = LevelAssignment(level_name(rank), LevelSource.AXIAL_BLOCKS, BLOCKS_CONFIDENCE)
        warnings.append(
            f"levels from {len(blocks)} axial blocks (one per disc, lowest = L5-S1) without a "
            "sagittal reference: lower confidence, shown as uncertain — check them against the "
            "sagittal images"
        )
    return out, warnings


def _spread_user_levels(assignments: dict[str, LevelAssignment], stacks: Sequence[Stack]) -> None:
    """A level the user set on one slice of an axial block names the block's
    unknown slices; in a series of per-disc blocks, the blocks not named from
    the sagittal images take their order relative to the user's block."""
    for blocks in _series_blocks(stacks).values():
        user = {}
        for i, b in enumerate(blocks):
            levels = {assignments[s.key].level for s in b
                      if s.key in assignments and assignments[s.key].source == LevelSource.USER}
            if len(levels) == 1 and None not in levels and _block_extent_mm(b) <= MAX_BLOCK_EXTENT_MM:
                user[i] = levels.pop()
        for i, level in user.items():
            for s in blocks[i]:
                if assignments.get(s.key, LevelAssignment(None)).source == LevelSource.UNKNOWN:
                    assignments[s.key] = LevelAssignment(level, LevelSource.USER, 1.0, None)
        if len(user) != 1 or not _per_disc(blocks):
            continue
        (iu, level), = user.items()
        if level not in LEVELS_FROM_SACRUM:
            continue  # a transitional name: no order to count from
        base = LEVELS_FROM_SACRUM.index(level)
        for i, b in enumerate(blocks):
            rank = base + (i - iu)
            if i == iu or not 0 <= rank < len(LEVELS_FROM_SACRUM):
                continue
            for s in b:
                if assignments.get(s.key, LevelAssignment(None)).source in (LevelSource.UNKNOWN,
                                                                           LevelSource.AXIAL_BLOCKS):
                    assignments[s.key] = LevelAssignment(level_name(rank), LevelSource.AXIAL_BLOCKS,
                                                         RELATIVE_CONFIDENCE)


# --------------------------------------------------------------------------- overrides


def _resolve_override_key(key: str, slices: Sequence[SliceInfo]) -> list[str]:
    key = str(key).strip()
    by_key = [s.key for s in slices if s.key == key]
    if by_key:
        return by_key
    by_uid = [s.key for s in slices if s.sop_instance_uid == key]
    if by_uid:
        return by_uid
    if key.isdigit():
        by_num = [s.key for s in slices if s.instance_number == int(key)]
        if len(by_num) == 1:
            return by_num
        if len(by_num) > 1:
            raise OptionError(
                f"level override {key}: InstanceNumber {key} matches {len(by_num)} slices; "
                "give the SOPInstanceUID instead"
            )
    raise OptionError(
        f"level override for slice {key!r}: no axial slice has that InstanceNumber or "
        "SOPInstanceUID — list them with `mri-measure inspect`"
    )


def override_level(
    assignments: Mapping[str, LevelAssignment], slice_key: str, level: str | None
) -> dict[str, LevelAssignment]:
    """A new assignment dict with one slice set by the user (``level=None`` clears it).

    >>> a = {"1.2.3": LevelAssignment("L4-L5", "sagittal", 0.9, 1.0)}
    >>> override_level(a, "1.2.3", "l3-l4")["1.2.3"]
    LevelAssignment(level='L3-L4', source='user', confidence=1.0, distance_mm=None)
    """
    if slice_key not in assignments:
        raise OptionError(f"level override: no slice with key {slice_key!r} in this study")
    new = dict(assignments)
    name = None if level is None else normalise_level(level)
    new[slice_key] = LevelAssignment(name, LevelSource.USER, 1.0, None)
    return new


def _hint_fixed(hint: str, assignments: Mapping[str, LevelAssignment], stacks: Sequence[Stack]) -> bool:
    """Whether the block a hint is about now has a level on every slice."""
    for blocks in _series_blocks(stacks).values():
        for i, b in enumerate(blocks):
            if hint.startswith(f"axial block {i + 1} of {len(blocks)} "):
                if all(assignments.get(s.key, LevelAssignment(None)).level for s in b):
                    return True
    return False


# --------------------------------------------------------------------------- transitional anatomy


def transitional_warnings(discs: Sequence[DiscPlane]) -> list[str]:
    """Warnings when the disc pattern suggests transitional lumbosacral anatomy."""
    out: list[str] = []
    lumbar = [d for d in discs if d.level in LEVELS_FROM_SACRUM[:5]]
    heights = [d.height_mm for d in lumbar if d.height_mm]
    lowest = next((d for d in discs if d.level == level_name(0)), None)
    if lowest is not None and lowest.height_mm and len(heights) >= 3:
        others = float(np.median([d.height_mm for d in lumbar if d is not lowest and d.height_mm]))
        if lowest.height_mm < 0.45 * others:
            out.append(
                "possible sacralised L5 (transitional anatomy): the lowest disc looks rudimentary "
                "(much thinner than the others) — the numbering may be off by one; confirm on a "
                "whole-spine localiser and correct with --level SLICE=LEVEL (or in napari)"
            )
    t12 = next((d for d in discs if d.level == level_name(5)), None)
    t11 = next((d for d in discs if d.level == level_name(6)), None)
    if t12 is not None and t12.height_mm and len(heights) >= 4:
        if t12.height_mm >= 0.95 * float(np.median(heights)) and (
            t11 is None or (t11.height_mm and t11.height_mm < 0.7 * t12.height_mm)
        ):
            out.append(
                "six lumbar-type discs found above the sacrum: possible transitional anatomy "
                "(six lumbar vertebrae) — the numbering may be off by one"
            )
    return out


# --------------------------------------------------------------------------- public API


def assign_levels(
    axial_stacks: Sequence[Stack],
    discs: Sequence[DiscPlane] | None = None,
    overrides: Mapping[str, str] | None = None,
    sacrum_in_view: bool = True,
) -> tuple[dict[str, LevelAssignment], list[str]]:
    """Assign every axial slice (by :attr:`SliceInfo.key`) to a disc level.

    Returns ``(assignments, warnings)``. Every slice of every stack appears in
    ``assignments``; slices without a level have ``level=None``.
    ``sacrum_in_view=False`` (the sagittal series shows no sacrum,
    :func:`~mri_measure.levels.find_disc_levels`): axial blocks are not named
    from the lowest one either.
    """
    all_slices = [s for st in axial_stacks for s in st.slices]
    warnings: list[str] = []
    assignments: dict[str, LevelAssignment] = {}
    discs = list(discs or ())

    use_sagittal: list[Stack] = []
    use_blocks: list[Stack] = []
    for st in axial_stacks:
        disc_for = {d.frame_of_reference_uid for d in discs if d.frame_of_reference_uid}
        if discs and st.frame_of_reference_uid and disc_for and st.frame_of_reference_uid not in disc_for:
            use_blocks.append(st)
        elif discs:
            use_sagittal.append(st)
        else:
            use_blocks.append(st)
    if discs and use_blocks:
        warnings.append(
            "the sagittal and axial series have different frames of reference, so the "
            "sagittal discs cannot be mapped onto the axial slices: falling back to axial blocks"
        )

    if use_sagittal:
        sl = [s for st in use_sagittal for s in st.slices]
        got, n_gap, n_far = _assign_sagittal(sl, discs)
        assignments.update(got)
        if n_gap:
            warnings.append(
                f"{n_gap} axial slice(s) lie more than half a disc spacing from every disc "
                "found on the sagittal images: no level assigned to them"
            )
        if n_far:
            warnings.append(
                f"{n_far} axial slice(s) are centred far from every disc found on the "
                "sagittal images: no level assigned to them"
            )
    if use_blocks:
        got, w = _assign_blocks(use_blocks, name_blocks=sacrum_in_view, all_slices=all_slices)
        assignments.update(got)
        warnings.extend(w)

    if overrides:
        for key, level in overrides.items():
            for k in _resolve_override_key(key, all_slices):
                assignments = override_level(assignments, k, level)
        _spread_user_levels(assignments, axial_stacks)
        warnings = [w for w in warnings
                    if not (w.startswith("axial block ") and _hint_fixed(w, assignments, axial_stacks))]

    n_unknown = sum(1 for a in assignments.values() if a.level is None)
    if all_slices and n_unknown == len(all_slices):
        warnings.append(
            "no disc level could be assigned to any axial slice: levels are unknown "
            "(set them with --level SLICE=LEVEL)"
        )
    warnings.append(SACRUM_NOTE)
    warnings.extend(transitional_warnings(discs))
    return assignments, warnings
