import numpy as np
import pytest

from relattr_studio.analysis.semantic_jitter import IdentityPrior
from relattr_studio.core.errors import RelAttrError

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
