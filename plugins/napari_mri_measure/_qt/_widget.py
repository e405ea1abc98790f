"""The mri-measure dock widget: segment, review, correct, export.

Flow: pick a study (from open layers, or **Open folder…**) and optionally its
axial series → **Segment** runs :func:`mri_measure.pipeline.analyse_study` in a
napari ``thread_worker`` (progress bar fed by the pipeline's progress callback,
**Cancel** stops it at the next stage) → the current stack is shown as image,
labels (contract values, named colours) and measurement lines → the per-level
table (levels with their slices as children) jumps to a slice on click →
edits with napari's own label tools (paint, erase, fill, polygon, undo) are
picked up from the labels layer's events, the changed slice is re-measured
from its hard labels and the table updated → **Set level** overrides the
current slice's level → **Export…** writes JSON/CSV/HTML/PDF/SEG/SR of the
corrected state; **Save training pairs…** writes corrected slices as
``mri-measure train --user-cases`` cases.

Errors the user can act on (:class:`~mri_measure.errors.MriMeasureError`) are
one line in the widget and a napari notification, never a traceback dialog.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from napari.layers import Image
from qtpy.QtCore import QObject, Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from mri_measure.errors import MriMeasureError
from mri_measure.types import Study

from .._layers import (
    LABEL_COLORS,
    LABEL_NAMES,
    META_KEY,
    TABLE_HEADERS,
    image_layer_data,
    labels_layer_data,
    lines_layer_data,
    measurement_lines,
    slice_world_position,
    stack_geometry,
    stack_name,
    table_rows,
)
from mri_measure.review import ReviewSession

log = logging.getLogger(__name__)

LEVEL_CHOICES = (
    "T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1", "L5-L6", "L6-S1", "unknown",
)
#: Delay (ms) that coalesces a burst of edit events into one re-measurement.
EDIT_DEBOUNCE_MS = 30
KEY_ROLE = Qt.ItemDataRole.UserRole


class _Cancelled(Exception):
    """Raised inside the worker (from the progress callback) when Cancel was pressed."""


class _Bridge(QObject):
    """Carries progress from the worker thread to the GUI thread (queued signal)."""

    progress = Signal(str, float)


def _hex(rgba) -> str:
    r, g, b = (int(round(255 * v)) for v in rgba[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


class MeasureWidget(QWidget):
    """Dock widget; ``napari_viewer`` is injected by napari."""

    #: emitted after the table was rebuilt (after segmentation, an edit or a level change)
    table_updated = Signal()

    def __init__(self, napari_viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = napari_viewer
        #: ``() -> Segmenter``; ``None`` uses the shipped model (via the pipeline)
        self.segmenter_factory: Callable[[], Any] | None = None
        self.session: ReviewSession | None = None
        self.current_stack = 0
        self.labels_layer = None
        self.lines_layer = None
        self.last_edit_seconds: float | None = None
        self._studies: list[Study] = []
        self._worker = None
        self._cancel = threading.Event()
        self._suspend_edits = False
        self._edit_started: float | None = None
        self._bridge = _Bridge()
        self._bridge.progress.connect(self._on_progress)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(EDIT_DEBOUNCE_MS)
        self._timer.timeout.connect(self.apply_edits)

        self._build_ui()
        self.viewer.layers.events.inserted.connect(self._refresh_studies)
        self.viewer.layers.events.removed.connect(self._on_layer_removed)
        self.viewer.dims.events.current_step.connect(self._on_slice_changed)
        self._refresh_studies()

    # ------------------------------------------------------------------ UI

    def _build_ui(self) -> None:
        lay = QVBoxLayout(self)

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

        row = QHBoxLayout()
        row.addWidget(QLabel("Stack:"))
        self.stack_combo = QComboBox()
        self.stack_combo.currentIndexChanged.connect(self._on_stack_chosen)
        row.addWidget(self.stack_combo, 1)
        lay.addLayout(row)

        legend = " &nbsp; ".join(
            f'<span style="color:{_hex(LABEL_COLORS[v])}">■</span> {LABEL_NAMES[v]} ({v})'
            for v in (1, 2, 3)
        )
        self.legend = QLabel(f"Labels: {legend} &nbsp; <i>lines: LF thickness, canal AP</i>")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        lay.addWidget(self.legend)

        self.table = QTreeWidget()
        self.table.setColumnCount(len(TABLE_HEADERS))
        self.table.setHeaderLabels(list(TABLE_HEADERS))
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setRootIsDecorated(True)
        self.table.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemClicked.connect(self._on_item_clicked)
        lay.addWidget(self.table, 1)

        row = QHBoxLayout()
        self.slice_label = QLabel("Slice: —")
        row.addWidget(self.slice_label, 1)
        self.level_combo = QComboBox()
        self.level_combo.addItems(list(LEVEL_CHOICES))
        row.addWidget(self.level_combo)
        self.level_button = QPushButton("Set level")
        self.level_button.setToolTip("Set the disc level of the slice shown")
        self.level_button.clicked.connect(lambda: self.set_current_level())
        row.addWidget(self.level_button)
        lay.addLayout(row)
        self.block_check = QCheckBox("apply to every slice of this stack (block)")
        lay.addWidget(self.block_check)

        row = QHBoxLayout()
        self.export_button = QPushButton("Export…")
        self.export_button.clicked.connect(lambda: self.export())
        self.pairs_button = QPushButton("Save training pairs…")
        self.pairs_button.clicked.connect(lambda: self.save_training_pairs())
        row.addWidget(self.export_button)
        row.addWidget(self.pairs_button)
        lay.addLayout(row)

        self.status = QLabel("Open a study (File ▸ Open, a sample, or Open folder…), then Segment.")
        self.status.setWordWrap(True)
        lay.addWidget(self.status)
        self._set_review_enabled(False)
        for combo in (self.study_combo, self.series_combo, self.stack_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(14)
        self.slice_label.setWordWrap(True)
        self.setMinimumWidth(360)

    def _set_review_enabled(self, on: bool) -> None:
        for w in (self.level_button, self.level_combo, self.export_button, self.pairs_button,
                  self.stack_combo, self.block_check):
            w.setEnabled(on)

    def _say(self, text: str) -> None:
        self.status.setText(text)

    def _show_error(self, exc: BaseException) -> None:
        if isinstance(exc, MriMeasureError):
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        else:
            # code locations only: an exception's message may carry input paths
            where = "".join(traceback.format_tb(exc.__traceback__)) if exc.__traceback__ else ""
            log.error("internal error in the mri-measure widget: %s\n%s", type(exc).__name__, where)
            msg = f"internal error ({type(exc).__name__}); see the log"
        self._say(f"Error: {msg}")
        try:
            from napari.utils.notifications import show_error

            show_error(f"mri-measure: {msg}")
        except Exception:  # pragma: no cover - notification system unavailable
            pass

    # ------------------------------------------------------------------ studies

    def _layer_studies(self) -> list[Study]:
        out = []
        for layer in self.viewer.layers:
            meta = layer.metadata.get(META_KEY) if isinstance(layer.metadata, dict) else None
            study = meta.get("study") if meta else None
            if isinstance(study, Study):
                out.append(study)
        return out

    def _refresh_studies(self, event: Any = None) -> None:
        known = {s.study_instance_uid for s in self._studies}
        for st in self._layer_studies():
            if st.study_instance_uid not in known:
                self._studies.append(st)
                known.add(st.study_instance_uid)
        current = self.study_combo.currentIndex()
        self.study_combo.blockSignals(True)
        self.study_combo.clear()
        for i, st in enumerate(self._studies):
            n_ax = len(st.stacks_with_role("axial_t2"))
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
        for st in study.stacks_with_role("axial_t2"):
            if st.series_instance_uid in seen:
                continue
            seen.add(st.series_instance_uid)
            n = sum(s.n_slices for s in study.stacks if s.series_instance_uid == st.series_instance_uid)
            num = f"#{st.series_number}" if st.series_number is not None else "#?"
            self.series_combo.addItem(f"axial_t2 {num} ({n} slices)", st.series_instance_uid)

    def current_study(self) -> Study | None:
        i = self.study_combo.currentIndex()
        return self._studies[i] if 0 <= i < len(self._studies) else None

    def open_source(self, path: str | Path | None = None) -> None:
        """Discover a CD / DICOMDIR / folder / file and offer its studies."""
        if path is None:
            path = QFileDialog.getExistingDirectory(self, "Open a study folder or CD")
            if not path:
                return
        try:
            from mri_measure.io import discover

            found = discover(path)
        except Exception as exc:  # noqa: BLE001 - shown as one line
            self._show_error(exc)
            return
        known = {s.study_instance_uid for s in self._studies}
        for st in found.studies:
            if st.study_instance_uid not in known:
                self._studies.append(st)
        self._refresh_studies()
        uids = [s.study_instance_uid for s in self._studies]
        if found.studies:
            self.study_combo.setCurrentIndex(uids.index(found.studies[0].study_instance_uid))
        self._say(f"found {len(found.studies)} study(ies); press Segment")

    # ------------------------------------------------------------------ segment

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def segment(self, study: Study | None = None, series: str | None = None) -> None:
        """Run the analysis in a worker thread; results arrive in :meth:`_on_analysis`."""
        if self.busy:
            return
        study = study or self.current_study()
        if study is None:
            self._show_error(MriMeasureError("no study open: open a CD or folder first"))
            return
        if series is None:
            series = self.series_combo.currentData()
        from napari.qt.threading import thread_worker

        from mri_measure.pipeline import analyse_study

        self._cancel.clear()
        bridge, cancel, factory = self._bridge, self._cancel, self.segmenter_factory

        def progress(stage: str, fraction: float) -> None:
            if cancel.is_set():
                raise _Cancelled()
            bridge.progress.emit(stage, float(fraction))

        def work():
            # user errors and cancellation come back as values: napari's worker would
            # otherwise relay them as exceptions (a traceback notification)
            try:
                segmenter = factory() if factory is not None else None
                progress("model", 0.0)
                analysis = analyse_study(study, series=series, segmenter=segmenter, progress=progress)
            except (MriMeasureError, _Cancelled) as exc:
                return ("error", exc)  # (superqt re-raises a returned exception)
            return ("ok", (analysis, study, segmenter))

        worker = thread_worker(work, start_thread=False)()
        worker.returned.connect(self._on_analysis)
        worker.errored.connect(self._on_worker_error)
        worker.finished.connect(self._on_worker_finished)
        self._worker = worker
        self.segment_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self.progress.setFormat("%p% starting")
        self._say("segmenting…")
        worker.start()

    def cancel(self) -> None:
        if self._worker is not None:
            self._cancel.set()
            self._say("cancelling…")

    def _on_progress(self, stage: str, fraction: float) -> None:
        self.progress.setValue(int(round(100 * max(0.0, min(1.0, fraction)))))
        self.progress.setFormat(f"%p% {stage}")

    def _on_worker_error(self, exc: BaseException) -> None:
        if isinstance(exc, _Cancelled):
            self.progress.setValue(0)
            self.progress.setFormat("cancelled")
            self._say("segmentation cancelled")
            return
        self.progress.setFormat("failed")
        self._show_error(exc)

    def _on_worker_finished(self) -> None:
        self._worker = None
        self.segment_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _on_analysis(self, result: tuple[str, Any]) -> None:
        kind, value = result
        if kind == "error":
            self._on_worker_error(value)
            return
        analysis, study, segmenter = value
        try:
            self.load_analysis(analysis, study=study, segmenter=segmenter)
        except Exception as exc:  # noqa: BLE001
            self._show_error(exc)

    def load_analysis(self, analysis: Any, *, study: Study | None = None, segmenter: Any = None) -> None:
        """Show a :class:`~mri_measure.types.StudyAnalysis` for review."""
        if not analysis.axial:
            raise MriMeasureError("the analysis has no measured axial stack")
        self.apply_edits()  # finish the previous session's pending edits
        self.session = ReviewSession(analysis, study=study, segmenter=segmenter)
        self.stack_combo.blockSignals(True)
        self.stack_combo.clear()
        for sa in analysis.axial:
            self.stack_combo.addItem(f"{stack_name(sa.loaded.stack)} ({len(sa.loaded.slices)} slices)")
        self.stack_combo.blockSignals(False)
        first = 0
        rows = table_rows(self.session.report(), self.session.index)
        if rows and rows[0].slice_key in self.session.index:
            first = self.session.index[rows[0].slice_key][0]
        self.show_stack(first)
        self._set_review_enabled(True)
        self.progress.setValue(100)
        self.progress.setFormat("%p% done")
        self.refresh_table()
        if rows and rows[0].slice_key:
            self.jump_to(rows[0].slice_key)
        n = sum(len(sa.loaded.slices) for sa in analysis.axial)
        model = (analysis.report.model or {}).get("name", "model")
        self._say(f"{model}: {n} slices in {len(analysis.axial)} stack(s), "
                  f"{len(analysis.report.levels)} level(s); edit the labels to correct")

    # ------------------------------------------------------------------ layers

    def _image_layer_for(self, stack: Any):
        for layer in self.viewer.layers:
            meta = layer.metadata.get(META_KEY) if isinstance(layer.metadata, dict) else None
            if not meta or not isinstance(layer, Image):
                continue
            st = meta.get("stack")
            if st is not None and st.series_instance_uid == stack.series_instance_uid \
                    and st.stack_id == stack.stack_id and len(layer.data) == stack.n_slices:
                return layer
        return None

    def show_stack(self, index: int) -> None:
        """Show stack ``index`` of the session: image, labels and lines layers."""
        assert self.session is not None
        self.apply_edits()  # never lose pending edits of the stack shown before
        st = self.session.stacks[index]
        sa = st.analysis
        self.current_stack = index
        session_stacks = {(s.analysis.loaded.stack.series_instance_uid, s.analysis.loaded.stack.stack_id)
                          for s in self.session.stacks}
        image = self._image_layer_for(sa.loaded.stack)
        if image is None:
            data, kwargs, _ = image_layer_data(sa.loaded, study=self.session.study)
            image = self.viewer.add_image(data, **kwargs)
        for layer in self.viewer.layers:
            meta = layer.metadata.get(META_KEY) if isinstance(layer.metadata, dict) else None
            other = meta.get("stack") if meta else None
            if other is not None and isinstance(layer, Image) and \
                    (other.series_instance_uid, other.stack_id) in session_stacks:
                layer.visible = layer is image

        data, kwargs, _ = labels_layer_data(sa, st.labels)
        meta = kwargs["metadata"]
        meta[META_KEY].update(session=self.session, stack_index=index)
        self._suspend_edits = True
        try:
            if self.labels_layer is None or self.labels_layer not in self.viewer.layers:
                self.labels_layer = self.viewer.add_labels(data, **kwargs)
                ev = self.labels_layer.events
                ev.paint.connect(self._on_labels_painted)
                ev.data.connect(self._on_labels_edited)
                ev.set_data.connect(self._on_labels_edited)
            else:
                lab = self.labels_layer
                lab.data = data
                lab.scale = kwargs["scale"]
                lab.translate = kwargs["translate"]
                lab.name = kwargs["name"]
                lab.metadata = meta
            self.labels_layer.selected_label = 1
        finally:
            self._suspend_edits = False
        self._update_lines()
        self.stack_combo.blockSignals(True)
        self.stack_combo.setCurrentIndex(index)
        self.stack_combo.blockSignals(False)
        self.viewer.layers.selection.active = self.labels_layer
        self._on_slice_changed()

    def _update_lines(self, changed: list[int] | None = None) -> None:
        """Redraw the measurement lines: all of them, or only those of ``changed`` slices."""
        assert self.session is not None
        st = self.session.stacks[self.current_stack]
        layer = self.lines_layer
        if layer is None or layer not in self.viewer.layers:
            data, kwargs, _ = lines_layer_data(st.analysis, st.measurements)
            active = self.viewer.layers.selection.active
            self.lines_layer = self.viewer.add_shapes(data if data else None, **kwargs)
            self.lines_layer.metadata[META_KEY]["stack_index"] = self.current_stack
            if active is not None and active in self.viewer.layers:
                self.viewer.layers.selection.active = active
            return
        same_stack = layer.metadata.get(META_KEY, {}).get("stack_index") == self.current_stack
        if not same_stack:
            _, kwargs, _ = lines_layer_data(st.analysis, [])
            layer.scale = kwargs["scale"]
            layer.translate = kwargs["translate"]
            layer.name = kwargs["name"]
            layer.metadata = {META_KEY: {**kwargs["metadata"][META_KEY], "stack_index": self.current_stack}}
            changed = None
        if changed is None:
            changed = list(range(len(st.measurements)))
        drop = {int(k) for k in changed}
        stale = [n for n, d in enumerate(layer.data) if int(round(float(d[0, 0]))) in drop]
        if stale:
            layer.selected_data = set(stale)
            layer.remove_selected()
        new = measurement_lines([st.measurements[k] for k in sorted(drop)], sorted(drop))
        if new.data:
            n_old = len(layer.data)
            layer.add(new.data, shape_type="line", edge_color=new.colors, edge_width=0.5)
            feats = layer.features.copy()
            for col, values in (("kind", new.kinds), ("value_mm", new.values_mm), ("label", new.labels)):
                if col not in feats:
                    feats[col] = None
                feats[col] = feats[col].astype(object)
                feats.iloc[n_old:, feats.columns.get_loc(col)] = values
            layer.features = feats

    def _on_layer_removed(self, event: Any = None) -> None:
        if self.labels_layer is not None and self.labels_layer not in self.viewer.layers:
            self.labels_layer = None
        if self.lines_layer is not None and self.lines_layer not in self.viewer.layers:
            self.lines_layer = None

    def _on_stack_chosen(self, index: int) -> None:
        if self.session is not None and 0 <= index < len(self.session.stacks) and index != self.current_stack:
            self.show_stack(index)

    # ------------------------------------------------------------------ navigation

    def _geometry(self, index: int | None = None):
        assert self.session is not None
        sa = self.session.stacks[self.current_stack if index is None else index].analysis
        return stack_geometry(sa.loaded.stack, sa.loaded.slices)

    def jump_to(self, slice_key: str) -> None:
        """Show the stack holding ``slice_key`` and move the slider to that slice."""
        if self.session is None or slice_key not in self.session.index:
            return
        i, k = self.session.index[slice_key]
        if i != self.current_stack:
            self.show_stack(i)
        scale, translate = self._geometry(i)
        self.viewer.dims.set_point(0, slice_world_position(scale, translate, k))
        self._on_slice_changed()

    def current_slice_index(self) -> int | None:
        if self.session is None or self.labels_layer is None:
            return None
        n = self.session.stacks[self.current_stack].labels.shape[0]
        k = int(round(float(self.labels_layer.world_to_data(self.viewer.dims.point)[0])))
        return k if 0 <= k < n else None

    def current_slice_key(self) -> str | None:
        k = self.current_slice_index()
        if k is None:
            return None
        return self.session.stacks[self.current_stack].keys[k]  # type: ignore[union-attr]

    def _on_slice_changed(self, event: Any = None) -> None:
        key = self.current_slice_key()
        if key is None or self.session is None:
            self.slice_label.setText("Slice: —")
            return
        k = self.current_slice_index()
        lv = self.session.assignments.get(key)
        level = lv.level if lv is not None and lv.level else "unknown"
        src = lv.source if lv is not None else "unknown"
        mark = ", corrected" if key in self.session.corrected else ""
        self.slice_label.setText(f"Slice {k + 1}: {level} ({src}{mark})")
        self.level_combo.blockSignals(True)
        self.level_combo.setCurrentText(level if level in LEVEL_CHOICES else "unknown")
        self.level_combo.blockSignals(False)

    def _on_item_clicked(self, item: QTreeWidgetItem, column: int = 0) -> None:
        key = item.data(0, KEY_ROLE)
        if key:
            self.jump_to(str(key))

    # ------------------------------------------------------------------ table

    def refresh_table(self) -> None:
        if self.session is None:
            return
        expanded = {
            self.table.topLevelItem(i).text(0)
            for i in range(self.table.topLevelItemCount())
            if self.table.topLevelItem(i).isExpanded()
        }
        self.table.clear()
        for row in table_rows(self.session.report(), self.session.index):
            item = QTreeWidgetItem(row.cells())
            item.setData(0, KEY_ROLE, row.slice_key)
            for child in row.children:
                c = QTreeWidgetItem(child.cells())
                c.setData(0, KEY_ROLE, child.slice_key)
                item.addChild(c)
            self.table.addTopLevelItem(item)
            item.setExpanded(row.title in expanded)
        self._on_slice_changed()
        self.table_updated.emit()

    def table_values(self) -> dict[str, dict[str, str]]:
        """Level title -> column header -> cell text (what the reader sees)."""
        out = {}
        for i in range(self.table.topLevelItemCount()):
            it = self.table.topLevelItem(i)
            out[it.text(0)] = {h: it.text(j) for j, h in enumerate(TABLE_HEADERS)}
        return out

    def slice_row(self, slice_key: str) -> dict[str, str] | None:
        """The table's cells of one slice (a child row), by slice key."""
        for i in range(self.table.topLevelItemCount()):
            it = self.table.topLevelItem(i)
            for j in range(it.childCount()):
                c = it.child(j)
                if c.data(0, KEY_ROLE) == slice_key:
                    return {"group": it.text(0), **{h: c.text(n) for n, h in enumerate(TABLE_HEADERS)}}
        return None

    # ------------------------------------------------------------------ edits

    def _on_labels_painted(self, event: Any = None) -> None:
        """A paint/fill/polygon/erase edit was recorded: re-measure now.

        napari's mouse tools emit ``paint`` once per stroke, after writing the
        data, so the table is updated before the canvas redraws. Programmatic
        edits outside a stroke record history *before* writing; for those the
        zero-delay timer picks the change up on the next turn of the event loop.
        """
        if self._suspend_edits or self.session is None:
            return
        self._edit_started = time.perf_counter()
        if not self.apply_edits():
            self._on_labels_edited()

    def _on_labels_edited(self, event: Any = None) -> None:
        if self._suspend_edits or self.session is None:
            return
        if self._edit_started is None:
            self._edit_started = time.perf_counter()
        self._timer.start()

    def apply_edits(self) -> list[str]:
        """Re-measure the slices of the shown stack whose labels changed."""
        self._timer.stop()
        started, self._edit_started = self._edit_started, None
        if self.session is None or self.labels_layer is None:
            return []
        owner = self.labels_layer.metadata.get(META_KEY, {})
        if owner.get("session") is not self.session or owner.get("stack_index") != self.current_stack:
            return []  # the layer still shows another session's or stack's labels
        try:
            keys = self.session.sync(self.current_stack, self.labels_layer.data)
        except Exception as exc:  # noqa: BLE001
            self._show_error(exc)
            return []
        if keys:
            idx = self.session.index
            # numbers first (the table), then the lines on the next turn of the event loop
            self.refresh_table()
            changed = [idx[k][1] for k in keys]
            stack = self.current_stack
            QTimer.singleShot(0, lambda: self._update_lines(changed) if self.current_stack == stack else None)
            if started is not None:
                self.last_edit_seconds = time.perf_counter() - started
            n = len(keys)
            self._say(f"re-measured {n} edited slice(s)")
        return keys

    def set_current_level(self, level: str | None = None, *, whole_block: bool | None = None) -> None:
        """Override the level of the slice shown, or of every slice of its stack when
        ``whole_block`` (default: the checkbox); ``'unknown'``/None clears it."""
        key = self.current_slice_key()
        if key is None or self.session is None:
            self._show_error(MriMeasureError("no slice shown: segment a study first"))
            return
        if level is None:
            level = self.level_combo.currentText()
        if whole_block is None:
            whole_block = self.block_check.isChecked()
        keys = self.session.stacks[self.current_stack].keys if whole_block else [key]
        try:
            self.apply_edits()
            lv = self.session.set_level(keys, None if level in (None, "", "unknown") else level)
        except Exception as exc:  # noqa: BLE001
            self._show_error(exc)
            return
        self.refresh_table()
        what = f"{len(keys)} slices" if whole_block else "slice"
        self._say(f"{what} set to {lv.level or 'unknown'} (user)")

    # ------------------------------------------------------------------ outputs

    def export(self, out_dir: str | Path | None = None) -> dict[str, Path] | None:
        """Write measurements JSON/CSV, report HTML/PDF, SEG and SR of the corrected state."""
        if self.session is None:
            self._show_error(MriMeasureError("nothing to export: segment a study first"))
            return None
        if out_dir is None:
            out_dir = QFileDialog.getExistingDirectory(self, "Export to folder")
            if not out_dir:
                return None
        self.apply_edits()
        try:
            written = self.session.write(out_dir)
        except Exception as exc:  # noqa: BLE001
            self._show_error(exc)
            return None
        self._say(f"exported {len(written)} file(s): " + ", ".join(sorted(p.name for p in written.values())))
        return written

    def save_training_pairs(self, out_dir: str | Path | None = None) -> list[Path] | None:
        """Save every corrected slice as an ``mri-measure train --user-cases`` case."""
        if self.session is None:
            self._show_error(MriMeasureError("nothing to save: segment a study first"))
            return None
        self.apply_edits()
        if not self.session.corrected:
            self._say("no corrected slice to save yet: edit the labels first")
            return []
        if out_dir is None:
            out_dir = QFileDialog.getExistingDirectory(self, "Save training pairs to folder")
            if not out_dir:
                return None
        try:
            written = self.session.save_training_pairs(out_dir)
        except Exception as exc:  # noqa: BLE001
            self._show_error(exc)
            return None
        self._say(f"saved {len(written)} corrected slice(s) as training pairs")
        return written

    def closeEvent(self, event: Any) -> None:  # pragma: no cover - GUI teardown
        self.cancel()
        super().closeEvent(event)
