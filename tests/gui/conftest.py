"""GUI test fixtures: offscreen Qt, tiny datasets, a label store in a temporary folder."""

from __future__ import annotations

import os
import shutil

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

import pytest


@pytest.fixture(scope="session")
def fake_dataset_path(tmp_path_factory):
    from relattr_studio.gui.preview_data import make_fake_dataset

    return make_fake_dataset(tmp_path_factory.mktemp("fake") / "fake.h5", n=500, n_pairs=6000)


@pytest.fixture(scope="session")
def toy_faces_path(tmp_path_factory):
    from relattr_studio.data.procedural import make_toy_faces

    return make_toy_faces(tmp_path_factory.mktemp("toy") / "toy-faces.h5", n=120)


def _open_session(dataset_path, store_path):
    from relattr_studio.core.session import Session
    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.data.label_store import LabelStore

    s = Session()
    s.set_dataset(DatasetFile(dataset_path))
    s.set_label_store(LabelStore(store_path, annotator="tester"))
    return s


@pytest.fixture
def session(fake_dataset_path, tmp_path):
    """A session on the fake dataset with a fresh label store."""
    s = _open_session(fake_dataset_path, tmp_path / "labels.sqlite")
    yield s
    s.close()


@pytest.fixture
def toy_session(toy_faces_path, tmp_path):
    """A session on 120 toy faces (with attribute strengths) with a fresh label store."""
    s = _open_session(toy_faces_path, tmp_path / "labels.sqlite")
    yield s
    s.close()


@pytest.fixture
def installed_toy_faces(toy_faces_path):
    """The small toy-faces file placed where the app looks for its default dataset."""
    from relattr_studio.core.paths import default_dataset_path

    target = default_dataset_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(toy_faces_path, target)
    return target


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, toy_faces_path):
    """An untrained small-cnn RankNet over every toy-faces attribute, saved as a checkpoint."""
    pytest.importorskip("relattr_studio.training.checkpoint")
    import torch

    from relattr_studio.data.dataset_file import DatasetFile
    from relattr_studio.modeling.rankers import RANKERS
    from relattr_studio.modeling.rankers import ranknet  # noqa: F401  (registers)
    from relattr_studio.training.checkpoint import save_checkpoint

    with DatasetFile(toy_faces_path) as ds:
        names = list(ds.attribute_names)
    torch.manual_seed(0)
    model = RANKERS.build("ranknet", attributes=names, backbone="small-cnn", backbone_options={"width": 8})
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.ckpt", model)
