"""Fixtures for engine tests: one torch thread, a tiny toy-faces dataset shared by modules."""

from __future__ import annotations

import pytest


@pytest.fixture
def one_torch_thread():
    """Tiny tensors: one intra-op thread is as fast, and on a busy shared CPU far faster (no
    OpenMP threads spinning against other processes). Use with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def toy240(tmp_path_factory):
    """240 toy faces at 32 px (seed 0), made once per test session."""
    from relattr_studio.data.procedural import make_toy_faces

    return make_toy_faces(tmp_path_factory.mktemp("toy") / "toy.h5", n=240, seed=0, size=32)
