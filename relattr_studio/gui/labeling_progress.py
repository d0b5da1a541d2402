"""The labeling view's side panel: how many of the dataset's train pairs are judged."""

from __future__ import annotations

from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QVBoxLayout, QWidget


class LabelingProgress(QWidget):
    """One bar per attribute: train pairs of this dataset judged / train pairs in all.

    Judgements of random pairs or repeats do not move the bars (they are not train pairs);
    the line below the bars counts every usable judgement of this dataset's images.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        heading = QLabel("Train pairs judged (this dataset)")
        heading.setStyleSheet("font-weight: 600;")
        heading.setToolTip("A train pair counts once it has a judgement of its attribute (\"can't tell\" "
                           "included), by anyone, however it was shown. Random pairs are not train pairs.")
        self.grid = QGridLayout()
        self.grid.setHorizontalSpacing(8)
        self.grid.setVerticalSpacing(3)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #5f6670;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(heading)
        layout.addLayout(self.grid)
        layout.addWidget(self.note)
        layout.addStretch(1)
        self.bars: dict[str, QProgressBar] = {}

    def set_attributes(self, names) -> None:
        while self.grid.count():
            w = self.grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.bars = {}
        for row, name in enumerate(names):
            bar = QProgressBar()
            bar.setTextVisible(True)
            bar.setMaximumHeight(18)
            self.grid.addWidget(QLabel(name), row, 0)
            self.grid.addWidget(bar, row, 1)
            self.bars[name] = bar
        self.note.setText("")

    def show_counts(self, counts: dict[str, tuple[int, int]], labels_of_dataset: int | None) -> None:
        """``counts``: name -> (judged, total) train pairs; ``labels_of_dataset``: store count."""
        for name, bar in self.bars.items():
            done, total = counts.get(name, (0, 0))
            bar.setRange(0, max(total, 1))
            bar.setValue(min(done, total))
            bar.setFormat(f"{done:,} / {total:,}" if total else "no train pairs")
        if labels_of_dataset is None:
            self.note.setText("No label store open.")
        else:
            self.note.setText(f"{labels_of_dataset:,} judgements with a label on this dataset's images in all "
                              "(random pairs, queued pairs and repeats included; \"can't tell\" not).")
