"""``batch ROOT_URL --store-to URL`` against a real Orthanc of its own (results are
stored into its studies, so not the session server the other tests count series
on): a store that fails is recorded for each study while the batch measures them
all; ``--resume --store-to`` then measures and stores each study exactly once (one
new SEG and one new SR series each, read back with highdicom), records what it
stored without patient data, and a further ``--resume`` stores nothing again."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from tests.dicomweb.conftest import ROOT
from tests.dicomweb.orthanc import PASSWORD, USER, free_port, start_orthanc
from tests.dicomweb.test_dicomweb import SEG_CLASS, SR_CLASS, _auth_env, _wado

N_STUDIES = 2


@pytest.fixture
def own_pacs(tmp_path):
    """A fresh Orthanc with two small synthetic studies: (server, truth folder, their UIDs)."""
    import shutil

    from tests.batch.batch_archive import build_pool, study_uid_of

    server = start_orthanc(tmp_path / "orthanc")
    try:
        uids = []
        for study in build_pool(tmp_path / "studies", N_STUDIES, first_seed=500):
            uids.append(study_uid_of(study / "CD"))
            assert server.upload(study / "CD") > 0
            shutil.rmtree(study / "CD")  # only the truth stays
        yield server, tmp_path / "studies", uids
    finally:
        server.stop()


def _by_modality(server, study: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for s in server.series_of(study):
        out.setdefault(s["00080060"]["Value"][0], []).append(s["0020000E"]["Value"][0])
    return out


def _rows(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_batch_store_to_adds_one_seg_and_one_sr_per_study_once(own_pacs, tmp_path):
    import highdicom as hd

    from mri_measure.batch.store import opaque_key

    server, truth_dir, uids = own_pacs
    out = tmp_path / "OUT"

    def batch(*extra: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "mri_measure.testing.cli", "--truth", str(truth_dir), "--quiet",
               "batch", server.dicomweb, "--out", str(out), "--workers", "1", *extra]
        return subprocess.run(cmd, capture_output=True, text=True, env=_auth_env(), cwd=ROOT, timeout=240)

    # 1. the store fails (nothing listens there): every study is measured all the same,
    #    each failure to store is recorded for its study
    nowhere = f"http://127.0.0.1:{free_port()}/dicom-web"
    res = batch("--store-to", nowhere)
    assert res.returncode == 3, res.stderr
    assert f"{N_STUDIES} measured" in res.stdout and f"{N_STUDIES} could not be stored" in res.stdout
    assert len(list((out / "studies").glob("*/DONE"))) == N_STUDIES
    errors = _rows(out / "errors.csv")
    assert sorted((e["key"], e["kind"]) for e in errors) == sorted((opaque_key(u), "store") for u in uids)
    assert all("cannot be reached" in e["message"] for e in errors)
    for uid in uids:
        assert "SEG" not in _by_modality(server, uid) and "SR" not in _by_modality(server, uid)

    # 2. --resume --store-to the server: not stored yet, so each study is redone and stored
    res = batch("--store-to", server.dicomweb, "--resume")
    assert res.returncode == 0, res.stderr
    assert f"{N_STUDIES} measured" in res.stdout and f"SEG/SR of {N_STUDIES} stored to" in res.stdout
    assert PASSWORD not in res.stdout + res.stderr and USER not in res.stdout
    assert _rows(out / "errors.csv") == []
    stored = _rows(out / "stored.csv")
    assert sorted((r["study_key"], r["modality"]) for r in stored) == sorted(
        (opaque_key(u), m) for u in uids for m in ("SEG", "SR"))
    assert {r["target"] for r in stored} == {server.url}
    for uid in uids:
        series = _by_modality(server, uid)
        assert len(series["MR"]) >= 1 and len(series["SEG"]) == 1 and len(series["SR"]) == 1
        record = json.loads((out / "studies" / opaque_key(uid) / "STORED.json").read_text())
        assert {s["series_instance_uid"] for s in record["series"]} == {series["SEG"][0], series["SR"][0]}
        assert uid not in json.dumps(record)  # the study is named by its opaque key only
        (sr_ds,) = _wado(server, uid, series["SR"][0])
        sr = hd.sr.Comprehensive3DSR.from_dataset(sr_ds)
        assert str(sr.StudyInstanceUID) == uid and str(sr.SOPClassUID) == SR_CLASS
        for ds in _wado(server, uid, series["SEG"][0]):
            seg = hd.seg.Segmentation.from_dataset(ds)
            assert str(seg.StudyInstanceUID) == uid and str(seg.SOPClassUID) == SEG_CLASS
        n_seg = [r for r in stored if r["study_key"] == opaque_key(uid) and r["modality"] == "SEG"]
        assert int(n_seg[0]["n_instances"]) == len(_wado(server, uid, series["SEG"][0]))

    # 3. resumed again: every study is done and stored there, nothing is stored twice
    res = batch("--store-to", server.dicomweb, "--resume")
    assert res.returncode == 0, res.stderr
    assert f"{N_STUDIES} already done" in res.stdout and "0 measured" in res.stdout
    for uid in uids:
        series = _by_modality(server, uid)
        assert len(series["SEG"]) == 1 and len(series["SR"]) == 1
    assert len(_rows(out / "stored.csv")) == 2 * N_STUDIES
