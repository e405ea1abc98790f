"""Speed of `mri-measure inspect` (header-only discovery) on a 2,000-file CD.

Generates a CD with a DICOMDIR (pydicom FileSet): 20 series x 100 axial
slices of 256x256 16-bit MR, some series as angled blocks, plus clutter, then
times ``discover`` in-process and the full CLI (``inspect --json``) as a
subprocess. Target: <= 10 s on the shared 2-core machine.

    python benchmarks/bench_inspect.py [--files 2000] [--keep DIR] [--append-results]

Run from the repository root with the project's environment (the editable
install, or ``PYTHONPATH=.``) so that the checkout's ``mri_measure`` is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.fileset import FileSet
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 10.0


def make_slice(study: str, series: str, sn: int, inst: int, pos, iop, pixels: bytes) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    uid = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, uid
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "BENCH^PATIENT", "BENCH001", "19700101"
    ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20240101", "120000", "1", ""
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "MR", sn, inst
    ds.SeriesDescription = "T2 TSE AX"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.EchoTime, ds.RepetitionTime, ds.ScanningSequence = 100, 4000, "SE"
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.8.498.99"
    ds.ImagePositionPatient = [round(float(v), 4) for v in pos]
    ds.ImageOrientationPatient = [round(float(v), 6) for v in iop]
    ds.PixelSpacing, ds.SliceThickness = [0.7, 0.7], 4.0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows = ds.Columns = 256
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels
    return ds


def make_cd(out: Path, n_files: int) -> Path:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 4096, (256, 256), dtype=np.uint16).tobytes()
    study = generate_uid()
    per_series = 100
    fs = FileSet()
    made = 0
    sn = 0
    while made < n_files:
        sn += 1
        series = generate_uid()
        n_blocks = 4 if sn % 2 else 1
        for i in range(min(per_series, n_files - made)):
            block = i % n_blocks
            t = np.deg2rad(-10 + 8 * block)
            iop = (1, 0, 0, 0, np.cos(t), np.sin(t))
            normal = np.cross(iop[:3], iop[3:])
            pos = np.array([0.0, 0.0, -100 + 40 * block]) + normal * 4.0 * (i // n_blocks)
            fs.add(make_slice(study, series, sn, i + 1, pos, iop, pixels))
            made += 1
    cd = out / "CD"
    fs.write(cd)
    (cd / "AUTORUN.INF").write_bytes(b"[autorun]\r\n")
    (cd / "index.htm").write_bytes(b"<html></html>")
    return cd


SECTION = "## `inspect` speed (io: header-only discovery)"
SECTION_INTRO = (
    f"{SECTION}\n\n"
    "`python benchmarks/bench_inspect.py --append-results` — a generated CD with DICOMDIR "
    "(pydicom FileSet), 20 series x 100 slices 256x256, half as 4 angled blocks, plus clutter. "
    "`discover` is in-process; `inspect` is the full CLI (`inspect --json`, subprocess, "
    "including Python start-up). Target: inspect <= 10 s.\n\n"
    "| date | input | discover | inspect CLI | target | machine |\n"
    "|---|---|---|---|---|---|\n"
)


def append_result(results: Path, line: str) -> None:
    """Add a row at the end of this benchmark's own section (created if absent)."""
    text = results.read_text(encoding="utf-8") if results.exists() else "# Benchmark results\n"
    if SECTION not in text:
        text = text.rstrip("\n") + "\n\n" + SECTION_INTRO
    start = text.index(SECTION)
    nxt = text.find("\n## ", start + len(SECTION))
    end = len(text) if nxt < 0 else nxt + 1
    body = text[start:end].rstrip("\n") + "\n" + line
    tail = text[end:]
    results.write_text(text[:start] + body + ("\n" + tail if tail else ""), encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--keep", help="generate into this folder and keep it (reused when it already holds CD/)")
    ap.add_argument("--append-results", action="store_true", help="append a line to benchmarks/RESULTS.md")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory() if not args.keep else None
    out = Path(args.keep or tmp.name)  # type: ignore[union-attr]
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.keep and (out / "CD" / "DICOMDIR").exists():
        cd = out / "CD"  # reuse the CD generated by an earlier --keep run
    else:
        cd = make_cd(out, args.files)
    t_gen = time.perf_counter() - t0
    size_mb = sum(p.stat().st_size for p in cd.rglob("*") if p.is_file()) / 1e6

    from mri_measure.io import discover

    t0 = time.perf_counter()
    d = discover(cd)
    t_discover = time.perf_counter() - t0
    n_stacks = sum(len(s.stacks) for s in d.studies)

    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "mri_measure", "inspect", str(cd), "--json"],
        capture_output=True, text=True, cwd=ROOT,
    )
    t_cli = time.perf_counter() - t0
    assert res.returncode == 0, res.stderr
    n_json = sum(len(se["stacks"]) for st in json.loads(res.stdout)["studies"] for se in st["series"])
    assert n_json == n_stacks

    ok = t_cli <= TARGET_S
    summary = {
        "files": d.n_files_scanned,
        "dicom": d.n_dicom_files,
        "stacks": n_stacks,
        "cd_mb": round(size_mb, 1),
        "generate_s": round(t_gen, 2),
        "discover_s": round(t_discover, 2),
        "inspect_cli_s": round(t_cli, 2),
        "target_s": TARGET_S,
        "ok": ok,
        "cpus": os.cpu_count(),
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
    }
    print(json.dumps(summary, indent=2))
    if args.append_results:
        line = (
            f"| {time.strftime('%Y-%m-%d')} | {d.n_files_scanned} files ({size_mb:.0f} MB), {n_stacks} stacks "
            f"| {t_discover:.2f} s | {t_cli:.2f} s | {'≤' if ok else '>'} {TARGET_S:g} s "
            f"| {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} |\n"
        )
        append_result(ROOT / "benchmarks" / "RESULTS.md", line)
    if tmp is not None:
        tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
