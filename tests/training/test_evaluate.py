"""`mri-measure evaluate` end to end on a few slices with the shipped model."""

import json

from mri_measure.cli import main


def test_evaluate_cli_writes_metrics_table_and_plot(tmp_path, capsys):
    out = tmp_path / "ev"
    assert main(["evaluate", "--out", str(out), "--n-slices", "2", "--seed", "777"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["sets"]) == {"held_out", "t1like", "snr_half", "spacing_1mm", "tilt_15", "off_disc"}
    h = m["sets"]["held_out"]
    assert h["n_slices"] == 2 and h["dice_sac"] > 0.9
    assert h["canal_area_mm2"]["n"] == 2 and h["canal_area_mm2"]["mae"] < 25
    assert m["measurement_reference"]["canal_area_mm2"]["mae"] < 1e-3  # truth measured on truth
    assert (out / "bland_altman.png").stat().st_size > 10_000
    assert "| held_out | 2 |" in (out / "metrics.md").read_text()
    b = h["borderline"]
    assert b["lf_thickened"]["n"] == 2 and 0 <= b["lf_thickened"]["borderline_pct"] <= 100
    assert "LF flagged borderline" in (out / "metrics.md").read_text()
    assert "Dice sac" in capsys.readouterr().out


def test_cli_reports_a_missing_model_in_one_line(tmp_path, capsys):
    code = main(["evaluate", "--model", str(tmp_path / "none"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "model bundle folder not found" in err


def test_evaluate_against_a_synthetic_cd(tmp_path):
    from mri_measure.training.evaluate import evaluate
    from mri_measure.synth import write_cd

    write_cd(tmp_path / "cases" / "c1", seed=11, stenosis="moderate", levels=["L4-L5"], sagittal=False)
    m = evaluate(None, tmp_path / "ev", cases=str(tmp_path / "cases"))
    s = m["sets"]["cases"]
    assert s["n_slices"] >= 3  # every axial slice with ground truth, read through mri_measure.io
    assert s["dice_sac"] > 0.9 and s["canal_area_mm2"]["n"] == s["n_slices"]


def _row(lf_pred, lf_u, lf_true, area_pred=150.0, area_u=3.0, area_true=150.0):
    return {"pred_lf_thickness_left_mm": lf_pred, "pred_lf_thickness_left_uncertainty_mm": lf_u,
            "true_lf_thickness_left_mm": lf_true, "pred_lf_thickness_right_mm": None,
            "pred_lf_thickness_right_uncertainty_mm": None, "true_lf_thickness_right_mm": None,
            "pred_canal_area_mm2": area_pred, "pred_canal_area_uncertainty_mm2": area_u,
            "true_canal_area_mm2": area_true}


def test_borderline_summary_separates_flagged_slices_and_checks_interval_coverage():
    from mri_measure.criteria import Thresholds
    from mri_measure.training.evaluate import _flags

    rows = [
        _row(2.55, 0.10, 2.40),  # flagged borderline (2.55 ± 0.196 holds 2.5): a wrong call, excluded
        _row(3.00, 0.05, 3.08),  # clear, right, truth inside ± 1.96 u
        _row(2.00, 0.05, 2.60),  # clear but wrong, truth outside the interval
        _row(4.00, 0.20, 4.10, area_pred=101.0, area_u=2.0, area_true=98.0),  # area borderline
    ]
    f = _flags(rows, Thresholds())
    lf, ca = f["lf_thickened"], f["canal_narrowed"]
    assert lf["n"] == 4 and lf["borderline_pct"] == 25.0
    assert lf["agreement_not_borderline"]["n"] == 3 and abs(lf["agreement_not_borderline"]["agreement_pct"] - 200 / 3) < 1e-9
    assert ca["borderline_pct"] == 25.0 and ca["agreement_not_borderline"]["agreement_pct"] == 100.0
    assert f["interval_coverage_95_pct"]["lf_thickness_mm"] == 75.0  # only row 3's truth lies outside
    assert f["interval_coverage_95_pct"]["canal_area_mm2"] == 100.0
