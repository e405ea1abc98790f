"""Pure conversions core objects -> napari layer data (no napari, no Qt needed)."""

from __future__ import annotations

import doctest
import sys

import numpy as np
import pytest

from mri_measure.types import (
    LevelAssignment,
    LoadedStack,
    SliceInfo,
    SliceMeasurement,
    Stack,
    StackAnalysis,
)
from mri_measure.vocabulary import one_hot
from napari_mri_measure import _layers
from napari_mri_measure._layers import (
    LABEL_COLORS,
    image_layer_data,
    labels_layer_data,
    lines_layer_data,
    measurement_lines,
    slice_world_position,
    stack_geometry,
    stack_name,
)


def _oblique_stack(n=4, gap=3.5, tilt_deg=12.0, spacing=(0.6, 0.7)):
    """Axial stack tilted about the patient x axis, slices ``gap`` mm apart."""
    t = np.deg2rad(tilt_deg)
    row = np.array([1.0, 0.0, 0.0])
    col = np.array([0.0, np.cos(t), -np.sin(t)])
    normal = np.cross(row, col)
    p0 = np.array([-80.0, -60.0, 20.0])
    slices = tuple(
        SliceInfo(
            f"1.2.826.0.{k}", "opaque", tuple(p0 + k * gap * normal), (*row, *col), spacing,
            20, 30, instance_number=10 + k,
        )
        for k in range(n)
    )
    stack = Stack("7.2", "1.2.3", "1.2.3.7", slices, role="axial_t2", series_number=7)
    return stack, row, col, normal, p0


def test_doctests_of_the_pure_module_pass():
    result = doctest.testmod(_layers, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 4 and result.failed == 0


def test_the_pure_modules_do_not_import_qt_or_napari():
    # a fresh interpreter, so other tests' imports cannot hide a dependency
    import subprocess

    code = (
        "import sys; import napari_mri_measure._layers, mri_measure.review, "
        "napari_mri_measure._reader, napari_mri_measure._sample_data, napari_mri_measure._writer; "
        "bad = [m for m in ('napari', 'qtpy', 'PyQt5', 'magicgui', 'torch') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]  # this checkout, not whatever is installed
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "plugins")])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[]" in out.stdout


def test_name_says_role_series_and_block_without_patient_data():
    stack, *_ = _oblique_stack()
    assert stack_name(stack) == "axial_t2 #7 block 2"
    anon = Stack("x", "1", "2", stack.slices, role="sagittal_t2")
    assert stack_name(anon) == "sagittal_t2 #? block 1"


def test_geometry_scale_is_mm_and_translate_maps_pixels_to_patient_space():
    stack, row, col, normal, p0 = _oblique_stack(gap=3.5, spacing=(0.6, 0.7))
    scale, translate = stack_geometry(stack)
    assert scale == pytest.approx((3.5, 0.6, 0.7))
    # world (normal, col, row) coordinate of any voxel equals the projection of its
    # DICOM patient position on the stack's axes
    for k, r, c in [(0, 0, 0), (3, 5, 7), (2, 19, 29)]:
        patient = stack.slices[k].pixel_to_patient(r, c)
        world = np.asarray(translate) + np.asarray(scale) * np.array([k, r, c])
        assert world == pytest.approx([normal @ patient, col @ patient, row @ patient], abs=1e-9)
    assert slice_world_position(scale, translate, 2) == pytest.approx(normal @ stack.slices[2].pixel_to_patient(0, 0))


def test_single_slice_uses_thickness_for_slice_spacing():
    stack, *_ = _oblique_stack(n=1)
    one = Stack("1.1", "1", "2", (SliceInfo(**{**stack.slices[0].__dict__, "thickness_mm": 4.0}),))
    assert stack_geometry(one)[0][0] == 4.0


def _analysis(stack):
    n = stack.n_slices
    labels = np.zeros((n, 20, 30), np.uint8)
    labels[:, 5:12, 10:20] = 1
    labels[:, 14:16, 8:12] = 2
    labels[:, 14:16, 18:22] = 3
    ms = [SliceMeasurement()] * n
    ms[1] = SliceMeasurement(
        canal_area_mm2=50.0, lf_thickness_left_mm=1.4, lf_thickness_right_mm=1.2, canal_ap_mm=4.2,
        lf_left_line_px=((14.0, 9.0), (16.0, 9.5)), lf_right_line_px=((14.0, 19.0), (16.0, 19.0)),
        canal_ap_line_px=((5.0, 15.0), (12.0, 15.0)),
    )
    ms[3] = SliceMeasurement(lf_thickness_left_mm=2.0, lf_left_line_px=((1.0, 2.0), (3.0, 4.0)))
    pixels = np.random.default_rng(0).normal(100, 10, (n, 20, 30)).astype(np.float32)
    loaded = LoadedStack(stack, pixels, stack.slices)
    probs = np.stack([one_hot(lab) for lab in labels])
    return StackAnalysis(loaded, probs, labels, tuple(ms))


