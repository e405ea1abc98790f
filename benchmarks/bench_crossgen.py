"""Cross-generator benchmark (issue 18): the real CLI on an independent phantom.

``benchmarks/crossgen`` is a second synthetic axial lumbar T2 generator that
shares no code with ``mri_measure.synth`` / ``mri_measure.training`` and that
training never uses. This script draws ``--n-levels`` disc levels (a third
each at 0.45, 0.6 and 0.8 mm pixels), each a block of 3 parallel slices
through one disc with its own tilt against the anatomy; writes them as real
DICOM (one axial series per study, up to five angled blocks per series);
runs ``python -m mri_measure measure STUDY --out OUT --level N=LEVEL …``
and compares ``measurements.json`` with the exact truth (per level: minimum
dural-sac area over the block, maximum LF thickness per side).

    python benchmarks/bench_crossgen.py [--model DIR] [--n-levels 60] [--seed 0] \\
        [--out crossgen.json] [--cache DIR] [--append-results]

Generated studies are cached under ``--cache`` (default: a folder in the
temp dir named by seed, level count and a hash of the generator's source),
so a rerun after retraining only runs the CLI.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from crossgen.phantom import render_level, sample_acquisition  # noqa: E402
from results_md import replace_section  # noqa: E402

from tests.io.dicom_factory import mr_slice, save  # noqa: E402

SPACINGS_MM = (0.45, 0.6, 0.8)
LEVELS = ("L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1")
#: block angle (about patient left-right) of each level's block, degrees
LORDOSIS_DEG = {"L1-L2": -4.0, "L2-L3": 0.0, "L3-L4": 6.0, "L4-L5": 13.0, "L5-S1": 24.0}
CANAL_MM2, LF_MM = 100.0, 2.5
DEFAULT_MODEL = ROOT / "models" / "lumbar-axial-unet"


#: bump when plan() or write_study() change what is generated
STUDY_LAYOUT = "2"


def generator_hash() -> str:
    """Names a generated set: the generator's source and the study layout."""
    h = hashlib.sha256(STUDY_LAYOUT.encode())
    for f in sorted((Path(__file__).resolve().parent / "crossgen").glob("*.py")):
        if f.name != "figure.py":
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def plan(n_levels: int, seed: int) -> list[dict]:
    """Studies: each one pixel spacing, up to five levels (head to feet)."""
    per = {s: [] for s in SPACINGS_MM}
    for i in range(n_levels):
        per[SPACINGS_MM[i % 3]].append(i)
    studies = []
    for sp, idx in per.items():
        for j in range(0, len(idx), len(LEVELS)):
            chunk = idx[j:j + len(LEVELS)]
            studies.append({"spacing_mm": sp, "levels": [(LEVELS[k], seed * 100003 + i) for k, i in enumerate(chunk)],
                            "seed": seed * 7919 + len(studies)})
    return studies


def write_study(study: dict, folder: Path) -> list[dict]:
    """Render the study's levels, write one DICOM series, return the truth."""
    rng = np.random.default_rng(study["seed"])
    sacq = sample_acquisition(rng, study["spacing_mm"])
    suid = f"2.25.{int(rng.integers(1, 2**62))}"
    ser = f"2.25.{int(rng.integers(1, 2**62))}"
    truth, inst = [], 0
    for j, (level, lseed) in enumerate(study["levels"]):
        case = render_level(level, study["spacing_mm"], lseed, study_acq=sacq)
        acq = case.acq
        # within ±1.2° of the level's angle: neighbouring blocks of one series stay > 1° apart
        # (the loader groups slices within 1° into one stack)
        t = np.deg2rad(LORDOSIS_DEG[level] + np.random.default_rng(lseed + 1).uniform(-1.2, 1.2))
        row_dir, col_dir = np.array([1.0, 0, 0]), np.array([0, np.cos(t), np.sin(t)])
        normal = np.cross(row_dir, col_dir)
        centre = np.array([0.0, 20.0, 90.0 - 38.0 * j])
        slices = []
        for s in case.slices:
            inst += 1
            c = centre + s.offset_mm * normal
            ipp = c - acq.canal_rc[1] * acq.spacing_mm * row_dir - acq.canal_rc[0] * acq.spacing_mm * col_dir
            ds = mr_slice(study_uid=suid, series_uid=ser, position=ipp, orientation=(*row_dir, *col_dir),
                          spacing=(acq.spacing_mm, acq.spacing_mm), rows=acq.rows, cols=acq.cols,
                          pixels=s.image, instance_number=inst, thickness=round(acq.thickness_mm, 2),
                          series_number=3, description="T2 TSE AX")
            save(ds, folder / f"IM{inst:04d}.dcm")
            np.save(folder.parent / f"{folder.name}_labels_{inst:04d}.npy", s.labels)
            slices.append({"instance": inst, "canal_area_mm2": s.canal_area_mm2,
                           "lf_left_mm": s.lf_left_mm, "lf_right_mm": s.lf_right_mm})
        truth.append({"level": level, "seed": lseed, "spacing_mm": acq.spacing_mm,
                      "tilt_deg": acq.tilt_deg, "snr": acq.snr, "slices": slices, **case.truth()})
    return truth


