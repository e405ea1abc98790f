"""The review/correction model behind the napari widget (pure: no napari, no Qt).

A :class:`ReviewSession` holds one :class:`~mri_measure.types.StudyAnalysis`
while a reader corrects it: editable label volumes (one per axial stack),
per-slice measurements, level assignments and the set of corrected slices.
The widget hands it the labels layer's array after every edit; the session
finds the slices that changed (cheap comparison with a snapshot), re-measures
only those with :func:`mri_measure.measure.measure_slice` from the hard labels
(probabilities no longer apply to an edited slice) and rebuilds the report
with :func:`mri_measure.pipeline.build_report`.

A slice edited back to exactly the model's output is automatic again (its
probabilistic measurement is restored).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from mri_measure.criteria import Thresholds
from mri_measure.errors import OptionError
from mri_measure.types import (
    LevelAssignment,
    SliceMeasurement,
    StackAnalysis,
    StudyAnalysis,
    StudyReport,
)

from ._layers import one_hot

_UNASSIGNED_WARNING = re.compile(r"^\d+ measured slice\(s\) could not be assigned a disc level$")


@dataclass
class _StackState:
    analysis: StackAnalysis
    labels: np.ndarray  # editable (n, rows, cols) uint8, shown in the labels layer
    snapshot: np.ndarray  # labels as last measured
    original: np.ndarray  # the model's labels
    measurements: list[SliceMeasurement]

    @property
    def keys(self) -> list[str]:
        return [s.key for s in self.analysis.loaded.slices]


class ReviewSession:
    """Editable state of one analysed study."""

    def __init__(self, analysis: StudyAnalysis, *, study: Any = None, segmenter: Any = None):
        self._analysis = analysis
        self.study = study
        self.segmenter = segmenter
        self.thresholds: Thresholds = analysis.report.thresholds
        self.stacks: list[_StackState] = []
        for sa in analysis.axial:
            labels = np.array(sa.labels, dtype=np.uint8, copy=True)
            self.stacks.append(
                _StackState(sa, labels, labels.copy(), labels.copy(), list(sa.measurements))
            )
        self.assignments: dict[str, LevelAssignment] = {
            s.sop_instance_uid: s.level for s in analysis.report.slices
        }
        self.corrected: set[str] = {s.sop_instance_uid for s in analysis.report.slices if s.corrected}
        self.index: dict[str, tuple[int, int]] = {
            key: (i, k) for i, st in enumerate(self.stacks) for k, key in enumerate(st.keys)
        }
        self.report: StudyReport = analysis.report

    # ------------------------------------------------------------------ edits

    def labels(self, stack_index: int) -> np.ndarray:
        return self.stacks[stack_index].labels

    def sync(self, stack_index: int, data: np.ndarray | None = None) -> list[str]:
        """Pick up edits of one stack's labels (``data``: the layer's array, if it
        is not the session's own); re-measure changed slices; rebuild the report
        if anything changed. Returns the keys of the re-measured slices."""
        st = self.stacks[stack_index]
        if data is not None and data is not st.labels:
            arr = np.asarray(data)
            if arr.shape != st.labels.shape:
                raise OptionError(
                    f"labels of shape {arr.shape} do not match the stack ({st.labels.shape})"
                )
            np.copyto(st.labels, arr, casting="unsafe")
        changed = np.flatnonzero(np.any(st.labels != st.snapshot, axis=(1, 2)))
        keys = []
        for k in changed.tolist():
            self._remeasure(stack_index, k)
            keys.append(st.keys[k])
        if keys:
            self.rebuild()
        return keys

    def _remeasure(self, stack_index: int, k: int) -> None:
        from mri_measure.measure import measure_slice

        st = self.stacks[stack_index]
        key = st.keys[k]
        lab = st.labels[k]
        if np.array_equal(lab, st.original[k]):
            st.measurements[k] = st.analysis.measurements[k]
            self.corrected.discard(key)
        else:
            st.measurements[k] = measure_slice(lab, st.analysis.loaded.stack.spacing_mm)
            self.corrected.add(key)
        st.snapshot[k] = lab

    def set_level(self, slice_key: str | list[str], level: str | None) -> LevelAssignment:
        """User level for one slice, or for several (``None`` clears it); rebuilds the
        report once. Returns the assignment of the (last) slice."""
        from mri_measure.levels import override_level

        keys = [slice_key] if isinstance(slice_key, str) else list(slice_key)
        assignments = self.assignments
        for key in keys:
            assignments = override_level(assignments, key, level)
        self.assignments = assignments
        self.rebuild()
        return self.assignments[keys[-1]]

    # ------------------------------------------------------------------ results

    def stack_analyses(self) -> tuple[StackAnalysis, ...]:
        """Current stacks: edited labels, re-measured slices; probabilities of
        corrected slices replaced by the one-hot of their labels."""
        out = []
        for st in self.stacks:
            probs = st.analysis.probabilities
            edited = [k for k, key in enumerate(st.keys) if key in self.corrected]
            if edited:
                probs = np.array(probs, copy=True)
                for k in edited:
                    probs[k] = one_hot(st.labels[k], probs.shape[1])
            out.append(
                StackAnalysis(st.analysis.loaded, probs, st.labels.copy(), tuple(st.measurements))
            )
        return tuple(out)

    def rebuild(self) -> StudyReport:
        from mri_measure.pipeline import build_report

        original = self._analysis.report
        warnings = [w for w in original.warnings if not _UNASSIGNED_WARNING.match(w)]
        # the report needs slices and measurements only: no array copies here
        light = [
            StackAnalysis(st.analysis.loaded, st.analysis.probabilities, st.labels, tuple(st.measurements))
            for st in self.stacks
        ]
        report = build_report(
            light,
            self.assignments,
            thresholds=self.thresholds,
            study=self.study,
            segmenter=None,
            warnings=warnings,
            corrected=frozenset(self.corrected),
        )
        self.report = replace(
            report, model=original.model, study=dict(original.study), timings_s={}
        )
        return self.report

    def analysis(self) -> StudyAnalysis:
        """A :class:`StudyAnalysis` of the corrected state, for the report writers."""
        return StudyAnalysis(
            self.report, self.stack_analyses(), self._analysis.sagittal, self._analysis.discs
        )

    def export(self, out_dir: str | Path) -> dict[str, Path]:
        """Write JSON/CSV/HTML/PDF/SEG/SR of the corrected state via the core."""
        from mri_measure.pipeline import write_outputs

        return write_outputs(self.analysis(), out_dir)

    def save_training_pairs(self, out_dir: str | Path) -> list[Path]:
        """One ``.npz`` per corrected slice (``image``, ``labels``, ``spacing_mm``,
        ``orientation``) in the format ``mri-measure train --user-cases`` reads.
        File names are hashes (no UIDs, no patient data)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for st in self.stacks:
            loaded = st.analysis.loaded
            for k, info in enumerate(loaded.slices):
                if info.key not in self.corrected:
                    continue
                name = hashlib.sha256(info.key.encode()).hexdigest()[:16]
                path = out / f"case_{name}.npz"
                tmp = out / f".case_{name}.partial"
                with open(tmp, "wb") as fh:
                    np.savez_compressed(
                        fh,
                        image=np.asarray(loaded.pixels[k], dtype=np.float32),
                        labels=np.asarray(st.labels[k], dtype=np.uint8),
                        spacing_mm=np.asarray(info.spacing_mm, dtype=np.float64),
                        orientation=np.asarray(info.orientation, dtype=np.float64),
                    )
                tmp.replace(path)
                written.append(path)
        return written

    def measurement(self, slice_key: str) -> SliceMeasurement:
        i, k = self.index[slice_key]
        return self.stacks[i].measurements[k]

    def slice_result(self, slice_key: str):
        for s in self.report.slices:
            if s.sop_instance_uid == slice_key:
                return s
        raise KeyError(slice_key)


def assignments_of(report: StudyReport) -> Mapping[str, LevelAssignment]:
    return {s.sop_instance_uid: s.level for s in report.slices}
