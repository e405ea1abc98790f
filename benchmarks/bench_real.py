"""The segmenter + measure_slice on the real shared volumes against the reference
outlines and the manual LF calliper (issue 18, section 5; benchmarks/real_refs).

    PYTHONPATH=. python benchmarks/bench_real.py [--model DIR] [--json PATH] [--no-overlay]

Every axial slice of both volumes is cut as the data READMEs say and passed
with its own pixel spacing and the ImageOrientationPatient from the NIfTI
direction matrix (benchmarks/real_refs/volumes.py); the probabilities are
brought to the display frame of the references (rows anterior → posterior,
columns patient right → left) and measured with ``measure_slice`` exactly as the
pipeline does (argmax labels + probabilities).

Reports: sac found (a canal area is measured) on the reference slices and on
every slice of the volumes (the sac is visible on all of them: sct by eye,
tptbox by its label 60 + 61); Dice and area error against the accepted
references; slices where the predicted sac lies outside the true canal (its
centroid outside the reference dilated by 2 mm; on slices without a reference:
the tptbox label, or for sct the nearest reference, dilated by 3 mm); LF
thickness against the calliper. Writes the JSON and docs/model_overlay_real.png.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.real_refs import load_refs  # noqa: E402
from benchmarks.real_refs import volumes as _vol  # noqa: E402
from benchmarks.real_refs.calliper import measurements as calliper_measurements  # noqa: E402
from benchmarks.real_refs.grow import dice  # noqa: E402
from mri_measure.measure import measure_slice  # noqa: E402
from mri_measure.measure.quality import assess_slice  # noqa: E402
from mri_measure.segment import load_segmenter  # noqa: E402
from mri_measure.segment.orientation import canonical_transform  # noqa: E402


def _disk_dilate(mask: np.ndarray, mm: float, spacing) -> np.ndarray:
    return ndimage.distance_transform_edt(~mask, sampling=spacing) <= mm


def run_volume(seg, name: str) -> dict:
    vol = _vol.load(name)
    t = canonical_transform(vol.orientation)
    sp = t.spacing(vol.pixel_spacing_mm)
    images = np.stack([vol.axial(k) for k in range(vol.n_slices)])
    probs = t.apply(seg.predict(images, vol.pixel_spacing_mm, vol.orientation))  # display frame
    tta = getattr(seg, "last_tta_dice", None)  # (n, 3) mirror Dice, for the quality verdict
    shown = t.apply(images.astype(np.float32))  # the pixels in the same display frame
    refs = load_refs(name)
    ref_of = {int(k): (m, bool(a)) for k, m, a in zip(refs["k"], refs["masks"], refs["accepted"])}
    acc_ks = [k for k, (_, a) in ref_of.items() if a]
    rows = []
    for k in range(vol.n_slices):
        p = probs[k]
        labels = np.argmax(p, axis=0)
        m = measure_slice(labels, sp, probabilities=p)
        # the verdict the pipeline gives (T2 series, display frame = standard axial IOP)
        q = assess_slice(labels.astype(np.uint8), m, sp, image=shown[k], orientation=(1, 0, 0, 0, 1, 0),
                         is_t2=True, tta_dice=None if tta is None else tta[k])
        pred = labels == 1
        lab, n = ndimage.label(pred, structure=np.ones((3, 3)))
        if n:
            sizes = ndimage.sum(pred, lab, index=np.arange(1, n + 1))
            pred = lab == int(np.argmax(sizes)) + 1
        row = {"k": k, "found": m.canal_area_mm2 is not None, "area_mm2": m.canal_area_mm2,
               "lf_left_mm": m.lf_thickness_left_mm, "lf_right_mm": m.lf_thickness_right_mm,
               "is_ref": k in ref_of, "accepted_ref": k in ref_of and ref_of[k][1],
               "canal_verdict": q.canal_area_mm2.verdict, "canal_reason": q.canal_area_mm2.reason,
               "lf_left_reported": m.lf_thickness_left_mm is not None and q.lf_thickness_left_mm.ok,
               "lf_right_reported": m.lf_thickness_right_mm is not None and q.lf_thickness_right_mm.ok}
        row["reported"] = row["found"] and q.canal_area_mm2.ok
        if k in ref_of:
            truth, margin = ref_of[k][0], 2.0
        elif vol.labels is not None:
            truth, margin = t.apply(vol.sac_label(k)), 3.0
        else:
            near = min(acc_ks, key=lambda j: abs(j - k))
            truth, margin = ref_of[near][0], 3.0
        if row["found"]:
            c = ndimage.center_of_mass(pred)
            allowed = _disk_dilate(truth, margin, sp)
            row["outside_canal"] = not bool(allowed[int(round(c[0])), int(round(c[1]))])
        if row["accepted_ref"]:
            ref_area = float(truth.sum() * sp[0] * sp[1])
            row["ref_area_mm2"] = ref_area
            row["dice"] = dice(pred, truth)
            if row["found"]:
                row["area_error_mm2"] = m.canal_area_mm2 - ref_area
                row["area_error_pct"] = 100 * (m.canal_area_mm2 - ref_area) / ref_area
        row["_m"] = m
        rows.append(row)
    return {"name": name, "rows": rows, "probs": probs, "spacing": sp, "refs": ref_of, "t": t, "vol": vol}


def summarise(res: dict) -> dict:
    rows = res["rows"]
    refs = [r for r in rows if r["accepted_ref"]]
    dices = [r["dice"] for r in refs]
    err = [r["area_error_mm2"] for r in refs if "area_error_mm2" in r]
    pct = [r["area_error_pct"] for r in refs if "area_error_pct" in r]
    s = {
        "slices": len(rows),
        "found_all_slices": sum(r["found"] for r in rows),
        "reference_slices": len(refs),
        "found_reference_slices": sum(r["found"] for r in refs),
        "mean_dice": float(np.mean(dices)) if dices else None,
        "median_dice": float(np.median(dices)) if dices else None,
        "mean_area_error_mm2": float(np.mean(err)) if err else None,
        "median_area_error_mm2": float(np.median(err)) if err else None,
        "mae_area_mm2": float(np.mean(np.abs(err))) if err else None,
        "median_area_error_pct": float(np.median(pct)) if pct else None,
        "mean_abs_area_error_pct": float(np.mean(np.abs(pct))) if pct else None,
        "outside_canal_reference_slices": sum(bool(r.get("outside_canal")) for r in refs),
        "outside_canal_all_slices": sum(bool(r.get("outside_canal")) for r in rows),
        # what a user sees: values that pass the quality verdict (measure/quality.py)
        "reported_reference_slices": sum(r["reported"] for r in refs),
        "reported_all_slices": sum(r["reported"] for r in rows),
        "outside_canal_reported_all_slices": sum(bool(r.get("outside_canal")) and r["reported"] for r in rows),
        "refused_reasons": sorted({r["canal_reason"] for r in rows if r["found"] and not r["reported"]}),
    }
    s["found_fraction_reference_slices"] = s["found_reference_slices"] / max(1, s["reference_slices"])
    s["found_fraction_all_slices"] = s["found_all_slices"] / max(1, s["slices"])
    return s


def lf_agreement(results: dict[str, dict]) -> dict:
    out = []
    for c in calliper_measurements():
        row = results[c["volume"]]["rows"][c["k"]]
        tool = row[f"lf_{c['side']}_mm"]
        out.append({"volume": c["volume"], "k": c["k"], "side": c["side"], "calliper_mm": c["thickness_mm"],
                    "tool_mm": tool, "error_mm": None if tool is None else tool - c["thickness_mm"],
                    "reported": bool(row[f"lf_{c['side']}_reported"])})
    errs = [abs(o["error_mm"]) for o in out if o["error_mm"] is not None]
    rep = [abs(o["error_mm"]) for o in out if o["error_mm"] is not None and o["reported"]]
    return {"measurements": out, "n": len(out), "n_tool_missing": sum(o["tool_mm"] is None for o in out),
            "mae_mm": float(np.mean(errs)) if errs else None,
            "n_reported": len(rep), "mae_reported_mm": float(np.mean(rep)) if rep else None}


def overlay(results: dict[str, dict], path: Path, model_name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cal = calliper_measurements()
    picks = []
    for name in ("sct", "tptbox"):
        ks = [k for k, (_, a) in sorted(results[name]["refs"].items()) if a]
        picks += [(name, ks[i]) for i in np.linspace(0, len(ks) - 1, 4).astype(int)]
    fig, axes = plt.subplots(2, 4, figsize=(12, 7.2))
    for ax, (name, k) in zip(axes.ravel(), picks):
        res = results[name]
        vol, t, sp = res["vol"], res["t"], res["spacing"]
        im = t.apply(vol.axial(k))
        truth = res["refs"][k][0]
        p = res["probs"][k]
        rr, cc = np.nonzero(truth)
        half = int(round(20 / sp[0]))
        r0, r1 = max(0, int(rr.mean()) - half), min(im.shape[0], int(rr.mean()) + half)
        c0, c1 = max(0, int(cc.mean()) - half), min(im.shape[1], int(cc.mean()) + half)
        ext = (c0 - 0.5, c1 - 0.5, r1 - 0.5, r0 - 0.5)
        ax.imshow(im[r0:r1, c0:c1], cmap="gray", interpolation="nearest", extent=ext,
                  vmax=float(np.percentile(im[r0:r1, c0:c1], 99.5)))
        yy, xx = np.arange(r0, r1), np.arange(c0, c1)
        ax.contour(xx, yy, truth[r0:r1, c0:c1].astype(float), [0.5], colors="red", linewidths=1.2)
        for ch, colour in ((1, "yellow"), (2, "cyan"), (3, "magenta")):
            if p[ch, r0:r1, c0:c1].max() > 0.5:
                ax.contour(xx, yy, p[ch, r0:r1, c0:c1], [0.5], colors=colour, linewidths=1.0)
        for c in cal:
            if c["volume"] == name and c["k"] == k:
                (a, b), (e, f) = c["p0_rc"], c["p1_rc"]
                ax.plot([b, f], [a, e], color="lime", lw=1.2)
        row = res["rows"][k]
        area = "none" if row["area_mm2"] is None else f"{row['area_mm2']:.0f}"
        ax.set_title(f"{name} k={k}: ref {row['ref_area_mm2']:.0f}, model {area} mm², Dice {row['dice']:.2f}",
                     fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"{model_name} on real T2 (sct thoracic 1 mm; tptbox cervical 1.5 mm): red reference sac, yellow "
                 "model sac, cyan/magenta model LF left/right (p = 0.5),\ngreen LF calliper; "
                 "rows anterior→posterior, cols patient right→left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="segmenter bundle (default: the shipped models/lumbar-axial-unet)")
    ap.add_argument("--json", default=str(ROOT / "benchmarks" / "real_refs" / "bench_real.json"))
    ap.add_argument("--overlay", default=str(ROOT / "docs" / "model_overlay_real.png"))
    ap.add_argument("--no-overlay", action="store_true")
    args = ap.parse_args()
    if not _vol.available():
        print("the real volumes (../shared/data/sct_t2_upper, tptbox_cervical_t2) are absent")
        return 2
    try:
        seg = load_segmenter(args.model)
    except Exception as exc:  # one line, no traceback
        print(f"cannot load the model: {exc}")
        return 2
    results = {name: run_volume(seg, name) for name in ("sct", "tptbox")}
    summary = {name: summarise(r) for name, r in results.items()}
    lf = lf_agreement(results)
    print(f"model {seg.name} {seg.version} sha256 {seg.sha256[:12]}")
    head = ("volume", "found (ref)", "found (all)", "mean Dice", "median Dice", "area err median mm² (%)",
            "area MAE mm²", "outside canal (ref/all)")
    print(" | ".join(head))
    for name, s in summary.items():
        def f(v, fmt):
            return "—" if v is None else format(v, fmt)
        print(" | ".join([name,
                          f"{s['found_reference_slices']}/{s['reference_slices']} ({100 * s['found_fraction_reference_slices']:.0f} %)",
                          f"{s['found_all_slices']}/{s['slices']} ({100 * s['found_fraction_all_slices']:.0f} %)", f(s["mean_dice"], ".3f"), f(s["median_dice"], ".3f"),
                          f"{f(s['median_area_error_mm2'], '+.0f')} ({f(s['median_area_error_pct'], '+.0f')} %)",
                          f(s["mae_area_mm2"], ".0f"),
                          f"{s['outside_canal_reference_slices']}/{s['outside_canal_all_slices']}"]))
    print(f"LF vs calliper: {lf['n']} measurements, tool missing on {lf['n_tool_missing']}, "
          f"MAE {'—' if lf['mae_mm'] is None else format(lf['mae_mm'], '.2f')} mm; passing the quality verdict "
          f"{lf['n_reported']}, MAE {'—' if lf['mae_reported_mm'] is None else format(lf['mae_reported_mm'], '.2f')} mm")
    for name, s in summary.items():
        print(f"{name}: canal value reported (passes the quality verdict) on {s['reported_reference_slices']}/"
              f"{s['reference_slices']} reference slices, {s['reported_all_slices']}/{s['slices']} all slices; "
              f"reported but outside the canal: {s['outside_canal_reported_all_slices']}; "
              f"refusal reasons: {'; '.join(s['refused_reasons']) or 'none'}")
    for o in lf["measurements"]:
        tool = "none" if o["tool_mm"] is None else f"{o['tool_mm']:.2f}"
        print(f"  {o['volume']} k={o['k']:2d} {o['side']:5s} calliper {o['calliper_mm']:.2f} mm, tool {tool}"
              + ("" if o["reported"] or o["tool_mm"] is None else " (refused by the quality verdict)"))
    per_slice = {name: [{k: v for k, v in r.items() if k != "_m"} for r in res["rows"]]
                 for name, res in results.items()}
    out = {"model": {"name": seg.name, "version": seg.version, "sha256": seg.sha256},
           "summary": summary, "lf": lf, "slices": per_slice}
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {Path(args.json).name}")
    if not args.no_overlay:
        overlay(results, Path(args.overlay), f"{seg.name} {seg.version}")
        print(f"wrote {Path(args.overlay).name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
