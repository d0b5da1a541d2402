"""The near-chance check on a finished run: when it speaks, what it names, what it suggests."""

from __future__ import annotations

import math

from relattr_studio.training.config import TrainConfig
from relattr_studio.training.diagnosis import (CHANCE_BAND, chance_note, mean_test_accuracy, near_chance,
                                               rows_chance_note, suggestions)
from relattr_studio.training.results import ResultRow

EIGHT = ("bald", "dark_hair", "big_eyes", "masculine", "mouth_open", "smiling", "visible_forehead", "young")


def test_a_run_that_learned_says_nothing():
    assert chance_note({a: 88.0 for a in EIGHT}) is None
    assert chance_note({}) is None
    assert chance_note({"bald": math.nan}) is None


def test_a_run_near_chance_says_so_with_its_mean():
    accuracy = dict(zip(EIGHT, (48.0, 52.5, 47.1, 50.3, 49.0, 51.2, 46.0, 54.3)))
    note = chance_note(accuracy)
    assert note is not None and note.startswith("Warning: mean test accuracy 49.8 % is near chance (50 %)")
    assert "over 8 attributes" in note and "\n" not in note


def test_the_band_is_inclusive_and_symmetric():
    assert near_chance({"a": 50.0 + CHANCE_BAND, "b": 50.0 - CHANCE_BAND, "c": 55.1, "d": 44.9, "e": math.nan}) == \
        ["a", "b"]
    assert chance_note({"a": 55.0}) is not None and chance_note({"a": 55.1}) is None


def test_attributes_at_chance_are_named_when_the_mean_is_clear_of_it():
    # seed 0 of the small CNN at Adam lr 3e-3: two heads never learned (measured, toy-faces)
    accuracy = dict(zip(EIGHT, (77.33, 91.50, 59.33, 81.50, 47.50, 52.67, 79.50, 61.50)))
    note = chance_note(accuracy)
    assert note is not None and "2 attributes ended near chance" in note and "the mean is 68.9 %" in note
    assert "mouth_open 47.5 %, smiling 52.7 %" in note and "bald" not in note


def test_the_paper_preset_on_a_network_from_scratch_gets_the_scratch_preset_suggested():
    paper = TrainConfig(dataset="d.h5", backbone="small-cnn").with_preset("paper").replace(steps=300)
    note = chance_note({"smiling": 49.0}, paper.to_dict())
    assert "the scratch preset (Adam, lr 1e-3)" in note and "rmsprop lr 0.0001" in note
    assert "a longer run (this one: 300 steps" in note
    # the same optimiser on an ImageNet backbone is the paper's own setting: no preset advice
    imagenet = paper.replace(backbone="efficientnet-lite0", weights="auto").to_dict()
    assert not any("scratch preset" in s for s in suggestions(imagenet))


def test_a_high_adam_rate_gets_a_lower_one_suggested_and_the_run_length_is_quoted():
    high = TrainConfig(dataset="d.h5", backbone="small-cnn", epochs=5.0).with_preset("scratch").replace(lr=3e-3)
    said = suggestions(high.to_dict())
    assert said[0] == "a lower learning rate (1e-3 instead of 0.003)"
    assert said[-1] == "a longer run (this one: 5 epochs; try twice as long)"
    assert suggestions(high.to_dict(), steps=1250)[-1].startswith("a longer run (this one: 1250 steps")
    fine = high.replace(lr=1e-3).to_dict()
    assert len(suggestions(fine)) == 1  # only the longer run: nothing else in the settings stands out


def test_without_settings_the_advice_is_about_the_labels():
    (only,) = suggestions(None)
    assert "training labels" in only


def test_rows_are_averaged_over_seeds_on_the_whole_test_split():
    rows = [ResultRow("ranknet", "small-cnn", "bald", 0, 52.0, "test"),
            ResultRow("ranknet", "small-cnn", "bald", 1, 50.0, "test"),
            ResultRow("ranknet", "small-cnn", "bald", 0, 90.0, "test/coarse"),
            ResultRow("ranknet", "small-cnn", "young", 0, 48.0, "test")]
    assert mean_test_accuracy(rows) == {"bald": 51.0, "young": 48.0}
    note = rows_chance_note(rows)
    assert note is not None and "mean test accuracy 49.5 %" in note
    assert rows_chance_note([ResultRow("ranksvm", "-", "bald", 0, 80.0, "test")]) is None


def test_relattr_train_prints_the_note_under_its_table(monkeypatch, tmp_path, capsys):
    """The CLI's wiring, with the training replaced by rows at chance (a real run's accuracy
    would depend on the machine)."""
    from relattr_studio.cli import main
    from relattr_studio.training import runs

    def at_chance(config, *, seeds, per_attribute=True, ctx=None):
        return [], [ResultRow(config.ranker, config.backbone, a, s, 49.0 + s, "test") for s in seeds for a in EIGHT]

    monkeypatch.setattr(runs, "train_rankers", at_chance)
    assert main(["train", "--dataset", str(tmp_path / "d.h5"), "--preset", "paper", "--steps", "300", "--seeds", "2",
                 "--multi-head", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2].startswith("mean") and out[-1].startswith("Warning: mean test accuracy 49.5 % is near chance")
    assert "the scratch preset" in out[-1] and "300 steps" in out[-1]


def test_a_run_whose_scores_collapsed_says_so_and_suggests_a_lower_rate_not_a_longer_run():
    """Adam at lr 1e6 left the small CNN at 0.00 %: every image scored alike, ties counted wrong."""
    note = chance_note({"smiling": 0.0, "young": 1.5}, {**TrainConfig("d.h5").with_preset("scratch").to_dict(), "lr": 1.0})
    assert note.startswith("Warning: mean test accuracy 0.8 % is far below chance (50 %)")
    assert "same score" in note and "a lower learning rate (1e-3 instead of 1)" in note
    assert "longer run" not in note
