"""The label store's SQLite file: schema, versions, and how a file is opened and checked.

The file is an ordinary SQLite database a user can open with any SQLite tool. It is marked
with ``PRAGMA application_id`` (so another program's database is refused instead of being
written into) and versioned with ``PRAGMA user_version``; :data:`MIGRATIONS` holds the steps
that bring an older file up to :data:`SCHEMA_VERSION`, each run in one transaction.

Tables (version 2)::

    datasets          a dataset file by content fingerprint; name and path as last seen
    images            pixels of generated images as PNG, content-addressed (sha256 of the
                      raw pixels), shared by every judgement and queue entry showing them
    generated_images  one generated image: image hash, generator model id, latents y and z
                      (float32 little-endian BLOBs)
    batches           a named set of queued pairs: origin ("explore", "attic round 3", ...),
                      when it was made, free-form JSON details (version 2)
    pending           the labeling queue: pairs waiting for a judgement, each in at most one
                      batch (``batch_id``, version 2)
    judgements        one row per judgement, never updated or deleted
    undos             one row per undo, naming the judgement it retracts
    dataset_imports   which judgements went into which dataset file's pairs table
    effective_judgements (view)  judgements with no undo row

Provenance columns (in ``pending`` and ``judgements``): ``kind`` is 'dataset' (``dataset_id``,
image indices ``a``, ``b``, optional ``pair_row`` of the dataset's pairs table) or
'generated' (``gen_a``, ``gen_b`` -> ``generated_images``).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Callable

from relattr_studio.core.errors import DataFileError

SCHEMA_VERSION = 2
APPLICATION_ID = 0x52414C53  # "RALS": RelAttr label store
SQLITE_HEADER = b"SQLite format 3\x00"

_PROVENANCE_COLUMNS = """
    kind        TEXT NOT NULL CHECK (kind IN ('dataset', 'generated')),
    dataset_id  INTEGER REFERENCES datasets(id),
    a           INTEGER,
    b           INTEGER,
    pair_row    INTEGER,
    gen_a       INTEGER REFERENCES generated_images(id),
    gen_b       INTEGER REFERENCES generated_images(id),
    CHECK ((kind = 'dataset' AND dataset_id IS NOT NULL AND a IS NOT NULL AND b IS NOT NULL
            AND gen_a IS NULL AND gen_b IS NULL)
        OR (kind = 'generated' AND gen_a IS NOT NULL AND gen_b IS NOT NULL
            AND dataset_id IS NULL AND a IS NULL AND b IS NULL))
