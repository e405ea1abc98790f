"""Evaluation: ``mri-measure evaluate [--model DIR] --out DIR [--cases PATH]
[--n-slices N] [--seed S] [--device cpu|cuda]``.

Default: ``N`` held-out realistic-T2 synthetic slices
(:func:`mri_measure.synth.sample_axial_2d` with ``randomise=False``, pixel
spacing uniform in 0.3–0.9 mm, stenosis none/moderate/severe in equal
shares, generators seeded by ``(seed, set, index)`` — never a training
seed), plus ``N/4`` slices under each shift the model was not specifically
trained for: T1-like contrast, SNR halved, 1.0 mm pixels, 15° tilt — and
``N/4`` realistic slices 5–9 mm from the disc mid-plane ("off_disc", the outer
slices of a clinical block, where the ligament may end: its "spurious LF"
column counts LF found where the truth has none).
With ``--cases``: every synthetic CD folder under PATH (``truth.json`` +
``truth_labels.npz`` beside ``CD/``), all axial slices.

Per slice: Dice per class (argmax vs true labels), and
:func:`mri_measure.measure.measure_slice` on the prediction (labels =
argmax, with the probabilities) against the truth values. Writes
``metrics.json``, ``metrics.md``, ``slices.csv`` and ``bland_altman.png``
into ``--out``.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..criteria import Thresholds, straddles_threshold
from ..errors import InputError
from ..vocabulary import Label
from . import metrics as M

log = logging.getLogger(__name__)

SHIFTS = ("t1like", "snr_half", "spacing_1mm", "tilt_15", "off_disc")
STENOSIS = ("none", "moderate", "severe")
SPACING_BINS = ((0.3, 0.5), (0.5, 0.7), (0.7, 0.9), (0.9, 1.01))


def held_out_sample(rng: np.random.Generator, shift: str | None = None, *, spacing_mm: float | None = None):
    """A realistic-T2 synthetic slice, optionally under one named shift.

    Mirrors the realistic branch of :func:`mri_measure.synth.sample_axial_2d`
    (it is that function when ``shift`` is None); the shifts change one thing:
    ``t1like`` the tissue table, ``snr_half`` doubles the noise σ,
    ``spacing_1mm`` the pixel spacing, ``tilt_15`` tilts the plane by 15°,
    ``off_disc`` moves it 5–9 mm from the disc mid-plane.
    """
    from ..synth import TRAINING_LEVELS, sample_axial_2d
    from ..synth import render as R
    from ..synth.phantom import make_phantom
    from ..synth.planes import disc_plane, plane_tissues, slice_truth
    from ..synth.sample import AxialSample

    stenosis = STENOSIS[int(rng.integers(len(STENOSIS)))]
    if spacing_mm is None:
        spacing_mm = 1.0 if shift == "spacing_1mm" else float(rng.uniform(0.3, 0.9))
    if shift in (None, "spacing_1mm"):
        return sample_axial_2d(rng, randomise=False, spacing_mm=spacing_mm, stenosis=stenosis)
    if shift not in SHIFTS:
        raise InputError(f"unknown shift {shift!r}")
    sp = (spacing_mm, spacing_mm)
    lev = TRAINING_LEVELS[int(rng.integers(0, len(TRAINING_LEVELS)))]
    ph = make_phantom(int(rng.integers(0, 2**31 - 1)), stenosis=stenosis)
    tilt = (float(rng.choice([-15.0, 15.0])), 0.0) if shift == "tilt_15" else (float(rng.uniform(-3, 3)), 0.0)
    offset = rng.uniform(-4, 4)
    if shift == "off_disc":
        offset = float(rng.choice([-1.0, 1.0])) * rng.uniform(5.0, 9.0)
    plane = disc_plane(ph, lev, spacing_mm=sp, shape=(256, 256), offset_mm=offset,
                       tilt_deg=tilt, centre_on="canal")
    contrast = "t1like" if shift == "t1like" else "t2"
    j = ph.level_index(lev)
    table = R.tissue_intensities(contrast, None, nucleus_signal=float(ph.nucleus_signal[j]))
    depths = (-1.2, 0.0, 1.2)
    noise = 28.0 if shift == "snr_half" else 14.0  # realistic branch uses σ = 14
    tissues = plane_tissues(ph, plane, depths)
    truth = slice_truth(ph, plane, tissues[1])
    bias = R.bias_field(plane.shape, rng, strength=0.15, posterior_gain=0.2)
    image = R.render(tissues, table, rng, blur_px=0.5, noise_sigma=noise, bias=bias)
    return AxialSample(
        image=image, labels=truth.labels, coverage=truth.coverage, spacing_mm=plane.spacing_mm,
        orientation=plane.orientation, canal_area_mm2=truth.canal_area_mm2,
        lf_thickness_left_mm=truth.lf_thickness_left_mm, lf_thickness_right_mm=truth.lf_thickness_right_mm,
        canal_ap_mm=truth.canal_ap_mm, level=truth.level, contrast=contrast,
    )


def _lf_max(left, right):
    vals = [v for v in (left, right) if v is not None]
    return max(vals) if vals else None


def slice_row(probs: np.ndarray, truth_labels: np.ndarray, spacing, truth: dict[str, Any], **extra) -> dict:
    """Dice and measurements of one predicted slice against its truth."""
    from ..measure import measure_slice

    pred = np.argmax(probs, axis=0).astype(np.uint8)
    tl = np.where(truth_labels <= max(Label), truth_labels, 0)
    m = measure_slice(pred, spacing, probabilities=probs)
    row = {**extra, "spacing_mm": float(spacing[0])}
    for c, name in ((Label.CANAL, "sac"), (Label.LF_LEFT, "lf_left"), (Label.LF_RIGHT, "lf_right")):
        row[f"dice_{name}"] = M.dice(pred, tl, c)
    for k in ("canal_area_mm2", "lf_thickness_left_mm", "lf_thickness_right_mm", "canal_ap_mm"):
        row[f"true_{k}"] = truth.get(k)
        row[f"pred_{k}"] = getattr(m, k)
        u = k.replace("_mm2", "_uncertainty_mm2") if k.endswith("_mm2") else k.replace("_mm", "_uncertainty_mm")
        row[f"pred_{u}"] = getattr(m, u)
    return row


def _lf_max_with_uncertainty(r: dict) -> tuple[float | None, float | None]:
    """The predicted max LF over both sides and that side's uncertainty."""
    sides = [(r[f"pred_lf_thickness_{s}_mm"], r.get(f"pred_lf_thickness_{s}_uncertainty_mm"))
             for s in ("left", "right")]
    sides = [sv for sv in sides if sv[0] is not None]
    return max(sides, key=lambda sv: sv[0]) if sides else (None, None)


