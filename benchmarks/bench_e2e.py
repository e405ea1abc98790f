"""End-to-end speed of `mri-measure measure` on the bundled sample CD,
measured against the decode floor in the same run.

Targets (issue 16): the sample CD end to end with all six outputs in ≤ 4 s
wall on 2 cores and ≤ 5× the decode floor; ``mri-measure --help`` ≤ 0.3 s;
peak memory ≤ 1 GB.

Every measurement is a fresh process, as a user runs it (Python start-up,
imports, model load):

* **decode floor** — start Python, import pydicom, read and decode every
  pixel of the CD's axial and sagittal files (what ``load_stack`` needs at
  the very least);
* ``--help`` — ``python -m mri_measure --help``;
* **measure** — ``python -m mri_measure -q measure CD --out …`` (JSON, CSV,
  HTML, PDF, SEG, SR).

The machine is shared, so absolute times move with its load: the runs are
interleaved (floor, measure, floor, measure, …) and the ratio to the floor is
the number to compare. Wall time, CPU time (user + system of the child) and
peak RSS come from ``os.wait4``. ``--code DIR`` (repeatable) measures other
checkouts in the same run (e.g. ``--code /work/main`` for "before"); each is
put first on ``PYTHONPATH`` (with its ``plugins/``) of its subprocesses.

    python benchmarks/bench_e2e.py [--runs 3] [--code OTHER_CHECKOUT] [--append-results]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from results_md import markers, replace_section

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_dicoms" / "stenosis_L4-L5" / "CD"
START, END = markers("bench_e2e")
TARGET_WALL_S = 4.0
TARGET_RATIO = 5.0
TARGET_HELP_S = 0.3
TARGET_RSS_MB = 1024.0

FLOOR = r"""
import sys
from pathlib import Path
import pydicom
from pydicom.pixels import pixel_array
n = 0
for path in sorted(Path(sys.argv[1]).rglob("*")):
    if not path.is_file() or path.name == "DICOMDIR":
        continue
    ds = pydicom.dcmread(path)
    if "PixelData" in ds:
        n += int(pixel_array(ds).size > 0)
