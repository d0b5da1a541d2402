"""Label store: recording, undo, queue, progress, export / import, bad files, threads, speed."""

from __future__ import annotations

import json
import sqlite3
import statistics
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from relattr_studio.core.errors import DataFileError
from relattr_studio.core.types import PairLabel, PairSource, Split
from relattr_studio.data.dataset_file import DatasetFile, DatasetMeta, PairTable, write_dataset
from relattr_studio.data.label_export import EXPORT_COLUMNS, export_labels, read_export
from relattr_studio.data.label_records import GENERATED_PREFIX
from relattr_studio.data.label_training import import_labels
from relattr_studio.data.label_schema import SCHEMA_VERSION
from relattr_studio.data.label_store import (
    DatasetPair, DatasetRef, GeneratedImage, GeneratedPair, Judgement, LabelStore, dataset_fingerprint,
)

REF = DatasetRef("toy", "/somewhere/toy.h5", "0" * 64)
OTHER = DatasetRef("other", "/somewhere/other.h5", "1" * 64)


@pytest.fixture
def store(tmp_path):
    with LabelStore(tmp_path / "labels.sqlite", annotator="alice", session="s1") as s:
        yield s


def _image(seed: int, model: str = "cvae-1", size: int = 12) -> GeneratedImage:
    rng = np.random.default_rng(seed)
    return GeneratedImage(model, rng.normal(size=3), rng.normal(size=5),
                          pixels=rng.integers(0, 256, (size, size + 3, 3), dtype=np.uint8))


def _gen_pair(seed: int) -> GeneratedPair:
    return GeneratedPair(_image(seed), _image(seed + 1000))


# --------------------------------------------------------------------------- recording


@pytest.mark.parametrize("judgement, left_is_a, expected", [
    (Judgement.LEFT_MORE, True, PairLabel.A_MORE),
    (Judgement.LEFT_MORE, False, PairLabel.B_MORE),
    (Judgement.RIGHT_MORE, True, PairLabel.B_MORE),
    (Judgement.RIGHT_MORE, False, PairLabel.A_MORE),
    (Judgement.EQUAL, False, PairLabel.EQUAL),
    (Judgement.DISCARD, True, None),
])
def test_label_is_stored_as_seen_and_normalised_to_the_pair(store, judgement, left_is_a, expected):
    rec = store.record(DatasetPair(REF, 3, 7, pair_row=11), "smiling", judgement, left_is_a=left_is_a,
                       confidence=2 / 3)
    assert rec.label == expected
    (back,) = store.judgements()
    assert back == rec
    assert back.judgement is judgement and back.left_is_a is left_is_a and back.label == expected
    raw = sqlite3.connect(store.path).execute("SELECT judgement, label FROM judgements").fetchone()
    assert raw == (judgement.value, None if expected is None else int(expected))
    assert back.annotator == "alice" and back.session == "s1" and back.created_utc.endswith("+00:00")


def test_record_rejects_bad_values(store):
    pair = DatasetPair(REF, 0, 1)
    with pytest.raises(ValueError):
        store.record(pair, "smiling", Judgement.EQUAL, left_is_a=True, confidence=3)
    with pytest.raises(ValueError):
        store.record(pair, "", Judgement.EQUAL, left_is_a=True)
    with pytest.raises(ValueError):
        store.record(DatasetPair(REF, -1, 1), "smiling", Judgement.EQUAL, left_is_a=True)
    sized = DatasetRef(REF.name, REF.path, REF.fingerprint, n_images=6)  # as DatasetRef.of(file) makes it
    assert sized == REF  # the size is checked, not compared
    with pytest.raises(ValueError, match="names image 1000000; its images are 0..5"):
        store.record(DatasetPair(sized, 0, 1_000_000), "smiling", Judgement.EQUAL, left_is_a=True)
    with pytest.raises(sqlite3.IntegrityError):
        store.record(pair, "smiling", Judgement.EQUAL, left_is_a=True, pending_id=999)
    assert store.judgements(effective=False) == []