"""

SCHEMA_V1 = f"""
CREATE TABLE datasets (
    id          INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    path        TEXT NOT NULL
);
CREATE TABLE images (
    hash   TEXT PRIMARY KEY,
    height INTEGER NOT NULL,
    width  INTEGER NOT NULL,
    png    BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE generated_images (
    id         INTEGER PRIMARY KEY,
    image_hash TEXT NOT NULL REFERENCES images(hash),
    model_id   TEXT NOT NULL,
    y          BLOB NOT NULL,
    z          BLOB NOT NULL,
    UNIQUE (image_hash, model_id, y, z)
);
CREATE TABLE pending (
    id          INTEGER PRIMARY KEY,
    created_utc TEXT NOT NULL,
    attribute   TEXT NOT NULL,
    priority    REAL NOT NULL DEFAULT 0,
    origin      TEXT NOT NULL DEFAULT '',
    {_PROVENANCE_COLUMNS}
);
CREATE TABLE judgements (
    id           INTEGER PRIMARY KEY,
    created_utc  TEXT NOT NULL,
    created_unix REAL NOT NULL,
    annotator    TEXT NOT NULL,
    session      TEXT NOT NULL,
    attribute    TEXT NOT NULL,
    left_is_a    INTEGER NOT NULL CHECK (left_is_a IN (0, 1)),
    judgement    TEXT NOT NULL CHECK (judgement IN ('left-more', 'right-more', 'equal', 'discard')),
    label        INTEGER CHECK (label IN (-1, 0, 1)),
    confidence   REAL CHECK (confidence IS NULL OR (confidence >= 0 AND confidence <= 1)),
    pending_id   INTEGER REFERENCES pending(id),
    {_PROVENANCE_COLUMNS},
    CHECK ((judgement = 'discard') = (label IS NULL))
);
CREATE TABLE undos (
    id           INTEGER PRIMARY KEY,
    judgement_id INTEGER NOT NULL UNIQUE REFERENCES judgements(id),
    created_utc  TEXT NOT NULL,
    created_unix REAL NOT NULL,
    annotator    TEXT NOT NULL,
    session      TEXT NOT NULL
);
CREATE TABLE dataset_imports (
    judgement_id INTEGER NOT NULL REFERENCES judgements(id),
    fingerprint  TEXT NOT NULL,
    path         TEXT NOT NULL,
    imported_utc TEXT NOT NULL,
    PRIMARY KEY (judgement_id, fingerprint)
) WITHOUT ROWID;
CREATE INDEX judgements_by_session ON judgements (annotator, session, id);
CREATE INDEX judgements_by_dataset ON judgements (dataset_id, attribute);
CREATE INDEX judgements_by_pending ON judgements (pending_id) WHERE pending_id IS NOT NULL;
CREATE INDEX pending_by_attribute ON pending (attribute, priority DESC, id);
CREATE VIEW effective_judgements AS
    SELECT * FROM judgements j WHERE NOT EXISTS (SELECT 1 FROM undos u WHERE u.judgement_id = j.id);
"""

# Version 2: batches. A batch is what a person is asked to label to the end ("round 3: 37 of
# 50 judged"); queue entries made before it (version 1) belong to no batch.
SCHEMA_V2 = """
CREATE TABLE batches (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    origin       TEXT NOT NULL DEFAULT '',
    created_utc  TEXT NOT NULL,
    created_unix REAL NOT NULL,
    details      TEXT NOT NULL DEFAULT '{}'
);
ALTER TABLE pending ADD COLUMN batch_id INTEGER REFERENCES batches(id);
CREATE INDEX pending_by_batch ON pending (batch_id, id) WHERE batch_id IS NOT NULL;
"""

# version v -> the step that turns a version-v file into version v + 1 (inside a transaction).
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    0: lambda c: _run_script(c, SCHEMA_V1),
    1: lambda c: _run_script(c, SCHEMA_V2),
}

_HINT_NOT_STORE = "choose a labels file made by RelAttr Studio, or a new file name"
_HINT_CORRUPT = ("the file is damaged; keep a copy, then export what is readable with the sqlite3 "
                 "tool's .recover command or start a new labels file")


def _run_script(c: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the open transaction first; run statement by statement.
    for statement in script.split(";"):
        if statement.strip():
            c.execute(statement)


def corrupt_error(path: Path, err: BaseException, what: str) -> DataFileError:
    """The message for an SQLite error met while doing ``what`` on the file at ``path``."""
    text = str(err)
    if "locked" in text or "busy" in text:
        return DataFileError(path, f"cannot {what}: the labels file is busy ({text})",
                             "another program is writing it; close that program and retry")
    if isinstance(err, sqlite3.OperationalError) and ("disk I/O" in text or "unable to open" in text
                                                       or "readonly" in text or "full" in text):
        return DataFileError(path, f"cannot {what}: {text}", "check the disk and the file's permissions")
    return DataFileError(path, f"cannot {what}: the labels database is corrupt ({text})", _HINT_CORRUPT)


def check_header(path: Path) -> None:
    """Refuse a file that exists, is not empty and is not an SQLite database."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    except IsADirectoryError:
        raise DataFileError(path, "is a folder, not a labels file", _HINT_NOT_STORE) from None
    except OSError as err:
        raise DataFileError(path, f"cannot read the labels file: {err}", "check the file's permissions") from err
    if head and head != SQLITE_HEADER:
        raise DataFileError(path, "not an SQLite database, so not a RelAttr labels file", _HINT_NOT_STORE)


def connect(path: Path, *, synchronous: str = "FULL") -> sqlite3.Connection:
    """Open a connection with the store's settings; the schema is not touched.

    Autocommit mode (``isolation_level=None``): the store issues BEGIN / COMMIT itself, so
    a COMMIT is exactly where a judgement becomes durable.
    """
    c = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
    try:
        c.execute("PRAGMA foreign_keys = ON")
        mode = c.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise DataFileError(path, f"cannot use write-ahead logging (journal mode stays {mode!r})",
                                "put the labels file on a local disk")
        # FULL: each COMMIT fsyncs the WAL, so a judgement shown as saved survives a power cut
        # too, not only a process crash (NORMAL would, in WAL mode, survive SIGKILL but could
        # lose the last commits on power loss). Measured ~0.5 ms per commit on the dev disk,
        # well inside the 16 ms a labeling keypress may take, so durability costs nothing visible.
        c.execute(f"PRAGMA synchronous = {synchronous}")
    except BaseException:
        c.close()
        raise
    return c


def ensure_schema(c: sqlite3.Connection, path: Path) -> None:
    """Create the schema in a new file, migrate an older one, refuse a foreign or newer one."""
    app_id = c.execute("PRAGMA application_id").fetchone()[0]
    version = c.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise DataFileError(path, f"labels file schema version {version} is newer than this program "
                                  f"reads ({SCHEMA_VERSION})", "update RelAttr Studio")
    if version == SCHEMA_VERSION and app_id == APPLICATION_ID:
        return
    c.execute("BEGIN IMMEDIATE")
    try:
        # Re-read inside the write lock: another process may have created the schema meanwhile.
        app_id = c.execute("PRAGMA application_id").fetchone()[0]
        version = c.execute("PRAGMA user_version").fetchone()[0]
        has_tables = c.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
        if app_id != APPLICATION_ID and (has_tables or version):
            raise DataFileError(path, "an SQLite database of another program, not a RelAttr labels file",
                                _HINT_NOT_STORE)
        if version > SCHEMA_VERSION:
            raise DataFileError(path, f"labels file schema version {version} is newer than this program "
                                      f"reads ({SCHEMA_VERSION})", "update RelAttr Studio")
        while version < SCHEMA_VERSION:
            MIGRATIONS[version](c)
            version += 1
        c.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        c.execute("COMMIT")
    except BaseException:
        c.execute("ROLLBACK")
        raise