def generate(n_levels: int, seed: int, cache: Path) -> tuple[list[dict], float, bool]:
    """(studies with their truth, seconds the generation took, whether it came from the cache)."""
    manifest = cache / "manifest.json"
    key = {"n_levels": n_levels, "seed": seed, "generator": generator_hash()}
    if manifest.exists():
        m = json.loads(manifest.read_text())
        if m.get("key") == key:
            return m["studies"], float(m.get("generate_s", 0.0)), True
    cache.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    studies = []
    for k, st in enumerate(plan(n_levels, seed)):
        folder = cache / f"study{k:02d}"
        t0 = time.perf_counter()
        truth = write_study(st, folder)
        studies.append({"folder": folder.name, "spacing_mm": st["spacing_mm"], "levels": truth})
        print(f"  generated study {k} ({st['spacing_mm']} mm, {len(truth)} levels) in {time.perf_counter() - t0:.1f} s",
              flush=True)
    gen_s = time.perf_counter() - t0
    manifest.write_text(json.dumps({"key": key, "generate_s": round(gen_s, 1), "studies": studies}, indent=1))
    return studies, gen_s, False


#: flags that only restate that a value is missing: not a reason
TAUTOLOGIES = frozenset({"no_canal_found", "no_lf_found"})


def _reason(level_out: dict | None, slices_out: list[dict]) -> str | None:
    """A stated reason for a missing value: any non-empty *reason* /
    not-measurable / quality-verdict field on the level or its slices, or a
    quality flag other than the bare "nothing found" ones."""
    texts: list[str] = []
    for d in ([level_out] if level_out else []) + slices_out:
        for k, v in d.items():
            if k == "borderline_reasons" or not v:
                continue
            if k == "quality_flags":
                texts += [f for f in v if f not in TAUTOLOGIES]
            elif "reason" in k or "measurable" in k or k.startswith("quality"):
                texts.append(v if isinstance(v, str) else f"{k}={v}")
    return "; ".join(dict.fromkeys(str(t) for t in texts)) or None


def run_cli(study_dir: Path, out_dir: Path, model: Path, levels: list[dict]) -> tuple[dict | None, str]:
    args = [sys.executable, "-m", "mri_measure", "measure", str(study_dir), "--out", str(out_dir),
            "--overwrite", "--format", "json", "--model", str(model)]
    for lv in levels:
        for s in lv["slices"]:
            args += ["--level", f"{s['instance']}={lv['level']}"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "plugins")]))
    p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    mj = out_dir / "measurements.json"
    if p.returncode != 0 or not mj.exists():
        last = (p.stderr.strip().splitlines() or ["(no message)"])[-1]
        return None, f"CLI exit {p.returncode}: {last[:200]}"
    return json.loads(mj.read_text()), ""


