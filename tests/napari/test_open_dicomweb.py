"""**Open DICOMweb study…** in a real napari viewer (Xvfb) against the real Orthanc
(tests/conftest.py ``orthanc``, ``sample_on_pacs``): the study is retrieved and
analysed off the GUI thread, the layers and the table are those of the same CD
opened as a folder, its temporary folder lives while the study is under review
(Export writes SEG/SR from it, Store to PACS… sends them back into the study) and is
gone once the study is replaced, the widget closed, or the load cancelled or failed;
a server error is one line."""

from __future__ import annotations

import tempfile
from pathlib import Path

import napari  # noqa: F401 - the [napari] extra is part of the test setup
import pytest

from tests.dicomweb.orthanc import PASSWORD, USER, start_orthanc
from tests.napari.test_open_async import GatedSegmenter

pytestmark = pytest.mark.napari

WIDGET = "Measure canal and LF"
SAMPLE = Path(__file__).resolve().parents[2] / "sample_dicoms" / "normal"


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """Every temporary folder of this test goes here: what is left is visible."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


@pytest.fixture
def own_pacs(tmp_path):
    """An Orthanc of this test's own with the sample CD: results are stored into it
    (the session server's sample study has its SEG/SR series counted elsewhere)."""
    from tests.batch.batch_archive import study_uid_of

    server = start_orthanc(tmp_path / "orthanc")
    try:
        assert server.upload(SAMPLE / "CD") > 0
        yield server, study_uid_of(SAMPLE / "CD")
    finally:
        server.stop()


@pytest.fixture
def dock(make_napari_viewer, monkeypatch):
    for k in ("MRI_MEASURE_DICOMWEB_TOKEN", "MRI_MEASURE_DICOMWEB_CA_BUNDLE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("MRI_MEASURE_DICOMWEB_USER", USER)
    monkeypatch.setenv("MRI_MEASURE_DICOMWEB_PASSWORD", PASSWORD)
    from mri_measure.testing.truth import TruthSegmenter

    viewer = make_napari_viewer(show=True)
    _, widget = viewer.window.add_plugin_dock_widget("mri-measure", WIDGET)
    truth = TruthSegmenter.from_npz(SAMPLE / "truth_labels.npz")
    widget.segmenter_factory = lambda: truth
    return viewer, widget


def _wait(qtbot, widget, timeout=120_000):
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)


def _copies(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("mri-measure-napari-*"))


@pytest.mark.slow
def test_open_by_url_shows_the_cd_numbers_and_keeps_its_folder_while_under_review(
        dock, qtbot, own_pacs, private_tmp, tmp_path):
    viewer, widget = dock
    orthanc, sample_on_pacs = own_pacs
    widget.open_source(SAMPLE / "CD")
    _wait(qtbot, widget)
    assert widget.session is not None, widget.status.text()
    from_cd = widget.table_values()
    n_layers_cd = len(viewer.layers)
    viewer.layers.clear()

    widget.open_dicomweb(f"{orthanc.dicomweb}/studies/{sample_on_pacs}")
    assert widget.busy  # off the GUI thread
    _wait(qtbot, widget)
    assert widget.session is not None, widget.status.text()
    assert "Error" not in widget.status.text()
    assert widget.table_values() == from_cd and from_cd
    assert len(viewer.layers) == n_layers_cd and widget.progress.value() == 100
    (copy,) = _copies(private_tmp)
    assert widget.study.remote_folders == [copy]
    assert len(list(copy.glob("*.dcm"))) == 30  # the two series the analysis needs
    assert widget.study_combo.count() == 1
    study = widget.current_study()
    assert all(str(copy) in sl.source for st in study.stacks for sl in st.slices)

    # the source instances are there for the SEG and SR of an export
    written = widget.export(tmp_path / "out")
    assert written and {"seg", "sr"} <= set(written) and written["sr"].is_file()
    # … and Store to PACS… sends them into the study on the server it came from
    assert widget.study.dicomweb_root == orthanc.dicomweb
    widget.store_to_pacs(widget.study.dicomweb_root)
    assert widget.exporter.storing
    qtbot.waitUntil(lambda: not widget.exporter.storing, timeout=60_000)
    line = widget.status.text()
    modalities = [s["00080060"]["Value"][0] for s in orthanc.series_of(sample_on_pacs)]
    assert sorted(modalities) == ["MR", "MR", "SEG", "SR"], line
    new = [s["0020000E"]["Value"][0] for s in orthanc.series_of(sample_on_pacs)
           if s["00080060"]["Value"][0] in ("SEG", "SR")]
    assert line.startswith(f"stored to {orthanc.url}: ") and all(uid in line for uid in new)
    assert PASSWORD not in line and not list(private_tmp.glob("mri-measure-napari-stow-*"))

    # another study opened (the CD again, same StudyInstanceUID): the copy is removed,
    # and the study offered is the CD's, not the removed copy's
    widget.open_source(SAMPLE / "CD")
    _wait(qtbot, widget)
    assert widget.session is not None and widget.table_values() == from_cd
    assert _copies(private_tmp) == [] and widget.study.remote_folders == []
    assert widget.study_combo.count() == 1
    assert not any(str(private_tmp) in sl.source for st in widget.current_study().stacks for sl in st.slices)


def test_closing_cancelling_and_server_errors_leave_no_folder(
        dock, qtbot, orthanc, sample_on_pacs, private_tmp, monkeypatch):
    viewer, widget = dock
    url = f"{orthanc.dicomweb}/studies/{sample_on_pacs}"

    # closed while under review: the copy goes
    widget.open_dicomweb(url)
    _wait(qtbot, widget)
    assert widget.session is not None and len(_copies(private_tmp)) == 1
    widget.close()
    assert _copies(private_tmp) == [] and widget.study_combo.count() == 0

    # cancelled while segmenting (retrieved already): the copy goes, the viewer is unchanged
    gated = GatedSegmenter(SAMPLE / "truth_labels.npz")
    widget.segmenter_factory = lambda: gated
    before = (len(viewer.layers), widget.session)
    widget.open_dicomweb(url)
    qtbot.waitUntil(gated.entered.is_set, timeout=120_000)
    assert len(_copies(private_tmp)) == 1
    widget.cancel_button.click()
    gated.gate.set()
    _wait(qtbot, widget)
    assert "cancelled" in widget.status.text()
    assert (len(viewer.layers), widget.session) == before and _copies(private_tmp) == []

    # refused credentials, a missing study, nothing listening: one line each, no secret, no folder
    cases = [(url, "wrong-" + PASSWORD, "HTTP 401"),
             (f"{orthanc.dicomweb}/studies/1.2.3.404", PASSWORD, "not found"),
             ("http://127.0.0.1:9/dicom-web/studies/1.2.3", PASSWORD, "cannot be reached")]
    for bad, password, expect in cases:
        monkeypatch.setenv("MRI_MEASURE_DICOMWEB_PASSWORD", password)
        widget.open_dicomweb(bad)
        _wait(qtbot, widget, 60_000)
        text = widget.status.text()
        assert text.startswith("Error: ") and expect in text, text
        assert "\n" not in text and "Traceback" not in text and PASSWORD not in text
        assert _copies(private_tmp) == []
    assert (len(viewer.layers), widget.session) == before
