"""``mri-measure batch``: measure every study under an archive on Dask.

Each study is one task on **Dask distributed**: by default an embedded
:class:`~distributed.LocalCluster` of worker processes (``processes=True``,
one thread each, ``--workers`` or one per core), or a running cluster with
``--scheduler tcp://HOST:PORT``. The client process walks ROOT (headers
only, :mod:`mri_measure.batch_discovery`) and submits each study as soon as
its unit has been scanned, so results arrive while discovery goes on.
Workers read the input files themselves (on a cluster ROOT must be at the
same path on every machine); the client writes every output
(:mod:`mri_measure.batch_store`), so OUT need only be writable here.

Failure handling (a bad study is recorded and the rest carry on):

* an error in the pipeline (:class:`~mri_measure.errors.MriMeasureError`
  or anything else) is caught in the worker and recorded with its class and
  a one-line, PHI-free message;
* a study that kills its worker process (a decoder segfault, the OOM killer)
  — the nanny restarts the worker and the scheduler retries the task once on
  another worker (``distributed.scheduler.allowed-failures`` = 1 on the
  embedded cluster); if it kills that one too the task errs with
  ``KilledWorker`` and is recorded as ``WorkerCrashed``. The embedded
  cluster also sets ``worker-saturation`` = 1.0 so a worker only ever holds
  the task it is running: an innocent study is never blamed for a crash;
* a study running longer than ``--timeout-per-study`` (counted from when the
  task *started* on its worker, reported through a Dask event) is recorded as
  ``StudyTimeout``, its future cancelled and its worker restarted
  (``client.restart_workers``), which frees the stuck process.

Exit codes (returned by :func:`batch_command`): 0 every study succeeded,
3 some failed (see errors.csv), 2 ROOT missing or without any DICOM.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .batch_discovery import FoundStudy, StreamingDiscovery, Tick, UnitFailed
from .batch_progress import Counts, ProgressBar
from .batch_store import BatchStore, Identity, one_line
from .batch_worker import START_TOPIC, SegmenterSpec, measure_study_task, warm_up_task
from .errors import InputError, NoDicomError, OptionError

log = logging.getLogger("mri_measure.batch")

#: Test-only: ``truth:<folder>`` makes every worker use the ground-truth
#: segmenter built from all ``truth_labels.npz`` under <folder> (synthetic CDs).
SEGMENTER_ENV = "MRI_MEASURE_BATCH_SEGMENTER"

EXIT_OK, EXIT_SOME_FAILED = 0, 3
POLL_S = 0.1


@dataclass
class BatchSummary:
    n_studies: int = 0  # distinct studies found
    done: int = 0  # measured in this run
    failed: int = 0  # studies + unreadable units recorded in errors.csv this run
    skipped: int = 0  # already done (--resume)
    n_result_rows: int = 0
    n_error_rows: int = 0
    n_workers: int = 0
    wall_s: float = 0.0
    first_result_s: float | None = None  # from start to the first recorded study
    discovery_s: float | None = None  # from start to the end of the walk
    processing_s: float = 0.0  # from the model being loaded on a worker to the last result
    warm_up_s: float = 0.0  # cluster start + first model load
    model: dict[str, Any] = field(default_factory=dict)
    worker_stats: dict[str, dict[str, Any]] = field(default_factory=dict)  # by worker pid

    @property
    def exit_code(self) -> int:
        return EXIT_SOME_FAILED if self.failed else EXIT_OK


def truth_segmenter_from_tree(folder: str) -> Any:
    """Test-only: one ground-truth segmenter over every ``truth_labels.npz``
    under ``folder`` (SOPInstanceUIDs are unique, so the maps merge)."""
    import numpy as np

    from .segment import TruthSegmenter

    labels: dict[str, Any] = {}
    for p in sorted(Path(folder).rglob("truth_labels.npz")):
        with np.load(p) as z:
            labels.update({k: z[k] for k in z.files})
    return TruthSegmenter(labels)


def segmenter_spec(model: str | None, device: str, override: str | None = None) -> SegmenterSpec:
    override = override if override is not None else os.environ.get(SEGMENTER_ENV)
    if override:
        kind, _, arg = override.partition(":")
        if kind != "truth" or not arg:
            raise OptionError(f"{SEGMENTER_ENV} must be truth:<folder> (test-only)")
        return SegmenterSpec(
            device=device,
            factory="mri_measure.batch:truth_segmenter_from_tree",
            args=(str(Path(arg).resolve()),),
        )
    return SegmenterSpec(model=str(Path(model).resolve()) if model else None, device=device)


# --------------------------------------------------------------------------- cluster


def _quiet_distributed(debug: bool) -> None:
    """Dask's own logs are for operators (every failure they report is also
    recorded in errors.csv): keep them off stderr unless --debug."""
    if not debug:
        for name in ("distributed", "distributed.nanny", "distributed.scheduler",
                     "distributed.worker", "distributed.client", "distributed.core"):
            logging.getLogger(name).setLevel(logging.CRITICAL)


@contextmanager
def open_client(workers: int | None, scheduler: str | None, *, debug: bool = False) -> Iterator[Any]:
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise OptionError(
                f"cannot reach the Dask scheduler given with --scheduler ({type(exc).__name__}); "
                "start one with `dask scheduler` and workers with `dask worker ADDRESS`"
            ) from None
        try:
            yield client
        finally:
            client.close()
        return
    n = workers or os.cpu_count() or 1
    if n < 1:
        raise OptionError("--workers must be at least 1")
    with dask.config.set(
        {
            "distributed.scheduler.allowed-failures": 1,
            "distributed.scheduler.worker-saturation": 1.0,
            # a study is one long task; never move it to a "less busy" worker
            "distributed.scheduler.work-stealing": False,
        }
    ):
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            scheduler_kwargs={"dashboard": False},
            host="127.0.0.1",
            silence_logs=logging.WARNING if debug else logging.CRITICAL,
        )
        client = Client(cluster)
    try:
        yield client
    finally:
        try:
            client.close()
        finally:
            cluster.close()


# --------------------------------------------------------------------------- the run


class _Starts:
    """Start events from the workers: task key -> (monotonic time, worker)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, tuple[float, str]] = {}

    def handler(self, event: Any) -> None:
        _, msg = event
        with self._lock:
            self._by_key[str(msg["key"])] = (time.monotonic(), msg["worker"])

    def get(self, key: str) -> tuple[float, str] | None:
        with self._lock:
            return self._by_key.get(key)

    def forget(self, key: str) -> None:
        with self._lock:
            self._by_key.pop(key, None)


