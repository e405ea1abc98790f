"""Study panel: **Open folder…** / **Open DICOMweb study…**, pick a study (from
open layers or what was opened) and its axial series, **Segment**.

Opening and segmenting are one path, :func:`mri_measure.analyse_study` of the
source (a folder, a URL, or a discovered :class:`~mri_measure.Study`), run in a
napari ``thread_worker`` off the GUI thread, with a progress bar fed by the
pipeline's ``progress(stage, fraction)`` callback. **Cancel** makes that callback
raise at its next call (the next chunk of slices): the worker ends, and nothing in
the viewer or the panel changes (results reach the viewer only on success). A
folder with several studies or axial series is offered in the combos instead
(discovered in the same worker), to pick one and press **Segment**.

A DICOMweb study URL is first retrieved in the same worker (the series the analysis
needs, progress ``retrieve``, Cancel stops it at the next instance) into a private
temporary folder (``.._dicomweb.RemoteCopy``), then opened as a folder. The panel
keeps that folder while the study is the one under review (Segment again, Export's
SEG/SR need its files) and removes it when another study replaces it, when the
widget is closed or destroyed, or at once when the load fails or is cancelled; the
study then leaves the combos."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from mri_measure import AmbiguousSeriesError, MriMeasureError, OptionError, StackRole, Study, StudyAnalysis

from .._layers import META_KEY
from ._common import Say, ShowError

#: ``(analysis, study, segmenter)`` of a finished segmentation
OnAnalysis = Callable[[StudyAnalysis, Study, Any], None]


#: URL schemes "Open DICOMweb study…" accepts
URL_SCHEMES = ("http://", "https://")


def is_url(source: Any) -> bool:
    """True for a DICOMweb URL (``http(s)://…``), as opposed to a path or a Study.

    >>> is_url("https://pacs.example/dicom-web/studies/1.2.3"), is_url("/data/CD")
    (True, False)
    """
    return isinstance(source, str) and source.strip().lower().startswith(URL_SCHEMES)


class Cancelled(Exception):
    """Raised inside the worker (from the progress callback) when Cancel was pressed."""


class ProgressBridge(QObject):
    """Carries progress from the worker thread to the GUI thread (queued signal)."""

    progress = Signal(str, float)


class StudyPanel(QWidget):
    def __init__(
        self, viewer: Any, *, say: Say, show_error: ShowError, on_analysis: OnAnalysis,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self._say, self._show_error, self._on_analysis_ready = say, show_error, on_analysis
        #: ``() -> Segmenter``; ``None`` uses the shipped model (via the pipeline)
        self.segmenter_factory: Callable[[], Any] | None = None
        self._studies: list[Study] = []
        #: StudyInstanceUID -> the temporary folder of a study opened by URL
        self._remote: dict[str, Any] = {}
        #: studies whose temporary folder was removed: no longer offered (their layers may stay)
        self._gone: set[str] = set()
        #: the DICOMweb root the study under review came from (offered by Store to PACS…)
        self.dicomweb_root: str | None = None
        self._worker: Any = None
        self._cancel = threading.Event()
        self.bridge = ProgressBridge()
        self.bridge.progress.connect(self._on_progress)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Study:"))
        self.study_combo = QComboBox()
        self.study_combo.currentIndexChanged.connect(self._refresh_series)
        row.addWidget(self.study_combo, 1)
        self.open_button = QPushButton("Open folder…")
        self.open_button.clicked.connect(lambda: self.open_source())
        row.addWidget(self.open_button)
        lay.addLayout(row)
        row = QHBoxLayout()
        row.addStretch(1)
        self.dicomweb_button = QPushButton("Open DICOMweb study…")
        self.dicomweb_button.setToolTip("a DICOMweb study URL: http(s)://host:port/dicom-web/studies/<StudyInstanceUID>")
        self.dicomweb_button.clicked.connect(lambda: self.open_dicomweb())
        row.addWidget(self.dicomweb_button)
        lay.addLayout(row)

        row = QHBoxLayout()
        row.addWidget(QLabel("Axial series:"))
        self.series_combo = QComboBox()
        row.addWidget(self.series_combo, 1)
        lay.addLayout(row)

        row = QHBoxLayout()
        self.segment_button = QPushButton("Segment")
        self.segment_button.clicked.connect(lambda: self.segment())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.segment_button)
        row.addWidget(self.cancel_button)
        lay.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setValue(0)
        lay.addWidget(self.progress)
        for combo in (self.study_combo, self.series_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(14)

        self.viewer.layers.events.inserted.connect(self.refresh_studies)
        self.destroyed.connect(functools.partial(_remove_all, self._remote))
        self.refresh_studies()

    # ------------------------------------------------------------------ studies

    def _layer_studies(self) -> list[Study]:
        out = []
        for layer in self.viewer.layers:
            meta = layer.metadata.get(META_KEY) if isinstance(layer.metadata, dict) else None
            study = meta.get("study") if meta else None
            if isinstance(study, Study):
                out.append(study)
        return out

    def refresh_studies(self, event: Any = None) -> None:
        known = {s.study_instance_uid for s in self._studies}
        for st in self._layer_studies():
            if st.study_instance_uid not in known and st.study_instance_uid not in self._gone:
                self._studies.append(st)
                known.add(st.study_instance_uid)
        current = self.study_combo.currentIndex()
        self.study_combo.blockSignals(True)
        self.study_combo.clear()
        for i, st in enumerate(self._studies):
            n_ax = len(st.stacks_with_role(StackRole.AXIAL_T2))
            self.study_combo.addItem(f"study {i + 1} ({len(st.stacks)} stacks, {n_ax} axial T2)")
        if self._studies:
            self.study_combo.setCurrentIndex(current if 0 <= current < len(self._studies) else len(self._studies) - 1)
        self.study_combo.blockSignals(False)
        self._refresh_series()

    def _refresh_series(self, *_: Any) -> None:
        self.series_combo.clear()
        self.series_combo.addItem("automatic", None)
        study = self.current_study()
        if study is None:
            return
        seen = set()
        for st in study.stacks_with_role(StackRole.AXIAL_T2):
            if st.series_instance_uid in seen:
                continue
            seen.add(st.series_instance_uid)
            n = sum(s.n_slices for s in study.stacks if s.series_instance_uid == st.series_instance_uid)
            num = f"#{st.series_number}" if st.series_number is not None else "#?"
            self.series_combo.addItem(f"{StackRole.AXIAL_T2} {num} ({n} slices)", st.series_instance_uid)

    def current_study(self) -> Study | None:
        i = self.study_combo.currentIndex()
        return self._studies[i] if 0 <= i < len(self._studies) else None

    def _add_studies(self, studies: list[Study], select: Study | None = None, *, replace: bool = False) -> None:
        if replace:  # the same study opened again (a new temporary folder): the new Study wins
            uids = {s.study_instance_uid for s in studies}
            self._studies = [s for s in self._studies if s.study_instance_uid not in uids]
        known = {s.study_instance_uid for s in self._studies}
        for st in studies:
            if st.study_instance_uid not in known:
                self._studies.append(st)
                known.add(st.study_instance_uid)
        self.refresh_studies()
        if select is not None:
            uids = [s.study_instance_uid for s in self._studies]
            self.study_combo.setCurrentIndex(uids.index(select.study_instance_uid))

    def open_source(self, path: str | Path | None = None) -> None:
        """Open a CD / DICOMDIR / folder / zip / file: analysed off the GUI thread
        (see the module docstring); a folder of several studies or series is offered
        in the combos instead."""
        if path is None:
            path = QFileDialog.getExistingDirectory(self, "Open a study folder or CD")
            if not path:
                return
        self.run(str(path), label="opening")

    def open_dicomweb(self, url: str | None = None) -> None:
        """Open one study from a PACS by its DICOMweb URL, as :meth:`open_source`."""
        if url is None:
            url, ok = QInputDialog.getText(
                self, "Open DICOMweb study",
                "DICOMweb study URL (http(s)://host:port/dicom-web/studies/<StudyInstanceUID>):")
            if not ok or not url.strip():
                return
        url = url.strip()
        if not is_url(url):
            self._show_error(OptionError("a DICOMweb study URL starts with http:// or https://"))
            return
        self.run(url, label="opening")

    # ------------------------------------------------------------------ segment

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def segment(self, study: Study | None = None, series: str | None = None) -> None:
        """Run the analysis in a worker thread; results go to ``on_analysis``."""
        if self.busy:
            return
        study = study or self.current_study()
        if study is None:
            self._show_error(MriMeasureError("no study open: open a CD or folder first"))
            return
        if series is None:
            series = self.series_combo.currentData()
        self.run(study, series=series, label="segmenting")

    def run(self, source: str | Study, *, series: str | None = None, label: str = "segmenting") -> None:
        """:func:`mri_measure.analyse_study` of ``source`` (a path, a DICOMweb URL or a
        Study) in a napari ``thread_worker``, with progress and cancel."""
        if self.busy:
            return
        from napari.qt.threading import thread_worker

        from mri_measure import analyse_study

        self._cancel.clear()
        bridge, cancel, factory = self.bridge, self._cancel, self.segmenter_factory
        remote = None
        if is_url(source):
            from .._dicomweb import RemoteCopy

            remote = RemoteCopy()

        def progress(stage: str, fraction: float) -> None:
            if cancel.is_set():
                raise Cancelled()
            bridge.progress.emit(stage, float(fraction))

        def work() -> tuple[str, Any]:
            # user errors and cancellation come back as values: napari's worker would
            # otherwise relay them as exceptions (a traceback notification)
            chosen: list[Study] = []
            ok = False
            try:
                progress("open" if label == "opening" else "model", 0.0)
                where: str | Study = source
                if remote is not None:
                    from .._dicomweb import retrieve

                    retrieve(str(source), remote, series=series, progress=progress)
                    where = str(remote.folder)
                segmenter = factory() if factory is not None else None
                progress("model", 0.0)
                analysis = analyse_study(where, series=series, segmenter=segmenter, progress=progress,
                                         on_study=chosen.append)
                ok = True
            except AmbiguousSeriesError as exc:
                if isinstance(source, Study) or is_url(source):
                    return ("error", exc)
                try:  # several studies or axial series: offer them to choose from
                    from mri_measure import discover

                    return ("choose", (list(discover(source).studies), exc))
                except MriMeasureError as exc2:
                    return ("error", exc2)
            except (MriMeasureError, Cancelled) as exc:
                return ("error", exc)  # (superqt re-raises a returned exception)
            finally:
                if remote is not None and not ok:
                    remote.remove()  # a failed or cancelled load leaves no copy behind
            study = source if isinstance(source, Study) else chosen[0]
            return ("ok", (analysis, study, segmenter, remote, source if remote is not None else None))

        worker = thread_worker(work, start_thread=False)()
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_worker_error)
        worker.finished.connect(self._on_worker_finished)
        self._worker = worker
        for button in (self.segment_button, self.open_button, self.dicomweb_button):
            button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self.progress.setFormat("%p% starting")
        self._say(f"{label}…")
        worker.start()

    def cancel(self) -> None:
        if self._worker is not None:
            self._cancel.set()
            self._say("cancelling…")

    def show_done(self) -> None:
        self.progress.setValue(100)
        self.progress.setFormat("%p% done")

    def _on_progress(self, stage: str, fraction: float) -> None:
        self.progress.setValue(int(round(100 * max(0.0, min(1.0, fraction)))))
        self.progress.setFormat(f"%p% {stage}")

    def _on_worker_error(self, exc: BaseException) -> None:
        if isinstance(exc, Cancelled):
            self.progress.setValue(0)
            self.progress.setFormat("cancelled")
            self._say("cancelled; nothing was changed")
            return
        self.progress.setFormat("failed")
        self._show_error(exc)

    def _on_worker_finished(self) -> None:
        self._worker = None
        for button in (self.segment_button, self.open_button, self.dicomweb_button):
            button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _on_returned(self, result: tuple[str, Any]) -> None:
        kind, value = result
        if kind == "error":
            self._on_worker_error(value)
            return
        if kind == "choose":
            studies, _why = value
            self._add_studies(studies, select=studies[0] if studies else None)
            self.progress.setValue(0)
            self.progress.setFormat("choose a study")
            what = "studies" if len(studies) > 1 else "axial T2 series"
            self._say(f"found several {what}; choose one and press Segment")
            return
        analysis, study, segmenter, remote, url = value
        again = any(s is study for s in self._studies)  # Segment of a study already offered
        try:
            self._on_analysis_ready(analysis, study, segmenter)
        except Exception as exc:  # noqa: BLE001
            if remote is not None:
                remote.remove()
            self._show_error(exc)
            return
        uid = study.study_instance_uid
        for other in [u for u in self._remote if not (again and u == uid)]:
            self._release(other)  # replaced by a newly opened study (the same one by URL too)
        if remote is not None:
            self._remote[uid] = remote
        if not again:
            from .._dicomweb import root_of

            self.dicomweb_root = root_of(url) if url is not None else None
        self._gone.discard(uid)  # this study is live again
        self._add_studies([study], select=study, replace=not again)

    # ------------------------------------------------------------------ temporary folders

    @property
    def remote_folders(self) -> list[Path]:
        """The temporary folders of studies opened by URL and still kept."""
        return [copy.folder for copy in self._remote.values()]

    def _release(self, uid: str) -> None:
        """Remove the temporary folder of a study opened by URL; it leaves the combos."""
        copy = self._remote.pop(uid, None)
        if copy is None:
            return
        copy.remove()
        self._gone.add(uid)
        self._studies = [s for s in self._studies if s.study_instance_uid != uid]
        self.refresh_studies()

    def close_remote(self) -> None:
        """Remove every temporary folder (the widget is closed); a load in flight is cancelled
        and removes its own."""
        self.cancel()
        for uid in list(self._remote):
            self._release(uid)


def _remove_all(copies: dict[str, Any], *_: Any) -> None:
    """``destroyed`` of the panel: the Python object may be gone, the copies are not."""
    for copy in list(copies.values()):
        copy.remove()
    copies.clear()
