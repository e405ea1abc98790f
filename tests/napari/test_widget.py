"""The dock widget in a real napari viewer under Xvfb (pytest-xvfb + pytest-qt).

The phantom CD (conftest) is opened with the plugin's reader and the widget is
added through the npe2 manifest. The main test presses Segment (the shipped
model, in napari's thread worker), then reviews, corrects with napari's label
tools, overrides a level and exports; the writer test starts from the same
pipeline's analysis with ground-truth segmentation.
"""

from __future__ import annotations

import json
import threading
import time

import napari  # noqa: F401 - the [napari] extra is part of the test setup
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.napari

WIDGET = "Measure canal and LF"


def _truth_factory(cd):
    """The phantom's ground truth as a segmenter (for tests that are not about the model)."""
    from mri_measure.testing.truth import TruthSegmenter

    truth = cd.parent / "truth_labels.npz"
    return lambda: TruthSegmenter.from_npz(truth)


@pytest.fixture
def viewer_widget(make_napari_viewer, qtbot, phantom_cd):
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1500, 950)
    layers = viewer.open(str(phantom_cd), plugin="mri-measure")
    assert layers, "the reader opened nothing"
    _, widget = viewer.window.add_plugin_dock_widget("mri-measure", WIDGET)
    assert widget.segmenter_factory is None  # Segment uses the shipped model by default
    return viewer, widget


def _canal_slice(widget):
    """(key, stack index, slice index) of a slice whose canal was measured, mid-stack."""
    s = widget.session
    for key, (i, k) in s.index.items():
        m = s.measurement(key)
        if m.canal_area_mm2 is not None and m.canal_area_mm2 > 60 and m.lf_thickness_left_mm \
                and 0 < k < s.stacks[i].labels.shape[0] - 1:
            return key, i, k
    raise AssertionError("no mid-stack slice with a canal and a patient-left LF")


def _click_item(qtbot, widget, key):
    from qtpy.QtCore import QPoint, Qt

    table = widget.table
    for i in range(table.topLevelItemCount()):
        top = table.topLevelItem(i)
        for j in range(top.childCount()):
            item = top.child(j)
            if item.data(0, Qt.ItemDataRole.UserRole) == key:
                top.setExpanded(True)
                table.scrollToItem(item)
                qtbot.wait(50)  # let the tree lay out the expanded rows
                rect = table.visualItemRect(item)
                pos = QPoint(rect.left() + 12, rect.center().y())  # on the title, always in view
                assert table.viewport().rect().contains(pos) and table.itemAt(pos) is item
                qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=pos)
                return
    raise AssertionError(f"slice {key} not in the table")


def _canal_cell(widget, key) -> float:
    row = widget.slice_row(key)
    assert row is not None
    return float(row["Canal mm²"])


def _edge_point(lab2d, dc=0):
    """The topmost canal pixel in the column ``dc`` pixels from the canal centroid.

    The top of an axial image is anterior: the dural sac borders the disc there,
    not the ligamentum flavum, so a blob painted on that edge joins the canal."""
    rr, cc = np.nonzero(lab2d == 1)
    c = int(round(cc.mean())) + dc
    col = np.nonzero(lab2d[:, c] == 1)[0]
    return int(col.min()), c


def _grown_canal_pixels(before, after):
    """Pixels newly labelled canal that belong to the canal's (largest) component."""
    from scipy import ndimage

    comp, n = ndimage.label(after == 1, np.ones((3, 3)))
    assert n >= 1
    largest = np.argmax(np.bincount(comp.ravel())[1:]) + 1
    new = (after == 1) & (before != 1)
    return int((new & (comp == largest)).sum()), int(new.sum())