def _flags(rows: list[dict], thresholds: Thresholds) -> dict:
    """How the report's ``borderline`` flag and the uncertainties behave against the truth:
    the share of slices flagged borderline for each criterion, the agreement on the
    slices *not* flagged, and how often truth lies within value ± 1.96 × uncertainty."""
    out: dict[str, Any] = {}
    crit = {
        "lf_thickened": (_lf_max_with_uncertainty,
                         lambda r: _lf_max(r["true_lf_thickness_left_mm"], r["true_lf_thickness_right_mm"]),
                         thresholds.lf_threshold_mm, thresholds.lf_thickened),
        "canal_narrowed": (lambda r: (r["pred_canal_area_mm2"], r.get("pred_canal_area_uncertainty_mm2")),
                           lambda r: r["true_canal_area_mm2"], thresholds.canal_threshold_mm2,
                           thresholds.canal_narrowed),
    }
    for name, (pred_of, true_of, thr, decide) in crit.items():
        flagged, pred, true = [], [], []
        for r in rows:
            (v, u), t = pred_of(r), true_of(r)
            if v is None or t is None:
                continue
            flagged.append(straddles_threshold(v, u, thr))
            pred.append(bool(decide(v)))
            true.append(bool(decide(t)))
        keep = [i for i, f in enumerate(flagged) if not f]
        out[name] = {
            "n": len(flagged),
            "borderline_pct": float(100 * np.mean(flagged)) if flagged else None,
            "agreement_not_borderline": M.agreement([pred[i] for i in keep], [true[i] for i in keep]),
        }
    cover = {}
    for key, keys in (("lf_thickness_mm", ("lf_thickness_left", "lf_thickness_right")), ("canal_area_mm2", ("canal_area",))):
        hits = []
        for r in rows:
            for k in keys:
                unit = "_mm2" if k == "canal_area" else "_mm"
                v, t, u = r[f"pred_{k}{unit}"], r[f"true_{k}{unit}"], r.get(f"pred_{k}_uncertainty{unit}")
                if v is not None and t is not None and u:
                    hits.append(abs(v - t) <= 1.96 * u)
        cover[key] = float(100 * np.mean(hits)) if hits else None
    out["interval_coverage_95_pct"] = cover
    return out


