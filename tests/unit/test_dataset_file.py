"""The HDF5 dataset file: round trip, atomic writes, lazy per-process handles, bad files."""

from __future__ import annotations

import pickle

import h5py
import numpy as np
import pytest

from relattr_studio.core.errors import DataFileError
from relattr_studio.core.types import PairGroup, PairLabel, PairSource, Split
from relattr_studio.data.dataset_file import (
    CategoricalAttribute, DatasetFile, DatasetMeta, DatasetWriter, PairTable, Protocol,
    append_pairs, write_dataset,
)


def _content(n=40, size=16, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    pairs = PairTable.build(
        a=rng.integers(0, n, 30), b=rng.integers(0, n, 30), attribute=rng.integers(0, 2, 30),
        label=rng.choice([-1, 0, 1], 30), confidence=rng.random(30), split=rng.choice([0, 1], 30),
        group=rng.choice([0, 1, 2], 30), source=PairSource.REAL,
    )
    meta = DatasetMeta(
        name="tiny", attribute_names=["smiling", "young"], image_names=[f"im{i}.png" for i in range(n)],
        strengths=rng.random((n, 2)).astype(np.float32),
        categorical={"shape": CategoricalAttribute(rng.integers(0, 3, n).astype(np.int16), ["boot", "pump", "flat"])},
        identities=rng.integers(0, 4, n), identity_names=["w", "x", "y", "z"],
        arrays={"feat": rng.random((n, 5))},
        pairs=pairs, protocols={"alt": Protocol("flipped", 1 - pairs.split)},
    )
    return images, meta


def test_round_trip(tmp_path):
    images, meta = _content()
    path = write_dataset(tmp_path / "d.h5", images, meta)
    with DatasetFile(path) as ds:
        assert len(ds) == 40 and ds.image_shape == (16, 16)
        assert ds.attribute_names == ["smiling", "young"]
        np.testing.assert_array_equal(ds.image(7), images[7])
        np.testing.assert_array_equal(ds.images([9, 2, 9, 0]), images[[9, 2, 9, 0]])
        np.testing.assert_allclose(ds.strengths, meta.strengths)
        assert ds.meta.categorical["shape"].class_names == ["boot", "pump", "flat"]
        assert ds.meta.identity_names == ["w", "x", "y", "z"]
        np.testing.assert_allclose(ds.meta.arrays["feat"], meta.arrays["feat"])
        for name, col in meta.pairs.columns().items():
            np.testing.assert_array_equal(getattr(ds.pairs(), name), col)
        np.testing.assert_array_equal(ds.pairs("alt").split, 1 - meta.pairs.split)
        assert ds.protocol_names() == ["default", "alt"]
        s = ds.summary()
        assert s["images"] == 40 and s["pairs"] == 30
        assert sum(sum(v for k, v in c.items() if k in ("train", "test")) for c in s["pairs_per_attribute"].values()) == 30


def test_pair_table_where_and_enums():
    t = PairTable.build([0, 1, 2], [1, 2, 0], [0, 0, 1], [1, 0, -1], split=[0, 1, 1], group=[1, 2, 2])
    assert len(t.where(attribute=0)) == 2
    assert len(t.where(split=Split.TEST, non_equal=True)) == 1
    assert len(t.where(group=PairGroup.FINE)) == 2
    assert PairLabel.A_MORE.ranknet_target == 1.0 and PairLabel.EQUAL.ranknet_target == 0.5
    assert PairLabel.B_MORE.flipped() is PairLabel.A_MORE


def test_writer_failure_leaves_nothing(tmp_path):
    out = tmp_path / "d.h5"
    with pytest.raises(RuntimeError):
        with DatasetWriter(out, n_images=4, image_shape=(8, 8)) as w:
            w.write_images(0, np.zeros((2, 8, 8, 3), np.uint8))
            raise RuntimeError("crash while writing")
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_inconsistent_meta(tmp_path):
    images, meta = _content()
    meta.pairs.a[0] = 40  # one past the last image
    with pytest.raises(ValueError, match="indexes outside"):
        write_dataset(tmp_path / "d.h5", images, meta)
    assert list(tmp_path.iterdir()) == []


def test_existing_file_survives_failed_rewrite(tmp_path):
    images, meta = _content()
    path = write_dataset(tmp_path / "d.h5", images, meta)
    before = path.read_bytes()
    meta.strengths = meta.strengths[:3]
    with pytest.raises(ValueError):
        write_dataset(path, images, meta)
    assert path.read_bytes() == before


def test_pickle_drops_handle_and_reopens(tmp_path):
    images, meta = _content()
    ds = DatasetFile(write_dataset(tmp_path / "d.h5", images, meta))
    ds.image(0)
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._h5 is None
    np.testing.assert_array_equal(clone.image(3), images[3])


def test_dataloader_workers_read_in_parallel(tmp_path):
    torch = pytest.importorskip("torch")
    images, meta = _content(n=64)
    ds = DatasetFile(write_dataset(tmp_path / "d.h5", images, meta))
    ds.image(0)  # the parent holds an open handle before the workers fork

    class Images(torch.utils.data.Dataset):
        def __len__(self):
            return len(ds)

        def __getitem__(self, i):
            return torch.from_numpy(ds.image(i)), i

    loader = torch.utils.data.DataLoader(Images(), batch_size=8, num_workers=2)
    seen = {}
    for batch, idx in loader:
        for img, i in zip(batch, idx):
            seen[int(i)] = img.numpy()
    assert len(seen) == 64
    for i, img in seen.items():
        np.testing.assert_array_equal(img, images[i])


def test_append_pairs(tmp_path):
    images, meta = _content()
    path = write_dataset(tmp_path / "d.h5", images, meta)
    new = PairTable.build([1, 2], [3, 4], 1, [1, -1], source=PairSource.HUMAN)
    assert append_pairs(path, new) == 32
    with DatasetFile(path) as ds:
        assert len(ds.pairs()) == 32
        assert list(ds.pairs().source[-2:]) == [PairSource.HUMAN] * 2
        assert list(ds.pairs("alt").split[-2:]) == [Split.UNUSED] * 2
    before = path.read_bytes()
    for bad, kwargs in ((PairTable.build([0], [99], 0, [1]), {}),         # image out of range
                        (PairTable.build([0], [1], 5, [1]), {}),          # attribute out of range
                        (PairTable.build([0], [1], 0, [1]), {"protocol_splits": {"alt": [0, 0, 0]}})):
        with pytest.raises(DataFileError, match="unchanged"):
            append_pairs(path, bad, **kwargs)
        assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.h5"]


@pytest.mark.parametrize("damage, expected", [
    ("missing", "no such file"),
    ("text", "not an HDF5 file"),
    ("truncated", "d.h5"),
    ("foreign", "not a RelAttr dataset"),
    ("newer", "newer than this program"),
    ("no-names", "cannot read"),
    ("bad-index", "inconsistent dataset"),
    ("dangling-link", "cannot read"),  # h5py yields None for it (found by the fuzz test)
])
def test_bad_files_give_one_clear_message(tmp_path, damage, expected):
    images, meta = _content()
    path = write_dataset(tmp_path / "d.h5", images, meta)
    if damage == "missing":
        path.unlink()
    elif damage == "text":
        path.write_text("a,b,label\n1,2,1\n")
    elif damage == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    else:
        with h5py.File(path, "r+") as h5:
            if damage == "foreign":
                h5.attrs["format"] = "something-else"
            elif damage == "newer":
                h5.attrs["format_version"] = 99
            elif damage == "no-names":
                del h5["attributes/names"]
            elif damage == "bad-index":
                h5["pairs/b"][0] = 10_000
            elif damage == "dangling-link":
                h5["protocols/broken"] = h5py.SoftLink("/nowhere")
    with pytest.raises(DataFileError) as info:
        DatasetFile(path).images(range(len(images)))
    assert "d.h5" in str(info.value) and expected in str(info.value)
