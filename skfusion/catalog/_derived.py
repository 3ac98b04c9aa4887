"""Derived data of a catalog, held by the catalog itself.

Everything computed from a catalog's arrays and kept for reuse — its
covariances, the unit fused vectors of static strategies, the similarity
blocks of a weight search, agreement fusion's cross-covariances, imputed copy
and factor shares — lives in one :class:`DerivedStore` owned by the catalog
(:func:`store_of`), never in a module-level table keyed by catalogs
(``tests/test_architecture.py`` checks this). So:

* clones made by ``GridSearchCV`` share it (they share the catalog);
* it goes away with the catalog;
* it is never pickled (``Catalog.__getstate__`` leaves it out): an unpickled
  catalog starts with an empty store and recomputes entries on demand;
* entries never go stale, because the catalog's arrays are read-only; they
  are dropped only by :meth:`DerivedStore.discard` / :meth:`DerivedStore.clear`
  (or :func:`discard_everywhere`, which reaches every live store).

The store holds opaque values under keys chosen by their users (strings such
as ``"catalog.covariances"`` or ``"fusion.fused"``); a value that is itself a
bounded cache (the fused matrices, the similarity blocks) keeps its own lock
and eviction policy. The catalog layer does not know what the fusion layer
stores here.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

__all__ = ["STATE_ATTRIBUTE", "DerivedStore", "discard_everywhere", "store_of"]

T = TypeVar("T")

#: The instance attribute holding an owner's store (left out of its pickled state).
STATE_ATTRIBUTE = "_derived_store"

_CREATE_LOCK = threading.Lock()
#: Stores that hold (or held) an entry, so that :func:`discard_everywhere` can reach them;
#: weak, so a store goes away with its catalog.
_LIVE: weakref.WeakSet[DerivedStore] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


class DerivedStore:
    """Thread-safe key → value store of one catalog's derived data.

    Each key is built at most once (until it is discarded), even when several
    threads ask for it at the same time: the first builds it under a lock of
    its own key while the others wait for that build, and builds of other keys
    proceed meanwhile (a build may itself ask the store for another key).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[Hashable, Any] = {}
        self._building: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default`` (nothing is built)."""
        with self._lock:
            return self._values.get(key, default)

    def get_or_build(self, key: Hashable, build: Callable[[], T]) -> T:
        """The value under ``key``, calling ``build()`` (once) to make it when absent.

        An exception from ``build`` propagates and nothing is stored; the next
        call builds again.
        """
        with self._lock:
            if key in self._values:
                value: T = self._values[key]
                return value
            build_lock = self._building.setdefault(key, threading.Lock())
        with build_lock:  # one build per key, even under threads
            with self._lock:
                if key in self._values:
                    value = self._values[key]
                    return value
            value = build()
            with self._lock:
                self._values[key] = value
                if self._building.get(key) is build_lock:
                    del self._building[key]
            with _LIVE_LOCK:
                _LIVE.add(self)
            return value

    def discard(self, key: Hashable) -> None:
        """Drop the value under ``key``, if any (it is rebuilt on the next request)."""
        with self._lock:
            self._values.pop(key, None)

    def clear(self) -> None:
        """Drop every value."""
        with self._lock:
            self._values.clear()

    def keys(self) -> list[Hashable]:
        """The keys stored now."""
        with self._lock:
            return list(self._values)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._values

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)

    def __reduce__(self) -> Any:
        raise TypeError(
            "A catalog's derived-data store is never pickled; the catalog leaves it out of "
            "its state and rebuilds entries on demand."
        )


def store_of(owner: Any) -> DerivedStore:
    """The derived-data store of ``owner`` (a catalog), created on first use.

    Created lazily (under a lock, so concurrent first calls get one store),
    which also covers catalogs made without ``__init__`` (unpickling).
    """
    attributes = vars(owner)
    store: DerivedStore | None = attributes.get(STATE_ATTRIBUTE)
    if store is None:
        with _CREATE_LOCK:
            store = attributes.get(STATE_ATTRIBUTE)
            if store is None:
                store = attributes[STATE_ATTRIBUTE] = DerivedStore()
    return store


def discard_everywhere(key: Hashable) -> None:
    """Drop the value under ``key`` from the store of every live catalog."""
    with _LIVE_LOCK:
        stores = list(_LIVE)
    for store in stores:
        store.discard(key)