def test_segment_review_correct_and_export(viewer_widget, qtbot, tmp_path, caplog, fake_phi):
    import logging

    from qtpy.QtCore import Qt

    caplog.set_level(logging.DEBUG)

    viewer, widget = viewer_widget
    seen = []
    widget._bridge.progress.connect(lambda stage, f: seen.append((stage, f)))
    qtbot.mouseClick(widget.segment_button, Qt.MouseButton.LeftButton)
    assert widget.busy and widget.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: widget.session is not None and not widget.busy, timeout=180_000)
    model = widget.session.report().model
    assert model["name"] != "truth" and model["sha256"]  # the shipped, verified model ran
    # progress came from the pipeline's callback, through the worker thread
    stages = [s for s, _ in seen]
    assert "segment" in stages and "measure" in stages
    fractions = [f for _, f in seen]
    assert all(b >= a - 1e-9 for a, b in zip(fractions, fractions[1:]))
    assert fractions[-1] == 1.0 and widget.progress.value() == 100
    assert not widget.status.text().startswith("Error"), widget.status.text()

    session = widget.session
    lab = widget.labels_layer
    image = next(l for l in viewer.layers if l.name == widget.stack_combo.currentText().split(" (")[0])
    # labels: contract values, named colours, same physical grid as the image
    assert set(np.unique(lab.data)) <= {0, 1, 2, 3} and (lab.data == 1).any()
    assert lab.colormap.__class__.__name__ == "DirectLabelColormap"
    from napari_mri_measure._layers import LABEL_COLORS

    mapped = np.asarray(lab.colormap.map(np.array([1, 2, 3], dtype=lab.data.dtype)))
    assert np.allclose(mapped[:, :3], [LABEL_COLORS[v][:3] for v in (1, 2, 3)], atol=0.01)
    assert all(n in widget.legend.text() for n in ("canal", "LF left", "LF right"))
    assert image.visible and all(str(u) == "millimeter" for u in (*image.units, *lab.units))
    assert np.allclose(lab.scale, image.scale) and np.allclose(lab.translate, image.translate)
    assert lab.data.shape == image.data.shape
    assert np.allclose(image.scale[1:], session.stacks[widget.current_stack].analysis.loaded.stack.spacing_mm)
    lines = widget.lines_layer
    assert len(lines.data) > 0 and set(lines.features["kind"]) <= {"lf_left", "lf_right", "canal_ap"}
    assert {"lf_left", "lf_right", "canal_ap"} & set(lines.features["kind"])
    # table: one row per level of the report, values as in the report
    table = widget.table_values()
    report = session.report()
    assert [lv.level for lv in report.levels] == [t for t in table if t != "unassigned"]
    lv0 = report.levels[0]
    assert table[lv0.level]["Canal mm²"] == f"{lv0.canal_area_mm2:.1f}"

    # click a slice in the table: the viewer jumps to it
    key, i, k = _canal_slice(widget)
    _click_item(qtbot, widget, key)
    assert widget.current_stack == i and widget.current_slice_index() == k
    assert int(viewer.dims.current_step[0]) == int(round(lab.world_to_data(viewer.dims.point)[0]))

    # ---- edit with napari's own brush (paint on background only) -------------------------
    lab.preserve_labels = True
    lab.brush_size = 13
    px_mm2 = float(np.prod(session.stacks[i].analysis.loaded.stack.spacing_mm))

    def paint_blob(dc):
        before = lab.data[k].copy()
        r, c = _edge_point(before, dc)
        with qtbot.waitSignal(widget.table_updated, timeout=500):  # re-measured within 0.5 s
            t0 = time.perf_counter()
            with lab.block_history():  # what napari's brush does around a stroke
                lab.paint((k, r, c), 1)
        elapsed = time.perf_counter() - t0
        qtbot.wait(20)  # let the measurement lines follow
        grown, changed = _grown_canal_pixels(before, lab.data[k])
        assert changed == int((lab.data[k] != before).sum())  # LF and canal preserved
        assert grown > 40 and grown >= 0.9 * changed
        return grown * px_mm2, elapsed

    auto_value = _canal_cell(widget, key)
    assert widget.slice_row(key)["Source"] == "auto"
    _, t1 = paint_blob(-3)
    row = widget.slice_row(key)
    assert row["Source"] == "corrected" and key in session.corrected
    a1 = _canal_cell(widget, key)
    assert a1 > auto_value
    # second edit: both values now come from hard labels, so the table's canal area
    # grows by the painted area (1 %; ±0.1 mm² for the two cells' display rounding)
    painted_mm2, t2 = paint_blob(+3)
    a2 = _canal_cell(widget, key)
    assert a2 - a1 == pytest.approx(painted_mm2, rel=0.01, abs=0.1)
    assert max(t1, t2) < 0.5 and widget.last_edit_seconds is not None
    # undo (napari's own history) goes back to the first edit's value
    lab.undo()
    qtbot.waitUntil(lambda: abs(_canal_cell(widget, key) - a1) < 0.051, timeout=1000)
    lab.redo()
    qtbot.waitUntil(lambda: abs(_canal_cell(widget, key) - a2) < 0.051, timeout=1000)
    # the fill tool: fill the patient-left LF with background -> its thickness is gone
    assert widget.slice_row(key)["LF L mm"] != "—"
    rr, cc = np.nonzero(lab.data[k] == 2)
    lab.contiguous = False
    lab.preserve_labels = False
    with qtbot.waitSignal(widget.table_updated, timeout=500):
        with lab.block_history():
            lab.fill((k, int(rr[0]), int(cc[0])), 0)
    assert not (lab.data[k] == 2).any() and widget.slice_row(key)["LF L mm"] == "—"
    assert _canal_cell(widget, key) == pytest.approx(a2, abs=0.051)
    # the polygon tool (paint_polygon records history before writing: the deferred path)
    r0, r1, c0, c1 = int(rr.min()), int(rr.max()), int(cc.min()), int(cc.max())
    lab.preserve_labels = True  # only background becomes LF: the canal stays as it is
    with qtbot.waitSignal(widget.table_updated, timeout=500):
        lab.paint_polygon([[k, r0, c0], [k, r0, c1], [k, r1, c1], [k, r1, c0]], 2)
    assert (lab.data[k] == 2).any() and widget.slice_row(key)["LF L mm"] != "—"
    assert _canal_cell(widget, key) == pytest.approx(a2, abs=0.051)
    edited = lab.data[k].copy()

    # ---- level override regroups the table ---------------------------------------------
    old_group = widget.slice_row(key)["group"]
    new_level = "T12-L1" if old_group != "T12-L1" else "L1-L2"
    widget.level_combo.setCurrentText(new_level)
    qtbot.mouseClick(widget.level_button, Qt.MouseButton.LeftButton)
    assert widget.slice_row(key)["group"] == new_level
    assert widget.table_values()[new_level]["Level from"] == "user"
    assert widget.table_values()[new_level]["Canal mm²"] == f"{a2:.1f}"
    assert session.assignments[key].source == "user"
    assert new_level in widget.slice_label.text()
    # the whole block at once: every slice of the stack shown moves to one level
    widget.block_check.setChecked(True)
    widget.level_combo.setCurrentText("L1-L2")
    qtbot.mouseClick(widget.level_button, Qt.MouseButton.LeftButton)
    block_keys = session.stacks[widget.current_stack].keys
    assert all(widget.slice_row(kk)["group"] == "L1-L2" for kk in block_keys)
    assert set(session.report().levels[[lv.level for lv in session.report().levels].index("L1-L2")]
               .slice_sop_instance_uids) == set(block_keys)
    widget.block_check.setChecked(False)
    widget.level_combo.setCurrentText(new_level)
    qtbot.mouseClick(widget.level_button, Qt.MouseButton.LeftButton)
    assert widget.slice_row(key)["group"] == new_level

    # ---- export via the core: JSON + SEG (read back with highdicom) ---------------------
    out = tmp_path / "export"
    written = widget.export(out)
    assert written and (out / "measurements.json").is_file()
    doc = json.loads((out / "measurements.json").read_text())
    sl = next(s for s in doc["slices"] if s["sop_instance_uid"] == key)
    assert sl["level"] == new_level and sl["canal_area_mm2"] == pytest.approx(a2, abs=0.06)
    assert any(lv["level"] == new_level and lv["level_source"] == "user" for lv in doc["levels"])
    seg_path = next(p for p in written.values() if p.suffix == ".dcm" and "seg" in p.name.lower())
    _assert_seg_matches(seg_path, key, edited)

    # ---- corrected slices as training pairs for `mri-measure train --user-cases` -------
    from mri_measure.training.data import load_user_cases

    pairs = widget.save_training_pairs(tmp_path / "pairs")
    assert len(pairs) == len(session.corrected) == 1
    cases = load_user_cases(tmp_path / "pairs")
    assert len(cases) == 1 and np.array_equal(cases[0].labels, edited)
    assert cases[0].image.shape == edited.shape

    # ---- no patient data in layer names, widget texts, logs, JSON, pair file names ----
    from qtpy.QtWidgets import QComboBox, QLabel

    texts = [l.name for l in viewer.layers] + [w.text() for w in widget.findChildren(QLabel)]
    texts += [c.itemText(n) for c in widget.findChildren(QComboBox) for n in range(c.count())]
    texts += [caplog.text, (out / "measurements.json").read_text(), (out / "measurements.csv").read_text()]
    texts += [p.name for p in pairs]
    for phi in fake_phi:
        assert not [t for t in texts if phi in t], phi

    # ---- screenshot: non-blank, shows the label colours ---------------------------------
    shot = viewer.screenshot(str(tmp_path / "napari_widget.png"), canvas_only=False, flash=False)
    assert shot.shape[0] > 400 and shot[..., :3].std() > 20
    canvas = viewer.screenshot(canvas_only=True, flash=False)[..., :3].astype(int)
    from napari_mri_measure._layers import LABEL_COLORS

    assert (tmp_path / "napari_widget.png").stat().st_size > 10_000
    assert canvas.std() > 10
    assert _has_colour(canvas, LABEL_COLORS[1]), "canal colour not on the canvas"


