"""Explore view: sliders drive the image, strips, PNG export, pairs into the labeling queue."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from relattr_studio.gui.explore_view import ExploreView

NAMES = ("smiling", "young", "bald")


class PaintedGenerator:
    """A cheap generator: y painted into the top-left pixels (channel 0), z into channel 1."""

    def __init__(self, size=16):
        self.attributes = list(NAMES)
        self.prior_mean = np.array([0.5, 0.4, 0.3])
        self.prior_cov = np.diag([0.04, 0.01, 0.09])
        self.z_dim, self.image_size = 4, size
        self.generator_id = "painted-test-gen"
        self.rows = 0

    def generate(self, y, z):
        self.rows += len(y)
        y, z = np.asarray(y, np.float64), np.asarray(z, np.float64)
        img = np.full((len(y), self.image_size, self.image_size, 3), 60, np.uint8)
        img[:, 0, : y.shape[1], 0] = np.clip(np.round(y * 100 + 100), 0, 255)
        img[:, 1:, :, 1] = np.clip(np.round(z[:, :1, None] * 20 + 128), 0, 255)
        return img


def painted_y(image: np.ndarray) -> np.ndarray:
    return (image[0, : len(NAMES), 0].astype(np.float64) - 100) / 100


@pytest.fixture
def gen():
    return PaintedGenerator()


@pytest.fixture
def view(qtbot, session, gen):
    session.set_generator(gen)
    v = ExploreView(session, autoload=False)
    qtbot.addWidget(v)
    v.resize(1200, 800)
    v.show()
    qtbot.waitUntil(lambda: v.image is not None and v.strip.count() == 9, timeout=10_000)
    yield v
    v.shutdown()


def test_sliders_cover_the_prior_and_moving_one_changes_the_image(qtbot, view, gen):
    assert view.sliders.names == list(NAMES)
    assert np.allclose(painted_y(view.image), gen.prior_mean, atol=0.011)  # starts at the prior mean
    lo, hi = view.sliders._to_value(1, 0), view.sliders._to_value(1, 1000)
    assert (lo, hi) == pytest.approx((0.4 - 3 * 0.1, 0.4 + 3 * 0.1))
    before = view.image.copy()
    view.sliders.sliders[1].setValue(900)
    qtbot.waitUntil(lambda: not np.array_equal(view.image, before), timeout=10_000)
    assert painted_y(view.image)[1] == pytest.approx(view.sliders.value(1), abs=0.011)
    assert view.canvas.pixmap().width() == gen.image_size
    assert view.sliders.value_labels[1].text().endswith("(+2.4σ)")


def test_only_the_newest_request_is_painted(qtbot, view, gen):
    """A burst of moves: the last one is on screen at the end, and results never go back in time."""
    shown = []
    view.live.ready.connect(lambda out: shown.append(out.tag))
    slider = view.sliders.sliders[0]
    for pos in range(0, 1000, 25):
        slider.setValue(pos)
    last = view.live._issued["image"]
    qtbot.waitUntil(lambda: not view.live.pending("image"), timeout=10_000)
    image_tags = [t for t in shown if t <= last]
    assert image_tags[-1] == last and image_tags == sorted(image_tags)
    assert painted_y(view.image)[0] == pytest.approx(view.sliders.value(0), abs=0.011)


def test_seed_reroll_and_new_identity(qtbot, view, gen):
    z0 = view.z.copy()
    before = view.image.copy()
    view.reroll()
    assert not np.array_equal(view.z, z0)
    qtbot.waitUntil(lambda: not np.array_equal(view.image, before), timeout=10_000)
    assert np.array_equal(view.image[0, :3], before[0, :3])  # same strengths, another z
    y0 = view.sliders.values()
    view.new_identity()
    assert not np.allclose(view.sliders.values(), y0)
    view.seed.setValue(7)
    assert np.allclose(view.z, np.random.default_rng(7).standard_normal(4))


def test_strip_has_n_images_along_the_attribute_and_exports_a_png(qtbot, view, gen, tmp_path):
    view.attribute_box.setCurrentText("bald")
    view.steps.setValue(5)
    view.span.setValue(1.0)
    qtbot.waitUntil(lambda: view.strip.count() == 5 and len(view.strip_images) == 5, timeout=10_000)
    qtbot.waitUntil(lambda: not view.live.pending(), timeout=10_000)
    ys = np.array([painted_y(img) for img in view.strip_images])
    assert np.allclose(ys[:, 2], 0.3 + np.linspace(-0.3, 0.3, 5), atol=0.011)  # +-1 sigma of bald
    assert np.allclose(ys[:, :2], ys[0, :2])  # the other attributes stay
    out = view.export_strip(tmp_path / "strip.png")
    with Image.open(out) as png:
        assert png.size == (5 * gen.image_size, gen.image_size)
        assert np.array_equal(np.asarray(png.convert("RGB"))[:, : gen.image_size], view.strip_images[0])


def test_a_strip_around_the_image_on_screen_reuses_it(qtbot, view, gen):
    qtbot.waitUntil(lambda: not view.live.pending(), timeout=10_000)
    before = gen.rows
    view.request_strip()  # 9 steps: the middle one is the image on screen
    qtbot.waitUntil(lambda: not view.live.pending(), timeout=10_000)
    assert gen.rows - before == 8
    assert np.array_equal(view.strip_images[4], view.image)
    view.steps.setValue(8)  # no step at the image itself
    qtbot.waitUntil(lambda: not view.live.pending() and view.strip.count() == 8, timeout=10_000)
    assert gen.rows - before == 8 + 8


def test_clicking_a_strip_image_moves_its_slider(qtbot, view):
    from PySide6.QtCore import Qt

    view.attribute_box.setCurrentText("young")
    qtbot.waitUntil(lambda: not view.live.pending() and view.strip.count() == 9, timeout=10_000)
    cell = view.strip._cells()[8]  # +2 sigma
    qtbot.mouseClick(view.strip, Qt.MouseButton.LeftButton, pos=cell.center().toPoint())
    assert view.sliders.value(1) == pytest.approx(0.4 + 2 * 0.1, abs=0.002)


def test_pairs_go_to_the_queue_and_their_labels_keep_pixels_latents_and_generator(qtbot, view, session, gen):
    from relattr_studio.data.label_store import GeneratedPair, LabelStore
    from relattr_studio.gui.labeling_view import LabelingView

    queued = []
    session.events.queue_changed.connect(queued.append)
    view.attribute_box.setCurrentText("smiling")
    assert view.make_pairs(6, "both")
    qtbot.waitUntil(lambda: not view.runner.running, timeout=10_000)
    store = session.label_store
    assert queued == [6] and store.pending_count("smiling") == 6
    assert "Queued 6" in view.pairs_note.text()
    pending = store.pending("smiling")
    assert {p.origin for p in pending} == {"explore intra", "explore inter"}

    labeling = LabelingView(session, seed=3)
    qtbot.addWidget(labeling)
    labeling.show()
    task = labeling.current.task
    assert task.origin == "queue" and isinstance(task.pair, GeneratedPair)
    assert "painted-test-gen" in labeling.detail.text()
    shown_pair = task.pair
    labeling.judge("left-more")
    labeling.shutdown()

    path = store.path
    session.set_label_store(None)  # closes it
    with LabelStore(path) as reopened:
        (rec,) = reopened.judgements()
        assert rec.attribute == "smiling" and rec.left_is_a == task.left_is_a
        back = reopened.with_pixels(rec.pair)
        for img, original in ((back.a, shown_pair.a), (back.b, shown_pair.b)):
            assert img.model_id == "painted-test-gen"
            assert np.array_equal(img.pixels, original.pixels)
            assert img.y == original.y and img.z == original.z
            assert len(img.y) == 3 and len(img.z) == 4
            # the stored pixels are what the generator makes of the stored latents
            assert np.array_equal(img.pixels, gen.generate(np.array([img.y]), np.array([img.z]))[0])
        assert abs(back.a.y[0] - back.b.y[0]) == pytest.approx(2 * 0.2, abs=1e-5)  # +-2 sigma apart


def test_without_a_label_store_it_says_so(qtbot, view, session):
    session.set_label_store(None)
    assert not view.pairs_button.isEnabled()
    assert "No label store is open" in view.pairs_note.text()
    assert not view.make_pairs(3)
    assert "No label store is open" in view.pairs_note.text()


def test_no_generator_and_a_failing_generator_are_messages(qtbot, session):
    v = ExploreView(session, autoload=False)
    qtbot.addWidget(v)
    assert "No generator loaded" in v.info.text() and not v.reroll_button.isEnabled()

    class Broken(PaintedGenerator):
        def generate(self, y, z):
            raise ValueError("decoder exploded")

    session.set_generator(Broken())
    qtbot.waitUntil(lambda: "decoder exploded" in v.info.text(), timeout=10_000)
    v.shutdown()


def test_a_bad_generator_file_is_a_message(qtbot, session, tmp_path):
    pytest.importorskip("relattr_studio.modeling.generator")
    bad = tmp_path / "not-a-model.pt"
    bad.write_bytes(b"nonsense" * 10)
    v = ExploreView(session, autoload=False)
    qtbot.addWidget(v)
    assert v.load_generator(bad)
    qtbot.waitUntil(lambda: not v.runner.running, timeout=30_000)
    assert "not-a-model.pt" in v.info.text() and session.generator is None
    assert "Traceback" not in v.info.text()
    v.shutdown()


def test_a_slider_move_does_not_wait_for_a_whole_strip(qtbot, session):
    """The strip is made a few images at a time: a live image asked for meanwhile comes first."""
    import time

    from relattr_studio.gui.explore_pairs import STRIP_PART

    class Slow(PaintedGenerator):
        def generate(self, y, z):
            time.sleep(0.03)
            return super().generate(y, z)

    session.set_generator(Slow())
    v = ExploreView(session, autoload=False)
    qtbot.addWidget(v)
    qtbot.waitUntil(lambda: not v.live.pending(), timeout=10_000)
    order = []
    v.live.ready.connect(lambda out: order.append((out.kind, len(out.images))))
    v.steps.setValue(4 * STRIP_PART)  # asks for a strip of 4 parts
    qtbot.wait(10)
    v.sliders.sliders[0].setValue(10)  # asks for an image while the strip is being made
    qtbot.waitUntil(lambda: not v.live.pending(), timeout=10_000)
    assert order[:2] == [("image", 1), ("strip", 4 * STRIP_PART)]  # (then the strip of the new value)
    v.shutdown()


def test_procedural_stand_in_generator():
    from relattr_studio.modeling.procedural_generator import ProceduralGenerator

    gen = ProceduralGenerator("toy-shoes", z_dim=3, pool=16)
    assert gen.attributes[0] == "open" and gen.prior_cov.shape == (6, 6)
    z = np.random.default_rng(0).standard_normal((2, 3))
    y = np.repeat(gen.prior_mean[None], 2, axis=0)
    a = gen.generate(y, z[[0, 0]])
    assert a.shape == (2, 64, 64, 3) and np.array_equal(a[0], a[1])  # one z, one look
    y[1, 0] = 1.0
    b = gen.generate(y, z[[0, 0]])
    assert np.array_equal(b[0], a[0]) and not np.array_equal(b[1], a[1])


def test_main_window_has_a_lazy_explore_tab(qtbot, session, gen):
    from relattr_studio.gui.main_window import MainWindow

    session.set_generator(gen)  # no shipped model is loaded when one is there already
    window = MainWindow(session)
    qtbot.addWidget(window)
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert "Explore" in titles and not window.views["explore"].built
    window.show()
    window.tabs.setCurrentIndex(titles.index("Explore"))
    qtbot.waitUntil(lambda: window.views["explore"].built, timeout=10_000)
    view = window.views["explore"].view()
    assert isinstance(view, ExploreView) and view.sliders.names == list(NAMES)
    qtbot.waitUntil(lambda: view.image is not None, timeout=10_000)
    window.close()
