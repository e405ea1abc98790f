"""End-to-end speed of `mri-measure measure` on the bundled sample CD.

Target (issue 6): the full sample CD end to end in ≤ 10 s wall on this
machine, reports included. Measures the cold CLI (a fresh process, as a user
runs it: Python start-up, imports, model load) and the warm in-process
pipeline (per-stage timings from ``StudyReport.timings_s``).

    python benchmarks/bench_e2e.py [--runs 3] [--append-results]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_md import markers, replace_section

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_dicoms" / "stenosis_L4-L5" / "CD"
START, END = markers("bench_e2e")


def cold_cli(out: Path) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mri_measure", "-q", "measure", str(SAMPLE), "--out", str(out)],
                   check=True, capture_output=True)
    return time.perf_counter() - t


def warm_pipeline(out: Path) -> dict[str, float]:
    from mri_measure.pipeline import analyse_study, write_outputs

    t = time.perf_counter()
    analysis = analyse_study(SAMPLE)
    write_outputs(analysis, out)
    timings = dict(analysis.report.timings_s)
    timings["end_to_end_s"] = time.perf_counter() - t
    return timings


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--append-results", action="store_true")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cold = [cold_cli(tmp / f"cold{i}") for i in range(args.runs)]
        from mri_measure.segment import load_segmenter

        load_segmenter()  # warm: model loaded once, as in napari or a batch worker
        warm_pipeline(tmp / "warmup")
        warm = [warm_pipeline(tmp / f"warm{i}") for i in range(args.runs)]
    load_after = os.getloadavg()[0]
    stages = ["discover_s", "load_s", "segment_s", "measure_s", "levels_s", "write_outputs_s", "end_to_end_s"]
    med = {k: statistics.median(w.get(k, float("nan")) for w in warm) for k in stages}
    lines = [
        START,
        "## End to end: `measure` on the sample CD (pipeline + reports)",
        "",
        f"Command: `python benchmarks/bench_e2e.py --runs {args.runs}` — `sample_dicoms/stenosis_L4-L5/CD` "
        "(sagittal 15 + 3 axial blocks of 5 slices, 320×320), all six outputs written. "
        f"Machine: 2 cores, load average {load_before:.1f} before / {load_after:.1f} after. Target: ≤ 10 s wall.",
        "",
        "| run | wall s (median of runs) | all runs |",
        "|---|---|---|",
        f"| cold CLI (`mri-measure -q measure … --out`, new process, model load) | {statistics.median(cold):.2f} | "
        + ", ".join(f"{c:.2f}" for c in cold) + " |",
        f"| warm pipeline (model already loaded) | {med['end_to_end_s']:.2f} | "
        + ", ".join(f"{w['end_to_end_s']:.2f}" for w in warm) + " |",
        "",
        "Warm per-stage medians (s): " + ", ".join(f"{k[:-2]} {med[k]:.2f}" for k in stages[:-1]),
        END,
    ]
    block = "\n".join(lines)
    print(block)
    if args.append_results:
        replace_section("bench_e2e", block)


if __name__ == "__main__":
    main()
