"""Export of the label store's judgements to CSV / JSON, and reading them back.

(Judgements into a dataset file's pairs table: :mod:`relattr_studio.data.label_training`.)

Both export formats have one record per effective judgement with the columns of
:data:`EXPORT_COLUMNS`. In CSV an empty cell is "none", booleans are 1 / 0, latents are JSON
lists; JSON keeps types (null, true / false, lists) and wraps the rows as::

    {"format": "relattr-labels", "format_version": 1, "exported_utc": ...,
     "columns": {name: description}, "judgements": [...],
     "images": {hash: base64 PNG}}          # only when exported with pixels
"""

from __future__ import annotations

import base64
import csv
import datetime as _dt
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relattr_studio.core.errors import DataFileError
from relattr_studio.core.paths import atomic_output, refuse_overwriting_inputs
from relattr_studio.core.types import PairLabel
from relattr_studio.data.label_records import (
    DatasetPair, DatasetRef, GeneratedImage, GeneratedPair, Judgement, JudgementRecord, decode_png,
)

if TYPE_CHECKING:
    from relattr_studio.data.label_store import LabelStore

EXPORT_FORMAT = "relattr-labels"
EXPORT_VERSION = 1

EXPORT_COLUMNS: dict[str, str] = {
    "id": "judgement id in the labels file",
    "created_utc": "when it was made, ISO 8601 UTC",
    "created_unix": "the same time as Unix seconds (wall clock)",
    "annotator": "who made it",
    "session": "labeling session id",
    "attribute": "attribute name",
    "kind": "'dataset' (a pair of dataset images) or 'generated' (a pair of generated images)",
    "dataset_name": "dataset pairs: the dataset's name",
    "dataset_path": "dataset pairs: where the dataset file was last seen",
    "dataset_fingerprint": "dataset pairs: sha256 of the dataset's image count, shape and names",
    "a": "dataset pairs: index of image a",
    "b": "dataset pairs: index of image b",
    "pair_row": "dataset pairs: row of the dataset's pairs table the pair came from, if any",
    "gen_a_hash": "generated pairs: sha256 of image a's pixels (key of 'images')",
    "gen_a_model_id": "generated pairs: generator model that made image a",
    "gen_a_y": "generated pairs: attribute latent y of image a (float32 list)",
    "gen_a_z": "generated pairs: latent z of image a (float32 list)",
    "gen_b_hash": "as gen_a_hash, image b",
    "gen_b_model_id": "as gen_a_model_id, image b",
    "gen_b_y": "as gen_a_y, image b",
    "gen_b_z": "as gen_a_z, image b",
    "left_is_a": "1 if image a was shown on the left",
    "judgement": "as the person saw it: left-more, right-more, equal or discard",
    "label": "normalised to the pair: a-more, b-more, equal or discard",
    "label_value": "PairLabel value: 1 a more, -1 b more, 0 equal, empty for discard",
    "confidence": "the person's confidence in [0, 1], empty if not asked",
    "pending_id": "queue entry the judgement completed, if any",
}

_LABEL_NAMES = {PairLabel.A_MORE: "a-more", PairLabel.B_MORE: "b-more", PairLabel.EQUAL: "equal", None: "discard"}


def _row(r: JudgementRecord) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(EXPORT_COLUMNS)
    row.update(id=r.id, created_utc=r.created_utc, created_unix=r.created_unix, annotator=r.annotator,
               session=r.session, attribute=r.attribute, left_is_a=r.left_is_a, judgement=r.judgement.value,
               label=_LABEL_NAMES[r.label], label_value=None if r.label is None else int(r.label),
               confidence=r.confidence, pending_id=r.pending_id)
    if isinstance(r.pair, DatasetPair):
        p = r.pair
        row.update(kind="dataset", dataset_name=p.dataset.name, dataset_path=p.dataset.path,
                   dataset_fingerprint=p.dataset.fingerprint, a=p.a, b=p.b, pair_row=p.pair_row)
    else:
        row["kind"] = "generated"
        for side, img in (("a", r.pair.a), ("b", r.pair.b)):
            row.update({f"gen_{side}_hash": img.image_hash, f"gen_{side}_model_id": img.model_id,
                        f"gen_{side}_y": list(img.y), f"gen_{side}_z": list(img.z)})
    return row


def _record(row: dict[str, Any], images: dict[str, Any] | None = None) -> JudgementRecord:
    if row["kind"] == "dataset":
        pair: Any = DatasetPair(DatasetRef(row["dataset_name"], row["dataset_path"], row["dataset_fingerprint"]),
                                row["a"], row["b"], row["pair_row"])
    elif row["kind"] == "generated":
        def image(side: str) -> GeneratedImage:
            h = row[f"gen_{side}_hash"]
            return GeneratedImage(row[f"gen_{side}_model_id"], row[f"gen_{side}_y"], row[f"gen_{side}_z"],
                                  pixels=(images or {}).get(h), image_hash=h)
        pair = GeneratedPair(image("a"), image("b"))
    else:
        raise ValueError(f"kind {row['kind']!r} is neither 'dataset' nor 'generated'")
    return JudgementRecord(row["id"], row["attribute"], pair, Judgement(row["judgement"]), bool(row["left_is_a"]),
                           row["confidence"], row["annotator"], row["session"], row["created_utc"],
                           row["created_unix"], row["pending_id"])


