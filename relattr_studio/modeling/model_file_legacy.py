"""Readers of the model files written before ``relattr-model``: each maps into the same header.

- ``relattr-checkpoint`` v1 (ranker checkpoints, ``.ckpt``): ranker {name, kind, config},
  backbone, attributes, preprocess, state_dict, train_state, results, dataset;
- ``relattr-generator`` v1: generator_id, config, state_dict, dataset, metrics, card, train_state;
- ``relattr-oracle`` v1: builder, config, attributes, target_mean / target_std, preprocessing,
  state_dict, metrics, training, legibility;
- ``relattr-ranksvm`` v1: a numpy ``.npz`` (read with ``allow_pickle=False``) of a JSON header
  and the weights, standardiser and local-learning data.

Each reader puts the kind-specific parts where the kind's loader of ``relattr-model`` files
finds them (``extra`` and ``card``), so a kind has one loader for every format. None of these
formats has a checksum. The mappings are data only: no model is built here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from relattr_studio.core.errors import DataFileError
from relattr_studio.modeling.catalog import RANKSVM, RANKSVM_LL
from relattr_studio.modeling.model_file import DAMAGED_HINT, ModelFile


def _incomplete(path: Path, fmt: str, err: Exception) -> DataFileError:
    return DataFileError(path, f"an incomplete {fmt} file: {type(err).__name__} {str(err)[:160]}",
                         "it was written by an incompatible version, or " + DAMAGED_HINT)


def ranker_checkpoint_v1(p: dict, path: Path) -> ModelFile:
    try:
        return ModelFile(
            path=path, kind="ranker", builder=str(p["ranker"]["name"]), config=dict(p["ranker"]["config"]),
            attributes=[str(a) for a in p["attributes"]], preprocessing=dict(p["preprocess"]),
            weights=dict(p["state_dict"]),
            extra={"ranker_kind": str(p["ranker"].get("kind", "")), "backbone": dict(p.get("backbone") or {})},
            train_state=p.get("train_state"),
            card={"results": dict(p.get("results") or {}), "dataset": dict(p.get("dataset") or {})},
            created=str(p.get("created", "")), format="relattr-checkpoint", format_version=int(p["format_version"]))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise _incomplete(path, "relattr-checkpoint", err) from None


def generator_v1(p: dict, path: Path) -> ModelFile:
    try:
        config = dict(p["config"])
        size = int(config.get("image_size", 0))
        return ModelFile(
            path=path, kind="generator", builder="attribute-cvae", config=config,
            attributes=[str(a) for a in config.get("attributes", [])],
            preprocessing=generator_preprocessing(size), weights=dict(p["state_dict"]),
            extra={"generator_id": str(p.get("generator_id", ""))}, train_state=p.get("train_state"),
            card={"dataset": dict(p.get("dataset") or {}), "metrics": dict(p.get("metrics") or {}),
                  "notes": dict(p.get("card") or {})},
            created=str(p.get("created", "")), format="relattr-generator", format_version=int(p["format_version"]))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise _incomplete(path, "relattr-generator", err) from None


def generator_preprocessing(image_size: int) -> dict:
    """A generator's input and output: images of ``image_size`` px in [0, 1] (uint8 / 255), and
    strengths on the training dataset's own scale."""
    return {"size": int(image_size), "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "input": "uint8 RGB / 255",
            "strengths": "the training dataset's scale"}


def oracle_v1(p: dict, path: Path) -> ModelFile:
    try:
        extra = {"target_mean": p["target_mean"], "target_std": p["target_std"]}
        if "legibility" in p:
            extra["legibility"] = dict(p["legibility"])
        return ModelFile(
            path=path, kind="oracle", builder=str(p.get("builder", "oracle-cnn")), config=dict(p["config"]),
            attributes=[str(a) for a in p["attributes"]], preprocessing=dict(p.get("preprocessing") or {}),
            weights=dict(p["state_dict"]), extra=extra, train_state=None,
            card={"metrics": dict(p.get("metrics") or {}), "training": dict(p.get("training") or {})},
            format="relattr-oracle", format_version=int(p["format_version"]))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise _incomplete(path, "relattr-oracle", err) from None


# The older torch formats: format name -> (kind, newest version read, reader of its payload).
READERS: dict[str, tuple[str, int, Callable[[dict, Path], ModelFile]]] = {
    "relattr-checkpoint": ("ranker", 1, ranker_checkpoint_v1),
    "relattr-generator": ("generator", 1, generator_v1),
    "relattr-oracle": ("oracle", 1, oracle_v1),
}


def older_formats(kind: str) -> list[str]:
    """The older formats files of ``kind`` may have (for messages)."""
    return [name for name, (k, _, _) in READERS.items() if k == kind] + (["relattr-ranksvm (.npz)"]
                                                                         if kind == "ranker" else [])


def read_ranksvm_npz(path: Path) -> ModelFile:
    """A ``relattr-ranksvm`` v1 ``.npz`` as a ranker file of builder "ranksvm" or "ranksvm-ll"."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as err:
        raise DataFileError(path, f"refused: the file needs pickle to load ({err})",
                            "only code-free RankSVM files (.npz written by RelAttr Studio) are loaded") from None
    except (OSError, EOFError) as err:
        raise DataFileError(path, f"not a RankSVM model file ({err})", DAMAGED_HINT) from None
    try:
        header = json.loads(str(arrays["header"]))
        if header.get("format") != "relattr-ranksvm":
            raise ValueError(f"format {header.get('format')!r}")
        if int(header["version"]) > 1:
            raise DataFileError(path, f"RankSVM format version {header['version']} is newer than this program "
                                "reads (1)", "update RelAttr Studio")
        attributes = [str(a) for a in header["attributes"]]
        weights = {"weights": torch.from_numpy(np.asarray(arrays["weights"], np.float64)),
                   "mean": torch.from_numpy(np.asarray(arrays["mean"], np.float64)),
                   "scale": torch.from_numpy(np.asarray(arrays["scale"], np.float64))}
        local = header.get("local")
        if local is not None:
            local = {"k": int(local["k"]), "c": {str(a): float(v) for a, v in local["c"].items()}}
            weights["local_x"] = torch.from_numpy(np.asarray(arrays["local_x"]))
            for i in range(len(attributes)):
                weights[f"local_pairs.{i}"] = torch.from_numpy(arrays[f"local_pairs_{i}"].astype(np.int64))
    except (KeyError, ValueError, TypeError, AttributeError) as err:
        raise DataFileError(path, f"not a valid RankSVM model file: {err}", "re-train it with `run_ranksvm`") from None
    feature_kind = str(header["feature_kind"])
    return ModelFile(
        path=path, kind="ranker", builder=RANKSVM_LL if local is not None else RANKSVM,
        config={"feature_kind": feature_kind, "c": [float(c) for c in header["c"]], "local": local},
        attributes=attributes, preprocessing=ranksvm_preprocessing(feature_kind), weights=weights,
        card={"info": dict(header.get("info", {}))}, format="relattr-ranksvm", format_version=int(header["version"]))


def ranksvm_preprocessing(feature_kind: str) -> dict:
    """RankSVM's input: the dataset's hand-made features of ``feature_kind``, standardised by the
    model's own mean and scale (in its weights)."""
    return {"features": feature_kind, "standardised": True}
