"""Full robustness run: ≥ 2,000 seeded broken inputs (issue 9).

Every case is a copy of a valid synthetic study with one file damaged by one
of the corruptions in ``mri_measure/testing/corrupt.py``. Three passes:

1. in-process pipeline (discover → load → segment → measure → levels; what
   `inspect` and `measure` do) on every case, 30 s alarm each: outcome must be
   a result or a typed ``MriMeasureError``; undamaged slices must give exactly
   the clean study's numbers; slices with untrustworthy content must not be
   measured;
2. the real CLI (`inspect --json`, `measure --out`) on a seeded subset under
   the guard (30 s, 2 GB RSS, no writes outside --out);
3. one `batch` run over a folder of broken studies: every study recorded as
   done or failed, nothing lost.

    python benchmarks/bench_robustness.py [--cases 2000] [--cli 100] [--batch 40] [--append-results]

Results go to ``benchmarks/RESULTS.md``. The CI runs a seeded subset of the same
generator (``tests/hardening``).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_md import markers, replace_section

import psutil

from mri_measure.testing.corrupt import FILE_CORRUPTIONS, MUST_EXCLUDE_OR_FAIL, make_broken_case
from mri_measure.testing.harness import run_guarded, snapshot

ROOT = Path(__file__).resolve().parents[1]

START, END = markers("bench_robustness")
KINDS = sorted(FILE_CORRUPTIONS) + ["duplicate_uid_different_pixels"]


class CaseTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise CaseTimeout()


def slice_values(report) -> dict[str, tuple]:
    return {
        s.sop_instance_uid: (s.measurement.canal_area_mm2, s.measurement.lf_thickness_left_mm,
                             s.measurement.lf_thickness_right_mm)
        for s in report.slices
    }


def in_process_pass(clean: dict[str, Path], n: int, work: Path, seg) -> dict:
    from mri_measure.errors import MriMeasureError
    from mri_measure.pipeline import analyse_study

    refs = {name: slice_values(analyse_study(cd, segmenter=seg).report) for name, cd in clean.items()}
    rng = random.Random(2026)
    stats = collections.Counter()
    per_kind = collections.defaultdict(collections.Counter)
    failures: list[str] = []
    worst_s, proc = 0.0, psutil.Process()
    peak_mb = proc.memory_info().rss / 2**20
    signal.signal(signal.SIGALRM, _alarm)
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        name = "jpeg2000" if kind == "corrupt_codestream" else rng.choice(["explicit", "explicit_sag"])
        case_dir = work / f"c{i}"
        case_dir.mkdir()
        case = make_broken_case(clean[name], case_dir, rng, kind)
        t = time.perf_counter()
        signal.alarm(30)
        try:
            rep = analyse_study(case.root, segmenter=seg).report
            outcome = "result"
        except MriMeasureError:
            outcome, rep = "typed_error", None
        except CaseTimeout:
            outcome, rep = "TIMEOUT", None
        except Exception as exc:  # a bug
            outcome, rep = "BUG", None
            failures.append(f"{kind} #{i}: {type(exc).__name__}: {str(exc)[:120]}")
        finally:
            signal.alarm(0)
        dt = time.perf_counter() - t
        worst_s = max(worst_s, dt)
        peak_mb = max(peak_mb, proc.memory_info().rss / 2**20)
        if rep is not None:
            got, ref = slice_values(rep), refs[name]
            for uid, vals in got.items():
                if uid in case.damaged:
                    if kind in MUST_EXCLUDE_OR_FAIL:
                        outcome = "WRONG"
                        failures.append(f"{kind} #{i}: damaged slice measured as intact")
                elif ref.get(uid) != vals:
                    outcome = "WRONG"
                    failures.append(f"{kind} #{i}: undamaged slice changed")
        stats[outcome] += 1
        per_kind[kind][outcome] += 1
        shutil.rmtree(case_dir)
        if (i + 1) % 100 == 0:
            print(f"  {i + 1}/{n} cases: {dict(stats)}", flush=True)
    return {"stats": stats, "per_kind": per_kind, "failures": failures, "worst_s": worst_s, "peak_mb": peak_mb}


def cli_pass(clean: dict[str, Path], n: int, work: Path) -> dict:
    rng = random.Random(99)
    stats = collections.Counter()
    failures: list[str] = []
    worst_s = peak = 0.0
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        name = "jpeg2000" if kind == "corrupt_codestream" else "explicit_sag"
        case_dir = work / f"cli{i}"
        case_dir.mkdir()
        case = make_broken_case(clean[name], case_dir, rng, kind)
        for cmd in (["inspect", str(case.root), "--json"],
                    ["measure", str(case.root), "--out", str(case_dir / "out"), "--format", "json"]):
            before = snapshot(case_dir)
            o = run_guarded(cmd, cwd=case_dir)
            worst_s, peak = max(worst_s, o.wall_s), max(peak, o.peak_rss_mb)
            ok = o.killed is None and o.returncode in (0, 2) and "Traceback" not in o.stderr
            outside = snapshot(case_dir, exclude=case_dir / "out") != before
            if not ok or outside:
                failures.append(f"{cmd[0]} {kind} #{i}: rc={o.returncode} killed={o.killed} outside={outside}")
            stats[f"{cmd[0]}:{'exit ' + str(o.returncode) if o.returncode is not None else o.killed}"] += 1
        shutil.rmtree(case_dir)
    return {"stats": stats, "failures": failures, "worst_s": worst_s, "peak_mb": peak}


def batch_pass(clean: dict[str, Path], n: int, work: Path) -> dict:
    rng = random.Random(5)
    archive = work / "archive"
    archive.mkdir()
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        d = archive / f"study{i:03d}"
        d.mkdir()
        # each broken study gets its own StudyInstanceUID so they are separate studies
        src = clean["explicit"] if i % 2 else clean["explicit_sag"]
        case = make_broken_case(src, d, rng, kind)
        _restamp_study(case.root, i)
    out = work / "bout"
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "mri_measure", "-q", "batch", str(archive), "--out", str(out),
                          "--timeout-per-study", "60"], capture_output=True, text=True, timeout=3600)
    wall = time.perf_counter() - t
    done = len(list((out / "studies").glob("*/DONE"))) if (out / "studies").exists() else 0
    errors = max(0, len((out / "errors.csv").read_text().splitlines()) - 1) if (out / "errors.csv").exists() else 0
    return {"returncode": res.returncode, "studies": n, "done": done, "failed": errors, "wall_s": wall,
            "stderr_tail": res.stderr[-300:]}


def _restamp_study(cd: Path, i: int) -> None:
    import pydicom
    from pydicom.uid import generate_uid

    uid = generate_uid(entropy_srcs=["robustness-batch", str(i)])
    for p in cd.rglob("*"):
        if p.is_file() and p.name != "DICOMDIR":
            try:
                ds = pydicom.dcmread(p)
            except Exception:
                continue  # the damaged file stays as damaged
            if "StudyInstanceUID" in ds:
                ds.StudyInstanceUID = uid
                ds.save_as(p)
    if (cd / "DICOMDIR").exists():
        (cd / "DICOMDIR").unlink()  # stale after restamping; discovery scans every file anyway


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--cli", type=int, default=100)
    ap.add_argument("--batch", type=int, default=40)
    ap.add_argument("--append-results", action="store_true")
    args = ap.parse_args()
    from mri_measure.segment import load_segmenter
    from mri_measure.synth import write_cd

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clean = {
            "explicit": write_cd(tmp / "clean" / "explicit", seed=21, stenosis="moderate", levels=["L4-L5"], sagittal=False),
            "explicit_sag": write_cd(tmp / "clean" / "sag", seed=23, stenosis="moderate", levels=["L4-L5"]),
            "jpeg2000": write_cd(tmp / "clean" / "j2k", seed=22, levels=["L4-L5"], sagittal=False, compress="jpeg2000"),
        }
        seg = load_segmenter()
        print(f"pass 1: {args.cases} cases in-process", flush=True)
        p1 = in_process_pass(clean, args.cases, tmp, seg)
        print(f"pass 2: {args.cli} cases through the CLI", flush=True)
        p2 = cli_pass(clean, args.cli, tmp)
        print(f"pass 3: batch over {args.batch} broken studies", flush=True)
        p3 = batch_pass(clean, args.batch, tmp)
    total = time.perf_counter() - t0
    kinds_table = "\n".join(
        f"| {k} | " + " | ".join(str(p1['per_kind'][k][o]) for o in ("result", "typed_error", "BUG", "TIMEOUT", "WRONG")) + " |"
        for k in KINDS
    )
    block = "\n".join([
        START,
        "## Robustness: broken and hostile inputs (`benchmarks/bench_robustness.py`)",
        "",
        f"Command: `python benchmarks/bench_robustness.py --cases {args.cases} --cli {args.cli} --batch {args.batch}` "
        f"({total / 60:.0f} min, 2 shared cores, load {os.getloadavg()[0]:.1f}). Seeded; one damaged file per case "
        "(a copy of a valid synthetic study). Corruptions: " + ", ".join(KINDS) + ".",
        "",
        f"**Pass 1 — pipeline in-process ({args.cases} cases):** " + ", ".join(f"{k} {v}" for k, v in sorted(p1['stats'].items()))
        + f"; slowest case {p1['worst_s']:.1f} s (limit 30 s); process peak RSS {p1['peak_mb']:.0f} MB (limit 2048 MB). "
        "`result` = measured, with undamaged slices identical to the clean study and untrustworthy slices excluded; "
        "`typed_error` = one-line MriMeasureError (exit 2); BUG/TIMEOUT/WRONG must be 0.",
        "",
        "| corruption | result | typed error | BUG | TIMEOUT | WRONG |",
        "|---|---|---|---|---|---|",
        kinds_table,
        "",
        f"**Pass 2 — CLI under guard ({args.cli} cases × inspect + measure):** "
        + ", ".join(f"{k} {v}" for k, v in sorted(p2['stats'].items()))
        + f"; slowest {p2['worst_s']:.1f} s, peak RSS {p2['peak_mb']:.0f} MB; failures: {len(p2['failures'])}.",
        "",
        f"**Pass 3 — batch over {p3['studies']} broken studies:** exit {p3['returncode']}, "
        f"{p3['done']} done + {p3['failed']} recorded failures = {p3['done'] + p3['failed']} of {p3['studies']} "
        f"(nothing lost if equal), {p3['wall_s']:.0f} s.",
        "",
        "Failures listed: " + ("none" if not (p1["failures"] or p2["failures"]) else
                               "; ".join((p1["failures"] + p2["failures"])[:20])),
        END,
    ])
    print(block)
    if args.append_results:
        replace_section("bench_robustness", block)


if __name__ == "__main__":
    main()
