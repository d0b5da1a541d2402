"""Registries: builders listed by name, as torchvision's ``register_model`` / ``get_model``.

The GUI and the CLI list backbones, rankers and generators only through a registry, so a new
one appears everywhere by registering it. A name can be *declared* with the module that
registers it: listing names then imports nothing (the window lists rankers without paying for
torch's import on the GUI thread), and the first ``get`` imports that module.
"""

from __future__ import annotations

import importlib
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
        self._declared: dict[str, str] = {}  # name -> module whose import registers it

    def declare(self, name: str, module: str) -> None:
        """List ``name`` now; its builder is registered by importing ``module`` (on first use)."""
        if name in self._declared or name in self._entries:
            raise ValueError(f"{self.what} {name!r} declared twice")
        self._declared[name] = module

    def register(self, name: str, summary: str = "") -> Callable[[Callable[..., T]], Callable[..., T]]:
        def decorate(builder: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"{self.what} {name!r} registered twice")
            doc = (builder.__doc__ or "").strip().splitlines()
            self._entries[name] = Entry(name, builder, summary or (doc[0] if doc else ""))
            return builder

        return decorate

    def names(self) -> list[str]:
        """Declared names first, in declaration order, then any registered without a declaration.
        Imports nothing."""
        return list(self._declared) + [n for n in self._entries if n not in self._declared]

    def entries(self) -> list[Entry[T]]:
        return [self.get(name) for name in self.names()]

    def get(self, name: str) -> Entry[T]:
        if name not in self._entries and name in self._declared:
            importlib.import_module(self._declared[name])
            if name not in self._entries:
                raise RuntimeError(f"{self._declared[name]} does not register the {self.what} {name!r} it was declared for")
        try:
            return self._entries[name]
        except KeyError:
            raise RelAttrError(f"no {self.what} named {name!r}; known: {', '.join(self.names())}") from None

    def build(self, name: str, **kwargs) -> T:
        """Call the builder registered as ``name`` with keyword arguments only."""
        return self.get(name).builder(**kwargs)
