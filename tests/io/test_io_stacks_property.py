"""Stack building does not depend on file order (property test, pure functions)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mri_measure.io.stacks import spacing_problems, split_series
from mri_measure.types import SliceInfo


def _iop(tilt_deg: float, jitter_deg: float) -> tuple[float, ...]:
    t = np.deg2rad(tilt_deg + jitter_deg)
    return (1.0, 0.0, 0.0, 0.0, float(np.cos(t)), float(np.sin(t)))


@st.composite
def series(draw):
    n_blocks = draw(st.integers(1, 4))
    # block tilts at least 3° apart; per-slice jitter under 0.2° (header rounding)
    base = draw(st.lists(st.integers(-8, 8), min_size=n_blocks, max_size=n_blocks, unique=True))
    slices, truth = [], []
    for b, k in enumerate(base):
        tilt = 3.0 * k
        n = draw(st.integers(1, 6))
        step = draw(st.floats(2.0, 6.0))
        blk = []
        for i in range(n):
            iop = _iop(tilt, draw(st.floats(-0.2, 0.2)))
            nrm = np.cross(iop[:3], iop[3:])
            pos = np.array([0.0, 0.0, 40.0 * b]) + nrm * step * i
            uid = f"1.2.{b}.{i}"
            blk.append(uid)
            slices.append(SliceInfo(uid, "", tuple(float(v) for v in pos), iop, (0.7, 0.7), 16, 16))
        truth.append(blk)
    perm = draw(st.permutations(range(len(slices))))
    return [slices[i] for i in perm], truth


@settings(max_examples=60, deadline=None)
@given(series())
def test_split_is_order_invariant_and_sorted(case):
    slices, truth = case
    stacks = split_series([(s, 100.0) for s in slices])
    got = sorted(sorted(s.sop_instance_uid for s in stack) for stack in stacks)
    assert got == sorted(sorted(b) for b in truth)
    for stack in stacks:
        n = np.mean([s.normal for s in stack], axis=0)
        z = [float(np.dot(s.position_mm, n)) for s in stack]
        assert z == sorted(z)
        # slices were generated in acquisition order along the normal
        assert [s.sop_instance_uid for s in stack] == sorted(
            (s.sop_instance_uid for s in stack), key=lambda u: int(u.rsplit(".", 1)[1])
        )
        assert not any(p.startswith(("duplicate", "gap", "non-uniform")) for p in spacing_problems(stack))
    again = split_series([(s, 100.0) for s in reversed(slices)])
    assert [[s.key for s in a] for a in again] == [[s.key for s in b] for b in stacks]
