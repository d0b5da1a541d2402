"""Registries: builders listed by name, as torchvision's ``register_model`` / ``get_model``.

The GUI and the CLI list backbones, rankers and generators only through a registry, so a new
one appears everywhere by registering it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from relattr_studio.core.errors import RelAttrError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    builder: Callable[..., T]
    summary: str


class Registry(Generic[T]):
    """Named builders of one kind (``what``: "backbone", "ranker" ...)."""

    def __init__(self, what: str):
        self.what = what
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, summary: str = "") -> Callable[[Callable[..., T]], Callable[..., T]]:
        def decorate(builder: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"{self.what} {name!r} registered twice")
            doc = (builder.__doc__ or "").strip().splitlines()
            self._entries[name] = Entry(name, builder, summary or (doc[0] if doc else ""))
            return builder

        return decorate

    def names(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> list[Entry[T]]:
        return list(self._entries.values())

    def get(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise RelAttrError(f"no {self.what} named {name!r}; known: {', '.join(self._entries)}") from None

    def build(self, name: str, **kwargs) -> T:
        """Call the builder registered as ``name`` with keyword arguments only."""
        return self.get(name).builder(**kwargs)