def compare(studies: list[dict], outputs: dict[str, tuple[dict | None, str]]) -> list[dict]:
    rows = []
    for st in studies:
        out, err = outputs[st["folder"]]
        by_level = {lv["level"]: lv for lv in (out or {}).get("levels", [])}
        by_inst = {s.get("instance_number"): s for s in (out or {}).get("slices", [])}
        for tr in st["levels"]:
            lo = by_level.get(tr["level"])
            so = [by_inst[s["instance"]] for s in tr["slices"] if s["instance"] in by_inst]
            reason = err or _reason(lo, so)
            pred = {
                "canal_area_mm2": (lo or {}).get("canal_area_mm2"),
                "lf_left_mm": (lo or {}).get("lf_thickness_left_mm"),
                "lf_right_mm": (lo or {}).get("lf_thickness_right_mm"),
                "canal_narrowed": (lo or {}).get("canal_narrowed"),
                "lf_thickened": (lo or {}).get("lf_thickened"),
            }
            rows.append({"study": st["folder"], "level": tr["level"], "spacing_mm": tr["spacing_mm"],
                         "tilt_deg": round(tr["tilt_deg"], 1), "snr": round(tr["snr"], 1),
                         "truth": {k: round(tr[k], 3) for k in ("canal_area_mm2", "lf_left_mm", "lf_right_mm")},
                         "pred": pred, "reason": reason})
    return rows


def _mae(pairs):
    e = [abs(p - t) for p, t in pairs if p is not None]
    return (round(float(np.mean(e)), 2) if e else None), len(e)


def summarise(rows: list[dict]) -> dict:
    def block(rs):
        if not rs:
            return {"levels": 0}
        area = [(r["pred"]["canal_area_mm2"], r["truth"]["canal_area_mm2"]) for r in rs]
        lfl = [(r["pred"]["lf_left_mm"], r["truth"]["lf_left_mm"]) for r in rs]
        lfr = [(r["pred"]["lf_right_mm"], r["truth"]["lf_right_mm"]) for r in rs]
        a_mae, a_n = _mae(area)
        l_mae, l_n = _mae(lfl)
        r_mae, r_n = _mae(lfr)
        both, both_n = _mae(lfl + lfr)
        bias = [p - t for p, t in area if p is not None]
        missing = [(r, k) for r in rs for k in ("canal_area_mm2", "lf_left_mm", "lf_right_mm") if r["pred"][k] is None]
        agree_c = agree_l = agree_both = 0
        for r in rs:
            t_narrow = r["truth"]["canal_area_mm2"] <= CANAL_MM2
            t_thick = max(r["truth"]["lf_left_mm"], r["truth"]["lf_right_mm"]) >= LF_MM
            pc, pl = r["pred"]["canal_narrowed"], r["pred"]["lf_thickened"]
            if pc is None and r["pred"]["canal_area_mm2"] is not None:
                pc = r["pred"]["canal_area_mm2"] <= CANAL_MM2
            if pl is None and None not in (r["pred"]["lf_left_mm"], r["pred"]["lf_right_mm"]):
                pl = max(r["pred"]["lf_left_mm"], r["pred"]["lf_right_mm"]) >= LF_MM
            agree_c += pc is not None and bool(pc) == t_narrow
            agree_l += pl is not None and bool(pl) == t_thick
            agree_both += pc is not None and pl is not None and bool(pc) == t_narrow and bool(pl) == t_thick
        n = len(rs)
        return {
            "levels": n,
            "canal_mae_mm2": a_mae, "canal_measured": a_n,
            "canal_bias_mm2": round(float(np.mean(bias)), 2) if bias else None,
            "lf_left_mae_mm": l_mae, "lf_right_mae_mm": r_mae, "lf_mae_mm": both, "lf_measured": both_n,
            "agree_canal_narrowed_pct": round(100 * agree_c / n, 1),
            "agree_lf_thickened_pct": round(100 * agree_l / n, 1),
            "agree_both_pct": round(100 * agree_both / n, 1),
            "missing_with_reason": sum(1 for r, _ in missing if r["reason"]),
            "missing_without_reason": sum(1 for r, _ in missing if not r["reason"]),
        }

    out = {"all": block(rows)}
    for sp in SPACINGS_MM:
        out[f"spacing_{sp}mm"] = block([r for r in rows if r["spacing_mm"] == sp])
    out["stenotic"] = block([r for r in rows if r["truth"]["canal_area_mm2"] <= CANAL_MM2])
    out["not_stenotic"] = block([r for r in rows if r["truth"]["canal_area_mm2"] > CANAL_MM2])
    return out


