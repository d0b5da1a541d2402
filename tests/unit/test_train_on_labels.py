"""Training on a label store: simulated judgements of generated and real pairs reach the ranker."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from relattr_studio.cli import main
from relattr_studio.data.dataset_file import DatasetFile
from relattr_studio.data.label_store import LabelStore
from relattr_studio.data.label_training import labeled_pairs

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = ["--steps", "3", "--batch-size", "16", "--width", "4", "--image-size", "32", "--quiet", "--multi-head"]


def _rows(out):
    return list(csv.DictReader(open(out / "results.csv")))


@pytest.fixture(scope="module")
def labelled(toy240, tmp_path_factory):
    """The shipped generator's semantic-jitter pairs and real train pairs, judged by the simulated annotator."""
    store = tmp_path_factory.mktemp("labels") / "labels.sqlite"
    assert main(["labels", "simulate", "--store", str(store), "--dataset", str(toy240), "--generator", "toy-faces",
                 "--attribute", "smiling", "--attribute", "young", "--pairs", "24", "--quiet"]) == 0
    assert main(["labels", "simulate", "--store", str(store), "--dataset", str(toy240), "--attribute", "smiling",
                 "--pairs", "10", "--quiet"]) == 0
    return store


def test_simulated_labels_go_through_batches_and_are_judged_to_the_end(labelled, toy240):
    with LabelStore(labelled) as store:
        batches = store.batches()
        assert [b.origin for b in batches] == ["simulate", "simulate"]
        assert all(b.done for b in batches) and batches[0].total == 24 and batches[1].total == 10
        records = store.judgements()
        assert {r.annotator for r in records} == {"simulated-seed0"}
        assert all(r.confidence in (1 / 3, 2 / 3, 1.0) for r in records if r.label is not None)
        with DatasetFile(toy240) as ds:
            lp = labeled_pairs(store, ds)
            assert lp.n_generated == batches[0].judged and lp.n_real == 10
            # generated images are resized to the dataset's 32 px and indexed after its images
            assert lp.images.shape[1:] == (32, 32, 3) and lp.pairs.a.max() >= len(ds)
            # the truth agrees with most real labels (the annotator is noisy, not random)
            real = ~lp.generated_rows
            s = ds.strengths[:, ds.attribute_index("smiling")]
            truth = np.sign(s[lp.pairs.a[real]] - s[lp.pairs.b[real]])
            assert (truth == lp.pairs.label[real]).mean() >= 0.8


def test_train_on_labels_only_reports_the_pairs_it_trained_on(labelled, toy240, tmp_path, capsys):
    with LabelStore(labelled) as store:
        judged = store.batches()[0].judged
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(toy240), "--labels", str(labelled), "--labels-only",
                 "--attribute", "smiling", "--attribute", "young", "--val-fraction", "0", *TINY, "--out", str(out)]) == 0
    rows = _rows(out)
    assert {(r["real_pairs"], r["generated_pairs"]) for r in rows} == {("10", str(judged))}
    events = [json.loads(line) for line in open(out / "metrics.jsonl")]
    data = [e for e in events if e["event"] == "TrainingData"]
    assert data and data[0]["generated_pairs"] == judged and "10 real and" in data[0]["labels"]
    capsys.readouterr()


def test_undo_and_confidence_and_dataset_pairs_decide_what_trains(labelled, toy240, tmp_path):
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(labelled.read_bytes())
    with LabelStore(copy, annotator="simulated-seed0", session="undo-test") as store, DatasetFile(toy240) as ds:
        every = labeled_pairs(store, ds)
        confident = labeled_pairs(store, ds, min_confidence=1.0)
        assert 0 < len(confident.pairs) < len(every.pairs)
        assert confident.skipped["below the confidence"] == len(every.pairs) - len(confident.pairs)
        store.record(store.judgements()[-1].pair, "smiling", "left-more", left_is_a=True)
        assert len(labeled_pairs(store, ds).pairs) == len(every.pairs) + 1
        store.undo()  # the new judgement is retracted: it no longer trains
        assert len(labeled_pairs(store, ds).pairs) == len(every.pairs)
    out = tmp_path / "both"
    assert main(["train", "--dataset", str(toy240), "--labels", str(copy), "--attribute", "smiling",
                 "--val-fraction", "0", *TINY, "--out", str(out)]) == 0
    with DatasetFile(toy240) as ds:
        own = len(ds.pairs().where(split=0, attribute=ds.attribute_index("smiling")))
    real = {int(r["real_pairs"]) for r in _rows(out)}
    assert real == {own + 10}  # the dataset's train pairs plus the 10 judged real pairs


