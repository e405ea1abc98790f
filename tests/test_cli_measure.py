"""`mri-measure measure` through the real CLI with the real shipped model."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_dicoms" / "stenosis_L4-L5" / "CD"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mri_measure", *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd)


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample-out")
    res = run_cli("measure", str(SAMPLE), "--out", str(out))
    return res, out


def test_sample_study_table_names_the_stenotic_level(sample_run):
    """The README's main job: the bundled stenosis sample → L4-L5 meets both criteria."""
    res, _ = sample_run
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split()[:2] == ["level", "canal"]
    rows = {ln.split()[0]: ln for ln in lines if ln[:2] in ("L3", "L4", "L5")}
    assert set(rows) == {"L3-L4", "L4-L5", "L5-S1"}
    summary = next(ln for ln in lines if ln.startswith("Levels meeting both"))
    assert summary.endswith("L4-L5"), summary


def test_sample_outputs_written_and_valid(sample_run):
    from mri_measure.report import load_schema

    res, out = sample_run
    assert res.returncode == 0, res.stderr
    for name in ("measurements.json", "measurements.csv", "report.html", "report.pdf", "seg.dcm", "sr.dcm"):
        assert (out / name).is_file(), name
    doc = json.loads((out / "measurements.json").read_text())
    jsonschema.validate(doc, load_schema())
    assert doc["model"]["sha256"] and doc["model"]["name"] == "lumbar-axial-unet"
    assert len(doc["slices"]) == 15
    with open(out / "measurements.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["level"] for r in rows] == [lv["level"] for lv in doc["levels"]]
    truth = json.loads((SAMPLE.parent / "truth.json").read_text())["slices"]
    for s in doc["slices"]:  # the real model against the phantom's ground truth
        t = truth[s["sop_instance_uid"]]
        assert s["level"] == t["level"]
        if t["canal_area_mm2"] and s["canal_area_mm2"]:
            assert abs(s["canal_area_mm2"] - t["canal_area_mm2"]) <= max(15.0, 0.12 * t["canal_area_mm2"])


def test_format_json_prints_the_measurements_document(tmp_path):
    res = run_cli("measure", str(SAMPLE), "--format", "json", "--lf-threshold", "3.0",
                  "--canal-threshold", "90")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["schema_version"] == "1.1"
    assert doc["thresholds"]["lf_thickness_mm"]["value"] == 3.0
    assert doc["thresholds"]["canal_area_mm2"]["value"] == 90.0


def test_level_override_by_instance_number(tmp_path):
    first = json.loads(run_cli("measure", str(SAMPLE), "--format", "json").stdout)["slices"][0]
    res = run_cli("measure", str(SAMPLE), "--format", "json", "--level", f"{first['instance_number']}=L1-L2")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    s = next(x for x in doc["slices"] if x["sop_instance_uid"] == first["sop_instance_uid"])
    assert (s["level"], s["level_source"]) == ("L1-L2", "user")


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--level", "12=L9-L10"], "L9-L10"),
        (["--lf-threshold", "-2"], "threshold"),
        (["--series", "1.2.3"], "--series"),
    ],
)
def test_bad_options_one_line_exit_2(args, needle):
    res = run_cli("measure", str(SAMPLE), *args)
    assert res.returncode == 2, res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("mri-measure: error")]
    assert len(errors) == 1 and needle in errors[0], res.stderr
    assert "Traceback" not in res.stderr


def test_non_dicom_folder_one_line_exit_2(tmp_path):
    (tmp_path / "AUTORUN.INF").write_text("[autorun]\n")
    (tmp_path / "index.html").write_text("<html></html>")
    res = run_cli("measure", str(tmp_path))
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "DICOM" in res.stderr
