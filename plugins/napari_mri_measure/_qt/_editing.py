"""Editing: the shown stack as image, labels and measurement-line layers; edits
made with napari's own label tools (paint, erase, fill, polygon, undo) are picked
up from the labels layer's events and the changed slices re-measured live through
the core :class:`mri_measure.review.ReviewSession`; **Set level** overrides the
level of the slice shown (or of its whole block).

Two panels: :attr:`EditingPanel.stack_panel` (stack choice and label legend, above
the table) and :attr:`EditingPanel.level_panel` (slice shown and its level, below).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from napari.layers import Image
from qtpy.QtCore import QObject, Qt, QTimer
from qtpy.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from mri_measure import CHOOSABLE_LEVELS, Label, LevelSource, MriMeasureError, Stack
from mri_measure.measure.quality import reported
from mri_measure.review import ReviewSession

from .._layers import (
    LABEL_COLORS,
    LABEL_NAMES,
    META_KEY,
    image_layer_data,
    labels_layer_data,
    lines_layer_data,
    measurement_lines,
    slice_world_position,
    stack_geometry,
    stack_name,
)
from ._common import Say, ShowError, hex_colour

LEVEL_CHOICES = (*CHOOSABLE_LEVELS, str(LevelSource.UNKNOWN))
#: Delay (ms) that coalesces a burst of edit events into one re-measurement.
EDIT_DEBOUNCE_MS = 30


class EditingPanel(QObject):
    """Layers, live re-measurement and level overrides of one :class:`ReviewSession`.

    ``on_changed()`` is called after the session's report changed (an edit or a level).
    """

    def __init__(
        self, viewer: Any, *, say: Say, show_error: ShowError, on_changed: Callable[[], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self._say, self._show_error, self._on_changed = say, show_error, on_changed
        self.session: ReviewSession | None = None
        self.current_stack = 0
        self.labels_layer: Any = None
        self.lines_layer: Any = None
        self.last_edit_seconds: float | None = None
        self._suspend_edits = False
        self._edit_started: float | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(EDIT_DEBOUNCE_MS)
        self._timer.timeout.connect(self.apply_edits)

        self.stack_panel = QWidget(parent)
        lay = QVBoxLayout(self.stack_panel)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Stack:"))
        self.stack_combo = QComboBox()
        self.stack_combo.currentIndexChanged.connect(self._on_stack_chosen)
        self.stack_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.stack_combo.setMinimumContentsLength(14)
        row.addWidget(self.stack_combo, 1)
        lay.addLayout(row)
        legend = " &nbsp; ".join(
            f'<span style="color:{hex_colour(LABEL_COLORS[int(v)])}">■</span> {LABEL_NAMES[int(v)]} ({int(v)})'
            for v in Label.structures()
        )
        self.legend = QLabel(f"Labels: {legend} &nbsp; <i>lines: LF thickness, canal AP</i>")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        lay.addWidget(self.legend)

        self.level_panel = QWidget(parent)
        lay = QVBoxLayout(self.level_panel)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.slice_label = QLabel("Slice: —")
        self.slice_label.setWordWrap(True)
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
        self.set_enabled(False)

        self.viewer.layers.events.removed.connect(self._on_layer_removed)
        self.viewer.dims.events.current_step.connect(self._on_slice_changed)

    def set_enabled(self, on: bool) -> None:
        for w in (self.level_button, self.level_combo, self.stack_combo, self.block_check):
            w.setEnabled(on)

    def start(self, session: ReviewSession, first_stack: int) -> None:
        """Review ``session``: list its stacks and show ``first_stack``."""
        self.apply_edits()  # finish the previous session's pending edits
        self.session = session
        self.stack_combo.blockSignals(True)
        self.stack_combo.clear()
        for st in session.stacks:
            loaded = st.analysis.loaded
            self.stack_combo.addItem(f"{stack_name(loaded.stack)} ({len(loaded.slices)} slices)")
        self.stack_combo.blockSignals(False)
        self.show_stack(first_stack)
        self.set_enabled(True)

    # ------------------------------------------------------------------ layers

    def _image_layer_for(self, stack: Stack) -> Any:
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
            self.labels_layer.selected_label = int(Label.CANAL)
        finally:
            self._suspend_edits = False
        self._update_lines()
        self.stack_combo.blockSignals(True)
        self.stack_combo.setCurrentIndex(index)
        self.stack_combo.blockSignals(False)
        self.viewer.layers.selection.active = self.labels_layer
        self._on_slice_changed()

    def _update_lines(self, changed: list[int] | None = None) -> None:
        """Redraw the measurement lines: all of them, or only those of ``changed`` slices
        (no line or value for what the quality check refused)."""
        assert self.session is not None
        st = self.session.stacks[self.current_stack]
        shown = [reported(m, st.qualities[k] if st.qualities else None)
                 for k, m in enumerate(st.measurements)]
        layer = self.lines_layer
        if layer is None or layer not in self.viewer.layers:
            data, kwargs, _ = lines_layer_data(st.analysis, shown)
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
        new = measurement_lines([shown[k] for k in sorted(drop)], sorted(drop))
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

    def jump_to(self, slice_key: str) -> None:
        """Show the stack holding ``slice_key`` and move the slider to that slice."""
        if self.session is None or slice_key not in self.session.index:
            return
        i, k = self.session.index[slice_key]
        if i != self.current_stack:
            self.show_stack(i)
        sa = self.session.stacks[i].analysis
        scale, translate = stack_geometry(sa.loaded.stack, sa.loaded.slices)
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
        if k is None or self.session is None:
            return None
        return self.session.stacks[self.current_stack].keys[k]

    def _on_slice_changed(self, event: Any = None) -> None:
        key = self.current_slice_key()
        if key is None or self.session is None:
            self.slice_label.setText("Slice: —")
            return
        k = self.current_slice_index()
        assert k is not None
        lv = self.session.assignments.get(key)
        level = lv.level if lv is not None and lv.level else str(LevelSource.UNKNOWN)
        src = lv.source if lv is not None else LevelSource.UNKNOWN
        mark = ", corrected" if key in self.session.corrected else ""
        self.slice_label.setText(f"Slice {k + 1}: {level} ({src}{mark})")
        self.level_combo.blockSignals(True)
        self.level_combo.setCurrentText(level if level in LEVEL_CHOICES else str(LevelSource.UNKNOWN))
        self.level_combo.blockSignals(False)

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
            self._on_changed()
            changed = [idx[k][1] for k in keys]
            stack = self.current_stack
            QTimer.singleShot(0, lambda: self._update_lines(changed) if self.current_stack == stack else None)
            if started is not None:
                self.last_edit_seconds = time.perf_counter() - started
            self._say(f"re-measured {len(keys)} edited slice(s)")
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
        try:
            self.apply_edits()
            if whole_block:
                lv = self.session.set_block_level(self.current_stack, level)
            else:
                lv = self.session.set_level(key, level)
        except Exception as exc:  # noqa: BLE001
            self._show_error(exc)
            return
        self._on_changed()
        what = f"{len(self.session.stacks[self.current_stack].keys)} slices" if whole_block else "slice"
        self._say(f"{what} set to {lv.level or LevelSource.UNKNOWN} ({LevelSource.USER})")
