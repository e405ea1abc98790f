"""`mri-measure batch` with the real shipped model: loaded once per worker,
its sha256 recorded in every DONE marker and result row, and --resume keyed
on it."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from mri_measure.batch import run_batch
from mri_measure.batch.store import opaque_key
from tests.batch.batch_archive import make_archive


@pytest.mark.slow
def test_shipped_model_loads_once_per_worker_and_is_recorded(tmp_path, pool):
    from mri_measure.segment.bundle import default_bundle_dir, read_metadata

    shipped_sha = read_metadata(default_bundle_dir())["sha256"]
    arc = make_archive(tmp_path, pool, ["good", "zip"])
    out = tmp_path / "OUT"

    summary = run_batch(arc.root, out, workers=1, progress=False)
    assert summary.exit_code == 0, (out / "errors.csv").read_text()
    assert summary.done == 2 and summary.model["sha256"] == shipped_sha
    # one worker process measured both studies and loaded the weights once
    (stats,) = summary.worker_stats.values()
    assert stats["studies"] == 2 and stats["segmenter_loads"] == 1
    assert stats["peak_rss_mb"] < 1536

    table = pq.read_table(out / "results.parquet").to_pylist()
    assert table and {r["model_sha256"] for r in table} == {shipped_sha}
    assert {r["study_key"] for r in table} == {opaque_key(u) for u in arc.uids.values()}
    for key in (opaque_key(u) for u in arc.uids.values()):
        doc = json.loads((out / "studies" / key / "measurements.json").read_text())
        assert doc["model"]["sha256"] == shipped_sha
        assert json.loads((out / "studies" / key / "DONE").read_text())["model_sha256"] == shipped_sha

    # same model + software: --resume measures nothing again
    again = run_batch(arc.root, out, workers=1, resume=True, progress=False)
    assert (again.done, again.skipped, again.failed) == (0, 2, 0)
