"""Canal search (issue 18 §3): on how many real axial slices is a dural sac found, and
at what cost, with the candidate search (up to 3 localiser candidates, neighbour
fallback, re-centring) against the single-candidate inference of before.

    python benchmarks/bench_canal_search.py

Real data: ``../shared/data/sct_t2_upper`` (3-D T2, thoracic T10–T12, 1 mm; every
axial slice shows the sac) and ``../shared/data/tptbox_cervical_t2`` (C5–C7, 1.5 mm,
canal + cord labels: Dice against them). A sac counts as found when its
probability area exceeds 30 mm². Speed: synthetic 256² / 512² stacks of 16 slices
(bench_segment.py's cases), best of 3, both modes. Skips what is absent.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch

from mri_measure.segment import load_segmenter
from mri_measure.synth import sample_axial_2d

ROOT = Path(__file__).resolve().parents[1]
#: ../shared/data beside the checkout (a worktree under /work/wt/ looks one level higher)
SHARED = next((p for p in (ROOT.parent / "shared" / "data", ROOT.parents[1] / "shared" / "data")
               if p.is_dir()), ROOT.parent / "shared" / "data")


def _sct():
    import SimpleITK as sitk

    img = sitk.ReadImage(str(SHARED / "sct_t2_upper" / "t2_thoracic_upper.nii.gz"))
    vol = sitk.GetArrayFromImage(img).astype(np.float32)
    d = np.asarray(img.GetDirection()).reshape(3, 3)
    return vol, (img.GetSpacing()[1], img.GetSpacing()[0]), tuple(d[:, 0]) + tuple(d[:, 1]), None


def _tptbox():
    import SimpleITK as sitk

    base = SHARED / "tptbox_cervical_t2"
    img = sitk.ReadImage(str(base / "sub-mri_label-6_T2w.nii.gz"))
    seg = sitk.ReadImage(str(base / "sub-mri_seg-subreg_label-6_msk.nii.gz"))
    a = np.transpose(sitk.GetArrayFromImage(img), (2, 1, 0)).astype(np.float32)  # (P, I, R)
    s = np.transpose(sitk.GetArrayFromImage(seg), (2, 1, 0))
    vol = np.ascontiguousarray(np.moveaxis(a, 1, 0))  # (I, P, R): axial slices (rows P, cols R)
    lab = np.isin(np.moveaxis(s, 1, 0), (60, 61))
    # rows run posterior (+y), columns to the patient's right (-x)
    return vol, (1.5, 1.5), (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0), lab


class _CropCounter:
    """Counts the fine crops the segmenter runs (load-independent cost)."""

    def __init__(self, seg) -> None:
        self.seg, self.n, self._orig = seg, 0, seg._fine

    def __enter__(self):
        def fine(canon, sp, todo):
            self.n += len(todo)
            return self._orig(canon, sp, todo)

        self.seg._fine = fine
        return self

    def __exit__(self, *exc) -> None:
        del self.seg._fine  # back to the class's method


def _found(seg, vol, sp, iop, truth):
    with _CropCounter(seg) as crops:
        p = np.concatenate([seg.predict(vol[i:i + 16], sp, iop) for i in range(0, len(vol), 16)])
    area = p[:, 1].sum(axis=(1, 2)) * sp[0] * sp[1]
    keep = np.ones(len(vol), bool) if truth is None else truth.sum(axis=(1, 2)) > 20
    found = (area > 30.0) & keep
    out = (f"sac found on {int(found.sum())} of {int(keep.sum())} slices; "
           f"{crops.n / len(vol):.2f} fine crops per slice")
    if truth is not None:
        pred = p.argmax(1) == 1
        dices = [2 * (pred[k] & truth[k]).sum() / (pred[k].sum() + truth[k].sum()) for k in np.flatnonzero(keep)]
        out += f", mean Dice {np.mean(dices):.3f} vs the canal+cord labels"
    return out


def main() -> None:
    torch.set_num_threads(2)
    seg = load_segmenter()
    print(f"model {seg.name} {seg.version}; load average {os.getloadavg()[0]:.1f}")
    for name, load in (("sct_t2_upper", _sct), ("tptbox_cervical_t2", _tptbox)):
        try:
            vol, sp, iop, truth = load()
        except (RuntimeError, OSError, ImportError) as exc:
            print(f"{name}: skipped ({exc.__class__.__name__}: not under {SHARED})")
            continue
        for search in (False, True):
            seg.search = search
            print(f"{name}, {'search' if search else 'single candidate'}: {_found(seg, vol, sp, iop, truth)}")
    for size, spc in ((256, 0.7), (512, 0.35)):
        s = sample_axial_2d(np.random.default_rng(size), randomise=False, spacing_mm=spc, size_px=size)
        stack = np.stack([s.image] * 16)
        for search in (False, True):
            seg.search = search
            seg.predict(stack[:2], s.spacing_mm, s.orientation)
            with _CropCounter(seg) as crops:
                best = min(_timed(seg, stack, s) for _ in range(3))
            print(f"{size}x{size} @ {spc} mm, batch 16, {'search' if search else 'single'}: "
                  f"{1000 * best / 16:.1f} ms/slice, {crops.n / 48:.2f} fine crops per slice")
    seg.search = True
    print(f"load average after {os.getloadavg()[0]:.1f}")


def _timed(seg, stack, s) -> float:
    t = time.perf_counter()
    seg.predict(stack, s.spacing_mm, s.orientation)
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
