"""Events a training or evaluation job emits through ``ctx.emit``: small frozen dataclasses.

Front ends are metric sinks: the CLI prints them, the GUI plots them, ``metrics.jsonl`` in the
output folder stores them; none of them is known to the job.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from relattr_studio.core.jobs import Progress

__all__ = ["Progress", "Metrics", "DeviceInfo", "TrainingData", "CheckpointSaved", "Finished", "Failed", "RunCancelled",
           "event_dict"]


@dataclass(frozen=True)
class Metrics:
    """Values at a step: ``loss``, ``lr``, ``pairs_per_s``, ``train_acc`` (share of correctly
    ordered non-equal pairs in the recent batches), ``val_acc`` after an evaluation."""

    step: int
    epoch: float
    values: dict[str, float] = field(default_factory=dict)
    model: str = ""  # which model of a multi-model run (e.g. "ranknet-small-cnn-bald-seed0")


@dataclass(frozen=True)
class DeviceInfo:
    device: str  # "cpu", "cuda:0", "mps"
    amp: str  # "off", "bf16", "fp16"
    weights_source: str  # where the backbone's initial weights came from
    channels_last: bool = False
    world_size: int = 1


@dataclass(frozen=True)
class TrainingData:
    """What a model trains on: labelled pairs of real (dataset) images and of generated images.

    ``labels`` says what came from a label store (``relattr train --labels``), empty otherwise.
    """

    model: str
    real_pairs: int
    generated_pairs: int
    labels: str = ""


@dataclass(frozen=True)
class CheckpointSaved:
    path: str
    step: int


@dataclass(frozen=True)
class Finished:
    model: str
    accuracy: dict[str, float]  # attribute -> percent on the test split's non-equal pairs
    checkpoint: str | None
    steps: int
    seconds: float


@dataclass(frozen=True)
class Failed:
    """A job stopped: ``reason`` says why; ``checkpoint`` is the last good one (None: none)."""

    model: str
    reason: str
    checkpoint: str | None


@dataclass(frozen=True)
class RunCancelled:
    """A job stopped because it was asked to, after ``step`` steps; ``checkpoint`` resumes it (None: none)."""

    model: str
    step: int
    checkpoint: str | None


def event_dict(event: object) -> dict:
    """An event as a JSON-able dict with its type name (the metrics.jsonl record)."""
    return {"event": type(event).__name__, **asdict(event)}
