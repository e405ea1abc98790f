"""Side-by-side figures: synthetic phantom slices next to real T2 MRI.

    python -m mri_measure.synth.figures --data ../shared/data --out docs

Writes ``synth_vs_real_axial.png`` (synthetic axial T2 at each lumbar disc vs
real axial T2 slices of ``sct_t2_upper``, same mm scale) and
``synth_vs_real_sagittal.png`` (synthetic mid-sagittal T2 vs real SPIDER
mid-sagittal slices).  The real data are read from ``--data`` and never copied.
Not imported by the package (matplotlib and SimpleITK load lazily here).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..levels.names import LUMBAR_LEVELS as LEVELS


def _synthetic_axials(seed: int, stenosis: str):
    from . import render as R
    from .phantom import make_phantom
    from .planes import disc_plane, plane_tissues, slice_truth

    ph = make_phantom(seed, stenosis=stenosis)
    rng = np.random.default_rng(seed)
    out = []
    for lev in LEVELS:
        p = disc_plane(ph, lev, spacing_mm=(0.5, 0.5), shape=(200, 160), centre_on="canal",
                       shift_mm=(-5.0, 0.0))
        tis = plane_tissues(ph, p, (-1.3, 0.0, 1.3))
        j = ph.level_index(lev)
        table = R.tissue_intensities("t2", None, nucleus_signal=float(ph.nucleus_signal[j]))
        img = R.render(tis, table, rng, blur_px=0.5, noise_sigma=20.0,
                       bias=R.bias_field(p.shape, rng, strength=0.1, posterior_gain=0.2))
        out.append((lev, img, slice_truth(ph, p, tis[1]), p))
    return out


def _real_axials(data: Path):
    import SimpleITK as sitk

    vol = sitk.GetArrayFromImage(sitk.ReadImage(str(data / "sct_t2_upper" / "t2_thoracic_upper.nii.gz")))
    out = []
    for k in (15, 40, 65, 88):
        # rows run posterior -> anterior, columns towards patient right: keep the
        # spine (rows 20-150), put anterior up and patient right on the image left
        sl = vol[k, 20:150].astype(np.float32)[::-1, ::-1]
        out.append((f"real T2 (T10-T12) z={k}", sl))
    return out


def axial_figure(data: Path, out_png: Path, seed: int = 1, stenosis: str = "moderate") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    syn = _synthetic_axials(seed, stenosis)
    real = _real_axials(data) if (data / "sct_t2_upper").is_dir() else []
    fig, axes = plt.subplots(2, 5, figsize=(16, 8.6), gridspec_kw={"height_ratios": [1, 1]})
    for ax, (lev, img, tr, p) in zip(axes[0], syn):
        h, w = img.shape
        ext = (0, w * p.spacing_mm[1], h * p.spacing_mm[0], 0)
        ax.imshow(img, cmap="gray", vmin=0, vmax=np.percentile(img, 99.5), extent=ext)
        xs, ys = np.linspace(0, ext[1], w), np.linspace(0, ext[2], h)
        for lab, colour in ((1, "#ff4040"), (2, "#40c0ff"), (3, "#ffd040")):
            if (tr.labels == lab).any():
                ax.contour(xs, ys, (tr.labels == lab).astype(float), levels=[0.5], colors=[colour], linewidths=0.6)
        ax.set_title(f"synthetic {lev}\ncanal {tr.canal_area_mm2:.0f} mm², LF L {tr.lf_thickness_left_mm or 0:.1f}"
                     f" / R {tr.lf_thickness_right_mm or 0:.1f} mm", fontsize=9)
    for ax, item in zip(axes[1], real + [None] * (5 - len(real))):
        if item is None:
            ax.axis("off")
            continue
        name, img = item
        h, w = img.shape
        ax.imshow(img, cmap="gray", vmin=0, vmax=np.percentile(img, 99.5), extent=(0, w, h, 0))
        ax.set_xlim(w / 2 - 40, w / 2 + 40)
        ax.set_ylim(h, 0)
        ax.set_title(name, fontsize=9)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1, -1].axis("off")
    axes[1, -1].text(0.0, 0.5, "Top: synthetic axial T2 (realistic rendering)\nat each disc, 0.5 mm pixels,\n"
                     "outlines: dural sac (red), LF left (blue),\nLF right (yellow).\n"
                     "Bottom: real 3-D T2 (SCT tutorial data,\nthoracic T10-T12, 1 mm, cropped\n"
                     "38 mm wide by the acquisition).\nSame mm scale; anterior up,\npatient right on the image left.",
                     fontsize=9, va="center")
    fig.tight_layout()
    fig.savefig(out_png, dpi=80)
    plt.close(fig)


def sagittal_figure(data: Path, out_png: Path, seed: int = 1, stenosis: str = "moderate") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import render as R
    from .phantom import make_phantom
    from .planes import Plane, plane_tissues

    ph = make_phantom(seed, stenosis=stenosis)
    rng = np.random.default_rng(seed)
    j_top = min(ph.knobs["n_lumbar"], ph.n_discs - 1)
    c_top, _, _ = ph.centre_line(ph.disc_s[j_top] + 15)
    c_bot, _, _ = ph.centre_line(ph.disc_s[0] - 95.0)
    centre = (c_top + c_bot) / 2 + np.array([0.0, 25.0, 0.0])
    p = Plane(centre, np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, -1.0]), (0.7, 0.7), (460, 360))
    tis = plane_tissues(ph, p, (-1.3, 0.0, 1.3))
    img = R.render(tis, R.tissue_intensities("t2", None, nucleus_signal=0.8), rng, noise_sigma=20.0,
                   bias=R.bias_field(p.shape, rng, strength=0.1, posterior_gain=0.25, col_dir_posterior=(0.0, 1.0)))
    files = sorted((data / "spider_sagittal" / "images").glob("*.png")) if (data / "spider_sagittal").is_dir() else []
    fig, axes = plt.subplots(1, 4, figsize=(16, 6.6))
    axes[0].imshow(img, cmap="gray", vmin=0, vmax=np.percentile(img, 99.5))
    axes[0].set_title(f"synthetic mid-sagittal T2 (seed {seed}, {stenosis} stenosis, 0.7 mm)", fontsize=9)
    for ax, f in zip(axes[1:], files[:3]):
        im = plt.imread(f)
        im = im[..., 0] if im.ndim == 3 else im
        ax.imshow(im, cmap="gray")
        ax.set_title("real SPIDER T2 (CC BY 4.0), spacing unknown", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out_png, dpi=80)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--out", default="docs")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    axial_figure(Path(args.data), out / "synth_vs_real_axial.png", seed=args.seed)
    sagittal_figure(Path(args.data), out / "synth_vs_real_sagittal.png", seed=args.seed)


if __name__ == "__main__":
    main()
