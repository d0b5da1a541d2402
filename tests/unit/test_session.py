"""The session: typed slots, events with the payloads they document, resets on a new dataset."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from relattr_studio.core.protocols import DatasetLike, GalleryLike, GeneratorLike, LabelStoreLike, RankerRef
from relattr_studio.core.session import Session, SessionEvents


class FakeDataset:
    """The least a dataset must offer the session (DatasetLike)."""

    def __init__(self, path: str, attributes: list[str], n: int = 4):
        self.path = Path(path)
        self.name = Path(path).stem
        self.attribute_names = list(attributes)
        self.image_names = [f"{i}.png" for i in range(n)]
        self.strengths = None
        self.meta = None
        self.image_shape = (8, 8)
        self._n = n
        self.closed = False

    def __len__(self) -> int:
        return self._n

    def attribute_index(self, name: str) -> int:
        return self.attribute_names.index(name)

    def image(self, index: int) -> np.ndarray:
        return np.zeros((8, 8, 3), np.uint8)

    def pairs(self):
        return None

    def close(self) -> None:
        self.closed = True


class FakeGallery:
    def __init__(self, dataset_path: Path):
        self.dataset_path = dataset_path

    def __len__(self) -> int:
        return 4

    def search(self, query, k):
        return np.arange(k), np.ones(k)


@pytest.fixture
def recorded():
    """A session and every event it fires, as (name, payload) in order."""
    session = Session()
    fired: list[tuple[str, object]] = []
    for name in SessionEvents.PAYLOADS:
        getattr(session.events, name).connect(lambda payload, name=name: fired.append((name, payload)))
    return session, fired


def _check_types(fired):
    for name, payload in fired:
        assert isinstance(payload, SessionEvents.PAYLOADS[name]), (name, payload)


def test_every_event_fires_once_with_its_documented_payload_type(recorded, tmp_path, toy240):
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.data.label_store import LabelStore
    from relattr_studio.modeling.procedural_generator import ProceduralGenerator

    session, fired = recorded
    ds = DatasetFile(toy240)
    store = LabelStore(tmp_path / "labels.sqlite", annotator="t")
    generator = ProceduralGenerator("toy-faces", pool=16)
    ref = RankerRef.describe(tmp_path / "r.ckpt", ranker="ranknet", backbone="small-cnn",
                             test_accuracy={"smiling": 90.0, "young": 80.0}, origin="trained")
    session.set_dataset(ds)
    session.set_label_store(store)
    session.set_attribute(ds.attribute_names[0])
    session.select_image(3)
    session.notify_labels_changed()
    session.notify_queue_changed(20)
    session.show_status("hello")
    session.set_generator(generator)
    session.set_ranker(ref)
    assert [name for name, _ in fired] == ["dataset", "label_store", "attribute", "image_selected", "labels_changed",
                                           "queue_changed", "status", "generator", "ranker"]
    assert {name for name, _ in fired} == set(SessionEvents.PAYLOADS)  # every declared event is used
    _check_types(fired)
    assert fired[-1][1] is ref and fired[3][1] == 3 and fired[5][1] == 20
    session.close()
    _check_types(fired)
    assert fired[-2:] == [("label_store", None), ("dataset", None)]


def test_the_real_classes_satisfy_the_protocols(tmp_path, toy240):
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.data.label_store import LabelStore
    from relattr_studio.modeling.procedural_generator import ProceduralGenerator

    with DatasetFile(toy240) as ds:
        assert isinstance(ds, DatasetLike)
    store = LabelStore(tmp_path / "labels.sqlite", annotator="t")
    assert isinstance(store, LabelStoreLike)
    store.close()
    assert isinstance(ProceduralGenerator("toy-faces", pool=16), GeneratorLike)
    assert isinstance(FakeGallery(tmp_path), GalleryLike)
    # and what does not offer them is not taken for one
    assert not isinstance(object(), DatasetLike) and not isinstance("labels.sqlite", LabelStoreLike)


def test_a_trained_generator_satisfies_the_generator_protocol():
    pytest.importorskip("torch")
    from relattr_studio.modeling.generator import AttributeGenerator

    assert isinstance(AttributeGenerator(["a", "b"], z_dim=2, image_size=16, width=4, hidden=8), GeneratorLike)


def test_set_dataset_resets_selection_and_an_attribute_it_lacks(recorded):
    session, fired = recorded
    a = FakeDataset("/d/a.h5", ["smiling", "young"])
    b = FakeDataset("/d/b.h5", ["young", "open"])
    session.set_dataset(a)
    session.set_attribute("smiling")
    session.select_image(2)
    fired.clear()
    session.set_dataset(b)
    assert session.selected_image is None and session.attribute is None
    assert fired == [("dataset", b)]  # one event: a view resets on it
    assert a.closed and not b.closed  # the old one is closed after its listeners saw the new one
    # an attribute both have is kept
    session.set_attribute("young")
    session.set_dataset(FakeDataset("/d/c.h5", ["young"]))
    assert session.attribute == "young"
    with pytest.raises(ValueError, match="no attribute 'smiling'"):
        session.set_attribute("smiling")


def test_setting_what_is_there_fires_nothing(recorded):
    session, fired = recorded
    a = FakeDataset("/d/a.h5", ["smiling"])
    ref = RankerRef("/r/x.ckpt", "ranknet")
    for _ in range(2):
        session.set_dataset(a)
        session.select_image(1)
        session.set_ranker(ref)
    session.set_ranker(RankerRef("/r/x.ckpt", "ranknet"))  # an equal reference is the same ranker
    assert [name for name, _ in fired] == ["dataset", "image_selected", "ranker"]


def test_the_ranker_slot_outlives_a_dataset_change(recorded):
    session, fired = recorded
    session.set_dataset(FakeDataset("/d/a.h5", ["smiling"]))
    ref = RankerRef.describe("/runs/1/ranknet.ckpt", ranker="ranknet", backbone="small-cnn",
                             test_accuracy={"smiling": 91.0, "young": 85.0}, origin="trained")
    session.set_ranker(ref)
    session.set_dataset(FakeDataset("/d/b.h5", ["smiling"]))
    assert session.ranker is ref
    session.set_ranker(None)
    assert session.ranker is None and fired[-1] == ("ranker", None)
    _check_types(fired)


def test_a_ranker_reference_says_what_it_is():
    ref = RankerRef.describe(Path("/runs/1/ranknet.ckpt"), ranker="ranknet", backbone="small-cnn",
                             test_accuracy={"smiling": 91.0, "young": 85.0}, origin="trained")
    assert ref.path == "/runs/1/ranknet.ckpt" and ref.name == "ranknet.ckpt"
    assert ref.attributes == ("smiling", "young") and ref.accuracy == pytest.approx(88.0)
    assert ref.title() == "ranknet on small-cnn" and ref.origin == "trained"
    assert ref.same_file("/runs/1/../1/ranknet.ckpt") and not ref.same_file("/runs/2/ranknet.ckpt")
    assert not ref.same_file(None)
    bare = RankerRef.describe("/x/y.ckpt")
    assert bare.accuracy is None and bare.attributes == () and bare.title() == "y.ckpt"
    with pytest.raises(AttributeError):
        ref.path = "/elsewhere"  # plain, frozen data: safe to hand to any view or thread


def test_the_gallery_belongs_to_the_open_dataset():
    session = Session()
    a, b = FakeDataset("/d/a.h5", ["x"]), FakeDataset("/d/b.h5", ["x"])
    with pytest.raises(ValueError, match="not the open dataset"):
        session.set_gallery(FakeGallery(a.path))  # no dataset open
    session.set_dataset(a)
    with pytest.raises(ValueError, match="not the open dataset"):
        session.set_gallery(FakeGallery(b.path))
    gallery = FakeGallery(a.path)
    session.set_gallery(gallery)
    assert session.gallery is gallery
    session.set_dataset(FakeDataset("/d/a.h5", ["x"]))  # the same file opened again: still its images
    assert session.gallery is gallery
    session.set_dataset(b)
    assert session.gallery is None


def test_the_session_imports_neither_qt_nor_torch_nor_the_data_layer():
    code = ("import sys, relattr_studio.core.session, relattr_studio.core.protocols; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph', 'torch', "
            "'numpy', 'h5py') or m.startswith(('relattr_studio.data', 'relattr_studio.modeling'))]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
