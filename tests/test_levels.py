"""Level assignment: sagittal point-to-plane mapping, gaps, axial blocks, overrides."""

from __future__ import annotations

import numpy as np
import pytest

from mri_measure.errors import MriMeasureError, OptionError
from mri_measure.levels import (
    SACRUM_NOTE,
    assign_levels,
    level_name,
    normalise_level,
    override_level,
    slice_centre_mm,
)
from mri_measure.types import DiscPlane, LevelAssignment, SliceInfo, Stack

FOR = "1.2.826.0.1.3680043.8.498.1"
SERIES = "1.2.826.0.1.3680043.8.498.2"


def _rot_x(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])


def make_discs(tilts=(-35.0, -20.0, -5.0, 5.0, 10.0), spacing=38.0, heights=None) -> list[DiscPlane]:
    """Five lumbar discs, L5-S1 lowest, each tilted about the left-right axis."""
    discs = []
    for i, tilt in enumerate(tilts):
        n = _rot_x(tilt) @ np.array([0.0, 0.0, 1.0])
        discs.append(
            DiscPlane(
                level=level_name(i),
                centre_mm=(0.0, 0.0, i * spacing),
                normal=tuple(n),
                confidence=1.0,
                height_mm=None if heights is None else heights[i],
                frame_of_reference_uid=FOR,
            )
        )
    return discs


def axial_slice(centre, normal, uid: str, number: int, *, size=256, px=0.7) -> SliceInfo:
    """A slice whose grid centre is ``centre`` and normal ``normal`` (rows ≈ +x)."""
    n = np.asarray(normal, float) / np.linalg.norm(normal)
    row = np.array([1.0, 0, 0]) - n[0] * n
    row /= np.linalg.norm(row)
    col = np.cross(n, row)
    half = (size - 1) / 2 * px
    ipp = np.asarray(centre, float) - half * row - half * col
    return SliceInfo(
        sop_instance_uid=uid, source="mem", position_mm=tuple(ipp),
        orientation=(*row, *col), spacing_mm=(px, px), rows=size, columns=size,
        instance_number=number,
    )


def block_through(disc: DiscPlane, start_number: int, *, n=5, step=3.0, posterior=25.0,
                  series=SERIES, for_uid=FOR, stack_id="3.1") -> Stack:
    """A per-disc block parallel to the disc, its FOV centred ``posterior`` mm behind the disc centre."""
    nrm = np.asarray(disc.normal)
    post = np.array([0.0, 1.0, 0.0]) - nrm[1] * nrm
    post /= np.linalg.norm(post)
    c0 = np.asarray(disc.centre_mm) + posterior * post
    slices = tuple(
        axial_slice(c0 + (k - (n - 1) / 2) * step * nrm, nrm, f"{series}.{start_number + k}", start_number + k)
        for k in range(n)
    )
    return Stack(stack_id, "1.2.3", series, slices, role="axial_t2", frame_of_reference_uid=for_uid)


def test_slice_centre_is_the_grid_centre():
    s = axial_slice((3.0, -4.0, 5.0), (0, 0.3, 1), "9", 1, size=101, px=0.5)
    assert np.allclose(slice_centre_mm(s), (3.0, -4.0, 5.0))


def test_level_names_and_validation():
    assert [level_name(i) for i in range(6)] == ["L5-S1", "L4-L5", "L3-L4", "L2-L3", "L1-L2", "T12-L1"]
    assert normalise_level("t12-l1") == "T12-L1"
    for bad in ("L9-L10", "L4", "", "L5-L4", "S1-S2"):
        with pytest.raises(OptionError):
            normalise_level(bad)
    assert issubclass(OptionError, MriMeasureError)


