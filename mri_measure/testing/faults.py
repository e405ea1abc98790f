"""Fault injection for the batch tests and benchmark: a segmenter that really
kills (SIGSEGV) or hangs the worker process measuring a chosen study.

:func:`fault_spec` wraps any :class:`~mri_measure.batch.worker.SegmenterSpec`
(the shipped model, or :func:`mri_measure.testing.truth.truth_spec`); each
worker then makes the wrapped segmenter as usual, and a study whose
StudyInstanceUID ends with one of the ``segfault`` suffixes segfaults its worker
(``ctypes.string_at(0)``) when it is segmented, one ending with a ``hang``
suffix sleeps forever. Other studies are segmented by the wrapped segmenter.

>>> from mri_measure.batch.worker import SegmenterSpec
>>> spec = fault_spec(SegmenterSpec(), segfault=[".12"], hang=[".34"])
>>> spec.factory, spec.args[-1]
('mri_measure.testing.faults:faulty_segmenter', (('segfault', '.12'), ('hang', '.34')))
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

FAULTS = ("segfault", "hang")


def segfault() -> None:
    """A real SIGSEGV in this process."""
    import ctypes

    ctypes.string_at(0)


def hang() -> None:
    """Never return (until the process is killed)."""
    while True:
        time.sleep(3600)


class FaultySegmenter:
    """Delegates to ``inner``; faults the process on the chosen studies."""

    def __init__(self, inner: Any, faults: Iterable[tuple[str, str]]) -> None:
        self.inner = inner
        self.faults = tuple((str(k), str(s)) for k, s in faults)
        for kind, suffix in self.faults:
            if kind not in FAULTS or not suffix:
                raise ValueError(f"fault must be one of {FAULTS} with a UID suffix, not {kind}:{suffix!r}")
        self.name = getattr(inner, "name", type(inner).__name__)
        self.version = getattr(inner, "version", None)
        self.sha256 = getattr(inner, "sha256", None)

    def fault_for(self, study_instance_uid: str) -> str | None:
        for kind, suffix in self.faults:
            if study_instance_uid.endswith(suffix):
                return kind
        return None

    def predict_stack(self, loaded_stack: Any) -> Any:
        kind = self.fault_for(str(loaded_stack.stack.study_instance_uid))
        if kind == "segfault":
            segfault()
        elif kind == "hang":
            hang()
        return self.inner.predict_stack(loaded_stack)

    def predict(self, images, spacing_mm, orientation) -> Any:
        return self.inner.predict(images, spacing_mm, orientation)


def faulty_segmenter(model: str | None, device: str, factory: str | None, args: tuple,
                     faults: tuple[tuple[str, str], ...]) -> FaultySegmenter:
    """SegmenterSpec factory: the segmenter of the wrapped spec's fields, with faults."""
    from ..batch.worker import SegmenterSpec

    return FaultySegmenter(SegmenterSpec(model, device, factory, tuple(args)).make(), faults)


def fault_spec(inner, *, segfault: Iterable[str] = (), hang: Iterable[str] = ()):
    """``inner`` (a SegmenterSpec) with studies ending in the given
    StudyInstanceUID suffixes made to segfault or hang their worker."""
    from ..batch.worker import SegmenterSpec

    faults = tuple([("segfault", str(s)) for s in segfault] + [("hang", str(s)) for s in hang])
    return SegmenterSpec(device=inner.device, factory="mri_measure.testing.faults:faulty_segmenter",
                         args=(inner.model, inner.device, inner.factory, tuple(inner.args), faults))
