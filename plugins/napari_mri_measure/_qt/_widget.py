"""The mri-measure dock widget: segment, review, correct, export.

One widget per concern, composed here (as napari-animation keeps one widget
per file under ``_qt/``):

* :class:`~._study.StudyPanel` (``_study.py``): **Open folder…** or **Open
  DICOMweb study…** (a URL), or pick a study from open layers and optionally its
  axial series → **Segment**; each runs :func:`mri_measure.analyse_study` of its
  source in a napari ``thread_worker`` (progress bar fed by the pipeline's
  progress callback; **Cancel** stops it at the next chunk of slices and leaves
  the viewer unchanged);
* :class:`~._editing.EditingPanel` (``_editing.py``): the current stack as
  image, labels (contract values, named colours) and measurement lines; edits
  with napari's own label tools are picked up from the labels layer's events,
  the changed slice is re-measured from its hard labels; **Set level**
  overrides the current slice's (or block's) level;
* :class:`~._table.LevelTable` (``_table.py``): levels with their slices as
  children; a click jumps to a slice;
* :class:`~._export.ExportPanel` (``_export.py``): **Export…**, **Store to
  PACS…** (SEG/SR by STOW-RS) and **Save training pairs…** of the corrected state.

The correction loop itself is the core :class:`mri_measure.review.ReviewSession`;
nothing here measures, assigns levels or builds reports.

Errors the user can act on (:class:`~mri_measure.MriMeasureError`) are one
line in the widget and a napari notification, never a traceback dialog.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QLabel, QVBoxLayout, QWidget

from mri_measure import MriMeasureError, Study, StudyAnalysis
from mri_measure.review import ReviewSession

from .._layers import table_rows
from ._common import error_line, notify_error
from ._editing import EDIT_DEBOUNCE_MS, LEVEL_CHOICES, EditingPanel
from ._export import ExportPanel
from ._study import StudyPanel
from ._table import LevelTable

__all__ = ["EDIT_DEBOUNCE_MS", "LEVEL_CHOICES", "MeasureWidget"]


class MeasureWidget(QWidget):
    """Dock widget; ``napari_viewer`` is injected by napari."""

    #: emitted after the table was rebuilt (after segmentation, an edit or a level change)
    table_updated = Signal()

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        self.status = QLabel("Open a study (File ▸ Open, a sample, Open folder… or Open DICOMweb study…), "
                             "then Segment.")
        self.status.setWordWrap(True)
        self.study = StudyPanel(napari_viewer, say=self._say, show_error=self._show_error,
                                on_analysis=self._on_analysis, parent=self)
        self.editing = EditingPanel(napari_viewer, say=self._say, show_error=self._show_error,
                                    on_changed=self.refresh_table, parent=self)
        self.table = LevelTable(self.editing.jump_to, parent=self)
        self.exporter = ExportPanel(session=lambda: self.session, before_write=self.apply_edits,
                                    say=self._say, show_error=self._show_error,
                                    default_root=lambda: self.study.dicomweb_root, parent=self)
        lay = QVBoxLayout(self)
        lay.addWidget(self.study)
        lay.addWidget(self.editing.stack_panel)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.editing.level_panel)
        lay.addWidget(self.exporter)
        lay.addWidget(self.status)
        self.setMinimumWidth(360)

        # the panels' controls, by their old names (tests and scripts drive them)
        s, e, x = self.study, self.editing, self.exporter
        self.study_combo, self.open_button, self.series_combo = s.study_combo, s.open_button, s.series_combo
        self.segment_button, self.cancel_button, self.progress = s.segment_button, s.cancel_button, s.progress
        self.dicomweb_button = s.dicomweb_button
        self._bridge = s.bridge
        self.stack_combo, self.legend, self.slice_label = e.stack_combo, e.legend, e.slice_label
        self.level_combo, self.level_button, self.block_check = e.level_combo, e.level_button, e.block_check
        self.export_button, self.pairs_button, self.store_button = x.export_button, x.pairs_button, x.store_button

    # ------------------------------------------------------------------ messages

    def _say(self, text: str) -> None:
        self.status.setText(text)

    def _show_error(self, exc: BaseException) -> None:
        msg = error_line(exc)
        self._say(f"Error: {msg}")
        notify_error(msg)

    # ------------------------------------------------------------------ state of the panels

    @property
    def segmenter_factory(self) -> Callable[[], Any] | None:
        """``() -> Segmenter``; ``None`` uses the shipped model (via the pipeline)."""
        return self.study.segmenter_factory

    @segmenter_factory.setter
    def segmenter_factory(self, factory: Callable[[], Any] | None) -> None:
        self.study.segmenter_factory = factory

    @property
    def busy(self) -> bool:
        return self.study.busy

    @property
    def session(self) -> ReviewSession | None:
        return self.editing.session

    @property
    def current_stack(self) -> int:
        return self.editing.current_stack

    @property
    def labels_layer(self) -> Any:
        return self.editing.labels_layer

    @property
    def lines_layer(self) -> Any:
        return self.editing.lines_layer

    @property
    def last_edit_seconds(self) -> float | None:
        return self.editing.last_edit_seconds

    # ------------------------------------------------------------------ studies and segmentation

    def current_study(self) -> Study | None:
        return self.study.current_study()

    def open_source(self, path: str | Path | None = None) -> None:
        self.study.open_source(path)

    def open_dicomweb(self, url: str | None = None) -> None:
        self.study.open_dicomweb(url)

    def segment(self, study: Study | None = None, series: str | None = None) -> None:
        self.study.segment(study, series)

    def cancel(self) -> None:
        self.study.cancel()

    def _on_analysis(self, analysis: StudyAnalysis, study: Study, segmenter: Any) -> None:
        self.load_analysis(analysis, study=study, segmenter=segmenter)

    def load_analysis(self, analysis: StudyAnalysis, *, study: Study | None = None, segmenter: Any = None) -> None:
        """Show a :class:`~mri_measure.StudyAnalysis` for review."""
        if not analysis.axial:
            raise MriMeasureError("the analysis has no measured axial stack")
        self.apply_edits()  # finish the previous session's pending edits
        session = ReviewSession(analysis, study=study, segmenter=segmenter)
        rows = table_rows(session.report(), session.index)
        first = 0
        if rows and rows[0].slice_key in session.index:
            first = session.index[rows[0].slice_key][0]
        self.editing.start(session, first)
        self.exporter.set_enabled(True)
        self.study.show_done()
        self.refresh_table()
        if rows and rows[0].slice_key:
            self.jump_to(rows[0].slice_key)
        n = sum(len(sa.loaded.slices) for sa in analysis.axial)
        model = (analysis.report.model or {}).get("name", "model")
        self._say(f"{model}: {n} slices in {len(analysis.axial)} stack(s), "
                  f"{len(analysis.report.levels)} level(s); edit the labels to correct")

    # ------------------------------------------------------------------ review

    def show_stack(self, index: int) -> None:
        self.editing.show_stack(index)

    def jump_to(self, slice_key: str) -> None:
        self.editing.jump_to(slice_key)

    def current_slice_index(self) -> int | None:
        return self.editing.current_slice_index()

    def current_slice_key(self) -> str | None:
        return self.editing.current_slice_key()

    def apply_edits(self) -> list[str]:
        return self.editing.apply_edits()

    def set_current_level(self, level: str | None = None, *, whole_block: bool | None = None) -> None:
        self.editing.set_current_level(level, whole_block=whole_block)

    def refresh_table(self) -> None:
        if self.session is None:
            return
        self.table.show_report(self.session.report(), self.session.index)
        self.editing._on_slice_changed()
        self.table_updated.emit()

    def table_values(self) -> dict[str, dict[str, str]]:
        """Level title -> column header -> cell text (what the reader sees)."""
        return self.table.values()

    def slice_row(self, slice_key: str) -> dict[str, str] | None:
        """The table's cells of one slice (a child row), by slice key."""
        return self.table.slice_row(slice_key)

    # ------------------------------------------------------------------ outputs

    def export(self, out_dir: str | Path | None = None) -> dict[str, Path] | None:
        return self.exporter.export(out_dir)

    def store_to_pacs(self, root: str | None = None) -> None:
        self.exporter.store_to_pacs(root)

    def save_training_pairs(self, out_dir: str | Path | None = None) -> list[Path] | None:
        return self.exporter.save_training_pairs(out_dir)

    def close_study(self) -> None:
        """Remove the temporary folders of studies opened by URL (closing the widget does)."""
        self.study.close_remote()

    def closeEvent(self, event: Any) -> None:
        self.study.close_remote()  # cancels a load in flight, removes the DICOMweb copies
        super().closeEvent(event)
