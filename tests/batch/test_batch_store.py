"""The batch output folder: done markers, resume identity, idempotent consolidation."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from mri_measure.batch.store import (
    DONE,
    MEASUREMENTS,
    RESULT_COLUMNS,
    BatchStore,
    Identity,
    fingerprint,
    opaque_key,
)

IDENT = Identity("a" * 64, "0.1.0")


def _doc(levels: list[str]) -> dict:
    return {
        "schema_version": "1",
        "model": {"name": "m", "version": "1", "sha256": "a" * 64},
        "levels": [
            {
                "level": lv,
                "level_source": "axial_blocks",
                "level_confidence": 0.5,
                "canal_area_mm2": 90.0 + i,
                "lf_thickness_left_mm": 3.0,
                "lf_thickness_right_mm": 2.0,
                "lf_thickness_max_mm": 3.0,
                "canal_narrowed": True,
                "lf_thickened": True,
                "meets_mild_imaging_criteria": True,
                "borderline": False,
                "borderline_reasons": [],
                "slice_sop_instance_uids": ["1.2.3", "1.2.4"],
            }
            for i, lv in enumerate(levels)
        ],
        "slices": [],
        "warnings": ["w"],
    }


def test_keys_are_opaque_and_fingerprints_track_the_image_set():
    uid = "1.2.826.0.1.3680043.8.498.12345"
    assert uid not in opaque_key(uid) and len(opaque_key(uid)) == 16
    assert opaque_key(uid) == opaque_key(uid)
    assert fingerprint(["b", "a"]) == fingerprint(["a", "b", "a"])
    assert fingerprint(["a", "b"]) != fingerprint(["a", "b", "c"])


def test_done_marker_gates_resume_on_model_software_and_images(tmp_path):
    store = BatchStore(tmp_path)
    store.write_success("k1", _doc(["L4-L5"]), IDENT, "fp1")
    assert store.is_done("k1", IDENT, "fp1")
    assert not store.is_done("k1", Identity("b" * 64, "0.1.0"), "fp1")  # other model
    assert not store.is_done("k1", Identity("a" * 64, "0.2.0"), "fp1")  # other software
    assert not store.is_done("k1", IDENT, "fp2")  # images added or removed
    assert not store.is_done("k2", IDENT, "fp1")
    marker = json.loads((tmp_path / "studies" / "k1" / DONE).read_text())
    assert marker["model_sha256"] == "a" * 64 and marker["software_version"] == "0.1.0"


def test_json_without_done_marker_is_not_done_and_not_consolidated(tmp_path):
    """A run killed between writing measurements.json and DONE redoes the study."""
    store = BatchStore(tmp_path)
    d = tmp_path / "studies" / "half"
    d.mkdir(parents=True)
    (d / MEASUREMENTS).write_text(json.dumps(_doc(["L4-L5"])))
    store.write_success("whole", _doc(["L3-L4", "L4-L5"]), IDENT, "fp")
    assert not store.is_done("half", IDENT)
    n_rows, n_err = store.consolidate()
    assert n_rows == 2 and n_err == 0
    rows = pq.read_table(tmp_path / "results.parquet").to_pylist()
    assert {r["study_key"] for r in rows} == {"whole"}
    assert list(rows[0]) == list(RESULT_COLUMNS)


def test_consolidation_is_idempotent_and_failures_clear_on_success(tmp_path):
    store = BatchStore(tmp_path)
    store.write_failure("k1", "IntegrityError", "pixel data\nshorter than declared")
    store.write_failure("u1", "InputError", "the zip archive cannot be read", kind="unit")
    assert store.consolidate() == (0, 2)
    errors = (tmp_path / "errors.csv").read_text().splitlines()
    assert errors[0] == "key,kind,error_class,message"
    assert "k1,study,IntegrityError,pixel data shorter than declared" in errors
    # the study later succeeds (a resumed run): its error row goes, its rows come
    store.write_success("k1", _doc(["L4-L5", "L5-S1"]), IDENT, "fp")
    first = store.consolidate()
    csv1 = (tmp_path / "results.csv").read_text()
    second = store.consolidate()
    assert first == second == (2, 1)
    assert (tmp_path / "results.csv").read_text() == csv1
    table = pq.read_table(tmp_path / "results.parquet")
    assert table.num_rows == 2
    assert table.schema.field("canal_area_mm2").type == "double"
    assert sorted(table.column("level").to_pylist()) == ["L4-L5", "L5-S1"]
    assert table.column("n_slices_at_level").to_pylist() == [2, 2]


def test_study_without_levels_still_has_one_row(tmp_path):
    store = BatchStore(tmp_path)
    store.write_success("k", _doc([]), IDENT, "fp")
    rows = store.result_rows()
    assert len(rows) == 1 and rows[0]["study_key"] == "k" and rows[0]["level"] is None


def test_version_1_and_1_1_documents_consolidate_together(tmp_path):
    """An OUT folder of an older run (version-1 JSON) resumed by this one (1.1):
    both go into the table; the version-1 rows get the level_method their
    level_source implies. Re-measuring without --reports drops an old reports folder."""
    store = BatchStore(tmp_path)
    store.write_success("old", _doc(["L4-L5"]), IDENT, "fp")  # schema_version "1"
    new = _doc(["L5-S1"])
    new["schema_version"] = "1.1"
    new["levels"][0].update(level_source="sagittal", level_method="sagittal_disc_detector")
    files = {"report.html": b"<html></html>", "measurements.json": json.dumps(new).encode()}
    store.write_success("new", new, IDENT, "fp", files=files)
    assert (tmp_path / "reports" / "new" / "report.html").read_bytes() == b"<html></html>"
    assert store.is_done("new", IDENT, "fp", reports=True)
    assert not store.is_done("old", IDENT, "fp", reports=True)  # --resume --reports redoes it
    store.consolidate()
    rows = {r["study_key"]: r for r in pq.read_table(tmp_path / "results.parquet").to_pylist()}
    assert rows["old"]["level_method"] == "axial_block_fallback"
    assert rows["new"]["level_method"] == "sagittal_disc_detector"
    store.write_success("new", new, IDENT, "fp")
    assert not (tmp_path / "reports" / "new").exists()
