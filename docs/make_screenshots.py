"""Make the Train, Inspect and Explore screenshots in docs/ again, under a real X server.

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python docs/make_screenshots.py

(without a DISPLAY the script starts itself under ``xvfb-run`` like that). Everything it writes
except the pictures goes to a temporary folder (``RELATTR_DATA_DIR`` and ``RELATTR_CONFIG_DIR``
point there), or to ``--work DIR``, where a second run reuses the dataset and checkpoints.

It draws toy-faces (300 images, seed 0) and trains a small-cnn RankNet, DeepSTN and DACRL on
``smiling`` with the CLI (``--threads 1``), then opens the real main window (1360 x 860), as
``relattr-studio`` does, and grabs it:

- screenshot-train-view.png: a RankNet run from the Train view, about half-way;
- screenshot-train-ranksvm.png: the Train view after a RankSVM run, its results table filled;
- screenshot-inspect-view.png: Inspect on the RankNet checkpoint (strip, histogram, a pair with
  saliency, t-SNE);
- screenshot-inspect-deepstn.png / -dacrl.png: Inspect on DeepSTN (crop boxes) and DACRL (channel
  attention);
- explore.png: the Explore view on the shipped toy-faces generator (or, where none is installed,
  the procedural stand-in generator, which the view's header names), a strip along ``smiling``,
  and semantic-jitter pairs just queued for labeling;
- screenshot-train-generator.png: the Train-a-generator dialog over the window, a real run on
  the 300 toy faces 55 steps in (then cancelled);
- screenshot-labeling-queue.png: Label pairs right after Explore queued 20 pairs (needs the
  explore shot): the queue count, a generated pair from the queue, a few judged;
- screenshot-train-on-labels.png: those 20 pairs judged, then a RankNet trained from the Train
  view on "My labels", its log saying how many generated pairs it trained on.

Torch runs with one thread (the training child inherits ``OMP_NUM_THREADS=1``). A few minutes
on two busy CPU cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
SIZE = (1360, 860)
ATTRIBUTE = "smiling"
NEURAL = {"ranknet": 150, "deepstn": 100, "dacrl": 100}  # ranker -> CLI training steps
SHOTS = ("train", "ranksvm", "inspect", "deepstn", "dacrl", "explore", "generator", "labeling", "labels")


def _parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=None, help="folder for the dataset, checkpoints and app data "
                   "(kept; reused by the next run); default: a temporary folder, removed at the end")
    p.add_argument("--out", type=Path, default=DOCS, help="where the PNGs go (default: docs/)")
    p.add_argument("--only", default=",".join(SHOTS), help=f"comma-separated subset of {', '.join(SHOTS)}")
    return p.parse_args(argv)


def _under_xvfb() -> None:
    """Re-run this script under xvfb-run when there is no X display (and xvfb-run exists)."""
    if os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        return
    xvfb = shutil.which("xvfb-run")
    if xvfb is None:
        sys.exit("No X display: install xvfb (apt-get install -y xvfb) or run under an X server.")
    os.execv(xvfb, [xvfb, "-a", "-s", f"-screen 0 {SIZE[0] + 40}x{SIZE[1] + 40}x24",
                    sys.executable, *sys.argv])


def relattr(*args: str) -> None:
    """The ``relattr`` CLI, in a child process."""
    subprocess.run([sys.executable, "-c", "import sys; from relattr_studio.cli import main; sys.exit(main())",
                    *args], check=True)


def prepare(work: Path, rankers) -> dict[str, Path]:
    """The dataset where the app looks for its default one, and a checkpoint of each of ``rankers``."""
    from relattr_studio.core.paths import default_dataset_path

    dataset = default_dataset_path()
    if not dataset.exists():
        relattr("make", "toy-faces", str(dataset), "--n", "300", "--seed", "0", "--quiet")
    checkpoints = {}
    for ranker in rankers:
        steps = NEURAL[ranker]
        out = work / "runs" / ranker
        ckpt = out / f"{ranker}-small-cnn-{ATTRIBUTE}-seed0.ckpt"
        if not ckpt.exists():
            print(f"training {ranker} ({steps} steps)…", flush=True)
            relattr("train", "--dataset", str(dataset), "--ranker", ranker, "--backbone", "small-cnn",
                    "--attribute", ATTRIBUTE, "--steps", str(steps), "--threads", "1", "--device", "cpu",
                    "--out", str(out), "--quiet")
        checkpoints[ranker] = ckpt
    return checkpoints


class Shooter:
    """Drives the real main window and saves ``QWidget.grab()`` of it."""

    def __init__(self, out: Path):
        from PySide6.QtWidgets import QApplication

        from relattr_studio.gui.main_window import MainWindow

        sys.setswitchinterval(0.0005)  # as app.main does
        self.app = QApplication.instance() or QApplication(sys.argv[:1])
        self.app.setApplicationName("RelAttr Studio")
        self.out = out
        self.window = MainWindow()
        self.window.confirm_quit = lambda work: True  # never a modal question under Xvfb
        self.window.resize(*SIZE)
        self.window.show()
        self.settle(0.3)
        self.window.start()  # opens the default dataset, as the app does after its first paint
        self.wait(lambda: self.window.session.dataset is not None, 60, "the dataset to open")
        self.settle(0.5)

    def settle(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.app.processEvents()
            time.sleep(0.01)

    def wait(self, condition, timeout: float, what: str) -> None:
        end = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > end:
                raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f} s")
            self.app.processEvents()
            time.sleep(0.02)

    def tab(self, key: str):
        titles = {"train": "Train", "inspect": "Inspect", "explore": "Explore", "labeling": "Label pairs"}
        tabs = self.window.tabs
        tabs.setCurrentIndex([tabs.tabText(i) for i in range(tabs.count())].index(titles[key]))
        view = self.window.views[key]
        view = view.view() if hasattr(view, "view") else view
        self.settle(0.5)
        return view

    def save(self, name: str) -> None:
        self.settle(0.4)
        path = self.out / name
        if not self.window.grab().save(str(path)):
            raise OSError(f"could not write {path}")
        print(f"wrote {path}", flush=True)

    # -- the pictures ------------------------------------------------------------------------

    def small_ranknet(self, *, epochs: float):
        """The Train view set for a small-cnn RankNet on ATTRIBUTE, on the CPU."""
        view = self.tab("train")
        form = view.form
        form.ranker.setCurrentText("ranknet")
        form.backbone.setCurrentText("small-cnn")
        form.set_checked([ATTRIBUTE])
        form.epochs.setValue(epochs)
        form.device.setCurrentText("cpu")
        return view

    def train_ranknet(self) -> None:
        view = self.small_ranknet(epochs=2.0)
        assert view.start(), "the Train view did not start"
        # about half-way, with a few validations on the accuracy plot
        self.wait(lambda: view.progress.maximum() == 1000 and view.progress.value() >= 550
                  and view.curves.points("val_acc") >= 1, 900, "the RankNet run to get half-way")
        view.curves.limiter.flush()
        self.save("screenshot-train-view.png")
        view.cancel()
        self.wait(lambda: not view.runner.running, 120, "the RankNet run to stop")

    def train_ranksvm(self) -> None:
        view = self.tab("train")
        form = view.form
        form.ranker.setCurrentText("ranksvm")
        form.set_checked(["bald", "big_eyes", "masculine", "smiling", "young"])
        form.seed.setValue(0)
        form.seeds.setValue(2)
        assert view.start(), "the Train view did not start RankSVM"
        self.wait(lambda: not view.runner.running, 900, "the RankSVM run to finish")
        self.save("screenshot-train-ranksvm.png")
        form.ranker.setCurrentText("ranknet")

    def inspect(self, checkpoint: Path, name: str, *, tsne: bool) -> None:
        view = self.tab("inspect")
        assert view.load_checkpoint(checkpoint, device="cpu"), "Inspect did not start loading"
        self.wait(lambda: not view.runner.running, 300, f"{checkpoint.name} to load")
        assert view.analysis is not None, view.progress.format()
        view.attribute.setCurrentText(ATTRIBUTE)
        if tsne:
            assert view.compute_tsne()
            self.wait(lambda: not view.runner.running, 300, "t-SNE")
        order = view.thumbs.order
        view.strip.scrollToTop()
        view.pick(int(order[3]))  # a strong and a weak one: the pair the saliency explains
        view.pick(int(order[-4]))
        self.wait(lambda: view.pair_panel.shown == (int(order[3]), int(order[-4])), 120, "the pair's saliency")
        self.save(name)

    def explore(self) -> None:
        view = self.tab("explore")  # loads the shipped toy-faces generator, where there is one
        self.wait(lambda: not view.runner.running, 300, "the generator to load")
        if self.window.session.generator is None:
            from relattr_studio.modeling.procedural_generator import ProceduralGenerator

            print("no shipped generator: the Explore shot uses the procedural stand-in", flush=True)
            view.set_generator(ProceduralGenerator("toy-faces"))
        view.seed.setValue(3)
        names = view.sliders.names
        for name, sigmas in (("smiling", 1.0), ("young", 1.2), ("dark_hair", 0.8), ("big_eyes", 0.6)):
            if name in names:
                k = names.index(name)
                view.sliders.sliders[k].setValue(view.sliders.position(k, view.prior.mean[k]
                                                                       + sigmas * view.prior.sigma[k]))
        if ATTRIBUTE in names:
            view.attribute_box.setCurrentText(ATTRIBUTE)
        view.request_strip()
        view.pair_count.setValue(20)
        assert view.make_pairs(), view.pairs_note.text()
        self.wait(lambda: not view.runner.running and not view.live.pending(), 300, "the pairs and the strip")
        self.save("explore.png")

    def train_generator(self) -> None:
        view = self.tab("explore")
        self.wait(lambda: not view.runner.running, 300, "the generator to load")
        dialog = view.open_train_dialog()
        dialog.out.setText(str(Path(os.environ["RELATTR_DATA_DIR"]) / "generators" / "toy-faces-generator.pt"))
        steps = []
        dialog.runner.progress.connect(lambda p: p.stage == "training" and steps.append(p.done))
        assert dialog.start(), dialog.note.text()
        self.wait(lambda: steps and steps[-1] >= 55 and "step" in dialog.metrics.text(), 600, "55 training steps")
        self.settle(0.3)
        path = self.out / "screenshot-train-generator.png"
        if not dialog.grab().save(str(path)):
            raise OSError(f"could not write {path}")
        print(f"wrote {path}", flush=True)
        dialog.cancel()
        self.wait(lambda: not dialog.runner.running, 120, "the generator run to stop")
        dialog.close()

    def label_queue(self) -> None:
        """Label pairs with the queue Explore just filled: a few judged, the count going down."""
        view = self.tab("labeling")
        self.wait(lambda: view.current is not None, 60, "a pair to label")
        if view.current.task.origin != "queue":
            view.judge("left-more")  # the dataset pair shown before the queue filled
        for verdict in ("left-more", "right-more", "left-more"):
            view.set_confidence(3 if verdict == "left-more" else 2)
            view.judge(verdict)
        self.settle(0.5)
        self.save("screenshot-labeling-queue.png")

    def train_on_labels(self) -> None:
        """Judge the rest of the queue, then train on "My labels" from the Train view."""
        from relattr_studio.gui.train_view import MY_LABELS

        labeling = self.tab("labeling")
        while labeling.current is not None and labeling.current.task.origin == "queue":
            labeling.judge("left-more" if labeling.current.task.left_is_a else "right-more")
            self.app.processEvents()
        view = self.small_ranknet(epochs=20.0)
        view.train_on.setCurrentIndex(view.train_on.findData(MY_LABELS))
        assert view.start(), "the Train view did not start on my labels"
        self.wait(lambda: not view.runner.running, 900, "the run on my labels to finish")
        view.bottom_tabs.setCurrentWidget(view.log)
        view.log.verticalScrollBar().setValue(0)  # the top: what the run trained on
        self.save("screenshot-train-on-labels.png")

    def close(self) -> None:
        self.window.close()
        self.settle(0.2)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SHOTS))
    if unknown:
        sys.exit(f"unknown screenshot(s) {', '.join(unknown)}; choose from {', '.join(SHOTS)}")
    _under_xvfb()
    work = args.work or Path(tempfile.mkdtemp(prefix="relattr-screenshots-"))
    work.mkdir(parents=True, exist_ok=True)
    # nothing of the user's is read or written: data, settings and runs live in ``work``
    os.environ["RELATTR_DATA_DIR"] = str(work / "data")
    os.environ["RELATTR_CONFIG_DIR"] = str(work / "config")
    os.environ["RELATTR_STUDIO_TOY_N"] = "300"
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # the training child inherits these
        os.environ[var] = "1"
    try:
        inspected = {"inspect": "ranknet", "deepstn": "deepstn", "dacrl": "dacrl"}
        checkpoints = prepare(work, [inspected[s] for s in only if s in inspected])
        import torch

        torch.set_num_threads(1)  # Inspect's jobs run in this process
        shooter = Shooter(args.out)
        try:
            if "train" in only:
                shooter.train_ranknet()
            if "ranksvm" in only:
                shooter.train_ranksvm()
            if "inspect" in only:
                shooter.inspect(checkpoints["ranknet"], "screenshot-inspect-view.png", tsne=True)
            if "deepstn" in only:
                shooter.inspect(checkpoints["deepstn"], "screenshot-inspect-deepstn.png", tsne=False)
            if "dacrl" in only:
                shooter.inspect(checkpoints["dacrl"], "screenshot-inspect-dacrl.png", tsne=False)
            if "explore" in only:
                shooter.explore()
            if "labeling" in only:
                shooter.label_queue()
            if "labels" in only:
                shooter.train_on_labels()
            if "generator" in only:
                shooter.train_generator()
        finally:
            shooter.close()
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
