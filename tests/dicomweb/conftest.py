"""Session fixtures: three tiny synthetic studies for batch, on the one real Orthanc
(``orthanc``, ``sample_on_pacs``: tests/conftest.py, shared with the napari tests)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_dicoms" / "normal"
N_BATCH = 3


@pytest.fixture(scope="session")
def batch_on_pacs(orthanc, tmp_path_factory) -> tuple[Path, list[str], str]:
    """Three one-block studies dated 2025-01-0N, described ``BATCH PHANTOM N``, and a
    fourth (2025-01-09, ``BATCH PHANTOM BAD``) whose images are coronal: no axial T2
    to measure. (The folder of their truth_labels.npz, the good StudyInstanceUIDs,
    the bad one.)"""
    import pydicom

    from tests.batch.batch_archive import build_pool, study_uid_of

    base = tmp_path_factory.mktemp("batch-studies")
    uids = []
    for i, study in enumerate(build_pool(base, N_BATCH + 1, first_seed=300)):
        bad = i == N_BATCH
        for p in (study / "CD").rglob("*"):
            if p.is_file() and p.name.upper() != "DICOMDIR":
                ds = pydicom.dcmread(p)
                ds.StudyDate = "20250109" if bad else f"2025010{i + 1}"
                ds.StudyDescription = "BATCH PHANTOM BAD" if bad else f"BATCH PHANTOM {i + 1}"
                if bad:
                    ds.ImageOrientationPatient = [1, 0, 0, 0, 0, -1]
                ds.save_as(p)
        uids.append(study_uid_of(study / "CD"))
        assert orthanc.upload(study / "CD") > 0
        shutil.rmtree(study / "CD")  # only the truth stays here
    return base, uids[:N_BATCH], uids[N_BATCH]
