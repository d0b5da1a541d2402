"""The label store: human judgements made in the app, saved the moment they are made.

Every judgement is one row of an SQLite database in WAL mode, committed (and fsynced) before
:meth:`LabelStore.record` returns, so killing the app at any moment loses no judgement that
was shown as saved. A judgement keeps who made it, when, which image was shown on the left,
the label as the person saw it (left more / right more / equal / discard) and normalised to
the pair (a more / b more / equal), an optional confidence, and the pair's provenance:

* a dataset pair: the dataset's name, path and content fingerprint (so labels stay
  attributable when the file moves), image indices ``a`` and ``b``, optionally the row of
  its pairs table; or
* a generated pair: for each image its PNG pixels, latents ``y`` and ``z`` and the generator
  model id, so the label stays valid whatever happens to the model.

Undo adds a row that retracts a judgement; nothing is ever deleted. A small queue
(``pending``) holds pairs waiting to be labeled. The plain-data types (re-exported here)
live in :mod:`relattr_studio.data.label_records`, export in
:mod:`relattr_studio.data.label_export`, training pairs and import into a dataset file in
:mod:`relattr_studio.data.label_training`, the file format in
:mod:`relattr_studio.data.label_schema`.

Confidence is a float in [0, 1] or None (not asked): a front end with a 1-3 scale stores
1/3, 2/3, 1. It goes unchanged into a dataset's pairs table (NaN for None).

Import cost matters (the crash test starts this module in a subprocess dozens of times):
numpy and Pillow are imported only where generated pixels are touched, h5py only in
dataset import.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from relattr_studio.core.errors import DataFileError
from relattr_studio.data import label_schema as _schema
from relattr_studio.data.label_records import (  # noqa: F401 - re-exported: the store's public types
    BatchInfo, DatasetPair, DatasetRef, GeneratedImage, GeneratedPair, ImportResult, Judgement, JudgementRecord, Pair,
    PendingPair, _PAIR_JOINS, _PAIR_SELECT, _default_annotator, _float32_blob, _now, _pair_from_row,
    dataset_fingerprint, decode_png, encode_png, pixel_hash,
)


# --------------------------------------------------------------------------- the store


class LabelStore:
    """An open labels file. Thread-safe: each thread gets its own SQLite connection.

    Writes from threads of this process are serialised by a lock (and across processes by
    SQLite's write lock); reads never wait for a writer (WAL). Call :meth:`close` once other
    threads are done with the store.

    ``annotator`` defaults to the OS user name, ``session`` to a new random id; both are
    written into every judgement and decide what :meth:`undo` may retract.
    """

    def __init__(self, path: str | Path, *, annotator: str | None = None, session: str | None = None):
        self.path = Path(path)
        self.annotator = annotator or _default_annotator()
        self.session = session or uuid.uuid4().hex
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._dataset_ids: dict[DatasetRef, int] = {}
        self._closed = False
        _schema.check_header(self.path)
        if not self.path.parent.is_dir():
            raise DataFileError(self.path, "its folder does not exist", "choose an existing folder")
        try:
            with self._guard("open the labels file"):
                _schema.ensure_schema(self._conn(), self.path)
        except BaseException:
            self.close()
            raise

    # -- connections ------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError(f"label store {self.path} is closed")
        c = getattr(self._local, "conn", None)
        if c is None:
            c = _schema.connect(self.path)
            self._local.conn = c
            with self._connections_lock:
                self._connections.append(c)
        return c

    def close(self) -> None:
        """Close every connection (the last one checkpoints the WAL into the main file)."""
        self._closed = True
        with self._connections_lock:
            for c in self._connections:
                c.close()
            self._connections.clear()

    def __enter__(self) -> "LabelStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.IntegrityError:
            raise  # a caller's bad value or a bug here, not a damaged file
        except sqlite3.DatabaseError as err:
            raise _schema.corrupt_error(self.path, err, what) from err

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        """One write transaction; COMMIT (durable) before the block's caller continues."""
        with self._guard(what), self._write_lock:
            c = self._conn()
            c.execute("BEGIN IMMEDIATE")
            try:
                yield c
            except BaseException:
                c.execute("ROLLBACK")
                raise
            try:
                c.execute("COMMIT")
            except BaseException:
                if c.in_transaction:
                    c.execute("ROLLBACK")
                raise

    @contextmanager
    def _read(self, what: str) -> Iterator[sqlite3.Connection]:
        """One read transaction: a consistent snapshot across several SELECTs."""
        with self._guard(what):
            c = self._conn()
            c.execute("BEGIN")
            try:
                yield c
            finally:
                if c.in_transaction:
                    c.execute("COMMIT")

    # -- provenance rows ----------------------------------------------------------------------

    def _dataset_id(self, c: sqlite3.Connection, ref: DatasetRef) -> int:
        cached = self._dataset_ids.get(ref)
        if cached is not None:
            return cached
        # The path and name are updated to where the dataset was last seen (it may have moved).
        c.execute("INSERT INTO datasets (fingerprint, name, path) VALUES (?, ?, ?) "
                  "ON CONFLICT (fingerprint) DO UPDATE SET name = excluded.name, path = excluded.path",
                  (ref.fingerprint, ref.name, ref.path))
        return c.execute("SELECT id FROM datasets WHERE fingerprint = ?", (ref.fingerprint,)).fetchone()[0]

    def _generated_id(self, c: sqlite3.Connection, img: GeneratedImage) -> int:
        if not c.execute("SELECT 1 FROM images WHERE hash = ?", (img.image_hash,)).fetchone():
            if img.pixels is None:
                raise ValueError(f"no stored pixels with hash {img.image_hash}; give the pixels")
            h, w, _ = img.pixels.shape
            c.execute("INSERT INTO images (hash, height, width, png) VALUES (?, ?, ?, ?)",
                      (img.image_hash, h, w, encode_png(img.pixels)))
        key = (img.image_hash, img.model_id, _float32_blob(img.y), _float32_blob(img.z))
        c.execute("INSERT OR IGNORE INTO generated_images (image_hash, model_id, y, z) VALUES (?, ?, ?, ?)", key)
        return c.execute("SELECT id FROM generated_images WHERE image_hash = ? AND model_id = ? AND y = ? AND z = ?",
                         key).fetchone()[0]

    def _pair_values(self, c: sqlite3.Connection, pair: Pair) -> tuple:
        """(kind, dataset_id, a, b, pair_row, gen_a, gen_b) for a pair, storing what it needs."""
        if isinstance(pair, DatasetPair):
            a, b = int(pair.a), int(pair.b)
            if a < 0 or b < 0:
                raise ValueError(f"image indices must be >= 0, got {a}, {b}")
            row = None if pair.pair_row is None else int(pair.pair_row)
            return ("dataset", self._dataset_id(c, pair.dataset), a, b, row, None, None)
        if isinstance(pair, GeneratedPair):
            return ("generated", None, None, None, None,
                    self._generated_id(c, pair.a), self._generated_id(c, pair.b))
        raise TypeError(f"a pair is a DatasetPair or a GeneratedPair, not {type(pair).__name__}")

    # -- judgements -----------------------------------------------------------------------------

    def record(
        self,
        pair: Pair,
        attribute: str,
        judgement: Judgement,
        *,
        left_is_a: bool,
        confidence: float | None = None,
        pending_id: int | None = None,
    ) -> JudgementRecord:
        """Save one judgement; returns only after it is committed and on disk.

        ``left_is_a`` says whether image ``a`` was shown on the left. ``confidence`` is in
        [0, 1] or None. ``pending_id`` marks that queue entry done (see :meth:`next_pending`).
        """
        judgement = Judgement(judgement)
        if not attribute:
            raise ValueError("a judgement needs an attribute name")
        if confidence is not None:
            confidence = float(confidence)
            if not 0.0 <= confidence <= 1.0:
                raise ValueError(f"confidence must be in [0, 1], got {confidence}")
        label = judgement.pair_label(left_is_a)
        created_utc, created_unix = _now()
        with self._write("save a judgement") as c:
            prov = self._pair_values(c, pair)
            cur = c.execute(
                "INSERT INTO judgements (created_utc, created_unix, annotator, session, attribute, left_is_a,"
                " judgement, label, confidence, pending_id, kind, dataset_id, a, b, pair_row, gen_a, gen_b)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (created_utc, created_unix, self.annotator, self.session, attribute, int(bool(left_is_a)),
                 judgement.value, None if label is None else int(label), confidence, pending_id, *prov))
            new_id = cur.lastrowid
        if isinstance(pair, DatasetPair):
            self._dataset_ids[pair.dataset] = prov[1]  # only after COMMIT: a rollback leaves no stale id
        return JudgementRecord(new_id, attribute, pair, judgement, bool(left_is_a), confidence, self.annotator,
                               self.session, created_utc, created_unix, pending_id)

    def record_pending(self, item: PendingPair, judgement: Judgement, *, left_is_a: bool,
                       confidence: float | None = None) -> JudgementRecord:
        """Judge a queue entry: :meth:`record` with its pair and attribute; marks it done."""
        return self.record(item.pair, item.attribute, judgement, left_is_a=left_is_a,
                           confidence=confidence, pending_id=item.id)

    def undo(self) -> int | None:
        """Retract the last judgement of this annotator and session not yet undone.

        Adds an undo row (nothing is deleted) and returns the retracted judgement's id, or
        None when there is nothing left to undo. A queue entry it had marked done is pending
        again.
        """
        created_utc, created_unix = _now()
        with self._write("undo a judgement") as c:
            row = c.execute(
                "SELECT id FROM judgements j WHERE annotator = ? AND session = ? AND NOT EXISTS"
                " (SELECT 1 FROM undos u WHERE u.judgement_id = j.id) ORDER BY id DESC LIMIT 1",
                (self.annotator, self.session)).fetchone()
            if row is None:
                return None
            c.execute("INSERT INTO undos (judgement_id, created_utc, created_unix, annotator, session)"
                      " VALUES (?, ?, ?, ?, ?)", (row[0], created_utc, created_unix, self.annotator, self.session))
        return row[0]

    def judgements(
        self,
        *,
        effective: bool = True,
        attribute: str | None = None,
        dataset: DatasetRef | str | None = None,
        generated: bool | None = None,
        annotator: str | None = None,
        session: str | None = None,
    ) -> list[JudgementRecord]:
        """Judgements in the order they were made.

        ``effective=True`` leaves out undone ones; otherwise all are returned, with
        ``undone`` set. ``dataset`` (a DatasetRef or a fingerprint) keeps that dataset's
        pairs; ``generated`` True / False keeps only generated / only dataset pairs.
        """
        where, args = self._filters(attribute=attribute, dataset=dataset, generated=generated,
                                    annotator=annotator, session=session)
        if effective:
            where.append("u.id IS NULL")
        sql = (f"SELECT x.id, x.attribute, x.judgement, x.left_is_a, x.confidence, x.annotator, x.session,"
               f" x.created_utc, x.created_unix, x.pending_id, u.id IS NOT NULL, {_PAIR_SELECT}"
               f" FROM judgements x LEFT JOIN undos u ON u.judgement_id = x.id {_PAIR_JOINS}"
               f" {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY x.id")
        with self._read("read judgements") as c:
            rows = c.execute(sql, args).fetchall()
        return [JudgementRecord(r[0], r[1], _pair_from_row(r[11:]), Judgement(r[2]), bool(r[3]), r[4], r[5], r[6],
                                r[7], r[8], r[9], bool(r[10])) for r in rows]

    @staticmethod
    def _filters(*, attribute=None, dataset=None, generated=None, annotator=None, session=None):
        where: list[str] = []
        args: list[Any] = []
        if attribute is not None:
            where.append("x.attribute = ?")
            args.append(attribute)
        if dataset is not None:
            where.append("x.dataset_id = (SELECT id FROM datasets WHERE fingerprint = ?)")
            args.append(dataset.fingerprint if isinstance(dataset, DatasetRef) else str(dataset))
        if generated is not None:
            where.append("x.kind = ?")
            args.append("generated" if generated else "dataset")
        if annotator is not None:
            where.append("x.annotator = ?")
            args.append(annotator)
        if session is not None:
            where.append("x.session = ?")
            args.append(session)
        return where, args

    def progress(self, *, dataset: DatasetRef | str | None = None, generated: bool = False,
                 annotator: str | None = None) -> dict[str, int]:
        """Effective, non-discard judgements per attribute name.

        For one dataset's pairs (``dataset``), for generated pairs (``generated=True``), or,
        with neither, for everything. Attributes without judgements are absent.
        """
        if dataset is not None and generated:
            raise ValueError("progress: give a dataset or generated=True, not both")
        where, args = self._filters(dataset=dataset, generated=True if generated else None, annotator=annotator)
        where.append("x.label IS NOT NULL")
        sql = f"SELECT x.attribute, count(*) FROM effective_judgements x WHERE {' AND '.join(where)} GROUP BY x.attribute"
        with self._read("count judgements") as c:
            return {name: n for name, n in c.execute(sql, args)}

    def png(self, image_hash: str) -> bytes:
        """The stored PNG file of a generated image; KeyError if there is none."""
        with self._read("read a generated image") as c:
            row = c.execute("SELECT png FROM images WHERE hash = ?", (image_hash,)).fetchone()
        if row is None:
            raise KeyError(f"no generated image {image_hash} in {self.path}")
        return row[0]

    def pixels(self, image_hash: str) -> Any:
        """The pixels (uint8 H x W x 3) of a stored generated image, exactly as recorded."""
        return decode_png(self.png(image_hash))

    def with_pixels(self, pair: Pair) -> Pair:
        """The same pair, generated images carrying their pixels (dataset pairs unchanged)."""
        if isinstance(pair, GeneratedPair):
            return GeneratedPair(*(img if img.pixels is not None else
                                   GeneratedImage(img.model_id, img.y, img.z, pixels=self.pixels(img.image_hash))
                                   for img in (pair.a, pair.b)))
        return pair

    # -- the labeling queue -----------------------------------------------------------------------

    def enqueue(self, pair: Pair, attribute: str, *, priority: float = 0.0, origin: str = "",
                batch: int | None = None) -> int:
        """Put a pair in the labeling queue; returns the entry's id. Higher priority comes first."""
        return self.enqueue_many([pair], attribute, priority=priority, origin=origin, batch=batch)[0]

    def enqueue_many(self, pairs: Iterable[Pair], attribute: str | Sequence[str], *, priority: float = 0.0,
                     origin: str = "", batch: int | None = None) -> list[int]:
        """Queue several pairs in one transaction; returns their ids in order.

        ``attribute`` is one name for all pairs or one name per pair. ``batch`` (an id from
        :meth:`create_batch`) puts them in that batch.
        """
        pairs = list(pairs)
        names = [attribute] * len(pairs) if isinstance(attribute, str) else list(attribute)
        if len(names) != len(pairs):
            raise ValueError(f"{len(names)} attribute names for {len(pairs)} pairs")
        if not all(names):
            raise ValueError("a queue entry needs an attribute name")
        created_utc, _ = _now()
        ids = []
        with self._write("queue pairs") as c:
            if batch is not None and not c.execute("SELECT 1 FROM batches WHERE id = ?", (int(batch),)).fetchone():
                raise ValueError(f"no batch {batch} in {self.path}")
            for pair, name in zip(pairs, names):
                cur = c.execute(
                    "INSERT INTO pending (created_utc, attribute, priority, origin, batch_id, kind, dataset_id, a, b,"
                    " pair_row, gen_a, gen_b) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (created_utc, name, float(priority), origin, None if batch is None else int(batch),
                     *self._pair_values(c, pair)))
                ids.append(cur.lastrowid)
        return ids

    # -- batches ----------------------------------------------------------------------------------

    def create_batch(self, name: str, *, origin: str = "", details: dict | None = None,
                     pairs: Iterable[Pair] = (), attributes: str | Sequence[str] = (),
                     priority: float = 0.0, origins: Sequence[str] | None = None) -> BatchInfo:
        """A new batch (e.g. ``"attic round 3"``), with ``pairs`` queued in it, all in one transaction.

        ``attributes``: one name for every pair or one per pair. ``details`` is stored as JSON
        (round number, generator and control-module ids, ...). ``origins``: one queue-entry
        origin per pair (default: the batch's ``origin``). Returns the batch's summary.
        """
        import json

        if not name:
            raise ValueError("a batch needs a name")
        pairs = list(pairs)
        names = [attributes] * len(pairs) if isinstance(attributes, str) else list(attributes)
        if len(names) != len(pairs) or not all(names):
            raise ValueError(f"give one attribute name for all pairs or one per pair ({len(pairs)} pairs)")
        entry_origins = [origin] * len(pairs) if origins is None else list(origins)
        if len(entry_origins) != len(pairs):
            raise ValueError(f"{len(entry_origins)} origins for {len(pairs)} pairs")
        created_utc, created_unix = _now()
        text = json.dumps(details or {}, sort_keys=True, default=str)
        with self._write("make a batch") as c:
            batch_id = c.execute("INSERT INTO batches (name, origin, created_utc, created_unix, details)"
                                 " VALUES (?, ?, ?, ?, ?)", (name, origin, created_utc, created_unix, text)).lastrowid
            for pair, attribute, entry_origin in zip(pairs, names, entry_origins):
                c.execute("INSERT INTO pending (created_utc, attribute, priority, origin, batch_id, kind, dataset_id,"
                          " a, b, pair_row, gen_a, gen_b) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          (created_utc, attribute, float(priority), entry_origin, batch_id,
                           *self._pair_values(c, pair)))
        return self.batch(batch_id)

    _BATCH_SUMMARY = """
        SELECT b.id, b.name, b.origin, b.created_utc, b.details, count(p.id),
               coalesce(sum(j.labeled = 1), 0), coalesce(sum(j.labeled = 0), 0)
        FROM batches b LEFT JOIN pending p ON p.batch_id = b.id
        LEFT JOIN (SELECT pending_id, max(label IS NOT NULL) AS labeled FROM effective_judgements
                   WHERE pending_id IS NOT NULL GROUP BY pending_id) j ON j.pending_id = p.id
    """

    @staticmethod
    def _batch_info(r: Sequence[Any]) -> BatchInfo:
        import json

        total, judged, discarded = int(r[5]), int(r[6]), int(r[7])
        return BatchInfo(r[0], r[1], r[2], r[3], total, judged, discarded, total - judged - discarded,
                         json.loads(r[4] or "{}"))

    def batch(self, batch_id: int) -> BatchInfo:
        """One batch's summary; KeyError if there is no such batch."""
        with self._read("read a batch") as c:
            row = c.execute(self._BATCH_SUMMARY + " WHERE b.id = ? GROUP BY b.id", (int(batch_id),)).fetchone()
        if row is None:
            raise KeyError(f"no batch {batch_id} in {self.path}")
        return self._batch_info(row)

    def batches(self) -> list[BatchInfo]:
        """Every batch, oldest first, with its counts of judged, discarded and pending pairs."""
        with self._read("read the batches") as c:
            rows = c.execute(self._BATCH_SUMMARY + " GROUP BY b.id ORDER BY b.id").fetchall()
        return [self._batch_info(r) for r in rows]

    def pending(self, attribute: str | None = None, *, limit: int | None = None,
                with_pixels: bool = True, labelable_with: str | None = None,
                exclude: Iterable[int] = (), batch: int | None = None) -> list[PendingPair]:
        """Queue entries without an effective judgement, highest priority first, then oldest.

        A judgement by anyone marks an entry done; undoing that judgement makes it pending
        again. Generated images carry their pixels unless ``with_pixels=False``.
        ``labelable_with`` (a dataset fingerprint) keeps generated pairs and that dataset's
        pairs only; ``exclude`` leaves out entries by id (those already handed out);
        ``batch`` keeps that batch's entries, in the order they were queued.
        """
        where, args = self._pending_filters(attribute, labelable_with, batch)
        excluded = [int(i) for i in exclude]
        if excluded:
            where.append(f"x.id NOT IN ({','.join('?' * len(excluded))})")
            args.extend(excluded)
        order = "x.id" if batch is not None else "x.priority DESC, x.id"
        sql = (f"SELECT x.id, x.attribute, x.priority, x.origin, x.created_utc, x.batch_id, {_PAIR_SELECT}"
               f" FROM pending x {_PAIR_JOINS} WHERE {' AND '.join(where)} ORDER BY {order}")
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._read("read the labeling queue") as c:
            rows = c.execute(sql, args).fetchall()
        items = [PendingPair(r[0], r[1], _pair_from_row(r[6:]), r[2], r[3], r[4], r[5]) for r in rows]
        if with_pixels:
            items = [dataclasses.replace(i, pair=self.with_pixels(i.pair)) for i in items]
        return items

    @staticmethod
    def _pending_filters(attribute: str | None, labelable_with: str | None,
                         batch: int | None) -> tuple[list[str], list[Any]]:
        where, args = LabelStore._filters(attribute=attribute)
        where.insert(0, "NOT EXISTS (SELECT 1 FROM effective_judgements j WHERE j.pending_id = x.id)")
        if labelable_with is not None:
            where.append("(x.kind = 'generated' OR x.dataset_id = (SELECT id FROM datasets WHERE fingerprint = ?))")
            args.append(labelable_with)
        if batch is not None:
            where.append("x.batch_id = ?")
            args.append(int(batch))
        return where, args

    def next_pending(self, attribute: str | None = None) -> PendingPair | None:
        """The next pair to label (of ``attribute``, if given), or None when the queue is empty."""
        items = self.pending(attribute, limit=1)
        return items[0] if items else None

    def pending_count(self, attribute: str | None = None, *, labelable_with: str | None = None,
                      batch: int | None = None) -> int:
        """How many queue entries :meth:`pending` would return with these filters."""
        where, args = self._pending_filters(attribute, labelable_with, batch)
        with self._read("count the labeling queue") as c:
            return c.execute(f"SELECT count(*) FROM pending x WHERE {' AND '.join(where)}", args).fetchone()[0]

    # -- integrity and the import log ----------------------------------------------------------------

    def check_integrity(self) -> None:
        """Read the whole file; raise DataFileError naming the file if SQLite finds damage."""
        with self._guard("check the labels file"):
            result = [r[0] for r in self._conn().execute("PRAGMA integrity_check").fetchall()]
        if result != ["ok"]:
            raise DataFileError(self.path, "the labels database is corrupt: " + "; ".join(result[:5]),
                                _schema._HINT_CORRUPT)

    def judgement_keys(self, ids: Iterable[int]) -> dict[int, str]:
        """Keys that name judgements across stores and copies: ``"<session>:<id>"`` (a session is a
        fresh uuid each time a store is opened to label, so two stores never share one). A
        dataset file records the keys of the judgements it took, to import each only once."""
        ids = [int(i) for i in ids]
        out: dict[int, str] = {}
        with self._read("read judgement keys") as c:
            for start in range(0, len(ids), 900):  # SQLite's limit on bound parameters
                chunk = ids[start:start + 900]
                marks = ",".join("?" * len(chunk))
                for i, session in c.execute(f"SELECT id, session FROM judgements WHERE id IN ({marks})", chunk):
                    out[int(i)] = f"{session}:{int(i)}"
        return out

    def _imported_ids(self, fingerprint: str) -> set[int]:
        with self._read("read the import log") as c:
            return {r[0] for r in c.execute("SELECT judgement_id FROM dataset_imports WHERE fingerprint = ?",
                                            (fingerprint,))}

    def _log_import(self, ids: Iterable[int], fingerprint: str, path: str) -> None:
        imported_utc, _ = _now()
        with self._write("log an import") as c:
            c.executemany("INSERT OR IGNORE INTO dataset_imports (judgement_id, fingerprint, path, imported_utc)"
                          " VALUES (?, ?, ?, ?)", [(i, fingerprint, path, imported_utc) for i in ids])
