"""One model file for every kind of model: one header, a checksum of the tensors, a registry of kinds.

Format ``relattr-model`` version 1, a ``torch.save`` of plain containers only (tensors,
numbers, strings, lists, dicts)::

    format, format_version, created, written_by
    kind:          a registered model kind ("ranker", "generator", "oracle", ...)
    builder:       the builder's name within that kind ("ranknet", "ranksvm", "attribute-cvae", "oracle-cnn")
    config:        the builder's keyword arguments (plain data)
    attributes:    [str], in the model's output order
    preprocessing: how images (or features) become the model's input (plain data)
    weights:       {name: tensor}            the state dict
    extra:         what the model needs besides its weights (plain data and tensors; per kind)
    train_state:   {step, ...} to resume training, or None for a finished or exported model
    card:          what a person wants to know (dataset, results or metrics, command; plain data)
    checksum:      {algorithm: "sha256", covers: "tensors", value: hex}

The checksum is a sha256 over every tensor of ``weights``, ``extra`` and ``train_state``: for
each, in the sorted order of their paths, the path, dtype, shape and raw bytes. It is checked
on every read. It exists because torch's zip container does not protect the data: a byte
flipped inside a tensor's record loads without complaint and gives a model that scores at
chance; with the checksum such a file is refused with a message.

Reading uses ``torch.load(weights_only=True)`` and nothing else: a file that needs pickle is
refused. Files of the formats written before this one (``relattr-checkpoint``,
``relattr-generator``, ``relattr-oracle`` version 1 and RankSVM's ``.npz``) still load: their
readers (:mod:`relattr_studio.modeling.model_file_legacy`) map them into the same header, with
no checksum to verify.

A kind is a registration (:func:`register_kind`) in the module that builds its models, listed
in ``_DECLARED_KINDS`` so that reading a file imports that module on demand; adding a kind (a
control module, an embedder) adds no format.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib
import pickle
import struct
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from relattr_studio import __version__
from relattr_studio.core.errors import DataFileError
from relattr_studio.core.paths import atomic_output

FORMAT_NAME = "relattr-model"
FORMAT_VERSION = 1
CHECKSUMMED = ("weights", "extra", "train_state")
DAMAGED_HINT = "the file is damaged or incomplete: copy it again from where it came from, or train the model again"


@dataclass(frozen=True)
class KindDeclaration:
    """A model kind listed before its module is imported: its noun for messages and the module
    whose import registers it."""

    name: str
    noun: str
    module: str


_DECLARED_KINDS: dict[str, KindDeclaration] = {d.name: d for d in (
    KindDeclaration("ranker", "ranker checkpoint", "relattr_studio.modeling.ranker_file"),
    KindDeclaration("generator", "generator", "relattr_studio.modeling.generator"),
    KindDeclaration("oracle", "attribute oracle", "relattr_studio.modeling.oracle"),
    KindDeclaration("control", "ATTIC control module", "relattr_studio.modeling.control"),
)}


@dataclass(frozen=True)
class ModelFile:
    """A model file's header and tensors, whatever format it was written in."""

    path: Path
    kind: str
    builder: str
    config: dict
    attributes: list[str]
    preprocessing: dict
    weights: dict  # name -> tensor (CPU)
    extra: dict = field(default_factory=dict)
    train_state: dict | None = None
    card: dict = field(default_factory=dict)
    created: str = ""
    format: str = FORMAT_NAME
    format_version: int = FORMAT_VERSION
    checksum: str | None = None  # the sha256 verified on reading; None for a format without one
    size: int = 0  # bytes on disk

    @property
    def step(self) -> int | None:
        """The training step of its training state, or None without one."""
        ts = self.train_state
        return int(ts["step"]) if isinstance(ts, dict) and "step" in ts else None

    @property
    def history(self) -> list[dict]:
        """The logged values of its training, step by step (resumes included); [] without any."""
        return [dict(h) for h in lifecycle_record(self.train_state).get("history", [])]

    @property
    def older_format(self) -> bool:
        return self.format != FORMAT_NAME

    @property
    def checksum_status(self) -> str:
        if self.checksum is not None:
            return f"verified (sha256 {self.checksum[:16]}...)"
        return f"no checksum (older format {self.format} v{self.format_version})"

    def payload(self) -> dict:
        """This model as a ``relattr-model`` payload (re-checksummed): how an older file is rewritten."""
        return model_file_payload(kind=self.kind, builder=self.builder, config=self.config,
                                  attributes=self.attributes, preprocessing=self.preprocessing, weights=self.weights,
                                  extra=self.extra, train_state=self.train_state, card=self.card, created=self.created)