def test_generated_pixels_and_latents_round_trip_exactly_and_images_are_shared(store):
    pair = _gen_pair(1)
    rec = store.record(pair, "smiling", Judgement.RIGHT_MORE, left_is_a=False)
    store.record(GeneratedPair(pair.a, _image(2)), "young", Judgement.EQUAL, left_is_a=True)
    first, second = store.judgements()
    assert first.pair == pair and first == rec
    np.testing.assert_array_equal(store.pixels(first.pair.a.image_hash), pair.a.pixels)
    np.testing.assert_array_equal(store.pixels(first.pair.b.image_hash), pair.b.pixels)
    assert store.pixels(first.pair.a.image_hash).dtype == np.uint8
    assert first.pair.a.y == tuple(np.float32(v) for v in pair.a.y)
    assert first.pair.a.model_id == "cvae-1"
    c = sqlite3.connect(store.path)
    assert c.execute("SELECT count(*) FROM images").fetchone() == (3,)
    assert c.execute("SELECT count(*) FROM generated_images").fetchone() == (3,)
    full = store.with_pixels(second.pair)
    np.testing.assert_array_equal(full.b.pixels, _image(2).pixels)


def test_dataset_moving_keeps_its_identity(store):
    store.record(DatasetPair(REF, 0, 1), "smiling", Judgement.EQUAL, left_is_a=True)
    moved = DatasetRef("toy", "/elsewhere/toy.h5", REF.fingerprint)
    store.record(DatasetPair(moved, 1, 2), "smiling", Judgement.EQUAL, left_is_a=True)
    assert len(store.judgements(dataset=REF)) == 2
    assert {r.pair.dataset.path for r in store.judgements()} == {"/elsewhere/toy.h5"}


# --------------------------------------------------------------------------- undo, progress


def test_undo_adds_a_row_and_retracts_the_last_judgement_of_this_session(tmp_path):
    path = tmp_path / "labels.sqlite"
    with LabelStore(path, annotator="alice", session="s1") as alice, \
            LabelStore(path, annotator="bob", session="s2") as bob:
        a1 = alice.record(DatasetPair(REF, 0, 1), "smiling", Judgement.LEFT_MORE, left_is_a=True)
        a2 = alice.record(DatasetPair(REF, 0, 2), "smiling", Judgement.LEFT_MORE, left_is_a=True)
        b1 = bob.record(DatasetPair(REF, 0, 3), "smiling", Judgement.LEFT_MORE, left_is_a=True)
        assert alice.undo() == a2.id
        assert [r.id for r in alice.judgements()] == [a1.id, b1.id]
        assert alice.undo() == a1.id
        assert alice.undo() is None
        assert bob.undo() == b1.id
        everything = alice.judgements(effective=False)
        assert [(r.id, r.undone) for r in everything] == [(a1.id, True), (a2.id, True), (b1.id, True)]
        a3 = alice.record(DatasetPair(REF, 0, 4), "smiling", Judgement.EQUAL, left_is_a=True)
        assert alice.undo() == a3.id
    c = sqlite3.connect(path)
    assert c.execute("SELECT count(*) FROM judgements").fetchone() == (4,)
    assert c.execute("SELECT judgement_id, annotator FROM undos ORDER BY id").fetchall() == [
        (a2.id, "alice"), (a1.id, "alice"), (b1.id, "bob"), (a3.id, "alice")]


def test_progress_counts_effective_non_discard_labels_per_attribute(store):
    for i, (attr, j) in enumerate([("smiling", Judgement.LEFT_MORE), ("smiling", Judgement.EQUAL),
                                   ("smiling", Judgement.DISCARD), ("young", Judgement.RIGHT_MORE)]):
        store.record(DatasetPair(REF, i, i + 1), attr, j, left_is_a=True)
    store.record(DatasetPair(OTHER, 0, 1), "smiling", Judgement.LEFT_MORE, left_is_a=True)
    store.record(_gen_pair(5), "smiling", Judgement.LEFT_MORE, left_is_a=True)
    store.record(_gen_pair(6), "bald", Judgement.DISCARD, left_is_a=True)
    store.record(_gen_pair(7), "young", Judgement.EQUAL, left_is_a=True)
    store.undo()
    assert store.progress(dataset=REF) == {"smiling": 2, "young": 1}
    assert store.progress(dataset=OTHER.fingerprint) == {"smiling": 1}
    assert store.progress(generated=True) == {"smiling": 1}
    assert store.progress() == {"smiling": 4, "young": 1}
    assert store.progress(annotator="nobody") == {}
    with pytest.raises(ValueError):
        store.progress(dataset=REF, generated=True)


