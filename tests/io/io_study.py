"""A small lumbar study written as real DICOM files by the io tests (shared helpers)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from tests.io.dicom_factory import (
    AXIAL,
    CORONAL,
    SAGITTAL,
    mr_slice,
    stack_of,
    tilted_axial,
)

BLOCK_TILTS = (-15.0, 0.0, 20.0)
BLOCK_CENTRES = ((0.0, 10.0, -60.0), (0.0, 5.0, -30.0), (0.0, 0.0, 0.0))
SLICES_PER_BLOCK = 4


@dataclass
class StudySpec:
    study_uid: str
    axial_series_uid: str
    sagittal_series_uid: str
    localizer_series_uid: str
    t1_series_uid: str
    datasets: list[Dataset]
    block_uids: list[list[str]]  # SOPInstanceUIDs per block, in spatial order


def make_study(seed: int = 0) -> StudySpec:
    study = generate_uid()
    ax, sag, loc, t1 = (generate_uid() for _ in range(4))
    datasets: list[Dataset] = []
    block_uids = []
    inst = 1
    for b, (tilt, centre) in enumerate(zip(BLOCK_TILTS, BLOCK_CENTRES)):
        blk = stack_of(
            SLICES_PER_BLOCK, study_uid=study, series_uid=ax, orientation=tilted_axial(tilt),
            centre=centre, step=4.0, first_instance=inst, seed=seed + 10 * b,
            series_number=3, description="T2 TSE AX",
        )
        inst += SLICES_PER_BLOCK
        block_uids.append([d.SOPInstanceUID for d in blk])
        datasets += blk
    datasets += stack_of(
        5, study_uid=study, series_uid=sag, orientation=SAGITTAL, step=3.0, series_number=2,
        description="T2 TSE SAG", rows=48, cols=32, spacing=(1.0, 1.0), seed=seed + 100,
    )
    for k, iop in enumerate((AXIAL, SAGITTAL, CORONAL)):
        datasets.append(
            mr_slice(
                study_uid=study, series_uid=loc, position=(0, 0, 0), orientation=iop, series_number=1,
                instance_number=k + 1, te=3.0, tr=8.0, description="3-plane loc",
                image_type=("ORIGINAL", "PRIMARY", "LOCALIZER"), seed=seed + 200 + k,
            )
        )
    datasets += stack_of(
        4, study_uid=study, series_uid=t1, orientation=AXIAL, step=4.0, centre=(0, 0, -30),
        series_number=4, te=10.0, tr=550.0, description="T1 TSE AX", seed=seed + 300,
    )
    rng = random.Random(seed)
    rng.shuffle(datasets)  # file order must not matter
    return StudySpec(study, ax, sag, loc, t1, datasets, block_uids)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under root with size and mtime: the input must not change."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out
