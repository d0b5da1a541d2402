"""Faithfulness of a generator to the requested y, read by an oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtr

from relattr_studio.analysis.faithfulness import faithfulness, faithfulness_report
from relattr_studio.analysis.semantic_jitter import IdentityPrior
from relattr_studio.core.errors import RelAttrError
from relattr_studio.data.procedural import FACE_ATTRIBUTES, render_faces, sample_faces

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MODELS = Path(__file__).resolve().parents[2] / "models"


class PixelGenerator:
    """Writes y_A (scaled to 0..255) into column block A of the image; ignores z, or y when asked."""

    def __init__(self, attributes=("a", "b", "c"), ignore_y=False, a_from_b=False):
        self.attributes = list(attributes)
        self.z_dim = 2
        self.prior_mean = np.full(len(attributes), 0.5)
        self.prior_cov = 0.02 * np.eye(len(attributes)) + 0.01
        self.ignore_y = ignore_y
        self.a_from_b = a_from_b  # draws attribute a as y_b says: a correlated stand-in, not a
        self.calls = 0

    def generate(self, y, z):
        self.calls += 1
        assert y.shape[1] == len(self.attributes) and z.shape == (len(y), self.z_dim)
        if self.ignore_y:
            y = np.full_like(y, 0.5) + 0.1 * z[:, :1]  # varies, but not with y
        if self.a_from_b:
            y = y.copy()
            y[:, 0] = y[:, 1]
        out = np.zeros((len(y), 8, 8 * len(self.attributes), 3), np.uint8)
        for a in range(len(self.attributes)):
            out[:, :, 8 * a:8 * a + 8] = np.clip(y[:, a] * 255, 0, 255).astype(np.uint8)[:, None, None, None]
        return out


class PixelOracle:
    """Reads PixelGenerator's blocks back, in its own attribute order; images with a red pixel
    at (0, 0) equal to 255 are unreadable."""

    def __init__(self, generator_attributes, order):
        self._index = {a: i for i, a in enumerate(generator_attributes)}
        self.attribute_names = list(order)

    def strengths(self, images):
        return np.stack([images[:, 0, 8 * self._index[a], 0] / 255.0 if a in self._index else np.zeros(len(images))
                         for a in self.attribute_names], 1)

    def read(self, images):
        return self.strengths(images), images[:, 0, 0, 0] < 200


def test_a_faithful_generator_scores_one_and_one_ignoring_y_scores_near_zero():
    gen = PixelGenerator()
    oracle = PixelOracle(gen.attributes, order=["c", "a", "b", "extra"])  # matched by name
    report = faithfulness_report(gen, oracle, n=2000, seed=0, batch=300)
    assert report.attributes == ("a", "b", "c") and gen.calls == 7
    for a in "abc":
        assert report.spearman[a] > 0.99  # 8-bit rounding and clipping at 0 and 1 only
        assert 0.9 < report.slope[a] < 1.05
    # block "a" is read as unreadable where y_a >= ~0.78: a legible share below 1, and the
    # legible-only Spearman is measured on the others
    assert 0.85 < report.legible_share < 0.995
    assert report.spearman_legible["a"] > 0.98
    ignoring = faithfulness(PixelGenerator(ignore_y=True), oracle, n=2000, seed=0)
    assert max(abs(v) for v in ignoring.values()) < 0.1


def test_tweak_order_tells_an_attribute_drawn_from_a_correlated_one():
    oracle = PixelOracle(("a", "b", "c"), ("a", "b", "c"))
    faithful = faithfulness_report(PixelGenerator(), oracle, n=600, tweaks=200)
    assert faithful.tweak_identities == 200 and set(faithful.tweak_order) == {"a", "b", "c"}
    assert min(faithful.tweak_order.values()) > 0.97  # only clipping at 0 and 1 ties a pair
    leaky = faithfulness_report(PixelGenerator(a_from_b=True), oracle, n=600, tweaks=200)
    assert 0.2 < leaky.spearman["a"] < 0.5  # the prior's correlation (1/3) carries it
    assert leaky.tweak_order["a"] == 0.0 and leaky.tweak_order["c"] > 0.97  # moving y_a alone changes nothing
    assert "tweak order" in leaky.table() and "tweak order" in leaky.table(markdown=True)
    assert faithfulness_report(PixelGenerator(), oracle, n=100).tweak_order == {}  # off by default


def test_faithfulness_is_seeded_and_follows_the_generator_prior():
    gen = PixelGenerator()
    oracle = PixelOracle(gen.attributes, gen.attributes)
    assert faithfulness(gen, oracle, n=300, seed=5) == faithfulness(gen, oracle, n=300, seed=5)
    assert faithfulness(gen, oracle, n=300, seed=5) != faithfulness(gen, oracle, n=300, seed=6)
    table = faithfulness_report(gen, oracle, n=300).table(markdown=True)
    assert table.count("\n| ") == 4 and "legible" in table  # 3 attributes and the mean below the header


def test_no_attribute_in_common_is_a_message():
    gen = PixelGenerator()
    with pytest.raises(RelAttrError, match="none of the generator"):
        faithfulness(gen, PixelOracle(gen.attributes, []), n=10)


class ProceduralFaceGenerator:
    """Renders toy faces from y with fixed nuisance: the most faithful generator there can be.
    With ``ignore_y`` it renders the strengths Phi(z) instead: faces that vary, but not with y."""

    def __init__(self, ignore_y=False):
        strengths, nuisance, _ = sample_faces(2000, 11)
        prior = IdentityPrior.fit(strengths, FACE_ATTRIBUTES, z_dim=len(FACE_ATTRIBUTES))
        self.attributes, self.z_dim = list(FACE_ATTRIBUTES), len(FACE_ATTRIBUTES)
        self.prior_mean, self.prior_cov = prior.mean, prior.cov
        self._nuisance = {k: v[:1] for k, v in nuisance.items()}
        self.ignore_y = ignore_y

    def generate(self, y, z):
        y = ndtr(z) if self.ignore_y else np.clip(y, 0, 1)
        nz = {k: np.repeat(v, len(y)) for k, v in self._nuisance.items()}
        return render_faces(y, nz, 64)


def test_procedural_faces_are_faithful_to_the_shipped_oracle():
    from relattr_studio.modeling.oracle import load_oracle

    oracle = load_oracle(MODELS / "toy-faces-oracle.pt")
    report = faithfulness_report(ProceduralFaceGenerator(), oracle, n=240, seed=0)
    assert set(report.attributes) == set(FACE_ATTRIBUTES)
    for a in FACE_ATTRIBUTES:
        # y beyond [0, 1] renders as 0 or 1: the Spearman falls a little short of 1
        assert report.spearman[a] > 0.85, (a, report.spearman[a])
    assert report.legible_share > 0.9
    ignoring = faithfulness(ProceduralFaceGenerator(ignore_y=True), oracle, n=200, seed=0)
    assert max(abs(v) for v in ignoring.values()) < 0.25  # ~3.5 standard errors of a null Spearman


def test_cli_faithfulness_of_a_generator_file(tmp_path, capsys):
    import json

    from relattr_studio.cli import build_parser
    from relattr_studio.modeling.generator import AttributeGenerator, save_generator

    gen = AttributeGenerator(FACE_ATTRIBUTES, z_dim=2, width=4, hidden=8)  # untrained: noise-like blobs
    gen.set_strength_statistics(sample_faces(200, 3)[0])
    save_generator(tmp_path / "g.pt", gen)
    args = build_parser().parse_args(["oracle", "faithfulness", "--generator", str(tmp_path / "g.pt"),
                              "--model", str(MODELS / "toy-faces-oracle.pt"), "--n", "40", "--json", "--quiet"])
    assert args.func(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 40 and report["attributes"] == list(FACE_ATTRIBUTES)
    assert set(report["spearman"]) == set(FACE_ATTRIBUTES)
    assert report["legible_share"] < 0.5  # an untrained decoder draws nothing the oracle can read