def test_layer_tuples_share_geometry_and_keep_the_stack_in_metadata():
    stack, *_ = _oblique_stack()
    sa = _analysis(stack)
    img, ikw, itype = image_layer_data(sa.loaded, study="S")
    lab, lkw, ltype = labels_layer_data(sa)
    lines, skw, stype = lines_layer_data(sa)
    assert (itype, ltype, stype) == ("image", "labels", "shapes")
    assert img.shape == (4, 20, 30) and img.dtype == np.float32
    assert lab is sa.labels  # the layer edits the array the session measures
    for kw in (ikw, lkw, skw):
        assert kw["scale"] == ikw["scale"] and kw["translate"] == ikw["translate"]
        assert kw["metadata"]["mri_measure"]["stack"] is stack
        assert kw["units"] == ("mm", "mm", "mm")
    assert ikw["metadata"]["mri_measure"]["study"] == "S"
    lo, hi = ikw["contrast_limits"]
    assert 50 < lo < 100 < hi < 150
    # named colours for exactly the contract values, background transparent
    cmap = lkw["colormap"]
    assert set(cmap) == {None, 0, 1, 2, 3} and cmap[0][3] == 0.0
    assert len({cmap[v] for v in (1, 2, 3)}) == 3 and all(cmap[v][3] == 1.0 for v in (1, 2, 3))
    assert cmap == LABEL_COLORS


def test_lines_are_placed_on_their_slice_with_kind_and_value():
    stack, *_ = _oblique_stack()
    sa = _analysis(stack)
    lines = measurement_lines(sa.measurements)
    assert lines.kinds == ["lf_left", "lf_right", "canal_ap", "lf_left"]
    assert lines.slice_indices == [1, 1, 1, 3]
    assert lines.values_mm == [1.4, 1.2, 4.2, 2.0]
    np.testing.assert_allclose(lines.data[0], [[1, 14, 9], [1, 16, 9.5]])
    np.testing.assert_allclose(lines.data[3][:, 0], [3, 3])
    assert lines.colors.shape == (4, 4)
    assert lines.labels[2] == "4.2 mm"
    data, kw, _ = lines_layer_data(sa)
    assert len(data) == 4 and kw["features"]["kind"] == lines.kinds
    empty = measurement_lines([SliceMeasurement()])
    assert empty.data == [] and empty.colors.shape == (0, 4)


def test_table_rows_group_slices_by_level_and_mark_corrections():
    from mri_measure.criteria import Thresholds
    from mri_measure.pipeline import build_report

    stack, *_ = _oblique_stack()
    sa = _analysis(stack)
    keys = [s.key for s in stack.slices]
    assignments = {
        keys[0]: LevelAssignment("L4-L5", "sagittal", 0.9),
        keys[1]: LevelAssignment("L4-L5", "sagittal", 0.9),
        keys[2]: LevelAssignment("L5-S1", "user", 1.0),
        keys[3]: LevelAssignment(None, "unknown", 0.0),
    }
    report = build_report([sa], assignments, thresholds=Thresholds(), corrected=frozenset({keys[1]}))
    index = {k: (0, i) for i, k in enumerate(keys)}
    rows = _layers.table_rows(report, index)
    titles = [r.title for r in rows]
    assert set(titles) == {"L4-L5", "L5-S1", "unassigned"} and titles[-1] == "unassigned"
    l45 = rows[titles.index("L4-L5")]
    assert [c.slice_key for c in l45.children] == keys[:2]
    assert l45.source == "corrected" and l45.children[1].source == "corrected"
    assert l45.children[0].source == "auto"
    assert l45.children[1].title == "im 11"
    assert l45.canal_mm2 == pytest.approx(50.0) and l45.slice_key == keys[1]
    assert "canal≤100" in l45.flags
    assert rows[titles.index("L5-S1")].level_source == "user"
    assert rows[-1].children[0].slice_key == keys[3]
    assert l45.cells()[:4] == ["L4-L5", "50.0", "1.40", "1.20"]


def test_table_shows_not_measurable_with_the_reason_instead_of_the_number():
    from dataclasses import replace

    from mri_measure.criteria import Thresholds
    from mri_measure.pipeline import build_report
    from mri_measure.types import NOT_MEASURABLE, Quality, Verdict

    stack, *_ = _oblique_stack()
    sa = _analysis(stack)
    keys = [s.key for s in stack.slices]
    bad = Verdict(NOT_MEASURABLE, "sac area 12 mm² outside 20–400 mm²", "sac_area_implausible")
    sa = replace(sa, qualities=tuple(Quality(canal_area_mm2=bad) for _ in keys))
    assignments = {k: LevelAssignment("L4-L5", "sagittal", 0.9) for k in keys}
    report = build_report([sa], assignments, thresholds=Thresholds())
    (row,) = _layers.table_rows(report, {k: (0, i) for i, k in enumerate(keys)})
    assert row.cells()[1] == f"not measurable: {bad.reason}"
    assert "canal≤100" not in row.flags  # no criterion from a refused value
    child = row.children[0]
    assert child.cells()[1] == f"not measurable: {bad.reason}"
    assert "sac_area_implausible" in child.flags and "canal≤100" not in child.flags
    assert child.cells()[2] == _layers.fmt(child.lf_left_mm, 2)  # the LF stays a number
