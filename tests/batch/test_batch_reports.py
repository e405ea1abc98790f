"""`batch --reports`: each study's full output set in OUT/reports/<key>/ (the
`measure --out` writers), the results table as Parquet beside the CSV with the
same columns and typed dtypes, and `--resume` that redoes a study whose reports
are missing. A real embedded Dask cluster over real synthetic DICOM archives,
segmented by the ground-truth segmenter (as test_batch_cluster.py)."""

from __future__ import annotations

import csv
import json
import shutil

import highdicom as hd
import pyarrow as pa
import pyarrow.parquet as pq
import pydicom
import pytest

from mri_measure.batch import run_batch
from mri_measure.batch.store import REPORTS_DIR, opaque_key
from mri_measure.cli.main import build_parser
from mri_measure.testing.truth import truth_spec
from tests.batch.batch_archive import PHI, make_archive

FULL_SET = {"measurements.json", "measurements.csv", "report.html", "report.pdf", "seg.dcm", "sr.dcm"}


def test_cli_has_the_reports_option():
    args = build_parser().parse_args(["batch", "ROOT", "--out", "OUT", "--reports"])
    assert args.reports is True
    assert build_parser().parse_args(["batch", "ROOT", "--out", "OUT"]).reports is False


@pytest.mark.slow
def test_reports_per_study_parquet_beside_csv_and_resume(tmp_path, pool):
    arc = make_archive(tmp_path, pool, ["good", "zip"])
    out = tmp_path / "OUT"
    spec = truth_spec(arc.truth_dir)
    summary = run_batch(arc.root, out, workers=1, segmenter=spec, reports=True, progress=False)
    assert (summary.exit_code, summary.done) == (0, 2)

    keys = {r: opaque_key(arc.uids[r]) for r in ("good", "zip")}
    # one opaque folder per study, nothing else (no staging left behind)
    assert sorted(p.name for p in (out / REPORTS_DIR).iterdir()) == sorted(keys.values())
    for role, key in keys.items():
        folder = out / REPORTS_DIR / key
        assert {p.name for p in folder.iterdir()} == FULL_SET, role
        seg = hd.seg.segread(str(folder / "seg.dcm"))
        assert seg.StudyInstanceUID == arc.uids[role]
        sr = pydicom.dcmread(folder / "sr.dcm")
        assert sr.Modality == "SR" and sr.StudyInstanceUID == arc.uids[role]
        assert (folder / "report.pdf").read_bytes().startswith(b"%PDF")
        rep = json.loads((folder / "measurements.json").read_text())
        doc = json.loads((out / "studies" / key / "measurements.json").read_text())
        assert rep["schema_version"] == "1.1" and doc["slices"]
        assert (rep["levels"], rep["slices"]) == (doc["levels"], doc["slices"])
        html = (folder / "report.html").read_text()
        for value in PHI.values():  # the HTML, like the JSON, names no patient
            assert value not in html
    for p in out.rglob("*"):  # no folder or file name under OUT names a patient or an input folder
        assert not any(v in p.name for v in [*PHI.values(), *arc.folder_names, "JONES", "SMITH"])

    # Parquet beside the CSV: same columns, same rows, typed
    with open(out / "results.csv", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    table = pq.read_table(out / "results.parquet")
    assert table.column_names == header and table.num_rows == len(rows) > 0
    types = {f.name: f.type for f in table.schema}
    assert types["canal_area_mm2"] == pa.float64() and types["lf_thickness_max_mm"] == pa.float64()
    assert types["level_confidence"] == pa.float64()
    assert types["canal_narrowed"] == pa.bool_() and types["meets_mild_imaging_criteria"] == pa.bool_()
    assert types["n_slices_at_level"] == pa.int64() and types["level"] == pa.string()
    assert types["level_method"] == pa.string()
    col = header.index("canal_area_mm2")
    assert [float(r[col]) if r[col] else None for r in rows] == table.column("canal_area_mm2").to_pylist()
    assert [r[header.index("study_key")] for r in rows] == table.column("study_key").to_pylist()

    # --resume --reports: a study whose reports folder is gone is measured again
    shutil.rmtree(out / REPORTS_DIR / keys["zip"])
    again = run_batch(arc.root, out, workers=1, segmenter=spec, reports=True, resume=True, progress=False)
    assert (again.skipped, again.done) == (1, 1)
    assert {p.name for p in (out / REPORTS_DIR / keys["zip"]).iterdir()} == FULL_SET
