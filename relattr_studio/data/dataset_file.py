"""The dataset file: one HDF5 file holds everything a relative-attribute dataset is.

Layout (format ``relattr-dataset``, version 1)::

    /                       attrs: format, format_version, name, provenance, licence,
                                   created, default_protocol
    /images                 uint8 N x H x W x 3, one image per chunk, gzip (readable by
                            any HDF5 reader, MATLAB included; ~0.13 ms per 64 px image,
                            ``compression=None`` reads ~5x faster at ~3x the size)
    /image_names            str N
    /originals              optional vlen uint8 N: encoded source files when sizes vary
    /attributes/names       str A
    /attributes/strengths   optional float32 N x A, NaN where unknown
    /categorical/<name>     optional int16 N (-1 unknown), attrs class_names
    /identities             optional int32 N (-1 unknown), attrs names
    /arrays/<name>          optional per-image float arrays N x ... (features, predictions)
    /pairs/<column>         one table for all attributes, one 1-D dataset per column:
                            a, b (int32 image indices), attribute (int16), label (int8,
                            PairLabel), confidence, agreement (float32, NaN unknown),
                            source (int8, PairSource), split (int8, Split under the
                            default protocol), group (int8, PairGroup)
    /protocols/<name>       attrs description; dataset split (int8 per pair)
    /imported_judgements    optional str: the label-store judgements whose pairs this file's
                            table holds ("<session>:<id>", written with the pairs in one
                            atomic rewrite, so an import is never repeated into this file)

Writers never leave a half-written file: they write ``<out>.<pid>.tmp`` and rename it over
``out`` only when everything is in. Readers open the HDF5 handle lazily, once per process, so
a :class:`DatasetFile` can be handed to DataLoader worker processes.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import os
import threading
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from relattr_studio.core.errors import DataFileError
from relattr_studio.core.paths import atomic_output, check_free_space  # noqa: F401  (atomic_output re-exported: importers use it from here)
from relattr_studio.core.types import PairGroup, PairLabel, PairSource, Split, enum_names
from relattr_studio.data.pairs import PAIR_COLUMNS, PairTable  # re-exported: every user needs both

FORMAT_NAME = "relattr-dataset"
FORMAT_VERSION = 1
DEFAULT_PROTOCOL = "default"

_STR = h5py.string_dtype("utf-8")

# --------------------------------------------------------------------------- content


@dataclass
class Protocol:
    """A named split of the pairs table (one Split value per pair)."""

    description: str
    split: np.ndarray


@dataclass
class CategoricalAttribute:
    values: np.ndarray  # int16 per image, -1 unknown
    class_names: list[str]


@dataclass
class DatasetMeta:
    """Everything but the images; small enough to hold in memory."""

    name: str
    attribute_names: list[str]
    image_names: list[str]
    strengths: np.ndarray | None = None
    categorical: dict[str, CategoricalAttribute] = field(default_factory=dict)
    identities: np.ndarray | None = None
    identity_names: list[str] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    pairs: PairTable = field(default_factory=PairTable.empty)
    protocols: dict[str, Protocol] = field(default_factory=dict)
    provenance: str = ""
    licence: str = ""
    default_protocol_description: str = ""
    # label-store judgements already in the pairs table ("<session>:<id>"); None: the file keeps
    # no record (it was written before files did, or never took judgements)
    imported_judgements: list[str] | None = None


# --------------------------------------------------------------------------- writing


class DatasetWriter:
    """Streams images into a new dataset file, then writes the metadata.

    Use as a context manager::

        with DatasetWriter(out, n_images=N, image_shape=(64, 64)) as w:
            for start, batch in ...:
                w.write_images(start, batch)
            w.finish(meta)

    The file appears at ``out`` only if ``finish`` ran and the block exited cleanly.
    """

    def __init__(
        self,
        out: str | Path,
        *,
        n_images: int,
        image_shape: tuple[int, int],
        compression: str | None = "gzip",
        keep_originals: bool = False,
    ):
        self.out = Path(out)
        self.n_images = int(n_images)
        self.image_shape = tuple(int(s) for s in image_shape)
        self.compression = compression
        self.keep_originals = keep_originals
        self._atomic = None
        self._h5: h5py.File | None = None
        self._finished = False

    def __enter__(self) -> "DatasetWriter":
        h, w = self.image_shape
        check_dataset_space(self.out, self.n_images, (h, w))
        self._atomic = atomic_output(self.out)
        tmp = self._tmp = self._atomic.__enter__()
        self._h5 = h5py.File(tmp, "w", libver="latest")
        self._images = self._h5.create_dataset(
            "images", shape=(self.n_images, h, w, 3), dtype=np.uint8,
            chunks=(1, h, w, 3) if self.n_images else None,
            compression=self.compression if self.n_images else None,
        )
        if self.keep_originals:
            self._originals = self._h5.create_dataset(
                "originals", shape=(self.n_images,), dtype=h5py.vlen_dtype(np.uint8)
            )
        return self

    def write_images(self, start: int, batch: np.ndarray) -> None:
        batch = np.asarray(batch)
        if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[1:] != (*self.image_shape, 3):
            raise ValueError(f"expected uint8 batch of shape (n, {self.image_shape[0]}, {self.image_shape[1]}, 3), got {batch.dtype} {batch.shape}")
        self._images[start : start + len(batch)] = batch

    def write_original(self, index: int, encoded: bytes) -> None:
        self._originals[index] = np.frombuffer(encoded, dtype=np.uint8)

    def finish(self, meta: DatasetMeta) -> None:
        validate_meta(meta, self.n_images)
        _write_meta(self._h5, meta)
        self._finished = True

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self._h5 is not None and self._atomic is not None
        error = exc
        if error is not None:
            # The file is thrown away: give its space back first. HDF5's closing flush crashed
            # the process (SIGSEGV) after a write had failed on a full disk.
            with contextlib.suppress(OSError):
                os.truncate(self._tmp, 0)
        try:
            self._h5.close()  # flushes: on a full disk this fails too, and the temporary file must still go
        except Exception as close_error:  # noqa: BLE001 (handed to atomic_output below, then raised)
            error = error or close_error
        self._h5 = None
        if error is None and not self._finished:
            error = RuntimeError("DatasetWriter closed without finish(meta)")
        if error is None:
            self._atomic.__exit__(None, None, None)
            return
        # removes the temporary file; a write that failed on a full disk comes back as a
        # DataFileError naming the file, raised from here
        self._atomic.__exit__(type(error), error, error.__traceback__)
        if error is not exc:
            raise error


def check_dataset_space(out: str | Path, n_images: int, image_shape: tuple[int, int]) -> None:
    """A DiskFullError before a dataset of ``n_images`` images is written to ``out`` where its
    disk cannot hold a quarter of them uncompressed: gzip keeps the product's images above that
    (toy faces take 39 %), so a disk with less would fill up part-way."""
    h, w = image_shape
    check_free_space(out, int(n_images) * h * w * 3 // 4 + 2**20, what="the dataset")


def write_dataset(out: str | Path, images: np.ndarray, meta: DatasetMeta, **writer_kwargs) -> Path:
    """Write a whole in-memory dataset at once (small datasets, tests)."""
    images = np.asarray(images, dtype=np.uint8)
    with DatasetWriter(out, n_images=len(images), image_shape=images.shape[1:3], **writer_kwargs) as w:
        if len(images):
            w.write_images(0, images)
        w.finish(meta)
    return Path(out)


def validate_meta(meta: DatasetMeta, n_images: int) -> None:
    """Raise ValueError for content that would make an inconsistent file."""
    n_attr = len(meta.attribute_names)
    if len(meta.image_names) != n_images:
        raise ValueError(f"{len(meta.image_names)} image names for {n_images} images")
    if len(set(meta.attribute_names)) != n_attr:
        raise ValueError(f"attribute names repeat: {meta.attribute_names}")
    if meta.strengths is not None and meta.strengths.shape != (n_images, n_attr):
        raise ValueError(f"strengths shape {meta.strengths.shape}, expected {(n_images, n_attr)}")
    if meta.identities is not None and len(meta.identities) != n_images:
        raise ValueError("one identity per image expected")
    for name, cat in meta.categorical.items():
        if len(cat.values) != n_images:
            raise ValueError(f"categorical {name!r}: one value per image expected")
        if cat.values.max(initial=-1) >= len(cat.class_names):
            raise ValueError(f"categorical {name!r}: value beyond its class names")
    for name, arr in meta.arrays.items():
        if len(arr) != n_images:
            raise ValueError(f"array {name!r}: first axis {len(arr)} != {n_images} images")
    p = meta.pairs
    if len(p):
        for col in ("a", "b"):
            v = getattr(p, col)
            if v.min() < 0 or v.max() >= n_images:
                raise ValueError(f"pair column {col!r} indexes outside 0..{n_images - 1}")
        if p.attribute.min() < 0 or p.attribute.max() >= n_attr:
            raise ValueError(f"pair attribute index outside 0..{n_attr - 1}")
        if not np.isin(p.label, [int(v) for v in PairLabel]).all():
            raise ValueError("pair labels must be PairLabel values (-1, 0, 1)")
    for name, proto in meta.protocols.items():
        if len(proto.split) != len(p):
            raise ValueError(f"protocol {name!r}: one split per pair expected")


def _write_strings(group: h5py.Group, name: str, values: Sequence[str]) -> None:
    group.create_dataset(name, data=np.array(list(values), dtype=object), dtype=_STR)


def _write_meta(h5: h5py.File, meta: DatasetMeta) -> None:
    h5.attrs["format"] = FORMAT_NAME
    h5.attrs["format_version"] = FORMAT_VERSION
    h5.attrs["name"] = meta.name
    h5.attrs["provenance"] = meta.provenance
    h5.attrs["licence"] = meta.licence
    h5.attrs["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    h5.attrs["default_protocol"] = DEFAULT_PROTOCOL
    _write_strings(h5, "image_names", meta.image_names)
    # always written (empty for a new file): a file with the record is never matched by the store's log
    _write_strings(h5, "imported_judgements", meta.imported_judgements or [])
    attrs = h5.create_group("attributes")
    _write_strings(attrs, "names", meta.attribute_names)
    if meta.strengths is not None:
        attrs.create_dataset("strengths", data=np.asarray(meta.strengths, dtype=np.float32))
    if meta.categorical:
        cat = h5.create_group("categorical")
        for name, c in meta.categorical.items():
            d = cat.create_dataset(name, data=np.asarray(c.values, dtype=np.int16))
            d.attrs["class_names"] = np.array(c.class_names, dtype=object)
    if meta.identities is not None:
        d = h5.create_dataset("identities", data=np.asarray(meta.identities, dtype=np.int32))
        d.attrs["names"] = np.array(meta.identity_names, dtype=object)
    if meta.arrays:
        arrays = h5.create_group("arrays")
        for name, arr in meta.arrays.items():
            arrays.create_dataset(name, data=np.asarray(arr))
    pairs = h5.create_group("pairs")
    for name, values in meta.pairs.columns().items():
        pairs.create_dataset(name, data=values, maxshape=(None,), chunks=(min(max(len(values), 1), 65536),),
                             compression="gzip")
    for enum_attr, enum in (("label_names", PairLabel), ("source_names", PairSource),
                            ("split_names", Split), ("group_names", PairGroup)):
        names = enum_names(enum)
        pairs.attrs[enum_attr] = np.array([f"{k}={v}" for k, v in names.items()], dtype=object)
    protocols = h5.create_group("protocols")
    default = protocols.create_group(DEFAULT_PROTOCOL)
    default.attrs["description"] = meta.default_protocol_description or "the dataset's own split"
    for name, proto in meta.protocols.items():
        if name == DEFAULT_PROTOCOL:
            raise ValueError(f"protocol name {DEFAULT_PROTOCOL!r} is reserved for the pairs' split column")
        g = protocols.create_group(name)
        g.attrs["description"] = proto.description
        g.create_dataset("split", data=np.asarray(proto.split, dtype=np.int8))


# --------------------------------------------------------------------------- reading


def _read_strings(ds: h5py.Dataset) -> list[str]:
    return [s.decode("utf-8") if isinstance(s, bytes) else str(s) for s in ds[()]]


def _attr_strings(values) -> list[str]:
    return [s.decode("utf-8") if isinstance(s, bytes) else str(s) for s in np.atleast_1d(values)]


class DatasetFile:
    """Read access to a dataset file.

    Metadata (names, strengths, pairs) is read once at open and validated; images are read on
    demand through an HDF5 handle opened lazily in each process (never pickled), so random
    access is fast and the object is safe to send to DataLoader worker processes.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._h5: h5py.File | None = None
        self._images: h5py.Dataset | None = None
        self._pid: int | None = None
        self._open_lock = threading.Lock()  # the GUI thread and a loader thread may both open
        self.meta = self._load_meta()
        with self._guard("reading images"):
            images = self._file()["images"]
            if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
                raise DataFileError(self.path, f"its images are stored as {images.dtype} of shape {images.shape}, "
                                    "not as uint8 RGB (N x H x W x 3, values 0-255)",
                                    "re-create or re-import it with RelAttr Studio")
            self.image_shape: tuple[int, int] = tuple(images.shape[1:3])
            self.has_originals = "originals" in self._file()

    # -- handle management ----------------------------------------------------------------

    def _file(self) -> h5py.File:
        with self._open_lock:
            return self._open()

    def _open(self) -> h5py.File:
        if self._h5 is None or self._pid != os.getpid():
            # A handle inherited through fork must not be used: open a fresh one.
            # A 64 MB chunk cache holds a whole 64 px dataset of ~5,000 images decoded, so the
            # grid scrolling back and later training epochs skip decompression.
            self._h5 = h5py.File(self.path, "r", rdcc_nbytes=64 * 2**20, rdcc_nslots=100_003)
            self._images = None
            self._pid = os.getpid()
        return self._h5

    def _image_array(self) -> h5py.Dataset:
        # Looking a dataset up by name costs more than reading a small chunk: keep it.
        if self._images is None or self._pid != os.getpid():
            self._images = self._file()["images"]
        return self._images

    def close(self) -> None:
        if self._h5 is not None and self._pid == os.getpid():
            self._h5.close()
        self._h5 = None
        self._images = None

    def __enter__(self) -> "DatasetFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._open_lock = threading.Lock()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_h5"] = None
        state["_images"] = None
        state["_pid"] = None
        del state["_open_lock"]
        return state

    @contextmanager
    def _guard(self, what: str):
        try:
            yield
        except DataFileError:
            raise
        except (OSError, KeyError, ValueError, TypeError, IndexError, RuntimeError, AttributeError) as err:
            raise DataFileError(self.path, f"cannot read the dataset file while {what}: {err}",
                                "the file may be truncated or not a RelAttr dataset; re-create or re-import it") from err

    def _load_meta(self) -> DatasetMeta:
        if not self.path.exists():
            raise DataFileError(self.path, "no such file")
        if not h5py.is_hdf5(self.path):
            raise DataFileError(self.path, "not an HDF5 file", "give a dataset made by `relattr import` or `relattr make`")
        with self._guard("opening it"):
            h5 = self._file()
            fmt = h5.attrs.get("format")
            fmt = fmt.decode() if isinstance(fmt, bytes) else fmt
            if fmt != FORMAT_NAME:
                raise DataFileError(self.path, f"not a RelAttr dataset (format attribute {fmt!r})",
                                    "give a dataset made by `relattr import` or `relattr make`")
            version = int(h5.attrs.get("format_version", -1))
            if version > FORMAT_VERSION:
                raise DataFileError(self.path, f"format version {version} is newer than this program reads ({FORMAT_VERSION})",
                                    "update RelAttr Studio")
        with self._guard("reading its metadata"):
            meta = DatasetMeta(
                name=str(h5.attrs.get("name", self.path.stem)),
                attribute_names=_read_strings(h5["attributes/names"]),
                image_names=_read_strings(h5["image_names"]),
                provenance=str(h5.attrs.get("provenance", "")),
                licence=str(h5.attrs.get("licence", "")),
            )
            if "strengths" in h5["attributes"]:
                meta.strengths = h5["attributes/strengths"][()].astype(np.float32)
            for name, d in h5.get("categorical", {}).items():
                meta.categorical[name] = CategoricalAttribute(d[()].astype(np.int16), _attr_strings(d.attrs["class_names"]))
            if "identities" in h5:
                meta.identities = h5["identities"][()].astype(np.int32)
                meta.identity_names = _attr_strings(h5["identities"].attrs.get("names", []))
            for name, d in h5.get("arrays", {}).items():
                meta.arrays[name] = d[()]
            if "imported_judgements" in h5:
                meta.imported_judgements = _read_strings(h5["imported_judgements"])
            g = h5["pairs"]
            meta.pairs = PairTable(**{name: g[name][()] for name in PAIR_COLUMNS})
            protocols = h5.get("protocols", {})
            for name, p in protocols.items():
                if name == DEFAULT_PROTOCOL:
                    meta.default_protocol_description = str(p.attrs.get("description", ""))
                else:
                    meta.protocols[name] = Protocol(str(p.attrs.get("description", "")), p["split"][()])
            n_images = h5["images"].shape[0]
        try:
            validate_meta(meta, n_images)
        except ValueError as err:
            raise DataFileError(self.path, f"inconsistent dataset: {err}", "re-create or re-import it") from err
        return meta

    # -- metadata ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.meta.image_names)

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def attribute_names(self) -> list[str]:
        return self.meta.attribute_names

    @property
    def image_names(self) -> list[str]:
        return self.meta.image_names

    @property
    def strengths(self) -> np.ndarray | None:
        return self.meta.strengths

    def attribute_index(self, name: str) -> int:
        try:
            return self.meta.attribute_names.index(name)
        except ValueError:
            raise DataFileError(self.path, f"no attribute {name!r}",
                                f"it has {', '.join(self.meta.attribute_names)}") from None

    def protocol_names(self) -> list[str]:
        return [DEFAULT_PROTOCOL, *self.meta.protocols]

    def pairs(self, protocol: str = DEFAULT_PROTOCOL) -> PairTable:
        """The pairs table, its split column taken from ``protocol``."""
        if protocol == DEFAULT_PROTOCOL:
            return self.meta.pairs
        if protocol not in self.meta.protocols:
            raise DataFileError(self.path, f"no protocol {protocol!r}", f"it has {', '.join(self.protocol_names())}")
        table = self.meta.pairs.select(slice(None))
        table.split = self.meta.protocols[protocol].split.astype(np.int8)
        return table

    # -- images -----------------------------------------------------------------------------

    def image(self, index: int) -> np.ndarray:
        """Image ``index`` as a uint8 H x W x 3 array."""
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"image index {index} outside 0..{len(self) - 1}")
        with self._guard(f"reading image {index}"):
            return self._image_array()[index]

    def images(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Several images, in the order given, as an n x H x W x 3 array."""
        indices = np.asarray(indices, dtype=np.int64)
        if len(indices) == 0:
            return np.zeros((0, *self.image_shape, 3), np.uint8)
        if indices.min() < 0 or indices.max() >= len(self):
            raise IndexError(f"image indices outside 0..{len(self) - 1}")
        out = np.empty((len(indices), *self.image_shape, 3), np.uint8)
        # One read per image: h5py's fancy indexing builds a hyperslab union that costs
        # milliseconds per image, a plain loop over chunks costs what a single read does.
        with self._guard("reading images"):
            images = self._image_array()
            first: dict[int, int] = {}
            for k, i in enumerate(indices.tolist()):
                if i in first:
                    out[k] = out[first[i]]
                else:
                    first[i] = k
                    out[k] = images[i]
        return out

    def original(self, index: int) -> bytes | None:
        """The encoded source file of an image, where the dataset kept it."""
        if not self.has_originals:
            return None
        with self._guard(f"reading original {index}"):
            return self._file()["originals"][int(index)].tobytes()

    # -- summary ----------------------------------------------------------------------------

    def summary(self) -> dict:
        """Counts a user wants to see first: images, attributes, pairs per attribute and split."""
        p = self.meta.pairs
        split_names = enum_names(Split)
        per_attribute = {}
        for ai, name in enumerate(self.attribute_names):
            rows = p.where(attribute=ai)
            counts = {split_names[int(s)]: int((rows.split == s).sum()) for s in np.unique(rows.split)}
            counts["equal"] = int((rows.label == PairLabel.EQUAL).sum())
            counts["fine"] = int((rows.group == PairGroup.FINE).sum())
            per_attribute[name] = counts
        return {
            "path": str(self.path),
            "name": self.name,
            "images": len(self),
            "image_shape": list(self.image_shape),
            "attributes": list(self.attribute_names),
            "strengths": self.strengths is not None,
            "categorical": {k: v.class_names for k, v in self.meta.categorical.items()},
            "identities": len(self.meta.identity_names) if self.meta.identities is not None else 0,
            "arrays": {k: list(v.shape) for k, v in self.meta.arrays.items()},
            "pairs": len(p),
            "pairs_per_attribute": per_attribute,
            "protocols": self.protocol_names(),
            "provenance": self.meta.provenance,
        }


def open_dataset(path: str | Path) -> DatasetFile:
    return DatasetFile(path)


@contextmanager
def _edited_copy(path: Path):
    """Yield an h5py handle on a copy of ``path``; the copy replaces ``path`` only if it then
    still opens as a consistent dataset, so an edit can never leave a file that won't load."""
    import shutil

    DatasetFile(path).close()  # the original must be readable before it is changed
    with atomic_output(path) as tmp:
        shutil.copyfile(path, tmp)
        with h5py.File(tmp, "r+") as h5:
            yield h5
        try:
            DatasetFile(tmp).close()
        except DataFileError as err:
            raise DataFileError(path, f"refused a change that would make the dataset unreadable: {err.problem}",
                                "the file is unchanged") from None


def append_pairs(path: str | Path, pairs: PairTable, protocol_splits: Mapping[str, np.ndarray] | None = None,
                 *, imported: Sequence[str] = ()) -> int:
    """Append rows to an existing dataset's pairs table, atomically (copy, append, rename).

    Other protocols get ``Split.UNUSED`` for the new rows unless ``protocol_splits`` says
    otherwise. ``imported`` (label-store judgement keys) join the file's record of imported
    judgements in the same rewrite. Returns the new number of pairs. Rows that would make the
    file inconsistent (image or attribute indices out of range, bad labels, splits of the wrong
    length) raise DataFileError and leave the file as it was.
    """
    with _edited_copy(Path(path)) as h5:
        if imported:
            before = _read_strings(h5["imported_judgements"]) if "imported_judgements" in h5 else []
            if "imported_judgements" in h5:
                del h5["imported_judgements"]
            _write_strings(h5, "imported_judgements", [*before, *imported])
        g = h5["pairs"]
        old = g["a"].shape[0]
        new = old + len(pairs)
        for name, values in pairs.columns().items():
            g[name].resize((new,))
            g[name][old:] = values
        for name, proto in h5["protocols"].items():
            if name == DEFAULT_PROTOCOL:
                continue
            extra = (protocol_splits or {}).get(name)
            if extra is None:
                extra = np.full(len(pairs), Split.UNUSED, np.int8)
            data = np.concatenate([proto["split"][()], np.asarray(extra, np.int8)])
            del proto["split"]
            proto.create_dataset("split", data=data)
    return new


def set_arrays(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write or replace per-image arrays ``/arrays/<name>`` (N x ...), atomically (copy, write, rename).

    Used to cache computed features (e.g. ``gist_lab``) in the dataset file itself.
    """
    for name in arrays:
        if not name or "/" in name:
            raise ValueError(f"array name {name!r}: give a plain name")
    with _edited_copy(Path(path)) as h5:
        group = h5.require_group("arrays")
        for name, arr in arrays.items():
            if name in group:
                del group[name]
            group.create_dataset(name, data=np.asarray(arr))


def append_pairs_and_images(path: str | Path, pairs: PairTable, *, images: np.ndarray, names: Sequence[str],
                            chunk: int = 256, imported: Sequence[str] = ()) -> int:
    """Append images and pairs (which may refer to them) to a dataset file in one atomic rewrite.

    ``images`` (uint8 n x H x W x 3, the file's image size) become images ``N .. N + n - 1``
    named ``names``; per-image data is extended with "unknown": NaN strengths and float arrays,
    -1 for categories, identities and integer arrays. Other protocols get ``Split.UNUSED`` for
    the new pairs. The file is rewritten to a temporary file and renamed over the old one, so
    a crash leaves either the old file or the new one. ``imported``: as :func:`append_pairs`.
    Returns the new number of pairs.
    """
    path = Path(path)
    images = np.asarray(images)
    if not len(images):
        return append_pairs(path, pairs, imported=imported)
    with DatasetFile(path) as src:
        n, shape = len(src), src.image_shape
        if images.dtype != np.uint8 or images.shape[1:] != (*shape, 3):
            raise ValueError(f"images must be uint8 (n, {shape[0]}, {shape[1]}, 3), got {images.dtype} {images.shape}")
        if len(names) != len(images) or len(set(names) | set(src.image_names)) != n + len(names):
            raise ValueError("give one new, unique name per image")
        meta, g = copy.deepcopy(src.meta), len(images)
        meta.image_names = [*meta.image_names, *names]
        if meta.strengths is not None:
            meta.strengths = np.concatenate([meta.strengths, np.full((g, meta.strengths.shape[1]), np.nan, np.float32)])
        for cat in meta.categorical.values():
            cat.values = np.concatenate([cat.values, np.full(g, -1, cat.values.dtype)])
        if meta.identities is not None:
            meta.identities = np.concatenate([meta.identities, np.full(g, -1, meta.identities.dtype)])
        for name, arr in meta.arrays.items():
            fill = np.nan if np.issubdtype(arr.dtype, np.floating) else -1
            meta.arrays[name] = np.concatenate([arr, np.full((g, *arr.shape[1:]), fill, arr.dtype)])
        for proto in meta.protocols.values():
            proto.split = np.concatenate([proto.split, np.full(len(pairs), Split.UNUSED, np.int8)])
        meta.pairs = PairTable.concat([meta.pairs, pairs])
        if imported:
            meta.imported_judgements = [*(meta.imported_judgements or []), *imported]
        try:
            validate_meta(meta, n + g)
        except ValueError as err:
            raise DataFileError(path, f"refused pairs or images that would make the dataset inconsistent: {err}",
                                "the file is unchanged") from None
        with DatasetWriter(path, n_images=n + g, image_shape=shape, keep_originals=src.has_originals) as w:
            for start in range(0, n, chunk):
                w.write_images(start, src.images(np.arange(start, min(n, start + chunk))))
                if src.has_originals:
                    for i in range(start, min(n, start + chunk)):
                        w.write_original(i, src.original(i) or b"")
            w.write_images(n, images)
            if src.has_originals:
                from relattr_studio.data.label_records import encode_png

                for k in range(g):
                    w.write_original(n + k, encode_png(images[k]))
            w.finish(meta)
    return len(meta.pairs)