@dataclass
class _Job:
    found: FoundStudy
    future: Any
    attempt: int


def _failure_of(fut: Any) -> tuple[str, str]:
    from distributed import KilledWorker

    from .logs import redact

    exc = fut.exception()
    if isinstance(exc, KilledWorker):
        return (
            "WorkerCrashed",
            f"a worker process died each time this study ran ({exc.allowed_failures + 1} tries): "
            "a decoder crash or running out of memory",
        )
    return type(exc).__name__, redact(one_line(str(exc)))


class _Runner:
    """Feeds studies to the cluster and records what comes back.

    At most as many study tasks are on the cluster as it has worker threads
    (the rest wait here, in discovery order): a worker then never holds a
    study it is not running, so a crash or a restart is only ever blamed on
    the study that was running, and a timeout is counted from a real start.
    """

    def __init__(self, client, store, spec, identity, timeout_s, counts, summary):
        self.client, self.store, self.spec, self.identity = client, store, spec, identity
        self.timeout_s, self.counts, self.summary = timeout_s, counts, summary
        self.waiting: dict[str, FoundStudy] = {}  # key -> study, insertion (discovery) order
        self.jobs: dict[str, _Job] = {}  # key -> job on the cluster
        self.attempts: dict[str, int] = {}
        self.seen_keys: set[str] = set()
        self.starts = _Starts()
        self.wake = threading.Event()
        self.restarts: list[threading.Thread] = []
        self._slots_checked = 0.0
        self._slots = 1
        self.run_token = uuid.uuid4().hex[:8]  # two runs on one cluster never share a task key
        client.subscribe_topic(START_TOPIC, self.starts.handler)

    # -- queue
    def enqueue(self, found: FoundStudy) -> None:
        old = self.jobs.pop(found.key, None)
        if old is not None:  # superseded by a merged study: drop the partial one
            old.future.cancel()
            self.counts.remaining -= 1
        if self.waiting.pop(found.key, None) is not None:
            self.counts.remaining -= 1
        self.waiting[found.key] = found
        self.counts.remaining += 1

    def busy(self) -> bool:
        return bool(self.jobs or self.waiting)

    def slots(self) -> int:
        now = time.monotonic()
        if now - self._slots_checked > 1.0:
            info = self.client.scheduler_info(n_workers=-1).get("workers", {})
            self._slots = sum(int(w.get("nthreads", 1)) for w in info.values())
            self._slots_checked = now
        return self._slots

    def _submit(self, found: FoundStudy) -> None:
        n = self.attempts[found.key] = self.attempts.get(found.key, 0) + 1
        fut = self.client.submit(
            measure_study_task, found.study, self.spec,
            key=f"study-{found.key}-{n}-{self.run_token}", pure=False,
        )
        fut.add_done_callback(lambda _f: self.wake.set())
        self.jobs[found.key] = _Job(found, fut, n)

    def record_first_result(self, t_start: float) -> None:
        if self.summary.first_result_s is None:
            self.summary.first_result_s = time.monotonic() - t_start

    def _fail(self, key: str, error_class: str, message: str) -> None:
        self.store.write_failure(key, error_class, message)
        log.warning("study %s failed: %s (see errors.csv)", key, error_class)

    def _finish(self, key: str, ok: bool, t_start: float) -> None:
        job = self.jobs.pop(key)
        self.starts.forget(job.future.key)
        self.counts.remaining -= 1
        if ok:
            self.counts.done += 1
        else:
            self.counts.failed += 1
        self.record_first_result(t_start)

    # -- one round
    def poll(self, t_start: float) -> None:
        self.wake.clear()
        now = time.monotonic()
        for key, job in list(self.jobs.items()):
            fut = job.future
            status = fut.status
            if status == "finished":
                res = fut.result()
                _note_worker(self.summary, res)
                if res["ok"]:
                    self.store.write_success(key, res["doc"], self.identity, job.found.fingerprint)
                else:
                    self._fail(key, res["error_class"], res["message"])
                self._finish(key, res["ok"], t_start)
            elif status == "error":
                self._fail(key, *_failure_of(fut))
                self._finish(key, False, t_start)
            elif status == "cancelled":  # lost by the cluster, not by us: try again
                if job.attempt < 3:
                    del self.jobs[key]
                    self._submit(job.found)
                else:
                    self._fail(key, "TaskLost", "the cluster lost this task three times")
                    self._finish(key, False, t_start)
            else:
                started = self.starts.get(fut.key)
                if started is not None and now - started[0] > self.timeout_s:
                    fut.cancel()
                    self._fail(
                        key,
                        "StudyTimeout",
                        f"still running after --timeout-per-study {self.timeout_s:g} s; "
                        "its worker was restarted",
                    )
                    self._finish(key, False, t_start)
                    t = threading.Thread(
                        target=_restart_worker, args=(self.client, started[1]), daemon=True
                    )
                    t.start()
                    self.restarts.append(t)
        free = self.slots() - len(self.jobs)
        while free > 0 and self.waiting:
            key = next(iter(self.waiting))
            self._submit(self.waiting.pop(key))
            free -= 1

    def close(self) -> None:
        try:
            self.client.unsubscribe_topic(START_TOPIC)
        except Exception:  # the client may already be closing
            pass
        for t in self.restarts:
            t.join(timeout=30)



