"""DICOMweb end to end against a real Orthanc (tests/dicomweb/orthanc.py):

* ``measure URL`` gives exactly the numbers of the same CD measured from its folder,
  and ``--store-to`` puts SEG and SR back as new series of the same study, new ones
  on every run, readable with highdicom and naming software, model and run;
* ``batch URL`` (filters, resume after SIGKILL: every study measured once);
* an unreachable server, wrong credentials, a missing study and a timeout: exit 2,
  one line, no credentials in it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.dicomweb.conftest import ROOT, SAMPLE
from tests.dicomweb.orthanc import PASSWORD, USER, free_port

SEG_CLASS, SR_CLASS = "1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.88.34"
COMPARED = ("schema_version", "software", "model", "thresholds", "study", "levels", "slices", "warnings")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MRI_MEASURE_DICOMWEB_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "plugins")])
    env.update(extra)
    return env


def _auth_env() -> dict[str, str]:
    return _env(MRI_MEASURE_DICOMWEB_USER=USER, MRI_MEASURE_DICOMWEB_PASSWORD=PASSWORD)


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mri_measure", *args], capture_output=True, text=True,
                          env=env or _auth_env(), cwd=ROOT, timeout=timeout)


def _doc(folder: Path) -> dict:
    doc = json.loads((folder / "measurements.json").read_text())
    return {k: doc[k] for k in COMPARED}


def _wado(orthanc, study: str, series: str) -> list:
    """Every instance of a series, retrieved with plain requests (not the code under test)."""
    import io

    import pydicom
    from dicomweb_client import DICOMwebClient

    client = DICOMwebClient(orthanc.dicomweb, session=orthanc.rest())
    return [pydicom.dcmread(io.BytesIO(_to_bytes(ds))) for ds in client.retrieve_series(study, series)]


def _to_bytes(ds) -> bytes:
    import io

    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.fixture
def truth_segmenter(monkeypatch):
    """`mri-measure measure` in this process segments with the sample CD's ground
    truth (the numbers compared are the I/O path's, not the model's)."""
    import mri_measure.segment as segment
    from mri_measure.testing.truth import TruthSegmenter

    truth = TruthSegmenter.from_npz(SAMPLE / "truth_labels.npz")
    monkeypatch.setattr(segment, "load_segmenter", lambda *a, **k: truth)
    return truth


def _main(capsys, *args: str) -> tuple[int, str, str]:
    from mri_measure.cli import main

    code = main(list(args))
    got = capsys.readouterr()
    return code, got.out, got.err


@pytest.mark.slow
def test_measure_url_gives_the_cd_numbers_and_store_to_adds_new_seg_and_sr_series(
        orthanc, sample_on_pacs, tmp_path, truth_segmenter, capsys, monkeypatch):
    import highdicom as hd

    for k, v in _auth_env().items():
        monkeypatch.setenv(k, v)
    study = sample_on_pacs
    url = f"{orthanc.dicomweb}/studies/{study}"
    from mri_measure.pipeline import analyse_study
    from mri_measure.report import report_to_dict

    cd = report_to_dict(analyse_study(SAMPLE / "CD", segmenter=truth_segmenter).report)
    cd = {k: cd[k] for k in COMPARED}

    # over DICOMweb, storing the results back (with --debug: still no secret in any line)
    code, out, err = _main(capsys, "--debug", "measure", url, "--out", str(tmp_path / "dw"),
                           "--store-to", orthanc.dicomweb)
    assert code == 0, err
    assert _doc(tmp_path / "dw") == cd
    assert PASSWORD not in out + err
    assert "retrieved 30 instance(s) of 2/2 series" in err
    stored_line = [ln for ln in out.splitlines() if ln.startswith("stored to")]
    assert len(stored_line) == 1 and "SEG series" in stored_line[0] and "SR series" in stored_line[0]

    # a second run (no --out: the SEG/SR go through a temporary folder) adds new series;
    # it retrieves only the two MR series the analysis needs, not the SEG/SR now in the study
    code, out2, err2 = _main(capsys, "measure", url, "--store-to", orthanc.dicomweb, "--format", "json")
    assert code == 0, err2
    assert "retrieved 30 instance(s) of 2/4 series" in err2
    doc2 = json.loads(out2)
    assert {k: doc2[k] for k in COMPARED} == cd
    second = subprocess.CompletedProcess([], 0, out2, err2)

    series = orthanc.series_of(study)
    by_modality: dict[str, list[str]] = {}
    for s in series:
        by_modality.setdefault(s["00080060"]["Value"][0], []).append(s["0020000E"]["Value"][0])
    assert len(by_modality["MR"]) == 2 and len(by_modality["SEG"]) == 2 and len(by_modality["SR"]) == 2
    for uid in by_modality["SEG"] + by_modality["SR"]:
        assert uid in stored_line[0] or uid in second.stderr + second.stdout

    run_ids = set()
    for uid in by_modality["SR"]:
        (ds,) = _wado(orthanc, study, uid)
        sr = hd.sr.Comprehensive3DSR.from_dataset(ds)
        assert str(sr.StudyInstanceUID) == study and str(sr.SOPClassUID) == SR_CLASS
        versions = list(sr.SoftwareVersions)
        assert versions[0].startswith("mri-measure ")
        assert any(v.startswith("model ") and doc2["model"]["name"] in v for v in versions)
        run_ids |= {v for v in versions if v.startswith("run ")}
        groups = sr.content.get_planar_roi_measurement_groups() if hasattr(sr, "content") else []
        assert groups, "the SR read back holds no measurement group"
    assert len(run_ids) == 2, "each run's SR names its own run"
    for uid in by_modality["SEG"]:
        instances = _wado(orthanc, study, uid)
        assert len(instances) == 3  # one SEG instance per angled block
        for ds in instances:
            seg = hd.seg.Segmentation.from_dataset(ds)
            assert str(seg.StudyInstanceUID) == study and str(seg.SOPClassUID) == SEG_CLASS
            assert {d.segment_label for d in seg.SegmentSequence} >= {"Dural sac"} or seg.number_of_segments >= 1


def test_qido_filters_select_by_date_description_and_limit(orthanc, batch_on_pacs, sample_on_pacs):
    from mri_measure.io.dicomweb import Connection, search_mr_studies

    _, uids, bad = batch_on_pacs
    conn = Connection(orthanc.dicomweb, user=USER, password=PASSWORD)
    every = [h.study_instance_uid for h in search_mr_studies(conn)]
    assert set(uids) | {sample_on_pacs, bad} <= set(every)
    assert [h.study_instance_uid for h in search_mr_studies(conn, since="20250101")] == uids + [bad]
    assert [h.study_instance_uid for h in search_mr_studies(conn, since="20250103")] == [uids[2], bad]
    assert [h.study_instance_uid for h in search_mr_studies(conn, description="BATCH PHANTOM 3")] == [uids[2]]
    assert [h.study_instance_uid for h in search_mr_studies(conn, since="20250102", description="BATCH*",
                                                            limit=2)] == uids[1:3]


@pytest.mark.slow
def test_batch_over_dicomweb_resumes_after_sigkill_measuring_every_study_once(orthanc, batch_on_pacs, tmp_path):
    """Three good studies and one without an axial T2: killed mid-run and resumed,
    each good study is measured once, the bad one is recorded as failed."""
    from mri_measure.batch.store import opaque_key
    from tests.batch.batch_archive import read_errors_csv, read_results_csv

    truth_dir, uids, bad = batch_on_pacs
    out = tmp_path / "OUT"
    cmd = [sys.executable, "-m", "mri_measure.testing.cli", "--truth", str(truth_dir), "batch",
           orthanc.dicomweb, "--out", str(out), "--workers", "1", "--since", "2025-01-01",
           "--study-description", "BATCH*"]
    tmp = tmp_path / "tmp"  # TMPDIR of the runs: where the prefetch cache lives
    tmp.mkdir()
    env = {**_auth_env(), "TMPDIR": str(tmp)}
    proc = subprocess.Popen(cmd, start_new_session=True, env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if list((out / "studies").glob("*/DONE")):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the batch ended before it could be killed: " + proc.stderr.read().decode()
        os.killpg(proc.pid, signal.SIGKILL)  # the client, its nanny and worker at once
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.stdout.close()
        proc.stderr.close()
    n_before = len(list((out / "studies").glob("*/DONE")))
    assert 1 <= n_before < len(uids)
    assert not (out / "results.csv").exists()

    left = sorted(tmp.glob("mri-measure-dicomweb-batch-*"))  # SIGKILL: no chance to clean up
    res = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=180)
    assert res.returncode == 3, res.stderr  # 3: some study failed (the bad one)
    assert sorted(tmp.glob("mri-measure-dicomweb-batch-*")) == left, "the finished run left its cache"
    assert f"{n_before} already done" in res.stdout and f"{len(uids) - n_before} measured" in res.stdout
    assert "1 failed" in res.stdout
    assert PASSWORD not in res.stdout + res.stderr
    rows = read_results_csv(out)
    pairs = [(r["study_key"], r["level"]) for r in rows]
    assert len(pairs) == len(set(pairs)), "a study was measured twice"
    assert {k for k, _ in pairs} == {opaque_key(u) for u in uids}
    errors = read_errors_csv(out)
    assert [(e["key"], e["error_class"]) for e in errors] == [(opaque_key(bad), "NoAxialT2Error")]
    assert "axial T2" in errors[0]["message"] and "\n" not in errors[0]["message"]
    for done in (out / "studies").glob("*/DONE"):
        doc = json.loads((done.parent / "measurements.json").read_text())
        assert doc["model"]["name"] == "truth" and doc["slices"]
        assert all(sl["canal_area_mm2"] > 0 for sl in doc["slices"])
        assert doc["study"]["study_instance_uid"] in uids


def _one_line_exit_2(res: subprocess.CompletedProcess, *, must: str, never: tuple[str, ...] = ()) -> str:
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("mri-measure: error: ") and must in lines[0], lines[0]
    assert "Traceback" not in res.stderr
    for secret in never + (PASSWORD,):
        assert secret not in res.stderr + res.stdout
    return lines[0]


def test_unreachable_server_exit_2_one_line(tmp_path):
    port = free_port()  # nothing listens there
    res = _cli("measure", f"http://127.0.0.1:{port}/dicom-web/studies/1.2.3", "--out", str(tmp_path / "o"))
    _one_line_exit_2(res, must="cannot be reached")
    res = _cli("batch", f"http://127.0.0.1:{port}/dicom-web", "--out", str(tmp_path / "b"))
    _one_line_exit_2(res, must="cannot be reached")


def test_wrong_credentials_exit_2_one_line_without_them(orthanc, sample_on_pacs, tmp_path):
    host = orthanc.dicomweb.removeprefix("http://")
    url = f"http://{USER}:wrong-pw-4711@{host}/studies/{sample_on_pacs}"
    res = _cli("measure", url, "--out", str(tmp_path / "o"), env=_env())
    _one_line_exit_2(res, must="HTTP 401", never=("wrong-pw-4711",))
    res = _cli("measure", f"{orthanc.dicomweb}/studies/{sample_on_pacs}", env=_env())  # none at all
    _one_line_exit_2(res, must="HTTP 401")


def test_missing_study_exit_2_one_line(orthanc, tmp_path):
    res = _cli("measure", f"{orthanc.dicomweb}/studies/1.2.826.0.1.999999.1", "--out", str(tmp_path / "o"))
    _one_line_exit_2(res, must="not found")
    assert not (tmp_path / "o").exists()


def test_server_that_never_answers_times_out_exit_2(tmp_path):
    with socket.socket() as s:  # accepts connections (the kernel does), never answers
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        port = s.getsockname()[1]
        t0 = time.monotonic()
        res = _cli("measure", f"http://127.0.0.1:{port}/dicom-web/studies/1.2.3", "--timeout", "1")
        _one_line_exit_2(res, must="did not answer within 1 s")
        assert time.monotonic() - t0 < 30


def test_connection_never_shows_secrets_and_urls_are_checked():
    from mri_measure.errors import DicomwebError
    from mri_measure.io.dicomweb import Connection, split_study_url

    c = Connection("https://u:p%40ss@pacs.example:8443/dicom-web/")
    assert (c.user, c.password, c.root) == ("u", "p@ss", "https://pacs.example:8443/dicom-web")
    t = Connection.from_options("https://pacs.example/dw", environ={"MRI_MEASURE_DICOMWEB_TOKEN": "tok-123"})
    for conn in (c, t):
        assert "p@ss" not in repr(conn) and "tok-123" not in repr(conn)
    assert t.token == "tok-123" and "auth=token" in repr(t)
    with pytest.raises(DicomwebError, match="needs a password"):
        Connection.from_options("https://pacs.example/dw", user="u", environ={})
    with pytest.raises(DicomwebError, match="not set"):
        Connection.from_options("https://pacs.example/dw", user="u", password_env="NOPE", environ={})
    with pytest.raises(DicomwebError, match="/studies/"):
        split_study_url("https://pacs.example/dicom-web")


def test_a_worker_of_a_remote_cluster_retrieves_its_study_itself(orthanc, batch_on_pacs, tmp_path, monkeypatch):
    """With --scheduler the workers may not see the client's files: each retrieves its
    study into its own temporary folder (removed afterwards) and measures it."""
    import tempfile

    from mri_measure.batch.remote import RemoteStudy
    from mri_measure.batch.worker import StudyParcel, measure_study_task
    from mri_measure.io.dicomweb import Connection
    from mri_measure.testing.truth import truth_spec

    truth_dir, uids, _ = batch_on_pacs
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    remote = RemoteStudy(Connection(orthanc.dicomweb, user=USER, password=PASSWORD), uids[0])
    assert PASSWORD not in repr(remote)
    res = measure_study_task(StudyParcel("key", remote), truth_spec(truth_dir))
    assert res["ok"], res
    assert res["doc"]["study"]["study_instance_uid"] == uids[0] and res["doc"]["slices"]
    assert list(tmp_path.iterdir()) == [], "the worker's temporary folder was left behind"


def test_bearer_token_is_sent_and_a_403_is_one_line(tmp_path):
    """A bearer token reaches the server as `Authorization: Bearer …` (a stdlib HTTP
    server records what arrives; Orthanc has no token auth) and a 403 is one line."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from mri_measure.errors import DicomwebError
    from mri_measure.io.dicomweb import Connection, fetch_study

    seen: list[str | None] = []

    class Forbidden(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            seen.append(self.headers.get("Authorization"))
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forbidden)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        conn = Connection.from_options(f"http://127.0.0.1:{server.server_port}/dicom-web",
                                       environ={"MRI_MEASURE_DICOMWEB_TOKEN": "tok-98765"})
        with pytest.raises(DicomwebError) as err:
            fetch_study(conn, "1.2.3", tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ["Bearer tok-98765"]
    message = str(err.value)
    assert "HTTP 403" in message and "\n" not in message and "tok-98765" not in message
