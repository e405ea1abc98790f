"""Review and correction of one analysed study (core: no napari, no Qt).

A reader looks at a :class:`~mri_measure.types.StudyAnalysis`, corrects
outlines and disc levels, and writes the corrected outputs. The napari plugin
is one front end of this loop; anything else (a script, a notebook, another
viewer) drives the same :class:`ReviewSession`:

* :meth:`ReviewSession.edit_slice` takes a slice's edited labels and
  re-measures it with :func:`mri_measure.measure.measure_slice` from the hard
  labels (probabilities no longer apply to an edited slice);
  :meth:`ReviewSession.sync` does the same for every slice of a stack whose
  labels changed (cheap comparison with a snapshot). A slice edited back to
  exactly the model's output is automatic again (its probabilistic
  measurement is restored). Its quality verdict is recomputed
  (:mod:`mri_measure.measure.quality`): a reader's outline counts — a value
  the automatic plausibility check would refuse is reported, with the note
  "reader correction accepted; automatic check: <reason>" — and a value that
  was not measurable becomes measurable once the reader draws it.
* :meth:`ReviewSession.set_level` overrides the disc level of some slices
  (``LevelSource.USER``), :meth:`ReviewSession.set_block_level` of every slice
  of a stack.
* :meth:`ReviewSession.report` is the rebuilt
  :class:`~mri_measure.types.StudyReport` (:func:`mri_measure.pipeline.build_report`,
  with the thresholds, model and study of the analysis); its warnings are the
  analysis's own warnings plus those derived from the current state (e.g.
  slices left without a level), never a stale copy of the latter.
* :meth:`ReviewSession.write` writes every output of the corrected state
  (:func:`mri_measure.pipeline.write_outputs`); :meth:`save_training_pairs`
  writes corrected slices as ``mri-measure train --user-cases`` cases.

The analysis passed in is never modified: the session edits its own copies.

>>> from mri_measure.review import ReviewSession   # doctest: +SKIP
>>> s = ReviewSession(analysis)                     # doctest: +SKIP
>>> s.edit_slice(key, edited_labels).canal_area_mm2 # doctest: +SKIP
>>> s.set_level([key], "L4-L5"); s.write(out_dir)   # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .compact import CroppedProbabilities
from .criteria import Thresholds
from .errors import OptionError
from .pipeline import build_report, derived_warnings, write_outputs
from .types import (
    LevelAssignment,
    Quality,
    SliceMeasurement,
    SliceResult,
    StackAnalysis,
    Study,
    StudyAnalysis,
    StudyReport,
)
from .vocabulary import Label, one_hot

__all__ = ["ReviewSession", "StackState"]


@dataclass
class StackState:
    """Editable state of one axial stack of a session."""

    analysis: StackAnalysis
    labels: np.ndarray  # editable (n, rows, cols) uint8
    snapshot: np.ndarray  # labels as last measured
    original: np.ndarray  # the model's labels
    measurements: list[SliceMeasurement]
    qualities: list[Quality] = field(default_factory=list)  # aligned with measurements

    @property
    def keys(self) -> list[str]:
        return [s.key for s in self.analysis.loaded.slices]


class ReviewSession:
    """Corrections of one analysed study (see the module docstring).

    ``study`` (a :class:`~mri_measure.types.Study`) only names the study in the
    rebuilt report when the analysis does not; ``segmenter`` is kept for
    front ends that re-run segmentation.
    """

    def __init__(self, analysis: StudyAnalysis, *, study: Study | None = None, segmenter: Any = None):
        if not analysis.axial:
            raise OptionError("the analysis has no measured axial stack to review")
        self._analysis = analysis
        self.study = study
        self.segmenter = segmenter
        self.thresholds: Thresholds = analysis.report.thresholds
        self.stacks: list[StackState] = []
        for sa in analysis.axial:
            labels = np.array(sa.labels, dtype=np.uint8, copy=True)
            qualities = list(sa.qualities) if len(sa.qualities) == len(sa.measurements) else []
            self.stacks.append(StackState(sa, labels, labels.copy(), labels.copy(),
                                          list(sa.measurements), qualities))
        self.assignments: dict[str, LevelAssignment] = {
            s.sop_instance_uid: s.level for s in analysis.report.slices
        }
        self.corrected: set[str] = {s.sop_instance_uid for s in analysis.report.slices if s.corrected}
        self.index: dict[str, tuple[int, int]] = {
            key: (i, k) for i, st in enumerate(self.stacks) for k, key in enumerate(st.keys)
        }
        # the analysis's own warnings: its report's, less those derived from its state
        derived = set(derived_warnings(analysis.report.slices))
        self._base_warnings = tuple(w for w in analysis.report.warnings if w not in derived)
        self._report: StudyReport = analysis.report

    # ------------------------------------------------------------------ lookup

    def _where(self, slice_key: str) -> tuple[int, int]:
        try:
            return self.index[slice_key]
        except KeyError:
            raise OptionError(f"no axial slice with key {slice_key!r} in this study") from None

    def labels(self, stack_index: int) -> np.ndarray:
        """The editable label volume of one stack (edit it, then :meth:`sync`)."""
        return self.stacks[stack_index].labels

    def measurement(self, slice_key: str) -> SliceMeasurement:
        i, k = self._where(slice_key)
        return self.stacks[i].measurements[k]

    def slice_result(self, slice_key: str) -> SliceResult:
        for s in self._report.slices:
            if s.sop_instance_uid == slice_key:
                return s
        raise KeyError(slice_key)

    # ------------------------------------------------------------------ outline edits

    def edit_slice(self, slice_key: str, labels: np.ndarray) -> SliceMeasurement:
        """Replace one slice's labels by ``labels`` (rows, cols; contract values),
        re-measure it and rebuild the report. Returns its new measurement."""
        i, k = self._where(slice_key)
        st = self.stacks[i]
        arr = np.asarray(labels)
        if arr.shape != st.labels.shape[1:]:
            raise OptionError(
                f"labels of shape {arr.shape} do not match the slice ({st.labels.shape[1:]})"
            )
        np.copyto(st.labels[k], arr, casting="unsafe")
        if self._remeasure(i, k):
            self._rebuild()
        return st.measurements[k]

    def sync(self, stack_index: int, data: np.ndarray | None = None) -> list[str]:
        """Pick up edits of one stack's labels (``data``: a new array for the whole
        stack, e.g. a viewer layer's; default: :meth:`labels` edited in place),
        re-measure the changed slices and rebuild the report once if anything
        changed. Returns the keys of the re-measured slices."""
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
            self._rebuild()
        return keys

    def _remeasure(self, stack_index: int, k: int) -> bool:
        """Re-measure slice ``k`` if its labels changed since last measured."""
        from .measure import measure_slice

        st = self.stacks[stack_index]
        lab = st.labels[k]
        if np.array_equal(lab, st.snapshot[k]):
            return False
        key = st.keys[k]
        if np.array_equal(lab, st.original[k]):
            st.measurements[k] = st.analysis.measurements[k]
            if st.qualities:
                st.qualities[k] = st.analysis.qualities[k]
            self.corrected.discard(key)
        else:
            st.measurements[k] = measure_slice(lab, st.analysis.loaded.stack.spacing_mm)
            if st.qualities:  # re-verdict the reader's outline (it counts, with a note)
                st.qualities[k] = self._assess(st, k, corrected=True)
            self.corrected.add(key)
        st.snapshot[k] = lab
        return True

    def _assess(self, st: StackState, k: int, *, corrected: bool) -> Quality:
        """The quality verdict of slice ``k``'s current labels
        (:func:`mri_measure.measure.quality.assess_slice`; a corrected outline has no
        TTA and its failed checks become notes, not refusals)."""
        from .measure.quality import assess_slice, is_t2_series

        loaded = st.analysis.loaded
        return assess_slice(
            st.labels[k], st.measurements[k], loaded.stack.spacing_mm,
            image=loaded.pixels[k], orientation=loaded.slices[k].orientation,
            is_t2=is_t2_series(str(loaded.stack.role), loaded.stack.echo_time_ms),
            corrected=corrected,
        )

    def quality(self, slice_key: str) -> Quality | None:
        """The current verdicts of one slice (``None`` when the analysis has none)."""
        i, k = self._where(slice_key)
        st = self.stacks[i]
        return st.qualities[k] if st.qualities else None

    # ------------------------------------------------------------------ levels

    def set_level(self, slice_keys: str | Iterable[str], level: str | None) -> LevelAssignment:
        """The reader's level (``LevelSource.USER``) for one slice or several;
        ``None`` (or ``"unknown"``) clears it. Rebuilds the report once and returns
        the assignment of the (last) slice."""
        from .levels import override_level

        keys = [slice_keys] if isinstance(slice_keys, str) else list(slice_keys)
        if not keys:
            raise OptionError("set_level needs at least one slice")
        name = None if level is None or str(level).strip().lower() in ("", "unknown") else level
        assignments: Mapping[str, LevelAssignment] = self.assignments
        for key in keys:
            self._where(key)
            assignments = override_level(assignments, key, name)
        self.assignments = dict(assignments)
        self._rebuild()
        return self.assignments[keys[-1]]

    def set_block_level(self, stack_index: int, level: str | None) -> LevelAssignment:
        """:meth:`set_level` for every slice of one stack (an angled per-disc block)."""
        return self.set_level(self.stacks[stack_index].keys, level)

    # ------------------------------------------------------------------ results

    def report(self) -> StudyReport:
        """The report of the current (corrected) state."""
        return self._report

    def _rebuild(self) -> StudyReport:
        original = self._analysis.report
        # the report needs slices and measurements only: no array copies here
        light = [
            StackAnalysis(st.analysis.loaded, st.analysis.probabilities, st.labels, tuple(st.measurements),
                          tuple(st.qualities))
            for st in self.stacks
        ]
        report = build_report(
            light,
            self.assignments,
            thresholds=self.thresholds,
            study=self.study,
            segmenter=None,
            warnings=self._base_warnings,
            corrected=frozenset(self.corrected),
        )
        self._report = replace(report, model=original.model, study=dict(original.study), timings_s={},
                               provenance=dict(original.provenance))
        return self._report

    def stack_analyses(self) -> tuple[StackAnalysis, ...]:
        """Current stacks: edited labels, re-measured slices; probabilities of
        corrected slices replaced by the one-hot of their labels."""
        out = []
        n_classes = len(Label)
        for st in self.stacks:
            probs = st.analysis.probabilities
            edited = {k for k, key in enumerate(st.keys) if key in self.corrected}
            if edited and isinstance(probs, CroppedProbabilities):
                # stay compact: a full float32 copy of a long series is gigabytes
                replaced = CroppedProbabilities(probs.shape[2:], probs.shape[1])
                replaced.extend(one_hot(st.labels[k])[:n_classes] if k in edited else probs[k]
                                for k in range(len(probs)))
                probs = replaced
            elif edited:
                probs = np.array(probs, copy=True)
                for k in edited:
                    probs[k] = one_hot(st.labels[k])[:n_classes]
            out.append(StackAnalysis(st.analysis.loaded, probs, st.labels.copy(), tuple(st.measurements),
                                     tuple(st.qualities)))
        return tuple(out)

    def analysis(self) -> StudyAnalysis:
        """A :class:`StudyAnalysis` of the corrected state, for the report writers."""
        return StudyAnalysis(
            self._report, self.stack_analyses(), self._analysis.sagittal, self._analysis.discs
        )

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write JSON/CSV/HTML/PDF/SEG/SR of the corrected state
        (:func:`mri_measure.pipeline.write_outputs`); returns kind -> path."""
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
