"""The session: the workspace the user has open, shared by every view through events.

napari's ViewerModel in miniature. Plain Python (no Qt, no torch, no data- or modeling-layer
import at run time): views take a :class:`Session` in their constructor, read its slots, change
them through its setters and listen to ``session.events``; they never import each other.
What is loaded lives here, not in a view's attributes: the dataset, the label store, the
ranker (a :class:`~relattr_studio.core.protocols.RankerRef`), the generator and the gallery.
"""

from __future__ import annotations

from pathlib import Path
from types import NoneType
from typing import ClassVar

from relattr_studio.core.observable import Events, Signal
from relattr_studio.core.protocols import DatasetLike, GalleryLike, GeneratorLike, LabelStoreLike, RankerRef


class SessionEvents(Events):
    """The session's signals. Each callback gets one argument, of the type in ``PAYLOADS``.

    - ``dataset`` (DatasetLike | None): another dataset was opened (or closed). Before it fires
      the selection is cleared, an attribute the new dataset lacks is dropped and a gallery of
      another dataset is let go, without separate events: a view resets on ``dataset``.
    - ``label_store`` (LabelStoreLike | None): another label store was opened.
    - ``attribute`` (str | None): the attribute being looked at or labeled (None = all).
    - ``image_selected`` (int | None): an image of the dataset was selected in some view.
    - ``labels_changed`` (None): a judgement was recorded or undone.
    - ``queue_changed`` (int): that many pairs were put in the label store's labeling queue.
    - ``status`` (str): a short message for the status bar.
    - ``generator`` (GeneratorLike | None): another generator model was loaded.
    - ``ranker`` (RankerRef | None): another ranker checkpoint is the workspace's (a run
      finished, or the user opened one).

    Every signal has a listener in the window; one that loses its last listener is deleted.
    """

    PAYLOADS: ClassVar[dict[str, tuple[type, ...]]] = {
        "dataset": (DatasetLike, NoneType),
        "label_store": (LabelStoreLike, NoneType),
        "attribute": (str, NoneType),
        "image_selected": (int, NoneType),
        "labels_changed": (NoneType,),
        "queue_changed": (int,),
        "status": (str,),
        "generator": (GeneratorLike, NoneType),
        "ranker": (RankerRef, NoneType),
    }

    dataset: Signal
    label_store: Signal
    attribute: Signal
    image_selected: Signal
    labels_changed: Signal
    queue_changed: Signal
    status: Signal
    generator: Signal
    ranker: Signal

    def __init__(self) -> None:
        super().__init__(*self.PAYLOADS)


class Session:
    """The workspace: dataset, label store, ranker, generator, gallery, attribute, selection.

    Setters do nothing when given what is already there, so a listener may set a slot again
    without looping. The session is only ever changed on the GUI thread.
    """

    def __init__(self) -> None:
        self.events = SessionEvents()
        self._dataset: DatasetLike | None = None
        self._label_store: LabelStoreLike | None = None
        self._ranker: RankerRef | None = None
        self._generator: GeneratorLike | None = None
        self._gallery: GalleryLike | None = None
        self._attribute: str | None = None
        self._selected_image: int | None = None

    # -- dataset ---------------------------------------------------------------------------

    @property
    def dataset(self) -> DatasetLike | None:
        return self._dataset

    @property
    def dataset_path(self) -> Path | None:
        return None if self._dataset is None else Path(self._dataset.path)

    def set_dataset(self, dataset: DatasetLike | None) -> None:
        """Open ``dataset`` in place of the current one (which is closed after the event)."""
        if dataset is self._dataset:
            return
        old = self._dataset
        self._dataset = dataset
        self._selected_image = None  # an index into the old dataset's images
        if self._attribute is not None and (dataset is None or self._attribute not in dataset.attribute_names):
            self._attribute = None
        if self._gallery is not None and (dataset is None or Path(self._gallery.dataset_path) != Path(dataset.path)):
            self._gallery = None  # it indexes the old dataset's images
        self.events.dataset.emit(dataset)
        if old is not None:
            old.close()

    # -- label store -----------------------------------------------------------------------

    @property
    def label_store(self) -> LabelStoreLike | None:
        return self._label_store

    def set_label_store(self, store: LabelStoreLike | None) -> None:
        """Open ``store`` in place of the current one (which is closed after the event)."""
        if store is self._label_store:
            return
        old = self._label_store
        self._label_store = store
        self.events.label_store.emit(store)
        if old is not None:
            old.close()

    def notify_labels_changed(self) -> None:
        self.events.labels_changed.emit(None)

    def notify_queue_changed(self, added: int) -> None:
        """Pairs were queued for labeling (views that serve the queue may pick them up)."""
        self.events.queue_changed.emit(int(added))

    # -- ranker ----------------------------------------------------------------------------

    @property
    def ranker(self) -> RankerRef | None:
        """The workspace's ranker checkpoint (what it is, not its weights), or None."""
        return self._ranker

    def set_ranker(self, ranker: RankerRef | None) -> None:
        """Make ``ranker`` the workspace's (a run just made it, or the user opened it). It
        outlives a dataset change: a checkpoint scores any dataset's images."""
        if ranker == self._ranker:
            return
        self._ranker = ranker
        self.events.ranker.emit(ranker)

    # -- generator -------------------------------------------------------------------------

    @property
    def generator(self) -> GeneratorLike | None:
        """The generator model being explored, or None."""
        return self._generator

    def set_generator(self, generator: GeneratorLike | None) -> None:
        if generator is self._generator:
            return
        self._generator = generator
        self.events.generator.emit(generator)

    # -- gallery ---------------------------------------------------------------------------

    @property
    def gallery(self) -> GalleryLike | None:
        """The retrieval gallery of the open dataset, or None. It has no event yet: the next
        issue's retrieval view is its first listener and adds one."""
        return self._gallery

    def set_gallery(self, gallery: GalleryLike | None) -> None:
        """Hold ``gallery``; it must index the open dataset's images."""
        if gallery is not None and (self._dataset is None
                                    or Path(gallery.dataset_path) != Path(self._dataset.path)):
            raise ValueError(f"the gallery indexes {gallery.dataset_path}, not the open dataset "
                             f"{self.dataset_path}")
        self._gallery = gallery

    # -- attribute and selection -------------------------------------------------------------

    @property
    def attribute(self) -> str | None:
        return self._attribute

    def set_attribute(self, name: str | None) -> None:
        if name == self._attribute:
            return
        if name is not None and self._dataset is not None and name not in self._dataset.attribute_names:
            raise ValueError(f"no attribute {name!r} in {self._dataset.name}")
        self._attribute = name
        self.events.attribute.emit(name)

    @property
    def selected_image(self) -> int | None:
        return self._selected_image

    def select_image(self, index: int | None) -> None:
        index = None if index is None else int(index)
        if index == self._selected_image:
            return
        self._selected_image = index
        self.events.image_selected.emit(index)

    def show_status(self, message: str) -> None:
        self.events.status.emit(str(message))

    def close(self) -> None:
        """Close the dataset and label store (the app is quitting)."""
        self.set_label_store(None)
        self.set_dataset(None)
