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


@pytest.mark.parametrize("argv", [
    ["make", "toy-faces", "--n", "40", "--size", "0"],
    ["make", "toy-faces", "--n", "1"],
])
def test_bad_make_arguments_are_messages(tmp_path, argv, capsys):
    assert main([*argv, "--quiet", str(tmp_path / "f.h5")]) == 2
    assert capsys.readouterr().err.startswith(("relattr: error: ", "relattr make: error: "))
    assert not (tmp_path / "f.h5").exists()


def test_bad_importer_option_value_is_a_message(tmp_path, capsys):
    from PIL import Image

    src = tmp_path / "src"
    src.mkdir()
    for name in ("x.png", "y.png"):
        Image.new("RGB", (8, 8)).save(src / name)
    (src / "pairs.csv").write_text("image_a,image_b,attribute,label\nx.png,y.png,bright,a\n")
    assert main(["import", "folder", str(src), str(tmp_path / "o.h5"), "-O", "size=abc", "--quiet"]) == 2
    assert "import folder" in capsys.readouterr().err
    assert not (tmp_path / "o.h5").exists()


def test_labels_export_and_import_round_trip(tmp_path, capsys):
    from relattr_studio.data.label_store import DatasetPair, DatasetRef, Judgement, LabelStore

    data = tmp_path / "f.h5"
    assert main(["make", "toy-faces", "--n", "40", "--quiet", str(data)]) == 0
    ds = DatasetFile(data)
    before = len(ds.pairs())
    with LabelStore(tmp_path / "l.sqlite", annotator="t") as store:
        store.record(DatasetPair(DatasetRef.of(ds), 1, 2), "smiling", Judgement.LEFT_MORE, left_is_a=True)
    ds.close()
    capsys.readouterr()
    assert main(["labels", "export", str(tmp_path / "l.sqlite"), str(tmp_path / "new" / "out.csv")]) == 0
    assert (tmp_path / "new" / "out.csv").read_text().count("\n") == 2
    capsys.readouterr()
    assert main(["labels", "import", str(tmp_path / "l.sqlite"), str(data)]) == 0
    assert capsys.readouterr().out.startswith("added 1 labelled pairs, 0 of them generated")
    assert len(DatasetFile(data).pairs()) == before + 1


def test_a_closed_pipe_ends_quietly(tmp_path):
    """``relattr ... | head``: the reader has gone before the summary is printed."""
    import subprocess
    import sys

    code = "import sys; from relattr_studio.cli import main; sys.exit(main(['make', 'toy-faces', sys.argv[1], " \
           "'--n', '40', '--quiet']))"
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "t.h5")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # long before the child has imported anything, let alone printed
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err
