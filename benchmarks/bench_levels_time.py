"""Level-finding time per study: ``find_disc_levels`` on a synthetic 15-slice
sagittal T2 (write_cd seed 200: the detector fuses up to five slices through the
canal) and on SPIDER (one slice; the three-slice mini-series), wall and CPU time
(median of three, after one warm-up call that loads the detector).

Usage: ``python benchmarks/bench_levels_time.py [--data DIR]`` (prints; the
figures are copied into benchmarks/RESULTS.md with the machine's load average,
since this machine is shared and wall time depends on it).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from mri_measure.io import discover, load_stack
from mri_measure.levels import find_disc_levels
from mri_measure.synth.cd import write_cd
from mri_measure.testing.spider import as_loaded_stack, as_mini_series, read_png

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "spider_sagittal")
    args = ap.parse_args(argv)
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        write_cd(tmp, seed=200, axial="blocks")
        (study,) = discover(Path(tmp) / "CD").studies
        cases.append(("synthetic 15-slice sagittal", load_stack(study.stacks_with_role("sagittal_t2")[0])))
    files = sorted((args.data / "images").glob("*.png"))
    if files:
        f = files[0]
        pid, n = f.name.split("_")[0], int(f.stem.split("slice")[1])
        off = args.data / "offcentre" / "images"
        ims = [read_png(off / f"{pid}_t2_SPACE_slice{n - 3}.png"), read_png(f),
               read_png(off / f"{pid}_t2_SPACE_slice{n + 3}.png")]
        cases += [("SPIDER one slice", as_loaded_stack(ims[1])), ("SPIDER three-slice mini-series", as_mini_series(ims))]
    find_disc_levels(cases[0][1])  # warm-up: loads the detector
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for name, stack in cases:
        wall, cpu = [], []
        for _ in range(3):
            t0, c0 = time.perf_counter(), time.process_time()
            r = find_disc_levels(stack)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        print(f"- {name}: wall {np.median(wall):.2f} s, CPU {np.median(cpu):.2f} s "
              f"({r.n_slices} slice(s) through the canal, status {r.status})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