# --------------------------------------------------------------------------- queue


def test_queue_orders_by_priority_and_judging_or_undoing_moves_entries(store):
    ids = store.enqueue_many([DatasetPair(REF, i, i + 1) for i in range(3)], "smiling")
    gen = store.enqueue(_gen_pair(9), "smiling", priority=5, origin="explore")
    other = store.enqueue(DatasetPair(REF, 8, 9), "young")
    assert store.pending_count() == 5 and store.pending_count("young") == 1
    first = store.next_pending("smiling")
    assert first.id == gen and first.origin == "explore"
    np.testing.assert_array_equal(first.pair.a.pixels, _image(9).pixels)
    store.record_pending(first, Judgement.LEFT_MORE, left_is_a=False)
    assert store.next_pending("smiling").id == ids[0]
    assert store.judgements()[-1].pending_id == gen
    assert store.undo() is not None
    assert store.next_pending("smiling").id == gen
    for item in store.pending("smiling"):
        store.record_pending(item, Judgement.EQUAL, left_is_a=True)
    assert store.next_pending("smiling") is None
    assert store.next_pending().id == other


# --------------------------------------------------------------------------- export / import


def _fill(store):
    store.record(DatasetPair(REF, 0, 1, pair_row=4), "smiling", Judgement.LEFT_MORE, left_is_a=False, confidence=1 / 3)
    store.record(DatasetPair(REF, 2, 3), "young", Judgement.DISCARD, left_is_a=True)
    store.record(_gen_pair(3), "smiling", Judgement.EQUAL, left_is_a=True, confidence=1.0)
    store.record(DatasetPair(REF, 5, 6), "young", Judgement.RIGHT_MORE, left_is_a=True)
    store.undo()


def test_csv_export_round_trips(store, tmp_path):
    _fill(store)
    out = tmp_path / "labels.csv"
    assert export_labels(store, out) == 3
    header = out.read_text().splitlines()[0].split(",")
    assert header == list(EXPORT_COLUMNS)
    assert read_export(out) == store.judgements()


def test_json_export_round_trips_with_pixels(store, tmp_path):
    _fill(store)
    out = tmp_path / "labels.json"
    assert export_labels(store, out, include_pixels=True) == 3
    doc = json.loads(out.read_text())
    assert doc["format"] == "relattr-labels" and set(doc["columns"]) == set(EXPORT_COLUMNS)
    assert [r["label"] for r in doc["judgements"]] == ["b-more", "discard", "equal"]
    back = read_export(out)
    assert back == store.judgements()
    np.testing.assert_array_equal(back[2].pair.a.pixels, _gen_pair(3).a.pixels)


def test_bad_export_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(DataFileError, match="x.csv.*not a RelAttr labels export"):
        read_export(bad)


def _tiny_dataset(path, n=6):
    rng = np.random.default_rng(0)
    meta = DatasetMeta(name="tiny", attribute_names=["smiling", "young"],
                       image_names=[f"img{i}.png" for i in range(n)],
                       pairs=PairTable.build([0, 1], [2, 3], [0, 1], [1, -1]))
    return write_dataset(path, rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8), meta)


