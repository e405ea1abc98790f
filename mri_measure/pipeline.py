"""One study end to end: discover → choose stacks → segment → measure →
levels → criteria → (optionally) outputs.

The CLI, the napari widget and the batch runner are thin adapters over
:func:`run_study` / :func:`analyse_study`. Progress is reported through an
optional callback ``progress(stage: str, fraction: float)``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .criteria import Thresholds, aggregate_levels
from .errors import AmbiguousSeriesError, InputError, NoAxialT2Error, OptionError
from .types import (
    DiscPlane,
    LevelAssignment,
    LoadedStack,
    SliceResult,
    Stack,
    StackAnalysis,
    Study,
    StudyAnalysis,
    StudyReport,
)
from .vocabulary import LevelSource, StackRole

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]

#: Level sources whose names are counted upward from the sacrum.
COUNTED_SOURCES = (LevelSource.SAGITTAL, LevelSource.AXIAL_BLOCKS)

#: An isotropic 3-D T2 volume: thin slices (≈ pixel size) and many of them.
VOLUME_MAX_SLICE_SPACING_MM = 1.6
VOLUME_MIN_SLICES = 40


def _noop_progress(stage: str, fraction: float) -> None:  # pragma: no cover - trivial
    pass


@dataclass(frozen=True)
class StudyChoice:
    """Which stacks of a study the pipeline measures, and why."""

    study: Study
    axial: tuple[Stack, ...]
    sagittal: Stack | None
    volume: Stack | None  # isotropic 3-D T2 used when there are no 2-D axials
    warnings: tuple[str, ...] = ()


# --------------------------------------------------------------------------- choosing


def _series_label(stacks: Sequence[Stack]) -> str:
    s = stacks[0]
    n = sum(x.n_slices for x in stacks)
    number = f"#{s.series_number} " if s.series_number is not None else ""
    desc = f'"{s.series_description}" ' if s.series_description else ""
    return f"{number}{desc}{s.series_instance_uid} ({n} slices)"


def _slice_spacing_mm(stack: Stack) -> float | None:
    if stack.n_slices < 2:
        return None
    n = np.asarray(stack.normal)
    pos = np.array([np.dot(n, s.position_mm) for s in stack.slices])
    d = np.diff(np.sort(pos))
    d = d[d > 1e-3]
    return float(np.median(d)) if d.size else None


def is_volume(stack: Stack) -> bool:
    """True for an isotropic 3-D acquisition (SPACE/CUBE/VISTA-like) of any plane."""
    if stack.n_slices < VOLUME_MIN_SLICES:
        return False
    gap = _slice_spacing_mm(stack)
    return gap is not None and gap <= VOLUME_MAX_SLICE_SPACING_MM and stack.role != StackRole.LOCALIZER


def _inconsistent_stacks(stacks: Sequence[Stack]) -> tuple[list[Stack], list[str]]:
    """Drop a stack that is really a few slices of a bigger stack of the same series
    (same orientation, same in-plane line, overlapping range) whose pixel spacing or
    matrix disagrees with it: that spacing cannot be trusted, so neither can its areas."""
    kept = sorted(stacks, key=lambda s: -s.n_slices)
    dropped: list[Stack] = []
    warnings: list[str] = []
    for small in list(kept[::-1]):
        for big in kept:
            if big is small or big.n_slices < small.n_slices or small in dropped or big in dropped:
                continue
            if big.series_instance_uid != small.series_instance_uid:
                continue
            n = np.asarray(big.normal)
            if float(np.dot(n, small.normal)) < np.cos(np.deg2rad(1.0)):
                continue
            same_grid = (big.rows, big.columns) == (small.rows, small.columns) and np.allclose(
                big.spacing_mm, small.spacing_mm, atol=1e-3
            )
            if same_grid:
                continue
            pb = np.array([x.position_mm for x in big.slices])
            ps = np.array([x.position_mm for x in small.slices])
            off = np.median(pb - np.outer(pb @ n, n), axis=0) - np.median(ps - np.outer(ps @ n, n), axis=0)
            zb, zs = pb @ n, ps @ n
            step = _slice_spacing_mm(big) or 4.0
            near = zs.min() <= zb.max() + 1.5 * step and zs.max() >= zb.min() - 1.5 * step
            if float(np.linalg.norm(off)) < 3.0 * max(big.spacing_mm) and near:
                dropped.append(small)
                for x in small.slices:
                    warnings.append(
                        f"slice {x.key} excluded: its pixel spacing or matrix disagrees with the "
                        f"rest of its stack {big.stack_id}"
                    )
    return [s for s in stacks if s not in dropped], warnings


def choose_stacks(study: Study, series: str | None = None) -> StudyChoice:
    """Pick the axial T2 series (all its stacks/blocks) and the sagittal T2."""
    warnings: list[str] = []
    by_series: dict[str, list[Stack]] = {}
    # stacks discovery marked unusable (no/implausible PixelSpacing, mixed patients)
    unusable = [st for st in study.stacks if st.unusable and st.role in (StackRole.AXIAL_T2, StackRole.SAGITTAL_T2)]
    warnings.extend(dict.fromkeys(st.unusable for st in unusable))  # type: ignore[misc]
    for st in study.stacks_with_role(StackRole.AXIAL_T2):
        if (is_volume(st) and st.plane != "axial") or st.unusable:
            continue
        by_series.setdefault(st.series_instance_uid, []).append(st)

    if series is not None:
        wanted = [
            uid
            for uid, stacks in by_series.items()
            if uid == series or str(stacks[0].series_number) == series
        ]
        bad = [st for st in unusable if series in (st.series_instance_uid, str(st.series_number))]
        if not wanted and bad:
            raise NoAxialT2Error(str(bad[0].unusable))
        if not wanted:
            listing = "; ".join(_series_label(v) for v in by_series.values()) or "none"
            raise OptionError(
                f"--series {series} is not an axial T2 series of this study "
                f"(axial T2 series found: {listing})"
            )
        by_series = {wanted[0]: by_series[wanted[0]]}

    volume = None
    if not by_series:
        vols = [st for st in study.stacks if st.role in (StackRole.AXIAL_T2, StackRole.SAGITTAL_T2) and is_volume(st)
                and not st.unusable]
        if vols:
            volume = max(vols, key=lambda s: s.n_slices)
            warnings.append(
                "no 2-D axial T2: axial slices were reformatted through each disc "
                "from the 3-D T2 volume (derived images)"
            )
        elif any(st.role == StackRole.AXIAL_T2 for st in unusable):
            raise NoAxialT2Error(str(next(st for st in unusable if st.role == StackRole.AXIAL_T2).unusable))
        else:
            roles = sorted({f"{s.role} ({s.plane})" for s in study.stacks}) or ["none"]
            raise NoAxialT2Error(
                "no axial T2 series in this study (found: " + ", ".join(roles) + "); "
                "this tool measures on axial T2 images — check the CD holds the lumbar MRI"
            )
    elif len(by_series) > 1:
        listing = "; ".join(_series_label(v) for v in by_series.values())
        raise AmbiguousSeriesError(
            f"{len(by_series)} axial T2 series found: {listing}. "
            "Choose one with --series <SeriesInstanceUID or series number>"
        )

    axial: tuple[Stack, ...] = ()
    if by_series:
        kept, dropped_warnings = _inconsistent_stacks(next(iter(by_series.values())))
        axial = tuple(kept)
        warnings.extend(dropped_warnings)
    sagittals = [s for s in study.stacks_with_role(StackRole.SAGITTAL_T2) if s is not volume and not s.unusable]
    sagittal = None
    if sagittals:
        # prefer the one sharing the axial frame of reference, then the most slices
        for_uid = axial[0].frame_of_reference_uid if axial else None
        sagittal = max(
            sagittals,
            key=lambda s: (s.frame_of_reference_uid == for_uid, not is_volume(s), s.n_slices),
        )
    elif volume is None:
        warnings.append(
            "no sagittal T2: disc levels come from the axial blocks (lower confidence) or stay unknown"
        )
    return StudyChoice(study, axial, sagittal, volume, tuple(warnings))


def _choose_study(studies: Sequence[Study], series: str | None) -> Study:
    usable = []
    for st in studies:
        try:
            choose_stacks(st, series)
            usable.append(st)
        except (NoAxialT2Error, OptionError):
            continue
        except AmbiguousSeriesError:
            usable.append(st)
    if len(usable) == 1:
        return usable[0]
    if not usable:
        if len(studies) == 1:
            return studies[0]  # choose_stacks will raise the precise error
        raise NoAxialT2Error(
            f"none of the {len(studies)} studies found has an axial T2 series to measure"
        )
    raise AmbiguousSeriesError(
        f"{len(usable)} studies with axial T2 found in this input; "
        "point mri-measure at one study's folder, or use `mri-measure batch` for many"
    )


def needed_series(study: Study, series: str | None = None) -> tuple[str, ...]:
    """SeriesInstanceUIDs the analysis of ``study`` reads: the chosen axial T2
    series, the sagittal T2 and the 3-D volume (what a PACS fetch retrieves).
    Raises what :func:`choose_stacks` raises, before any pixel is read."""
    choice = choose_stacks(study, series)
    uids = [s.series_instance_uid for s in choice.axial]
    uids += [s.series_instance_uid for s in (choice.sagittal, choice.volume) if s is not None]
    return tuple(dict.fromkeys(uids))


# --------------------------------------------------------------------------- analysis


def _load(stack: Stack) -> LoadedStack:
    from .io import load_stack

    return load_stack(stack)


def _levels_for(
    choice: StudyChoice,
    axial_loaded: Sequence[LoadedStack],
    discs: Sequence[DiscPlane],
    overrides: Mapping[str, str] | None,
    sacrum_in_view: bool = True,
) -> tuple[dict[str, LevelAssignment], list[str]]:
    from .levels import assign_levels

    stacks = [lo.stack for lo in axial_loaded]
    return assign_levels(stacks, discs or None, overrides, sacrum_in_view=sacrum_in_view)


def _find_discs(sagittal: LoadedStack | None, warnings: list[str] | None = None) -> tuple[DiscPlane, ...]:
    """The named discs (levels.find_disc_levels); its warnings (e.g. "levels
    unknown: sacrum not in view") are appended to ``warnings``."""
    if sagittal is None or sagittal.pixels.shape[0] == 0:
        return ()
    from .levels import find_disc_levels

    finding = find_disc_levels(sagittal)
    if warnings is not None:
        warnings.extend(w for w in finding.warnings if w not in warnings)
    return tuple(finding.discs)


#: seconds the helper process may take to find the discs before this process does it itself
HELPER_DISCS_TIMEOUT_S = 120.0

#: Slices loaded, segmented and measured at a time: bounds memory for a series
#: of any length (a chunk's float32 probabilities at 512² take 8 MB per slice).
CHUNK_SLICES = 8


def _chunks(stack: Stack, size: int = CHUNK_SLICES):
    """(chunks of the slices that passed the off-line check, exclusions) of ``stack``."""
    from .io.load import off_line_slices

    off = off_line_slices(stack)
    for i, reason in sorted(off.items()):
        log.warning("stack %s: image %s excluded: %s", stack.stack_id, stack.slices[i].key, reason)
    keep = [s for i, s in enumerate(stack.slices) if i not in off]
    parts = [tuple(keep[i:i + size]) for i in range(0, len(keep), size)]
    return parts, [(stack.slices[i].key, r) for i, r in sorted(off.items())]


def _analyse_stack(
    source: Stack | LoadedStack,
    segmenter: Any,
    stage_s: dict[str, float],
    on_chunk: Callable[[int], None],
) -> StackAnalysis:
    """Load (a :class:`Stack`), segment and measure one axial stack a chunk of
    :data:`CHUNK_SLICES` at a time. Only what later stages use is kept: the
    pixels (losslessly compacted), uint8 labels, the probabilities as per-slice
    crops, the measurements. A stack none of whose slices loads comes back with
    no slices (and its exclusions)."""
    from .compact import CroppedProbabilities, PixelBuffer
    from .measure import measure_slice
    from .measure.quality import assess_slice, is_t2_series

    if isinstance(source, Stack):
        from .io.load import load_stack

        stack = source
        parts, excluded = _chunks(stack)

        def loaded_parts():
            for part in parts:
                t = time.perf_counter()
                lo = load_stack(replace(stack, slices=part), check_line=False, allow_empty=True)
                stage_s["load_s"] += time.perf_counter() - t
                excluded.extend(lo.excluded)
                yield lo
    else:
        stack, excluded = source.stack, list(source.excluded)

        def loaded_parts():
            sl = source.slices
            for i in range(0, len(sl), CHUNK_SLICES):
                part = sl[i:i + CHUNK_SLICES]
                yield LoadedStack(replace(stack, slices=part), source.pixels[i:i + CHUNK_SLICES], part)

    capacity = sum(len(p) for p in parts) if isinstance(source, Stack) else len(source.slices)
    hw = (stack.rows, stack.columns)
    pixels = PixelBuffer(capacity, hw)
    labels = np.zeros((capacity, *hw), np.uint8)
    probs_kept = CroppedProbabilities(hw)
    slices: list = []
    measurements: list = []
    qualities: list = []
    is_t2 = is_t2_series(str(stack.role), stack.echo_time_ms)
    for lo in loaded_parts():
        n = len(lo.slices)
        if n == 0:
            continue
        t = time.perf_counter()
        probs = np.asarray(segmenter.predict_stack(lo), dtype=np.float32)
        if probs.shape != (n, 4, *hw):
            raise AssertionError(f"segmenter returned shape {probs.shape} for {lo.pixels.shape}")
        stage_s["segment_s"] += time.perf_counter() - t
        tta = segmenter_tta_dice(segmenter, n)
        t = time.perf_counter()
        k0 = len(slices)
        for k in range(n):  # one slice at a time: no (n, H, W) int64 argmax
            labels[k0 + k] = np.argmax(probs[k], axis=0)
            m = measure_slice(labels[k0 + k], stack.spacing_mm, probabilities=probs[k])
            measurements.append(m)
            qualities.append(assess_slice(
                labels[k0 + k], m, stack.spacing_mm, image=lo.pixels[k],
                orientation=lo.slices[k].orientation, is_t2=is_t2,
                tta_dice=None if tta is None else tta[k]))
        probs_kept.extend(probs)
        pixels.append(lo.pixels)
        slices.extend(lo.slices)
        del probs, lo
        stage_s["measure_s"] += time.perf_counter() - t
        on_chunk(n)
    kept = tuple(slices)
    if not kept and isinstance(source, Stack):
        from .io.load import load_stack

        load_stack(source)  # raises the IntegrityError that says why nothing loaded
    order = {s.key: i for i, s in enumerate(source.slices if isinstance(source, Stack) else stack.slices)}
    excluded.sort(key=lambda kr: order.get(kr[0], len(order)))
    if isinstance(source, Stack) and stack.slices != kept:
        stack = replace(stack, slices=kept)
    elif not isinstance(source, Stack):
        stack = source.stack if source.stack.slices == kept else replace(source.stack, slices=kept)
    loaded = LoadedStack(stack=stack, pixels=pixels.array(), slices=kept, excluded=tuple(excluded))
    return StackAnalysis(loaded, probs_kept, labels[:len(kept)], tuple(measurements), tuple(qualities))


def segmenter_tta_dice(segmenter: Any, n: int) -> np.ndarray | None:
    """The (n, 3) mirror-TTA Dice (sac, LF-left, LF-right) of the segmenter's last
    ``predict_stack`` call, when it offers one (optional ``last_tta_dice``; not
    part of the :class:`~mri_measure.segment.Segmenter` protocol)."""
    value = getattr(segmenter, "last_tta_dice", None)
    if value is None:
        return None
    arr = np.asarray(value, dtype=float)
    return arr if arr.shape == (n, 3) else None


def _require_measurable(stacks: Sequence[StackAnalysis]) -> None:
    """Refuse a study on which no dural sac was found at all: not a lumbar axial T2
    (another body part, a localizer) or one the model cannot read."""
    if any(m.canal_area_mm2 is not None for sa in stacks for m in sa.measurements):
        return
    n = sum(len(sa.measurements) for sa in stacks)
    raise InputError(
        f"nothing measurable: no dural sac found on any of the {n} axial slice(s) "
        "(is this a lumbar spine axial T2?)"
    )


def analyse_study(
    source: str | Path | Study,
    *,
    series: str | None = None,
    level_overrides: Mapping[str, str] | None = None,
    thresholds: Thresholds | None = None,
    segmenter: Any = None,
    device: str = "cpu",
    model: str | Path | None = None,
    progress: Progress | None = None,
    on_study: Callable[[Study], None] | None = None,
    helper: Any = None,
) -> StudyAnalysis:
    """Run the whole analysis and return everything (report + arrays).

    ``on_study(study)`` is called once the study and its series are chosen,
    before any pixel is loaded (the output-folder check of :func:`run_study`).
    ``helper``: a running :class:`mri_measure.helper.Helper`, which then finds
    the disc levels while this process segments the axials (same result)."""
    progress = progress or _noop_progress
    thresholds = thresholds or Thresholds()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    warnings: list[str] = []

    progress("discover", 0.0)
    if isinstance(source, Study):
        study = source
    else:
        from .io import discover

        found = discover(source)
        warnings.extend(found.warnings)
        study = _choose_study(found.studies, series)
    choice = choose_stacks(study, series)
    warnings.extend(choice.warnings)
    if on_study is not None:
        on_study(study)
    timings["discover_s"] = time.perf_counter() - t0

    progress("load", 0.1)
    t = time.perf_counter()
    sagittal_loaded = _load(choice.sagittal) if choice.sagittal is not None else None
    derived_levels: dict[str, LevelAssignment] = {}
    if choice.volume is not None:
        from .levels import reformat_axials, sagittal_from_volume

        volume_loaded = _load(choice.volume)
        if sagittal_loaded is None:
            sagittal_loaded = sagittal_from_volume(volume_loaded)
        vol_warnings: list[str] = []
        discs = _find_discs(sagittal_loaded, vol_warnings)
        if not discs:
            raise InputError(
                "3-D T2 volume without 2-D axials, and no discs could be named on it to "
                "reformat axial slices through"
                + (f" ({'; '.join(vol_warnings)})" if vol_warnings else "")
                + "; measure a study with axial T2 slices instead"
            )
        sources: list[Stack | LoadedStack] = []
        for loaded, assigned in reformat_axials(volume_loaded, discs):
            sources.append(loaded)
            derived_levels.update(assigned)
        del volume_loaded
    else:
        sources = list(choice.axial)
        discs = ()
    timings["load_s"] = time.perf_counter() - t
    discs_submitted = (choice.volume is None and helper is not None and sagittal_loaded is not None
                       and helper.submit("discs", sagittal_loaded))

    stage_s = {"load_s": 0.0, "segment_s": 0.0, "measure_s": 0.0}
    if segmenter is None:
        from .segment import load_segmenter

        t = time.perf_counter()
        segmenter = load_segmenter(model, device=device)
        stage_s["segment_s"] += time.perf_counter() - t
    n_total = sum(x.n_slices if isinstance(x, Stack) else len(x.slices) for x in sources) or 1
    done = 0

    def on_chunk(n: int) -> None:
        nonlocal done
        done += n
        progress("segment", round(0.3 + 0.4 * done / n_total, 4))

    progress("segment", 0.3)
    stack_analyses = []
    for src in sources:
        sa = _analyse_stack(src, segmenter, stage_s, on_chunk)
        for key, reason in sa.loaded.excluded:
            warnings.append(f"slice {key} excluded: {reason}")
        if sa.loaded.slices:
            stack_analyses.append(sa)
    if not stack_analyses:
        raise InputError(
            "every axial T2 slice failed the integrity checks (see warnings); "
            "the files look damaged — copy the study again from the source"
        )
    axial_loaded = [sa.loaded for sa in stack_analyses]
    for k, v in stage_s.items():
        timings[k] = timings.get(k, 0.0) + v
    progress("measure", 0.7)
    _require_measurable(stack_analyses)

    progress("levels", 0.8)
    t = time.perf_counter()
    if choice.volume is None:
        if discs_submitted:
            discs, sagittal_warnings = helper.run("discs", (sagittal_loaded,), HELPER_DISCS_TIMEOUT_S)
        else:
            sagittal_warnings = []
            discs = _find_discs(sagittal_loaded, sagittal_warnings)
        from .levels import SACRUM_NOT_IN_VIEW

        no_sacrum = SACRUM_NOT_IN_VIEW in sagittal_warnings
        warnings.extend(sagittal_warnings)
        if choice.sagittal is not None and not discs and not no_sacrum:
            warnings.append(
                "no discs could be found on the sagittal T2: levels come from the axial blocks"
            )
        assignments, level_warnings = _levels_for(choice, axial_loaded, discs, level_overrides,
                                                  sacrum_in_view=not no_sacrum)
    else:
        assignments = dict(derived_levels)
        level_warnings = []
        if level_overrides:
            from .levels import assign_levels

            user, level_warnings = assign_levels(
                [lo.stack for lo in axial_loaded], None, level_overrides
            )
            assignments.update({k: v for k, v in user.items() if v.source == LevelSource.USER})
    if not any(a.level and a.source in COUNTED_SOURCES for a in assignments.values()):
        # no level was counted from the sacrum: the note about that count would contradict
        from .levels import SACRUM_NOTE

        level_warnings = [w for w in level_warnings if w != SACRUM_NOTE]
    warnings.extend(level_warnings)
    timings["levels_s"] = time.perf_counter() - t

    report = build_report(
        stack_analyses,
        assignments,
        thresholds=thresholds,
        study=study,
        sagittal=choice.sagittal,
        segmenter=segmenter,
        warnings=warnings,
        provenance=level_provenance(discs),
    )
    timings["total_s"] = time.perf_counter() - t0
    report = replace(report, timings_s=timings)
    progress("done", 1.0)
    return StudyAnalysis(report, tuple(stack_analyses), sagittal_loaded, tuple(discs))


def model_info(segmenter: Any) -> dict[str, Any] | None:
    if segmenter is None:
        return None
    return {
        "name": getattr(segmenter, "name", type(segmenter).__name__),
        "version": getattr(segmenter, "version", "unknown"),
        "sha256": getattr(segmenter, "sha256", None),
    }


def level_provenance(discs: Sequence[DiscPlane]) -> dict[str, Any]:
    """How the levels were found (``StudyReport.provenance``): the finder of the
    discs that named them and the identity of the sagittal disc detector bundle
    (``used`` when it found those discs)."""
    from .segment.bundle import bundle_identity

    method = discs[0].method if discs else None
    ident = bundle_identity()
    detector: dict[str, Any] | None = None if ident is None else {**ident, "used": method == "learned"}
    return {"disc_method": method or None, "disc_detector": detector}


def derived_warnings(slices: Sequence[SliceResult]) -> list[str]:
    """Warnings that follow from the measured slices themselves (recomputed by
    every :func:`build_report`, so a correction that resolves one removes it)."""
    n_unknown = sum(1 for s in slices if s.level.level is None)
    if n_unknown:
        return [f"{n_unknown} measured slice(s) could not be assigned a disc level"]
    return []


def build_report(
    stacks: Sequence[StackAnalysis],
    assignments: Mapping[str, LevelAssignment],
    *,
    thresholds: Thresholds,
    study: Study | None = None,
    sagittal: Stack | None = None,
    segmenter: Any = None,
    warnings: Sequence[str] = (),
    corrected: frozenset[str] = frozenset(),
    provenance: Mapping[str, Any] | None = None,
) -> StudyReport:
    """Assemble slices[] and levels[] from measured stacks and level assignments.

    Used by the pipeline and again by :class:`mri_measure.review.ReviewSession`
    after every correction. ``provenance``: see :func:`level_provenance`.
    """
    unknown = LevelAssignment(None, LevelSource.UNKNOWN, 0.0)
    from .measure.quality import absent_only

    slices: list[SliceResult] = []
    for sa in stacks:
        qualities = sa.qualities if len(sa.qualities) == len(sa.measurements) else ()
        for j, (info, m) in enumerate(zip(sa.loaded.slices, sa.measurements)):
            flags = []
            if m.canal_area_mm2 is None:
                flags.append("no_canal_found")
            if m.lf_thickness_left_mm is None and m.lf_thickness_right_mm is None:
                flags.append("no_lf_found")
            quality = qualities[j] if qualities else absent_only(m)
            flags.extend(f for f in quality.flags if f not in ("no_canal_found", "no_lf_found") and f not in flags)
            slices.append(
                SliceResult(
                    sop_instance_uid=info.key,
                    stack_id=sa.loaded.stack.stack_id,
                    instance_number=info.instance_number,
                    level=assignments.get(info.key, unknown),
                    measurement=m,
                    quality_flags=tuple(flags),
                    corrected=info.key in corrected,
                    quality=quality,
                )
            )
    levels = aggregate_levels(slices, thresholds)
    all_warnings = list(dict.fromkeys(warnings))  # de-duplicate, keep order
    all_warnings.extend(derived_warnings(slices))
    first = stacks[0].loaded.stack if stacks else None
    study_info = {
        "study_instance_uid": study.study_instance_uid if study
        else (first.study_instance_uid if first else None),
        "axial_series_instance_uids": sorted({sa.loaded.stack.series_instance_uid for sa in stacks}),
        "sagittal_series_instance_uid": sagittal.series_instance_uid if sagittal else None,
        "n_axial_slices_measured": len(slices),
    }
    return StudyReport(
        software={"name": "mri-measure", "version": __version__},
        model=model_info(segmenter),
        thresholds=thresholds,
        study=study_info,
        levels=tuple(levels),
        slices=tuple(slices),
        warnings=tuple(all_warnings),
        provenance=dict(provenance or {}),
    )


def run_study(
    source: str | Path | Study,
    *,
    out_dir: str | Path | None = None,
    overwrite: bool = False,
    **options: Any,
) -> StudyReport:
    """Measure one study; with ``out_dir`` also write every output file.

    Options: ``series``, ``level_overrides`` ({slice: level}), ``thresholds``
    (:class:`~mri_measure.criteria.Thresholds`), ``segmenter``, ``device``,
    ``model`` (bundle dir), ``progress`` (callback ``(stage, fraction)``).
    ``out_dir`` and ``overwrite``: see :func:`measure_to_folder`.
    """
    if out_dir is None:
        return analyse_study(source, **options).report
    analysis, _ = measure_to_folder(source, out_dir, overwrite=overwrite, **options)
    return analysis.report


def measure_to_folder(
    source: str | Path | Study,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    **options: Any,
) -> tuple[StudyAnalysis, dict[str, Path]]:
    """Analyse one study and write every output into ``out_dir``; returns the
    analysis and kind → path of the files written.

    ``out_dir`` is checked before any work (a folder that can be written, free
    space, no other run writing to it: :class:`~mri_measure.errors.OutputError`
    otherwise) and, once the study is known and before the segmentation,
    against the results it already holds: this study's are replaced (with a
    warning), another study's only with ``overwrite``. The files are written
    into a hidden folder beside ``out_dir`` and swapped in at the end: on any
    error ``out_dir`` is left as it was. See :mod:`mri_measure.atomic`.
    """
    from .atomic import OutputFolder

    if "on_study" in options:
        raise TypeError("measure_to_folder() sets on_study itself")
    with OutputFolder(out_dir, overwrite=overwrite) as folder:
        analysis = analyse_study(
            source, on_study=lambda st: folder.check_study(st.study_instance_uid), **options
        )
        staged = _write_staged(analysis, folder, options.get("helper"))
    return analysis, {k: folder.final_path(p) for k, p in staged.items()}


def _write_staged(analysis: StudyAnalysis, folder: Any, helper: Any = None) -> dict[str, Path]:
    from .report.writer import write_all

    assert folder.staging is not None
    t = time.perf_counter()
    written = write_all(analysis, folder.staging, helper)
    analysis.report.timings_s["write_outputs_s"] = time.perf_counter() - t
    return written


def write_outputs(
    analysis: StudyAnalysis, out_dir: str | Path, *, overwrite: bool = False
) -> dict[str, Path]:
    """Write every output of an analysed study into ``out_dir`` (atomic swap,
    locked, the same checks as :func:`measure_to_folder`); kind → path."""
    from .atomic import OutputFolder

    with OutputFolder(out_dir, overwrite=overwrite) as folder:
        folder.check_study(analysis.report.study.get("study_instance_uid"))
        staged = _write_staged(analysis, folder)
    return {k: folder.final_path(p) for k, p in staged.items()}
