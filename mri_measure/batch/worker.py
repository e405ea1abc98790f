"""What runs inside a Dask worker process for ``mri-measure batch``.

One study is one task: :func:`measure_study_task` takes a discovered
:class:`~mri_measure.types.Study` (headers only, wrapped in a
:class:`StudyParcel` whose repr shows only the opaque key) and returns the
``measurements.json`` dict, or a recorded failure. It never raises for a
bad study: a :class:`~mri_measure.errors.MriMeasureError` becomes
``{"ok": False, ...}`` with its class and one-line message; any other
exception likewise, with its message redacted (it may quote a path).

The segmenter (model weights) is loaded **once per worker process** and kept
in a module-level cache keyed by :class:`SegmenterSpec`; a worker restarted
by its nanny (after a crash or a timeout) loads it again on its first study.
"""

from __future__ import annotations

import importlib
import os
import resource
import time
from dataclasses import dataclass, field
from typing import Any

#: Dask event topic on which a task announces that it started executing.
START_TOPIC = "mri-measure-batch-start"

_SEGMENTERS: dict[tuple, Any] = {}
_LOADS: dict[tuple, int] = {}  # how often each spec was loaded in this process


@dataclass(frozen=True)
class SegmenterSpec:
    """How a worker makes its segmenter (picklable, hashable).

    By default :func:`mri_measure.segment.load_segmenter` (``model`` bundle
    directory or the shipped model, on ``device``). ``factory`` =
    ``"module:callable"`` with positional ``args`` replaces it (tests inject the
    ground-truth segmenter this way).
    """

    model: str | None = None
    device: str = "cpu"
    factory: str | None = None
    args: tuple = field(default=())

    def key(self) -> tuple:
        return (self.model, self.device, self.factory, self.args)

    def make(self) -> Any:
        if self.factory is None:
            from ..segment import load_segmenter

            return load_segmenter(self.model, device=self.device)
        module, _, attr = self.factory.partition(":")
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj(*self.args)


def get_segmenter(spec: SegmenterSpec) -> Any:
    """The cached segmenter of this worker process, loading it on first use."""
    k = spec.key()
    seg = _SEGMENTERS.get(k)
    if seg is None:
        seg = spec.make()
        _SEGMENTERS[k] = seg
        _LOADS[k] = _LOADS.get(k, 0) + 1
    return seg


def model_identity(seg: Any) -> dict[str, Any]:
    return {
        "name": getattr(seg, "name", type(seg).__name__),
        "version": getattr(seg, "version", None),
        "sha256": getattr(seg, "sha256", None),
    }


def _peak_rss_mb() -> float:
    """This process's own peak resident memory (MB). On Linux the high-water mark of
    its address space (VmHWM): ``ru_maxrss`` survives exec, so a worker spawned by
    a large process would report its parent's peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    # elsewhere: ru_maxrss (KiB on Linux, bytes on macOS; only Linux reaches here in practice)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _process_info(spec: SegmenterSpec | None = None) -> dict[str, Any]:
    info = {"pid": os.getpid(), "peak_rss_mb": _peak_rss_mb()}
    if spec is not None:
        info["segmenter_loads"] = _LOADS.get(spec.key(), 0)
    return info


def warm_up_task(spec: SegmenterSpec) -> dict[str, Any]:
    """Load the segmenter in this worker and report its identity (the batch
    client needs the model sha256 before deciding what ``--resume`` skips).
    A model that cannot be loaded is returned as ``ok: False`` (class and
    message), not raised, so the worker logs no traceback."""
    from ..errors import MriMeasureError

    try:
        seg = get_segmenter(spec)
    except MriMeasureError as exc:
        return {"ok": False, "error_class": type(exc).__name__, "message": str(exc)}
    return {"ok": True, "model": model_identity(seg), **_process_info(spec)}


def _announce_start() -> None:
    """Tell the client this task began executing (for --timeout-per-study)."""
    try:
        from distributed import get_worker

        w = get_worker()
    except (ImportError, ValueError):
        return  # not inside a Dask worker (direct call)
    key = w.get_current_task()
    w.log_event(START_TOPIC, {"key": key, "worker": w.address, "time": time.time()})


class StudyParcel:
    """A study as shipped to a worker. Its ``repr`` is only the opaque key:
    Dask may print task arguments in its logs, and a :class:`Study` holds
    file paths (which can carry patient names)."""

    __slots__ = ("key", "study")

    def __init__(self, key: str, study: Any):
        self.key, self.study = key, study

    def __repr__(self) -> str:
        return f"StudyParcel({self.key})"

    def __getstate__(self) -> tuple:
        return (self.key, self.study)

    def __setstate__(self, state: tuple) -> None:
        self.key, self.study = state


def render_reports(analysis: Any) -> dict[str, bytes]:
    """Every output file ``measure --out`` writes for ``analysis`` (the same
    :func:`~mri_measure.report.write_all`), as file name → bytes: rendered in a
    private temporary folder here, written into OUT by the client."""
    import tempfile
    from pathlib import Path

    from ..report import write_all

    with tempfile.TemporaryDirectory(prefix="mri-measure-reports-") as tmp:
        written = write_all(analysis, tmp)
        return {Path(p).name: Path(p).read_bytes() for p in written.values()}


def measure_study_task(parcel: StudyParcel, spec: SegmenterSpec, reports: bool = False) -> dict[str, Any]:
    """Measure one study in this worker; never raises for a bad study. With
    ``reports`` the result also carries ``files`` (:func:`render_reports`: for
    ``--reports``, and the SEG/SR ``--store-to`` sends)."""
    study = parcel.study
    _announce_start()
    from ..errors import MriMeasureError
    from ..logs import redact

    t0 = time.perf_counter()
    c0 = time.process_time()
    try:
        seg = get_segmenter(spec)
        from ..pipeline import analyse_study
        from ..report import report_to_dict

        if hasattr(study, "conn"):  # batch.remote.RemoteStudy: retrieve, then as a folder
            from ..io.dicomweb import fetched_study
            from ..pipeline import needed_series

            with fetched_study(study.conn, study.study_instance_uid, select=needed_series,
                               workers=study.fetch_workers) as (folder, _):
                analysis = analyse_study(folder, segmenter=seg)
                # the SEG and SR read the source instances: rendered while the folder is there
                files = render_reports(analysis) if reports else None
        else:
            analysis = analyse_study(study, segmenter=seg)
            files = render_reports(analysis) if reports else None
        doc = report_to_dict(analysis.report)
        del analysis
        return {
            "ok": True,
            "doc": doc,
            "files": files,
            "seconds": time.perf_counter() - t0,
            "cpu_s": time.process_time() - c0,
            **_process_info(spec),
        }
    except MriMeasureError as exc:
        # MriMeasureError messages carry no patient data by contract
        return {
            "ok": False,
            "error_class": type(exc).__name__,
            "message": str(exc),
            "seconds": time.perf_counter() - t0,
            **_process_info(spec),
        }
    except Exception as exc:  # a bug or a library failure: record it, redacted
        return {
            "ok": False,
            "error_class": type(exc).__name__,
            "message": "internal error: " + redact(str(exc)),
            "seconds": time.perf_counter() - t0,
            **_process_info(spec),
        }
