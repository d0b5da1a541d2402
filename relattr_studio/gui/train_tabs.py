"""Tabs whose view is built the first time it is shown, so the window opens without pyqtgraph
and torch (the Train and Inspect views need them; most sessions start elsewhere)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QVBoxLayout, QWidget


class LazyTab(QWidget):
    """Holds ``factory()``'s view once shown (or once :meth:`view` is called)."""

    def __init__(self, factory: Callable[[], QWidget], parent: QWidget | None = None):
        super().__init__(parent)
        self._factory = factory
        self._view: QWidget | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def view(self) -> QWidget:
        if self._view is None:
            self._view = self._factory()
            self._layout.addWidget(self._view)
        return self._view

    @property
    def built(self) -> bool:
        return self._view is not None

    def showEvent(self, event) -> None:
        self.view()
        super().showEvent(event)

    def running_work(self) -> list[str]:
        """What the view is running that closing the window would stop (nothing if never built)."""
        return self._view.running_work() if self._view is not None and hasattr(self._view, "running_work") else []

    def shutdown(self) -> None:
        if self._view is not None and hasattr(self._view, "shutdown"):
            self._view.shutdown()


def train_and_inspect_tabs(session) -> list[tuple[str, str, LazyTab]]:
    """(key, tab title, lazy tab) for the main window."""

    def train():
        from relattr_studio.gui.train_view import TrainView

        return TrainView(session)

    def inspect():
        from relattr_studio.gui.inspect_view import InspectView

        return InspectView(session)

    return [("train", "Train", LazyTab(train)), ("inspect", "Inspect", LazyTab(inspect))]
