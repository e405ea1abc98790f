"""Example slices of the cross-generator phantom with truth outlines.

    python benchmarks/crossgen/figure.py [--out docs/crossgen_examples.png]

Top row: whole slices; bottom row: the canal region of the same slices,
with the truth outlines (cyan dural sac, red LF patient-left — shown on the
image's right, the standard axial display — yellow LF patient-right).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from crossgen.phantom import render_level  # noqa: E402

CASES = (("L1-L2", 0.8, 11), ("L2-L3", 0.6, 12), ("L3-L4", 0.45, 13), ("L4-L5", 0.6, 14),
         ("L4-L5", 0.8, 15), ("L5-S1", 0.45, 16), ("L3-L4", 0.6, 17), ("L5-S1", 0.8, 18))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "docs" / "crossgen_examples.png")
    a = ap.parse_args(argv)
    fig, ax = plt.subplots(2, len(CASES), figsize=(3.0 * len(CASES), 6.4))
    for i, (level, sp, seed) in enumerate(CASES):
        case = render_level(level, sp, seed, n_slices=3)
        s = case.slices[1]
        img, lab = s.image.astype(float), s.labels
        rr, cc = np.nonzero(lab)
        r_c, c_c = rr.mean(), cc.mean()
        half = int(28 / sp)
        r0, c0 = int(max(r_c - half, 0)), int(max(c_c - half, 0))
        crop = (slice(r0, r0 + 2 * half), slice(c0, c0 + 2 * half))
        for row, (im, lb) in enumerate(((img, lab), (img[crop], lab[crop]))):
            axi = ax[row, i]
            axi.imshow(im, cmap="gray", vmin=0, vmax=np.quantile(im, 0.995), interpolation="nearest" if row else "antialiased")
            if row == 1:
                for k, col in ((1, "cyan"), (2, "red"), (3, "yellow")):
                    if (lb == k).any():
                        axi.contour(lb == k, [0.5], colors=col, linewidths=0.8)
            axi.set_xticks([])
            axi.set_yticks([])
        ax[0, i].set_title(f"{level}  {sp} mm  tilt {case.acq.tilt_deg:+.0f}°  SNR {case.acq.snr:.0f}", fontsize=8)
        ax[1, i].set_title(f"sac {s.canal_area_mm2:.0f} mm²  LF L {s.lf_left_mm:.1f} / R {s.lf_right_mm:.1f} mm",
                           fontsize=8)
    fig.suptitle("benchmarks/crossgen: independent phantom (truth: cyan sac, red LF patient-left, yellow LF patient-right)",
                 fontsize=10)
    fig.tight_layout()
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