def test_label_options_are_checked(toy240, tmp_path, capsys):
    assert main(["train", "--dataset", str(toy240), "--labels-only", "--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "--labels" in capsys.readouterr().err
    assert main(["train", "--dataset", str(toy240), "--labels", str(tmp_path / "none.sqlite"),
                 *TINY, "--out", str(tmp_path / "y")]) == 2
    assert "none.sqlite" in capsys.readouterr().err and not (tmp_path / "none.sqlite").exists()
    assert main(["train", "--dataset", str(toy240), "--ranker", "ranksvm", "--labels", str(tmp_path / "l.sqlite"),
                 "--out", str(tmp_path / "z"), "--quiet"]) == 2
    assert "l.sqlite: no such label store" in capsys.readouterr().err
    assert main(["labels", "simulate", "--store", str(tmp_path / "s.sqlite"), "--dataset", str(toy240),
                 "--pairs", "0"]) == 2
    assert "--pairs" in capsys.readouterr().err
    assert main(["labels", "simulate", "--store", str(tmp_path / "s.sqlite"), "--dataset", str(toy240),
                 "--generator", "toy-shoes", "--pairs", "4", "--quiet"]) == 2
    assert "no attribute is in both" in capsys.readouterr().err
    assert main(["train", "--dataset", str(toy240), "--labels", str(tmp_path / "l.sqlite"), "--min-confidence", "2",
                 "--out", str(tmp_path / "w"), "--quiet"]) == 2
    assert "argument --min-confidence: must be a finite number in [0, 1], not 2" in capsys.readouterr().err


def test_ranksvm_trains_on_labels_too_with_features_of_the_generated_images(labelled, toy240, tmp_path, capsys):
    with LabelStore(labelled) as store:
        judged = {b.name: b for b in store.batches()}
    generated = next(b for b in judged.values() if "semantic-jitter" in b.name).judged
    out, only = tmp_path / "svm", tmp_path / "svm-only"
    assert main(["train", "--dataset", str(toy240), "--ranker", "ranksvm", "--attribute", "smiling",
                 "--attribute", "young", "--c", "1", "--labels", str(labelled), "--out", str(out), "--quiet"]) == 0
    assert main(["train", "--dataset", str(toy240), "--ranker", "ranksvm", "--attribute", "smiling",
                 "--attribute", "young", "--c", "1", "--labels", str(labelled), "--labels-only",
                 "--out", str(only), "--quiet"]) == 0
    capsys.readouterr()
    with DatasetFile(toy240) as ds:
        own = {a: len(ds.pairs().where(split=0, attribute=ds.attribute_index(a))) for a in ("smiling", "young")}
    rows = {r["attribute"]: r for r in _rows(out) if r["test_split"] == "test"}
    only_rows = {r["attribute"]: r for r in _rows(only) if r["test_split"] == "test"}
    # every generated pair trains its attribute; the 10 real judgements are of smiling
    assert sum(int(r["generated_pairs"]) for r in rows.values()) == generated
    assert int(rows["smiling"]["real_pairs"]) == own["smiling"] + 10 and int(rows["young"]["real_pairs"]) == own["young"]
    assert int(only_rows["smiling"]["real_pairs"]) == 10 and int(only_rows["young"]["real_pairs"]) == 0
    events = [json.loads(line) for line in open(out / "metrics.jsonl")]
    assert any(e["event"] == "TrainingData" and e["generated_pairs"] == generated for e in events)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"]["0"]["young"]["generated_pairs"] == int(rows["young"]["generated_pairs"])
