"""The semantic-jitter experiment's pools and runs, with stand-in generator and oracle."""

import numpy as np
import pytest

from relattr_studio.analysis.experiment_report import read_experiment_csv, write_report
from relattr_studio.analysis.jitter_experiment import (
    SEMANTIC_JITTER_CONDITIONS,
    JitterExperimentConfig,
    run_semantic_jitter_experiment,
)
from relattr_studio.analysis.low_level_jitter import JitterRanges, low_level_jitter
from relattr_studio.core.errors import RelAttrError
from relattr_studio.core.types import PairSource, Split
from relattr_studio.data.annotator import AnnotatorConfig
from relattr_studio.data.dataset_file import DatasetFile

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class PaintedGenerator:
    """Paints the requested strengths into pixel row 0 (channel 0), at 24 px: a perfect generator
    as far as :class:`PixelOracle` can tell."""

    def __init__(self, attributes, size=24):
        self.attributes = list(attributes)
        self.prior_mean = np.full(len(attributes), 0.5)
        self.prior_cov = np.eye(len(attributes)) * 0.04
        self.z_dim, self.image_size = 3, size

    def generate(self, y, z):
        img = np.full((len(y), self.image_size, self.image_size, 3), 90, np.uint8)
        img[:, 0, : y.shape[1], 0] = np.clip(np.round(np.asarray(y) * 100 + 100), 0, 255)
        img[:, 1:, :, 1] = np.clip(np.round(np.asarray(z)[:, :1, None] * 20 + 128), 0, 255)
        return img


class PixelOracle:
    def __init__(self, attributes):
        self.attribute_names = list(attributes)

    def strengths(self, images):
        images = np.asarray(images)
        return (images[:, 0, : len(self.attribute_names), 0].astype(np.float64) - 100) / 100


def test_low_level_jitter_moves_and_recolours_and_is_seeded():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(6, 20, 20, 3), dtype=np.uint8)
    one = low_level_jitter(images, np.random.default_rng(1))
    two = low_level_jitter(images, np.random.default_rng(1))
    assert one.shape == images.shape and one.dtype == np.uint8
    assert np.array_equal(one, two) and not np.array_equal(one, images)
    none = JitterRanges(translate=0, scale=0, rotate_degrees=0, contrast=0, colour=0)
    assert np.abs(low_level_jitter(images, rng, none).astype(int) - images).max() <= 1


def test_every_condition_trains_on_its_own_pool(toy240, tmp_path):
    ds = DatasetFile(toy240)
    names = ds.meta.attribute_names[:2]
    gen, oracle = PaintedGenerator(names), PixelOracle(names)
    cfg = JitterExperimentConfig(
        dataset=str(toy240), generator="", oracle="", out_dir=str(tmp_path), budget=12, seeds=(0,),
        attributes=tuple(names), steps=3, batch_size=8, keep_datasets=True,
        annotator=AnnotatorConfig(noise=0.0, discard_rate=0.25))
    result = run_semantic_jitter_experiment(cfg, generator=gen, oracle=oracle)
    assert {r.condition for r in result.rows} == set(SEMANTIC_JITTER_CONDITIONS)
    assert {r.test_split for r in result.rows} == {"test", "test/coarse", "test/fine"}
    assert {r.attribute for r in result.rows} == set(names)
    assert 0 < result.discarded < result.judged  # DSynth's discards were replaced
    train, made_pairs = {}, {}
    for c in SEMANTIC_JITTER_CONDITIONS:
        pool = DatasetFile(tmp_path / "pools" / f"{c}-seed0.h5")
        p = pool.pairs()
        tr = p.where(split=Split.TRAIN)
        train[c] = tr
        made_image = np.array([n.startswith("made/") for n in pool.image_names])
        made_pairs[c] = int((made_image[tr.a] & made_image[tr.b]).sum())
        assert not (made_image[tr.a] ^ made_image[tr.b]).any()  # no pair mixes a real and a made image
        assert pool.image_shape == (24, 24)  # real images downsized to the generator's size
        assert len(p.where(split=Split.TEST)) == len(ds.pairs().where(split=Split.TEST).where(attribute=0)) + len(
            ds.pairs().where(split=Split.TEST).where(attribute=1))
        if c == "dsynth-auto":  # made pairs carry the order their strengths were generated with
            made = tr.source == PairSource.SYNTHETIC_AUTO
            s = PixelOracle(names).strengths(pool.images(np.arange(len(pool))))
            diff = s[tr.a[made], tr.attribute[made]] - s[tr.b[made], tr.attribute[made]]
            assert np.all(np.sign(diff) == tr.label[made])
    sizes = {c: len(t) for c, t in train.items()}
    assert sizes == {"real": 24, "real+": 48, "jitter": 48, "dsynth": 24, "dsynth-auto": 48}
    assert made_pairs == {"real": 0, "real+": 0, "jitter": 24, "dsynth": 12, "dsynth-auto": 24}  # DSynth: half replaced
    paths = write_report(result.rows, tmp_path / "report")
    assert len(read_experiment_csv(paths["csv"])) == len(result.rows)
    assert "dsynth-auto" in paths["table"].read_text() and paths["plot test/fine"].stat().st_size > 1000
    assert "Paired by seed, against real" in paths["table"].read_text()