def lifecycle_record(train_state: dict | None) -> dict:
    """The trainer lifecycle's record in a training state (seconds, the logged history, the
    metric window not yet logged: ``training.lifecycle.RunState.to_dict``), ``{}`` without one.
    Every trainer writes it under "lifecycle"; ranker files of the lifecycle's first version have
    it under "run", and files from before the lifecycle kept only a top-level "history" (and
    "seconds")."""
    ts = train_state if isinstance(train_state, dict) else {}
    for key in ("lifecycle", "run"):
        if isinstance(ts.get(key), dict):
            return ts[key]
    if "history" in ts:
        return {"history": ts["history"], "seconds": ts.get("seconds", 0.0)}
    return {}


# --------------------------------------------------------------------------- checksum


def _tensors(tree: Any, path: str) -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(tree, torch.Tensor):
        yield path, tree
    elif isinstance(tree, dict):
        for key in tree:
            yield from _tensors(tree[key], f"{path}/{key}")
    elif isinstance(tree, (list, tuple)):
        for i, item in enumerate(tree):
            yield from _tensors(item, f"{path}/{i}")


def tensor_checksum(payload: dict) -> str:
    """The sha256 (hex) of every tensor under ``weights``, ``extra`` and ``train_state``: path,
    dtype, shape and bytes of each, in the sorted order of paths (so neither dict order nor the
    device they are on changes it)."""
    found = [item for section in CHECKSUMMED for item in _tensors(payload.get(section), section)]
    h = hashlib.sha256()
    for path, t in sorted(found, key=lambda item: item[0]):
        h.update(f"{path}\0{t.dtype!s}\0{tuple(t.shape)}\0".encode())
        if t.numel():
            flat = t.detach().to("cpu").contiguous().reshape(-1)
            h.update(memoryview(flat.view(torch.uint8).numpy()))
    return h.hexdigest()


# --------------------------------------------------------------------------- writing


def model_file_payload(*, kind: str, builder: str, config: dict, attributes: list[str], preprocessing: dict,
                       weights: dict, extra: dict | None = None, train_state: dict | None = None,
                       card: dict | None = None, created: str = "") -> dict:
    """The ``relattr-model`` payload of a model, with its checksum. Tensors are copied to the CPU."""
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "created": created or _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "written_by": f"RelAttr Studio {__version__}",
        "kind": str(kind),
        "builder": str(builder),
        "config": dict(config),
        "attributes": [str(a) for a in attributes],
        "preprocessing": dict(preprocessing),
        "weights": {k: v.detach().to("cpu").clone() for k, v in weights.items()},
        "extra": dict(extra or {}),
        "train_state": train_state,
        "card": dict(card or {}),
    }
    payload["checksum"] = {"algorithm": "sha256", "covers": "tensors", "value": tensor_checksum(payload)}
    return payload


def save_model_file(path: str | Path, payload: dict) -> Path:
    """Write ``payload`` to ``path`` atomically (a temporary file beside it, then a rename)."""
    path = Path(path)
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)
    return path


# --------------------------------------------------------------------------- reading


def _noun(kind: str | None) -> str:
    return _DECLARED_KINDS[kind].noun if kind in _DECLARED_KINDS else "model file"


def _a(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _zip_members(path: Path) -> list[str] | None:
    """The member names of a zip archive (torch's container and numpy's ``.npz`` both are one),
    or None when ``path`` is not a readable zip."""
    try:
        with zipfile.ZipFile(path) as z:
            return z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


def _torch_payload(path: Path, what: str) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise DataFileError(path, "needs pickle to load; RelAttr Studio does not execute code from model files",
                            f"only plain tensors and containers are accepted ({str(err).splitlines()[0][:160]})") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, IndexError, KeyError, TypeError,
            AttributeError, OverflowError, MemoryError, struct.error) as err:
        # torch's weights-only unpickler meets damaged bytes with any of these (an IndexError
        # "pop from empty list" for a flipped opcode, found by tests/unit/test_option_fuzz.py)
        first = (str(err).splitlines() or [type(err).__name__])[0][:200]
        raise DataFileError(path, f"not a readable {what}: {first}", DAMAGED_HINT) from None


