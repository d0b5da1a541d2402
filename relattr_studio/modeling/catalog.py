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

# Every ranker, with the traits a front end reads before it builds one:
# - family: "neural" (a torch module on a backbone, trained in steps by ``training.job``) or
#   "ranksvm" (linear rankers on the project's GIST + Lab features, fitted per attribute by
#   ``training.ranksvm_job``: no backbone, no steps, no curves);
# - pairwise: it compares two images through a head of its own, so its cost grows with a
#   step's image pairs (the window offers it a cap by default);
# - local: it fits a model per test pair (local learning), so it is tested on a sample.
NEURAL = "neural"
RANKSVM_FAMILY = "ranksvm"
RANKSVM = "ranksvm"
RANKSVM_LL = "ranksvm-ll"
_RANKERS = "relattr_studio.modeling.rankers."
for _name, _module, _traits in (
        ("ranknet", _RANKERS + "ranknet", {}),
        ("deepstn", _RANKERS + "deepstn", {}),
        ("dacrl", _RANKERS + "dacrl", {"pairwise": True}),
        (RANKSVM, "relattr_studio.modeling.ranksvm", {"family": RANKSVM_FAMILY}),
        (RANKSVM_LL, "relattr_studio.modeling.ranksvm", {"family": RANKSVM_FAMILY, "local": True})):
    RANKERS.declare(_name, _module, **{"family": NEURAL, "pairwise": False, "local": False, **_traits})

PAIRWISE_RANKERS: tuple[str, ...] = tuple(RANKERS.names_where(pairwise=True))
NEURAL_RANKERS: tuple[str, ...] = tuple(RANKERS.names_where(family=NEURAL))
RANKSVM_RANKERS: tuple[str, ...] = tuple(RANKERS.names_where(family=RANKSVM_FAMILY))


def ranker_family(ranker: str) -> str:
    """``NEURAL`` or ``RANKSVM_FAMILY``: which trainer fits ``ranker`` and which settings apply.
    Imports nothing; an unknown name is a RelAttrError listing the known ones."""
    return str(RANKERS.traits(ranker)["family"])


RANKSVM_STATE_SUFFIX = ".state.ckpt"  # a RankSVM run's resumable state: <out>/<ranker>.state.ckpt


def is_ranksvm_state_name(path) -> bool:
    """Whether ``path`` is named as a RankSVM run's state file. No read (and no torch): a front end
    chooses how to resume by the name; the file's reader says what is wrong with it, if anything."""
    from pathlib import Path

    return Path(path).name.endswith(RANKSVM_STATE_SUFFIX)


def trainable_rankers() -> list[str]:
    """Every ranker the CLI and the window train, in menu order (the neural ones, then RankSVM).
    Imports nothing."""
    return RANKERS.names()
