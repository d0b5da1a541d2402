"""ATTIC's adversarial round: a frozen generator, a control module and a ranker trained against
each other (Yu and Grauman, ATTIC, Sec. III-C), on the one lifecycle.

One step of :class:`AtticRound` is, as the authors' Torch7 scripts order it:

1. a ranker step on a minibatch of the dataset's real train pairs (RankNet loss);
2. a ranker step on a minibatch of imagined pairs: seeds q through the control module and the
   frozen generator, each pair labeled by the sign of y_A[a] - y_B[a] for the target attribute
   a (the control module's own strengths: the labels are free);
3. a control step on a fresh minibatch of imagined pairs, through the frozen generator and the
   ranker (its weights held), with one of two objectives:

   - ``flipped`` (the authors' code): the RankNet loss with the targets flipped, t -> 1 - t:
     the control module wants the ranker to believe the opposite of the pair's true order;
   - ``negative`` (the paper's Eq. 4): L_control = -L_rank, unbounded below.

The generator stays in eval mode with its weights frozen; gradients reach the control module
through it. Metrics: the ranker's loss on real and on imagined pairs, the control loss, the
ranker's confidence on the control module's pairs (mean |P - 0.5|: 0 is a ranker fully
confused), the spread of the imagined strengths, and at each evaluation the ranker's test
accuracy on the target attributes and, given an oracle, the label legibility: the share of
imagined pairs whose two images the oracle can read and whose order it reads as the control
module's strengths say.

The checkpoint is the control module file (``config.out``) with the whole training state (the
ranker's weights and both optimisers among it), so a round resumes to the same weights after a
kill; the finished file keeps the control module, the round's figures and the ranker's final
weights for the next step of the active loop (:mod:`relattr_studio.analysis.attic_loop`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from relattr_studio.core.errors import DataFileError, RelAttrError
from relattr_studio.core.jobs import NULL_CONTEXT, JobContext
from relattr_studio.core.paths import refuse_overwriting_inputs
from relattr_studio.core.types import Split
from relattr_studio.data.dataset_file import DatasetFile
from relattr_studio.modeling.control import ControlModule, control_for_generator, control_payload, load_control
from relattr_studio.modeling.model_file import read_model_file, save_model_file
from relattr_studio.training.attic_config import AtticConfig
from relattr_studio.training.lifecycle import (
    JsonlSink,
    Recipe,
    RunState,
    check_resumable,
    finite,
    metrics_file,
    run_recipe,
)
from relattr_studio.training.memory import check_step_memory, step_activation_bytes, traced_step_bytes

def _pair_logits(ranker, xa: torch.Tensor, xb: torch.Tensor, heads: torch.Tensor) -> torch.Tensor:
    """n x len(heads) logits of P(a > b) for preprocessed images: r(a) - r(b) for a pointwise
    ranker, compare(a, b) for a pairwise one."""
    if ranker.kind == "pairwise":
        return ranker(xa, xb)[:, heads]
    s = ranker(torch.cat([xa, xb]))
    return s[: len(xa), heads] - s[len(xa):, heads]


def ranknet_targets(y_a: torch.Tensor, y_b: torch.Tensor) -> torch.Tensor:
    """P(a > b) the strengths say: 1, 0, or 0.5 where they are equal."""
    return (torch.sign(y_a - y_b) + 1) / 2


class AtticRound(Recipe):
    """The adversarial round's recipe (see the module docstring)."""

    name = "attic"
    gauges = frozenset({"control_lr"})
    final_tag = "test"
    nan_advice = "lower --control-lr and --ranker-lr, or use --objective flipped (bounded)"

    def __init__(self, config: AtticConfig, ctx: JobContext = NULL_CONTEXT):
        super().__init__(config, ctx)
        self.eval_every, self.checkpoint_every = config.eval_every, config.checkpoint_every
        self.ds: DatasetFile | None = None
        self.figures: dict[str, Any] = {}

    # -- setup ------------------------------------------------------------------------------

    def setup(self, resume_from: Path | None) -> None:
        from relattr_studio.modeling.generator import load_generator
        from relattr_studio.training.checkpoint import load_checkpoint
        from relattr_studio.training.config import resolve_device

        c = self.config
        self.device = resolve_device(c.device)
        torch.manual_seed(c.seed)
        self.gen = torch.Generator().manual_seed(c.seed)
        self.rng = np.random.default_rng([c.seed, 0xA771C])
        self.generator = load_generator(c.generator, self.device).eval()
        self.generator.requires_grad_(False)
        self.ranker, _ = load_checkpoint(c.ranker, self.device)
        self.ds = DatasetFile(c.dataset)
        shared = [a for a in self.ranker.attributes if a in self.generator.attributes
                  and a in self.ds.meta.attribute_names]
        if not shared:
            raise RelAttrError(f"the ranker ({', '.join(self.ranker.attributes)}), the generator "
                               f"({', '.join(self.generator.attributes)}) and the dataset share no attribute: "
                               "give a generator of the ranker's kind")
        targets = list(c.attributes) or shared
        missing = [a for a in targets if a not in shared]
        if missing:
            raise RelAttrError(f"target attribute(s) {', '.join(missing)} must be known to the ranker "
                               f"({', '.join(self.ranker.attributes)}), the generator and the dataset "
                               f"(shared: {', '.join(shared) or 'none'})")
        self.targets = targets
        self.heads = torch.tensor([self.ranker.attributes.index(a) for a in targets], device=self.device)
        self.gen_cols = torch.tensor([list(self.generator.attributes).index(a) for a in targets], device=self.device)
        self.control = (load_control(c.control, self.device) if c.control
                        else control_for_generator(self.generator, targets).to(self.device))
        if self.control.attributes != list(self.generator.attributes) or self.control.z_dim != self.generator.z_dim:
            raise DataFileError(c.control, "its control module was made for another generator "
                                f"(attributes {', '.join(self.control.attributes)}, z size {self.control.z_dim})",
                                "start a new control module for this generator (leave --control out)")
        self.control.targets = targets
        previous = read_model_file(c.control, kind="control").card.get("rounds", 0) if c.control else 0
        self.round_number = int(previous) + 1  # the active loop's batch this round imagines for
        self._check_step_memory()
        self._load_pairs()
        self.r_opt = torch.optim.Adam(self.ranker.parameters(), lr=c.ranker_lr)
        self.c_opt = torch.optim.Adam(self.control.parameters(), lr=c.control_lr)
        self.oracle = None
        if c.oracle:
            from relattr_studio.modeling.oracle import load_oracle

            self.oracle = load_oracle(c.oracle)
        self.steps_per_epoch = len(self.train_pairs) / c.pairs_per_step
        if resume_from is not None:
            self.load_checkpoint(resume_from)

    def _check_step_memory(self) -> None:
        """Refuse, before the first step, a step whose 2 x pairs_per_step images (the ranker's
        and the generator's activations, kept for the control's backward pass) exceed the memory."""
        n, side = 2 * self.config.pairs_per_step, int(self.generator.image_size)
        g = self.generator
        traced = traced_step_bytes(g, lambda meta: meta.decode(torch.zeros(1, len(g.attributes), device="meta"),
                                                               torch.zeros(1, g.z_dim, device="meta")),
                                   batch=n, input_elements=3 * side * side)
        ranker = step_activation_bytes(self.ranker, batch=n, image_size=self.ranker.preprocess.size)
        if traced is not None and ranker is not None:
            check_step_memory(self.ranker, batch=n, image_size=side, device=self.device, needed=traced + ranker,
                              smaller="use a smaller --pairs-per-step")

    def _load_pairs(self) -> None:
        c, ds = self.config, self.ds
        pairs = ds.pairs(c.protocol)
        ids = [ds.attribute_index(a) for a in self.targets]
        head_of = {a: k for k, a in enumerate(ids)}

        def rows(split):
            r = pairs.where(split=split)
            r = r.select(np.isin(r.attribute, ids))
            return r

        train = rows(Split.TRAIN)
        if c.labels:  # the real pairs a person (or the simulated annotator) judged, as the active loop starts
            from relattr_studio.data.label_training import labeled_pairs_from

            judged = labeled_pairs_from(c.labels, ds).pairs
            judged = judged.select(np.isin(judged.attribute, ids) & (judged.a < len(ds)) & (judged.b < len(ds)))
            train = judged.select(judged.label != 0)
        if len(train) < 1:
            raise RelAttrError(f"{c.dataset}: no train pairs of {', '.join(self.targets)} under protocol {c.protocol!r}")
        self.train_pairs = train
        self.train_heads = np.array([head_of[int(a)] for a in train.attribute], np.int64)
        test = rows(Split.TEST)
        test = test.select(test.label != 0)
        if len(test) > c.eval_pairs:
            test = test.select(np.random.default_rng([c.seed, 7]).choice(len(test), c.eval_pairs, replace=False))
        self.test_pairs = test
        self.test_heads = np.array([head_of[int(a)] for a in test.attribute], np.int64)
        used = np.unique(np.concatenate([train.a, train.b, test.a, test.b]).astype(np.int64))
        self.where = np.full(len(ds), -1, np.int64)
        self.where[used] = np.arange(len(used))
        self.pixels = torch.from_numpy(ds.images(used))

    # -- one step ---------------------------------------------------------------------------

    def _real(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        p, pre = self.train_pairs, self.ranker.preprocess
        xa = pre(self.pixels[torch.from_numpy(self.where[p.a[idx]])], device=self.device)
        xb = pre(self.pixels[torch.from_numpy(self.where[p.b[idx]])], device=self.device)
        target = torch.as_tensor((np.sign(p.label[idx]).astype(np.float32) + 1) / 2, device=self.device)
        heads = torch.as_tensor(self.train_heads[idx], device=self.device)
        return xa, xb, target, heads

    def _imagine(self, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x_A, x_B preprocessed for the ranker, y_A, y_B) of n pairs from fresh seeds; the
        graph reaches the control module when grad is enabled."""
        q = self.control.sample_q(n, self.gen)
        y_a, z_a, y_b, z_b = self.control(q)
        pre = self.ranker.preprocess
        x = self.generator.decode(torch.cat([y_a, y_b]), torch.cat([z_a, z_b]))
        x = pre.from_unit(x)
        return x[:n], x[n:], y_a, y_b

    def _pick_heads(self, n: int) -> torch.Tensor:
        """Per imagined pair, which target it is judged on (uniformly at random when several)."""
        k = torch.randint(len(self.targets), (n,), generator=self.gen).to(self.device)
        return k

    def train_step(self) -> dict[str, float]:
        c, n = self.config, self.config.pairs_per_step
        ranker, control = self.ranker, self.control
        # 1. the ranker on real pairs
        ranker.train()
        idx = self.rng.integers(0, len(self.train_pairs), n)
        xa, xb, t, heads = self._real(idx)
        logits = _pair_logits(ranker, xa, xb, self.heads)
        loss_real = F.binary_cross_entropy_with_logits(logits.gather(1, heads[:, None])[:, 0], t)
        self.r_opt.zero_grad(set_to_none=True)
        loss_real.backward()
        self.r_opt.step()
        # 2. the ranker on imagined pairs, labeled by the control module's strengths
        control.train()
        with torch.no_grad():
            xa, xb, y_a, y_b = self._imagine(n)
        k = self._pick_heads(n)
        cols = self.gen_cols[k]
        t = ranknet_targets(y_a.gather(1, cols[:, None])[:, 0], y_b.gather(1, cols[:, None])[:, 0])
        logits = _pair_logits(ranker, xa, xb, self.heads).gather(1, k[:, None])[:, 0]
        loss_synth = F.binary_cross_entropy_with_logits(logits, t)
        self.r_opt.zero_grad(set_to_none=True)
        loss_synth.backward()
        self.r_opt.step()
        # 3. the control module against the ranker (held: eval mode, no step)
        ranker.eval()
        ranker.requires_grad_(False)
        try:
            xa, xb, y_a, y_b = self._imagine(n)
            k = self._pick_heads(n)
            cols = self.gen_cols[k]
            t = ranknet_targets(y_a.gather(1, cols[:, None])[:, 0], y_b.gather(1, cols[:, None])[:, 0]).detach()
            logits = _pair_logits(ranker, xa, xb, self.heads).gather(1, k[:, None])[:, 0]
            if c.objective == "flipped":
                loss_control = F.binary_cross_entropy_with_logits(logits, 1 - t)
            else:
                loss_control = -F.binary_cross_entropy_with_logits(logits, t)
            lr = c.control_lr * (1 - (1 - c.control_lr_final) * self.step / max(1, self.total_steps))
            for group in self.c_opt.param_groups:
                group["lr"] = lr
            self.c_opt.zero_grad(set_to_none=True)
            loss_control.backward()
            self.c_opt.step()
        finally:
            ranker.requires_grad_(True)
        ordered = t != 0.5
        wrong = ((logits.detach() > 0).float() != t)[ordered].float().mean() if ordered.any() else t.new_zeros(())
        gap = ((y_a - y_b).detach().gather(1, cols[:, None])[:, 0].abs() / self.control.y_std[cols]).mean()
        # where the strengths leave the range the generator was trained on (|y - mu| > 3 sigma)
        z_scores = (torch.cat([y_a, y_b]).detach() - self.control.y_mean) / self.control.y_std
        extreme = (z_scores.abs() > 3).float().mean()
        return {"loss": finite(loss_real) + finite(loss_synth), "ranker_loss_real": float(loss_real.detach()),
                "ranker_loss_imagined": float(loss_synth.detach()),
                "control_loss": finite(loss_control.detach(), "control loss"),
                "ranker_wrong": float(wrong), "pair_gap_sigma": float(gap), "y_beyond_3_sigma": float(extreme),
                "control_lr": lr}

    # -- evaluation -------------------------------------------------------------------------

    @torch.no_grad()
    def test_accuracy(self) -> dict[str, float]:
        """Percent of the test pairs the ranker orders right, per target attribute."""
        p, heads = self.test_pairs, self.test_heads
        if len(p) == 0:
            return {}
        self.ranker.eval()
        margins = []
        for s in range(0, len(p), 128):
            xa = self.ranker.preprocess(self.pixels[torch.from_numpy(self.where[p.a[s:s + 128]])], device=self.device)
            xb = self.ranker.preprocess(self.pixels[torch.from_numpy(self.where[p.b[s:s + 128]])], device=self.device)
            h = torch.as_tensor(heads[s:s + 128], device=self.device)
            margins.append(_pair_logits(self.ranker, xa, xb, self.heads).gather(1, h[:, None])[:, 0].cpu())
        m = torch.cat(margins).numpy()
        right = np.sign(m) == np.sign(p.label)
        return {a: 100.0 * float(right[heads == k].mean()) for k, a in enumerate(self.targets) if (heads == k).any()}

    @torch.no_grad()
    def label_legibility(self, n: int) -> dict[str, float]:
        """Of n imagined pairs: the share the oracle can read (both images legible) and, of
        those, the share whose order it reads as the control module's strengths say."""
        if self.oracle is None:
            return {}
        self.control.eval()
        q = self.control.sample_q(n, torch.Generator().manual_seed(self.config.seed + 1))
        y_a, z_a, y_b, z_b = self.control(q)
        ya, yb = y_a.cpu().numpy(), y_b.cpu().numpy()
        images = self.generator.generate(np.concatenate([ya, yb]), np.concatenate([z_a.cpu().numpy(),
                                                                                   z_b.cpu().numpy()]))
        strengths, legible = self.oracle.read(images)
        legible = legible[:n] & legible[n:]
        names = list(self.oracle.attribute_names)
        agree = []
        for k, a in enumerate(self.targets):
            if a not in names:
                continue
            col, g = names.index(a), int(self.gen_cols[k])
            mine = np.sign(ya[:, g] - yb[:, g])
            read = np.sign(strengths[:n, col] - strengths[n:, col])
            agree.append((mine == read)[legible])
        agree = np.concatenate(agree) if agree else np.zeros(0)
        return {"legible_pairs": float(legible.mean()), "labels_agree": float(agree.mean()) if len(agree) else 0.0}

    def evaluate(self, *, final: bool) -> dict[str, Any]:
        acc = self.test_accuracy()
        figures: dict[str, Any] = {f"accuracy/{a}": v for a, v in acc.items()}
        if acc:
            figures["accuracy"] = float(np.mean(list(acc.values())))
        figures.update(self.label_legibility(min(self.config.eval_pairs, 256)))
        self.figures = figures
        return figures

    def accuracy(self) -> dict[str, float]:
        return {k.split("/", 1)[1]: v for k, v in self.figures.items() if k.startswith("accuracy/")}

    # -- files ------------------------------------------------------------------------------

    def checkpoint_path(self) -> Path | None:
        return Path(self.config.out)

    def train_state(self, *, final: bool) -> dict:
        ts = {"step": self.step, "config": self.config.to_dict(), "finished": final,
              "lifecycle": self.run_state.to_dict(), "targets": list(self.targets),
              "ranker": {k: v.detach().cpu() for k, v in self.ranker.state_dict().items()},
              "rng": torch.get_rng_state(), "gen_rng": self.gen.get_state(),
              "pair_rng": self.rng.bit_generator.state}
        if not final:
            ts["ranker_optimizer"] = self.r_opt.state_dict()
            ts["control_optimizer"] = self.c_opt.state_dict()
        return ts

    def save_checkpoint(self, path: Path, *, final: bool = False) -> None:
        card = {"rounds": self.round_number, "objective": self.config.objective, "targets": list(self.targets),
                "generator": self.config.generator, "ranker": self.config.ranker,
                "figures": {k: v for k, v in self.figures.items() if isinstance(v, float)}}
        save_model_file(path, control_payload(self.control, train_state=self.train_state(final=final), card=card))

    def load_checkpoint(self, path: Path) -> None:
        model_file = read_model_file(path, kind="control")
        ts = model_file.train_state
        saved = ts.get("config") if isinstance(ts, dict) and isinstance(ts.get("config"), dict) else None
        check_resumable(path, saved, self.config.to_dict(),
                        ("ranker", "generator", "dataset", "objective", "pairs_per_step", "seed", "attributes"),
                        fresh="run the round into a new file, or without --resume")
        self.control.load_state_dict(model_file.weights)
        self.round_number = int(model_file.card.get("rounds", self.round_number))
        self.ranker.load_state_dict(ts["ranker"])
        if ts.get("ranker_optimizer"):
            self.r_opt.load_state_dict(ts["ranker_optimizer"])
            self.c_opt.load_state_dict(ts["control_optimizer"])
        self.step = int(ts["step"])
        self.run_state = RunState.from_dict(ts.get("lifecycle"))
        torch.set_rng_state(ts["rng"])
        self.gen.set_state(ts["gen_rng"])
        self.rng.bit_generator.state = ts["pair_rng"]

    def cleanup(self) -> None:
        if self.ds is not None:
            self.ds.close()


@dataclass(frozen=True)
class AtticRoundResult:
    control: ControlModule
    generator: Any  # the frozen generator it imagined with
    ranker: Any  # the adversarially trained ranker (the active loop restarts from the pre-trained one)
    figures: dict[str, Any]
    targets: list[str]
    round_number: int
    path: Path
    seconds: float


def run_attic_round(config: AtticConfig, *, ctx: JobContext = NULL_CONTEXT, resume: bool = False) -> AtticRoundResult:
    """Train a control module against ``config.ranker`` (see :class:`AtticRound`); writes the
    control module file ``config.out`` (checkpoints on the way, ``metrics.jsonl`` beside it).
    ``resume`` continues from ``config.out``, which must exist."""
    out = Path(config.out)
    if resume and not out.exists():
        raise RelAttrError(f"{out}: nothing to resume (no such file yet); run without --resume to start it")
    refuse_overwriting_inputs(out, config.dataset, config.ranker, config.generator, config.oracle, config.labels,
                              what="the control module file to write")
    recipe = AtticRound(config, ctx)
    outcome = run_recipe(recipe, ctx=ctx, sinks=[JsonlSink(metrics_file(out))],
                         resume_from=out if resume else None, log_every=config.log_every)
    return AtticRoundResult(recipe.control, recipe.generator, recipe.ranker, dict(outcome.metrics),
                            list(recipe.targets), recipe.round_number, out, outcome.seconds)
