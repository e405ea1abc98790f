"""The sagittal disc finder's entry point: learned first, classical fallback.

:func:`find_discs` asks the learned detector on the mid-sagittal slice
(:func:`_learned_discs`) and falls back to the classical column analysis
(stages 1–5 in :mod:`.canonical`, :mod:`.canal`, :mod:`.profile`,
:mod:`.choose`); then fits each disc's plane (stage 6, :mod:`.band`), smooths
normals that disagree with both neighbours and names the discs from the sacrum
upward (:mod:`mri_measure.levels.names`).
"""

from __future__ import annotations

import numpy as np

from ...types import DiscPlane, LoadedStack, SliceInfo
from ..names import level_name
from .band import _disc_axes, _gradients, _refine_band
from .canal import _mid_sagittal
from .canonical import canonical_view, _normalise
from .choose import _choose_column, _choose_column_normalised
from .constants import MIN_SPACING_MM, N_NAMED
from .profile import _disc_profile


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


def _column_confidence(positions) -> float:
    """1.0 for at least five regularly spaced discs (spacing varies by less
    than 25 %), 0.8 for four or an irregular column, 0.6 otherwise."""
    spacing = np.diff(np.asarray(positions, dtype=float))
    regular = float(np.std(spacing) / max(float(np.mean(np.abs(spacing))), 1e-6)) if len(spacing) else 1.0
    n = len(positions)
    return 1.0 if n >= 5 and regular < 0.25 else 0.8 if n >= 4 else 0.6


def _learned_discs(image: np.ndarray, sl: SliceInfo, for_uid: str | None) -> tuple[DiscPlane, ...] | None:
    """Discs by the learned detector (:mod:`mri_measure.segment.disc_detector`
    and :mod:`mri_measure.levels.learned`) on one sagittal slice; ``None`` when
    torch or the detector bundle is unavailable, or the detector sees no sacrum
    or fewer than two discs."""
    from ...errors import ModelError
    from ..learned import discs_from_probabilities

    try:
        from ...segment.disc_detector import load_disc_detector

        detector = load_disc_detector()
    except (ImportError, ModelError):
        return None
    cv = canonical_view(image, sl, detector.grid_mm)
    found = discs_from_probabilities(detector.probabilities(cv.image), detector.grid_mm)
    if not found or len(found) < 2:
        return None
    conf = _column_confidence([d.centre_px[0] for d in found])
    planes = []
    for d in reversed(found[-N_NAMED:]):  # caudal first
        ci, cj = d.centre_px
        centre = cv.to_patient(ci, cj)
        nvec = cv.to_patient(ci - d.normal_px[0], cj - d.normal_px[1]) - centre  # toward the head
        planes.append((centre, nvec / max(float(np.linalg.norm(nvec)), 1e-9), d.height_mm))
    normals = _smooth_normals([nv for _, nv, _ in planes])
    return tuple(
        DiscPlane(level=level_name(rank), centre_mm=tuple(float(v) for v in centre),  # type: ignore[arg-type]
                  normal=tuple(float(v) for v in nvec), confidence=conf,  # type: ignore[arg-type]
                  height_mm=float(height), frame_of_reference_uid=for_uid, method="learned")
        for rank, ((centre, _, height), nvec) in enumerate(zip(planes, normals))
    )


def find_discs(loaded_sagittal: LoadedStack, method: str = "auto") -> tuple[DiscPlane, ...]:
    """Discs on a sagittal T2 stack, named from the sacrum upward (L5-S1 first).

    ``method``: ``"learned"`` — the disc detector on the mid-sagittal slice;
    ``"classical"`` — the column analysis of this module; ``"auto"`` (default)
    — learned, falling back to classical when torch or the detector bundle is
    missing or the detector finds no sacrum. Returns ``()`` when the stack is
    unusable (not sagittal, too small, no canal or too few discs): the caller
    warns and falls back. Confidence: see :func:`_column_confidence`.
    """
    if method not in ("auto", "learned", "classical"):
        raise ValueError(f"unknown disc-finding method {method!r}")
    slices = loaded_sagittal.slices
    pixels = np.asarray(loaded_sagittal.pixels)
    if not slices or pixels.ndim != 3 or pixels.shape[0] != len(slices):
        return ()
    n = np.abs(np.asarray(slices[0].normal))
    if n[0] < np.cos(np.deg2rad(45)):  # not sagittal enough to look along the column
        return ()
    best = _mid_sagittal(pixels, slices)
    if best is None:
        return ()
    k_mid, (cv, st, _) = best
    for_uid = loaded_sagittal.stack.frame_of_reference_uid
    if method != "classical":
        learned = _learned_discs(pixels[k_mid], slices[k_mid], for_uid)
        if learned is not None or method == "learned":
            return learned or ()
    f = _disc_profile(st)
    grads = _gradients(_normalise(cv.image))
    chain = _choose_column_normalised(pixels[k_mid], slices[k_mid], st, f)
    if chain is None:
        chain = _choose_column(st, f, grads)
    if len(chain) < 2:
        return ()
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
                confidence=conf,
                height_mm=height,
                frame_of_reference_uid=for_uid,
                method="classical",
            )
        )
    return tuple(discs)
