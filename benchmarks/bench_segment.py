"""Segmentation speed benchmark, and the qualitative overlay on real slices.

    python benchmarks/bench_segment.py                 # speed: ms per axial slice, batched
    python benchmarks/bench_segment.py --overlay       # also docs/model_overlay_thoracic_quick.png
    python benchmarks/bench_segment.py --loader        # also: data worker vs main-loop generation

Speed: the shipped model predicts a stack of realistic synthetic slices (as a
LoadedStack would hold them: one spacing and orientation per stack) at
typical matrices; the time covers everything ``predict`` does (orientation,
resampling, both networks, resampling back), after one warm-up call.

Overlay: real 3-D T2 (``../shared/data/sct_t2_upper``, thoracic T10–T12,
1 mm isotropic, read with SimpleITK); axial slices are fed with their
ImageOrientationPatient from the NIfTI direction (LPS). Thoracic levels: the
dural sac (with the cord inside) is expected, the lumbar LF is not.

Run from the repository root with the project's environment (the editable
install, or ``PYTHONPATH=.``) so that the checkout's ``mri_measure`` is measured.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from mri_measure.segment import load_segmenter
from mri_measure.synth import sample_axial_2d

ROOT = Path(__file__).resolve().parents[1]

REAL = ROOT.parent / "shared" / "data" / "sct_t2_upper" / "t2_thoracic_upper.nii.gz"


def bench_speed(threads: int, n: int = 16, repeats: int = 3) -> list[tuple[str, float, float]]:
    """(case, best wall ms/slice, CPU ms/slice of that run) per matrix size."""
    # the engine's threads are fixed when its sessions are made: a fresh segmenter per setting
    os.environ["MRI_MEASURE_THREADS"] = str(threads)
    torch.set_num_threads(threads)  # the torch backend (MRI_MEASURE_BACKEND=torch)
    from mri_measure.segment.inference import clear_cache

    clear_cache()
    seg = load_segmenter()
    out = []
    for size, sp in ((256, 0.7), (512, 0.35)):
        rng = np.random.default_rng(size)
        s = sample_axial_2d(rng, randomise=False, spacing_mm=sp, size_px=size)
        stack = np.stack([s.image] * n)
        seg.predict(stack[:2], s.spacing_mm, s.orientation)  # warm-up
        best, cpu = np.inf, np.inf
        for _ in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            seg.predict(stack, s.spacing_mm, s.orientation)
            wall = time.perf_counter() - t
            if wall < best:
                best, cpu = wall, time.process_time() - c
        out.append((f"{size}x{size} @ {sp} mm, batch {n}, {threads} thread(s)", 1000 * best / n, 1000 * cpu / n))
    return out


def bench_loader(steps: int = 24) -> None:
    """Training speed with sample generation in 1 DataLoader worker vs in the main loop."""
    import tempfile

    from mri_measure.training.train import train

    for nw in (1, 0, 1, 0):
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            train(d, seed=123, steps=steps, config={"num_workers": nw, "log_every": 1000, "checkpoint_every": 1000})
            print(f"training, num_workers={nw}: {(time.perf_counter() - t) / steps:.2f} s/step (batch 12, "
                  f"incl. start-up), load {os.getloadavg()[0]:.1f}", flush=True)


def overlay(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import SimpleITK as sitk

    from mri_measure.segment.orientation import canonical_transform

    img = sitk.ReadImage(str(REAL))
    vol = sitk.GetArrayFromImage(img).astype(np.float32)  # (z, y, x)
    d = np.asarray(img.GetDirection()).reshape(3, 3)
    iop = tuple(d[:, 0]) + tuple(d[:, 1])  # row direction = axis 0 (x index), column = axis 1
    sp = (img.GetSpacing()[1], img.GetSpacing()[0])
    seg = load_segmenter()
    ks = np.linspace(8, vol.shape[0] - 8, 4).astype(int)
    probs = seg.predict(vol[ks], sp, iop)
    t = canonical_transform(iop)
    fig, axes = plt.subplots(1, len(ks), figsize=(3.2 * len(ks), 4.6))
    for ax, k, p in zip(axes, ks, probs):
        im, pc = t.apply(vol[k]), t.apply(p)
        lab = pc.argmax(0)
        rows = np.nonzero(lab.any(1))[0]
        mid = int(rows.mean()) if rows.size else im.shape[0] // 2
        r0, r1 = max(0, mid - 45), min(im.shape[0], mid + 45)
        ax.imshow(im[r0:r1], cmap="gray", extent=(0, im.shape[1] * sp[1], (r1 - r0) * sp[0], 0))
        yy, xx = (np.arange(r1 - r0) + 0.5) * sp[0], (np.arange(im.shape[1]) + 0.5) * sp[1]
        for c, colour in ((1, "yellow"), (2, "cyan"), (3, "magenta")):
            if pc[c, r0:r1].max() > 0.5:
                ax.contour(xx, yy, pc[c, r0:r1], levels=[0.5], colors=colour, linewidths=1.2)
        area = float(pc[1].sum() * sp[0] * sp[1])
        ax.set_title(f"slice {k}: sac p-area {area:.0f} mm²", fontsize=9)
        ax.set_xlabel("patient right → left (mm)")
    axes[0].set_ylabel("anterior → posterior (mm)")
    fig.suptitle("lumbar-axial-unet on real 3-D T2 (SCT tutorial, thoracic T10–T12, 1 mm): "
                 "yellow dural sac, cyan LF-left, magenta LF-right (p = 0.5)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    area = seg.predict(vol, sp, iop)[:, 1].sum(axis=(1, 2)) * sp[0] * sp[1]
    print(f"real volume: dural sac found (probability area > 30 mm²) on {int((area > 30).sum())} of "
          f"{len(area)} axial slices; median area {float(np.median(area)):.0f} mm²")
    print(f"wrote {path.name}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--overlay", action="store_true", help="also write docs/model_overlay_thoracic_quick.png (the scored overlay is bench_real.py's)")
    ap.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    ap.add_argument("--loader", action="store_true", help="also compare 1 data worker vs main-loop generation")
    args = ap.parse_args()
    seg = load_segmenter()
    print(f"model {seg.name} {seg.version} sha256 {seg.sha256[:16]}")
    load = os.getloadavg()[0]
    print(f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"backend {load_segmenter().backend} (torch {torch.__version__}), load average {load:.1f}")
    for th in args.threads:
        for name, ms, cpu in bench_speed(th):
            print(f"{name}: wall {ms:.1f} ms/slice, CPU {cpu:.1f} ms/slice")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    if args.loader:
        bench_loader()
    if args.overlay:
        if REAL.is_file():
            overlay(ROOT / "docs" / "model_overlay_thoracic_quick.png")
        else:
            print("real data not found (../shared/data/sct_t2_upper); overlay skipped")


if __name__ == "__main__":
    main()
