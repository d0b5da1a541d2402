"""The engine (everything outside relattr_studio.gui and app) imports and runs without Qt."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import importlib, pkgutil, sys

    class BlockQt:
        BLOCKED = ("PySide6", "shiboken6", "pyqtgraph", "PyQt5", "PyQt6")
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.BLOCKED:
                raise ImportError(f"{name} is blocked: the engine must not need Qt")
            return None

    sys.meta_path.insert(0, BlockQt())
    import relattr_studio

    skipped = ("relattr_studio.gui", "relattr_studio.app")
    imported = []
    for info in pkgutil.walk_packages(relattr_studio.__path__, "relattr_studio."):
        if info.name.startswith(skipped) or info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
        imported.append(info.name)

    # and runs: make a procedural dataset, read it, label a pair, through the CLI
    import tempfile, pathlib
    from relattr_studio.cli import main
    tmp = pathlib.Path(tempfile.mkdtemp())
    assert main(["make", "toy-faces", "--n", "40", "--seed", "1", "--quiet", str(tmp / "f.h5")]) == 0
    assert main(["dataset", "info", str(tmp / "f.h5")]) == 0
    from relattr_studio.data.dataset_file import DatasetFile
    ds = DatasetFile(tmp / "f.h5")
    assert ds.images([0, 1]).shape[0] == 2
    assert not any(m.split(".")[0] in BlockQt.BLOCKED for m in sys.modules)
    print("IMPORTED", len(imported))
    """
)


def test_engine_runs_without_qt(tmp_path):
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300,
                            env={"RELATTR_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout + result.stderr
    count = int(result.stdout.split("IMPORTED")[-1])
    assert count >= 10  # core, data, importers, procedural, label store, cli ...
