"""Speed of the synthetic phantom: the 2-D training path and a full CD.

Targets (issue 3): >= 20 random labelled 256x256 axial samples per second per
core; a full CD (15 sagittal + 3 axial blocks of 5) in <= 20 s.

    python benchmarks/bench_synth.py [--n 60] [--append-results]

Single process, single thread (BLAS threads pinned to 1).  The machine is
shared, so the load average is recorded with each figure.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from mri_measure.synth import sample_axial_2d, write_cd  # noqa: E402

RESULTS = Path(__file__).with_name("RESULTS.md")
HEADER = "## Synthetic phantom speed (synth)"


def cpu_seconds(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--append-results", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    sample_axial_2d(rng)  # warm-up (imports, tables)
    rows = []
    batches = 4
    per = max(args.n // batches, 1)
    for randomise in (True, False):
        rates_cpu, walls = [], 0.0
        for _ in range(batches):
            _, wall, cpu = cpu_seconds(lambda: [sample_axial_2d(rng, randomise=randomise, size_px=(256, 256))
                                                for _ in range(per)])
            rates_cpu.append(per / cpu)
            walls += wall
        mean_cpu = batches * per / sum(per / r for r in rates_cpu)
        rows.append((f"sample_axial_2d(randomise={randomise}) 256x256", mean_cpu, batches * per / walls,
                     max(rates_cpu)))
        print(f"{rows[-1][0]}: {mean_cpu:.1f} samples per CPU-second (best batch {max(rates_cpu):.1f}), "
              f"{rows[-1][2]:.1f} per wall-second")
    with tempfile.TemporaryDirectory() as tmp:
        _, wall, cpu = cpu_seconds(lambda: write_cd(Path(tmp) / "cd", seed=1, stenosis="moderate"))
    print(f"write_cd (15 sagittal + 3x5 axial): {wall:.1f} s wall, {cpu:.1f} s CPU")
    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} cores")
    if args.append_results:
        text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
        if HEADER not in text:
            text = text.rstrip("\n") + (
                f"\n\n{HEADER}\n\n`python benchmarks/bench_synth.py --append-results` — one process, one "
                "thread. Samples per CPU-second is the per-core rate (the machine is shared; wall "
                "rate depends on the load). Targets: >= 20 samples/s/core; full CD <= 20 s.\n\n"
                "| date | 2-D random (CPU rate / wall rate) | 2-D realistic (CPU / wall) | full CD wall (CPU) | machine |\n"
                "|---|---|---|---|---|\n")
        # rows written since the best-batch column exists say "best b" inside the rate cell
        day = datetime.date.today().isoformat()
        line = (f"| {day} | {rows[0][1]:.1f} (best batch {rows[0][3]:.1f}) / {rows[0][2]:.1f} per s "
                f"| {rows[1][1]:.1f} (best batch {rows[1][3]:.1f}) / {rows[1][2]:.1f} per s "
                f"| {wall:.1f} s ({cpu:.1f} s) | {os.cpu_count()} cores, load {load:.1f} |\n")
        # append after the last row of our own table (never into another section)
        lines = text.splitlines(keepends=True)
        start = next(i for i, ln in enumerate(lines) if ln.startswith(HEADER))
        last = start
        for i in range(start + 1, len(lines)):
            if lines[i].startswith("## ") or lines[i].startswith("<!--"):
                break
            if lines[i].startswith("|"):
                last = i
        lines.insert(last + 1, line)
        text = "".join(lines)
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
