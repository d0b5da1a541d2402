"""Entry points that background runners pickle by reference (a spawned process imports this
module to find them): nothing heavy at import, so neither the window nor the child pays for
torch before it runs the job, and the child never imports Qt."""

from __future__ import annotations


def run_training(*, ctx, config, resume_from=None):
    """The training job as a runner calls it: ``train_ranker(config)`` reporting through ``ctx``."""
    from relattr_studio.training.job import train_ranker

    return train_ranker(config, ctx=ctx, resume_from=resume_from)
