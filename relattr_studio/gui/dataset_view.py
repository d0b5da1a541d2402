"""Dataset view: filters, a thumbnail grid that stays smooth at 50,000 images, details.

Run alone with fake data: ``python -m relattr_studio.gui.dataset_view``.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox,
                               QHBoxLayout, QLabel, QListView, QPushButton, QScrollArea,
                               QSlider, QSplitter, QVBoxLayout, QWidget)

from relattr_studio.core.session import Session
from relattr_studio.gui.image_details import ImageDetailsPanel, strength_range
from relattr_studio.gui.thumbnail_model import (IMAGE_INDEX_ROLE, ThumbnailDelegate, ThumbnailGrid, ThumbnailModel,
                                               filter_order)

ANY = "Any"


class DatasetView(QWidget):
    """Browse a dataset's images: filter by strength range, identity and category; sort."""

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.model = ThumbnailModel(self, thumb_size=64)

        self.grid = ThumbnailGrid(self.model)
        self.grid.setViewMode(QListView.ViewMode.IconMode)
        self.grid.setUniformItemSizes(True)
        self.grid.setResizeMode(QListView.ResizeMode.Adjust)
        self.grid.setMovement(QListView.Movement.Static)
        self.grid.setLayoutMode(QListView.LayoutMode.SinglePass)
        self.grid.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.grid.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.grid.setModel(self.model)
        self.grid.setItemDelegate(ThumbnailDelegate(self.model, self.grid))
        self.grid.selectionModel().currentChanged.connect(self._on_current)
        self._apply_thumb_size(64)

        self.details = ImageDetailsPanel()
        self.filters = self._build_filters()

        scroll = QScrollArea()
        scroll.setWidget(self.filters)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setMinimumWidth(270)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        splitter = QSplitter()
        splitter.addWidget(scroll)
        splitter.addWidget(self.grid)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([280, 700, 320])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self._refilter = QTimer(self)  # spin boxes fire per keystroke: debounce
        self._refilter.setSingleShot(True)
        self._refilter.setInterval(60)
        self._refilter.timeout.connect(self.apply_filters)

        session.events.dataset.connect(self.set_dataset)
        session.events.image_selected.connect(self._on_session_image)
        self.set_dataset(session.dataset)

    # -- building ---------------------------------------------------------------------------

    def _build_filters(self) -> QWidget:
        box = QWidget()
        outer = QVBoxLayout(box)
        outer.setContentsMargins(8, 8, 8, 8)

        strength = QGroupBox("Strength range")
        form = QFormLayout(strength)
        self.range_attribute = QComboBox()
        self.range_min = QDoubleSpinBox()
        self.range_max = QDoubleSpinBox()
        for spin in (self.range_min, self.range_max):
            spin.setDecimals(2)
            spin.setSingleStep(0.05)
            spin.setRange(-1e6, 1e6)
            spin.valueChanged.connect(lambda _v: self._refilter.start())
        self.range_attribute.currentIndexChanged.connect(self._on_range_attribute)
        form.addRow("Attribute", self.range_attribute)
        form.addRow("From", self.range_min)
        form.addRow("To", self.range_max)
        outer.addWidget(strength)

        who = QGroupBox("Identity and category")
        self.who_form = QFormLayout(who)
        self.identity = QComboBox()
        self.identity.currentIndexChanged.connect(lambda _i: self._refilter.start())
        self.who_form.addRow("Identity", self.identity)
        self.category_boxes: dict[str, QComboBox] = {}
        outer.addWidget(who)

        order = QGroupBox("Order")
        oform = QFormLayout(order)
        self.sort_attribute = QComboBox()
        self.sort_attribute.currentIndexChanged.connect(lambda _i: self._refilter.start())
        self.descending = QCheckBox("Strongest first")
        self.descending.setChecked(True)
        self.descending.toggled.connect(lambda _c: self._refilter.start())
        self.zoom = QSlider(Qt.Orientation.Horizontal)
        self.zoom.setRange(40, 160)
        self.zoom.setValue(64)
        self.zoom.valueChanged.connect(self._apply_thumb_size)
        oform.addRow("Sort by", self.sort_attribute)
        oform.addRow("", self.descending)
        oform.addRow("Thumbnail size", self.zoom)
        outer.addWidget(order)

        self.count_label = QLabel()
        self.count_label.setStyleSheet("font-weight: 600;")
        reset = QPushButton("Reset filters")
        reset.clicked.connect(self.reset_filters)
        row = QHBoxLayout()
        row.addWidget(self.count_label, 1)
        row.addWidget(reset)
        outer.addLayout(row)
        outer.addStretch(1)
        return box

    # -- dataset ----------------------------------------------------------------------------

    def set_dataset(self, dataset) -> None:
        """Show ``dataset`` with every filter at its default, no image selected and none shown
        large (also what Reset filters does)."""
        self._refilter.stop()  # a pending refilter belongs to the old filters
        self.model.set_dataset(dataset)
        self.details.set_dataset(dataset)
        for combo in (self.range_attribute, self.sort_attribute, self.identity):
            combo.blockSignals(True)
            combo.clear()
        self.descending.blockSignals(True)
        self.descending.setChecked(True)
        self.descending.blockSignals(False)
        for name, combo in self.category_boxes.items():
            self.who_form.removeRow(combo)
        self.category_boxes = {}
        if dataset is not None:
            has_strengths = dataset.strengths is not None
            self.range_attribute.addItem(ANY, None)
            self.sort_attribute.addItem("Image index", None)
            if has_strengths:
                for i, name in enumerate(dataset.attribute_names):
                    self.range_attribute.addItem(name, i)
                    self.sort_attribute.addItem(name, i)
            self.identity.addItem(ANY, None)
            for i, name in enumerate(dataset.meta.identity_names):
                self.identity.addItem(name, i)
            self.identity.setEnabled(dataset.meta.identities is not None)
            for name, cat in dataset.meta.categorical.items():
                combo = QComboBox()
                combo.addItem(ANY, None)
                for v, cname in enumerate(cat.class_names):
                    combo.addItem(cname, v)
                combo.currentIndexChanged.connect(lambda _i: self._refilter.start())
                self.who_form.addRow(name.capitalize(), combo)
                self.category_boxes[name] = combo
            lo, hi = strength_range(dataset)
            for spin in (self.range_min, self.range_max):
                spin.blockSignals(True)
            self.range_min.setValue(lo)
            self.range_max.setValue(hi)
            for spin in (self.range_min, self.range_max):
                spin.blockSignals(False)
        for combo in (self.range_attribute, self.sort_attribute, self.identity):
            combo.blockSignals(False)
        self._on_range_attribute()
        self.apply_filters()
        self._refilter.stop()  # _on_range_attribute asked for the filtering just done
        self.grid.scrollToTop()

    def reset_filters(self) -> None:
        self.set_dataset(self.model.dataset)

    def apply_filters(self) -> None:
        ds = self.model.dataset
        if ds is None:
            self.count_label.setText("No dataset")
            return
        attribute = self.range_attribute.currentData()
        cats = {name: c.currentData() for name, c in self.category_boxes.items() if c.currentData() is not None}
        order = filter_order(
            ds, attribute=attribute,
            lo=self.range_min.value() if attribute is not None else None,
            hi=self.range_max.value() if attribute is not None else None,
            identity=self.identity.currentData(), categorical=cats,
            sort_attribute=self.sort_attribute.currentData(), descending=self.descending.isChecked(),
        )
        self.model.caption_attribute = self.sort_attribute.currentData()
        self._apply_thumb_size(self.zoom.value())
        self.model.set_order(order)
        self.count_label.setText(f"{len(order):,} of {len(ds):,} images")
        selected = self.session.selected_image
        if selected is not None and self.model.row_of(selected) >= 0:
            self.grid.setCurrentIndex(self.model.index(self.model.row_of(selected)))

    def _on_range_attribute(self, *_args) -> None:
        enabled = self.range_attribute.currentData() is not None
        self.range_min.setEnabled(enabled)
        self.range_max.setEnabled(enabled)
        self._refilter.start()

    def _apply_thumb_size(self, size: int) -> None:
        self.model.set_thumb_size(size)
        self.grid.setIconSize(QSize(size, size))
        caption = 20 if self.model.caption_attribute is not None else 0
        self.grid.setGridSize(QSize(size + 12, size + 12 + caption))

    # -- selection --------------------------------------------------------------------------

    def _on_current(self, current, _previous) -> None:
        if current.isValid():
            self.session.select_image(int(current.data(IMAGE_INDEX_ROLE)))

    def _on_session_image(self, index) -> None:
        emphasis = self.sort_attribute.currentData()
        if emphasis is None:
            emphasis = self.range_attribute.currentData()
        self.details.show_image(index, emphasis=emphasis)

    def closeEvent(self, event) -> None:
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the loader thread and stop listening to the session."""
        self.session.events.disconnect_all(self)
        self.model.close()


def preview(n: int = 3000) -> int:
    """Show the view alone on a fake dataset."""
    import sys
    import tempfile
    from pathlib import Path

    from PySide6.QtWidgets import QApplication

    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.gui.preview_data import make_fake_dataset

    app = QApplication.instance() or QApplication(sys.argv)
    path = make_fake_dataset(Path(tempfile.mkdtemp()) / "fake.h5", n=n)
    session = Session()
    session.set_dataset(DatasetFile(path))
    view = DatasetView(session)
    view.resize(1280, 800)
    view.show()
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(preview())
