"""Test support shipped with the package but never used by a production path
(an import-linter contract keeps every other ``mri_measure`` module from
importing it). Tests and benchmarks reach it directly, and batch workers
through :attr:`mri_measure.batch.worker.SegmenterSpec.factory`
(``"module:callable"``), so no environment variable switches test behaviour
on in the product.

- :mod:`~mri_measure.testing.truth` — the ground-truth segmenter
  (:class:`TruthSegmenter`) and :func:`~mri_measure.testing.truth.truth_spec`;
- :mod:`~mri_measure.testing.faults` — a segmenter that really segfaults or
  hangs its worker process on chosen studies
  (:func:`~mri_measure.testing.faults.fault_spec`);
- :mod:`~mri_measure.testing.cli` — ``python -m mri_measure.testing.cli
  --truth DIR <mri-measure arguments>``: the real CLI with the truth segmenter
  in ``batch``;
- :mod:`~mri_measure.testing.corrupt`, :mod:`~mri_measure.testing.harness` —
  seeded broken inputs and the guarded CLI runner (robustness tests and
  benchmark);
- :mod:`~mri_measure.testing.measure_shapes` — exact analytic shapes for the
  measurement tests and benchmark;
- :mod:`~mri_measure.testing.spider` — the SPIDER sagittal reference discs
  and scoring (level tests and benchmark).
"""
