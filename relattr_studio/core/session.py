"""The session: what the user has open, shared by every view through events.

Plain Python (no Qt, no data-layer imports at run time): views take a :class:`Session` in
their constructor, read its state, change it through its setters and listen to
``session.events``. Views never import each other; this model is how they talk.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from relattr_studio.core.observable import Events

if TYPE_CHECKING:  # the session holds these, but core must not import the data layer
    from relattr_studio.data.dataset_file import DatasetFile


class Session:
    """Current dataset, label store, generator, attribute and selection.

    Events (callback arguments in brackets):

    - ``dataset`` [dataset or None]: another dataset was opened (or closed);
    - ``label_store`` [store or None]: another label store was opened;
    - ``attribute`` [name or None]: the attribute being looked at or labeled (None = all);
    - ``image_selected`` [index or None]: an image was selected in some view;
    - ``pair_selected`` [(a, b, attribute)]: a pair was chosen to look at;
    - ``labels_changed`` [None]: a judgement was recorded or undone;
    - ``status`` [message]: a short message for the status bar;
    - ``generator`` [generator or None]: another generator model was loaded;
    - ``queue_changed`` [number of pairs added]: pairs were put in the label store's labeling queue.
    """

    def __init__(self) -> None:
        self.events = Events("dataset", "label_store", "attribute", "image_selected",
                             "pair_selected", "labels_changed", "status", "generator", "queue_changed")
        self._dataset: DatasetFile | None = None
        self._label_store: Any = None
        self._attribute: str | None = None
        self._selected_image: int | None = None
        self._generator: Any = None

    # -- dataset ---------------------------------------------------------------------------

    @property
    def dataset(self) -> "DatasetFile | None":
        return self._dataset

    @property
    def dataset_path(self) -> Path | None:
        return None if self._dataset is None else Path(self._dataset.path)

    def set_dataset(self, dataset: "DatasetFile | None") -> None:
        if dataset is self._dataset:
            return
        old = self._dataset
        self._dataset = dataset
        self._selected_image = None
        if self._attribute is not None and (dataset is None or self._attribute not in dataset.attribute_names):
            self._attribute = None
        self.events.dataset.emit(dataset)
        if old is not None:
            old.close()

    # -- label store -----------------------------------------------------------------------

    @property
    def label_store(self) -> Any:
        return self._label_store

    def set_label_store(self, store: Any) -> None:
        if store is self._label_store:
            return
        old = self._label_store
        self._label_store = store
        self.events.label_store.emit(store)
        if old is not None and hasattr(old, "close"):
            old.close()

    def notify_labels_changed(self) -> None:
        self.events.labels_changed.emit(None)

    def notify_queue_changed(self, added: int) -> None:
        """Pairs were queued for labeling (views that serve the queue may pick them up)."""
        self.events.queue_changed.emit(int(added))

    # -- generator -------------------------------------------------------------------------

    @property
    def generator(self) -> Any:
        """The generator model being explored (its ``generate(y, z)``, attributes and prior), or None."""
        return self._generator

    def set_generator(self, generator: Any) -> None:
        if generator is self._generator:
            return
        self._generator = generator
        self.events.generator.emit(generator)

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
        if index == self._selected_image:
            return
        self._selected_image = index
        self.events.image_selected.emit(index)

    def select_pair(self, a: int, b: int, attribute: int | None = None) -> None:
        self.events.pair_selected.emit((int(a), int(b), attribute))

    def show_status(self, message: str) -> None:
        self.events.status.emit(message)

    def close(self) -> None:
        """Close the dataset and label store (the app is quitting)."""
        self.set_label_store(None)
        self.set_dataset(None)
