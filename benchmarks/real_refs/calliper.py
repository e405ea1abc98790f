"""Manual ligamentum-flavum calliper on real slices (issue 18): the endpoints were
placed by eye on enlarged slices; this script turns them into thicknesses (mm,
from the pixel spacing) and draws each line (``calliper/sct_k<k>.png``).

    PYTHONPATH=. python benchmarks/real_refs/calliper.py

Endpoints are (row, col) in the display frame (rows anterior → posterior,
columns patient right → left), sub-pixel; the line is drawn perpendicular to
the ligament at its thickest point.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from benchmarks.real_refs import volumes as _vol  # noqa: E402
from benchmarks.real_refs.make_refs import display_slice, display_spacing  # noqa: E402

CALLIPER = HERE / "calliper.json"


def thickness_mm(p0, p1, spacing_mm) -> float:
    d = (np.asarray(p1, float) - np.asarray(p0, float)) * np.asarray(spacing_mm, float)
    return float(np.hypot(*d))


def measurements() -> list[dict]:
    """Every calliper measurement: volume, k, side ("left"/"right" = patient), endpoints, thickness_mm."""
    doc = json.loads(CALLIPER.read_text())
    out = []
    for e in doc["measurements"]:
        sp = display_spacing(_vol.load(e["volume"])) if _vol.available() else tuple(doc["spacing_mm"][e["volume"]])
        for side in ("left", "right"):
            if side in e:
                p0, p1 = e[side]
                out.append({"volume": e["volume"], "k": e["k"], "side": side, "p0_rc": p0, "p1_rc": p1,
                            "thickness_mm": thickness_mm(p0, p1, sp)})
    return out


def draw() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ms = measurements()
    for vol_name, k in sorted({(m["volume"], m["k"]) for m in ms}):
        vol = _vol.load(vol_name)
        im = display_slice(vol, k)
        these = [m for m in ms if m["volume"] == vol_name and m["k"] == k]
        rc = np.mean([m["p0_rc"] for m in these], axis=0)
        r0, r1 = int(max(0, rc[0] - 14)), int(min(im.shape[0], rc[0] + 10))
        crop = im[r0:r1]
        fig, axes = plt.subplots(1, 2, figsize=(8, 3.2))
        for ax, lines in zip(axes, (False, True)):
            ax.imshow(crop, cmap="gray", interpolation="nearest", vmax=float(np.percentile(crop, 99.5)),
                      extent=(-0.5, im.shape[1] - 0.5, r1 - 0.5, r0 - 0.5))
            ax.set_xticks(range(0, im.shape[1], 2))
            ax.set_yticks(range(r0, r1, 2))
            ax.tick_params(labelsize=5)
            if lines:
                for m in these:
                    (a, b), (c, d) = m["p0_rc"], m["p1_rc"]
                    ax.plot([b, d], [a, c], "-", color="lime", lw=1.4)
                    ax.text(d, c + 1.5, f"{m['side'][0].upper()} {m['thickness_mm']:.1f}", color="lime", fontsize=7)
        fig.suptitle(f"{vol_name} k={k}: LF calliper (green; L/R = patient side, mm); rows anterior→posterior, "
                     "cols patient right→left", fontsize=8)
        fig.tight_layout()
        (HERE / "calliper").mkdir(exist_ok=True)
        fig.savefig(HERE / "calliper" / f"{vol_name}_k{k:02d}.png", dpi=120)
        plt.close(fig)
    for m in ms:
        print(f"{m['volume']} k={m['k']:2d} {m['side']:5s} {m['thickness_mm']:.2f} mm")


if __name__ == "__main__":
    draw()
