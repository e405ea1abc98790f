"""Make the reference dural-sac outlines on the real shared volumes (issue 18, section 5).

    PYTHONPATH=. python benchmarks/real_refs/make_refs.py            # masks, overlays, summary
    PYTHONPATH=. python benchmarks/real_refs/make_refs.py --only sct:12,tptbox:7

For every slice in ``seeds.json`` the sac is region-grown from the hand-placed
seed (:mod:`benchmarks.real_refs.grow`), the outline is drawn on the enlarged
slice (``overlays/<volume>_k<k>.png``) for the visual check, and the area is
recomputed with both thresholds moved by ±10 % (the uncertainty). For tptbox
the outline is also compared with its automatic label 60 + 61.

Writes ``refs_<volume>.npz`` (slice index, pixel spacing, seed, display-frame
mask per slice; the images themselves are never copied) and
``refs_summary.json`` (per slice: area, ±10 % areas, verdict, tptbox Dice).
The verdicts come from ``seeds.json``: they are the engineer's visual check.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from benchmarks.real_refs import grow as _grow  # noqa: E402
from benchmarks.real_refs import volumes as _vol  # noqa: E402
from mri_measure.segment.orientation import canonical_transform  # noqa: E402

SEEDS = HERE / "seeds.json"
OVERLAYS = HERE / "overlays"


def entries() -> list[dict]:
    """The seeds.json slices with their volume defaults merged into ``params``."""
    doc = json.loads(SEEDS.read_text())
    out = []
    for e in doc["slices"]:
        params = dict(doc["defaults"][e["volume"]])
        params.update(e.get("params", {}))
        out.append({**e, "params": params, "verdict": e.get("verdict", "unchecked")})
    return out


def display_slice(vol: _vol.Volume, k: int, arr: np.ndarray | None = None) -> np.ndarray:
    return canonical_transform(vol.orientation).apply(vol.axial(k, arr))


def display_spacing(vol: _vol.Volume) -> tuple[float, float]:
    return canonical_transform(vol.orientation).spacing(vol.pixel_spacing_mm)


def make_one(e: dict) -> dict:
    vol = _vol.load(e["volume"])
    im = display_slice(vol, e["k"])
    sp = display_spacing(vol)
    params = _grow.GrowParams.from_json(e["params"])
    seed = (int(e["seed_rc"][0]), int(e["seed_rc"][1]))
    mask = _grow.grow(im, seed, sp, params)
    px = sp[0] * sp[1]
    lo = _grow.grow(im, seed, sp, params, scale=1.1)   # thresholds +10 %: smaller
    hi = _grow.grow(im, seed, sp, params, scale=0.9)   # thresholds −10 %: larger
    rec = {"volume": e["volume"], "k": e["k"], "seed_rc": list(seed), "params": e["params"],
           "verdict": e["verdict"], "area_mm2": float(mask.sum() * px),
           "area_thr_plus10_mm2": float(lo.sum() * px), "area_thr_minus10_mm2": float(hi.sum() * px)}
    rec["area_uncertainty_mm2"] = 0.5 * abs(rec["area_thr_minus10_mm2"] - rec["area_thr_plus10_mm2"])
    label = None
    if vol.labels is not None:
        label = display_slice(vol, e["k"], vol.labels)
        label = np.isin(label, _vol.TPTBOX_SAC)
        rec["label_area_mm2"] = float(label.sum() * px)
        rec["dice_vs_label"] = _grow.dice(mask, label)
    overlay(OVERLAYS / f"{e['volume']}_k{e['k']:02d}.png", im, mask, seed, sp, rec, label, (lo, hi))
    return {"rec": rec, "mask": mask}


def overlay(path: Path, im, mask, seed, sp, rec, label, band) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    half = int(round(22 / sp[0]))
    r0, r1 = max(0, seed[0] - half), min(im.shape[0], seed[0] + half)
    c0, c1 = max(0, seed[1] - half), min(im.shape[1], seed[1] + half)
    crop = im[r0:r1, c0:c1]
    fig, axes = plt.subplots(1, 2, figsize=(8, 4.4))
    for ax, draw in zip(axes, (False, True)):
        ax.imshow(crop, cmap="gray", vmax=float(np.percentile(crop, 99.5)), interpolation="nearest",
                  extent=(c0 - 0.5, c1 - 0.5, r1 - 0.5, r0 - 0.5))
        ax.set_xticks(range(c0, c1, 5))
        ax.set_yticks(range(r0, r1, 5))
        ax.tick_params(labelsize=6)
        if draw:
            yy, xx = np.arange(r0, r1), np.arange(c0, c1)
            for m, colour, lw in ((band[0], "yellow", 0.6), (band[1], "yellow", 0.6), (mask, "red", 1.4)):
                if m[r0:r1, c0:c1].any():
                    ax.contour(xx, yy, m[r0:r1, c0:c1].astype(float), [0.5], colors=colour, linewidths=lw)
            if label is not None and label[r0:r1, c0:c1].any():
                ax.contour(xx, yy, label[r0:r1, c0:c1].astype(float), [0.5], colors="deepskyblue",
                           linewidths=0.9, linestyles="dashed")
            ax.plot(seed[1], seed[0], "+", color="lime", ms=8)
    title = (f"{rec['volume']} k={rec['k']}: ref {rec['area_mm2']:.0f} mm² (±10 % thr: "
             f"{rec['area_thr_plus10_mm2']:.0f}–{rec['area_thr_minus10_mm2']:.0f})")
    if "dice_vs_label" in rec:
        title += f", label 60+61 {rec['label_area_mm2']:.0f} mm², Dice {rec['dice_vs_label']:.2f}"
    fig.suptitle(title + "\nred: reference, yellow: thresholds ±10 %, blue dashed: tptbox label, "
                 "green +: seed; rows anterior→posterior, cols patient right→left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save(results: list[dict]) -> None:
    for name in sorted({r["rec"]["volume"] for r in results}):
        rs = [r for r in results if r["rec"]["volume"] == name]
        vol = _vol.load(name)
        np.savez_compressed(
            HERE / f"refs_{name}.npz",
            k=np.array([r["rec"]["k"] for r in rs], np.int16),
            spacing_mm=np.array(display_spacing(vol), np.float64),
            seed_rc=np.array([r["rec"]["seed_rc"] for r in rs], np.int16),
            accepted=np.array([r["rec"]["verdict"].startswith("accepted") for r in rs]),
            masks=np.packbits(np.stack([r["mask"] for r in rs]), axis=-1),
            shape=np.array(rs[0]["mask"].shape, np.int16),
        )
    recs = [r["rec"] for r in results]
    summary = {"about": "reference dural-sac outlines, region-grown from hand-placed seeds (make_refs.py)",
               "slices": recs}
    for name in sorted({r["volume"] for r in recs}):
        acc = [r for r in recs if r["volume"] == name and r["verdict"].startswith("accepted")]
        s = {"n_slices": len([r for r in recs if r["volume"] == name]), "n_accepted": len(acc)}
        if acc:
            s["median_area_mm2"] = float(np.median([r["area_mm2"] for r in acc]))
            s["median_uncertainty_mm2"] = float(np.median([r["area_uncertainty_mm2"] for r in acc]))
            s["median_uncertainty_pct"] = float(np.median([100 * r["area_uncertainty_mm2"] / r["area_mm2"]
                                                           for r in acc]))
        if acc and "dice_vs_label" in acc[0]:
            s["mean_dice_vs_label"] = float(np.mean([r["dice_vs_label"] for r in acc]))
            s["median_area_minus_label_mm2"] = float(np.median([r["area_mm2"] - r["label_area_mm2"] for r in acc]))
        summary[name] = s
    (HERE / "refs_summary.json").write_text(json.dumps(summary, indent=1) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="volume:k,volume:k — redraw these overlays only (nothing is saved)")
    args = ap.parse_args()
    if not _vol.available():
        print("the real volumes (../shared/data/sct_t2_upper, tptbox_cervical_t2) are absent")
        return 2
    todo = entries()
    if args.only:
        want = {(s.split(":")[0], int(s.split(":")[1])) for s in args.only.split(",")}
        todo = [e for e in todo if (e["volume"], e["k"]) in want]
    results = [make_one(e) for e in todo]
    for r in results:
        rec = r["rec"]
        extra = f"  Dice vs label {rec['dice_vs_label']:.3f}" if "dice_vs_label" in rec else ""
        print(f"{rec['volume']:6s} k={rec['k']:2d} area {rec['area_mm2']:6.1f} ± {rec['area_uncertainty_mm2']:5.1f} mm²"
              f"{extra}  {rec['verdict']}")
    if not args.only:
        save(results)
        print(f"wrote refs_*.npz, refs_summary.json and {len(results)} overlays")
    return 0


if __name__ == "__main__":
    sys.exit(main())
