"""The per-level table: levels with their slices as children; a click jumps to a slice."""

from __future__ import annotations

from collections.abc import Callable

from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from mri_measure import StudyReport

from .._layers import TABLE_HEADERS, table_rows
from ._common import KEY_ROLE


class LevelTable(QTreeWidget):
    """Rows from :func:`napari_mri_measure._layers.table_rows`; ``on_jump(slice_key)``
    is called when a row is clicked."""

    def __init__(self, on_jump: Callable[[str], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._on_jump = on_jump
        self.setColumnCount(len(TABLE_HEADERS))
        self.setHeaderLabels(list(TABLE_HEADERS))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setRootIsDecorated(True)
        self.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.itemClicked.connect(self._on_item_clicked)

    def show_report(self, report: StudyReport, index: dict[str, tuple[int, int]]) -> None:
        """Rebuild the rows, keeping expanded the levels that were."""
        expanded = {
            self.topLevelItem(i).text(0)
            for i in range(self.topLevelItemCount())
            if self.topLevelItem(i).isExpanded()
        }
        self.clear()
        for row in table_rows(report, index):
            item = QTreeWidgetItem(row.cells())
            item.setData(0, KEY_ROLE, row.slice_key)
            for child in row.children:
                c = QTreeWidgetItem(child.cells())
                c.setData(0, KEY_ROLE, child.slice_key)
                item.addChild(c)
            self.addTopLevelItem(item)
            item.setExpanded(row.title in expanded)

    def values(self) -> dict[str, dict[str, str]]:
        """Level title -> column header -> cell text (what the reader sees)."""
        out = {}
        for i in range(self.topLevelItemCount()):
            it = self.topLevelItem(i)
            out[it.text(0)] = {h: it.text(j) for j, h in enumerate(TABLE_HEADERS)}
        return out

    def slice_row(self, slice_key: str) -> dict[str, str] | None:
        """The cells of one slice (a child row), by slice key, with its level ``group``."""
        for i in range(self.topLevelItemCount()):
            it = self.topLevelItem(i)
            for j in range(it.childCount()):
                c = it.child(j)
                if c.data(0, KEY_ROLE) == slice_key:
                    return {"group": it.text(0), **{h: c.text(n) for n, h in enumerate(TABLE_HEADERS)}}
        return None

    def _on_item_clicked(self, item: QTreeWidgetItem, column: int = 0) -> None:
        key = item.data(0, KEY_ROLE)
        if key:
            self._on_jump(str(key))