def test_angled_blocks_map_to_their_own_disc_by_plane_distance():
    discs = make_discs()
    stacks = [block_through(d, 1 + 10 * i, stack_id=f"3.{i}") for i, d in enumerate(discs)]
    got, warnings = assign_levels(stacks, discs)
    for st, d in zip(stacks, discs):
        for k, sl in enumerate(st.slices):
            a = got[sl.key]
            assert a.level == d.level and a.source == "sagittal"
            assert a.distance_mm == pytest.approx(abs(k - 2) * 3.0, abs=1e-6)
    # the disc's naming confidence on the disc (1.0 here), a little lower away from it
    mid, edge = got[stacks[0].slices[2].key], got[stacks[0].slices[0].key]
    assert mid.confidence == pytest.approx(1.0, abs=1e-6)
    assert 0.8 < edge.confidence < mid.confidence
    assert SACRUM_NOTE in warnings


def test_plane_distance_beats_z_distance_for_a_steep_l5_s1_block():
    """A slice in the steep L5-S1 plane whose centre is closer in z to L4-L5."""
    discs = make_discs(tilts=(-40.0, -10.0, 0.0, 5.0, 10.0))
    l5 = discs[0]
    nrm = np.asarray(l5.normal)
    post = np.array([0.0, 1.0, 0.0]) - nrm[1] * nrm
    post /= np.linalg.norm(post)
    centre = np.asarray(l5.centre_mm) - 45.0 * post  # 45 mm anterior, in the L5-S1 plane
    assert abs(centre[2] - discs[1].centre_mm[2]) < abs(centre[2] - l5.centre_mm[2])
    st = Stack("3.1", "1.2.3", SERIES, (axial_slice(centre, nrm, "7.1", 1),), frame_of_reference_uid=FOR)
    got, _ = assign_levels([st], discs)
    assert got["7.1"].level == "L5-S1"
    assert got["7.1"].distance_mm == pytest.approx(0.0, abs=1e-6)


def test_gap_rule_and_far_slices_get_no_level():
    discs = make_discs()
    top = discs[-1]
    n = np.asarray(top.normal)
    above = axial_slice(np.asarray(top.centre_mm) + 25.0 * n, n, "8.1", 1)  # > half of 38 mm
    near = axial_slice(np.asarray(top.centre_mm) + 15.0 * n, n, "8.2", 2)  # < half
    far = axial_slice(np.asarray(top.centre_mm) + np.array([150.0, 0, 0]), n, "8.3", 3)
    st = Stack("3.1", "1.2.3", SERIES, (above, near, far), frame_of_reference_uid=FOR)
    got, warnings = assign_levels([st], discs)
    assert got["8.1"] == LevelAssignment(None, "unknown", 0.0, got["8.1"].distance_mm)
    assert got["8.1"].distance_mm == pytest.approx(25.0, abs=1e-6)
    assert got["8.2"].level == "L1-L2"
    assert got["8.3"].level is None and got["8.3"].confidence == 0.0
    assert any("half a disc spacing" in w and w.startswith("1 ") for w in warnings)
    assert any("far from every disc" in w for w in warnings)


def test_contiguous_stack_maps_every_slice_between_top_and_bottom_disc():
    discs = make_discs(tilts=(0, 0, 0, 0, 0))
    slices = tuple(axial_slice((0, 20.0, z), (0, 0, 1), f"9.{i}", i) for i, z in enumerate(np.arange(-10, 165, 4.0)))
    st = Stack("3.1", "1.2.3", SERIES, slices, frame_of_reference_uid=FOR)
    got, _ = assign_levels([st], discs)
    for sl in slices:
        z = sl.position_mm[2]
        expect = level_name(int(np.clip(np.round(z / 38.0), 0, 4)))
        assert got[sl.key].level == expect, z


def test_different_frame_of_reference_falls_back_to_blocks_with_a_warning():
    discs = make_discs()
    stacks = [block_through(d, 1 + 10 * i, for_uid="1.2.999", stack_id=f"3.{i}") for i, d in enumerate(discs[:3])]
    got, warnings = assign_levels(stacks, discs)
    assert any("frames of reference" in w for w in warnings)
    levels = [got[st.slices[0].key] for st in stacks]
    assert [a.level for a in levels] == ["L5-S1", "L4-L5", "L3-L4"]
    assert {a.source for a in got.values()} == {"axial_blocks"}
    assert {a.confidence for a in got.values()} == {0.6}


