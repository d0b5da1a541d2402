"""The Explore view's plain work, without Qt: semantic-jitter pairs from a generator for the
labeling queue, the procedural stand-in generator, spectrum strips as PNG."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from relattr_studio.analysis.generated_pairs import (
    ORIGIN, LockedGenerator, generator_id, make_explore_pairs, queue_pairs,
)
from relattr_studio.analysis.spectrum_strip import save_strip_png, strip_image
from relattr_studio.core.errors import DataFileError, RelAttrError
from relattr_studio.core.jobs import NULL_CONTEXT
from relattr_studio.modeling.procedural_generator import ProceduralGenerator


@pytest.fixture(scope="module")
def generator():
    return ProceduralGenerator("toy-faces", z_dim=3, pool=16)


def test_pairs_differ_on_their_attribute_and_carry_their_latents(generator):
    k = generator.attributes.index("smiling")
    made = make_explore_pairs(ctx=NULL_CONTEXT, generator=LockedGenerator(generator), attribute="smiling",
                              n_pairs=6, kind="both", seed=3, batch_size=4)
    assert len(made) == 6 and made.model_id == "procedural-toy-faces" == generator_id(generator)
    assert sorted(made.kinds) == ["inter"] * 3 + ["intra"] * 3
    for pair, kind in zip(made.pairs, made.kinds):
        a, b = pair.a, pair.b
        assert a.pixels.shape == b.pixels.shape == (64, 64, 3)
        assert a.y[k] != b.y[k]
        if kind == "intra":  # one identity: the same look, the others strengths equal
            assert np.array_equal(a.z, b.z)
            assert np.allclose(np.delete(a.y, k), np.delete(b.y, k))
    again = make_explore_pairs(ctx=NULL_CONTEXT, generator=generator, attribute="smiling", n_pairs=6, seed=3)
    assert all(np.array_equal(p.a.pixels, q.a.pixels) for p, q in zip(made.pairs, again.pairs))


def test_refusals_are_messages(generator):
    with pytest.raises(RelAttrError, match="pair kind"):
        make_explore_pairs(ctx=NULL_CONTEXT, generator=generator, attribute="smiling", n_pairs=2, kind="odd")
    with pytest.raises(RelAttrError, match="no model id"):
        generator_id(object())
    with pytest.raises(RelAttrError, match="no procedural dataset"):
        ProceduralGenerator("toy-cars")


def test_queue_pairs_makes_one_batch_whose_entries_keep_their_kind(generator, tmp_path):
    from relattr_studio.data.label_store import LabelStore

    made = make_explore_pairs(ctx=NULL_CONTEXT, generator=generator, attribute="young", n_pairs=5, kind="both")
    with LabelStore(tmp_path / "labels.sqlite") as store:
        ids = queue_pairs(store, made)
        assert len(ids) == 5
        (batch,) = store.batches()
        assert (batch.name, batch.origin, batch.total, batch.pending) == (f"{ORIGIN}: 5 young pairs", ORIGIN, 5, 5)
        assert batch.details["generator"] == made.model_id
        entries = store.pending(batch=batch.id)
        assert [e.id for e in entries] == ids
        assert [e.origin for e in entries] == [f"{ORIGIN} {k}" for k in made.kinds]
        assert [e.pair for e in entries] == made.pairs


def test_strip_is_the_images_side_by_side_and_saves_as_png(tmp_path, generator):
    y = np.tile(generator.prior_mean, (3, 1))
    images = generator.generate(y, np.zeros((3, 3)))
    strip = strip_image(images)
    assert strip.shape == (64, 192, 3) and np.array_equal(strip[:, 64:128], images[1])
    path = save_strip_png(images, tmp_path / "strip.png")
    assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), strip)
    with pytest.raises(RelAttrError):
        strip_image(np.zeros((0, 8, 8, 3), np.uint8))
    with pytest.raises(DataFileError):
        save_strip_png(images, tmp_path / "missing" / "strip.png")
