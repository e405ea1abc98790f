"""Batch: measure every study under an archive on Dask distributed.

One module per stage (the orchestration is described in :mod:`.run`):

* :mod:`.discovery` walks ROOT (headers only) and yields each study as soon as
  its unit (folder, CD or .zip) has been scanned;
* :mod:`.runner` keeps at most one study per worker thread on the cluster and
  turns finished, crashed and timed-out tasks into results or failures;
* :mod:`.worker` is the code that runs on the Dask workers (one segmenter per
  process, the pipeline per study);
* :mod:`.store` writes every output on the client (per-study folders,
  results.parquet/results.csv, errors.csv) and answers ``--resume``;
* :mod:`.pacs` sends each study's SEG and SR back to a DICOMweb server (``--store-to``);
* :mod:`.cluster` opens the embedded LocalCluster or connects to a scheduler;
* :mod:`.progress` draws the one-line progress bar.

The public entry point is :func:`run_batch`; ``mri-measure batch`` (in
:mod:`mri_measure.cli.batch`) is a thin wrapper around it.
"""

from __future__ import annotations

from .run import run_batch, segmenter_spec
from .runner import BatchSummary
from .worker import SegmenterSpec

__all__ = ["BatchSummary", "SegmenterSpec", "run_batch", "segmenter_spec"]