def test_axial_blocks_without_sagittal_ordered_along_plus_z():
    discs = make_discs()
    # stacks given in scrambled order; one parallel-block stack with a gap is split
    stacks = [block_through(discs[2], 21, stack_id="3.2"), block_through(discs[0], 1, stack_id="3.0"),
              block_through(discs[1], 11, stack_id="3.1")]
    got, warnings = assign_levels(stacks, None)
    assert [got[s.slices[0].key].level for s in stacks] == ["L3-L4", "L5-S1", "L4-L5"]
    assert any("axial blocks" in w for w in warnings)

    flat = make_discs(tilts=(0, 0, 0, 0, 0))
    a, b = block_through(flat[0], 1), block_through(flat[1], 11)
    merged = Stack("4.1", "1.2.3", "1.2.4", a.slices + b.slices, frame_of_reference_uid=FOR)
    got2, _ = assign_levels([merged], None)
    assert [got2[s.key].level for s in a.slices] == ["L5-S1"] * 5
    assert [got2[s.key].level for s in b.slices] == ["L4-L5"] * 5


def test_contiguous_stack_without_sagittal_is_unknown():
    slices = tuple(axial_slice((0, 20.0, z), (0, 0, 1), f"9.{i}", i) for i, z in enumerate(np.arange(0, 120, 4.0)))
    got, warnings = assign_levels([Stack("3.1", "1.2.3", SERIES, slices)], None)
    assert all(a == LevelAssignment(None, "unknown", 0.0, None) for a in got.values())
    assert len(got) == len(slices)
    assert any("no disc level" in w for w in warnings)
    assert SACRUM_NOTE in warnings


def test_overrides_by_instance_number_and_uid_and_errors():
    discs = make_discs()
    st = block_through(discs[1], 1)
    got, _ = assign_levels([st], discs, {"2": "l3-l4", st.slices[4].sop_instance_uid: "T12-L1"})
    assert got[st.slices[1].key] == LevelAssignment("L3-L4", "user", 1.0, None)
    assert got[st.slices[4].key].level == "T12-L1"
    assert got[st.slices[0].key].source == "sagittal"
    with pytest.raises(OptionError, match="unknown level"):
        assign_levels([st], discs, {"2": "L9-L10"})
    with pytest.raises(OptionError, match="no axial slice"):
        assign_levels([st], discs, {"99": "L4-L5"})
    with pytest.raises(OptionError, match="no axial slice"):
        assign_levels([st], discs, {"1.2.3.4.5": "L4-L5"})


def test_override_level_returns_a_new_dict():
    a = {"k1": LevelAssignment("L4-L5", "sagittal", 0.8, 2.0), "k2": LevelAssignment(None)}
    b = override_level(a, "k2", "L5-S1")
    assert a["k2"].level is None and b["k2"] == LevelAssignment("L5-S1", "user", 1.0, None)
    assert b["k1"] is a["k1"]
    assert override_level(b, "k2", None)["k2"].level is None
    with pytest.raises(OptionError):
        override_level(a, "nope", "L4-L5")
    with pytest.raises(OptionError):
        override_level(a, "k1", "L0-L1")


def test_transitional_warning_for_a_rudimentary_lowest_disc():
    discs = make_discs(heights=[3.0, 10.0, 10.0, 9.0, 9.0])
    st = block_through(discs[1], 1)
    _, warnings = assign_levels([st], discs)
    assert any("rudimentary" in w for w in warnings)
    _, normal = assign_levels([st], make_discs(heights=[10.0, 10.0, 10.0, 9.0, 9.0]))
    assert not any("rudimentary" in w or "six lumbar" in w for w in normal)


def test_messages_carry_no_source_paths():
    discs = make_discs()
    st = block_through(discs[0], 1)
    sl = st.slices[0]
    secret = SliceInfo(sl.sop_instance_uid, "/home/DOE^JOHN/scan.dcm", sl.position_mm, sl.orientation,
                       sl.spacing_mm, sl.rows, sl.columns, 1)
    st2 = Stack("3.1", "1.2.3", SERIES, (secret,), frame_of_reference_uid="other")
    _, warnings = assign_levels([st2], discs)
    assert warnings and not any("DOE" in w or "/home" in w for w in warnings)
