"""Peak memory of `mri-measure measure --out` on a long axial series.

Target (issue 16): peak RSS ≤ 1 GB for any study. The study: a synthetic CD
whose axial series has ``--positions`` × ``--repeats`` slices at ``--size``²
(default 299 × 2 = 598 slices at 512², duplicate positions present), written by
:func:`mri_measure.synth.long_series.write_long_series`. Each measurement is a
fresh process, so the figure is that process's own peak (``ru_maxrss`` of the
one child a fresh wrapper waited for).

    python benchmarks/bench_memory.py [--positions 299 --repeats 2 --size 512]
        [--data DIR] [--segmenter model|truth] [--code DIR ...] [--append-results]

``--segmenter truth`` replaces the model with the ground-truth labels (no
inference: isolates the pipeline's own memory). ``--code DIR`` (repeatable)
measures another checkout too (e.g. ``--code /path/to/main`` for "before").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_md import markers, replace_section

ROOT = Path(__file__).resolve().parents[1]
START, END = markers("bench_memory")

_WRAPPER = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode); "
    "sys.stderr.write(r.stderr[-2000:])"
)

_TRUTH_RUN = (
    "import sys; from mri_measure.pipeline import analyse_study, write_outputs; "
    "from mri_measure.testing.truth import TruthSegmenter; "
    "write_outputs(analyse_study(sys.argv[1], segmenter=TruthSegmenter.from_npz(sys.argv[2])), sys.argv[3])"
)


def peak_rss_mb(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, float, str]:
    """(peak RSS in MB, exit code, wall s, stderr tail) of ``cmd`` in a fresh process,
    run in ``cwd`` (not a checkout: ``python -c`` puts the working folder first on
    the path, which would shadow the code under test)."""
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", _WRAPPER, *cmd], capture_output=True, text=True, env=env,
                         cwd=cwd)
    wall = time.perf_counter() - t
    kb, rc = res.stdout.split()[-2:]
    tail = res.stderr.strip().splitlines()
    return int(kb) / 1024.0, int(rc), wall, tail[-1] if tail else ""


def measure(cd: Path, truth: Path, out: Path, code: Path, segmenter: str) -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(code), str(code / "plugins")]))
    if segmenter == "truth":
        cmd = [sys.executable, "-c", _TRUTH_RUN, str(cd), str(truth), str(out / "result")]
    else:
        cmd = [sys.executable, "-m", "mri_measure", "-q", "measure", str(cd), "--out", str(out / "result")]
    out.mkdir(parents=True, exist_ok=True)
    mb, rc, wall, err = peak_rss_mb(cmd, env, cwd=out.parent)
    return {"code": str(code), "segmenter": segmenter, "peak_rss_mb": round(mb, 1), "exit": rc,
            "wall_s": round(wall, 1), "stderr": err}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--positions", type=int, default=299)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--data", type=Path, default=None, help="reuse/keep the generated study here")
    ap.add_argument("--segmenter", choices=("model", "truth"), default="model")
    ap.add_argument("--code", type=Path, action="append", default=None,
                    help="checkout(s) to measure (default: this one)")
    ap.add_argument("--append-results", action="store_true")
    args = ap.parse_args()
    codes = args.code or [ROOT]
    with tempfile.TemporaryDirectory(prefix="mri-measure-bench-mem-") as tmp:
        data = args.data or Path(tmp) / "study"
        if not (data / "CD").is_dir():
            from mri_measure.synth.long_series import write_long_series

            write_long_series(data, n_positions=args.positions, repeats=args.repeats, size=args.size)
        rows = [measure(data / "CD", data / "truth_labels.npz", Path(tmp) / f"out{i}", code,
                        args.segmenter) for i, code in enumerate(codes)]
    n = args.positions * args.repeats
    for r in rows:
        print(json.dumps(r))
    if args.append_results:
        lines = [START, f"### Peak memory: {n} axial slices at {args.size}² "
                 f"({args.positions} positions × {args.repeats}), `measure --out`", "",
                 "| code | segmenter | exit | peak RSS (MB) | wall (s) |", "|---|---|---|---|---|"]
        lines += [f"| {Path(r['code']).name} | {r['segmenter']} | {r['exit']} | {r['peak_rss_mb']} | "
                  f"{r['wall_s']} |" for r in rows]
        lines += ["", f"Target: ≤ 1024 MB. Measured on {os.cpu_count()} CPU(s), load "
                  f"{os.getloadavg()[0]:.1f}.", END]
        replace_section("bench_memory", "\n".join(lines))


if __name__ == "__main__":
    main()
