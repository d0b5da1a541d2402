"""Registries: builders listed by name, as torchvision's ``register_model`` / ``get_model``.

The GUI and the CLI list backbones, rankers and generators only through a registry, so a new
one appears everywhere by registering it. A name can be *declared* with the module that
registers it: listing names then imports nothing (the window lists rankers without paying for
torch's import on the GUI thread), and the first ``get`` imports that module.

A name may carry *traits*: plain facts a front end needs before it builds anything (which
trainer fits the model, whether it compares pairs), declared with the name so that reading
them imports nothing either.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from relattr_studio.core.errors import RelAttrError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    builder: Callable[..., T]
    summary: str
    traits: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


class Registry(Generic[T]):
    """Named builders of one kind (``what``: "backbone", "ranker" ...)."""

    def __init__(self, what: str):
        self.what = what
        self._entries: dict[str, Entry[T]] = {}
        self._declared: dict[str, str] = {}  # name -> module whose import registers it
        self._traits: dict[str, Mapping[str, Any]] = {}

    def declare(self, name: str, module: str, **traits: Any) -> None:
        """List ``name`` now, with its ``traits``; its builder is registered by importing
        ``module`` (on first use)."""
        if name in self._declared or name in self._entries:
            raise ValueError(f"{self.what} {name!r} declared twice")
        self._declared[name] = module
        self._traits[name] = MappingProxyType(dict(traits))

    def register(self, name: str, summary: str = "", **traits: Any) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Register a builder. A declared name keeps its declared traits; ``traits`` given here
        must agree with them (one place says what a builder is)."""
        def decorate(builder: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"{self.what} {name!r} registered twice")
            declared = self._traits.get(name, {})
            clash = {k for k in traits if k in declared and declared[k] != traits[k]}
            if clash:
                raise ValueError(f"{self.what} {name!r} registered with traits {sorted(clash)} other than declared")
            self._traits[name] = MappingProxyType({**declared, **traits})
            doc = (builder.__doc__ or "").strip().splitlines()
            self._entries[name] = Entry(name, builder, summary or (doc[0] if doc else ""), self._traits[name])
            return builder

        return decorate

    def names(self) -> list[str]:
        """Declared names first, in declaration order, then any registered without a declaration.
        Imports nothing."""
        return list(self._declared) + [n for n in self._entries if n not in self._declared]

    def traits(self, name: str) -> Mapping[str, Any]:
        """What ``name`` was declared or registered with (read-only). Imports nothing."""
        try:
            return self._traits[name]
        except KeyError:
            raise RelAttrError(f"no {self.what} named {name!r}; known: {', '.join(self.names())}") from None

    def names_where(self, **traits: Any) -> list[str]:
        """Names whose traits include every ``key=value`` given, in :meth:`names` order. Imports nothing."""
        return [n for n in self.names() if all(self._traits.get(n, {}).get(k) == v for k, v in traits.items())]

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
