"""Quick real-volume check of model bundles (not the issue-18 reference-outline benchmark).

    python benchmarks/quick_real_check.py [--data ../shared/data] models/lumbar-axial-unet [OTHER_BUNDLE ...]

For each bundle: on ``../shared/data/sct_t2_upper`` (no labels) the number of
axial slices with a dural-sac probability area > 30 mm²; on
``../shared/data/tptbox_cervical_t2`` the slices where the sac is found, mean
Dice and area MAE against its automatic canal labels (60 cord + 61 canal).
Every axial slice goes through ``load_segmenter(bundle).predict`` with the
spacing and orientation from the NIfTI header. Skips when the data is absent.
"""
import sys
import numpy as np, SimpleITK as sitk
from mri_measure.segment import load_segmenter

from pathlib import Path

import argparse

ap = argparse.ArgumentParser()
ap.add_argument("bundles", nargs="*")
ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
args = ap.parse_args()
D = args.data.rstrip("/") + "/"
def axial_slices(path):
    img = sitk.ReadImage(path)
    arr = sitk.GetArrayFromImage(img)
    d = np.asarray(img.GetDirection()).reshape(3, 3); sp = img.GetSpacing()
    a = int(np.argmax(np.abs(d[2])))
    i, j = [k for k in range(3) if k != a]
    iop = tuple(d[:, i]) + tuple(d[:, j])
    sl = np.moveaxis(arr, 2 - a, 0)  # (n, rows=axis j, cols=axis i)
    return sl.astype(np.float32), (sp[j], sp[i]), iop

if not Path(D, "sct_t2_upper").is_dir() or not Path(D, "tptbox_cervical_t2").is_dir():
    print("shared real data not found (../shared/data); skipped")
    sys.exit(0)
for model in args.bundles or [None]:
    seg = load_segmenter(model)
    vol, sp, iop = axial_slices(D + "sct_t2_upper/t2_thoracic_upper.nii.gz")
    p = seg.predict(vol, sp, iop)
    area = p[:, 1].sum(axis=(1, 2)) * sp[0] * sp[1]
    vol2, sp2, iop2 = axial_slices(D + "tptbox_cervical_t2/sub-mri_label-6_T2w.nii.gz")
    lab, _, _ = axial_slices(D + "tptbox_cervical_t2/sub-mri_seg-subreg_label-6_msk.nii.gz")
    truth = np.isin(lab.round().astype(int), [60, 61])
    p2 = seg.predict(vol2, sp2, iop2)
    pred = p2.argmax(1) == 1
    dice = [2 * (a & b).sum() / (a.sum() + b.sum()) for a, b in zip(pred, truth) if b.sum() > 20]
    a2 = p2[:, 1].sum(axis=(1, 2)) * sp2[0] * sp2[1]
    ta = truth.sum(axis=(1, 2)) * sp2[0] * sp2[1]
    found = int(((a2 > 30) & (ta > 30)).sum())
    print(f"{seg.name} {seg.version}: sct_t2_upper sac found (p-area > 30 mm2) on {int((area > 30).sum())}/{len(area)}, "
          f"median {np.median(area):.0f} mm2 | tptbox: found on {found}/{int((ta > 30).sum())} labelled slices, "
          f"mean Dice {np.mean(dice):.3f} (median {np.median(dice):.3f}, n {len(dice)}), "
          f"area MAE {np.mean(np.abs(a2 - ta)[ta > 30]):.0f} mm2")
