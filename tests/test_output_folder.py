"""The output folder: checked before any work, written atomically (staged
beside ``--out`` and swapped in), locked against concurrent runs, and never
silently over another study's results (issue 16).

Real runs on the sample CDs; real file systems for the failures (a tmpfs that
is full or mounted read-only — root ignores permission bits, not a read-only
mount); the concurrent runs are real processes.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pydicom
import pytest

from mri_measure.atomic import OutputFolder
from mri_measure.errors import IntegrityError, OutputError
from mri_measure.pipeline import analyse_study, write_outputs
from mri_measure.report import write_all
from mri_measure.testing.truth import TruthSegmenter

ROOT = Path(__file__).resolve().parents[1]
NORMAL = ROOT / "sample_dicoms" / "normal" / "CD"
STENOSIS = ROOT / "sample_dicoms" / "stenosis_L4-L5" / "CD"
OUTPUT_NAMES = {"measurements.json", "measurements.csv", "report.html", "report.pdf", "seg.dcm", "sr.dcm"}


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mri_measure", *args], capture_output=True,
                          text=True, timeout=timeout)


def error_lines(res: subprocess.CompletedProcess) -> list[str]:
    return [ln for ln in res.stderr.splitlines() if ln.startswith("mri-measure: error")]


def hidden_siblings(out: Path) -> list[str]:
    """Staging folders, lock files, set-aside folders left beside ``out``."""
    if not out.parent.exists():
        return []
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def assert_one_study(out: Path) -> str:
    """``out`` holds the complete outputs of one study; returns its UID."""
    names = {p.name for p in out.iterdir()}
    assert OUTPUT_NAMES <= names, names
    doc = json.loads((out / "measurements.json").read_text())
    uid = doc["study"]["study_instance_uid"]
    for dcm in sorted(out.glob("*.dcm")):
        assert pydicom.dcmread(dcm, stop_before_pixels=True).StudyInstanceUID == uid, dcm.name
    sops = {s["sop_instance_uid"] for s in doc["slices"]}
    with open(out / "measurements.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["level"] for r in rows] == [lv["level"] for lv in doc["levels"]]
    assert all(r["representative_sop_instance_uid"] in sops for r in rows)
    html = (out / "report.html").read_text(encoding="utf-8")
    for lv in doc["levels"]:
        if lv["canal_area_mm2"] is not None:
            assert f"{lv['canal_area_mm2']:.1f}" in html, lv["level"]
    assert (out / "report.pdf").read_bytes().startswith(b"%PDF")
    return uid


def study_uid(cd: Path) -> str:
    first = next(p for p in sorted(cd.rglob("*")) if p.is_file() and p.name != "DICOMDIR")
    return pydicom.dcmread(first, stop_before_pixels=True).StudyInstanceUID


@pytest.fixture
def tmpfs(tmp_path):
    """``mount(size, read_only=False) -> Path``: a real small file system."""
    mounted: list[Path] = []

    def mount(size: str, read_only: bool = False) -> Path:
        mnt = tmp_path / f"fs{len(mounted)}"
        mnt.mkdir()
        res = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
                             capture_output=True, text=True)
        if res.returncode:
            pytest.skip(f"mounting a tmpfs needs root with CAP_SYS_ADMIN: {res.stderr.strip()}")
        mounted.append(mnt)
        (mnt / "results").mkdir()
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        return mnt

    yield mount
    for mnt in mounted:
        subprocess.run(["umount", str(mnt)], check=False)


@pytest.fixture
def not_dicom(tmp_path) -> Path:
    """An input that fails at once if it is looked at: the --out error coming
    first proves the output folder was checked before any input was read."""
    d = tmp_path / "not-dicom"
    d.mkdir()
    (d / "AUTORUN.INF").write_text("[autorun]\n")
    return d


# --------------------------------------------------------------------------- before any work


@pytest.mark.parametrize("case", ["is_file", "under_file", "read_only", "disk_full"])
def test_unusable_out_exit_2_one_line_before_any_work(case, tmp_path, tmpfs, not_dicom):
    if case == "is_file":
        out = tmp_path / "out"
        out.write_text("a file")
        needle = "is a file, not a folder"
    elif case == "under_file":
        (tmp_path / "notes.txt").write_text("a file")
        out = tmp_path / "notes.txt" / "sub" / "out"
        needle = "a part of this path is a file"
    elif case == "read_only":
        out = tmpfs("1m", read_only=True) / "results" / "out"
        needle = "Read-only file system"
    else:
        out = tmpfs("1m") / "results" / "out"
        needle = "MB free"
    t0 = time.perf_counter()
    res = run_cli("measure", str(not_dicom), "--out", str(out))
    elapsed = time.perf_counter() - t0
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = error_lines(res)
    assert len(lines) == 1 and res.stderr.strip().count("\n") == 0, res.stderr
    assert lines[0].startswith(f"mri-measure: error: --out {out}") and needle in lines[0], lines[0]
    assert str(not_dicom) not in res.stderr  # never an input path
    if case != "is_file":
        assert not out.exists()
    assert hidden_siblings(out) == []
    assert elapsed < 60, elapsed  # (no analysis: the input is not even DICOM)


def test_busy_out_exit_2_before_any_work(tmp_path, not_dicom):
    out = tmp_path / "out"
    with OutputFolder(out) as holder:  # a run in progress, from this process
        res = run_cli("measure", str(not_dicom), "--out", str(out))
        assert res.returncode == 2, res.stderr
        (line,) = error_lines(res)
        assert "another mri-measure run is writing to --out" in line, line
        holder.check_study("1.2.3")
        (holder.staging / "measurements.json").write_text('{"study": {"study_instance_uid": "1.2.3"}}')
    assert [p.name for p in out.iterdir()] == ["measurements.json"]  # the holder's work survived
    assert hidden_siblings(out) == []


def _fake_results(out: Path, uid: str) -> dict[str, bytes]:
    out.mkdir(parents=True)
    files = {
        "measurements.json": json.dumps({"study": {"study_instance_uid": uid}}).encode(),
        "report.html": b"<html>old</html>",
        "seg_2.dcm": b"old",
        "sr.dcm": b"old",
    }
    for name, data in files.items():
        (out / name).write_bytes(data)
    return files


def test_another_studys_results_refused_before_segmentation(tmp_path):
    out = tmp_path / "out"
    before = _fake_results(out, "1.2.826.0.1.3680043.8.498.1")
    # a model that does not exist: reaching the segmentation would fail on it instead
    res = run_cli("measure", str(STENOSIS), "--out", str(out), "--model", str(tmp_path / "no-model"))
    assert res.returncode == 2, res.stderr
    (line,) = error_lines(res)
    assert "holds the results of another study" in line and "--overwrite" in line, line
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert hidden_siblings(out) == []


def test_foreign_files_in_out_are_never_replaced(tmp_path, not_dicom):
    out = tmp_path / "home"
    out.mkdir()
    (out / "thesis.docx").write_bytes(b"precious")
    res = run_cli("measure", str(not_dicom), "--out", str(out), "--overwrite")
    assert res.returncode == 2, res.stderr
    (line,) = error_lines(res)
    assert "not mri-measure results" in line, line
    assert (out / "thesis.docx").read_bytes() == b"precious"


def test_overwrite_replaces_another_studys_results_whole(tmp_path):
    """The real CLI and model: --overwrite swaps in a folder of this study only
    (the old seg_2.dcm does not survive, as it would with per-file writes)."""
    out = tmp_path / "out"
    _fake_results(out, "1.2.826.0.1.3680043.8.498.1")
    res = run_cli("measure", str(STENOSIS), "--out", str(out), "--overwrite")
    assert res.returncode == 0, res.stderr
    assert "replaced another study's results" in res.stderr
    assert assert_one_study(out) == study_uid(STENOSIS)
    assert "old" not in (out / "report.html").read_text(encoding="utf-8")[:100]
    assert not (out / "seg_2.dcm").exists() or pydicom.dcmread(out / "seg_2.dcm").Modality == "SEG"
    assert hidden_siblings(out) == []


# --------------------------------------------------------------------------- failures while writing


@pytest.fixture(scope="module")
def normal_analysis(tmp_path_factory):
    """The normal sample analysed from a copy of its CD (tests delete the copy)."""
    cd = tmp_path_factory.mktemp("normal") / "CD"
    shutil.copytree(NORMAL, cd)
    seg = TruthSegmenter.from_npz(NORMAL.parent / "truth_labels.npz")
    return cd, analyse_study(cd, segmenter=seg)


def test_same_study_replaced_and_a_failing_writer_leaves_no_partial_folder(
    normal_analysis, tmp_path, caplog
):
    cd, analysis = normal_analysis
    out = tmp_path / "out"
    write_outputs(analysis, out)
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    uid = assert_one_study(out)

    shutil.rmtree(cd)  # the SEG writer re-reads the source headers: it fails for real
    try:
        with pytest.raises(IntegrityError):
            write_outputs(analysis, out)  # after JSON/CSV/HTML/PDF were written (staged)
        assert {p.name: p.read_bytes() for p in out.iterdir()} == first
        fresh = tmp_path / "fresh"
        with pytest.raises(IntegrityError):
            write_outputs(analysis, fresh)
        assert not fresh.exists()
        assert hidden_siblings(out) == [] and hidden_siblings(fresh) == []
    finally:
        shutil.copytree(NORMAL, cd)

    caplog.set_level("WARNING", logger="mri_measure")
    written = write_outputs(analysis, out)  # same study again: replaced, with a warning
    assert "replaced the earlier results of this study" in caplog.text
    assert assert_one_study(out) == uid
    assert all(p.parent == out and p.is_file() for p in written.values())
    assert hidden_siblings(out) == []


def test_disk_full_while_writing_leaves_nothing(normal_analysis, tmpfs):
    """A file system that fills up half-way (outputs ≈ 1.8 MB on a 1 MB tmpfs;
    the free-space preflight is lowered to let the writers start)."""
    _, analysis = normal_analysis
    mnt = tmpfs("1m")
    out = mnt / "results" / "out"
    with pytest.raises(OutputError) as err:
        with OutputFolder(out, min_free_bytes=0) as folder:
            folder.check_study(analysis.report.study["study_instance_uid"])
            write_all(analysis, folder.staging)
    assert "No space left on device" in str(err.value) and "nothing was written" in str(err.value)
    assert [p.name for p in mnt.iterdir()] == ["results"]
    assert list((mnt / "results").iterdir()) == []


# --------------------------------------------------------------------------- concurrency

RUNNER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import mri_measure.io, mri_measure.report, mri_measure.levels  # imports before the start line
    from mri_measure.errors import MriMeasureError
    from mri_measure.pipeline import run_study
    from mri_measure.testing.truth import TruthSegmenter

    cd, out, ready, go = map(Path, sys.argv[1:5])
    seg = TruthSegmenter.from_npz(cd.parent / "truth_labels.npz")
    ready.touch()
    while not go.exists():
        time.sleep(0.005)
    try:
        run_study(cd, out_dir=out, overwrite=True, segmenter=seg)
    except MriMeasureError as exc:
        print(f"mri-measure: error: {exc}", file=sys.stderr)
        sys.exit(2)
    """
)


