"""``relattr train`` and ``relattr eval`` end to end on a tiny toy-faces; errors are messages."""

import csv

import pytest

from relattr_studio.cli import main


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def toy(toy240):
    return toy240


def test_train_then_eval(toy, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--dataset", str(toy), "--attribute", "smiling", "--attribute", "young", "--steps", "6",
               "--batch-size", "16", "--width", "4", "--image-size", "32", "--out", str(out), "--quiet"])
    assert rc == 0
    table = capsys.readouterr().out
    assert "smiling" in table and "young" in table and "mean" in table
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert {r["test_split"] for r in rows} == {"test", "test/coarse", "test/fine"}
    assert {(r["ranker"], r["backbone"], r["seed"]) for r in rows} == {("ranknet", "small-cnn", "0")}
    ckpt = out / "ranknet-small-cnn-smiling-seed0.ckpt"
    assert ckpt.is_file() and (out / "ranknet-small-cnn-young-seed0.ckpt").is_file()
    assert main(["eval", "--checkpoint", str(ckpt), "--dataset", str(toy), "--out", str(tmp_path / "ev"), "--quiet"]) == 0
    ev = {r["test_split"]: float(r["accuracy"]) for r in csv.DictReader(open(tmp_path / "ev" / "results.csv"))}
    trained = {r["test_split"]: float(r["accuracy"]) for r in rows if r["attribute"] == "smiling"}
    assert ev == trained


def test_errors_are_messages(toy, tmp_path, capsys):
    assert main(["train", "--dataset", str(tmp_path / "missing.h5"), "--out", str(tmp_path), "--quiet"]) == 2
    assert "missing.h5" in capsys.readouterr().err
    assert main(["train", "--dataset", str(toy), "--attribute", "nope", "--out", str(tmp_path), "--quiet"]) == 2
    assert "nope" in capsys.readouterr().err
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"xx")
    assert main(["eval", "--checkpoint", str(bad), "--dataset", str(toy), "--quiet"]) == 2
    assert "bad.ckpt" in capsys.readouterr().err


def test_train_ranksvm(tmp_path, capsys):
    from relattr_studio.data.procedural import make_toy_faces

    toy = make_toy_faces(tmp_path / "toy.h5", n=60, seed=0, size=32)
    out = tmp_path / "svm"
    assert main(["train", "--dataset", str(toy), "--ranker", "ranksvm", "--attribute", "smiling", "--out", str(out),
                 "--seeds", "2", "--first-seed", "3", "--quiet"]) == 0
    assert "smiling" in capsys.readouterr().out
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert {(r["ranker"], r["backbone"], r["attribute"]) for r in rows} == {("ranksvm", "gist+lab", "smiling")}
    assert {r["seed"] for r in rows} == {"3", "4"}  # --first-seed 3, two seeds
    assert (out / "ranksvm-seed3.ckpt").is_file() and (out / "ranksvm-seed4.ckpt").is_file()


def test_results_joins_seeds_run_apart_and_refuses_a_seed_twice(tmp_path, capsys):
    from relattr_studio.training.results import ResultRow, write_results_csv

    def run(folder, seed, accs):
        write_results_csv(tmp_path / folder / "results.csv",
                          [ResultRow("ranknet", "small-cnn", a, seed, v, "test") for a, v in accs.items()])

    run("s0", 0, {"smiling": 80.0, "young": 90.0})
    run("s1", 1, {"smiling": 84.0, "young": 94.0})
    assert main(["results", str(tmp_path / "s0"), str(tmp_path / "s1" / "results.csv"), "--markdown"]) == 0
    table = capsys.readouterr().out
    assert "| smiling | 82.00 ± 2.00 |" in table and "| **mean** | **87.00 ± 2.00** |" in table
    assert "seeds: 0, 1" in table
    assert main(["results", str(tmp_path / "s0"), str(tmp_path / "s0")]) == 2
    assert "seed 0 of ranknet/small-cnn smiling [test] appears twice" in capsys.readouterr().err
    assert main(["results", str(tmp_path / "nowhere")]) == 2


