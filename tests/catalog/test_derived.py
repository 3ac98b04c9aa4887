"""The catalog's store of derived data (skfusion/catalog/_derived.py)."""

from __future__ import annotations

import pickle
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from skfusion import Catalog
from skfusion.catalog._derived import STATE_ATTRIBUTE, DerivedStore, discard_everywhere

from .._data import correlated_components


def _catalog(seed: int = 0) -> Catalog:
    comps = correlated_components(np.random.default_rng(seed), n_items=40, dim=8)
    return Catalog.from_arrays({"title": comps[0], "desc": comps[1], "image": comps[2]})


def test_each_key_is_built_once_under_threads() -> None:
    store = DerivedStore()
    builds: list[int] = []
    start = threading.Barrier(8)
    got: list[object] = []

    def build() -> object:
        builds.append(1)
        time.sleep(0.05)  # the other threads arrive while this build runs
        return object()

    def ask() -> None:
        start.wait()
        got.append(store.get_or_build("k", build))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1
    assert all(value is got[0] for value in got)
    assert store.keys() == ["k"]


def test_a_build_may_ask_for_another_key_and_a_failed_build_stores_nothing() -> None:
    store = DerivedStore()
    outer = store.get_or_build("outer", lambda: store.get_or_build("inner", lambda: 1) + 1)
    assert (outer, store.get("inner")) == (2, 1)

    def fail() -> int:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        store.get_or_build("bad", fail)
    assert "bad" not in store
    assert store.get_or_build("bad", lambda: 3) == 3
    store.discard("bad")
    assert store.get("bad") is None
    store.clear()
    assert len(store) == 0


def test_discard_everywhere_reaches_every_live_store() -> None:
    a, b = _catalog(0), _catalog(1)
    for cat in (a, b):
        cat._derived().get_or_build("test.key", dict)
        cat._derived().get_or_build("test.other", dict)
    discard_everywhere("test.key")
    for cat in (a, b):
        assert cat._derived().keys() == ["test.other"]


def test_covariances_are_kept_in_the_store() -> None:
    cat = _catalog()
    first = cat.covariances()
    assert cat._derived().get("catalog.covariances") is first
    assert cat.covariances() is first
    assert not first.flags.writeable


def test_pickled_in_memory_catalog_leaves_its_store_behind() -> None:
    cat = _catalog()
    cov = cat.covariances()
    cat._derived().get_or_build("test.lock", threading.Lock)  # not picklable itself
    assert len(cat._derived()) == 2
    restored = pickle.loads(pickle.dumps(cat))
    assert STATE_ATTRIBUTE not in vars(restored)
    assert len(restored._derived()) == 0  # created empty on first use
    np.testing.assert_array_equal(restored.covariances(), cov)  # recomputed on demand
    assert len(cat._derived()) == 2  # the original keeps its entries
    with pytest.raises(TypeError, match="never pickled"):
        pickle.dumps(cat._derived())


def test_pickled_loaded_catalog_starts_with_an_empty_store(tmp_path: Path) -> None:
    loaded = Catalog.load(_catalog().save(tmp_path / "cat"))
    loaded.covariances()
    restored = pickle.loads(pickle.dumps(loaded))
    assert len(restored._derived()) == 0
    np.testing.assert_array_equal(restored.covariances(), loaded.covariances())