def _has_colour(img, rgba, tol=60):
    """Blended label colour visible: pixels whose hue leans towards the colour."""
    target = np.array(rgba[:3]) * 255
    grey = img.mean(axis=-1, keepdims=True)
    tint = img - grey
    want = target - target.mean()
    score = (tint * want).sum(-1) / (np.linalg.norm(want) + 1e-9)
    return int((score > tol / 3).sum()) > 30


def _assert_seg_matches(seg_path, key, edited):
    import highdicom as hd

    seg = hd.seg.segread(str(seg_path))
    desc = {d.segment_number: d.segment_label for d in seg.SegmentSequence}
    assert len(desc) >= 3
    uid = key.split("#")[0]
    numbers = sorted(desc)
    vol = seg.get_pixels_by_source_instance([uid], segment_numbers=numbers, combine_segments=True,
                                            relabel=False)
    got = np.asarray(vol)[0]
    assert got.shape == edited.shape
    np.testing.assert_array_equal(got, np.where(edited <= 3, edited, 0))


def test_writer_saves_the_corrected_labels_as_seg(viewer_widget, qtbot, tmp_path, truth_analysis):
    viewer, widget = viewer_widget
    # the Segment path is covered above; load the same pipeline's analysis directly
    widget.load_analysis(truth_analysis, study=widget.current_study())
    lab = widget.labels_layer
    key, i, k = _canal_slice(widget)
    widget.jump_to(key)
    r, c = _edge_point(lab.data[k])
    lab.preserve_labels = True
    lab.brush_size = 7
    lab.paint((k, r, c), 1)
    viewer.layers.selection.active = lab
    out = tmp_path / "labels_seg.dcm"
    paths = viewer.layers.save(str(out), selected=True, plugin="mri-measure")
    assert paths and out.is_file()
    # angled per-disc blocks: one SEG instance per plane orientation, all returned
    assert len(paths) >= 2 and all(Path(p).is_file() for p in paths)
    assert key in widget.session.corrected
    _assert_seg_matches(out, key, lab.data[k].copy())
    # loading an analysis again starts clean: the old edits are not carried over
    widget.load_analysis(truth_analysis, study=widget.current_study())
    assert not widget.session.corrected and widget.labels_layer.data is widget.session.labels(widget.current_stack)
    assert np.array_equal(widget.labels_layer.data, truth_analysis.axial[widget.current_stack].labels)


