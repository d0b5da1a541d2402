"""The main window: menus, tabs of views sharing one session, status bar, dataset jobs."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QTabWidget

from relattr_studio.core.errors import RelAttrError
from relattr_studio.core.paths import config_dir, default_dataset_path, default_label_store_path
from relattr_studio.core.session import Session
from relattr_studio.gui import dialogs
from relattr_studio.gui.train_tabs import LazyTab
from relattr_studio.gui.workers import JobProgressDialog, JobRunner

MAX_RECENT = 8
DEFAULT_TOY_FACES = 5000


def open_dataset_job(path: Path, *, ctx):
    """Read a dataset's metadata on a worker thread; hand back a reader with no open handle."""
    from relattr_studio.data.dataset_file import DatasetFile

    ctx.report(0, None, "opening", Path(path).name)
    ds = DatasetFile(path)
    ds.close()  # an HDF5 handle must not cross threads: the GUI thread reopens it lazily
    return ds


def make_default_dataset_job(out: Path, *, n: int, ctx):
    """Draw the embedded toy-faces dataset (first run)."""
    from relattr_studio.data.procedural import make_toy_faces

    return make_toy_faces(out, n=n, seed=0, ctx=ctx)


class MainWindow(QMainWindow):
    def __init__(self, session: Session | None = None, *, toy_faces_n: int | None = None):
        super().__init__()
        self.session = session or Session()
        self.toy_faces_n = toy_faces_n or int(os.environ.get("RELATTR_STUDIO_TOY_N", DEFAULT_TOY_FACES))
        self.settings = QSettings(str(config_dir() / "gui.ini"), QSettings.Format.IniFormat)
        self.runner = JobRunner(self)
        self.progress_dialog: JobProgressDialog | None = None
        self.setWindowTitle("RelAttr Studio")
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self.views: dict[str, object] = {}
        self._build_views()
        self._build_menus()
        self.dataset_label = QLabel("No dataset")
        self.store_label = QLabel("")
        self.statusBar().addPermanentWidget(self.store_label)
        self.statusBar().addPermanentWidget(self.dataset_label)
        self.session.events.dataset.connect(self._on_dataset)
        self.session.events.label_store.connect(self._on_store)
        self.session.events.status.connect(lambda m: self.statusBar().showMessage(m, 6000))
        # a session handed over with a dataset or label store already open: say so at once
        if self.session.dataset is not None:
            self._on_dataset(self.session.dataset)
        self._on_store(self.session.label_store)
        geometry = self.settings.value("geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1360, 860)

    def _build_views(self) -> None:
        from relattr_studio.gui.dataset_view import DatasetView
        from relattr_studio.gui.labeling_view import LabelingView
        from relattr_studio.gui.pairs_view import PairsView

        for key, title, cls in (("dataset", "Images", DatasetView), ("pairs", "Pairs", PairsView),
                                ("labeling", "Label pairs", LabelingView)):
            view = cls(self.session)
            self.views[key] = view
            self.tabs.addTab(view, title)
        from relattr_studio.gui.train_tabs import train_and_inspect_tabs

        for key, title, tab in train_and_inspect_tabs(self.session):  # built when first shown
            self.views[key] = tab
            self.tabs.addTab(tab, title)
        self.views["explore"] = LazyTab(self._explore_view)  # loads a generator (torch) when first shown
        self.tabs.addTab(self.views["explore"], "Explore")

    def _explore_view(self):
        from relattr_studio.gui.explore_view import ExploreView

        return ExploreView(self.session)

    def _build_menus(self) -> None:
        file = self.menuBar().addMenu("&File")
        self._action(file, "&Open dataset…", self.choose_dataset, QKeySequence.StandardKey.Open)
        self._action(file, "&Import dataset…", self.choose_import, "Ctrl+I")
        self.recent_menu = file.addMenu("Open &recent")
        self._fill_recent()
        file.addSeparator()
        self._action(file, "Open &label store…", self.choose_label_store, "Ctrl+L")
        self._action(file, "&Export labels…", self.choose_export, "Ctrl+E")
        file.addSeparator()
        self._action(file, "Open &generator model…", self.choose_generator, "Ctrl+G")
        self._action(file, "&Train a generator…", self.train_generator, "Ctrl+Shift+G")
        file.addSeparator()
        self._action(file, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        view = self.menuBar().addMenu("&View")
        for i, key in enumerate(self.views):
            self._action(view, self.tabs.tabText(i), lambda _c=False, i=i: self.tabs.setCurrentIndex(i), f"Ctrl+{i + 1}")
        help_menu = self.menuBar().addMenu("&Help")
        self._action(help_menu, "&About RelAttr Studio", lambda: dialogs.show_about(self))

    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    # -- starting ---------------------------------------------------------------------------

    def start(self, dataset: str | Path | None = None) -> None:
        """After the window shows: open the label store and ``dataset`` or the default one."""
        self.open_label_store(default_label_store_path(), quiet=True)
        if dataset is not None:
            self.open_dataset(Path(dataset))
        elif default_dataset_path().exists():
            self.open_dataset(default_dataset_path())
        else:
            self.make_default_dataset()

    def make_default_dataset(self) -> None:
        out = default_dataset_path()
        self._run(make_default_dataset_job, "Preparing the example dataset",
                  f"First run: drawing {self.toy_faces_n:,} toy faces with known attribute strengths. "
                  "This happens once.", on_done=self.open_dataset, out=out, n=self.toy_faces_n)

    def open_dataset(self, path: Path) -> None:
        self._run(open_dataset_job, "Opening dataset", "", on_done=self._dataset_opened, path=Path(path),
                  dialog=False)

    def _dataset_opened(self, ds) -> None:
        self.session.set_dataset(ds)
        self._remember(ds.path)

    # -- jobs -------------------------------------------------------------------------------

    def _run(self, job, title: str, intro: str, *, on_done, dialog: bool = True, **kwargs) -> None:
        if self.runner.running:
            dialogs.show_error(self, title, "Another dataset job is still running; wait for it or cancel it.")
            return
        runner = self.runner
        handlers = []

        def finished(result):
            # after this job's `ended` handlers ran: on_done may start the next job
            QTimer.singleShot(0, lambda: on_done(result))

        def failed(message):
            dialogs.show_error(self, title, message)

        def cancelled():
            self.statusBar().showMessage(f"{title}: cancelled", 6000)

        def ended():
            for signal, handler in handlers:
                signal.disconnect(handler)
            self.progress_dialog = None

        for signal, handler in ((runner.finished, finished), (runner.failed, failed),
                                (runner.cancelled, cancelled), (runner.ended, ended)):
            signal.connect(handler)
            handlers.append((signal, handler))
        if dialog:
            self.progress_dialog = JobProgressDialog(runner, title, intro, self)
            self.progress_dialog.show()
        else:
            self.statusBar().showMessage(f"{title}…")
        runner.start(job, **kwargs)

    # -- menus ------------------------------------------------------------------------------

    def choose_dataset(self) -> None:
        start = str(self.session.dataset_path.parent) if self.session.dataset_path else str(default_dataset_path().parent)
        path, _ = QFileDialog.getOpenFileName(self, "Open dataset", start, "RelAttr datasets (*.h5 *.hdf5);;All files (*)")
        if path:
            self.open_dataset(Path(path))

    def choose_import(self) -> None:
        dialog = dialogs.ImportDialog(self)
        if dialog.exec() != dialogs.ImportDialog.DialogCode.Accepted:
            return
        kind, source, out = dialog.choice()
        from relattr_studio.data.importers import IMPORTERS

        def import_job(*, ctx):
            return IMPORTERS[kind](source, out, ctx=ctx)

        self._run(import_job, f"Importing {kind}", f"Reading {source} into {out.name}", on_done=self.open_dataset)

    def choose_generator(self) -> None:
        """Show the Explore tab and ask it for a generator model file."""
        self.tabs.setCurrentWidget(self.views["explore"])
        self.views["explore"].view().choose_generator_file()

    def train_generator(self) -> None:
        """Show the Explore tab and its Train-a-generator dialog."""
        self.tabs.setCurrentWidget(self.views["explore"])
        self.views["explore"].view().open_train_dialog()

    def choose_label_store(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Open or create a label store", str(default_label_store_path()),
                                              "Label stores (*.sqlite *.db);;All files (*)",
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self.open_label_store(Path(path))

    def open_label_store(self, path: Path, *, quiet: bool = False) -> bool:
        from relattr_studio.data.label_store import LabelStore

        try:
            store = LabelStore(path)
        except RelAttrError as err:
            dialogs.show_error(self, "Label store", str(err))
            return False
        self.session.set_label_store(store)
        if not quiet:
            self.statusBar().showMessage(f"Labels are saved to {path}", 6000)
        return True

    def choose_export(self) -> None:
        store = self.session.label_store
        if store is None:
            dialogs.show_error(self, "Export labels", "No label store is open.")
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export labels", str(Path.home() / "labels.csv"),
                                              "CSV (*.csv);;JSON (*.json)")
        if path:
            self.export_labels(Path(path))

    def export_labels(self, path: Path) -> int | None:
        from relattr_studio.data.label_export import export_labels

        store = self.session.label_store
        try:
            n = export_labels(store, path)
        except (RelAttrError, OSError) as err:
            dialogs.show_error(self, "Export labels", f"{path}: {err}")
            return None
        self.statusBar().showMessage(f"Exported {n:,} judgements to {path}", 8000)
        return n

    def _remember(self, path) -> None:
        recent = [p for p in (self.settings.value("recent", []) or []) if p != str(path)]
        self.settings.setValue("recent", [str(path), *recent][:MAX_RECENT])
        self._fill_recent()

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.value("recent", []) or []
        if isinstance(recent, str):
            recent = [recent]
        for p in recent:
            self._action(self.recent_menu, p, lambda _c=False, p=p: self.open_dataset(Path(p)))
        self.recent_menu.setEnabled(bool(recent))

    # -- status -----------------------------------------------------------------------------

    def _on_dataset(self, ds) -> None:
        if ds is None:
            self.dataset_label.setText("No dataset")
            self.setWindowTitle("RelAttr Studio")
            return
        n_pairs = len(ds.pairs())
        self.dataset_label.setText(f"<b>{ds.name}</b>  ·  {len(ds):,} images  ·  {len(ds.attribute_names)} attributes"
                                   f"  ·  {n_pairs:,} pairs")
        self.setWindowTitle(f"{ds.name} — RelAttr Studio")
        self.statusBar().showMessage(f"Opened {ds.path}", 5000)

    def _on_store(self, store) -> None:
        self.store_label.setText("" if store is None else f"labels: {Path(store.path).name}  ·")
        self.store_label.setToolTip("" if store is None else str(store.path))

    def running_work(self) -> list[str]:
        """Long jobs that closing the window would stop, in words."""
        work = ["a dataset job"] if self.runner.running else []
        for view in self.views.values():
            work += view.running_work() if hasattr(view, "running_work") else []
        return work

    def confirm_quit(self, work: list[str]) -> bool:
        """Ask before closing stops running work (tests replace this)."""
        from PySide6.QtWidgets import QMessageBox

        answer = QMessageBox.question(
            self, "Quit RelAttr Studio?",
            "Still running: " + "; ".join(work) + ".\n\nQuit and stop it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event) -> None:
        work = self.running_work()
        if work and not self.confirm_quit(work):
            event.ignore()
            return
        if self.runner.running:
            self.runner.cancel()
            self.runner.wait(10.0)
        self.settings.setValue("geometry", self.saveGeometry())
        for view in self.views.values():
            view.shutdown()
        self.session.close()
        super().closeEvent(event)
