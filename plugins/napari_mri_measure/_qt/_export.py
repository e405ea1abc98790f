"""Export panel: **Export…** writes JSON/CSV/HTML/PDF/SEG/SR of the corrected
state; **Store to PACS…** sends its SEG and SR into the study on a DICOMweb
server (STOW-RS, off the GUI thread; the root the study was opened from is
offered); **Save training pairs…** writes corrected slices as
``mri-measure train --user-cases`` cases. All go through the core
:class:`mri_measure.review.ReviewSession`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from qtpy.QtWidgets import QFileDialog, QHBoxLayout, QInputDialog, QPushButton, QWidget

from mri_measure import MriMeasureError
from mri_measure.review import ReviewSession

from ._common import Say, ShowError


#: Sub-folder made when the folder picked for an export already holds other files
#: (the core never replaces files it did not write).
RESULTS_SUBFOLDER = "mri-measure-results"


def results_folder(picked: Path) -> Path:
    """The folder an export picked in the dialog goes to: ``picked`` itself when it
    is empty or holds earlier results, else a ``mri-measure-results`` folder in it."""
    if not picked.is_dir() or (picked / "measurements.json").is_file() or not any(picked.iterdir()):
        return picked
    return picked / RESULTS_SUBFOLDER


class ExportPanel(QWidget):
    """``session()`` gives the session to write; ``before_write()`` flushes pending edits."""

    def __init__(
        self, *, session: Callable[[], ReviewSession | None], before_write: Callable[[], Any],
        say: Say, show_error: ShowError, default_root: Callable[[], str | None] = lambda: None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._session, self._before_write = session, before_write
        self._default_root = default_root
        self._store_worker: Any = None
        self._say, self._show_error = say, show_error
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.export_button = QPushButton("Export…")
        self.export_button.clicked.connect(lambda: self.export())
        self.pairs_button = QPushButton("Save training pairs…")
        self.pairs_button.clicked.connect(lambda: self.save_training_pairs())
        self.store_button = QPushButton("Store to PACS…")
        self.store_button.setToolTip("STOW the SEG and SR into the study on a DICOMweb server "
                                     "(credentials from MRI_MEASURE_DICOMWEB_*)")
        self.store_button.clicked.connect(lambda: self.store_to_pacs())
        row.addWidget(self.export_button)
        row.addWidget(self.store_button)
        row.addWidget(self.pairs_button)
        self.set_enabled(False)

    def set_enabled(self, on: bool) -> None:
        self.export_button.setEnabled(on)
        self.pairs_button.setEnabled(on)
        self.store_button.setEnabled(on and self._store_worker is None)

    @property
    def storing(self) -> bool:
        return self._store_worker is not None

    def store_to_pacs(self, root: str | None = None) -> None:
        """STOW the SEG and SR of the corrected state into the study on the DICOMweb
        ``root`` (asked for, the study's own server offered), in a worker thread."""
        session = self._session()
        if session is None:
            self._show_error(MriMeasureError("nothing to store: segment a study first"))
            return
        if self._store_worker is not None:
            return
        if root is None:
            root, ok = QInputDialog.getText(self, "Store to PACS", "DICOMweb root URL (http(s)://host:port/dicom-web):",
                                            text=self._default_root() or "")
            if not ok or not root.strip():
                return
        self._before_write()
        analysis = session.analysis()  # a snapshot: edits made meanwhile are not sent
        from napari.qt.threading import thread_worker

        from .._dicomweb import store_results

        def work() -> tuple[str, Any]:
            try:
                return ("ok", store_results(root.strip(), analysis))
            except MriMeasureError as exc:
                return ("error", exc)

        worker = thread_worker(work, start_thread=False)()
        worker.returned.connect(self._on_stored)
        worker.errored.connect(self._show_error)
        worker.finished.connect(self._on_store_finished)
        self._store_worker = worker
        self.store_button.setEnabled(False)
        self._say("storing the SEG and SR…")
        worker.start()

    def _on_stored(self, result: tuple[str, Any]) -> None:
        kind, value = result
        if kind == "error":
            self._show_error(value)
        else:
            self._say(value)

    def _on_store_finished(self) -> None:
        self._store_worker = None
        self.store_button.setEnabled(self._session() is not None)

    def export(self, out_dir: str | Path | None = None) -> dict[str, Path] | None:
        """Write measurements JSON/CSV, report HTML/PDF, SEG and SR of the corrected state."""
        session = self._session()
        if session is None:
            self._show_error(MriMeasureError("nothing to export: segment a study first"))
            return None
        if out_dir is None:
            out_dir = QFileDialog.getExistingDirectory(self, "Export to folder")
            if not out_dir:
                return None
            out_dir = results_folder(Path(out_dir))
        self._before_write()
        try:
            written = session.write(out_dir)
        except Exception as exc:  # noqa: BLE001
            self._show_error(exc)
            return None
        self._say(f"exported {len(written)} file(s): " + ", ".join(sorted(p.name for p in written.values())))
        return written

    def save_training_pairs(self, out_dir: str | Path | None = None) -> list[Path] | None:
        """Save every corrected slice as an ``mri-measure train --user-cases`` case."""
        session = self._session()
        if session is None:
            self._show_error(MriMeasureError("nothing to save: segment a study first"))
            return None
        self._before_write()
        if not session.corrected:
            self._say("no corrected slice to save yet: edit the labels first")
            return []
        if out_dir is None:
            out_dir = QFileDialog.getExistingDirectory(self, "Save training pairs to folder")
            if not out_dir:
                return None
        try:
            written = session.save_training_pairs(out_dir)
        except Exception as exc:  # noqa: BLE001
            self._show_error(exc)
            return None
        self._say(f"saved {len(written)} corrected slice(s) as training pairs")
        return written
