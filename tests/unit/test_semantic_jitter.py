import numpy as np
import pytest

from relattr_studio.analysis.semantic_jitter import (
    INTER,
    INTRA,
    IdentityPrior,
    semantic_jitter_latents,
    semantic_jitter_pairs,
)
from relattr_studio.core.errors import RelAttrError
from relattr_studio.core.types import PairLabel

NAMES = ("smiling", "young", "bald")


def _prior(seed=0, n=4000):
    rng = np.random.default_rng(seed)
    cov = np.array([[0.04, 0.02, 0.0], [0.02, 0.09, -0.01], [0.0, -0.01, 0.01]])
    s = rng.multivariate_normal([0.5, 0.3, 0.2], cov, size=n)
    return IdentityPrior.fit(s, NAMES, z_dim=5), cov


def test_fit_recovers_mean_and_covariance_and_sampling_keeps_them():
    prior, cov = _prior()
    assert np.allclose(prior.mean, [0.5, 0.3, 0.2], atol=0.02)
    assert np.allclose(prior.cov, cov, atol=0.006)
    assert np.allclose(prior.sigma, np.sqrt(np.diag(cov)), atol=0.01)
    y, z = prior.sample(np.random.default_rng(1), 20000)
    assert y.shape == (20000, 3) and z.shape == (20000, 5)
    assert np.allclose(np.cov(y, rowvar=False), prior.cov, atol=0.006)  # co-occurrence kept
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1.0) < 0.02


def test_fit_leaves_out_rows_with_nan_and_refuses_too_few():
    s = np.array([[0.1, 0.2, 0.3], [np.nan, 0.1, 0.1], [0.3, 0.1, 0.0], [0.5, 0.5, 0.5]])
    prior = IdentityPrior.fit(s, NAMES, z_dim=2)
    assert np.allclose(prior.mean, s[[0, 2, 3]].mean(axis=0))
    with pytest.raises(RelAttrError, match="at least 2"):
        IdentityPrior.fit(s[:2], NAMES, z_dim=2)
    with pytest.raises(RelAttrError, match="do not match"):
        IdentityPrior.fit(s[:, :2], NAMES, z_dim=2)


def test_spectrum_and_tweak_move_one_attribute_by_sigma():
    prior, _ = _prior()
    y = np.array([0.4, 0.3, 0.1])
    spec = prior.spectrum(y, "young", steps=5, span=2.0)
    assert spec.shape == (5, 3)
    assert np.allclose(spec[:, [0, 2]], y[[0, 2]])  # the others stay
    assert np.allclose(spec[:, 1], y[1] + np.linspace(-2, 2, 5) * prior.sigma[1])
    lo, hi = prior.tweak(np.stack([y, y]), 2)
    assert np.allclose(hi[:, 2] - lo[:, 2], 4 * prior.sigma[2]) and np.allclose(lo[:, :2], y[:2])
    with pytest.raises(RelAttrError, match="no attribute"):
        prior.spectrum(y, "sporty")


def test_round_trip_and_of_generator():
    prior, _ = _prior()
    back = IdentityPrior.from_dict(prior.to_dict())
    assert back.attributes == prior.attributes and np.allclose(back.cov, prior.cov) and back.z_dim == 5

    class Gen:
        attributes, prior_mean, prior_cov, z_dim = list(NAMES), prior.mean, prior.cov, 7

    assert IdentityPrior.of_generator(Gen()).z_dim == 7


class RenderY:
    """A stand-in generator whose image is its requested strengths, painted: pixel (0, k) = y_k."""

    def __init__(self, prior):
        self.attributes, self.prior_mean, self.prior_cov, self.z_dim = list(prior.attributes), prior.mean, prior.cov, 5
        self.calls = 0

    def generate(self, y, z):
        self.calls += 1
        img = np.zeros((len(y), 4, 4, 3), np.uint8)
        img[:, 0, : y.shape[1], 0] = np.clip(np.round(y * 100 + 100), 0, 255)
        return img


def test_semantic_jitter_pairs_are_intra_and_inter_half_and_half_and_differ_by_two_sigma():
    prior, _ = _prior()
    gen = RenderY(prior)
    pairs = semantic_jitter_pairs(gen, "young", 400, np.random.default_rng(3), batch_size=100)
    assert len(pairs) == 400 and (pairs.kind == INTRA).sum() == 200 and (pairs.kind == INTER).sum() == 200
    assert gen.calls == int(np.ceil(len(pairs.y) / 100)) and len(pairs.images) == len(pairs.y)
    k, sigma = 1, prior.sigma[1]
    ya, yb = pairs.y[pairs.a], pairs.y[pairs.b]
    intra = pairs.kind == INTRA
    # intra pairs: one identity (same z and other strengths), attribute 2 sigma apart
    assert np.allclose(pairs.z[pairs.a][intra], pairs.z[pairs.b][intra])
    assert np.allclose(np.abs(ya[intra, k] - yb[intra, k]), 2 * sigma)
    assert np.allclose(np.delete(ya[intra], k, axis=1), np.delete(yb[intra], k, axis=1))
    # inter pairs: two identities, one of them tweaked by +- 2 sigma
    assert not np.allclose(pairs.z[pairs.a][~intra], pairs.z[pairs.b][~intra])
    # the auto label follows y, and the stronger image is first about half the time
    want = np.sign(ya[:, k] - yb[:, k])
    assert np.array_equal(pairs.auto_label, want.astype(np.int8))
    assert 0.4 < np.mean(pairs.auto_label == PairLabel.A_MORE) < 0.6
    # images are the generator's, row for row
    assert np.array_equal(pairs.images[:, 0, :3, 0], np.clip(np.round(pairs.y * 100 + 100), 0, 255))


def test_semantic_jitter_pairs_are_seeded_and_check_their_arguments():
    prior, _ = _prior()
    one = semantic_jitter_latents(prior, 0, 11, np.random.default_rng(5), intra_share=0.0)
    two = semantic_jitter_latents(prior, 0, 11, np.random.default_rng(5), intra_share=0.0)
    assert all(np.array_equal(x, w) for x, w in zip(one, two))
    assert len(one[2]) == 11 and one[4].sum() == 11  # all inter
    with pytest.raises(RelAttrError, match="at least one"):
        semantic_jitter_latents(prior, 0, 0, np.random.default_rng(0))
