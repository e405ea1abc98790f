"""Privacy and no-network guarantees, end to end through the real CLI.

A phantom carrying distinctive fake PHI (name, ID, birth date, accession,
institution, referring physician; folder names containing the name) goes
through `measure` and `batch`; no output file (SEG/SR patient modules
excepted, by DICOM design) and no log line may contain any of it. The same
commands run with every outbound connection refused and recorded by a
``sitecustomize`` guard: none may be attempted (batch may use loopback only).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUARD_DIR = Path(__file__).parent / "nonet"

PHI = {
    "PatientName": "ZZPRIVATE^JOHNNY",
    "PatientID": "PID-5550123",
    "PatientBirthDate": "19020304",
    "AccessionNumber": "ACC7770042",
    "InstitutionName": "ZZSECRET HOSPITAL",
    "ReferringPhysicianName": "ZZDOCTOR^WHO",
}
TOKENS = ["ZZPRIVATE", "JOHNNY", "PID-5550123", "5550123", "19020304", "1902-03-04",
          "ACC7770042", "ZZSECRET", "ZZDOCTOR"]


@pytest.fixture(scope="module")
def phi_study(tmp_path_factory) -> Path:
    from mri_measure.synth import write_cd

    base = tmp_path_factory.mktemp("archive")
    folder = base / "ZZPRIVATE_JOHNNY_PID-5550123"
    cd = write_cd(folder, seed=31, stenosis="moderate", levels=["L4-L5", "L5-S1"], phi=PHI)
    for name in ("truth.json", "truth_labels.npz"):  # an archive holds only the CD
        (folder / name).unlink()
    return cd


def _run(args: list[str], cwd: Path, log: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(GUARD_DIR), str(ROOT)]),
           "MRI_MEASURE_NET_LOG": str(log)}
    return subprocess.run([sys.executable, "-m", "mri_measure", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def _text_of(path: Path) -> str:
    if path.suffix == ".pdf":
        return subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True,
                              check=True).stdout
    if path.suffix == ".parquet":
        import pandas as pd

        return pd.read_parquet(path).to_csv()
    return path.read_bytes().decode("latin-1")


def _leaks(text: str) -> list[str]:
    up = text.upper()
    return [t for t in TOKENS if t.upper() in up]


def _attempts(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_measure_outputs_and_logs_carry_no_phi_and_no_network(phi_study, tmp_path):
    out = tmp_path / "out"
    net = tmp_path / "net.log"
    res = _run(["--debug", "measure", str(phi_study), "--out", str(out)], tmp_path, net)
    assert res.returncode == 0, res.stderr
    assert _attempts(net) == [], "measure tried to open network connections"
    assert _leaks(res.stdout) == [] and _leaks(res.stderr) == []
    files = sorted(p for p in out.rglob("*") if p.is_file())
    names = {p.name for p in files}
    assert {"measurements.json", "measurements.csv", "report.html", "report.pdf", "seg.dcm", "sr.dcm"} <= names
    for p in files:
        if p.suffix == ".dcm":
            data = p.read_bytes()
            assert data[:128] == b"\0" * 128 and data[128:132] == b"DICM", p.name
            # SEG/SR copy the patient module by DICOM design (documented): they are patient data
            assert b"ZZPRIVATE" in data
            continue
        assert _leaks(_text_of(p)) == [], f"{p.name} leaks PHI"
        assert str(phi_study.parent) not in _text_of(p)


def test_batch_outputs_and_logs_carry_no_phi_loopback_only(phi_study, tmp_path):
    root = tmp_path / "archive"
    shutil.copytree(phi_study.parent, root / phi_study.parent.name)
    (root / "ZZPRIVATE_notes_folder").mkdir()
    (root / "ZZPRIVATE_notes_folder" / "readme.txt").write_text("not DICOM")
    out = tmp_path / "bout"
    net = tmp_path / "net.log"
    res = _run(["batch", str(root), "--out", str(out), "--workers", "1"], tmp_path, net)
    assert res.returncode == 0, res.stderr
    remote = [a for a in _attempts(net) if not a.startswith(("127.", "::1", "localhost", "unix:"))]
    assert remote == [], f"batch tried non-loopback connections: {remote}"
    assert _leaks(res.stdout) == [] and _leaks(res.stderr) == []
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "results.parquet" for p in files)
    for p in files:
        assert _leaks(_text_of(p)) == [], f"{p.relative_to(out)} leaks PHI"
    rows = (out / "results.csv").read_text()
    assert "L4-L5" in rows


def test_napari_reader_and_pipeline_make_no_connections(phi_study, monkeypatch):
    """In-process: the napari reader and the pipeline with the guard installed."""
    from tests.hardening.nonet import sitecustomize as guard

    attempts: list[str] = []
    monkeypatch.setattr(guard, "_record", attempts.append)
    guard.install()
    try:
        from napari_mri_measure._reader import get_reader

        reader = get_reader(str(phi_study))
        assert reader is not None
        layers = reader(str(phi_study))
        assert layers
        from mri_measure.pipeline import run_study

        report = run_study(phi_study)
        assert report.levels
    finally:
        guard.uninstall()
    assert attempts == []
    assert all(_leaks(json.dumps(meta.get("name", ""))) == [] for _, meta, *_ in layers)