print(n)
"""


@dataclass
class Runs:
    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)

    def med(self, name: str) -> float:
        return statistics.median(getattr(self, name))


def run_child(argv: list[str], code: Path, runs: Runs, extra_env: dict[str, str] | None = None) -> str:
    """Run ``argv`` as a fresh process with ``code`` first on the path; record
    its wall time, CPU time and peak RSS; return its stdout."""
    env = {**os.environ, **(extra_env or {})}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(code), str(code / "plugins")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=code)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{argv[1:4]} ({code}) exited {proc.returncode}:\n{stderr[-2000:]}")
    runs.wall_s.append(wall)
    runs.cpu_s.append(usage.ru_utime + usage.ru_stime)
    runs.rss_mb.append(usage.ru_maxrss / 1024.0)  # Linux: kB
    return stdout


def _git_rev(code: Path) -> str:
    try:
        rev = subprocess.run(["git", "-C", str(code), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        branch = subprocess.run(["git", "-C", str(code), "rev-parse", "--abbrev-ref", "HEAD"],
                                capture_output=True, text=True, check=True).stdout.strip()
        return f"{branch} {rev}"
    except (OSError, subprocess.CalledProcessError):
        return "?"


def _fmt_runs(values: list[float], digits: int = 2) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="measure runs per checkout (median)")
    ap.add_argument("--help-runs", type=int, default=5)
    ap.add_argument("--code", type=Path, action="append", default=[],
                    help="another checkout to measure in the same run (e.g. main, for 'before')")
    ap.add_argument("--without-helper", action="store_true",
                    help="also measure this checkout with MRI_MEASURE_HELPER=0 (no helper process)")
    ap.add_argument("--append-results", action="store_true")
    args = ap.parse_args()
    NO_HELPER = ROOT.parent / (ROOT.name + "#no-helper")  # a label: this checkout, helper off
    codes = [c.resolve() for c in args.code] + ([NO_HELPER] if args.without_helper else []) + [ROOT]
    names = {c: (_git_rev(ROOT) + ", MRI_MEASURE_HELPER=0" if c == NO_HELPER else _git_rev(c)) for c in codes}
    envs = {c: ({"MRI_MEASURE_HELPER": "0"} if c == NO_HELPER else {}) for c in codes}
    where = {c: (ROOT if c == NO_HELPER else c) for c in codes}
    n_files = sum(1 for p in SAMPLE.rglob("*") if p.is_file() and p.name != "DICOMDIR")

    floor = Runs()
    helps = {c: Runs() for c in codes}
    measures = {c: Runs() for c in codes}
    load = [os.getloadavg()[0]]
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        for c in codes:  # warm the file cache and the .pyc files once, unmeasured
            run_child([py, "-c", FLOOR, str(SAMPLE)], where[c], Runs())
            run_child([py, "-m", "mri_measure", "-q", "measure", str(SAMPLE), "--out",
                       str(Path(tmp) / f"warmup{codes.index(c)}")], where[c], Runs(), envs[c])
        for k in range(args.help_runs):
            for c in codes:
                run_child([py, "-m", "mri_measure", "--help"], where[c], helps[c], envs[c])
        for k in range(args.runs):
            for c in codes:
                decoded = run_child([py, "-c", FLOOR, str(SAMPLE)], ROOT, floor)
                run_child([py, "-m", "mri_measure", "-q", "measure", str(SAMPLE), "--out",
                           str(Path(tmp) / f"run{k}_{codes.index(c)}")], where[c], measures[c], envs[c])
                load.append(os.getloadavg()[0])
            wrote = sorted(p.name for p in (Path(tmp) / f"run{k}_{len(codes) - 1}").iterdir())
    f_wall, f_cpu = floor.med("wall_s"), floor.med("cpu_s")

    lines = [
        START,
        "## End to end: `measure` on the sample CD against the decode floor",
        "",
        f"Command: `python benchmarks/bench_e2e.py --runs {args.runs}"
        + "".join(f" --code {c}" for c in args.code)
        + (" --without-helper" if args.without_helper else "") + "` — `sample_dicoms/stenosis_L4-L5/CD` "
        f"({n_files} images: sagittal 15 + 3 axial blocks of 5, 320–384 px), outputs: "
        f"{', '.join(wrote)}. Every number is a fresh process (Python start-up, imports, model "
        "load); runs interleaved floor / measure so both see the same load; medians.",
        "",
        f"Machine: {os.cpu_count()} CPU cores ({platform.machine()}, Python "
        f"{platform.python_version()}), shared with other jobs: load average "
        f"{min(load):.1f}–{max(load):.1f} during the run (start {load[0]:.1f}).",
        "",
        "**Decode floor**: start Python, import pydicom, read and decode every pixel of the "
        f"{int(decoded)} image files — {f_wall:.2f} s wall, {f_cpu:.2f} s CPU (median; all: "
        f"{_fmt_runs(floor.wall_s)} s).",
        "",
        "| code | `measure` wall s | × floor (wall) | CPU s | × floor (CPU) | peak RSS MB | "
        "`--help` s | all `measure` runs (wall s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in codes:
        m, h = measures[c], helps[c]
        lines.append(
            f"| {names[c]}{' (this checkout)' if c == ROOT else ''} | {m.med('wall_s'):.2f} | "
            f"{m.med('wall_s') / f_wall:.1f}× | {m.med('cpu_s'):.2f} | {m.med('cpu_s') / f_cpu:.1f}× | "
            f"{max(m.rss_mb):.0f} | {h.med('wall_s'):.2f} | {_fmt_runs(m.wall_s)} |")
    m, h = measures[ROOT], helps[ROOT]
    ok = {
        "wall": m.med("wall_s") <= TARGET_WALL_S,
        "ratio": m.med("wall_s") / f_wall <= TARGET_RATIO,
        "help": h.med("wall_s") <= TARGET_HELP_S,
        "rss": max(m.rss_mb) <= TARGET_RSS_MB,
    }
    lines += [
        "",
        f"Targets (this checkout): ≤ {TARGET_WALL_S:g} s wall — {m.med('wall_s'):.2f} s "
        f"({'met' if ok['wall'] else 'not met'}); ≤ {TARGET_RATIO:g}× the floor — "
        f"{m.med('wall_s') / f_wall:.1f}× wall, {m.med('cpu_s') / f_cpu:.1f}× CPU "
        f"({'met' if ok['ratio'] else 'not met'}); `--help` ≤ {TARGET_HELP_S:g} s — "
        f"{h.med('wall_s'):.2f} s ({'met' if ok['help'] else 'not met'}); peak RSS ≤ 1 GB — "
        f"{max(m.rss_mb):.0f} MB ({'met' if ok['rss'] else 'not met'}).",
        "",
        "CPU s = user + system time of the process and of the helper process it forks "
        "(`mri_measure/helper.py`; `os.wait4` counts reaped children); on a loaded machine wall "
        "time is CPU time plus waiting for a core, so the CPU ratio is the steadier comparison. "
        "Peak RSS is the largest single process (the helper is a second one, sharing the "
        "parent's pages copy-on-write).",
        END,
    ]
    block = "\n".join(lines)
    print(block)
    if args.append_results:
        replace_section("bench_e2e", block)


if __name__ == "__main__":
    main()
