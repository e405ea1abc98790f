"""The sagittal disc finder's entry point: learned first, classical fallback.

:func:`find_disc_levels` (and :func:`find_discs`, its discs) asks the learned
detector on every slice through the canal and fuses them (:func:`_learned_finding`,
:mod:`.fuse`); it names nothing when the sacrum is not in view, and falls back
to the classical column analysis only when the detector is missing or finds no discs
(stages 1–5 in :mod:`.canonical`, :mod:`.canal`, :mod:`.profile`,
:mod:`.choose`); then fits each disc's plane (stage 6, :mod:`.band`), smooths
normals that disagree with both neighbours and names the discs from the sacrum
upward (:mod:`mri_measure.levels.names`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...types import DiscPlane, LoadedStack, SliceInfo
from ..names import level_name
from .band import _disc_axes, _gradients, _refine_band
from .canal import _canal_run
from .canonical import canonical_view, _normalise
from .choose import _choose_column, _choose_column_normalised
from .constants import MIN_SPACING_MM, N_NAMED
from .fuse import FUSE_MAX_SLICES, MATCH_MM, SliceColumn, fuse
from .profile import _disc_profile

#: The warning (console, JSON, report) when no level is named because the sacrum is not seen.
SACRUM_NOT_IN_VIEW = "levels unknown: sacrum not in view"
LUMBARISED_S1 = (
    "possible lumbarised S1 (transitional anatomy): a full disc-like band lies below the disc "
    "named L5-S1 — levels are counted from the upper one; confirm on a whole-spine localiser "
    "and correct with --level SLICE=LEVEL (or in napari) if needed"
)
#: A column with a disc-like band inside the sacrum (lumbarised S1?) keeps this share of its confidence.
LUMBARISED_FACTOR = 0.6
#: The classical column needs this many disc spacings of image below its lowest disc (the
#: sacrum); more when it answers because the detector saw discs but no sacrum at all.
SACRUM_ROOM = 1.5
FALLBACK_ROOM = 2.0


@dataclass(frozen=True)
class DiscFinding:
    """What :func:`find_disc_levels` found: the named discs (caudal first; ``()``
    when nothing is named), why (``status``: ``"named"``, ``"not_in_view"`` —
    the sacrum is not seen, ``"no_discs"``, ``"unusable"``), which method
    answered, how many slices were fused, and the warnings to show."""

    discs: tuple[DiscPlane, ...]
    status: str
    method: str
    n_slices: int
    warnings: tuple[str, ...]


def _smooth_normals(normals: list[np.ndarray], max_dev_deg: float = 15.0) -> list[np.ndarray]:
    """Replace an inner disc's normal that deviates from both neighbours' mean by
    more than ``max_dev_deg`` (a sheared, slipped disc fits badly) by that mean."""
    out = [np.asarray(v, float) for v in normals]

    def dev(a, b) -> float:
        return float(np.degrees(np.arccos(min(1.0, abs(float(np.dot(a, b)))))))

    for i in range(1, len(normals) - 1):
        mean = normals[i - 1] + normals[i + 1]
        mean = mean / max(float(np.linalg.norm(mean)), 1e-9)
        if dev(mean, normals[i]) > max_dev_deg:
            out[i] = mean
    # the top disc is often cut by the field of view: trust its neighbour instead
    # (not at L5-S1, whose wedge really differs from L4-L5)
    if len(out) >= 3 and dev(out[-1], out[-2]) > max_dev_deg:
        out[-1] = out[-2].copy()
    return out


def disc_confidence(column: float, support: float, rank: int) -> float:
    """A named disc's confidence: the column's (agreement of the fused slices,
    or :func:`_column_confidence` on one slice) times the share of slices that
    saw this disc; discs far up the column (counted through more discs) lose a
    little (2 % per disc above L5-S1)."""
    return float(np.clip(column * support * (1.0 - 0.02 * rank), 0.0, 1.0))


def _column_confidence(positions) -> float:
    """1.0 for at least five regularly spaced discs (spacing varies by less
    than 25 %), 0.8 for four or an irregular column, 0.6 otherwise."""
    spacing = np.diff(np.asarray(positions, dtype=float))
    regular = float(np.std(spacing) / max(float(np.mean(np.abs(spacing))), 1e-6)) if len(spacing) else 1.0
    n = len(positions)
    return 1.0 if n >= 5 and regular < 0.25 else 0.8 if n >= 4 else 0.6


def _learned_column(detector, image: np.ndarray, sl: SliceInfo) -> SliceColumn:
    """One slice's discs by the learned detector, in patient mm, caudal first
    (:mod:`mri_measure.levels.learned` reads the labels and checks the sacrum)."""
    from ..learned import read_column

    cv = canonical_view(image, sl, detector.grid_mm)
    col = read_column(detector.probabilities(cv.image), detector.grid_mm, np.isfinite(cv.image))
    x = float(np.dot(sl.position_mm, sl.normal))
    if not col.discs or len(col.discs) < 2:
        return SliceColumn(x, col.sacrum if col.discs is None else "no_discs", room=col.room)
    discs = []
    for d in reversed(col.discs[-N_NAMED:]):  # caudal first
        ci, cj = d.centre_px
        centre = cv.to_patient(ci, cj)
        nvec = cv.to_patient(ci - d.normal_px[0], cj - d.normal_px[1]) - centre  # toward the head
        discs.append((centre, nvec / max(float(np.linalg.norm(nvec)), 1e-9), d.height_mm))
    return SliceColumn(x, "seen", discs, len(col.below))


def _cut_above_sacrum(cols: list[SliceColumn]) -> bool:
    """No slice saw a sacrum, and most show a column of discs that ends (image
    below its lowest disc under ``learned.NO_SACRUM_ROOM_SPACINGS`` spacings)
    or a sacrum out of view: the field of view stops above the sacrum, so
    nothing may be counted from the lowest disc — not even by the classical
    fallback, which has no sacrum of its own to check."""
    from ..learned import NO_SACRUM_ROOM_SPACINGS

    if not cols or any(c.status == "seen" for c in cols):
        return False
    cut = sum(c.status == "not_in_view" or (c.room is not None and c.room < NO_SACRUM_ROOM_SPACINGS)
              for c in cols)
    return cut >= math.ceil(len(cols) / 2)


def _load_detector():
    from ...errors import ModelError

    try:
        from ...segment.disc_detector import load_disc_detector

        return load_disc_detector()
    except (ImportError, ModelError):
        return None


def _learned_finding(detector, pixels: np.ndarray, slices, run: list[int], for_uid: str | None,
                     classical=None) -> DiscFinding:
    """The learned detector on the slices through the canal, fused (:mod:`.fuse`);
    ``classical()`` gives the classical finding that breaks a tie in the L5-S1 vote."""
    cols = [_learned_column(detector, pixels[k], slices[k]) for k in run[:FUSE_MAX_SLICES]]
    fused = fuse(cols)
    votes = 0  # the classical analysis agreeing with the fused L5-S1 counts as one more slice
    if fused.contested and classical is not None:
        other = classical()
        if other.discs:
            fused = fuse(cols, prefer_yz=other.discs[0].centre_mm[1:3])
            votes = int(bool(fused.discs) and np.linalg.norm(
                np.subtract(fused.discs[0].centre_mm[1:3], other.discs[0].centre_mm[1:3])) <= MATCH_MM)
    if fused.status != "seen" or len(fused.discs) < 2:
        status = "not_in_view" if fused.status == "not_in_view" or _cut_above_sacrum(cols) else "no_discs"
        return DiscFinding((), status, "learned", fused.n_slices, (SACRUM_NOT_IN_VIEW,) if status == "not_in_view" else ())
    if fused.n_answered > 1:
        column = (fused.agreement * fused.n_answered + votes) / (fused.n_answered + votes)
    else:
        column = _column_confidence([-d.centre_mm[2] for d in fused.discs][::-1])
    lumbarised = fused.below > 0.5
    if lumbarised:  # two candidates for L5-S1: the name is about as likely to be off by one
        column *= LUMBARISED_FACTOR
    normals = _smooth_normals([np.asarray(d.normal) for d in fused.discs])
    discs = tuple(
        DiscPlane(level=level_name(rank), centre_mm=d.centre_mm,
                  normal=tuple(float(v) for v in nvec),  # type: ignore[arg-type]
                  confidence=round(float(disc_confidence(column, d.support, rank)), 3),
                  height_mm=d.height_mm, frame_of_reference_uid=for_uid, method="learned")
        for rank, (d, nvec) in enumerate(zip(fused.discs, normals))
    )
    warnings = []
    if lumbarised:
        warnings.append(LUMBARISED_S1)
    return DiscFinding(discs, "named", "learned", fused.n_slices, tuple(warnings))


def find_discs(loaded_sagittal: LoadedStack, method: str = "auto") -> tuple[DiscPlane, ...]:
    """Discs on a sagittal T2 stack, named from the sacrum upward (L5-S1 first);
    ``()`` when they cannot be named (see :func:`find_disc_levels`, which also
    says why)."""
    return find_disc_levels(loaded_sagittal, method).discs


def find_disc_levels(loaded_sagittal: LoadedStack, method: str = "auto") -> DiscFinding:
    """Discs on a sagittal T2 stack, named from the sacrum upward, and why not.

    ``method``: ``"learned"`` — the disc detector on every slice through the
    canal (up to five nearest the middle), fused (:mod:`.fuse`);
    ``"classical"`` — the column analysis of this module on the mid-sagittal
    slice; ``"auto"`` (default) — learned, falling back to classical only when
    torch or the detector bundle is missing or the detector finds no discs.
    When the detector sees no sacrum in view (or the classical column leaves
    no room for one below its lowest disc), nothing is named: ``status`` is
    ``"not_in_view"`` and the warning :data:`SACRUM_NOT_IN_VIEW`. ``()`` with
    ``"unusable"`` when the stack is not sagittal, too small or shows no
    canal. Confidence: :func:`disc_confidence`.
    """
    if method not in ("auto", "learned", "classical"):
        raise ValueError(f"unknown disc-finding method {method!r}")
    slices = loaded_sagittal.slices
    pixels = np.asarray(loaded_sagittal.pixels)
    unusable = DiscFinding((), "unusable", "", 0, ())
    if not slices or pixels.ndim != 3 or pixels.shape[0] != len(slices):
        return unusable
    n = np.abs(np.asarray(slices[0].normal))
    if n[0] < np.cos(np.deg2rad(45)):  # not sagittal enough to look along the column
        return unusable
    got = _canal_run(pixels, slices)
    if got is None:
        return unusable
    k_mid, analyses, run = got
    cv, st, _ = analyses[k_mid]
    for_uid = loaded_sagittal.stack.frame_of_reference_uid
    if method != "classical":
        detector = _load_detector()
        if detector is not None:
            learned = _learned_finding(
                detector, pixels, slices, run, for_uid,
                classical=lambda: _classical_finding(pixels[k_mid], slices[k_mid], cv, st, for_uid))
            if learned.status != "no_discs" or method == "learned":
                return learned
            return _classical_finding(pixels[k_mid], slices[k_mid], cv, st, for_uid, FALLBACK_ROOM)
        elif method == "learned":
            return DiscFinding((), "no_discs", "learned", len(run), ())
    return _classical_finding(pixels[k_mid], slices[k_mid], cv, st, for_uid)


def _classical_finding(image: np.ndarray, sl: SliceInfo, cv, st, for_uid: str | None,
                       room: float = SACRUM_ROOM) -> DiscFinding:
    """The classical column analysis on the mid-sagittal slice (stages 3–6)."""
    f = _disc_profile(st)
    grads = _gradients(_normalise(cv.image))
    chain = _choose_column_normalised(image, sl, st, f)
    if chain is None:
        chain = _choose_column(st, f, grads)
    if len(chain) < 2:
        return DiscFinding((), "no_discs", "classical", 1, ())
    spacing = float(np.median(np.diff(chain)))
    below = int(np.sum(st.valid[chain[-1]:])) if st.valid is not None else len(st.image) - chain[-1]
    if below < room * spacing:
        # the view ends within a body of the lowest disc: no sacrum to count from
        return DiscFinding((), "not_in_view", "classical", 1, (SACRUM_NOT_IN_VIEW,))
    conf = _column_confidence(chain)
    axes = {s: _disc_axes(grads, st, s) for s in chain}
    # two bands that settle on the same disc after re-centring are one disc
    merged: list[int] = []
    for s in chain:
        if merged and np.linalg.norm(axes[s][0] - axes[merged[-1]][0]) < 0.7 * MIN_SPACING_MM:
            if f[s] > f[merged[-1]]:
                merged[-1] = s
            continue
        merged.append(s)
    chain = merged
    found = []
    for s in reversed(chain[-N_NAMED:]):  # caudal first
        (ci, cj), (ti, tj), _ = axes[s]
        _, _, height = _refine_band(grads, np.array([ci, cj]), np.array([ti, tj]))
        centre = cv.to_patient(ci, cj)
        nvec = cv.to_patient(ci + ti, cj + tj) - centre
        found.append((centre, nvec / max(float(np.linalg.norm(nvec)), 1e-9), height))
    normals = _smooth_normals([nv for _, nv, _ in found])
    discs = []
    for rank, ((centre, _, height), nvec) in enumerate(zip(found, normals)):
        discs.append(
            DiscPlane(
                level=level_name(rank),
                centre_mm=tuple(float(v) for v in centre),  # type: ignore[arg-type]
                normal=tuple(float(v) for v in nvec),  # type: ignore[arg-type]
                confidence=round(float(disc_confidence(conf, 1.0, rank)), 3),
                height_mm=height,
                frame_of_reference_uid=for_uid,
                method="classical",
            )
        )
    return DiscFinding(tuple(discs), "named", "classical", 1, ())
