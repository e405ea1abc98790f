"""Open folder… and Open DICOMweb study… load off the GUI thread, in a real
napari viewer under Xvfb: the event loop keeps running while a study loads,
progress arrives, Cancel stops the work at the next chunk of slices and leaves
the viewer as it was, and a URL that cannot be read is a one-line message."""

from __future__ import annotations

import threading

import napari  # noqa: F401 - the [napari] extra is part of the test setup
import pytest

pytestmark = pytest.mark.napari

WIDGET = "Measure canal and LF"


class GatedSegmenter:
    """The phantom's ground truth, but each chunk waits at a gate the test opens:
    the worker is provably busy (and the GUI thread provably free) meanwhile."""

    def __init__(self, truth_npz):
        from mri_measure.testing.truth import TruthSegmenter

        self._truth = TruthSegmenter.from_npz(truth_npz)
        self.name, self.version, self.sha256 = "truth", "gated", None
        self.entered, self.gate = threading.Event(), threading.Event()
        self.calls = 0

    def predict_stack(self, loaded):
        self.calls += 1
        self.entered.set()
        assert self.gate.wait(60), "the test never opened the gate"
        return self._truth.predict_stack(loaded)


@pytest.fixture
def dock(make_napari_viewer, phantom_cd):
    viewer = make_napari_viewer(show=True)
    _, widget = viewer.window.add_plugin_dock_widget("mri-measure", WIDGET)
    gated = GatedSegmenter(phantom_cd.parent / "truth_labels.npz")
    widget.segmenter_factory = lambda: gated
    return viewer, widget, gated


def _ticker():
    from qtpy.QtCore import QTimer

    ticks = [0]
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    timer.start()
    return timer, ticks


def test_open_folder_loads_off_the_gui_thread_with_progress(dock, qtbot, phantom_cd):
    viewer, widget, gated = dock
    assert widget.open_button.text() == "Open folder…"
    timer, ticks = _ticker()
    widget.open_source(phantom_cd)
    assert widget.busy  # returned at once: the work is on the worker thread
    qtbot.waitUntil(gated.entered.is_set, timeout=120_000)
    # the worker is inside the segmenter: the GUI thread still runs its event loop
    t0 = ticks[0]
    qtbot.waitUntil(lambda: ticks[0] >= t0 + 10, timeout=5_000)
    assert widget.busy and widget.cancel_button.isEnabled()
    assert not widget.open_button.isEnabled() and not widget.dicomweb_button.isEnabled()
    qtbot.waitUntil(lambda: widget.progress.value() >= 30, timeout=5_000)  # progress(stage, fraction)
    assert len(viewer.layers) == 0  # nothing reaches the viewer before the work is done
    gated.gate.set()
    qtbot.waitUntil(lambda: widget.session is not None and not widget.busy, timeout=120_000)
    timer.stop()
    assert len(viewer.layers) > 0 and widget.progress.value() == 100
    assert [lv.level for lv in widget.session.report().levels] == ["L3-L4", "L4-L5", "L5-S1"]
    assert widget.study_combo.count() == 1 and widget.open_button.isEnabled()


def test_cancel_stops_at_the_next_chunk_and_leaves_the_viewer_unchanged(dock, qtbot, phantom_cd):
    viewer, widget, gated = dock
    before = (len(viewer.layers), widget.session, widget.study_combo.count(), widget.status.text())
    widget.open_source(phantom_cd)
    qtbot.waitUntil(gated.entered.is_set, timeout=120_000)
    widget.cancel_button.click()
    gated.gate.set()  # the chunk in flight finishes; the next progress call stops the work
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    assert gated.calls == 1, "the work went on past the chunk in flight"
    assert "cancelled" in widget.status.text() and widget.progress.format() == "cancelled"
    assert (len(viewer.layers), widget.session, widget.study_combo.count()) == before[:3]
    assert widget.open_button.isEnabled() and not widget.cancel_button.isEnabled()


def test_dicomweb_url_errors_are_one_line_messages(dock, qtbot):
    viewer, widget, gated = dock
    assert widget.dicomweb_button.text() == "Open DICOMweb study…"
    widget.open_dicomweb("ftp://pacs.invalid/studies/1.2.3")  # not a DICOMweb URL: refused at once
    assert not widget.busy and widget.status.text().startswith("Error: ")
    assert "http" in widget.status.text()
    # a study URL nothing answers (port 9 on this machine): the analyse path's own error, one line
    widget.open_dicomweb("http://127.0.0.1:9/dicom-web/studies/1.2.826.0.1.3680043.8.498.1")
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    text = widget.status.text()
    assert text.startswith("Error: ") and "\n" not in text and "Traceback" not in text
    assert widget.session is None and len(viewer.layers) == 0 and gated.calls == 0


def _second_study(cd, dest):
    """A copy of the CD as another study (new Study/Series/SOP Instance UIDs)."""
    import pydicom
    from pydicom.uid import generate_uid

    uids: dict[str, str] = {}
    for p in sorted(cd.rglob("*")):
        if not p.is_file() or p.name == "DICOMDIR":
            continue
        ds = pydicom.dcmread(p)
        for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
            old = str(getattr(ds, kw))
            setattr(ds, kw, uids.setdefault(old, generate_uid()))
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        out = dest / p.relative_to(cd)
        out.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(out)


def test_a_folder_of_several_studies_fills_the_pickers(dock, qtbot, phantom_cd, tmp_path):
    import shutil

    viewer, widget, gated = dock
    shutil.copytree(phantom_cd, tmp_path / "two" / "A")
    _second_study(phantom_cd, tmp_path / "two" / "B")
    widget.open_source(tmp_path / "two")
    qtbot.waitUntil(lambda: not widget.busy, timeout=60_000)
    assert widget.study_combo.count() == 2 and "choose one" in widget.status.text()
    assert widget.session is None and len(viewer.layers) == 0 and gated.calls == 0
