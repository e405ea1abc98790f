"""`mri-measure evaluate` end to end on a few slices with the shipped model."""

import json

from mri_measure.cli import main


def test_evaluate_cli_writes_metrics_table_and_plot(tmp_path, capsys):
    out = tmp_path / "ev"
    assert main(["evaluate", "--out", str(out), "--n-slices", "2", "--seed", "777"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["sets"]) == {"held_out", "t1like", "snr_half", "spacing_1mm", "tilt_15"}
    h = m["sets"]["held_out"]
    assert h["n_slices"] == 2 and h["dice_sac"] > 0.9
    assert h["canal_area_mm2"]["n"] == 2 and h["canal_area_mm2"]["mae"] < 25
    assert m["measurement_reference"]["canal_area_mm2"]["mae"] < 1e-3  # truth measured on truth
    assert (out / "bland_altman.png").stat().st_size > 10_000
    assert "| held_out | 2 |" in (out / "metrics.md").read_text()
    assert "Dice sac" in capsys.readouterr().out


def test_cli_reports_a_missing_model_in_one_line(tmp_path, capsys):
    code = main(["evaluate", "--model", str(tmp_path / "none"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "model bundle folder not found" in err


def test_evaluate_against_a_synthetic_cd(tmp_path):
    from mri_measure.segment.evaluate import evaluate
    from mri_measure.synth import write_cd

    write_cd(tmp_path / "cases" / "c1", seed=11, stenosis="moderate", levels=["L4-L5"], sagittal=False)
    m = evaluate(None, tmp_path / "ev", cases=str(tmp_path / "cases"))
    s = m["sets"]["cases"]
    assert s["n_slices"] >= 3  # every axial slice with ground truth, read through mri_measure.io
    assert s["dice_sac"] > 0.9 and s["canal_area_mm2"]["n"] == s["n_slices"]