def _write_atomic(path: Path, write: Callable[[Any], None]) -> None:
    """Write through a temporary file renamed over ``path``: never a half-written export."""
    try:
        with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
            write(f)
    except OSError as err:
        raise DataFileError(path, f"cannot write the labels export: {err.strerror or err}") from err


# --------------------------------------------------------------------------- CSV

def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)  # shortest repr that reads back to the same float
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


_CSV_INT = {"id", "a", "b", "pair_row", "label_value", "pending_id"}
_CSV_FLOAT = {"created_unix", "confidence"}
_CSV_LIST = {"gen_a_y", "gen_a_z", "gen_b_y", "gen_b_z"}


def _csv_value(name: str, text: str) -> Any:
    if text == "":
        return None
    if name in _CSV_INT:
        return int(text)
    if name in _CSV_FLOAT:
        return float(text)
    if name in _CSV_LIST:
        return json.loads(text)
    if name == "left_is_a":
        return text == "1"
    return text


def export_csv(records: Sequence[JudgementRecord], path: str | Path) -> int:
    """Write ``records`` to a CSV file with a header of :data:`EXPORT_COLUMNS`; returns rows."""
    def write(f):
        w = csv.writer(f)
        w.writerow(EXPORT_COLUMNS)
        for r in records:
            w.writerow([_csv_cell(v) for v in _row(r).values()])
    _write_atomic(Path(path), write)
    return len(records)


def export_json(records: Sequence[JudgementRecord], path: str | Path, *, store: "LabelStore | None" = None) -> int:
    """Write ``records`` as JSON; with ``store``, generated images' PNGs go in too. Returns rows."""
    doc: dict[str, Any] = {
        "format": EXPORT_FORMAT, "format_version": EXPORT_VERSION,
        "exported_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "columns": EXPORT_COLUMNS, "judgements": [_row(r) for r in records],
    }
    if store is not None:
        hashes = sorted({img.image_hash for r in records if isinstance(r.pair, GeneratedPair)
                         for img in (r.pair.a, r.pair.b)})
        doc["images"] = {h: base64.b64encode(store.png(h)).decode("ascii") for h in hashes}
    _write_atomic(Path(path), lambda f: json.dump(doc, f, ensure_ascii=False, indent=1))
    return len(records)


def read_export(path: str | Path) -> list[JudgementRecord]:
    """Read a CSV or JSON export back into records (with pixels where the JSON has them)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataFileError(path, f"cannot read the labels export: {err}") from err
    try:
        if text.lstrip().startswith("{"):
            doc = json.loads(text)
            if doc.get("format") != EXPORT_FORMAT:
                raise ValueError(f"format is {doc.get('format')!r}, not {EXPORT_FORMAT!r}")
            if int(doc.get("format_version", 0)) > EXPORT_VERSION:
                raise DataFileError(path, f"labels export version {doc['format_version']} is newer than this "
                                          f"program reads ({EXPORT_VERSION})", "update RelAttr Studio")
            images = {h: decode_png(base64.b64decode(b)) for h, b in doc.get("images", {}).items()}
            return [_record(row, images) for row in doc["judgements"]]
        reader = csv.DictReader(text.splitlines())
        missing = set(EXPORT_COLUMNS) - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"columns missing: {', '.join(sorted(missing))}")
        return [_record({k: _csv_value(k, row[k]) for k in EXPORT_COLUMNS}) for row in reader]
    except DataFileError:
        raise
    except (ValueError, KeyError, TypeError) as err:
        raise DataFileError(path, f"not a RelAttr labels export: {err}",
                            "give a file written by the label store's CSV or JSON export") from err


def export_labels(store: "LabelStore", path: str | Path, *, include_pixels: bool = False, **filters: Any) -> int:
    """Write ``store``'s effective judgements to ``path``: JSON for ``.json``, CSV otherwise.

    ``filters`` are those of :meth:`LabelStore.judgements` (attribute, dataset, generated,
    annotator, session); undone judgements are never exported. ``include_pixels`` (JSON
    only) puts the generated images in as base64 PNG. Returns the number of rows.
    """
    refuse_overwriting_inputs(path, store.path, what="the export")
    records = store.judgements(effective=True, **filters)
    if Path(path).suffix.lower() == ".json":
        return export_json(records, path, store=store if include_pixels else None)
    return export_csv(records, path)
