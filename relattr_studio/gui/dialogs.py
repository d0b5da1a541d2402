"""Dialogs: error messages, About, and File ▸ Import."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QLineEdit, QMessageBox, QPushButton, QVBoxLayout,
                               QWidget)

from relattr_studio import __version__ as _version
from relattr_studio.core.paths import data_dir


def show_error(parent: QWidget | None, title: str, message: str) -> None:
    """A user-caused problem: the message, never a traceback."""
    QMessageBox.warning(parent, title, message)


class BugReportDialog(QDialog):
    """An error the product did not expect (a bug): what happened in one line, and the report
    (versions and the traceback) in a read-only box the user can select, copy and send."""

    def __init__(self, parent: QWidget | None, summary: str, report: str):
        super().__init__(parent)
        from PySide6.QtWidgets import QApplication, QPlainTextEdit

        self.setWindowTitle("RelAttr Studio: an unexpected error")
        self.report = report
        layout = QVBoxLayout(self)
        label = QLabel(f"<b>{summary}</b><br>This is a bug. Your data is as it was before this action; "
                       "the report below says where it happened.")
        label.setWordWrap(True)
        layout.addWidget(label)
        self.text = QPlainTextEdit(report, readOnly=True)
        self.text.setMinimumSize(640, 260)
        layout.addWidget(self.text)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = buttons.addButton("Copy report", QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(lambda: QApplication.clipboard().setText(self.report))
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


def bug_report(exc_type, exc, tb) -> str:
    """The text of a bug report: versions, platform and the traceback."""
    import platform
    import traceback

    import PySide6

    lines = [f"RelAttr Studio {_version}", f"Python {platform.python_version()} on {platform.platform()}",
             f"PySide6 {PySide6.__version__}", ""]
    return "\n".join(lines) + "".join(traceback.format_exception(exc_type, exc, tb))


def install_exception_hook(parent_of=lambda: None) -> None:
    """Errors that reach the event loop: one the user caused (a path, a full disk, memory, a
    RelAttrError) is a warning with its one-line message; any other is a bug, shown with a
    copyable report (and printed to stderr, as Python would). The window keeps running."""
    import sys

    from relattr_studio.core.errors import user_error

    def hook(exc_type, exc, tb) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        user = user_error(exc) if isinstance(exc, Exception) else None
        if user is not None:
            show_error(parent_of(), "RelAttr Studio", str(user))
            return
        report = bug_report(exc_type, exc, tb)
        print(report, file=sys.stderr)
        BugReportDialog(parent_of(), f"{exc_type.__name__}: {str(exc)[:200]}", report).exec()

    sys.excepthook = hook


def show_about(parent: QWidget | None) -> None:
    QMessageBox.about(
        parent, "About RelAttr Studio",
        f"<h3>RelAttr Studio {_version}</h3>"
        "<p>A workbench for fine-grained relative attributes: browse datasets, label which of two "
        "images shows an attribute more, train and inspect rankers.</p>"
        "<p>Built on RankNet, DACRL, semantic jitter, ATTIC and FLAM.<br>"
        f"Data folder: <code>{data_dir()}</code></p>")


class ImportDialog(QDialog):
    """Choose an importer, its source folder and the dataset file to write."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        from relattr_studio.data.importers import IMPORTER_HELP, IMPORTER_LAYOUT, IMPORTERS

        self._help, self._layout = IMPORTER_HELP, IMPORTER_LAYOUT
        self.setWindowTitle("Import a dataset")
        self.setMinimumWidth(620)
        self.kind = QComboBox()
        for name in IMPORTERS:
            self.kind.addItem(name, name)
        self.kind.currentIndexChanged.connect(self._on_kind)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.description.setStyleSheet("color: #5f6670;")
        self.source = QLineEdit()
        self.source.setPlaceholderText("folder holding the dataset in its original layout")
        self.out = QLineEdit()
        browse_source = QPushButton("Browse…")
        browse_source.clicked.connect(self._browse_source)
        browse_out = QPushButton("Browse…")
        browse_out.clicked.connect(self._browse_out)
        src_row, out_row = QHBoxLayout(), QHBoxLayout()
        src_row.addWidget(self.source, 1)
        src_row.addWidget(browse_source)
        out_row.addWidget(self.out, 1)
        out_row.addWidget(browse_out)
        form = QFormLayout()
        form.addRow("Format", self.kind)
        form.addRow("", self.description)
        form.addRow("Source folder", src_row)
        form.addRow("Write to", out_row)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Import")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self._on_kind()

    def _on_kind(self, *_args) -> None:
        kind = self.kind.currentData()
        self.description.setText(f"{self._help.get(kind, '')}\n\nExpected layout:\n{self._layout.get(kind, '')}")
        self.out.setText(str(data_dir() / "datasets" / f"{kind}.h5"))

    def _browse_source(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Source folder", self.source.text())
        if folder:
            self.source.setText(folder)

    def _browse_out(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Dataset file to write", self.out.text(), "Datasets (*.h5)")
        if path:
            self.out.setText(path)

    def _accept(self) -> None:
        if not Path(self.source.text()).is_dir():
            show_error(self, "Import", f"{self.source.text() or '(empty)'}: not a folder. Choose the folder "
                                       "that holds the dataset.")
            return
        if not self.out.text().strip():
            show_error(self, "Import", "Choose where to write the dataset file.")
            return
        self.accept()

    def choice(self) -> tuple[str, Path, Path]:
        return self.kind.currentData(), Path(self.source.text()), Path(self.out.text())
