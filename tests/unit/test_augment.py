"""Training-image augmentation: flips and shifts, random zoomed crops, contrast / brightness jitter."""

from __future__ import annotations

import torch

from relattr_studio.training.evaluation import augment_batch


def _ramps(n: int = 16, size: int = 32) -> torch.Tensor:
    """Images whose value is the horizontal position in [-1, 1] (all three channels)."""
    ramp = torch.linspace(-1.0, 1.0, size)
    return ramp.view(1, 1, 1, size).expand(n, 3, size, size).clone()


def test_zoomed_crops_keep_a_part_of_the_image_of_the_asked_size_and_flip_some():
    x = _ramps()
    out = augment_batch(x, torch.Generator().manual_seed(0), zoom=0.4)
    assert out.shape == x.shape
    row = out[:, 0, 16]  # one row per image: still a ramp, over a sub-interval of [-1, 1]
    span = row[:, -1] - row[:, 0]
    assert bool((span.abs() <= 2.0 + 1e-5).all() and (span.abs() >= 0.6 * 2.0 * (31 / 32) - 0.05).all())
    assert bool((row.min(1).values >= -1.0 - 1e-5).all() and (row.max(1).values <= 1.0 + 1e-5).all())
    assert (span < 0).any() and (span > 0).any()  # some flipped, some not
    assert float(span.abs().std()) > 0.01  # the crop's size varies per image
    again = augment_batch(x, torch.Generator().manual_seed(0), zoom=0.4)
    assert torch.equal(out, again)  # seeded


def test_without_zoom_the_batch_is_flipped_and_shifted_as_before():
    x = _ramps()
    out = augment_batch(x, torch.Generator().manual_seed(1))
    row = out[:, 0, 16]
    flipped = row[:, 0] > row[:, -1]
    assert flipped.any() and (~flipped).any()
    steps = (row[:, 1:] - row[:, :-1]).abs()
    assert bool((steps <= 2.0 / 31 + 1e-5).all())  # a shifted ramp (replicated edges), never resampled


def test_color_jitter_stays_within_its_bounds():
    torch.manual_seed(0)
    x = torch.randn(64, 3, 8, 8)
    out = augment_batch(x, torch.Generator().manual_seed(2), color=0.2)
    mean_in, mean_out = x.mean(dim=(1, 2, 3)), out.mean(dim=(1, 2, 3))
    ratio = out.flatten(1).std(1) / x.flatten(1).std(1)
    # flips and shifts move pixels (replicated edges change the mean a little); compare loosely
    assert bool(((mean_out - mean_in).abs() <= 0.2 + 0.15).all())
    assert bool((ratio >= 0.8 - 0.1).all() and (ratio <= 1.2 + 0.1).all()) and float(ratio.std()) > 0.03
