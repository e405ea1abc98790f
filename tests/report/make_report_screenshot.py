"""Regenerate ``docs/report_screenshot.png`` (the README's picture of report.html).

    python tests/report/make_report_screenshot.py [OUT_DIR]

Builds a small study from the synthetic phantom (``mri_measure.synth.sample_axial_2d``,
realistic T2 contrast), measures it with ``mri_measure.measure.measure_slice``,
writes the full report set into OUT_DIR (default: a temporary folder) and takes a
headless-chromium screenshot of report.html. Needs chromium (apt) — not a test.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def build_phantom_study(root: Path, seed: int = 7):
    sys.path.insert(0, str(HERE))
    from pydicom.uid import generate_uid
    from report_fixtures import PHANTOM, _level, _write_mr

    from mri_measure.criteria import Thresholds
    from mri_measure.measure import measure_slice
    from mri_measure.synth import sample_axial_2d
    from mri_measure.types import (
        LevelAssignment,
        LoadedStack,
        SliceInfo,
        SliceResult,
        Stack,
        StackAnalysis,
        StudyAnalysis,
        StudyReport,
    )

    rng = np.random.default_rng(seed)
    thresholds = Thresholds()
    study_uid, series_uid, for_uid = (generate_uid() for _ in range(3))
    root.mkdir(parents=True, exist_ok=True)
    plan = (("L3-L4", "none", 10.0), ("L4-L5", "moderate", -25.0), ("L5-S1", "none", -60.0))
    stacks, slices, levels, instance = [], [], [], 0
    for b, (level, stenosis, z) in enumerate(plan):
        infos, imgs, labs, meas = [], [], [], []
        for k in range(3):
            s = sample_axial_2d(rng, randomise=False, level=level, stenosis=stenosis)
            instance += 1
            iop = tuple(float(v) for v in s.orientation)
            r, c = np.asarray(iop[:3]), np.asarray(iop[3:])
            centre = np.array([0.0, 20.0, z]) + np.cross(r, c) * 4.0 * (k - 1)
            rows, cols = s.image.shape
            sp = tuple(float(v) for v in s.spacing_mm)
            ipp = tuple(float(v) for v in centre - r * cols / 2 * sp[1] - c * rows / 2 * sp[0])
            pixels = np.clip(s.image / max(float(s.image.max()), 1e-6) * 3000, 0, 4000)
            sop = generate_uid()
            _write_mr(root / f"IM{instance:04d}", patient=PHANTOM, study_uid=study_uid,
                      series_uid=series_uid, for_uid=for_uid, sop_uid=sop, instance=instance,
                      ipp=ipp, iop=iop, pixels=pixels.astype(np.uint16), series_number=3,
                      description="T2 TSE AX", spacing=sp)
            infos.append(SliceInfo(sop, str(root / f"IM{instance:04d}"), ipp, iop, sp,
                                   rows, cols, instance))
            imgs.append(pixels.astype(np.float32))
            lab = np.where(s.labels <= 3, s.labels, 0).astype(np.uint8)
            labs.append(lab)
            meas.append(measure_slice(lab, sp))
        stack = Stack(f"3.{b + 1}", study_uid, series_uid, tuple(infos), role="axial_t2",
                      series_number=3, frame_of_reference_uid=for_uid)
        labels = np.stack(labs)
        probs = np.stack([(labels == v) for v in range(4)], axis=1).astype(np.float32)
        # one sample per slice: shapes differ, so keep them as separate one-slice stacks
        for i, info in enumerate(infos):
            one = Stack(f"3.{b + 1}.{i + 1}", study_uid, series_uid, (info,),
                        role="axial_t2", series_number=3, frame_of_reference_uid=for_uid)
            stacks.append(StackAnalysis(
                LoadedStack(one, imgs[i][None], (info,)), probs[i:i + 1], labels[i:i + 1],
                (meas[i],)))
        keyed = []
        for info, m in zip(infos, meas):
            slices.append(SliceResult(info.key, stack.stack_id, info.instance_number,
                                      LevelAssignment(level, "axial_blocks", 0.6), m))
            keyed.append((info.key, m))
        levels.append(_level(level, keyed, thresholds, "axial_blocks", 0.6))
    report = StudyReport(
        software={"name": "mri-measure", "version": "0.1.0"},
        model={"name": "synthetic phantom (ground-truth labels)", "version": "n/a",
               "sha256": None},
        thresholds=thresholds.to_dict(),
        study={"study_instance_uid": study_uid, "axial_series_instance_uids": [series_uid]},
        levels=tuple(levels),
        slices=tuple(slices),
        warnings=("No sagittal series: levels from axial blocks (lowest block = L5-S1), "
                  "lower confidence.",),
    )
    return StudyAnalysis(report=report, axial=tuple(stacks))


def main() -> None:
    from mri_measure.report import write_all

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    analysis = build_phantom_study(out / "src")
    paths = write_all(analysis, out / "report")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found: apt-get install -y chromium")
    shot = out / "screenshot.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--hide-scrollbars",
                    f"--user-data-dir={tempfile.mkdtemp()}", f"--screenshot={shot}",
                    "--window-size=1100,1900", paths["html"].as_uri()],
                   check=True, capture_output=True, timeout=120)
    from PIL import Image

    img = Image.open(shot).convert("RGB")
    img = img.resize((img.width * 3 // 4, img.height * 3 // 4), Image.LANCZOS)
    target = REPO / "docs" / "report_screenshot.png"
    img.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(target, optimize=True)
    print(f"{target.relative_to(REPO)}: {target.stat().st_size // 1024} KB; outputs in {out}")


if __name__ == "__main__":
    main()
