"""A tiny observable: named signals in plain Python, so models stay free of Qt.

Views subscribe with ``model.events.<name>.connect(callback)`` and disconnect when they
close (napari's pattern). Callbacks run synchronously on the thread that emitted; the
session model is only ever changed on the GUI thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Signal:
    """A list of callbacks called in order with the emitted arguments."""

    def __init__(self, name: str = ""):
        self.name = name
        self._callbacks: list[Callable[..., Any]] = []

    def connect(self, callback: Callable[..., Any]) -> Callable[..., Any]:
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[..., Any] | None = None) -> None:
        """Remove one callback (no error if absent), or all of them when none is given."""
        if callback is None:
            self._callbacks.clear()
        elif callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):
            callback(*args)

    def __len__(self) -> int:
        return len(self._callbacks)


class Events:
    """A namespace of signals: ``Events("a", "b").a.connect(...)``."""

    def __init__(self, *names: str):
        self._names = names
        for name in names:
            setattr(self, name, Signal(name))

    def disconnect_all(self, callback_owner: object) -> None:
        """Disconnect every bound method of ``callback_owner`` from every signal."""
        for name in self._names:
            signal: Signal = getattr(self, name)
            for cb in list(signal._callbacks):
                if getattr(cb, "__self__", None) is callback_owner:
                    signal.disconnect(cb)
