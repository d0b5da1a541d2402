"""The ``relattr`` command: summaries, determinism, one-line errors, exit statuses."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest

from relattr_studio.cli import main
from relattr_studio.data.dataset_file import DatasetFile


def _contents(path):
    """Every dataset and attribute of an HDF5 file but the creation time stamp."""
    out = {}
    with h5py.File(path, "r") as h5:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                out[name] = obj[()]
            for key, value in obj.attrs.items():
                out[f"{name}@{key}"] = value
        h5.visititems(visit)
        out.update({f"@{k}": v for k, v in h5.attrs.items() if k != "created"})
    return out


@pytest.mark.parametrize("kind", ["toy-faces", "toy-shoes"])
def test_make_twice_gives_identical_contents(tmp_path, kind, capsys):
    args = ["make", kind, "--n", "120", "--seed", "7", "--quiet"]
    assert main([*args, str(tmp_path / "a.h5")]) == 0
    assert main([*args, str(tmp_path / "b.h5")]) == 0
    a, b = _contents(tmp_path / "a.h5"), _contents(tmp_path / "b.h5")
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert main(["make", kind, "--n", "120", "--seed", "8", "--quiet", str(tmp_path / "c.h5")]) == 0
    assert not np.array_equal(DatasetFile(tmp_path / "a.h5").images(range(10)),
                              DatasetFile(tmp_path / "c.h5").images(range(10)))
    assert "images:      120" in capsys.readouterr().out


def test_dataset_info_prints_summary(tmp_path, capsys):
    assert main(["make", "toy-faces", "--n", "80", "--quiet", str(tmp_path / "f.h5")]) == 0
    capsys.readouterr()
    assert main(["dataset", "info", str(tmp_path / "f.h5")]) == 0
    out = capsys.readouterr().out
    assert "images:      80" in out and "smiling" in out and "train" in out and "test" in out


def test_user_errors_are_one_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    result = subprocess.run([sys.executable, "-m", "relattr_studio", "dataset", "info", str(bad)],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("relattr: error: ") and str(bad) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_import_missing_source_is_a_message(tmp_path, capsys):
    code = main(["import", "pubfig", str(tmp_path / "nowhere"), str(tmp_path / "out.h5"), "--quiet"])
    assert code == 2
    assert "nowhere" in capsys.readouterr().err
    assert not (tmp_path / "out.h5").exists()


def test_import_rejects_unknown_option(tmp_path, pubfig_dir, capsys):
    code = main(["import", "pubfig", str(pubfig_dir), str(tmp_path / "o.h5"), "-O", "no_such_option=1", "--quiet"])
    assert code == 2
    assert "no_such_option" in capsys.readouterr().err