def test_four_concurrent_runs_one_study_in_out(tmp_path):
    """Two studies, four processes started together on one --out (with
    --overwrite, so only the lock keeps them apart): one writes, the others
    exit 2 at once; the folder holds that one study's complete outputs."""
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    out, go = tmp_path / "out", tmp_path / "go"
    cds = [NORMAL, STENOSIS, NORMAL, STENOSIS]
    procs = []
    for k, cd in enumerate(cds):
        procs.append(subprocess.Popen(
            [sys.executable, str(script), str(cd), str(out), str(tmp_path / f"ready{k}"), str(go)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    deadline = time.monotonic() + 300
    while not all((tmp_path / f"ready{k}").exists() for k in range(4)):
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    go.touch()
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    codes = sorted(rc for rc, _ in results)
    assert codes == [0, 2, 2, 2], results
    for rc, err in results:
        if rc == 2:
            assert "another mri-measure run is writing to --out" in err, err
    winner = cds[[rc for rc, _ in results].index(0)]
    assert assert_one_study(out) == study_uid(winner)
    assert hidden_siblings(out) == []


def test_a_killed_run_leaves_out_untouched_and_the_next_run_cleans_up(tmp_path):
    """SIGKILL while staging: no cleanup code runs; the lock dies with the
    process, and the next run removes the orphaned staging folder."""
    out = tmp_path / "out"
    before = _fake_results(out, "1.2.3")
    script = textwrap.dedent(
        """
        import sys, time
        from mri_measure.atomic import OutputFolder
        folder = OutputFolder(sys.argv[1]).open()
        (folder.staging / "measurements.json").write_text("half")
        print("staged", flush=True)
        time.sleep(600)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "staged"
        with pytest.raises(OutputError, match="another mri-measure run is writing"):
            OutputFolder(out).open()
    finally:
        proc.kill()
        proc.wait(timeout=60)
    left = hidden_siblings(out)
    assert any(n.startswith(".out.tmp-") for n in left), left
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    with OutputFolder(out) as folder:
        assert hidden_siblings(out) == [".out.lock", folder.staging.name]
        folder.check_study("1.2.3")
        (folder.staging / "measurements.json").write_text('{"study": {"study_instance_uid": "1.2.3"}}')
    assert hidden_siblings(out) == []
    assert [p.name for p in out.iterdir()] == ["measurements.json"]
