"""DACRL: shapes, hooks, rebuild from config, and a tiny synthetic ranking task trained with
both orders of each pair (our own loop; the product's engine is tested elsewhere)."""

from __future__ import annotations

import pytest
import torch

from relattr_studio.modeling.rankers import RANKERS
from relattr_studio.modeling.rankers.dacrl import DACRLRanker, dacrl_loss
from relattr_studio.modeling.rankers.dacrl_ordering import antisymmetry_gap, pairwise_scores


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _model(**kw) -> DACRLRanker:
    torch.manual_seed(0)
    return RANKERS.build("dacrl", attributes=["bright", "left"], backbone="small-cnn",
                         backbone_options={"width": 8, **kw})


def test_shapes_and_hooks_at_64px():
    m = _model()
    x = torch.randn(3, 3, 64, 64)
    f = m.embed(x)
    assert f.shape == (3, m.backbone.out_channels, 8, 8)
    assert m.compare(f, f.flip(0)).shape == (3, 2)
    assert m(x, x.flip(0)).shape == (3, 2)
    w = m.channel_attention(f, f.flip(0))
    assert w.shape == (3, 2 * m.backbone.out_channels) and bool(((w > 0) & (w < 1)).all())
    assert DACRLRanker.train_both_orders is True and m.kind == "pairwise"
    scores = pairwise_scores(m, f)
    assert scores.shape == (3, 2) and bool(((scores >= 0) & (scores <= 1)).all())
    assert pairwise_scores(m, f, f[:2]).shape == (3, 2)


def test_gradients_reach_every_parameter_group():
    m = _model()
    x = torch.randn(4, 3, 64, 64)
    m.loss(m(x[:2], x[2:]), torch.tensor([[1.0, 0.0], [0.5, 1.0]])).backward()
    for name, params in m.parameter_groups().items():
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params), name


def test_config_rebuilds_identical_model():
    m = _model()
    twin = RANKERS.build("dacrl", **m.config())
    twin.load_state_dict(m.state_dict(), strict=True)
    m.eval(), twin.eval()
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(m(x, x.flip(0)), twin(x, x.flip(0)))


def test_head_width_is_the_papers_whatever_the_trunk():
    """f_M's width is min(C, 512): the paper's FC 1024 on a wide trunk, and a head that does not
    outweigh the trunk (EfficientNet-Lite0's C = 1280 gave a 44 M-parameter head)."""
    narrow = _model()
    c = narrow.backbone.out_channels
    assert narrow.head_channels == min(c, 512) and narrow.head[0].out_features == 2 * narrow.head_channels
    wide = DACRLRanker(attributes=["a"], backbone=_FakeTrunk(1280), backbone_name="fake")
    assert wide.head_channels == 512 and wide.head[0].out_features == 1024  # the paper's FC 1024
    assert wide.cross_conv[0].in_channels == 2560 and wide.cross_conv[0].out_channels == 512
    explicit = DACRLRanker(attributes=["a"], backbone=_FakeTrunk(1280), backbone_name="fake", head_channels=64)
    assert explicit.config()["head_channels"] == 64 and explicit.head[0].out_features == 128