def summarise(rows: list[dict], thresholds: Thresholds) -> dict:
    out: dict[str, Any] = {"n_slices": len(rows)}
    for name in ("sac", "lf_left", "lf_right"):
        out[f"dice_{name}"] = M.mean_or_none([r[f"dice_{name}"] for r in rows])
    out["canal_area_mm2"] = M.error_summary([r["pred_canal_area_mm2"] for r in rows],
                                            [r["true_canal_area_mm2"] for r in rows])
    lf_p = [r["pred_lf_thickness_left_mm"] for r in rows] + [r["pred_lf_thickness_right_mm"] for r in rows]
    lf_t = [r["true_lf_thickness_left_mm"] for r in rows] + [r["true_lf_thickness_right_mm"] for r in rows]
    out["lf_thickness_mm"] = M.error_summary(lf_p, lf_t)
    out["canal_ap_mm"] = M.error_summary([r["pred_canal_ap_mm"] for r in rows], [r["true_canal_ap_mm"] for r in rows])
    lf_pred = [bool(thresholds.lf_thickened(_lf_max(r["pred_lf_thickness_left_mm"], r["pred_lf_thickness_right_mm"])))
               for r in rows]
    lf_true = [bool(thresholds.lf_thickened(_lf_max(r["true_lf_thickness_left_mm"], r["true_lf_thickness_right_mm"])))
               for r in rows]
    out["lf_thickened_agreement"] = M.agreement(lf_pred, lf_true)
    out["canal_narrowed_agreement"] = M.agreement(
        [bool(thresholds.canal_narrowed(r["pred_canal_area_mm2"])) for r in rows],
        [bool(thresholds.canal_narrowed(r["true_canal_area_mm2"])) for r in rows])
    out["borderline"] = _flags(rows, thresholds)
    return out


