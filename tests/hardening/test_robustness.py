"""Hostile and broken inputs through `inspect` and `measure` (seeded CI subset).

Every case must end with a correct result (exit 0) or one clear error line
(exit 2) — never a traceback (exit 1), a hang (> 30 s), a runaway allocation
(> 2 GB RSS), or a write outside --out. Damaged slices whose content cannot be
trusted must not be measured as if nothing happened, and the undamaged slices
must give exactly the clean study's numbers. The full run (≥ 2,000 cases) is
``benchmarks/bench_robustness.py``.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from mri_measure.testing.corrupt import (
    FILE_CORRUPTIONS,
    MUST_EXCLUDE_OR_FAIL,
    dicomdir_pointing_outside,
    junk_folder,
    make_broken_case,
    symlink_loop,
    zip_bomb,
    zip_with_traversal,
)
from mri_measure.testing.harness import Outcome, run_guarded, snapshot

KINDS = sorted(FILE_CORRUPTIONS) + ["duplicate_uid_different_pixels"]
# Every kind once per test (seeded); the ≥ 2,000-case run is benchmarks/bench_robustness.py.
N_INSPECT_CASES = len(KINDS)
N_MEASURE_CASES = len(KINDS)


def assert_clean_exit(o: Outcome, what: str) -> None:
    assert o.killed is None, f"{what}: killed by the guard ({o.killed}, {o.wall_s:.1f} s, {o.peak_rss_mb:.0f} MB)"
    assert o.returncode in (0, 2), f"{what}: exit {o.returncode}\n{o.stderr[-2000:]}"
    assert "Traceback" not in o.stderr, f"{what}: traceback\n{o.stderr[-2000:]}"
    if o.returncode == 2:
        lines = [ln for ln in o.stderr.splitlines() if ln.startswith("mri-measure: error")]
        assert len(lines) == 1, f"{what}: expected one error line, got\n{o.stderr}"


@pytest.fixture(scope="module")
def clean_cds(tmp_path_factory) -> dict[str, Path]:
    """Small valid studies (one axial block + sagittal), uncompressed and JPEG 2000."""
    from mri_measure.synth import write_cd

    base = tmp_path_factory.mktemp("clean")
    return {
        "explicit": write_cd(base / "explicit", seed=21, stenosis="moderate", levels=["L4-L5"]),
        "jpeg2000": write_cd(base / "j2k", seed=22, stenosis="none", levels=["L4-L5"], compress="jpeg2000"),
    }


@pytest.fixture(scope="module")
def clean_results(clean_cds, tmp_path_factory) -> dict[str, dict]:
    out = {}
    for name, cd in clean_cds.items():
        work = tmp_path_factory.mktemp(f"clean-out-{name}")
        o = run_guarded(["measure", str(cd), "--format", "json"], cwd=work, time_limit_s=120)
        assert o.returncode == 0, o.stderr
        out[name] = {s["sop_instance_uid"]: s for s in json.loads(o.stdout)["slices"]}
    return out


@pytest.mark.slow
def test_inspect_survives_seeded_broken_inputs(clean_cds, tmp_path):
    rng = random.Random(20261121)
    for i in range(N_INSPECT_CASES):
        kind = KINDS[i % len(KINDS)]
        src = clean_cds["jpeg2000" if kind == "corrupt_codestream" else "explicit"]
        work = tmp_path / f"case{i}"
        work.mkdir()
        case = make_broken_case(src, work, rng, kind)
        before = snapshot(work)
        o = run_guarded(["inspect", str(case.root), "--json"], cwd=work)
        assert_clean_exit(o, f"inspect {kind} #{i}")
        assert snapshot(work) == before, f"inspect {kind} #{i} wrote into the input"
        if o.returncode == 0:
            doc = json.loads(o.stdout)
            assert "studies" in doc
        shutil.rmtree(work)


def _measure_case(case, work: Path) -> Outcome:
    out = work / "out"
    before = snapshot(work)
    o = run_guarded(["measure", str(case.root), "--format", "json", "--out", str(out)], cwd=work)
    after = snapshot(work, exclude=out)
    assert after == before, f"measure {case.kind} wrote outside --out: {set(after) ^ set(before)}"
    return o


@pytest.mark.slow
def test_measure_gives_typed_error_or_correct_result(clean_cds, clean_results, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    rng = random.Random(7)
    cases = []  # made in order from one seeded generator, so the cases never change
    for i in range(N_MEASURE_CASES):
        kind = KINDS[i % len(KINDS)]
        name = "jpeg2000" if kind == "corrupt_codestream" else "explicit"
        work = tmp_path / f"m{i}"
        work.mkdir()
        cases.append((i, kind, name, work, make_broken_case(clean_cds[name], work, rng, kind)))
    # two guarded CLI processes at a time (each in its own folder): the suite's longest test halves
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda c: _measure_case(c[4], c[3]), cases))
    for (i, kind, name, work, case), o in zip(cases, outcomes):
        assert_clean_exit(o, f"measure {kind} #{i}")
        if o.returncode != 0:
            continue
        doc = json.loads(o.stdout)
        measured = {s["sop_instance_uid"]: s for s in doc["slices"]}
        clean = clean_results[name]
        for uid, s in measured.items():
            if uid in case.damaged:
                continue
            ref = clean.get(uid)
            assert ref is not None, f"{kind}: slice measured that the clean study does not have"
            for key in ("canal_area_mm2", "lf_thickness_left_mm", "lf_thickness_right_mm"):
                assert s[key] == ref[key], f"{kind} #{i}: undamaged slice changed {key}"
        for uid in case.damaged:
            if uid not in measured:
                assert any(uid in w or any(x in w.lower() for x in ("excluded", "left out", "ignored", "duplicate"))
                           for w in doc["warnings"]), \
                    f"{kind}: damaged slice dropped without a warning"
                continue
            assert kind not in MUST_EXCLUDE_OR_FAIL, f"{kind} #{i}: damaged slice was measured as if intact"
            s, ref = measured[uid], clean.get(uid)
            if ref and ref["canal_area_mm2"] and s["canal_area_mm2"]:
                assert abs(s["canal_area_mm2"] - ref["canal_area_mm2"]) <= 0.15 * ref["canal_area_mm2"], \
                    f"{kind} #{i}: damaged-but-measured slice off by more than 15 %"
        shutil.rmtree(work)


def test_zip_with_traversal_names_writes_nothing_outside(clean_cds, tmp_path):
    case = zip_with_traversal(clean_cds["explicit"], tmp_path)
    o = _measure_case(case, tmp_path)
    assert_clean_exit(o, "zip traversal")
    for p in (tmp_path.parent / "escaped_by_zip.txt", tmp_path / "escaped_by_zip.txt",
              Path("/escaped_by_zip.txt"), Path("/tmp/escaped_by_zip.txt"), Path("/tmp/absolute_by_zip.txt")):
        assert not p.exists(), p
    assert o.returncode == 0  # the DICOM members are fine: the study is measured


@pytest.mark.slow
def test_zip_bomb_is_refused_quickly(tmp_path):
    case = zip_bomb(tmp_path, size_mb=1024)
    o = run_guarded(["inspect", str(case.root)], cwd=tmp_path)
    assert_clean_exit(o, "zip bomb")
    assert o.returncode == 2


def test_symlink_loops_terminate(clean_cds, tmp_path):
    case = symlink_loop(clean_cds["explicit"], tmp_path)
    o = run_guarded(["inspect", str(case.root), "--json"], cwd=tmp_path)
    assert_clean_exit(o, "symlink loop")
    assert o.returncode == 0
    n = sum(s["n_slices"] for st in json.loads(o.stdout)["studies"] for se in st["series"] for s in se["stacks"])
    assert n == 20  # 15 sagittal + 5 axial, each counted once


def test_dicomdir_pointing_outside_root_is_not_followed(clean_cds, tmp_path):
    case = dicomdir_pointing_outside(clean_cds["explicit"], tmp_path)
    o = run_guarded(["inspect", str(case.root), "--json"], cwd=tmp_path)
    assert_clean_exit(o, "dicomdir outside")
    assert "passwd" not in o.stdout + o.stderr


def test_folder_of_ten_thousand_junk_files(tmp_path):
    case = junk_folder(tmp_path, n=10_000)
    o = run_guarded(["inspect", str(case.root)], cwd=tmp_path)
    assert_clean_exit(o, "junk folder")
    assert o.returncode == 2 and "DICOM" in o.stderr