def test_cancel_and_errors_are_one_line_messages(viewer_widget, qtbot, tmp_path, phantom_cd):
    from mri_measure.testing.truth import TruthSegmenter

    viewer, widget = viewer_widget
    gate = threading.Event()
    truth_factory = _truth_factory(phantom_cd)

    def slow_factory():
        gate.wait(30)
        return truth_factory()

    widget.segmenter_factory = slow_factory
    widget.segment()
    assert widget.busy
    widget.cancel_button.click()
    gate.set()
    qtbot.waitUntil(lambda: not widget.busy, timeout=30_000)
    assert widget.session is None and "cancelled" in widget.status.text()

    # a user error inside the worker (unknown series) -> one line, no traceback
    widget.segmenter_factory = truth_factory
    widget.segment(series="99999")
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    text = widget.status.text()
    assert text.startswith("Error: ") and "\n" not in text and "Traceback" not in text
    assert "series" in text
    # a folder without DICOM -> one line
    (tmp_path / "empty").mkdir()
    widget.open_source(tmp_path / "empty")  # opened off the GUI thread
    qtbot.waitUntil(lambda: not widget.busy, timeout=30_000)
    text = widget.status.text()
    assert text.startswith("Error: ") and "\n" not in text
    assert str(tmp_path) not in text  # no input paths in messages
    assert widget.session is None and isinstance(TruthSegmenter, type)


def test_sample_data_opens_through_npe2(make_napari_viewer):
    viewer = make_napari_viewer(show=False)
    layers = viewer.open_sample("mri-measure", "synthetic_lumbar_cd")
    names = [l.name for l in viewer.layers]
    assert layers and any(n.startswith("axial_t2 #") for n in names)
    axial = next(l for l in viewer.layers if l.name.startswith("axial_t2 #"))
    meta = axial.metadata["mri_measure"]
    assert meta["synthetic"] is True and (meta["stack"].spacing_mm == pytest.approx(axial.scale[1:]))
