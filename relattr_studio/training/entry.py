"""Entry points that background runners pickle by reference (a spawned process imports this
module to find them): nothing heavy at import, so neither the window nor the child pays for
torch before it runs the job, and the child never imports Qt."""

from __future__ import annotations


def run_training(*, ctx, config=None, resume_from=None):
    """The training job as a runner calls it: ``train_ranker(config)`` reporting through ``ctx``.

    With ``resume_from`` and no ``config``, the checkpoint's own run continues: its settings,
    its folder, its curve. The model's rows go into the run folder's results.csv, as the CLI's do.
    """
    from relattr_studio.training.job import train_ranker
    from relattr_studio.training.runs import record_run, resume_config

    if config is None:
        if resume_from is None:
            raise ValueError("run_training needs a config or a checkpoint to resume")
        config = resume_config(resume_from)
    result = train_ranker(config, ctx=ctx, resume_from=resume_from)
    record_run(result)
    return result


def run_ranksvm_training(*, ctx, dataset, ranker, attributes=(), seeds=(0,), c=None, k=100, test_sample=None,
                         protocol="default", out_dir=None, resume_from=None, labels=None, labels_only=False,
                         min_confidence=None):
    """RankSVM (``ranker`` "ranksvm") or local-learning RankSVM ("ranksvm-ll") as a runner calls
    it: ``run_ranksvm`` on ``dataset`` reporting through ``ctx``; returns its ResultRows.
    Empty ``attributes`` means all of the dataset's; the other settings are ``run_ranksvm``'s,
    ``resume_from`` (the run's ``<ranker>.state.ckpt``) and ``labels`` included."""
    from relattr_studio.core.errors import RelAttrError
    from relattr_studio.modeling.catalog import RANKERS, RANKSVM_FAMILY, RANKSVM_RANKERS, ranker_family

    if ranker_family(ranker) != RANKSVM_FAMILY:
        raise RelAttrError(f"{ranker!r} is not a RankSVM ranker; known: {', '.join(RANKSVM_RANKERS)}")
    from relattr_studio.training.ranksvm_job import run_ranksvm

    return run_ranksvm(dataset, attributes=list(attributes) or None, local=bool(RANKERS.traits(ranker)["local"]), k=int(k), c=c,
                       seeds=[int(s) for s in seeds], protocol=protocol, test_sample=test_sample, out_dir=out_dir,
                       ctx=ctx, resume_from=resume_from, labels=labels, labels_only=labels_only,
                       min_confidence=min_confidence)


def resume_ranksvm_training(*, ctx, state):
    """A RankSVM run continued from its state file (``<ranker>.state.ckpt``) with the settings
    stored there, in its folder, as a runner calls it; returns all of the run's ResultRows."""
    from relattr_studio.training.ranksvm_job import resume_ranksvm

    return resume_ranksvm(state, ctx=ctx)


def run_generator_training(*, ctx, config, resume=False, card=None):
    """The generator training job as a runner calls it: ``train_generator(config)`` reporting
    through ``ctx``; returns its GeneratorTrainResult. The file's card records the equivalent
    ``relattr generator train`` command and the torch threads, as the CLI's does."""
    import torch

    from relattr_studio.training.generator_job import train_generator

    command = config.command() + (" --resume" if resume else "")
    card = {"command": command, "threads": torch.get_num_threads(), **(card or {})}
    return train_generator(config, ctx=ctx, resume=resume, card=card)
