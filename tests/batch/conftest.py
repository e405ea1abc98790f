"""Fixtures for the batch tests: a pool of tiny synthetic studies written once
per session, and per-test archives assembled from copies of them."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from batch_archive import (  # noqa: E402
    Archive,
    axial_files,
    build_pool,
    copy_study,
    truncate,
    zip_folder,
)

POOL_SIZE = 6


@pytest.fixture(scope="session")
def pool(tmp_path_factory) -> list[Path]:
    return build_pool(tmp_path_factory.mktemp("batch-pool"), POOL_SIZE)


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
        elif role in ("crash", "hang"):
            name = f"{role}_WHITE"
            arc.uids[role] = copy_study(src, root / name / "CD", truth, role)
        else:  # pragma: no cover - test typo
            raise AssertionError(role)
        arc.folder_names.append(name)
    return arc