def read_model_file(path: str | Path, *, kind: str | None = None) -> ModelFile:
    """The header and tensors of a model file of any format RelAttr Studio writes or wrote.

    ``kind`` (e.g. "generator") refuses files of another kind. Refused with a
    :class:`DataFileError` naming the file: a missing, empty or unreadable file, one that needs
    pickle, one of another program or a newer version, and one whose tensors do not match the
    checksum it carries.
    """
    from relattr_studio.modeling import model_file_legacy as legacy

    path = Path(path)
    what = _noun(kind)
    if not path.is_file():
        raise DataFileError(path, f"no such {what}")
    size = path.stat().st_size
    if size == 0:
        raise DataFileError(path, f"damaged {what}: the file is empty (0 bytes)", DAMAGED_HINT)
    members = _zip_members(path)
    if members is None:
        # Every file RelAttr Studio wrote is a zip; unpickling anything else would only risk more.
        raise DataFileError(path, f"not a readable {what}: not a zip container (torch.save or .npz)", DAMAGED_HINT)
    if members and all(n.endswith(".npy") for n in members):
        model = legacy.read_ranksvm_npz(path)
    else:
        payload = _torch_payload(path, what)
        fmt = payload.get("format") if isinstance(payload, dict) else None
        if fmt == FORMAT_NAME:
            model = _from_payload(payload, path, kind)
        elif fmt in legacy.READERS:
            found_kind, version, reader = legacy.READERS[fmt]
            _check_version(payload, path, fmt, version, what)
            _check_kind(found_kind, kind, path, fmt)
            model = reader(payload, path)
        else:
            hint = f"its format is {fmt!r}" if isinstance(fmt, str) else "it has no RelAttr Studio format field"
            raise DataFileError(path, f"not a RelAttr Studio {what} ({hint})",
                                f"give a {FORMAT_NAME} file" + (f" of kind {kind}" if kind else ""))
    _check_kind(model.kind, kind, path, model.format)
    return replace(model, size=size)


def _check_version(payload: dict, path: Path, fmt: str, version: int, what: str) -> None:
    found = payload.get("format_version", -1)
    if not isinstance(found, int) or found > version:
        raise DataFileError(path, f"{what} format {fmt} version {found} is newer than this program reads "
                            f"({version})", "update RelAttr Studio")


def _check_kind(found: str, wanted: str | None, path: Path, fmt: str) -> None:
    if wanted is None or found == wanted:
        return
    from relattr_studio.modeling.model_file_legacy import older_formats

    older = older_formats(wanted)
    raise DataFileError(path, f"it is {_a(_noun(found))} (format {fmt}), not {_a(_noun(wanted))}",
                        f"give a {FORMAT_NAME} file of kind {wanted}"
                        + (f", or an older {' / '.join(older)} file" if older else ""))


_HEADER_TYPES = {"format_version": int, "kind": str, "builder": str, "config": dict, "attributes": list, "preprocessing": dict,
                 "weights": dict, "extra": dict, "card": dict, "checksum": dict}


def _from_payload(payload: dict, path: Path, kind: str | None) -> ModelFile:
    what = _noun(kind)
    _check_version(payload, path, FORMAT_NAME, FORMAT_VERSION, what)
    wrong = [k for k, t in _HEADER_TYPES.items() if not isinstance(payload.get(k), t)]
    if wrong or not all(isinstance(v, torch.Tensor) for v in payload["weights"].values()):
        raise DataFileError(path, f"an incomplete {what}: its header lacks or misspells "
                            + (", ".join(wrong) or "weights (not all tensors)"), DAMAGED_HINT)
    stored = str(payload["checksum"].get("value", ""))
    actual = tensor_checksum(payload)
    if stored != actual:
        raise DataFileError(path, f"damaged {what}: its tensors do not match the checksum stored in it "
                            f"(sha256 {actual[:16]}... instead of {stored[:16]}...)", DAMAGED_HINT)
    return ModelFile(path=path, kind=payload["kind"], builder=payload["builder"], config=payload["config"],
                     attributes=[str(a) for a in payload["attributes"]], preprocessing=payload["preprocessing"],
                     weights=payload["weights"], extra=payload["extra"], train_state=payload.get("train_state"),
                     card=payload["card"], created=str(payload.get("created", "")), format=FORMAT_NAME,
                     format_version=int(payload["format_version"]), checksum=actual)


