"""The registries of backbones and rankers, and what every built-in one is called.

Torch-free on purpose: the window lists these names when it builds its Train form, on the GUI
thread, and importing torch there froze the window for 4-8 s on this 2-core machine. Each name
is declared with the module that registers its builder; ``get`` / ``build`` import it on first
use. The declaration order is the order menus list them in (cheapest first).
"""

from __future__ import annotations

from relattr_studio.core.registry import Registry

BACKBONES: Registry = Registry("backbone")
RANKERS: Registry = Registry("ranker")

_BACKBONES = "relattr_studio.modeling.backbones."
for _name, _module in (("small-cnn", "small_cnn"), ("efficientnet-lite0", "efficientnet_lite"),
                       ("vgg16", "torchvision_nets"), ("resnet18", "torchvision_nets"),
                       ("resnet50", "torchvision_nets")):
    BACKBONES.declare(_name, _BACKBONES + _module)

_RANKERS = "relattr_studio.modeling.rankers."
for _name in ("ranknet", "deepstn", "dacrl"):
    RANKERS.declare(_name, _RANKERS + _name)

# Rankers that compare two images through a head of their own (kind "pairwise"): their cost
# grows with a step's image pairs, so the window offers them a cap by default.
PAIRWISE_RANKERS: tuple[str, ...] = ("dacrl",)

# RankSVM and its local-learning variant: linear rankers on the project's GIST + Lab features,
# trained by ``training.ranksvm_job.run_ranksvm`` (no torch, no backbone). They are not torch
# builders, so they are not in RANKERS; this is the one place their names are spelled.
RANKSVM = "ranksvm"
RANKSVM_LL = "ranksvm-ll"
RANKSVM_RANKERS: tuple[str, ...] = (RANKSVM, RANKSVM_LL)


RANKSVM_STATE_SUFFIX = ".state.ckpt"  # a RankSVM run's resumable state: <out>/<ranker>.state.ckpt


def is_ranksvm_state_name(path) -> bool:
    """Whether ``path`` is named as a RankSVM run's state file. No read (and no torch): a front end
    chooses how to resume by the name; the file's reader says what is wrong with it, if anything."""
    from pathlib import Path

    return Path(path).name.endswith(RANKSVM_STATE_SUFFIX)


def is_ranksvm(ranker: str) -> bool:
    """Whether ``ranker`` trains through ``run_ranksvm`` rather than the neural training job."""
    return ranker in RANKSVM_RANKERS


def trainable_rankers() -> list[str]:
    """Every ranker the CLI and the window train, in menu order: the neural ones, then RankSVM.
    Imports nothing."""
    return RANKERS.names() + list(RANKSVM_RANKERS)
