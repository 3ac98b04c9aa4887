"""The static fused ANN index holds exactly the vectors of static fusion with the global weights.

Both come from :func:`skfusion._gram.fused_matrix` (the index through
:func:`skfusion._gram.fused_rows`, one window at a time), so
``Catalog.build_index`` and ``skfusion.fusion._static.build_fused(catalog,
catalog.global_weights())`` agree bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from skfusion import Catalog
from skfusion._gram import FUSE_ROWS, fused_matrix, fused_rows
from skfusion.catalog import _index
from skfusion.datasets import make_catalog
from skfusion.fusion import _static
from skfusion.fusion._engine import run_item_ranges


@pytest.fixture(scope="module")
def data():
    return make_catalog(600, 5, dim=32, missing_rate=0.2, random_state=7)


@pytest.fixture(scope="module")
def catalog(data) -> Catalog:
    return Catalog(data.components, ids=data.ids, masks=data.masks)


def test_rows_handed_to_the_fused_index_are_static_fusions(catalog: Catalog) -> None:
    expected = _static.build_fused(catalog, catalog.global_weights())[0]
    rows = _index.fused_row_getter(catalog.matrices(), catalog.gram, catalog.global_weights())
    everything = np.arange(catalog.n_items)
    assert np.array_equal(rows(everything), expected)
    sample = np.sort(np.random.default_rng(0).choice(catalog.n_items, 50, replace=False))
    assert np.array_equal(rows(sample), expected[sample])  # an IVF training sample
    # The recorded weights are still G normalised to sum 1; the vectors are scale-free.
    G = catalog.global_weights()
    build, recorded = _index.fused_index_weights(G)
    np.testing.assert_array_equal(build, G)
    np.testing.assert_allclose(recorded, G / G.sum())
    np.testing.assert_allclose(_static.build_fused(catalog, recorded)[0], expected, atol=1e-6)


def test_index_vectors_move_only_by_rounding_from_the_former_formula(catalog: Catalog) -> None:
    # The fused index used to normalise Σ_c (G_c / ΣG) e_ic in float32 itself.
    G = catalog.global_weights()
    G = G / G.sum()
    old = sum(np.float32(g) * E for g, E in zip(G, catalog.matrices(), strict=True))
    old /= np.linalg.norm(old, axis=1, keepdims=True)
    new = _static.build_fused(catalog, catalog.global_weights())[0]
    np.testing.assert_allclose(new, old, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_windows_and_threads_give_the_same_rows(dtype: str) -> None:
    # More items than one window of fused_rows, and than one thread's range of the
    # threaded fused_matrix (ranges of FUSE_ROWS * 16 items, at least 4 blocks a thread).
    n = FUSE_ROWS * 16 * 8 + 123
    rng = np.random.default_rng(1)
    comps = rng.standard_normal((2, n, 8)).astype(np.float32)
    comps /= np.linalg.norm(comps, axis=2, keepdims=True)
    comps[1, :50] = 0.0
    masks = {"b": np.arange(n) >= 50}
    cat = Catalog({"a": comps[0], "b": comps[1]}, masks=masks, dtype=dtype)
    w = np.array([0.3, 0.7])
    threaded = fused_matrix(cat.matrices(), cat.gram, w, run=run_item_ranges)
    single = fused_matrix(cat.matrices(), cat.gram, w)
    assert np.array_equal(threaded[0], single[0])
    assert np.array_equal(threaded[1], single[1])
    for window in (FUSE_ROWS, 3 * FUSE_ROWS + 5, 1 << 16):
        assert np.array_equal(
            fused_rows(cat.matrices(), cat.gram, w, np.arange(n), window=window), single[0]
        )
    picks = np.sort(rng.choice(n, 300, replace=False))
    assert np.array_equal(fused_rows(cat.matrices(), cat.gram, w, picks), single[0][picks])
    with pytest.raises(ValueError, match="increasing"):
        fused_rows(cat.matrices(), cat.gram, w, picks[::-1])


def test_flat_fused_index_stores_static_fusions_vectors(data) -> None:
    faiss = pytest.importorskip("faiss")
    cat = Catalog(data.components, ids=data.ids, masks=data.masks).build_index("flat")
    expected = _static.build_fused(cat, cat.global_weights())[0]
    fused = cat.ann_index.indexes()[-1]  # IndexIDMap over a flat (float32) index
    stored = faiss.downcast_index(fused.index).reconstruct_n(0, fused.ntotal)
    np.testing.assert_array_equal(faiss.vector_to_array(fused.id_map), np.arange(cat.n_items))
    assert np.array_equal(stored, expected)


def test_ivf_fused_index_is_trained_and_filled_with_static_fusions_vectors(
    data, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An SQ8 index quantises what it stores: check the vectors handed to faiss instead.
    pytest.importorskip("faiss")
    handed: list[tuple[np.ndarray, np.ndarray]] = []
    fill = _index._fill

    def recording(
        faiss: Any, index: Any, kind: str, rows: Any, positions: np.ndarray, *args: Any
    ) -> None:
        def record(p: np.ndarray) -> np.ndarray:
            out = rows(p)
            handed.append((np.array(p), np.array(out)))
            return out

        handed.clear()  # keep the last index's: the fused one
        fill(faiss, index, kind, record, positions, *args)

    monkeypatch.setattr(_index, "_fill", recording)
    cat = Catalog(data.components, ids=data.ids, masks=data.masks).build_index(n_lists=8)
    expected = _static.build_fused(cat, cat.global_weights())[0]
    assert len(handed) == 2  # the training sample, then the rows added
    for positions, vectors in handed:
        assert np.array_equal(vectors, expected[positions])
    np.testing.assert_array_equal(handed[-1][0], np.arange(cat.n_items))
