"""Labeling keys that work whenever the labeling view is on screen, not only with its focus.

An application-level event filter, installed only while the view is visible, turns key
presses into labeling actions unless the widget with the focus needs the key: text fields,
spin boxes, editable combo boxes and item views keep their keys, and nothing is taken while
a popup (an open combo box list, a menu) or another modal window is up. A closed, read-only
combo box (attribute, pair mode) does not need them: labeling wins there.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QAbstractSpinBox, QApplication, QComboBox, QLineEdit,
                               QPlainTextEdit, QTextEdit, QWidget)

K = Qt.Key
KEY_ACTIONS: dict[Qt.Key, str] = {
    K.Key_Left: "left-more", K.Key_A: "left-more",
    K.Key_Right: "right-more", K.Key_D: "right-more",
    K.Key_E: "equal", K.Key_Down: "equal",
    K.Key_X: "discard", K.Key_Delete: "discard",
    K.Key_1: "confidence-1", K.Key_2: "confidence-2", K.Key_3: "confidence-3",
    K.Key_Backspace: "undo",
}
_MODIFIERS = (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
              | Qt.KeyboardModifier.MetaModifier)


def key_action(event) -> str | None:
    """The labeling action of a key press (see ``KEY_ACTIONS``), or None.

    A held key's auto-repeats are ignored: every judgement must follow a pair being seen.
    """
    if event.isAutoRepeat():
        return None
    if event.matches(QKeySequence.StandardKey.Undo):
        return "undo"
    if event.modifiers() & _MODIFIERS:
        return None  # Ctrl+Left, Alt+D, ... belong to someone else
    return KEY_ACTIONS.get(Qt.Key(event.key()))


def needs_keys(widget: QWidget | None) -> bool:
    """Whether ``widget`` uses plain keys itself (typing, moving a cursor or a selection)."""
    if widget is None:
        return False
    if isinstance(widget, QComboBox):
        return widget.isEditable()
    return isinstance(widget, (QLineEdit, QAbstractSpinBox, QTextEdit, QPlainTextEdit, QAbstractItemView))


class LabelingKeys(QObject):
    """Calls ``act(action)`` for labeling keys pressed anywhere in ``view``'s window."""

    def __init__(self, view: QWidget, act: Callable[[str], None]):
        super().__init__(view)
        self._view = view
        self._act = act
        self._installed = False

    def install(self) -> None:
        """While the view is shown (its showEvent)."""
        if not self._installed:
            QApplication.instance().installEventFilter(self)
            self._installed = True

    def remove(self) -> None:
        """When the view is hidden (another tab) or shut down."""
        if self._installed:
            QApplication.instance().removeEventFilter(self)
            self._installed = False

    def eventFilter(self, obj, event) -> bool:
        if event.type() != QEvent.Type.KeyPress:
            return False
        view = self._view
        if not view.isVisible() or QApplication.activePopupWidget() is not None:
            return False
        modal = QApplication.activeModalWidget()
        if modal is not None and modal is not view.window():
            return False
        if not isinstance(obj, QWidget) or obj.window() is not view.window():
            return False  # another window (a dialog, a detached panel)
        if needs_keys(QApplication.focusWidget()):
            return False
        action = key_action(event)
        if action is None:
            return False
        self._act(action)
        return True