# --------------------------------------------------------------------------- kinds


@dataclass(frozen=True)
class ModelKind:
    """What the model files of one kind need: how to list its builders, load a model from a
    file and describe a file's kind-specific facts (for ``relattr model info``)."""

    name: str
    builders: Callable[[], list[str]]
    load: Callable[[ModelFile, str | torch.device], Any]
    describe: Callable[[ModelFile], dict[str, Any]]


_KINDS: dict[str, ModelKind] = {}


def register_kind(kind: ModelKind) -> ModelKind:
    """Register ``kind`` (declared in ``_DECLARED_KINDS``) from the module that builds its models."""
    if kind.name not in _DECLARED_KINDS:
        raise ValueError(f"model kind {kind.name!r} is not declared in model_file._DECLARED_KINDS")
    if kind.name in _KINDS:
        raise ValueError(f"model kind {kind.name!r} registered twice")
    _KINDS[kind.name] = kind
    return kind


def kind_names() -> list[str]:
    """Every model kind, in declaration order. Imports nothing."""
    return list(_DECLARED_KINDS)


def model_kind(name: str) -> ModelKind:
    """The registered kind ``name`` (importing the module that registers it on first use)."""
    if name not in _KINDS and name in _DECLARED_KINDS:
        importlib.import_module(_DECLARED_KINDS[name].module)
    if name not in _KINDS:
        raise KeyError(f"no model kind named {name!r}; known: {', '.join(_DECLARED_KINDS)}")
    return _KINDS[name]


def load_model(path: str | Path, *, kind: str | None = None, device: str | torch.device = "cpu"
               ) -> tuple[Any, ModelFile]:
    """``(model, ModelFile)``: any model file's model, rebuilt by its kind's registry alone."""
    model_file = read_model_file(path, kind=kind)
    return model_kind(model_file.kind).load(model_file, device), model_file


def weights_summary(weights: dict) -> dict:
    """Tensors, values and dtypes of a state dict."""
    dtypes = sorted({str(t.dtype).removeprefix("torch.") for t in weights.values()})
    return {"tensors": len(weights), "values": int(sum(t.numel() for t in weights.values())), "dtypes": dtypes}


def plain(value: Any) -> Any:
    """``value`` as JSON data: tensors and arrays become a short description, tuples lists."""
    if isinstance(value, torch.Tensor):
        return f"tensor {list(value.shape)} {str(value.dtype).removeprefix('torch.')}"
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if hasattr(value, "shape") and hasattr(value, "dtype"):  # numpy arrays and scalars
        return f"array {list(value.shape)} {value.dtype}" if value.shape else value.item()
    return str(value)


def describe_model_file(model_file: ModelFile) -> dict[str, Any]:
    """Everything but the weights, as JSON data: the header, the checksum's status, the training
    state's step, the card and what the file's kind adds (``ModelKind.describe``)."""
    m = model_file
    ts = m.train_state if isinstance(m.train_state, dict) else None
    return {
        "path": str(m.path), "kind": m.kind, "builder": m.builder,
        "format": m.format, "format_version": m.format_version, "older_format": m.older_format,
        "size_bytes": m.size,
        "checksum": {"status": "verified" if m.checksum else "absent", "sha256": m.checksum,
                     "text": m.checksum_status},
        "created": m.created, "attributes": list(m.attributes),
        "config": plain({k: v for k, v in m.config.items() if k != "attributes"}),
        "preprocessing": plain(m.preprocessing), "weights": weights_summary(m.weights),
        "train_state": None if ts is None else {"step": m.step, "finished": bool(ts.get("finished", False)),
                                                "optimizer_state": bool(ts.get("optimizer"))},
        "details": plain(model_kind(m.kind).describe(m)), "card": plain(m.card),
    }
