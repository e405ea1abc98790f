"""`mri-measure batch` on real Dask clusters over real synthetic DICOM archives.

* an embedded LocalCluster (worker processes) over an archive with a CD
  folder, a zip, a nested study, a truncated study, clutter, a study that
  segfaults its worker and one that hangs;
* a run SIGKILLed mid-way and resumed;
* a running cluster started with `dask scheduler` + two `dask worker`s on
  127.0.0.1, used with --scheduler;
* bad ROOTs (exit 2).

Studies are segmented with the ground-truth segmenter
(:mod:`mri_measure.testing.truth`, through ``SegmenterSpec.factory``; the CLI
runs as ``python -m mri_measure.testing.cli --truth DIR ...``) so that these
tests exercise the batch machinery, not the network; the crashing and hanging
studies come from :mod:`mri_measure.testing.faults`. test_batch_model.py runs
the shipped model.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from mri_measure.batch import run_batch
from mri_measure.batch.store import opaque_key
from mri_measure.io import discover
from mri_measure.testing.faults import fault_spec
from mri_measure.testing.truth import truth_spec
from tests.batch.batch_archive import PHI, all_output_text, make_archive, read_errors_csv, read_results_csv

#: generous against a shared 2-core machine, far above a tiny study's seconds
HANG_TIMEOUT_S = 25.0


def _levels_by_key(out: Path) -> dict[str, list[str]]:
    got = {}
    for done in sorted((out / "studies").glob("*/DONE")):
        doc = json.loads((done.parent / "measurements.json").read_text())
        got[done.parent.name] = [lv["level"] for lv in doc["levels"]] or [None]
    return got


def _assert_one_row_per_study_level(out: Path, expected_keys: set[str]) -> None:
    rows = read_results_csv(out)
    pairs = [(r["study_key"], r["level"]) for r in rows]
    assert len(pairs) == len(set(pairs)), "duplicate (study, level) rows"
    levels = _levels_by_key(out)
    assert set(levels) == expected_keys
    want = sorted((k, lv or "") for k, lvs in levels.items() for lv in lvs)
    assert sorted(pairs) == want
    table = pq.read_table(out / "results.parquet")
    assert sorted(zip(table.column("study_key").to_pylist(),
                      [x or "" for x in table.column("level").to_pylist()])) == want


def _assert_no_phi(out: Path, arc, extra: str = "") -> None:
    text = all_output_text(out) + extra
    for value in PHI.values():
        assert value not in text
    for name in arc.folder_names:
        assert name not in text, "an input folder name leaked into the outputs"
    assert str(arc.root) not in text


@pytest.mark.slow
def test_local_cluster_records_bad_studies_and_finishes_the_others(tmp_path, pool):
    arc = make_archive(
        tmp_path, pool, ["good", "zip", "nested", "truncated", "crash", "hang", "clutter"]
    )
    spec = fault_spec(truth_spec(arc.truth_dir), segfault=[arc.uids["crash"]], hang=[arc.uids["hang"]])
    out = tmp_path / "OUT"
    stream = io.StringIO()
    t0 = time.monotonic()
    summary = run_batch(
        arc.root, out, workers=2, timeout_per_study=HANG_TIMEOUT_S,
        segmenter=spec, stream=stream,
    )
    elapsed = time.monotonic() - t0
    assert summary.exit_code == 3
    assert (summary.n_studies, summary.done, summary.failed) == (6, 3, 3)

    good = {opaque_key(arc.uids[r]) for r in ("good", "zip", "nested")}
    _assert_one_row_per_study_level(out, good)
    for key in good:
        doc = json.loads((out / "studies" / key / "measurements.json").read_text())
        assert doc["schema_version"] == "1.1" and doc["slices"], key
        assert all(lv["canal_area_mm2"] and lv["canal_area_mm2"] > 0 for lv in doc["levels"])
        marker = json.loads((out / "studies" / key / "DONE").read_text())
        assert marker["software_version"] and "fingerprint" in marker
        # the shipped disc detector names the levels: a new one must not reuse old results
        assert "+discs." in marker["software_version"]

    errors = {r["key"]: r for r in read_errors_csv(out)}
    assert set(errors) == {opaque_key(arc.uids[r]) for r in ("truncated", "crash", "hang")}
    assert errors[opaque_key(arc.uids["crash"])]["error_class"] == "WorkerCrashed"
    assert errors[opaque_key(arc.uids["hang"])]["error_class"] == "StudyTimeout"
    trunc = errors[opaque_key(arc.uids["truncated"])]
    assert trunc["error_class"].endswith("Error") and "integrity" in trunc["message"].lower()
    assert all("\n" not in r["message"] and r["message"] for r in errors.values())
    # the hang cost one timeout, not the whole run waiting on it
    assert elapsed < HANG_TIMEOUT_S + 150

    # model loaded once per worker process, however many studies it measured
    assert summary.worker_stats
    assert all(s["segmenter_loads"] == 1 for s in summary.worker_stats.values())
    assert sum(s["studies"] for s in summary.worker_stats.values()) == 4  # 3 good + truncated

    progress = stream.getvalue().strip().splitlines()
    assert progress and "3 done · 3 failed · 0 left" in progress[-1]
    _assert_no_phi(out, arc, extra=stream.getvalue())


def _batch_cmd(arc, out: Path, *extra: str, quiet: bool = False) -> list[str]:
    cmd = arc.cli() + (["--quiet"] if quiet else [])
    return cmd + ["batch", str(arc.root), "--out", str(out), *extra]


def _segmented_by_truth(out: Path) -> bool:
    docs = [json.loads(p.read_text()) for p in sorted((out / "studies").glob("*/measurements.json"))]
    return bool(docs) and all(d["model"]["name"] == "truth" for d in docs)


@pytest.mark.slow
def test_sigkilled_run_resumes_with_exactly_one_row_per_study_level(tmp_path, pool):
    arc = make_archive(tmp_path, pool, ["good", "zip", "nested", "crash"])
    out = tmp_path / "OUT"
    # no fault: the 'crash' study is just a fourth good one here
    proc = subprocess.Popen(
        _batch_cmd(arc, out, "--workers", "1"), start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list((out / "studies").glob("*/DONE"))) >= 1:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed: " + proc.stderr.read().decode()
        os.killpg(proc.pid, signal.SIGKILL)  # the client, its nannies and workers at once
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    n_done_before = len(list((out / "studies").glob("*/DONE")))
    assert 1 <= n_done_before < 4
    assert not (out / "results.csv").exists()  # killed before consolidation

    res = subprocess.run(_batch_cmd(arc, out, "--workers", "1", "--resume", quiet=True),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert f"{n_done_before} already done" in res.stdout
    keys = {opaque_key(u) for u in arc.uids.values()}
    _assert_one_row_per_study_level(out, keys)
    assert read_errors_csv(out) == []
    assert _segmented_by_truth(out)
    assert res.stderr.strip() == ""  # --quiet: no progress line

    first = (out / "results.csv").read_text()
    again = subprocess.run(_batch_cmd(arc, out, "--workers", "1", "--resume", quiet=True),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "0 measured" in again.stdout and "4 already done" in again.stdout
    assert (out / "results.csv").read_text() == first
    _assert_no_phi(out, arc, extra=res.stdout + again.stdout)


@pytest.fixture
def dask_cluster(tmp_path):
    """`dask scheduler` + two `dask worker` processes on 127.0.0.1, random ports."""
    sched_file = tmp_path / "scheduler.json"
    procs: list[subprocess.Popen] = []
    logs = []

    def start(*args: str) -> None:
        log = open(tmp_path / f"dask-{len(procs)}.log", "wb")
        logs.append(log)
        procs.append(subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True))

    try:
        start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
              "--scheduler-file", str(sched_file))
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sched_file.exists(), "dask scheduler did not start"
        for i in range(2):
            start("worker", "--scheduler-file", str(sched_file), "--host", "127.0.0.1",
                  "--nthreads", "1", "--nworkers", "1", "--no-dashboard", "--name", f"w{i}")
        address = json.loads(sched_file.read_text())["address"]
        from distributed import Client

        with Client(address, timeout="30s") as c:
            c.wait_for_workers(2, timeout=90)
        yield address
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        for log in logs:
            log.close()


@pytest.mark.slow
def test_running_cluster_via_scheduler_address(tmp_path, pool, dask_cluster):
    """Also: a study split over two top-level folders ends as one merged result."""
    arc = make_archive(tmp_path, pool, ["good", "zip", "nested", "split"])
    assert dask_cluster.startswith("tcp://127.0.0.1:")
    out = tmp_path / "OUT"
    res = subprocess.run(_batch_cmd(arc, out, "--scheduler", dask_cluster),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "batch: 4 studies — 4 measured, 0 failed" in res.stdout
    _assert_one_row_per_study_level(out, {opaque_key(u) for u in arc.uids.values()})
    assert _segmented_by_truth(out)
    _assert_no_phi(out, arc, extra=res.stdout + res.stderr)
    # the split study was measured over all its images (both units), like the intact copy
    split = json.loads((out / "studies" / opaque_key(arc.uids["split"]) / "measurements.json").read_text())
    whole = discover(pool[3] / "CD").studies[0]
    n_axial = sum(st.n_slices for st in whole.stacks if st.role == "axial_t2")
    assert split["study"]["n_axial_slices_measured"] == n_axial


def test_missing_root_and_root_without_dicom_exit_2(tmp_path):
    from mri_measure.cli import main

    assert main(["batch", str(tmp_path / "absent"), "--out", str(tmp_path / "o1")]) == 2
    (tmp_path / "in").mkdir()
    assert main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "in" / "out")]) == 2
    assert not (tmp_path / "in" / "out").exists()  # nothing written into the input
    assert main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "o3"), "--workers", "0"]) == 2
    clutter = tmp_path / "JUNK_ROOT"
    (clutter / "sub").mkdir(parents=True)
    (clutter / "sub" / "a.txt").write_text("not dicom")
    (clutter / "b.bin").write_bytes(b"\0" * 300)
    res = subprocess.run(
        [sys.executable, "-m", "mri_measure.testing.cli", "--truth", str(tmp_path), "--quiet", "batch",
         str(clutter), "--out", str(tmp_path / "o2"), "--workers", "1"],
        capture_output=True, text=True, timeout=180,
    )
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no DICOM" in lines[0]
    assert str(tmp_path) not in res.stderr