def test_import_into_dataset_appends_real_and_generated_pairs_and_skips_the_rest(store, tmp_path):
    path = _tiny_dataset(tmp_path / "tiny.h5")
    ref = DatasetRef.of(path)
    assert ref.fingerprint == dataset_fingerprint([f"img{i}.png" for i in range(6)], (8, 8))
    store.record(DatasetPair(ref, 0, 5), "smiling", Judgement.LEFT_MORE, left_is_a=False, confidence=0.5)
    store.record(DatasetPair(ref, 1, 4), "young", Judgement.EQUAL, left_is_a=True)
    store.record(DatasetPair(ref, 1, 3), "young", Judgement.DISCARD, left_is_a=True)
    store.record(DatasetPair(ref, 1, 2), "bald", Judgement.LEFT_MORE, left_is_a=True)
    store.record(DatasetPair(OTHER, 1, 2), "young", Judgement.LEFT_MORE, left_is_a=True)
    gen = _gen_pair(1)
    store.record(gen, "young", Judgement.LEFT_MORE, left_is_a=False)
    store.record(DatasetPair(ref, 2, 3), "smiling", Judgement.LEFT_MORE, left_is_a=True)
    store.undo()
    moved = tmp_path / "moved" / "tiny-copy.h5"
    moved.parent.mkdir()
    moved.write_bytes(path.read_bytes())  # the file moved: it still matches by fingerprint
    result = import_labels(store, moved, split=Split.TEST)
    assert (result.added, result.total_pairs, result.added_images, result.added_generated, result.skipped_discard,
            result.skipped_other_dataset, result.skipped_unknown_attribute) == (3, 5, 2, 1, 1, 1, 1)
    assert "1 of them generated (2 new images" in result.message()
    with DatasetFile(moved) as ds:
        p = ds.pairs()
        assert len(ds) == 8 and ds.image_names[6:] == [GENERATED_PREFIX + gen.a.image_hash,
                                                       GENERATED_PREFIX + gen.b.image_hash]
        # the generated images, resized from 12 to the dataset's 8 px, with unknown strengths
        assert ds.images([6]).shape == (1, 8, 8, 3)
        assert DatasetRef.of(ds).fingerprint == ref.fingerprint  # earlier labels still match
    assert p.a[2:].tolist() == [0, 1, 6] and p.b[2:].tolist() == [5, 4, 7]
    assert p.attribute[2:].tolist() == [0, 1, 1]
    assert p.label[2:].tolist() == [PairLabel.B_MORE, PairLabel.EQUAL, PairLabel.B_MORE]
    assert p.source[2:].tolist() == [PairSource.HUMAN] * 3 and p.split[2:].tolist() == [Split.TEST] * 3
    assert p.confidence[2] == 0.5 and np.isnan(p.confidence[3])
    again = import_labels(store, moved)
    assert again.added == 0 and again.skipped_already_imported == 3 and again.total_pairs == 5
    # A second judgement of the same generated images reuses them.
    store.record(gen, "smiling", Judgement.RIGHT_MORE, left_is_a=True)
    third = import_labels(store, moved)
    assert (third.added, third.added_images) == (1, 0)
    with DatasetFile(moved) as ds:
        assert len(ds) == 8 and (ds.pairs().a[-1], ds.pairs().b[-1]) == (6, 7)


def test_an_import_is_never_repeated_into_a_file_even_after_a_crash_before_the_store_log(store, tmp_path,
                                                                                        monkeypatch):
    """The dataset file records the judgements it took, in the same atomic rewrite as the pairs:
    a crash between the file's rename and the store's import log cannot make the next import
    add them again, and a copy of the file made before the import takes them."""
    path = _tiny_dataset(tmp_path / "tiny.h5")
    before = tmp_path / "copy-before.h5"
    before.write_bytes(path.read_bytes())
    ref = DatasetRef.of(path)
    store.record(DatasetPair(ref, 0, 5), "smiling", Judgement.LEFT_MORE, left_is_a=False)
    store.record(_gen_pair(1), "young", Judgement.LEFT_MORE, left_is_a=False)

    def crash(*_args, **_kwargs):
        raise KeyboardInterrupt("killed between the dataset's rename and the import log")

    monkeypatch.setattr(store, "_log_import", crash)
    with pytest.raises(KeyboardInterrupt):
        import_labels(store, path)
    monkeypatch.undo()
    with DatasetFile(path) as ds:
        assert len(ds.pairs()) == 4 and len(ds.meta.imported_judgements) == 2
    again = import_labels(store, path)
    assert (again.added, again.skipped_already_imported, again.total_pairs) == (0, 2, 4)
    copy = import_labels(store, before)  # the same images, another file: it takes them
    assert (copy.added, copy.total_pairs) == (2, 4)
    store.record(DatasetPair(ref, 1, 4), "young", Judgement.RIGHT_MORE, left_is_a=True)
    third = import_labels(store, path)  # only the new judgement
    assert (third.added, third.total_pairs) == (1, 5)
    with DatasetFile(path) as ds:
        keys = ds.meta.imported_judgements
    assert len(keys) == len(set(keys)) == 3 and all(k.startswith(store.session + ":") for k in keys)