def run_batch(
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    resume: bool = False,
    timeout_per_study: float = 600.0,
    device: str = "cpu",
    model: str | None = None,
    segmenter: SegmenterSpec | None = None,
    progress: bool = True,
    stream: TextIO | None = None,
    debug: bool = False,
) -> BatchSummary:
    """Measure every study under ``root`` into ``out``; see the module docstring."""
    t_start = time.monotonic()
    root = Path(root)
    if not root.exists():
        raise InputError("the batch ROOT does not exist; give a folder, CD or .zip holding DICOM studies")
    if timeout_per_study <= 0:
        raise OptionError("--timeout-per-study must be positive")
    store = BatchStore(out)
    spec = segmenter or segmenter_spec(model, device)
    summary = BatchSummary()
    counts = Counts()
    bar = ProgressBar(stream, enabled=progress)
    _quiet_distributed(debug)

    try:
        with open_client(workers, scheduler, debug=debug) as client:
            summary.n_workers = len(client.scheduler_info(n_workers=-1).get("workers", {}))
            # the model loads once per worker; the first load also tells us its sha256
            warm = client.submit(warm_up_task, spec, pure=False).result()
            if not warm["ok"]:
                raise _error_class(warm["error_class"])(warm["message"])
            summary.model = warm["model"]
            identity = Identity(warm["model"].get("sha256"), __version__)
            runner = _Runner(client, store, spec, identity, timeout_per_study, counts, summary)
            discovery = StreamingDiscovery(root)
            bar.start_clock()
            t_proc = time.monotonic()
            summary.warm_up_s = t_proc - t_start
            try:
                last_poll = 0.0
                for item in discovery:
                    if isinstance(item, FoundStudy):
                        if not item.merged:
                            runner.seen_keys.add(item.key)
                        if resume and store.is_done(item.key, identity, item.fingerprint):
                            counts.skipped += 1
                            summary.skipped += 1
                        else:
                            runner.enqueue(item)
                    elif isinstance(item, UnitFailed):
                        store.write_failure(item.key, item.error_class, item.message, kind="unit")
                        counts.failed += 1
                        runner.record_first_result(t_start)
                    if runner.wake.is_set() or time.monotonic() - last_poll >= POLL_S:
                        runner.poll(t_start)
                        bar.update(counts)
                        last_poll = time.monotonic()
                counts.discovering = False
                summary.discovery_s = time.monotonic() - t_start
                st = discovery.stats
                for w in dict.fromkeys(st.warnings):
                    log.warning("discovery: %s", w)
                if st.n_dicom == 0 and not st.n_unit_failures:
                    raise NoDicomError(
                        f"no DICOM files found under the batch ROOT ({st.n_files} file(s) scanned)"
                    )
                while runner.busy():
                    runner.poll(t_start)
                    bar.update(counts)
                    runner.wake.wait(POLL_S)
                summary.processing_s = time.monotonic() - t_proc
            finally:
                runner.close()
                bar.close(counts)
    except KeyboardInterrupt:
        store.consolidate()  # what finished so far is in the tables; --resume does the rest
        raise

    summary.n_studies = len(runner.seen_keys)
    summary.done, summary.failed = counts.done, counts.failed
    summary.n_result_rows, summary.n_error_rows = store.consolidate()
    summary.wall_s = time.monotonic() - t_start
    return summary


