"""Disc levels on synthetic patient CDs (mri_measure.synth.write_cd) against truth.json.

For each CD: find_discs on the sagittal T2 (loaded with mri_measure.io), then
assign_levels on the axial T2; reports the share of CDs whose axial slices all
get the true level, the per-slice accuracy (a slice within 1.5 mm of the true
half-way surface between two discs counts as right either way), and the error
of the lumbar disc planes (centre distance, normal angle).

Usage: ``python benchmarks/bench_levels_synth.py [--seeds N] [--no-write]`` —
writes a "Disc levels on synthetic CDs" section in benchmarks/RESULTS.md.

Run from the repository root with the project's environment (the editable
install, or ``PYTHONPATH=.``) so that the checkout's ``mri_measure`` is measured.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from mri_measure.io import discover, load_stack
from mri_measure.levels import assign_levels, find_discs, slice_centre_mm
from mri_measure.synth.cd import write_cd
from mri_measure.synth.phantom import make_phantom

ROOT = Path(__file__).resolve().parents[1]

SECTION = "## Disc levels on synthetic CDs (levels.find_discs + assign_levels)"
LEVELS4 = ("L2-L3", "L3-L4", "L4-L5", "L5-S1")


def cases(n_seeds: int, first: int = 100):
    """(label, write_cd kwargs): blocks, contiguous, and blocks with a grade-1 slip."""
    out = []
    for seed in range(first, first + n_seeds):
        kind = ("blocks", "contiguous", "slip")[seed % 3]
        kw = dict(seed=seed, axial="contiguous" if kind == "contiguous" else "blocks", levels=LEVELS4,
                  stenosis=("none", "moderate", "severe")[(seed // 3) % 3])
        if kind == "slip":
            lvl = ("L4-L5", "L5-S1")[(seed // 3) % 2]
            kw["phantom"] = make_phantom(seed, stenosis=kw["stenosis"], slip_mm={lvl: 6.0})
            kind = f"slip {lvl} 6 mm"
        out.append((f"{seed} {kind} {kw['stenosis']}", kw))
    return out


def margin_mm(sl, truth_discs) -> float:
    p = slice_centre_mm(sl)
    d = sorted(abs(float(np.dot(p - np.asarray(x["centre_mm"]), x["normal"]))) for x in truth_discs)
    return (d[1] - d[0]) / 2.0


def run_case(kw) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        write_cd(tmp, **kw)
        (study,) = discover(Path(tmp) / "CD").studies
        truth = json.loads((Path(tmp) / "truth.json").read_text())
        t0 = time.perf_counter()
        sag = load_stack(study.stacks_with_role("sagittal_t2")[0])
        discs = find_discs(sag)
        t_find = time.perf_counter() - t0
        axial = study.stacks_with_role("axial_t2")
        got, _ = assign_levels(axial, discs)
    by_level = {x["level"]: x for x in truth["discs"]}
    n = right = 0
    for st in axial:
        for sl in st.slices:
            n += 1
            expect = truth["slices"][sl.sop_instance_uid]["level"]
            right += got[sl.key].level == expect or margin_mm(sl, truth["discs"]) <= 1.5
    # calibration: a named disc is right when the true disc nearest its centre has its name
    cal = []
    for d in discs:
        near = min(truth["discs"], key=lambda x: float(np.linalg.norm(np.subtract(d.centre_mm, x["centre_mm"]))))
        cal.append((float(d.confidence), near["level"] == d.level))
    cerr, aerr = [], []
    for d in discs[:5]:
        t = by_level.get(d.level)
        if t is not None:
            cerr.append(float(np.linalg.norm(np.subtract(d.centre_mm, t["centre_mm"]))))
            aerr.append(float(np.degrees(np.arccos(min(1.0, abs(float(np.dot(d.normal, t["normal"]))))))))
    return dict(n=n, right=right, lumbar=[d.level for d in discs[:5]], cerr=cerr, aerr=aerr, t_find=t_find,
                cal=cal)


def main(argv=None) -> int:
    from bench_levels_spider import calibration_rows  # a sibling script: its folder is on sys.path

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=12)
    ap.add_argument("--first-seed", type=int, default=100,
                    help="100 = the seeds looked at while tuning; use e.g. 200 for a held-out set")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)
    rows, all_ok, slices, right, cerr, aerr, tf, cal = [], 0, 0, 0, [], [], [], []
    for label, kw in cases(args.seeds, args.first_seed):
        r = run_case(kw)
        ok = r["right"] == r["n"] and r["lumbar"] == ["L5-S1", "L4-L5", "L3-L4", "L2-L3", "L1-L2"]
        all_ok += ok
        slices += r["n"]
        right += r["right"]
        cerr += r["cerr"]
        aerr += r["aerr"]
        tf.append(r["t_find"])
        cal += r["cal"]
        rows.append(f"| {label} | {r['right']}/{r['n']} | {'yes' if ok else 'no'} |")
        print(rows[-1], flush=True)
    n = len(rows)
    held_out = args.first_seed != 100
    section = SECTION + (" — held-out seeds" if held_out else " — seeds used while tuning")
    text = (
        f"{section}\n\n"
        f"Command: `python benchmarks/bench_levels_synth.py --seeds {args.seeds} --first-seed {args.first_seed}`"
        f" — {n} synthetic CDs (write_cd, seeds {args.first_seed}–{args.first_seed + n - 1}: angled blocks, a contiguous axial stack, blocks with a grade-1 "
        f"spondylolisthesis; stenosis none/moderate/severe; axial levels L2-L3 … L5-S1).\n\n"
        f"- CDs with every axial slice on its true level (and L5-S1 … L1-L2 named right): **{all_ok}/{n}**\n"
        f"- axial slices on their true level: **{right}/{slices}** ({100.0 * right / max(slices, 1):.1f} %; "
        "a slice within 1.5 mm of the true half-way surface between two discs counts either way)\n"
        f"- lumbar disc planes: centre error median {np.median(cerr):.1f} mm (max {np.max(cerr):.1f}), "
        f"normal error median {np.median(aerr):.1f}° (max {np.max(aerr):.1f}°)\n"
        f"- load_stack + find_discs time (the detector on up to five slices through the canal, fused): median {np.median(tf):.2f} s per 15-slice sagittal stack (this shared machine)\n\n"
        "Confidence calibration (every named disc; right = the true disc nearest its centre has its "
        "name; cut-off `levels.names.UNCERTAIN_BELOW` = 0.7):\n\n"
        "| confidence | discs named | right | mean confidence |\n|---|---|---|---|\n"
        + "\n".join(calibration_rows(cal)) + "\n\n"
        "| CD | slices right | all right |\n|---|---|---|\n" + "\n".join(rows) + "\n"
    )
    print(text)
    if not args.no_write:
        from bench_levels_spider import write_results  # a sibling script: its folder is on sys.path

        write_results(text, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
