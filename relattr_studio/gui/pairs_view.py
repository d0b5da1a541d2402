"""Pairs view: the dataset's pairs table (hundreds of thousands of rows), filters, a preview.

The model keeps an index array of the rows passing the filters and reads each cell from the
numpy columns when Qt asks for it, so 500,000 rows cost one int64 array.
Run alone with fake data: ``python -m relattr_studio.gui.pairs_view``.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt
from PySide6.QtWidgets import (QComboBox, QDialog, QHBoxLayout, QHeaderView, QLabel, QSplitter,
                               QTableView, QVBoxLayout, QWidget)

from relattr_studio.core.session import Session
from relattr_studio.core.types import PairGroup, PairLabel, PairSource, Split, enum_names
from relattr_studio.gui.image_details import PairPanel

_LABELS = {int(PairLabel.A_MORE): "a more", int(PairLabel.B_MORE): "b more", int(PairLabel.EQUAL): "equal"}
_SPLITS, _GROUPS, _SOURCES = enum_names(Split), enum_names(PairGroup), enum_names(PairSource)
COLUMNS = ["#", "a", "b", "attribute", "label", "confidence", "agreement", "source", "split", "group"]


class PairsTableModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.dataset = None
        self.table = None
        self.rows = np.zeros(0, dtype=np.int64)

    def set_dataset(self, dataset) -> None:
        self.beginResetModel()
        self.dataset = dataset
        self.table = None if dataset is None else dataset.pairs()
        self.rows = np.arange(0 if self.table is None else len(self.table), dtype=np.int64)
        self.endResetModel()

    def set_filter(self, *, attribute=None, split=None, group=None, label=None, source=None) -> None:
        if self.table is None:
            return
        t = self.table
        mask = np.ones(len(t), dtype=bool)
        for column, value in (("attribute", attribute), ("split", split), ("group", group),
                              ("label", label), ("source", source)):
            if value is not None:
                mask &= getattr(t, column) == int(value)
        self.beginResetModel()
        self.rows = np.flatnonzero(mask)
        self.endResetModel()

    def row_dict(self, view_row: int) -> dict:
        r = int(self.rows[view_row])
        return {"row": r, **{name: values[r] for name, values in self.table.columns().items()}}

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if index.column() in (0, 5, 6):
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return None
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        t, ds = self.table, self.dataset
        r = int(self.rows[index.row()])
        c = index.column()
        if c == 0:
            return str(r)
        if c in (1, 2):
            i = int(t.a[r] if c == 1 else t.b[r])
            return ds.image_names[i] if role == Qt.ItemDataRole.DisplayRole else f"image #{i}"
        if c == 3:
            return ds.attribute_names[int(t.attribute[r])]
        if c == 4:
            return _LABELS.get(int(t.label[r]), str(t.label[r]))
        if c in (5, 6):
            v = float(t.confidence[r] if c == 5 else t.agreement[r])
            return "" if np.isnan(v) else f"{v:.2f}"
        if c == 7:
            return _SOURCES.get(int(t.source[r]), "?")
        if c == 8:
            return _SPLITS.get(int(t.split[r]), "?")
        return _GROUPS.get(int(t.group[r]), "?")


def _combo(items: list[tuple[str, object]]) -> QComboBox:
    combo = QComboBox()
    for text, value in items:
        combo.addItem(text, value)
    return combo


class PairsView(QWidget):
    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.model = PairsTableModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for col, width in enumerate([70, 150, 150, 110, 70, 80, 80, 90, 60, 70]):
            self.table.setColumnWidth(col, width)
        self.table.doubleClicked.connect(self._on_double_click)
        self.pair_dialog: QDialog | None = None
        self.table.selectionModel().currentRowChanged.connect(self._on_current)

        self.attribute = _combo([("All", None)])
        self.split = _combo([("All", None)] + [(n, v) for v, n in _SPLITS.items()])
        self.group = _combo([("All", None)] + [(n, v) for v, n in _GROUPS.items()])
        self.label = _combo([("All", None)] + [(n, v) for v, n in _LABELS.items()])
        self.source = _combo([("All", None)] + [(n, v) for v, n in _SOURCES.items()])
        bar = QHBoxLayout()
        for text, combo in (("Attribute", self.attribute), ("Split", self.split), ("Group", self.group),
                            ("Label", self.label), ("Source", self.source)):
            bar.addWidget(QLabel(text))
            bar.addWidget(combo)
            bar.addSpacing(8)
            combo.currentIndexChanged.connect(self.apply_filters)
        bar.addStretch(1)
        self.count_label = QLabel()
        self.count_label.setStyleSheet("font-weight: 600;")
        bar.addWidget(self.count_label)

        self.preview = PairPanel()
        splitter = QSplitter()
        splitter.addWidget(self.table)
        splitter.addWidget(self.preview)
        splitter.setStretchFactor(0, 1)
        splitter.setSizes([820, 420])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 0)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)
        session.events.dataset.connect(self.set_dataset)
        self.set_dataset(session.dataset)

    @property
    def filter_boxes(self) -> tuple[QComboBox, ...]:
        return (self.attribute, self.split, self.group, self.label, self.source)

    def set_dataset(self, dataset) -> None:
        """Show ``dataset``'s pairs with no filter and no preview: the previous dataset's filters
        could leave "0 of 1,621,940 pairs" beside a pair of its images."""
        if self.pair_dialog is not None:
            self.pair_dialog.close()
            self.pair_dialog = None
        self.model.set_dataset(dataset)
        for box in self.filter_boxes:
            box.blockSignals(True)
        self.attribute.clear()
        self.attribute.addItem("All", None)
        for i, name in enumerate([] if dataset is None else dataset.attribute_names):
            self.attribute.addItem(name, i)
        for box in self.filter_boxes:
            box.setCurrentIndex(0)  # "All"
            box.blockSignals(False)
        self.apply_filters()

    def apply_filters(self, *_args) -> None:
        self.model.set_filter(attribute=self.attribute.currentData(), split=self.split.currentData(),
                              group=self.group.currentData(), label=self.label.currentData(),
                              source=self.source.currentData())
        self.preview.clear()  # the reset model has no current row: the pair shown may be filtered out
        total = 0 if self.model.table is None else len(self.model.table)
        self.count_label.setText(f"{self.model.rowCount():,} of {total:,} pairs")

    def _show_row(self, panel: PairPanel, view_row: int) -> None:
        row = self.model.row_dict(view_row)
        panel.show_pair(self.model.dataset, int(row["a"]), int(row["b"]), int(row["attribute"]), row)

    def _on_current(self, current, _previous) -> None:
        if current.isValid():
            self._show_row(self.preview, current.row())
        else:
            self.preview.clear()

    def _on_double_click(self, index) -> None:
        if not index.isValid():
            return
        dialog = QDialog(self)
        dialog.setWindowTitle("Pair")
        panel = PairPanel(dialog)
        self._show_row(panel, index.row())
        QVBoxLayout(dialog).addWidget(panel)
        dialog.resize(620, 640)
        self.pair_dialog = dialog
        dialog.show()

    def shutdown(self) -> None:
        self.session.events.disconnect_all(self)


def preview(n: int = 3000) -> int:
    """Show the view alone on a fake dataset."""
    import sys
    import tempfile
    from pathlib import Path

    from PySide6.QtWidgets import QApplication

    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.gui.preview_data import make_fake_dataset

    app = QApplication.instance() or QApplication(sys.argv)
    session = Session()
    session.set_dataset(DatasetFile(make_fake_dataset(Path(tempfile.mkdtemp()) / "fake.h5", n=n)))
    view = PairsView(session)
    view.resize(1280, 760)
    view.show()
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(preview())
