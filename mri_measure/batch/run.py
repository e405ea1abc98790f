"""``mri-measure batch``: measure every study under an archive on Dask.

Each study is one task on **Dask distributed**: by default an embedded
:class:`~distributed.LocalCluster` of worker processes (``processes=True``,
one thread each, ``--workers`` or one per core), or a running cluster with
``--scheduler tcp://HOST:PORT``. The client process walks ROOT (headers
only, :mod:`mri_measure.batch.discovery`) and submits each study as soon as
its unit has been scanned, so results arrive while discovery goes on.
Workers read the input files themselves (on a cluster ROOT must be at the
same path on every machine); the client writes every output
(:mod:`mri_measure.batch.store`), so OUT need only be writable here.

Failure handling (a bad study is recorded and the rest carry on):

* an error in the pipeline (:class:`~mri_measure.errors.MriMeasureError`
  or anything else) is caught in the worker and recorded with its class and
  a one-line, PHI-free message;
* a study that kills its worker process (a decoder segfault, the OOM killer)
  — the nanny restarts the worker and the scheduler retries the task once on
  another worker (``distributed.scheduler.allowed-failures`` = 1 on the
  embedded cluster); if it kills that one too the task errs with
  ``KilledWorker`` and is recorded as ``WorkerCrashed``. The client keeps
  at most one study per worker thread on the cluster
  (:class:`~mri_measure.batch.runner.Runner`), so a worker only ever holds
  the study it is running: an innocent study is not blamed for a crash;
* a study running longer than ``--timeout-per-study`` (counted from when the
  task *started* on its worker, reported through a Dask event) is recorded as
  ``StudyTimeout``, its future cancelled and its worker restarted
  (``client.restart_workers``), which frees the stuck process.

Exit codes (``BatchSummary.exit_code``, returned by ``mri-measure batch``): 0 every study succeeded,
3 some failed (see errors.csv), 2 ROOT missing or without any DICOM.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from .. import __version__
from .cluster import open_client, quiet_distributed
from .discovery import FoundStudy, StreamingDiscovery, UnitFailed
from .progress import Counts, ProgressBar
from .remote import Prefetch, RemoteDiscovery, RemoteQuery
from .runner import POLL_S, BatchSummary, Runner
from .store import BatchStore, Identity
from .worker import SegmenterSpec, warm_up_task
from ..segment.bundle import disc_detector_sha256
from ..errors import InputError, NoDicomError, OptionError

log = logging.getLogger("mri_measure.batch")

def segmenter_spec(model: str | None, device: str) -> SegmenterSpec:
    """How workers load the segmenter: the ``model`` bundle (or the shipped one) on ``device``."""
    return SegmenterSpec(model=str(Path(model).resolve()) if model else None, device=device)


def run_batch(
    root: str | os.PathLike[str] | RemoteQuery,
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
    reports: bool = False,
    store_to: Any = None,
    stream: TextIO | None = None,
    debug: bool = False,
) -> BatchSummary:
    """Measure every study under ``root`` into ``out``; see the module docstring.
    ``reports``: also write each study's full output set into ``OUT/reports/<key>/``.
    ``store_to``: a :class:`~mri_measure.io.dicomweb.Connection` to a DICOMweb root; each
    measured study's SEG and SR are stored into it (:mod:`mri_measure.batch.pacs`), and
    ``--resume`` skips only studies stored there already.

    ``root`` may be a :class:`~mri_measure.batch.remote.RemoteQuery`: the MR
    studies of a DICOMweb server (:mod:`mri_measure.batch.remote`).
    """
    t_start = time.monotonic()
    remote = root if isinstance(root, RemoteQuery) else None
    if remote is None:
        root = Path(root)  # type: ignore[arg-type]
        if not root.exists():
            raise InputError("the batch ROOT does not exist; give a folder, CD or .zip holding DICOM studies")
        root_real, out_real = root.resolve(), Path(out).resolve()
        if out_real == root_real or root_real in out_real.parents:
            raise OptionError("--out must not be inside ROOT: batch never writes into its input")
    if timeout_per_study <= 0:
        raise OptionError("--timeout-per-study must be positive")
    # a DICOMweb server is asked first: unreachable or refusing, it fails before any worker starts
    remote_discovery = RemoteDiscovery(remote) if remote is not None else None
    prefetch: Prefetch | None = None
    store = BatchStore(out)
    stored_to = store_to.where if store_to is not None else None
    spec = segmenter or segmenter_spec(model, device)
    summary = BatchSummary()
    counts = Counts()
    bar = ProgressBar(stream, enabled=progress)
    quiet_distributed(debug)

    try:
        with open_client(workers, scheduler, debug=debug) as client:
            summary.n_workers = len(client.scheduler_info(n_workers=-1).get("workers", {}))
            # the model loads once per worker; the first load also tells us its sha256
            warm = client.submit(warm_up_task, spec, pure=False).result()
            if not warm["ok"]:
                raise _error_class(warm["error_class"])(warm["message"])
            summary.model = warm["model"]
            # a different disc detector names levels differently: it is part of the software identity
            discs_sha = disc_detector_sha256()
            identity = Identity(warm["model"].get("sha256"),
                                __version__ + (f"+discs.{discs_sha[:12]}" if discs_sha else ""))
            runner = Runner(client, store, spec, identity, timeout_per_study, counts, summary,
                            reports=reports, store_to=store_to)
            discovery = remote_discovery or StreamingDiscovery(root)
            if remote_discovery is not None and scheduler is None:
                # embedded cluster: its workers read this machine's files, so the client
                # fetches the next studies while they measure (the fetch overlaps the work)
                remote_discovery.prefetch = prefetch = Prefetch(
                    Path(tempfile.mkdtemp(prefix="mri-measure-dicomweb-batch-")),
                    ahead=max(1, summary.n_workers) + 1,
                    finished=lambda k: k in runner.ok_keys or k in runner.failed_keys,
                    skip=lambda f: resume and store.is_done(f.key, identity, f.fingerprint, reports=reports,
                                                               stored_to=stored_to),
                )
            bar.start_clock()
            t_proc = time.monotonic()
            c_proc = time.process_time()
            summary.warm_up_s = t_proc - t_start
            try:
                last_poll = 0.0
                skipped_keys: set[str] = set()
                for item in discovery:
                    if isinstance(item, FoundStudy):
                        if not item.merged:
                            runner.seen_keys.add(item.key)
                        # a merged study supersedes a partial one queued in this run: never skip it
                        superseding = item.merged and item.key in runner.enqueued_keys
                        if resume and not superseding and store.is_done(
                            item.key, identity, item.fingerprint, reports=reports, stored_to=stored_to
                        ):
                            skipped_keys.add(item.key)
                        else:
                            skipped_keys.discard(item.key)  # its merged version is new work
                            runner.enqueue(item)
                        counts.skipped = summary.skipped = len(skipped_keys)
                    elif isinstance(item, UnitFailed):
                        store.write_failure(item.key, item.error_class, item.message, kind=item.kind)
                        runner.unit_failed(t_start)
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
                    if prefetch is not None:
                        prefetch.sweep()
                    runner.wake.wait(POLL_S)
                summary.processing_s = time.monotonic() - t_proc
                summary.client_cpu_s = time.process_time() - c_proc
            finally:
                runner.close()
                bar.close(counts)
                if prefetch is not None:
                    prefetch.close()
    except KeyboardInterrupt:
        store.consolidate()  # what finished so far is in the tables; --resume does the rest
        raise

    summary.n_studies = len(runner.seen_keys)
    summary.done, summary.failed = counts.done, counts.failed
    summary.n_result_rows, summary.n_error_rows = store.consolidate()
    summary.wall_s = time.monotonic() - t_start
    return summary


def _error_class(name: str) -> type:
    from .. import errors

    cls = getattr(errors, name, None)
    return cls if isinstance(cls, type) and issubclass(cls, errors.MriMeasureError) else errors.ModelError