def _synthetic_rows(seg, n: int, seed: int) -> dict[str, list[dict]]:
    sets: dict[str, list[dict]] = {}
    plan = [("held_out", None, n)] + [(s, s, max(1, n // 4)) for s in SHIFTS]
    for set_index, (name, shift, count) in enumerate(plan):
        rows = []
        t0 = time.perf_counter()
        for i in range(count):
            rng = np.random.default_rng([int(seed), 7919, set_index, i])
            s = held_out_sample(rng, shift)
            probs = seg.predict(s.image[None], s.spacing_mm, s.orientation)[0]
            truth = {k: getattr(s, k) for k in ("canal_area_mm2", "lf_thickness_left_mm",
                                                 "lf_thickness_right_mm", "canal_ap_mm")}
            row = slice_row(probs, s.labels, s.spacing_mm, truth, set=name, contrast=s.contrast,
                            level=s.level, index=i)
            if name == "held_out":  # the measurement method alone, on the exact coverage
                from ..measure import measure_slice

                ref = measure_slice(np.argmax(s.coverage, 0).astype(np.uint8), s.spacing_mm,
                                    probabilities=s.coverage)
                for k in truth:
                    row[f"ref_{k}"] = getattr(ref, k)
            rows.append(row)
        log.info("%s: %d slices in %.0f s", name, count, time.perf_counter() - t0)
        sets[name] = rows
    return sets


def _case_rows(seg, cases: Path) -> dict[str, list[dict]]:
    from ..io import discover, load_stack

    truth_files = sorted(cases.rglob("truth.json")) if cases.is_dir() else []
    if not truth_files:
        raise InputError("--cases holds no synthetic case folders (truth.json + truth_labels.npz beside CD/)")
    rows = []
    for ci, tf in enumerate(truth_files):
        truth = json.loads(tf.read_text())
        with np.load(tf.parent / "truth_labels.npz") as z:
            labels = {k: z[k] for k in z.files}
        found = discover(tf.parent)
        for study in found.studies:
            for stack in study.stacks:
                loaded = load_stack(stack)
                keys = [s.key for s in loaded.slices]
                if not any(k in labels for k in keys):
                    continue
                probs = seg.predict_stack(loaded)
                for k, p in zip(keys, probs):
                    if k not in labels:
                        continue
                    t = truth["slices"].get(k, {})
                    rows.append(slice_row(p, labels[k], stack.spacing_mm, t, set=f"case{ci + 1}",
                                          contrast="t2", level=t.get("level"), index=len(rows)))
    if not rows:
        raise InputError("no axial slice of the --cases CDs has ground-truth labels")
    return {"cases": rows}


def bland_altman_png(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    specs = [("canal area (mm²)", [("canal_area_mm2",)]),
             ("LF thickness (mm)", [("lf_thickness_left_mm",), ("lf_thickness_right_mm",)])]
    for ax, (label, keys) in zip(axes, specs):
        pairs = [(r[f"pred_{k}"], r[f"true_{k}"]) for r in rows for (k,) in keys
                 if r[f"pred_{k}"] is not None and r[f"true_{k}"] is not None]
        if not pairs:
            continue
        p, t = np.array(pairs).T
        mean, diff = (p + t) / 2, p - t
        bias, sd = diff.mean(), diff.std(ddof=1) if len(diff) > 1 else 0.0
        ax.scatter(mean, diff, s=8, alpha=0.6)
        for y, style in ((bias, "-"), (bias + 1.96 * sd, "--"), (bias - 1.96 * sd, "--")):
            ax.axhline(y, color="k", linestyle=style, linewidth=1)
        ax.set_xlabel(f"mean of model and truth, {label}")
        ax.set_ylabel(f"model − truth, {label}")
        ax.set_title(f"bias {bias:+.2f}, 95% LoA [{bias - 1.96 * sd:+.2f}, {bias + 1.96 * sd:+.2f}]", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(v, nd=3):
    return "—" if v is None else f"{v:.{nd}f}"


def markdown_table(summary: dict) -> str:
    lines = [
        "| set | n | Dice sac | Dice LF-L | Dice LF-R | canal area MAE / bias (mm²) | LF thickness MAE / bias (mm) "
        "| LF ≥ 2.5 agree % (κ) | area ≤ 100 agree % (κ) | missing LF | spurious LF |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    def row(name, s):
        ca, lf = s["canal_area_mm2"], s["lf_thickness_mm"]
        a1, a2 = s["lf_thickened_agreement"], s["canal_narrowed_agreement"]
        return (f"| {name} | {s['n_slices']} | {_fmt(s['dice_sac'])} | {_fmt(s['dice_lf_left'])} | "
                f"{_fmt(s['dice_lf_right'])} | {_fmt(ca['mae'], 2)} / {_fmt(ca['bias'], 2)} | "
                f"{_fmt(lf['mae'], 3)} / {_fmt(lf['bias'], 3)} | {_fmt(a1['agreement_pct'], 1)} ({_fmt(a1['kappa'], 2)}) | "
                f"{_fmt(a2['agreement_pct'], 1)} ({_fmt(a2['kappa'], 2)}) | {lf['n_missing']} | {lf['n_spurious']} |")
    for name, s in summary["sets"].items():
        lines.append(row(name, s))
    for group in ("by_spacing", "by_contrast", "by_stenosis_truth"):
        for name, s in summary.get(group, {}).items():
            lines.append(row(f"{group.replace('by_', '')}: {name}", s))
    lines += [
        "",
        "Borderline flags (value ± 1.96 × its uncertainty straddles the threshold, as in the report) "
        "and uncertainty coverage (truth within value ± 1.96 × uncertainty):",
        "",
        "| set | LF flagged borderline % | LF ≥ 2.5 agree % on the rest (n) | area flagged % "
        "| area ≤ 100 agree % on the rest (n) | LF coverage % | area coverage % |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s in summary["sets"].items():
        b = s.get("borderline")
        if not b:
            continue
        lf, ca = b["lf_thickened"], b["canal_narrowed"]
        cov = b["interval_coverage_95_pct"]
        lines.append(
            f"| {name} | {_fmt(lf['borderline_pct'], 1)} | {_fmt(lf['agreement_not_borderline']['agreement_pct'], 1)} "
            f"({lf['agreement_not_borderline']['n']}) | {_fmt(ca['borderline_pct'], 1)} | "
            f"{_fmt(ca['agreement_not_borderline']['agreement_pct'], 1)} ({ca['agreement_not_borderline']['n']}) | "
            f"{_fmt(cov['lf_thickness_mm'], 1)} | {_fmt(cov['canal_area_mm2'], 1)} |")
    return "\n".join(lines) + "\n"


def evaluate(model: str | None, out: str | Path, *, cases: str | None = None, n_slices: int = 200,
             seed: int = 10_000, device: str = "cpu", torch_threads: int | None = None) -> dict:
    """Metrics of a model against ground truth, written under ``out``; returns the summary.

    ``torch_threads``: when given, torch's intra-op thread count for the run.
    """
    from ..segment.inference import load_segmenter

    if torch_threads is not None:
        import torch

        torch.set_num_threads(torch_threads)

    outp = Path(out)
    outp.mkdir(parents=True, exist_ok=True)
    seg = load_segmenter(model, device=device)
    thresholds = Thresholds()
    t0 = time.perf_counter()
    sets = _case_rows(seg, Path(cases)) if cases else _synthetic_rows(seg, int(n_slices), seed)
    summary: dict[str, Any] = {
        "model": {"name": seg.name, "version": seg.version, "sha256": seg.sha256},
        "thresholds": thresholds.to_dict(),
        "source": f"cases under --cases ({sum(len(v) for v in sets.values())} slices)" if cases else
        f"synthetic held-out, seed {seed}, realistic T2, spacing 0.3-0.9 mm; shifts: {', '.join(SHIFTS)}",
        "sets": {name: summarise(rows, thresholds) for name, rows in sets.items()},
    }
    main_name = "cases" if cases else "held_out"
    main = sets[main_name]
    summary["by_spacing"] = {}
    for lo, hi in SPACING_BINS:
        sub = [r for r in main if lo <= r["spacing_mm"] < hi]
        if sub:
            summary["by_spacing"][f"{lo:.1f}-{hi:.1f} mm"] = summarise(sub, thresholds)
    if not cases:
        summary["by_contrast"] = {name: summary["sets"][name] for name in ("held_out", "t1like", "snr_half")}
        summary["by_contrast"] = {("t2" if k == "held_out" else k): v for k, v in summary["by_contrast"].items()}
        summary["by_stenosis_truth"] = {
            "area ≤ 100 mm²": summarise([r for r in main if (r["true_canal_area_mm2"] or 1e9) <= 100], thresholds),
            "area > 100 mm²": summarise([r for r in main if (r["true_canal_area_mm2"] or 1e9) > 100], thresholds),
        }
        ref = [{**r, **{f"pred_{k[4:]}": r[k] for k in r if k.startswith("ref_")}} for r in main]
        s_ref = summarise(ref, thresholds)
        summary["measurement_reference"] = {
            "what": "measure_slice on the exact true coverage (no model): the measurement method's own error",
            "canal_area_mm2": s_ref["canal_area_mm2"], "lf_thickness_mm": s_ref["lf_thickness_mm"],
        }
    summary["wall_time_s"] = round(time.perf_counter() - t0, 1)
    (outp / "metrics.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    (outp / "metrics.md").write_text(markdown_table(summary))
    all_rows = [r for rows in sets.values() for r in rows]
    keys = sorted({k for r in all_rows for k in r})
    with open(outp / "slices.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(all_rows)
    bland_altman_png(main, outp / "bland_altman.png", f"{seg.name} {seg.version}: {main_name} ({len(main)} slices)")
    return summary