def test_a_file_from_before_the_record_goes_by_the_store_log_and_gets_the_record(store, tmp_path):
    import h5py

    def old_file(name):  # written before dataset files recorded their imports
        path = _tiny_dataset(tmp_path / name)
        with h5py.File(path, "a") as f:
            del f["imported_judgements"]
        return path

    first, second = old_file("first.h5"), old_file("second.h5")
    store.record(DatasetPair(DatasetRef.of(first), 0, 5), "smiling", Judgement.LEFT_MORE, left_is_a=False)
    assert import_labels(store, first).added == 1
    with DatasetFile(first) as ds:
        assert len(ds.meta.imported_judgements) == 1  # the record starts with this import
    skipped = import_labels(store, second)  # the log says: a file with these images took it
    assert (skipped.added, skipped.skipped_already_imported) == (0, 1)
    assert import_labels(store, second, skip_imported=False).added == 1  # relattr labels import --again
    assert import_labels(store, second).added == 0  # and now the file itself knows


def test_a_judgement_naming_images_the_file_lacks_is_named_and_the_rest_imported(store, tmp_path):
    path = _tiny_dataset(tmp_path / "tiny.h5")
    ref = DatasetRef.of(path)
    unsized = DatasetRef(ref.name, ref.path, ref.fingerprint)  # as a store written before refs knew the size
    store.record(DatasetPair(unsized, 0, 1_000_000), "smiling", Judgement.LEFT_MORE, left_is_a=True)
    store.record(DatasetPair(ref, 0, 5), "smiling", Judgement.LEFT_MORE, left_is_a=True)
    result = import_labels(store, path)
    assert (result.added, result.total_pairs) == (1, 3)
    assert result.unusable == ["judgement 1 names images 0 and 1000000; the file has 6"]
    assert result.message().endswith("could not import 1: judgement 1 names images 0 and 1000000; the file has 6")


# --------------------------------------------------------------------------- bad files


def test_non_sqlite_file_is_refused_by_name(tmp_path):
    bad = tmp_path / "notes.sqlite"
    bad.write_text("just some text, not a database at all")
    with pytest.raises(DataFileError, match="notes.sqlite.*not an SQLite database"):
        LabelStore(bad)
    assert bad.read_text() == "just some text, not a database at all"


def test_other_programs_database_is_refused(tmp_path):
    other = tmp_path / "other.db"
    c = sqlite3.connect(other)
    c.execute("CREATE TABLE customers (id INTEGER)")
    c.commit()
    c.close()
    with pytest.raises(DataFileError, match="other.db.*another program"):
        LabelStore(other)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "labels.sqlite"
    LabelStore(path).close()
    c = sqlite3.connect(path)
    c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    c.commit()
    c.close()
    with pytest.raises(DataFileError, match=rf"labels.sqlite.*schema version {SCHEMA_VERSION + 1} is newer.*update RelAttr Studio"):
        LabelStore(path)


def test_corrupt_database_is_a_clear_error(tmp_path):
    path = tmp_path / "labels.sqlite"
    with LabelStore(path) as s:
        for i in range(300):
            s.record(DatasetPair(REF, i, i + 1), "smiling", Judgement.EQUAL, left_is_a=True)
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xa5" * (4096 - 100)  # header intact, first page (the schema) garbage
    path.write_bytes(bytes(data))
    with pytest.raises(DataFileError, match="labels.sqlite.*corrupt"):
        LabelStore(path).judgements()