def test_ranksvm_takes_c_k_and_the_test_sample_from_the_command_line(tmp_path, capsys):
    import json

    from relattr_studio.data.procedural import make_toy_faces

    toy = make_toy_faces(tmp_path / "toy.h5", n=60, seed=0, size=32)
    out = tmp_path / "ll"
    assert main(["train", "--dataset", str(toy), "--ranker", "ranksvm-ll", "--attribute", "smiling", "--c", "0.5",
                 "--k", "7", "--test-sample", "9", "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    info = summary["seeds"]["0"]["smiling"]
    assert summary["k"] == 7 and info["c"] == 0.5 and "val_accuracy" not in info
    assert info["test_pairs"] == 9
    capsys.readouterr()
    assert main(["train", "--dataset", str(toy), "--ranker", "ranksvm", "--c", "0", "--out", str(out), "--quiet"]) == 2
    assert "argument --c: must be a finite number in (0, 1e+06], not 0" in capsys.readouterr().err


def test_training_flags_reach_the_config():
    from relattr_studio.cli import build_parser
    from relattr_studio.cli.train_commands import _config

    args = build_parser().parse_args(["train", "--dataset", "d.h5", "--ranker", "dacrl", "--max-pairs", "24",
                                      "--max-test-pairs", "5000", "--val-fraction", "0", "--test-flip",
                                      "--augment", "--augment-zoom", "0.15", "--augment-color", "0.2", "--out", "o"])
    c = _config(args)
    assert (c.ranker, c.max_pairs, c.max_test_pairs, c.val_fraction, c.test_flip) == ("dacrl", 24, 5000, 0.0, True)
    assert (c.augment, c.augment_zoom, c.augment_color) == (True, 0.15, 0.2)
    default = _config(build_parser().parse_args(["train", "--dataset", "d.h5", "--out", "o"]))
    assert (default.max_pairs, default.max_test_pairs, default.val_fraction, default.test_flip) == (None, None, 0.1, False)
    assert (default.augment, default.augment_zoom, default.augment_color) == (False, 0.0, 0.0)


def test_weight_average_dropout_and_drop_path_flags_reach_the_config_or_are_refused():
    from relattr_studio.cli import build_parser
    from relattr_studio.cli.train_commands import _config
    from relattr_studio.core.errors import RelAttrError

    parse = build_parser().parse_args
    c = _config(parse(["train", "--dataset", "d.h5", "--backbone", "efficientnet-lite0", "--ema", "0.98",
                       "--dropout", "0.3", "--drop-path", "0.2", "--backbone-lr-scale", "0.3", "--out", "o"]))
    assert (c.ema, c.ranker_options, c.backbone_options["drop_path"], c.backbone_lr_scale) == (0.98, {"dropout": 0.3},
                                                                                               0.2, 0.3)
    default = _config(parse(["train", "--dataset", "d.h5", "--out", "o"]))
    assert (default.ema, default.ranker_options, "drop_path" in default.backbone_options) == (0.0, {}, False)
    with pytest.raises(RelAttrError, match="RankNet option"):
        _config(parse(["train", "--dataset", "d.h5", "--ranker", "dacrl", "--dropout", "0.3", "--out", "o"]))
    with pytest.raises(RelAttrError, match="efficientnet-lite0 option"):
        _config(parse(["train", "--dataset", "d.h5", "--drop-path", "0.2", "--out", "o"]))
    with pytest.raises(SystemExit):  # out of its range: refused at parse time (test_bad_input_matrix)
        parse(["train", "--dataset", "d.h5", "--ema", "1.5", "--out", "o"])
    with pytest.raises(RelAttrError, match=r"ema must be a finite number in \[0, 1\)"):  # and by the config, for the Python API
        _config(parse(["train", "--dataset", "d.h5", "--out", "o"])).replace(ema=1.5)
