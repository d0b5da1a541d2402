"""Errors that reach the window's event loop: a user's is one message, a bug a copyable report."""

from __future__ import annotations

import errno
import sys

import pytest


@pytest.fixture
def hook(qtbot, monkeypatch):
    from relattr_studio.gui import dialogs

    shown: dict[str, list] = {"warnings": [], "bugs": []}
    monkeypatch.setattr(dialogs, "show_error", lambda parent, title, message: shown["warnings"].append(message))
    monkeypatch.setattr(dialogs.BugReportDialog, "exec", lambda self: shown["bugs"].append(self) or 0)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    dialogs.install_exception_hook()
    return shown


def _raise(exc):
    try:
        raise exc
    except BaseException as caught:  # noqa: BLE001
        return type(caught), caught, caught.__traceback__


def test_a_full_disk_or_a_refused_path_is_one_message(hook):
    from relattr_studio.core.errors import DataFileError

    sys.excepthook(*_raise(OSError(errno.ENOSPC, "No space left on device", "/data/run/model.ckpt")))
    sys.excepthook(*_raise(PermissionError(errno.EACCES, "Permission denied", "/data/labels.sqlite")))
    sys.excepthook(*_raise(DataFileError("/data/x.h5", "is not a dataset file")))
    assert hook["warnings"] == ["/data/run/model.ckpt: the disk is full (free some space, or write to another disk)",
                                "/data/labels.sqlite: permission denied (choose a file or folder you may use, "
                                "or change its permissions)",
                                "/data/x.h5: is not a dataset file"]
    assert hook["bugs"] == []


def test_a_bug_shows_a_report_the_user_can_copy(hook, qtbot, capsys):
    from PySide6.QtWidgets import QApplication

    sys.excepthook(*_raise(ZeroDivisionError("division by zero")))
    (dialog,) = hook["bugs"]
    qtbot.addWidget(dialog)
    report = dialog.text.toPlainText()
    assert report.startswith("RelAttr Studio ") and "PySide6" in report
    assert "Traceback" in report and "ZeroDivisionError: division by zero" in report
    assert dialog.text.isReadOnly()
    dialog.copy_button.click()
    assert QApplication.clipboard().text() == report
    assert "ZeroDivisionError" in capsys.readouterr().err  # and on stderr, as Python would print it
    assert hook["warnings"] == []