def test_paired_differences_follow_each_seed():
    from relattr_studio.analysis.experiment_report import differences_table, paired_differences
    from relattr_studio.analysis.jitter_experiment import ExperimentRow

    acc = {("real", 0): (60, 70), ("real", 1): (50, 80), ("dsynth", 0): (64, 70), ("dsynth", 1): (52, 79),
           ("jitter", 0): (59, 69)}
    rows = [ExperimentRow(c, "ranknet", "b", attr, seed, float(v), "test/fine")
            for (c, seed), values in acc.items() for attr, v in zip(("a", "b"), values)]
    rows.append(ExperimentRow("dsynth", "ranknet", "b", "a", 0, 99.0, "test/coarse"))  # another split: ignored
    d = paired_differences(rows)
    assert d["dsynth"] == {"mean": 1.25, "std": 0.75, "seeds": 2, "better": 1, "attributes": 2}  # +2, +0.5
    assert d["jitter"]["seeds"] == 1 and d["jitter"]["mean"] == -1.0 and "real" not in d
    assert "| dsynth | +1.25 ± 0.75 (2 seeds) | 1 of 2 |" in differences_table(rows)


def test_config_and_attributes_are_checked(toy240, tmp_path):
    with pytest.raises(RelAttrError, match="unknown condition"):
        JitterExperimentConfig(dataset="", generator="", oracle="", out_dir="", conditions=("real", "magic"))
    plain = dict(dataset="", generator="", oracle="", out_dir="")
    assert JitterExperimentConfig(**plain).preset == "scratch"  # small-cnn learns from scratch
    assert JitterExperimentConfig(**plain, backbone="efficientnet-lite0").preset == "finetune"
    with pytest.raises(RelAttrError, match="no preset"):
        JitterExperimentConfig(**plain, preset="fast")
    ds = DatasetFile(toy240)
    cfg = JitterExperimentConfig(dataset=str(toy240), generator="", oracle="", out_dir=str(tmp_path),
                                 attributes=("sporty",), seeds=(0,))
    with pytest.raises(RelAttrError, match="not in both"):
        run_semantic_jitter_experiment(cfg, generator=PaintedGenerator(ds.meta.attribute_names),
                                       oracle=PixelOracle(ds.meta.attribute_names))
    big = JitterExperimentConfig(dataset=str(toy240), generator="", oracle="", out_dir=str(tmp_path),
                                 budget=100000, seeds=(0,))
    with pytest.raises(RelAttrError, match="fewer than the budget"):
        run_semantic_jitter_experiment(big, generator=PaintedGenerator(ds.meta.attribute_names),
                                       oracle=PixelOracle(ds.meta.attribute_names))


def test_a_budget_whose_pools_would_not_fit_in_memory_is_refused_before_any_image_is_made(toy240, tmp_path,
                                                                                          monkeypatch):
    from relattr_studio.core import resources

    monkeypatch.setattr(resources, "available_memory", lambda: 2**20)  # a machine with 1 MB free
    ds = DatasetFile(toy240)
    cfg = JitterExperimentConfig(dataset=str(toy240), generator="", oracle="", out_dir=str(tmp_path / "out"),
                                 budget=20, seeds=(0,))
    with pytest.raises(RelAttrError, match="smaller --budget"):
        run_semantic_jitter_experiment(cfg, generator=PaintedGenerator(ds.meta.attribute_names),
                                       oracle=PixelOracle(ds.meta.attribute_names))
    assert not (tmp_path / "out").exists()


def test_attic_normal_and_auto_pools_come_from_a_control_module_fighting_reals_ranker(toy240, tmp_path):
    """The paper's Tables I and II for ATTIC: Normal (half the budget real, half imagined and
    judged) and Auto (the whole budget real and as many imagined pairs, labeled by their
    strengths), after an adversarial round against the ranker Real trained."""
    from pathlib import Path

    from relattr_studio.modeling.control import load_control

    models = Path(__file__).resolve().parents[2] / "models"
    cfg = JitterExperimentConfig(
        dataset=str(toy240), generator=str(models / "toy-faces-generator.pt"),
        oracle=str(models / "toy-faces-oracle.pt"), out_dir=str(tmp_path), budget=12, seeds=(0,),
        attributes=("smiling", "young"), conditions=("attic-auto", "attic", "real"), steps=3, batch_size=8,
        image_size=32, attic_steps=2, keep_datasets=True)
    result = run_semantic_jitter_experiment(cfg)
    assert {r.condition for r in result.rows} == {"real", "attic", "attic-auto"}
    control = load_control(tmp_path / "pools" / "attic-control-seed0.pt")
    assert control.targets == ["smiling", "young"]  # one module for the experiment's attributes at once
    sizes, made = {}, {}
    for c in ("real", "attic", "attic-auto"):
        pool = DatasetFile(tmp_path / "pools" / f"{c}-seed0.h5")
        tr = pool.pairs().where(split=Split.TRAIN)
        is_made = np.array([n.startswith("made/") for n in pool.image_names])
        sizes[c], made[c] = len(tr), int((is_made[tr.a] & is_made[tr.b]).sum())
        if c == "attic-auto":
            assert (tr.source[is_made[tr.a]] == PairSource.SYNTHETIC_AUTO).all()
    assert sizes == {"real": 24, "attic": 24, "attic-auto": 48}
    assert made == {"real": 0, "attic": 12, "attic-auto": 24}
    assert result.judged >= 12  # ATTIC's Normal pairs went through the simulated annotator
    per = JitterExperimentConfig(**{**cfg.__dict__, "out_dir": str(tmp_path / "per"), "conditions": ("real", "attic"),
                                    "attic_per_attribute": True})
    run_semantic_jitter_experiment(per)
    assert load_control(tmp_path / "per" / "pools" / "attic-control-seed0-young.pt").targets == ["young"]
    with pytest.raises(RelAttrError, match="need the real one"):
        JitterExperimentConfig(dataset="", generator="", oracle="", out_dir="", conditions=("attic",))
