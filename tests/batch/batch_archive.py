"""Builds small test archives of synthetic studies for the batch tests.

Studies are real DICOM CDs written by :func:`mri_measure.synth.write_cd`
(generated once per session, then copied per test), arranged the ways
archives come: CD folders, a zip, nested folders, a truncated study,
clutter, and a study split over two top-level folders.
"""

from __future__ import annotations

import json
import shutil
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pydicom

#: PHI written into every synthetic study: it must never reach an output.
PHI = {
    "PatientName": "TESTPATIENT^SECRETNAME",
    "PatientID": "PID-77341-XYZ",
    "PatientBirthDate": "19420817",
}


def write_study(out_dir: Path, seed: int, *, stenosis: str = "moderate", sagittal: bool = False,
                levels: tuple[str, ...] | None = ("L4-L5",)) -> Path:
    """One synthetic CD under ``out_dir`` (``out_dir/CD`` + truth files beside)."""
    from mri_measure.synth import write_cd

    kwargs = dict(seed=seed, stenosis=stenosis, sagittal=sagittal, phi=dict(PHI))
    if levels is not None:
        kwargs["levels"] = list(levels)
    write_cd(out_dir, **kwargs)
    return out_dir


def study_uid_of(folder: Path) -> str:
    """StudyInstanceUID of the first DICOM file found under ``folder``."""
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name.upper() != "DICOMDIR":
            try:
                ds = pydicom.dcmread(p, stop_before_pixels=True)
            except Exception:
                continue
            if "StudyInstanceUID" in ds:
                return str(ds.StudyInstanceUID)
    raise AssertionError("no DICOM under the folder")


def axial_files(folder: Path) -> list[Path]:
    """Files of the axial T2 images under ``folder`` (by orientation)."""
    out = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.name.upper() == "DICOMDIR":
            continue
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True)
        except Exception:
            continue
        iop = getattr(ds, "ImageOrientationPatient", None)
        if iop is None:
            continue
        # normal = row x col; axial when its z component dominates
        r, c = [float(v) for v in iop[:3]], [float(v) for v in iop[3:6]]
        n = (r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0])
        if abs(n[2]) > 0.8:
            out.append(p)
    return out


def truncate(paths: list[Path], keep_fraction: float = 0.5) -> None:
    for p in paths:
        size = p.stat().st_size
        with open(p, "r+b") as fh:
            fh.truncate(int(size * keep_fraction))


def zip_folder(folder: Path, archive: Path) -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(folder).as_posix())
    return archive


@dataclass
class Archive:
    root: Path
    truth_dir: Path  # where the truth_labels.npz of every study lie (outside ROOT)
    uids: dict[str, str] = field(default_factory=dict)  # role -> StudyInstanceUID
    folder_names: list[str] = field(default_factory=list)  # names that must never be output

    def cli(self) -> list[str]:
        """The command line of `mri-measure` with the truth segmenter of this
        archive in `batch` (:mod:`mri_measure.testing.cli`); arguments follow."""
        return [sys.executable, "-m", "mri_measure.testing.cli", "--truth", str(self.truth_dir)]


def move_truth(study_dir: Path, truth_dir: Path, name: str) -> None:
    """Keep ground truth outside ROOT (an archive has none); the truth
    segmenter finds every truth_labels.npz under ``truth_dir``."""
    dest = truth_dir / name
    dest.mkdir(parents=True, exist_ok=True)
    for f in ("truth.json", "truth_labels.npz"):
        if (study_dir / f).exists():
            shutil.move(str(study_dir / f), str(dest / f))


def build_pool(base: Path, n: int, *, first_seed: int = 100) -> list[Path]:
    """``n`` small synthetic studies (one axial block each) written once."""
    out = []
    for i in range(n):
        d = base / f"pool{i}"
        if not (d / "CD").exists():
            write_study(d, first_seed + i, stenosis=("none", "moderate", "severe")[i % 3])
        out.append(d)
    return out


def copy_study(src: Path, dest_cd: Path, truth_dir: Path, name: str) -> str:
    shutil.copytree(src / "CD", dest_cd)
    dest = truth_dir / name
    dest.mkdir(parents=True, exist_ok=True)
    for f in ("truth.json", "truth_labels.npz"):
        if (src / f).exists():
            shutil.copy2(src / f, dest / f)
    return study_uid_of(dest_cd)


def read_results_csv(out: Path) -> list[dict[str, str]]:
    import csv

    with open(out / "results.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def read_errors_csv(out: Path) -> list[dict[str, str]]:
    import csv

    with open(out / "errors.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def all_output_text(out: Path) -> str:
    """Every text output concatenated (parquet read back as text too)."""
    import pyarrow.parquet as pq

    parts = []
    for p in sorted(out.rglob("*")):
        if p.is_file() and p.suffix != ".parquet":
            parts.append(p.read_text(encoding="utf-8", errors="replace"))
    if (out / "results.parquet").exists():
        parts.append(json.dumps(pq.read_table(out / "results.parquet").to_pylist()))
    return "\n".join(parts)


def make_archive(tmp: Path, pool: list[Path], roles: list[str]) -> Archive:
    """Assemble ROOT from pool studies; ``roles`` picks which kinds to include:
    good (CD folder named like a patient), zip, nested, truncated, crash, hang,
    clutter."""
    root, truth = tmp / "ROOT", tmp / "truth"
    root.mkdir()
    truth.mkdir()
    arc = Archive(root, truth)
    it = iter(pool)
    for role in roles:
        if role == "clutter":
            notes = root / "notes_DOE_JOHN"
            notes.mkdir()
            (notes / "readme.txt").write_text("scanned by the front desk\n")
            (notes / "AUTORUN.INF").write_text("[autorun]\nopen=viewer.exe\n")
            (notes / "viewer.exe").write_bytes(b"MZ" + bytes(200))
            arc.folder_names.append(notes.name)
            continue
        src = next(it)
        if role == "good":
            name = "SMITH_JANE_19420817"
            arc.uids[role] = copy_study(src, root / name / "CD", truth, role)
        elif role == "zip":
            name = "JONES_BOB.zip"
            staging = tmp / "staging-zip"
            arc.uids[role] = copy_study(src, staging / "CD", truth, role)
            zip_folder(staging, root / name)
            shutil.rmtree(staging)
        elif role == "nested":
            name = "archive_2019"
            arc.uids[role] = copy_study(src, root / name / "ward7" / "BROWN_ANN" / "disk1", truth, role)
        elif role == "truncated":
            name = "trunc_GREEN"
            arc.uids[role] = copy_study(src, root / name / "CD", truth, role)
            files = axial_files(root / name)
            assert files, "the study has axial images to truncate"
            truncate(files)
        elif role == "split":
            # one study over two top-level folders: every other image moved to a later unit
            name = "split_KING_part1"
            arc.uids[role] = copy_study(src, root / name / "CD", truth, role)
            files = sorted(p for p in (root / name).rglob("*") if p.is_file() and p.name != "DICOMDIR")
            later = root / "zz_split_KING_part2"
            later.mkdir()
            for i, p in enumerate(files[::2]):
                shutil.move(str(p), str(later / f"img{i:03d}"))
            arc.folder_names.append(later.name)
        elif role in ("crash", "hang"):
            name = f"{role}_WHITE"
            arc.uids[role] = copy_study(src, root / name / "CD", truth, role)
        else:  # pragma: no cover - test typo
            raise AssertionError(role)
        arc.folder_names.append(name)
    return arc