def test_damaged_data_page_is_a_clear_error(tmp_path):
    path = tmp_path / "labels.sqlite"
    with LabelStore(path) as s:
        for i in range(500):
            s.record(DatasetPair(REF, i, i + 1), "smiling" * 20, Judgement.EQUAL, left_is_a=True)
    data = bytearray(path.read_bytes())
    assert len(data) > 12 * 4096
    data[-6 * 4096:-4 * 4096] = b"\x17" * 8192
    path.write_bytes(bytes(data))
    with pytest.raises(DataFileError, match="labels.sqlite.*corrupt"):
        with LabelStore(path) as s:
            s.check_integrity()
            s.judgements()


# --------------------------------------------------------------------------- threads, speed, imports


def test_threads_record_and_read_concurrently(tmp_path):
    with LabelStore(tmp_path / "labels.sqlite", annotator="t") as store:
        errors: list[BaseException] = []
        ids: list[int] = []
        stop = threading.Event()

        def writer(k):
            try:
                for i in range(40):
                    ids.append(store.record(DatasetPair(REF, k, i), f"attr{k % 2}", Judgement.LEFT_MORE,
                                            left_is_a=bool(i % 2)).id)
            except BaseException as err:  # noqa: BLE001 - reported below
                errors.append(err)

        def reader():
            try:
                while not stop.is_set():
                    store.progress(dataset=REF)
                    store.pending_count()
            except BaseException as err:  # noqa: BLE001
                errors.append(err)

        threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
        reading = threading.Thread(target=reader)
        reading.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stop.set()
        reading.join()
        assert not errors
        assert len(set(ids)) == 160
        assert store.progress() == {"attr0": 80, "attr1": 80}


def test_readers_do_not_wait_for_an_open_write(tmp_path):
    path = tmp_path / "labels.sqlite"
    with LabelStore(path) as store:
        store.record(DatasetPair(REF, 0, 1), "smiling", Judgement.LEFT_MORE, left_is_a=True)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO undos (judgement_id, created_utc, created_unix, annotator, session)"
                      " VALUES (1, 'x', 0, 'x', 'x')")
        t = time.perf_counter()
        assert store.progress() == {"smiling": 1}  # sees the committed state, at once
        assert time.perf_counter() - t < 0.5
        other.execute("ROLLBACK")
        other.close()


def test_record_latency(store):
    pair = DatasetPair(REF, 1, 2)
    store.record(pair, "smiling", Judgement.LEFT_MORE, left_is_a=True)
    times = []
    for i in range(200):
        t = time.perf_counter()
        store.record(DatasetPair(REF, i, i + 1), "smiling", Judgement.LEFT_MORE, left_is_a=True)
        times.append(time.perf_counter() - t)
    gen = []
    for i in range(30):
        pair = GeneratedPair(_image(i, size=64), _image(i + 500, size=64))
        t = time.perf_counter()
        store.record(pair, "smiling", Judgement.EQUAL, left_is_a=True)
        gen.append(time.perf_counter() - t)
    q = statistics.quantiles(times, n=20)
    qg = statistics.quantiles(gen, n=20)
    print(f"\nrecord() latency, dataset pair: p50 {1e3 * statistics.median(times):.2f} ms, p95 {1e3 * q[18]:.2f} ms;"
          f" generated 64x64 pair: p50 {1e3 * statistics.median(gen):.2f} ms, p95 {1e3 * qg[18]:.2f} ms")
    assert q[18] < 0.05  # generous: a labeling keypress has 16 ms, shared disks are noisy


def test_label_store_import_pulls_neither_numpy_h5py_nor_torch():
    code = ("import sys, relattr_studio.data.label_store as m; "
            "print(sorted(k for k in ('numpy', 'h5py', 'torch', 'PySide6') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
