"""Feeding studies to a Dask cluster and recording what comes back
(used by :func:`mri_measure.batch.run_batch`)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .discovery import FoundStudy
from .progress import Counts
from .store import BatchStore, Identity, one_line
from .worker import START_TOPIC, SegmenterSpec, StudyParcel, measure_study_task

log = logging.getLogger("mri_measure.batch")

EXIT_OK, EXIT_SOME_FAILED = 0, 3
POLL_S = 0.1
GATHER_TIMEOUT_S = 5.0


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
    client_cpu_s: float = 0.0  # CPU time of this (client + embedded scheduler) process while processing
    model: dict[str, Any] = field(default_factory=dict)
    stored: int = 0  # --store-to: studies whose SEG/SR were stored in this run
    store_failed: int = 0  # --store-to: measured studies whose SEG/SR could not be stored
    worker_stats: dict[str, dict[str, Any]] = field(default_factory=dict)  # by worker pid

    @property
    def exit_code(self) -> int:
        return EXIT_SOME_FAILED if self.failed or self.store_failed else EXIT_OK


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

    from ..logs import redact

    exc = fut.exception()
    if isinstance(exc, KilledWorker):
        return (
            "WorkerCrashed",
            f"a worker process died each time this study ran ({exc.allowed_failures + 1} tries): "
            "a decoder crash or running out of memory",
        )
    return type(exc).__name__, redact(one_line(str(exc)))


class Runner:
    """Feeds studies to the cluster and records what comes back.

    At most as many study tasks are on the cluster as it has worker threads
    (the rest wait here, in discovery order): a worker then never holds a
    study it is not running, so a crash or a restart is only ever blamed on
    the study that was running, and a timeout is counted from a real start.
    """

    def __init__(
        self,
        client: Any,
        store: BatchStore,
        spec: SegmenterSpec,
        identity: Identity,
        timeout_s: float,
        counts: Counts,
        summary: BatchSummary,
        reports: bool = False,
        store_to: Any = None,
    ):
        self.client, self.store, self.spec, self.identity = client, store, spec, identity
        self.reports = reports  # --reports: each study's full output set too
        self.store_to = store_to  # --store-to: a Connection; the SEG/SR go back to the study
        self.timeout_s, self.counts, self.summary = timeout_s, counts, summary
        self.waiting: dict[str, FoundStudy] = {}  # key -> study, insertion (discovery) order
        self.jobs: dict[str, _Job] = {}  # key -> job on the cluster
        self.attempts: dict[str, int] = {}
        self.seen_keys: set[str] = set()  # every study found (not counting merged re-emissions)
        self.enqueued_keys: set[str] = set()  # studies queued in this run
        self.ok_keys: set[str] = set()
        self.failed_keys: set[str] = set()
        self.n_unit_failures = 0
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
        self.enqueued_keys.add(found.key)
        self.counts.remaining += 1

    def busy(self) -> bool:
        return bool(self.jobs or self.waiting)

    def slots(self) -> int:
        now = time.monotonic()
        if now - self._slots_checked > 1.0:
            self._slots = sum(self.client.nthreads().values())
            self._slots_checked = now
        return self._slots

    def _submit(self, found: FoundStudy) -> None:
        n = self.attempts[found.key] = self.attempts.get(found.key, 0) + 1
        fut = self.client.submit(
            measure_study_task, StudyParcel(found.key, found.remote or found.study), self.spec,
            self.reports or self.store_to is not None,
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

    def _stow(self, key: str, doc: dict[str, Any], files: dict[str, bytes]) -> None:
        """``--store-to``: the study's SEG/SR into its own study on the server; recorded
        after its DONE (a kill in between stores it again on --resume, never silently twice)."""
        from ..errors import MriMeasureError
        from .pacs import stow_results

        target = self.store_to.where
        try:
            series = stow_results(self.store_to, str(doc["study"]["study_instance_uid"]), files)
        except MriMeasureError as exc:  # one line, no patient data by contract
            self.store.write_store_failure(key, target, type(exc).__name__, str(exc))
            self.summary.store_failed += 1
            log.warning("study %s: its SEG/SR could not be stored: %s (see errors.csv)", key, type(exc).__name__)
            return
        self.store.write_stored(key, target, series)
        self.summary.stored += 1

    def _finish(self, key: str, ok: bool, t_start: float) -> None:
        job = self.jobs.pop(key)
        self.starts.forget(job.future.key)
        self.counts.remaining -= 1
        # by key: a study re-submitted merged counts once, with its last outcome
        (self.ok_keys if ok else self.failed_keys).add(key)
        (self.failed_keys if ok else self.ok_keys).discard(key)
        self._sync_counts()
        self.record_first_result(t_start)

    def unit_failed(self, t_start: float) -> None:
        self.n_unit_failures += 1
        self._sync_counts()
        self.record_first_result(t_start)

    def _sync_counts(self) -> None:
        self.counts.done = len(self.ok_keys)
        self.counts.failed = len(self.failed_keys) + self.n_unit_failures

    # -- one round
    def poll(self, t_start: float) -> None:
        self.wake.clear()
        now = time.monotonic()
        for key, job in list(self.jobs.items()):
            fut = job.future
            status = fut.status
            if status == "finished":
                try:
                    # ms normally; if the holding worker just died, Dask recomputes the
                    # task and the future goes back to pending (checked next round)
                    res = fut.result(timeout=GATHER_TIMEOUT_S)
                except TimeoutError:
                    continue
                _note_worker(self.summary, res)
                if res["ok"]:
                    self.store.write_success(key, res["doc"], self.identity, job.found.fingerprint,
                                             files=res.get("files") if self.reports else None)
                    if self.store_to is not None:
                        self._stow(key, res["doc"], res.get("files") or {})
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
