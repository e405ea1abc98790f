"""The worker side in-process: segmenter cache, parcel privacy, fault injection scoping."""

from __future__ import annotations

import pickle
import signal
import subprocess
import sys

import pytest

from mri_measure.batch import segmenter_spec
from mri_measure.batch.worker import StudyParcel, get_segmenter, measure_study_task, warm_up_task
from mri_measure.io import discover
from mri_measure.testing.faults import fault_spec
from mri_measure.testing.truth import truth_spec
from tests.batch.batch_archive import copy_study


def test_parcel_repr_hides_paths_and_survives_pickling(tmp_path, pool):
    cd = tmp_path / "DOE_JANE" / "CD"
    copy_study(pool[0], cd, tmp_path / "truth", "a")
    study = discover(cd).studies[0]
    parcel = StudyParcel("0123456789abcdef", study)
    assert repr(parcel) == "StudyParcel(0123456789abcdef)"
    assert "DOE_JANE" in repr(study)  # why the parcel exists
    back = pickle.loads(pickle.dumps(parcel))
    assert back.key == parcel.key and back.study == study


def test_segmenter_loaded_once_per_process_and_task_measures(tmp_path, pool):
    cd = tmp_path / "SMITH" / "CD"
    copy_study(pool[1], cd, tmp_path / "truth", "b")
    # faults that match nothing here: the wrapped truth segmenter does the work
    spec = fault_spec(truth_spec(tmp_path / "truth"), segfault=[".999999999"], hang=[".888888888"])
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
    res = warm_up_task(segmenter_spec(str(tmp_path / "no-such-bundle"), "cpu"))
    assert res["ok"] is False and res["error_class"] == "ModelError"
    assert str(tmp_path) not in res["message"]


_FAULTY = """
import sys, types
from mri_measure.testing.faults import FaultySegmenter
from mri_measure.testing.truth import TruthSegmenter
seg = FaultySegmenter(TruthSegmenter({}), [("segfault", ".123"), ("hang", ".456")])
stack = types.SimpleNamespace(stack=types.SimpleNamespace(study_instance_uid=sys.argv[1]),
                              slices=(types.SimpleNamespace(key="1.2.3.4.5.1"),), pixels=None)
print("segmenting", flush=True)
try:
    seg.predict_stack(stack)
except Exception as exc:
    print(type(exc).__name__)
"""


def test_faults_fire_only_for_their_suffix_and_really_kill_or_hang():
    def run(uid: str, timeout: float = 120):
        return subprocess.run([sys.executable, "-c", _FAULTY, uid], capture_output=True, text=True,
                              timeout=timeout)

    # no suffix matches: the wrapped segmenter answers (the empty truth has no such slices)
    res = run("1.2.3.4.789")
    assert res.returncode == 0 and res.stdout.split() == ["segmenting", "InputError"], res.stderr
    crashed = run("1.2.3.4.123")
    assert crashed.returncode == -signal.SIGSEGV and crashed.stdout.split() == ["segmenting"]
    with pytest.raises(subprocess.TimeoutExpired) as hung:
        run("1.2.3.4.456", timeout=20)
    out = hung.value.stdout
    assert "segmenting" in (out.decode() if isinstance(out, bytes) else out or "")  # it got there, then hung
