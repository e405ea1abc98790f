"""``docs/synthseg_samples.png``: SynthSeg-style training slices next to real axial T2.

    python benchmarks/synthseg_figure.py [--data ../shared/data]

Top rows: 12 seeded ``sample_synthseg`` slices in the canonical display (truth
outlines: red sac, cyan LF-left, yellow LF-right). Bottom row: real axial
slices of ``sct_t2_upper`` (1 mm, thoracic) and ``tptbox_cervical_t2`` (1.5 mm),
when the shared data is present.
"""

import argparse
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from mri_measure.segment.orientation import canonical_transform  # noqa: E402
from mri_measure.synth.randomise import sample_synthseg  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "synthseg_samples.png"))
    args = ap.parse_args()
    fig, axs = plt.subplots(3, 6, figsize=(15, 8))
    for i, ax in enumerate(axs[:2].ravel()):
        s = sample_synthseg(np.random.default_rng(100 + i))
        t = canonical_transform(s.orientation)
        im, lab = t.apply(s.image), t.apply(s.labels)
        ax.imshow(im, cmap="gray", vmin=np.percentile(im, 1), vmax=np.percentile(im, 99.5))
        for c, col in ((1, "r"), (2, "c"), (3, "y")):
            if (lab == c).any():
                ax.contour(lab == c, [0.5], colors=col, linewidths=0.6)
        ax.set_title(f"{s.contrast[9:]} {s.level} {s.spacing_mm[0]:.2f} mm {s.image.shape[0]}×{s.image.shape[1]}",
                     fontsize=7)
    data = Path(args.data)
    real = []
    try:
        import SimpleITK as sitk

        a = sitk.GetArrayFromImage(sitk.ReadImage(str(data / "sct_t2_upper" / "t2_thoracic_upper.nii.gz")))
        real += [(a[k, ::-1][127:227], f"sct_t2_upper z={k}")  # anterior up, the spine's 100 mm
                 for k in (20, 50, 80)]
        b = sitk.GetArrayFromImage(sitk.ReadImage(str(data / "tptbox_cervical_t2" / "sub-mri_label-6_T2w.nii.gz")))
        real += [(b[:, k, :].T, f"tptbox k={k}") for k in (10, 26, 42)]
    except Exception:  # noqa: BLE001 - shared data absent or unreadable: synthetic panels only
        pass
    for ax, (im, title) in zip(axs[2], real):
        ax.imshow(im, cmap="gray")
        ax.set_title(f"real: {title}", fontsize=7)
    for ax in axs.ravel():
        ax.axis("off")
    fig.suptitle("SynthSeg-style training slices (top two rows) and real axial T2 (bottom; not to scale)", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out, dpi=65)
    print(f"wrote {Path(args.out).name}")


if __name__ == "__main__":
    main()