class _FakeTrunk(torch.nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        from relattr_studio.modeling.backbones.base import Preprocess

        self.out_channels = channels
        self.preprocess = Preprocess(size=32)
        self.conv = torch.nn.Conv2d(3, channels, 1)

    def forward_features(self, x):
        return self.conv(x)


def _brightness_images(n: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """32 px noise images; the attribute is the brightness of a soft central disc."""
    s = 32
    yy, xx = torch.meshgrid(torch.arange(s) + 0.5, torch.arange(s) + 0.5, indexing="ij")
    disc = torch.exp(-((xx - s / 2) ** 2 + (yy - s / 2) ** 2) / (2 * 5.0 ** 2))
    strength = torch.rand(n, generator=g)
    x = strength.view(n, 1, 1, 1) * disc + 0.3 * torch.randn(n, 3, s, s, generator=g)
    return x, strength


def _accuracy(m, x, y) -> float:
    with torch.no_grad():
        f = m.embed(x)
        n = x.shape[0]
        i, j = torch.triu_indices(n, n, 1)
        p = torch.sigmoid(m.compare(f[i], f[j])[:, 0])
    return float(((p > 0.5) == (y[i] > y[j])).float().mean())


def _train(both_orders: bool, steps: int = 80) -> tuple[float, float, float, float]:
    g = torch.Generator().manual_seed(3)
    x, y = _brightness_images(256, g)
    xt, yt = _brightness_images(64, g)
    torch.manual_seed(1)
    m = RANKERS.build("dacrl", attributes=["bright"], backbone="small-cnn",
                      backbone_options={"width": 8, "image_size": 32})
    m.eval()
    with torch.no_grad():
        ft = m.embed(xt)
    gap0 = antisymmetry_gap(m, ft[:32], ft[32:])
    m.train()
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    for _ in range(steps):
        idx = torch.randint(0, 256, (16,), generator=g)
        f = m.embed(x[idx])                # every image once
        i, j = torch.arange(8), torch.arange(8, 16)
        t = (y[idx[i]] > y[idx[j]]).float()[:, None]
        logits = m.compare(f[i], f[j])
        loss = m.loss(logits, t)
        if both_orders:
            loss = 0.5 * (loss + m.loss(m.compare(f[j], f[i]), 1.0 - t))
        opt.zero_grad()
        loss.backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        ft = m.embed(xt)
    borda = pairwise_scores(m, ft)[:, 0]
    rank_corr = float(torch.corrcoef(torch.stack([borda.argsort().argsort().float(),
                                                  yt.argsort().argsort().float()]))[0, 1])
    return _accuracy(m, xt, yt), gap0, antisymmetry_gap(m, ft[:32], ft[32:]), rank_corr


def test_learns_synthetic_ranking_with_both_orders_and_stays_antisymmetric():
    acc_both, gap_init, gap_both, borda_corr = _train(both_orders=True)
    acc_one, _, gap_one, _ = _train(both_orders=False)
    print(f"DACRL synthetic: acc both orders {acc_both:.3f}, one order {acc_one:.3f}; "
          f"|P(i>j)+P(j>i)-1| init {gap_init:.4f}, both {gap_both:.4f}, one {gap_one:.4f}; Borda Spearman {borda_corr:.3f}")
    assert acc_both > 0.75
    assert gap_both < gap_one
    assert borda_corr > 0.7


def test_loss_is_clipped_and_matches_bce():
    logits = torch.tensor([[0.3], [-2.0], [80.0]])
    t = torch.tensor([[1.0], [0.5], [0.0]])
    ref = torch.nn.functional.binary_cross_entropy_with_logits(logits[:2], t[:2])
    assert torch.allclose(dacrl_loss(logits[:2], t[:2]), ref, atol=1e-5)
    assert torch.isfinite(dacrl_loss(logits, t))


def _counting(m: DACRLRanker) -> list[int]:
    seen, compare = [], m.compare
    m.compare = lambda fi, fj: (seen.append(len(fi)), compare(fi, fj))[1]
    return seen


def test_engine_compares_each_image_pair_once_for_all_its_heads():
    """Training and evaluation run DACRL's head once per image pair (a multi-head batch labels
    a pair once per attribute), with the margins of a per-row comparison."""
    import numpy as np

    from relattr_studio.data.pairs import PairTable
    from relattr_studio.training.evaluation import ImageBank, pair_margins, sample_image_pairs
    from relattr_studio.training.step import PairLoss
    from tests.unit._analysis_models import ArrayDataset

    m = _model().eval()
    x = torch.randn(5, 3, 64, 64)
    i, j = np.triu_indices(5, 1)
    i, j, head = np.r_[i, i, j], np.r_[j, j, i], np.r_[np.zeros(10), np.ones(10), np.zeros(10)].astype(np.int64)
    ti, tj, th = (torch.from_numpy(v.astype(np.int64)) for v in (i, j, head))
    with torch.no_grad():
        f = m.embed(x)
        want = m.compare(f[ti], f[tj])[torch.arange(len(ti)), th]
        seen = _counting(m)
        _, margin = PairLoss(m)(x, ti, tj, th, torch.rand(len(ti)))
    assert seen == [20] and torch.allclose(margin, want, atol=1e-6)

    data = ArrayDataset(np.random.default_rng(0).integers(0, 256, (8, 64, 64, 3)).astype(np.uint8))
    table = PairTable.build(i + 3, j + 3, head, np.where(np.arange(30) % 2, 1, -1))
    with torch.no_grad():
        f = m.embed(ImageBank(data).tensor(np.arange(3, 8), m.preprocess, "cpu"))
        want = m.compare(f[ti], f[tj])[torch.arange(len(ti)), th].numpy()
    seen = _counting(m)
    got = pair_margins(m, ImageBank(data), table, torch.device("cpu"), heads=head)
    assert sum(seen) == 20 and np.allclose(got, want, atol=1e-5)

    sample = sample_image_pairs(table, 4, seed=1)
    keys = set(zip(sample.a.tolist(), sample.b.tolist()))
    assert len(keys) == 4 and len(sample) == sum((a, b) in keys for a, b in zip(table.a, table.b))
    assert sample_image_pairs(table, 100) is table and sample_image_pairs(table, None) is table
