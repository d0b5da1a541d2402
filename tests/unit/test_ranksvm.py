"""RankSVM: recovers a linear ranking, ties pull scores together, local learning picks the
right neighbours, model files round-trip and pickle is refused, and a real PubFig check."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from relattr_studio.core.errors import DataFileError
from relattr_studio.data.metrics import pairwise_accuracy
from relattr_studio.modeling.ranksvm import (
    RankSVMModel,
    Standardizer,
    fit_ranksvm,
    load_ranksvm,
    local_ranksvm_scores,
    nearest_training_pairs,
)


def _synthetic(n=300, d=20, pairs=3000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    w_true = rng.normal(size=d)
    s = x @ w_true
    a, b = rng.integers(0, n, pairs), rng.integers(0, n, pairs)
    keep = a != b
    a, b = a[keep], b[keep]
    return x, s, a, b, np.sign(s[a] - s[b]).astype(int)


def test_recovers_a_linear_ranking():
    x, _, a, b, y = _synthetic()
    w = fit_ranksvm(x[:200], a[(a < 200) & (b < 200)], b[(a < 200) & (b < 200)], y[(a < 200) & (b < 200)], 1.0)
    test = (a >= 200) & (b >= 200)
    score = x @ w
    assert pairwise_accuracy(score[a[test]] - score[b[test]], y[test]) > 0.95


def test_equal_pairs_pull_scores_together():
    x, s, a, b, y = _synthetic(n=120, d=8, pairs=1500, seed=1)
    eq_a, eq_b = np.arange(0, 20), np.arange(20, 40)
    aa, bb = np.concatenate([a, eq_a]), np.concatenate([b, eq_b])
    w_free = fit_ranksvm(x, aa, bb, np.concatenate([y, np.sign(s[eq_a] - s[eq_b])]), 0.1)
    w_tied = fit_ranksvm(x, aa, bb, np.concatenate([y, np.zeros(20, int)]), 0.1)
    gap_free = np.abs(x[eq_a] @ w_free - x[eq_b] @ w_free).mean()
    gap_tied = np.abs(x[eq_a] @ w_tied - x[eq_b] @ w_tied).mean()
    assert gap_tied < 0.5 * gap_free


def test_local_learning_picks_the_nearest_pairs_in_either_order():
    # images on a line: 0, 1, 2, 10, 11, 12 (train) and 0.1, 10.1 (test images 6, 7)
    pos = np.array([0, 1, 2, 10, 11, 12, 0.1, 10.1])[:, None]
    train_a = np.array([0, 3, 1, 2])
    train_b = np.array([3, 0, 2, 5])
    dist = np.abs(pos[[6, 7]] - pos[:6].T)  # rows: test images 0 (=6), 1 (=7)
    # test pair (6, 7) ~ (0, 3) exactly, and ~ (3, 0) swapped: both nearest
    nn = nearest_training_pairs(dist, np.array([0]), np.array([1]), train_a, train_b, 2)
    assert set(nn[0]) == {0, 1}
    # pair (7, 6) also matches them (order of the test pair does not matter)
    nn = nearest_training_pairs(dist, np.array([1]), np.array([0]), train_a, train_b, 2)
    assert set(nn[0]) == {0, 1}


def test_local_ranksvm_follows_the_local_trend():
    # two regions with opposite rankings along feature 0; LL must use the local one
    rng = np.random.default_rng(0)
    left = np.c_[rng.uniform(0, 1, 60), rng.normal(0, 0.1, 60) - 5]
    right = np.c_[rng.uniform(0, 1, 60), rng.normal(0, 0.1, 60) + 5]
    x = np.r_[left, right]
    a = np.r_[rng.integers(0, 60, 300), rng.integers(60, 120, 300)]
    b = np.r_[rng.integers(0, 60, 300), rng.integers(60, 120, 300)]
    y = np.where(a < 60, np.sign(x[a, 0] - x[b, 0]), -np.sign(x[a, 0] - x[b, 0])).astype(int)
    test_x = np.array([[0.2, -5], [0.8, -5], [0.2, 5], [0.8, 5]])
    allx = np.r_[x, test_x]
    m = local_ranksvm_scores(allx, (a, b, y), np.array([121, 123]), np.array([120, 122]), k=40, c=1.0)
    assert m[0] > 0 and m[1] < 0


def test_save_load_round_trip_and_pickle_refused(tmp_path):
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(30, 542)).astype(np.float32)
    model = RankSVMModel(["a", "b"], rng.normal(size=(2, 542)), Standardizer.fit(feats), "gist+lab", [0.1, 1.0],
                         info={"seed": 0})
    path = model.save(tmp_path / "m.npz")
    back = load_ranksvm(path)
    np.testing.assert_array_equal(back.scores(feats), model.scores(feats))
    assert back.attributes == ["a", "b"] and back.c == [0.1, 1.0] and back.feature_kind == "gist+lab"
    bad = tmp_path / "bad.npz"
    np.savez(bad, header=np.array([{"format": "relattr-ranksvm"}], dtype=object))
    with pytest.raises(DataFileError, match="pickle"):
        load_ranksvm(bad)
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps({"weights": [1, 2]}))
    with pytest.raises(DataFileError):
        load_ranksvm(raw)


def test_real_pubfig_own_features_two_attributes(pubfig_dir, tmp_path):
    """Own GIST + Lab on a seeded subset of PubFig (90 train, 90 test images), C fixed at
    the value validation picks on the full set; measured 68.5 % mean on Male + Smiling
    (the subset has far fewer training pairs than the full 241 images)."""
    from relattr_studio.core.types import Split
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.data.features import image_features
    from relattr_studio.data.importers import IMPORTERS

    ds = DatasetFile(IMPORTERS["pubfig"](pubfig_dir, tmp_path / "pubfig.h5"))
    pairs = ds.pairs()
    rng = np.random.default_rng(0)
    train_imgs = np.unique(np.r_[pairs.where(split=Split.TRAIN).a, pairs.where(split=Split.TRAIN).b])
    test_imgs = np.unique(np.r_[pairs.where(split=Split.TEST).a, pairs.where(split=Split.TEST).b])
    pick_tr = np.sort(rng.choice(train_imgs, 90, replace=False))
    pick_te = np.sort(rng.choice(test_imgs, 90, replace=False))
    chosen = np.r_[pick_tr, pick_te]
    feats = np.zeros((len(ds), 542), np.float32)
    feats[chosen] = image_features(ds.images(chosen))
    x = Standardizer.fit(feats[pick_tr])(feats)
    in_tr, in_te = np.isin(np.arange(len(ds)), pick_tr), np.isin(np.arange(len(ds)), pick_te)
    accs = []
    for name in ("Male", "Smiling"):
        ai = ds.attribute_index(name)
        tr = pairs.where(attribute=ai, split=Split.TRAIN)
        tr = tr.select(in_tr[tr.a] & in_tr[tr.b])
        te = pairs.where(attribute=ai, split=Split.TEST, non_equal=True)
        te = te.select(in_te[te.a] & in_te[te.b])
        w = fit_ranksvm(x, tr.a, tr.b, tr.label, 1e-5)
        s = x @ w
        accs.append(pairwise_accuracy(s[te.a] - s[te.b], te.label))
    print(f"own-feature RankSVM on the PubFig subset: {100 * np.mean(accs):.1f} %")
    assert np.mean(accs) > 0.64


# -- the job as the window runs it -------------------------------------------------------------


@pytest.fixture(scope="module")
def toy_with_features(tmp_path_factory):
    """A small toy-faces file of its own (the job caches its features in the file)."""
    from relattr_studio.data.procedural import make_toy_faces

    return make_toy_faces(tmp_path_factory.mktemp("svm") / "toy.h5", n=100, seed=0, size=32)


def test_entry_runs_local_ranksvm_with_its_settings_and_streams_rows(toy_with_features, tmp_path):
    import json

    from relattr_studio.core.jobs import JobContext, Progress
    from relattr_studio.training.entry import run_ranksvm_training
    from relattr_studio.training.ranksvm_job import LL_C_GRID
    from relattr_studio.training.results import ResultRow

    events = []
    ctx = JobContext(on_event=events.append, min_interval=0.0)
    rows = run_ranksvm_training(ctx=ctx, dataset=str(toy_with_features), ranker="ranksvm-ll",
                                attributes=("smiling", "young"), seeds=(0, 1), k=10, test_sample=40,
                                out_dir=str(tmp_path))
    assert [e for e in events if isinstance(e, ResultRow)] == rows  # each row streamed as it was measured
    assert {(r.attribute, r.seed) for r in rows} == {(a, s) for a in ("smiling", "young") for s in (0, 1)}
    steps = [e for e in events if isinstance(e, Progress) and e.stage == "ranksvm-ll"]
    assert [p.done for p in steps] == sorted(p.done for p in steps)
    assert steps[-1].done == steps[-1].total == 2 * 2  # one unit per attribute and seed
    # the C_local search inside a unit says how far it is, on the unit's count
    assert [p.done for p in steps if f"young, C_local {len(LL_C_GRID)} of" in p.message] == [1, 3]
    assert not any("loss" in p.message for p in steps)  # RankSVM has no loss to show
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["k"] == 10 and summary["seeds"]["1"]["young"]["test_pairs"] == 40


def test_ranksvm_job_stops_within_a_unit_and_keeps_the_state_of_the_units_before(toy_with_features, tmp_path):
    from relattr_studio.core.errors import Cancelled, RelAttrError
    from relattr_studio.core.jobs import JobContext, Progress
    from relattr_studio.modeling.model_file import read_model_file
    from relattr_studio.training.entry import run_ranksvm_training
    from relattr_studio.training.events import RunCancelled

    seen, events = [], []

    def on_event(e):
        events.append(e)
        if isinstance(e, Progress) and e.stage == "ranksvm" and e.message.startswith("seed"):
            seen.append(e.done)

    ctx = JobContext(on_event=on_event, should_stop=lambda: len(seen) >= 2, min_interval=0.0)
    with pytest.raises(Cancelled) as info:
        run_ranksvm_training(ctx=ctx, dataset=str(toy_with_features), ranker="ranksvm", seeds=(0, 1, 2),
                             out_dir=str(tmp_path))
    assert seen == [0, 1]  # stopped within the second attribute (in its C search), not at the end
    state = tmp_path / "ranksvm.state.ckpt"
    assert info.value.checkpoint == str(state)
    assert [e.step for e in events if isinstance(e, RunCancelled)] == [1]
    assert read_model_file(state).step == 1  # the first attribute, whole; nothing of the second
    assert not (tmp_path / "results.csv").exists() and not (tmp_path / "ranksvm-seed0.ckpt").exists()
    with pytest.raises(RelAttrError, match="not a RankSVM ranker"):
        run_ranksvm_training(ctx=JobContext(), dataset=str(toy_with_features), ranker="ranknet")


def test_a_cancel_before_the_first_unit_is_done_writes_nothing(toy_with_features, tmp_path):
    from relattr_studio.core.errors import Cancelled
    from relattr_studio.core.jobs import JobContext, Progress
    from relattr_studio.training.ranksvm_job import run_ranksvm

    seen = []
    ctx = JobContext(on_event=lambda e: seen.append(e) if isinstance(e, Progress) and e.message else None,
                     should_stop=lambda: bool(seen), min_interval=0.0)
    with pytest.raises(Cancelled) as info:
        run_ranksvm(toy_with_features, attributes=["smiling"], out_dir=tmp_path, ctx=ctx)
    assert info.value.checkpoint is None and not list(tmp_path.glob("*.ckpt"))


def test_choose_c_checks_for_cancel_before_each_fit():
    from relattr_studio.core.errors import Cancelled
    from relattr_studio.modeling.ranksvm import choose_c

    x, _, a, b, y = _synthetic(n=80, d=6, pairs=400, seed=2)
    train, val = (a[:300], b[:300], y[:300]), (a[300:], b[300:], y[300:])

    class Ctx:
        calls = 0

        def check(self):
            self.calls += 1
            if self.calls > 2:
                raise Cancelled("cancelled")

    ctx = Ctx()
    with pytest.raises(Cancelled):
        choose_c(x, train, val, grid=(0.01, 0.1, 1.0, 10.0), ctx=ctx)
    assert ctx.calls == 3  # two fits ran, the third was not started
    best, accs = choose_c(x, train, val, grid=(0.01, 1.0))
    assert best in accs and len(accs) == 2


@pytest.mark.parametrize("settings, message", [
    ({"c": 0.0}, "C must be a positive number"), ({"c": float("nan")}, "C must be a positive number"),
    ({"c": -1}, "C must be a positive number"), ({"c": True}, "C must be a positive number"),
    ({"c": "1"}, "C must be a positive number"), ({"local": True, "k": 1}, "K of at least 2"),
    ({"test_sample": 0}, "test sample must be at least 1"), ({"seeds": []}, "at least one seed"),
])
def test_run_ranksvm_refuses_bad_settings_before_it_reads_anything(settings, message, tmp_path):
    from relattr_studio.core.errors import RelAttrError
    from relattr_studio.training.ranksvm_job import run_ranksvm

    with pytest.raises(RelAttrError, match=message):  # the dataset need not even exist
        run_ranksvm(tmp_path / "missing.h5", **settings)


# -- the lifecycle: cancel, resume, metrics ----------------------------------------------------


def _run(dataset, out, *, local, stop_at=None, resume_from=None):
    """``run_ranksvm`` on 2 attributes and 2 seeds; ``stop_at``: (unit, message part) cancels once
    unit ``unit`` reports a message holding that part (within the unit, or at its start). Returns
    (rows or the Cancelled, the ResultRows the context saw)."""
    from relattr_studio.core.errors import Cancelled
    from relattr_studio.core.jobs import JobContext, Progress
    from relattr_studio.training.ranksvm_job import run_ranksvm
    from relattr_studio.training.results import ResultRow

    seen, stop = [], [False]

    def on_event(e):
        if isinstance(e, ResultRow):
            seen.append(e)
        elif isinstance(e, Progress) and stop_at and e.done == stop_at[0] and stop_at[1] in e.message:
            stop[0] = True

    ctx = JobContext(on_event=on_event, should_stop=lambda: stop[0], min_interval=0.0)
    settings = {"attributes": ["smiling", "young"], "seeds": [0, 1], "local": local, "k": 10,
                "test_sample": 30 if local else None}
    try:
        return run_ranksvm(dataset, out_dir=out, ctx=ctx, resume_from=resume_from, **settings), seen
    except Cancelled as cancelled:
        return cancelled, seen


def _same_models(a, b):
    from relattr_studio.modeling.ranksvm import load_ranksvm

    ma, mb = load_ranksvm(a), load_ranksvm(b)
    np.testing.assert_array_equal(ma.weights, mb.weights)
    np.testing.assert_array_equal(ma.standardizer.mean, mb.standardizer.mean)
    np.testing.assert_array_equal(ma.standardizer.scale, mb.standardizer.scale)
    assert (ma.attributes, ma.c, ma.info) == (mb.attributes, mb.c, mb.info)
    assert (ma.local is None) == (mb.local is None)
    if ma.local is not None:
        assert (ma.local["k"], ma.local["c"]) == (mb.local["k"], mb.local["c"])
        np.testing.assert_array_equal(ma.local["x"], mb.local["x"])
        for attr in ma.attributes:
            for u, v in zip(ma.local["pairs"][attr], mb.local["pairs"][attr]):
                np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("local, stops", [
    # in the C search of the second unit, between the seeds (the runner's check), in the fourth unit's C search
    (False, [(1, "seed"), (2, ""), (3, "seed")]),
    (True, [(1, "C_local 2 of"), (2, "ranking")]),  # inside local learning: its C search, its test ranking
])
def test_cancel_and_resume_end_as_an_uninterrupted_run(toy_with_features, tmp_path, local, stops):
    import json

    from relattr_studio.core.errors import Cancelled
    from relattr_studio.modeling.model_file import read_model_file

    ranker = "ranksvm-ll" if local else "ranksvm"
    whole, whole_seen = _run(toy_with_features, tmp_path / "whole", local=local)
    assert whole_seen == whole and len({(r.attribute, r.seed) for r in whole}) == 4
    out = tmp_path / "stopped"
    state = out / f"{ranker}.state.ckpt"
    resume_from = None
    for unit, part in stops:  # cancel, resume and cancel again, each in the resumed run
        cancelled, seen = _run(toy_with_features, out, local=local, stop_at=(unit, part), resume_from=resume_from)
        assert isinstance(cancelled, Cancelled) and cancelled.checkpoint == str(state)
        assert read_model_file(state).step == unit  # the units before the cancel, whole
        assert seen == [r for r in whole if (r.seed, r.attribute) in _units(unit)]  # replayed, then measured
        assert (out / f"{ranker}-seed0.ckpt").exists() == (unit >= 2) and not (out / "results.csv").exists()
        resume_from = state
    rows, seen = _run(toy_with_features, out, local=local, resume_from=state)
    assert rows == whole and seen == whole  # the context saw every row once, in order
    assert (out / "summary.json").read_text() == (tmp_path / "whole" / "summary.json").read_text()
    assert (out / "results.csv").read_text() == (tmp_path / "whole" / "results.csv").read_text()
    for seed in (0, 1):
        _same_models(out / f"{ranker}-seed{seed}.ckpt", tmp_path / "whole" / f"{ranker}-seed{seed}.ckpt")
    finished = read_model_file(state)
    assert finished.step == 4 and finished.train_state["finished"]
    # metrics.jsonl: one record of figures per unit, each row once (no cancel fell between a row and its checkpoint)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    figures = [r for r in records if r["event"] == "Metrics" and r["model"] == ranker]
    assert [r["step"] for r in figures] == [1, 2, 3, 4]
    assert figures[1]["values"]["young/test_acc"] == whole[_index(whole, 0, "young")].accuracy
    assert figures[2]["values"]["seed"] == 1.0 and "smiling/log10_c" in figures[2]["values"]
    assert ("smiling/log10_c_local" in figures[0]["values"]) == local
    logged = [r for r in records if r["event"] == "ResultRow"]
    assert [(r["attribute"], r["seed"], r["test_split"], r["accuracy"]) for r in logged] == \
        [(r.attribute, r.seed, r.test_split, r.accuracy) for r in whole]
    final = [r for r in records if r["model"] == f"{ranker}/test"]
    assert final[-1]["values"]["test"] == pytest.approx(np.mean([r.accuracy for r in whole if r.test_split == "test"]))


def _units(n):
    return [(seed, attr) for seed in (0, 1) for attr in ("smiling", "young")][:n]


def _index(rows, seed, attr):
    return next(i for i, r in enumerate(rows) if (r.seed, r.attribute, r.test_split) == (seed, attr, "test"))


def test_a_stopped_run_resumes_from_its_file_alone_and_is_not_overwritten(toy_with_features, tmp_path):
    from relattr_studio.core.errors import Cancelled, DataFileError, RelAttrError
    from relattr_studio.core.jobs import JobContext, Progress
    from relattr_studio.training.ranksvm_job import (
        is_ranksvm_state,
        resume_ranksvm,
        run_ranksvm,
    )

    settings = {"attributes": ["smiling", "young"], "c": 0.01}
    whole = run_ranksvm(toy_with_features, out_dir=tmp_path / "whole", **settings)
    out = tmp_path / "run"
    ctx = JobContext(on_event=lambda e: None, min_interval=0.0,
                     should_stop=lambda: (out / "ranksvm.state.ckpt").exists())  # after the first unit
    with pytest.raises(Cancelled) as info:
        run_ranksvm(toy_with_features, out_dir=out, ctx=ctx, **settings)
    state = out / "ranksvm.state.ckpt"
    assert info.value.checkpoint == str(state)
    assert is_ranksvm_state(state) and not is_ranksvm_state(tmp_path / "whole" / "ranksvm-seed0.ckpt")
    assert not is_ranksvm_state(tmp_path / "nowhere.ckpt")
    with pytest.raises(RelAttrError, match="unfinished RankSVM run .step 1.*--resume"):
        run_ranksvm(toy_with_features, out_dir=out, **settings)  # a fresh run would lose it
    with pytest.raises(DataFileError, match=r"other settings \(c 0.01\)"):
        run_ranksvm(toy_with_features, out_dir=out, resume_from=state, attributes=["smiling", "young"], c=0.1)
    with pytest.raises(DataFileError, match="attributes"):
        run_ranksvm(toy_with_features, resume_from=state, attributes=["young", "smiling"], c=0.01)
    progress = []
    rows = resume_ranksvm(state, ctx=JobContext(on_event=progress.append, min_interval=0.0))
    assert rows == whole
    assert next(p.done for p in progress if isinstance(p, Progress) and p.stage == "ranksvm") == 1  # at unit 2
    assert (out / "summary.json").read_text() == (tmp_path / "whole" / "summary.json").read_text()
    run_ranksvm(toy_with_features, out_dir=out, **settings)  # a finished run's folder may be run again