COLS = (("levels", "n"), ("canal_mae_mm2", "canal MAE mm²"), ("canal_bias_mm2", "bias mm²"),
        ("lf_mae_mm", "LF MAE mm"), ("lf_left_mae_mm", "LF L MAE mm"), ("lf_right_mae_mm", "LF R MAE mm"),
        ("agree_canal_narrowed_pct", "narrowed agree %"), ("agree_lf_thickened_pct", "LF≥2.5 agree %"),
        ("agree_both_pct", "both agree %"), ("missing_with_reason", "missing (reason)"),
        ("missing_without_reason", "missing (no reason)"))


def table(summary: dict) -> str:
    head = "| subset | " + " | ".join(c for _, c in COLS) + " |"
    lines = [head, "|" + "---|" * (len(COLS) + 1)]
    for name, b in summary.items():
        lines.append(f"| {name} | " + " | ".join("–" if b.get(k) is None else str(b.get(k)) for k, _ in COLS) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--n-levels", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("crossgen.json"))
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--append-results", action="store_true", help="write the table into benchmarks/RESULTS.md")
    a = ap.parse_args(argv)
    if not (a.model / "metadata.json").exists():
        print(f"error: no model bundle at {a.model}", file=sys.stderr)
        return 2
    if a.n_levels < 1:
        print("error: --n-levels must be ≥ 1", file=sys.stderr)
        return 2
    cache = a.cache or Path(tempfile.gettempdir()) / f"mri_measure_crossgen_s{a.seed}_n{a.n_levels}_{generator_hash()}"
    studies, t_gen, cached = generate(a.n_levels, a.seed, cache)
    outputs = {}
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for st in studies:
            outputs[st["folder"]] = run_cli(cache / st["folder"], Path(tmp) / st["folder"], a.model, st["levels"])
            print(f"  measured {st['folder']}" + (f" — {outputs[st['folder']][1]}" if outputs[st["folder"]][1] else ""),
                  flush=True)
    t_cli = time.perf_counter() - t1
    rows = compare(studies, outputs)
    summary = summarise(rows)
    result = {"model": str(a.model.resolve().relative_to(ROOT)) if a.model.resolve().is_relative_to(ROOT) else a.model.name,
              "n_levels": a.n_levels, "seed": a.seed, "generator": generator_hash(),
              "thresholds": {"canal_narrowed_mm2": CANAL_MM2, "lf_thickened_mm": LF_MM},
              "summary": summary, "levels": rows,
              "timing_s": {"generate": round(t_gen, 1), "cli": round(t_cli, 1)}, "generation_cached": cached}
    a.out.write_text(json.dumps(result, indent=1))
    print(table(summary))
    print(f"generate {t_gen:.0f} s ({'from the cache' if cached else 'cached for reruns'}: {cache}), "
          f"CLI {t_cli:.0f} s; wrote {a.out}")
    if a.append_results:
        replace_section("bench_crossgen", results_block(result))
    return 0


def results_block(result: dict) -> str:
    """The RESULTS.md section for one run (``result`` as written to --out)."""
    cmd = (f"python benchmarks/bench_crossgen.py --model {result['model']} --n-levels {result['n_levels']} "
           f"--seed {result['seed']} --out crossgen.json --append-results")
    t = result["timing_s"]
    return ("<!-- bench_crossgen:start -->\n## Cross-generator (benchmarks/crossgen, issue 18)\n\n"
            f"    {cmd}\n\n"
            f"Model `{result['model']}`, generator `{result['generator']}`; {result['n_levels']} levels "
            "(a third each at 0.45 / 0.6 / 0.8 mm), 3 slices per level, truth per level = minimum dural-sac area "
            "over the block and maximum LF per side; calls: narrowed ≤ 100 mm², LF thickened ≥ 2.5 mm (a missing "
            "value counts as disagreement); missing = canal, LF-left and LF-right values absent from "
            "measurements.json, with or without a stated reason (a bare no_canal_found / no_lf_found flag is "
            f"not a reason). Generation {t['generate']:.0f} s once (then cached), CLI {t['cli']:.0f} s "
            "(2 shared CPU cores).\n\n"
            f"{table(result['summary'])}\n\n<!-- bench_crossgen:end -->")


if __name__ == "__main__":
    sys.exit(main())