def _error_class(name: str) -> type:
    from . import errors

    cls = getattr(errors, name, None)
    return cls if isinstance(cls, type) and issubclass(cls, errors.MriMeasureError) else errors.ModelError


def _restart_worker(client: Any, address: str) -> None:
    try:
        client.restart_workers([address], raise_for_error=False)
    except Exception as exc:  # the worker may already be gone; the nanny handles it
        log.debug("restart of a timed-out worker failed (%s)", type(exc).__name__)


def _note_worker(summary: BatchSummary, res: dict[str, Any]) -> None:
    pid = str(res.get("pid"))
    s = summary.worker_stats.setdefault(
        pid, {"studies": 0, "peak_rss_mb": 0.0, "segmenter_loads": 0, "cpu_s": 0.0, "task_s": 0.0}
    )
    s["studies"] += 1
    s["cpu_s"] += float(res.get("cpu_s") or 0.0)
    s["task_s"] += float(res.get("seconds") or 0.0)
    s["peak_rss_mb"] = max(s["peak_rss_mb"], float(res.get("peak_rss_mb") or 0.0))
    s["segmenter_loads"] = max(s["segmenter_loads"], int(res.get("segmenter_loads") or 0))


def batch_command(args: argparse.Namespace) -> int:
    quiet = bool(getattr(args, "quiet", False))
    summary = run_batch(
        args.root,
        args.out,
        workers=args.workers,
        scheduler=args.scheduler,
        resume=args.resume,
        timeout_per_study=args.timeout_per_study,
        device=args.device,
        model=args.model,
        progress=not quiet,
        debug=bool(getattr(args, "debug", False)),
    )
    parts = [f"{summary.done} measured", f"{summary.failed} failed"]
    if summary.skipped:
        parts.append(f"{summary.skipped} already done")
    print(
        f"batch: {summary.n_studies} studies — " + ", ".join(parts)
        + f"; {summary.n_result_rows} result row(s) in results.parquet/results.csv"
        + (f", {summary.n_error_rows} in errors.csv" if summary.n_error_rows else "")
        + f" ({summary.wall_s:.0f} s)",
        file=sys.stdout,
    )
    return summary.exit_code
