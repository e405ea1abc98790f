"""Speed and accuracy benchmark of mri_measure.measure.measure_slice.

Run: python benchmarks/bench_measure.py [--speed-only]
Prints the time per 320x320 slice (with probabilities and with hard labels
only; wall and process CPU time, the latter being meaningful on a shared
machine) and accuracy over 300 seeded random shapes per condition (the
generators of mri_measure/testing/measure_shapes.py, shared with tests/test_measure.py: ellipses/trefoils of 40–300 mm², straight
and curved bands of 1.5–8 mm, any angle, spacing 0.3–1.0 mm, anisotropic). Run from the repository root with the project's environment
(the editable install, or ``PYTHONPATH=.``).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from mri_measure.measure import measure_slice
from mri_measure.testing.measure_shapes import (
    annular_arc,
    coverage_of,
    ellipse,
    make_band_case,
    make_canal_case,
)
from mri_measure.testing.measure_shapes import area_error as _area_error
from mri_measure.testing.measure_shapes import thickness_error as _thickness_error


def realistic_slice(spacing=(0.6, 0.6), size=320):
    """A canal (ellipse, 150 mm²) and two LF arcs (3 and 4 mm) on a 320x320 grid."""
    sr, sc = spacing
    cy, cx = size * sr / 2, size * sc / 2
    shapes = [
        (1, ellipse(150.0, 1.6, 0.0, (cy, cx))),
        (2, annular_arc(3.0, 9.0, 1.0, np.pi / 2 + 0.7, (cy - 2, cx))),
        (3, annular_arc(4.0, 9.0, 1.0, np.pi / 2 - 0.7, (cy - 2, cx))),
    ]
    cov = np.zeros((4, size, size))
    for label, shape in shapes:
        cov[label] = coverage_of(shape, (size, size), spacing)
    cov[1:] = np.minimum(cov[1:], 1.0)
    total = cov[1:].sum(axis=0)
    over = total > 1
    cov[1:, over] /= total[over]
    cov[0] = 1.0 - cov[1:].sum(axis=0)
    labels = np.argmax(cov, axis=0).astype(np.uint8)
    return labels, cov


def accuracy(n: int = 300, seed: int = 2024) -> None:
    """p95 / max error and 95 %-interval coverage over n random shapes per condition."""
    rng = np.random.default_rng(seed)
    conditions = (
        ("area, probabilities", make_canal_case, lambda c: _area_error(c, True), "%"),
        ("area, hard labels", make_canal_case, lambda c: _area_error(c, False), "%"),
        ("LF thickness, probabilities", make_band_case, lambda c: _thickness_error(c, True, True), "mm"),
        ("LF thickness, hard labels", make_band_case, lambda c: _thickness_error(c, False, True), "mm"),
    )
    for name, make, run, unit in conditions:
        err, z = np.abs(np.array([run(make(rng)) for _ in range(n)])).T
        scale = 100.0 if unit == "%" else 1.0
        print(
            f"{name}: p95 |error| {scale * np.percentile(err, 95):.3g} {unit}, "
            f"max {scale * err.max():.3g} {unit}, truth within value ± 1.96u: "
            f"{100 * np.mean(z <= 1):.1f} %  (n={n})"
        )


def phantom(n: int = 40, seed: int = 1) -> None:
    """Errors against the synthetic phantom's own truth (mri_measure.synth, realistic T2 default)."""
    from mri_measure.synth.sample import sample_axial_2d

    rng = np.random.default_rng(seed)
    errs: dict[str, list[float]] = {k: [] for k in ("area_p", "area_h", "lf_p", "lf_h")}
    for _ in range(n):
        s = sample_axial_2d(rng, randomise=False)
        soft = measure_slice(s.labels, s.spacing_mm, probabilities=s.coverage)
        hard = measure_slice(s.labels, s.spacing_mm)
        if s.canal_area_mm2:
            errs["area_p"].append(soft.canal_area_mm2 / s.canal_area_mm2 - 1)
            errs["area_h"].append(hard.canal_area_mm2 / s.canal_area_mm2 - 1)
        for side in ("left", "right"):
            truth = getattr(s, f"lf_thickness_{side}_mm")
            if truth:
                errs["lf_p"].append(getattr(soft, f"lf_thickness_{side}_mm") - truth)
                errs["lf_h"].append(getattr(hard, f"lf_thickness_{side}_mm") - truth)
    for key, name, scale, unit in (
        ("area_p", "phantom canal area, coverage", 100, "%"),
        ("area_h", "phantom canal area, hard labels", 100, "%"),
        ("lf_p", "phantom LF thickness, coverage", 1, "mm"),
        ("lf_h", "phantom LF thickness, hard labels", 1, "mm"),
    ):
        e = np.asarray(errs[key]) * scale
        print(
            f"{name}: mean error {e.mean():+.3g} {unit}, p95 |error| "
            f"{np.percentile(np.abs(e), 95):.3g} {unit}, max {np.abs(e).max():.3g} {unit} (n={len(e)})"
        )


def main() -> None:
    labels, cov = realistic_slice()
    for name, kwargs in (("probabilities", {"probabilities": cov}), ("hard labels", {})):
        measure_slice(labels, (0.6, 0.6), **kwargs)
        times, cpu = [], []
        for _ in range(30):
            t0, c0 = time.perf_counter(), time.process_time()
            m = measure_slice(labels, (0.6, 0.6), **kwargs)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        print(
            f"320x320 slice, {name}: wall median {1000 * np.median(times):.1f} ms "
            f"(min {1000 * min(times):.1f}), CPU median {1000 * np.median(cpu):.1f} ms  "
            f"(canal {m.canal_area_mm2:.1f} mm², "
            f"LF L {m.lf_thickness_left_mm:.2f} mm, R {m.lf_thickness_right_mm:.2f} mm)"
        )


if __name__ == "__main__":
    main()
    if "--speed-only" not in sys.argv:
        accuracy()
        phantom()
