"""Per-disc axial blocks prescribed at the same angle but centred apart (one
series) are separate stacks, as angled blocks are: before, they were one stack
with a gap and an in-plane shift, and the off-line block was left out."""

from pathlib import Path

from pydicom.uid import generate_uid

from mri_measure.io import discover
from mri_measure.io.load import off_line_slices
from tests.io import dicom_factory as F


def _write(folder: Path, datasets) -> Path:
    for i, ds in enumerate(datasets):
        F.save(ds, folder / f"im{i:02d}.dcm")
    return folder


def test_same_angle_blocks_centred_apart_are_two_clean_stacks(tmp_path):
    st, se = generate_uid(), generate_uid()
    upper = F.stack_of(5, study_uid=st, series_uid=se, centre=(0, 0, 0))
    lower = F.stack_of(5, study_uid=st, series_uid=se, centre=(0, 25, -40), first_instance=6, seed=10)
    (study,) = discover(_write(tmp_path, upper + lower)).studies
    stacks = study.stacks
    assert [s.n_slices for s in stacks] == [5, 5]
    assert all(s.problems == () for s in stacks), [s.problems for s in stacks]
    # each block keeps its own slices (the lower block's instances 6-10 together)
    numbers = sorted(sorted(int(x.instance_number) for x in s.slices) for s in stacks)
    assert numbers == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]


def test_a_contiguous_stack_with_a_missing_slice_stays_one_stack(tmp_path):
    """A gap on one line is still one stack (reported as a gap), not two blocks."""
    st, se = generate_uid(), generate_uid()
    slices = F.stack_of(8, study_uid=st, series_uid=se)
    del slices[4]
    (study,) = discover(_write(tmp_path, slices)).studies
    (stack,) = study.stacks
    assert stack.n_slices == 7 and any(p.startswith("gap:") for p in stack.problems)


def test_one_slice_with_a_damaged_position_is_not_a_block_of_its_own(tmp_path):
    """A slice moved off its line (damaged ImagePositionPatient) stays with its
    block and is rejected there, never measured alone as if intact."""
    st, se = generate_uid(), generate_uid()
    upper = F.stack_of(5, study_uid=st, series_uid=se, centre=(0, 0, 0))
    lower = F.stack_of(5, study_uid=st, series_uid=se, centre=(0, 25, -40), first_instance=6, seed=10)
    pos = [float(v) for v in upper[2].ImagePositionPatient]
    upper[2].ImagePositionPatient = [pos[0] + 12.0, pos[1] - 9.0, pos[2]]
    (study,) = discover(_write(tmp_path, upper + lower)).studies
    assert [s.n_slices for s in study.stacks] == [5, 5]
    off = {i: off_line_slices(s) for i, s in enumerate(study.stacks)}
    damaged = [i for i, o in off.items() if o]
    assert len(damaged) == 1 and list(off[damaged[0]].values())[0].startswith("position disagrees")
    assert sum(len(o) for o in off.values()) == 1
