"""``relattr-studio [DATASET.h5]``: the desktop application.

The window shows before anything heavy is imported or read: the dataset (or, on first run,
the making of the example dataset) loads on a worker thread after the first paint.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from relattr_studio.core.platform_check import xcb_start_problem


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="relattr-studio", description="RelAttr Studio desktop application")
    parser.add_argument("dataset", nargs="?", help="a dataset file (.h5) to open; default: the example toy faces")
    parser.add_argument("--toy-faces", type=int, default=None, metavar="N",
                        help="images in the example dataset made on first run (default 5000)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    # Worker threads (thumbnails, jobs) run Python too; a short GIL switch interval keeps the
    # GUI thread from waiting up to the default 5 ms each time it calls back into Python.
    sys.setswitchinterval(0.0005)
    # Before Qt: where its xcb plugin lacks system libraries, Qt aborts naming libxcb-cursor0
    # whichever library it is; say which ones are missing and how to install them instead.
    problem = xcb_start_problem()
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    from importlib.resources import files

    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("RelAttr Studio")
    app.setOrganizationName("RelAttrStudio")
    app.setWindowIcon(QIcon(str(files("relattr_studio.resources") / "icon.svg")))
    from relattr_studio.gui.main_window import MainWindow

    from relattr_studio.gui.dialogs import install_exception_hook

    window = MainWindow(toy_faces_n=args.toy_faces)
    install_exception_hook(lambda: window)
    window.show()
    if os.environ.get("RELATTR_STUDIO_QUIT_WHEN_SHOWN"):
        # Benchmark hook: report seconds since the parent's launch timestamp once shown.
        def report() -> None:
            t0 = float(os.environ.get("RELATTR_STUDIO_T0", "nan"))
            print(f"window-visible {time.time() - t0:.4f}", flush=True)
            window.close()
            app.quit()

        QTimer.singleShot(0, report)
    else:
        QTimer.singleShot(0, lambda: window.start(args.dataset))
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
