"""The worker side in-process: segmenter cache, parcel privacy, fault hook scoping."""

from __future__ import annotations

import pickle

from batch_archive import copy_study

from mri_measure.batch import segmenter_spec
from mri_measure.batch.worker import (
    FAULT_ENV,
    StudyParcel,
    _test_fault,
    get_segmenter,
    measure_study_task,
    warm_up_task,
)
from mri_measure.io import discover


def test_parcel_repr_hides_paths_and_survives_pickling(tmp_path, pool):
    cd = tmp_path / "DOE_JANE" / "CD"
    copy_study(pool[0], cd, tmp_path / "truth", "a")
    study = discover(cd).studies[0]
    parcel = StudyParcel("0123456789abcdef", study)
    assert repr(parcel) == "StudyParcel(0123456789abcdef)"
    assert "DOE_JANE" in repr(study)  # why the parcel exists
    back = pickle.loads(pickle.dumps(parcel))
    assert back.key == parcel.key and back.study == study


def test_segmenter_loaded_once_per_process_and_task_measures(tmp_path, pool, monkeypatch):
    monkeypatch.setenv(FAULT_ENV, "segfault:.999999999,hang:.888888888")  # matches nothing here
    cd = tmp_path / "SMITH" / "CD"
    copy_study(pool[1], cd, tmp_path / "truth", "b")
    spec = segmenter_spec(None, "cpu", f"truth:{tmp_path / 'truth'}")
    first = warm_up_task(spec)
    assert first["ok"] and first["model"]["name"] == "truth" and first["segmenter_loads"] == 1
    assert get_segmenter(spec) is get_segmenter(spec)
    study = discover(cd).studies[0]
    res = measure_study_task(StudyParcel("k", study), spec)
    assert res["ok"], res
    assert res["segmenter_loads"] == 1  # reused, not reloaded
    assert res["doc"]["study"]["study_instance_uid"] == study.study_instance_uid
    assert res["doc"]["slices"] and res["cpu_s"] > 0 and res["peak_rss_mb"] > 0


def test_model_that_cannot_load_is_reported_not_raised(tmp_path):
    res = warm_up_task(segmenter_spec(str(tmp_path / "no-such-bundle"), "cpu", ""))
    assert res["ok"] is False and res["error_class"] == "ModelError"
    assert str(tmp_path) not in res["message"]


def test_fault_hook_only_fires_for_its_suffix(monkeypatch):
    monkeypatch.setenv(FAULT_ENV, "segfault:.123,hang:.456")
    _test_fault("1.2.3.4.789")  # returns: neither suffix matches
    monkeypatch.setenv(FAULT_ENV, "")
    _test_fault("1.2.3.4.123")
