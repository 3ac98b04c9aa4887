"""Approximate search with exact re-ranking: Catalog.build_index and approximate=True."""

from __future__ import annotations

import pickle
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from skfusion import Catalog, HybridFusion, WeightedFusion
from skfusion.datasets import make_catalog
from skfusion.fusion import ScoreFusion
from skfusion.fusion._approximate import candidate_pools
from skfusion.fusion._registry import STRATEGIES
from skfusion.fusion._stats import similarity_moments

from .._tolerance import assert_same_topk, f32_atol, fused_atol

pytest.importorskip("faiss")

N_ITEMS = 800
DIM = 64


def _params(name: str) -> dict[str, object]:
    return {"weights": [0.5, 0.3, 0.2]} if name == "weighted" else {}


@pytest.fixture(scope="module")
def data():
    return make_catalog(N_ITEMS, 40, dim=DIM, missing_rate=0.15, random_state=3)


@pytest.fixture(scope="module")
def catalog(data):
    cat = Catalog(data.components, ids=data.ids, masks=data.masks)
    # 16 lists, 4 probed: a quarter of each index is searched per query.
    return cat.build_index(n_lists=16, n_probe=4, random_state=0)


@pytest.fixture(scope="module")
def queries(data):
    return np.ascontiguousarray(data.queries, dtype=np.float32)


def _exhaustive(data):
    """The same catalog with an index that probes every list."""
    cat = Catalog(data.components, ids=data.ids, masks=data.masks)
    return cat.build_index(n_lists=16, n_probe=16, random_state=0)


@pytest.fixture(scope="module")
def exhaustive(data):
    return _exhaustive(data)


@pytest.fixture(scope="module")
def atol(catalog, queries):
    """Per-query bound on the float32 rounding of any strategy's scores (tests/_tolerance.py).

    Re-scoring gathered candidates runs other BLAS call shapes than exact search. Fused
    cosines (query-aware weights) move by at most ``fused_atol``; a z-score (s − μ)/σ by
    at most twice ``f32_atol(DIM + C + 4)`` over the query's smallest σ.
    """
    _, sd = similarity_moments(catalog, queries)
    z = 2 * f32_atol(DIM + 3 + 4) / sd.min(axis=0)
    return np.maximum(z, fused_atol(DIM, catalog.gram, query_aware=True))[:, None]


def _assert_same(approx, exact, atol=None):
    (sa, ia), (se, ie) = approx, exact
    # Items may swap only where rounding can reorder them (near ties).
    atol = f32_atol(DIM + 7) if atol is None else atol
    assert_same_topk(sa, ia, se, ie, atol=atol, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_item_a_candidate_gives_exact_results(name, catalog, queries, atol):
    """n_candidates >= n_items: every item is re-scored, so kneighbors equals exact search."""
    cls = STRATEGIES[name].estimator
    exact = cls(catalog, **_params(name)).fit()
    approx = cls(catalog, approximate=True, n_candidates=N_ITEMS, **_params(name)).fit()
    _assert_same(approx.kneighbors(queries, 10), exact.kneighbors(queries, 10), atol)
    np.testing.assert_array_equal(approx.predict(queries), exact.predict(queries))


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_exhaustive_index_gives_exact_results(name, exhaustive, queries, atol):
    """Through faiss: an index probing every list returns each index's true neighbours."""
    cls = STRATEGIES[name].estimator
    exact = cls(exhaustive, **_params(name)).fit()
    approx = cls(exhaustive, approximate=True, n_candidates=N_ITEMS - 1, **_params(name)).fit()
    _assert_same(approx.kneighbors(queries, 10), exact.kneighbors(queries, 10), atol)


def _top_within(scores: np.ndarray, pool: np.ndarray, k: int) -> np.ndarray:
    sub = scores[pool]
    order = np.lexsort((pool, -sub))[:k]
    return pool[order]


@pytest.mark.parametrize("name", ["average", "weighted", "hybrid", "combsum", "calibrated"])
def test_result_is_exact_top_k_of_the_candidates(name, catalog, queries, atol):
    """Exact re-ranking: the result is exact search restricted to the candidate pool.

    These strategies need no catalog-wide statistic beyond the exact z-score
    moments, so nothing but the candidate pool is approximate.
    """
    cls = STRATEGIES[name].estimator
    approx = cls(catalog, approximate=True, n_candidates=30, **_params(name)).fit()
    scores, idx = approx.kneighbors(queries, 10)
    dense = approx.decision_function(queries)  # stays exact
    pools = candidate_pools(catalog.ann_index, queries, 30, N_ITEMS, lowest=False)
    for q, pool in enumerate(pools):
        assert pool.size >= 10
        ref = _top_within(dense[q], pool, 10)
        assert_same_topk(scores[q, None], idx[q, None], dense[q, ref][None], ref[None], atol[q])


def test_minmax_extremes_come_from_the_candidates(catalog, queries):
    """Min-max normalisation is approximate: the extremes are taken over the candidates."""
    est = ScoreFusion(catalog, normalization="minmax", approximate=True, n_candidates=30)
    scores, idx = est.fit().kneighbors(queries, 10)
    pools = candidate_pools(catalog.ann_index, queries, 30, N_ITEMS, lowest=True)
    mats, mask = catalog.matrices(), catalog.mask
    for q, pool in enumerate(pools):
        S = np.stack([E[pool] @ queries[q] for E in mats]).astype(np.float64)
        fused = np.zeros(pool.size)
        for c in range(len(mats)):
            present = mask[c, pool]
            lo, hi = S[c, present].min(), S[c, present].max()
            fused += np.where(present, (S[c] - lo) / (hi - lo), 0.0) / len(mats)
        order = np.lexsort((pool, -fused))[:10]
        np.testing.assert_array_equal(idx[q], pool[order])
        np.testing.assert_allclose(scores[q], fused[order], rtol=1e-4)


def test_recall_against_exact(catalog, queries):
    """Recall@10 with a quarter of each index probed.

    Every returned item is exactly scored, so recall is the share of the exact
    top-10 that reached the candidate pool. Measured on this fixture: 0.99+
    for hybrid and average (the union of 4 indexes covers what one misses);
    0.9 leaves room for faiss k-means differing across platforms while still
    failing if candidates were ignored or re-scored wrongly (a random pool of
    the same size would recall about 0.15).
    """
    for name in ("hybrid", "average", "combsum", "rrf"):
        cls = STRATEGIES[name].estimator
        _, exact = cls(catalog).fit().kneighbors(queries, 10)
        _, approx = cls(catalog, approximate=True, n_candidates=50).fit().kneighbors(queries, 10)
        recall = np.mean(
            [np.intersect1d(a, e).size / 10 for a, e in zip(approx, exact, strict=True)]
        )
        assert recall >= 0.9, (name, recall)


def test_decision_function_stays_exact(catalog, queries):
    exact = HybridFusion(catalog).fit()
    approx = HybridFusion(catalog, approximate=True, n_candidates=10).fit()
    np.testing.assert_array_equal(
        approx.decision_function(queries), exact.decision_function(queries)
    )


def test_short_candidate_pools_fall_back_to_exact_search():
    """A query whose pool is smaller than n_neighbors is searched exactly."""
    rng = np.random.default_rng(0)
    E = rng.standard_normal((400, 16)).astype(np.float32)
    cat = Catalog({"only": E}, normalize=True).build_index(n_lists=20, n_probe=1)
    Q = rng.standard_normal((5, 16)).astype(np.float32)
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    pools = candidate_pools(cat.ann_index, Q, 60, 400, lowest=False)
    assert min(p.size for p in pools) < 60  # two probed lists of about 20 items
    exact = WeightedFusion(cat, weights=[1.0]).fit().kneighbors(Q, 60)
    approx = WeightedFusion(cat, weights=[1.0], approximate=True, n_candidates=60).fit()
    _assert_same(approx.kneighbors(Q, 60), exact, f32_atol(16 + 5))


def test_component_indexes_hold_only_present_items(catalog):
    index = catalog.ann_index
    mask = catalog.mask
    assert catalog.has_missing
    faiss_indexes = index.indexes()
    for c in range(catalog.n_components):
        assert faiss_indexes[c].ntotal == int(mask[c].sum())
    assert faiss_indexes[-1].ntotal == catalog.n_items
    # An exhaustive search of a component index returns exactly its present items.
    index.n_probe = 16
    try:
        q = np.ascontiguousarray(catalog.matrices()[0][:1])
        for c in range(catalog.n_components):
            _, labels = faiss_indexes[c].search(q, N_ITEMS)
            found = np.sort(labels[0][labels[0] >= 0])
            np.testing.assert_array_equal(found, np.flatnonzero(mask[c]))
    finally:
        index.n_probe = 4


def test_fused_index_holds_the_global_weight_fusion(catalog):
    index = catalog.ann_index
    G = catalog.global_weights()
    np.testing.assert_allclose(index.fused_weights, G / G.sum())
    fused = sum(w * E for w, E in zip(index.fused_weights, catalog.matrices(), strict=True))
    fused /= np.linalg.norm(fused, axis=1, keepdims=True)
    q = np.ascontiguousarray(fused[:3], dtype=np.float32)
    flat = Catalog(
        catalog.components, masks=dict(zip(catalog.names, catalog.mask, strict=True))
    ).build_index("flat")
    _, labels = flat.ann_index.indexes()[-1].search(q, 5)
    np.testing.assert_array_equal(labels[:, 0], [0, 1, 2])  # each fused row is its own best


def test_save_load_round_trip(catalog, queries, tmp_path):
    path = catalog.save(tmp_path / "cat")
    assert sorted(p.name for p in path.glob("index_*.faiss")) == [
        "index_component_0.faiss",
        "index_component_1.faiss",
        "index_component_2.faiss",
        "index_fused.faiss",
    ]
    loaded = Catalog.load(path)
    assert loaded.ann_index is not None
    assert loaded.ann_index.params() == catalog.ann_index.params()
    before = HybridFusion(catalog, approximate=True, n_candidates=30).fit().kneighbors(queries)
    after = HybridFusion(loaded, approximate=True, n_candidates=30).fit().kneighbors(queries)
    _assert_same(after, before)
    # Saving the loaded catalog again copies the index files (even before first use).
    again = Catalog.load(Catalog.load(path).save(tmp_path / "again"))
    _assert_same(
        HybridFusion(again, approximate=True, n_candidates=30).fit().kneighbors(queries), before
    )
    # A pickled loaded catalog is a reference to its directory; its index comes back from disk.
    clone_ = pickle.loads(pickle.dumps(loaded))
    _assert_same(
        HybridFusion(clone_, approximate=True, n_candidates=30).fit().kneighbors(queries), before
    )


def test_corrupt_index_file_is_detected(catalog, tmp_path):
    path = catalog.save(tmp_path / "cat")
    target = path / "index_fused.faiss"
    blob = bytearray(target.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    target.write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="Checksum mismatch.*index_fused"):
        Catalog.load(path)


def test_pickle_keeps_an_index_built_in_memory(data, queries, tmp_path):
    cat = Catalog(data.components, ids=data.ids, masks=data.masks).build_index(n_lists=8, n_probe=2)
    expected = HybridFusion(cat, approximate=True, n_candidates=20).fit().kneighbors(queries)
    copy_ = pickle.loads(pickle.dumps(cat))
    assert copy_.ann_index.params() == cat.ann_index.params()
    _assert_same(
        HybridFusion(copy_, approximate=True, n_candidates=20).fit().kneighbors(queries), expected
    )
    # A loaded catalog whose index was built after loading carries that index in its pickle.
    loaded = Catalog.load(
        Catalog(data.components, ids=data.ids, masks=data.masks).save(tmp_path / "c")
    )
    assert loaded.ann_index is None
    loaded.build_index(n_lists=8, n_probe=2)
    revived = pickle.loads(pickle.dumps(loaded))
    _assert_same(
        HybridFusion(revived, approximate=True, n_candidates=20).fit().kneighbors(queries), expected
    )


def test_no_index_error_names_build_index(data, queries):
    cat = Catalog(data.components, ids=data.ids, masks=data.masks)
    for name in ("hybrid", "combsum", "rrf"):
        est = STRATEGIES[name].estimator(cat, approximate=True).fit()
        with pytest.raises(ValueError, match=r"build_index\(\)"):
            est.kneighbors(queries)
    # Exact search and decision_function need no index.
    HybridFusion(cat, approximate=True).fit().decision_function(queries)


def test_faiss_missing_raises_import_error_naming_the_extra(data, monkeypatch):
    cat = Catalog(data.components, ids=data.ids, masks=data.masks)
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(ImportError, match=r'pip install "skfusion\[ann\]"'):
        cat.build_index()
    assert cat.ann_index is None


def test_loading_needs_faiss_only_at_search(catalog, queries, tmp_path, monkeypatch):
    path = catalog.save(tmp_path / "cat")
    monkeypatch.setitem(sys.modules, "faiss", None)
    loaded = Catalog.load(path)  # reading the manifest needs no faiss
    est = HybridFusion(loaded, approximate=True, n_candidates=20).fit()
    HybridFusion(loaded).fit().kneighbors(queries)  # exact search neither
    with pytest.raises(ImportError, match=r"skfusion\[ann\]"):
        est.kneighbors(queries)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"kind": "lsh"}, ValueError, "Unknown index kind 'lsh'.*ivf"),
        ({"encoding": "pq"}, ValueError, "Unknown index encoding 'pq'.*sq8"),
        ({"n_lists": 0}, ValueError, "n_lists must be at least 1"),
        ({"n_lists": 2.5}, TypeError, "n_lists must be an int"),
        ({"n_probe": 0}, ValueError, "n_probe must be at least 1"),
        ({"n_lists": 10_000}, ValueError, "n_lists=10000 exceeds"),
        ({"random_state": -1}, ValueError, "random_state must be at least 0"),
    ],
)
def test_bad_index_parameters(data, kwargs, error, match):
    cat = Catalog(data.components, ids=data.ids, masks=data.masks)
    with pytest.raises(error, match=match):
        cat.build_index(**kwargs)
    assert cat.ann_index is None


def test_bad_estimator_parameters(catalog, queries):
    with pytest.raises(ValueError, match="n_candidates"):
        HybridFusion(catalog, approximate=True, n_candidates=0).fit()
    with pytest.raises(ValueError, match="approximate"):
        HybridFusion(catalog, approximate="yes").fit()
    est = HybridFusion(catalog, approximate=True, n_candidates=5).fit()
    with pytest.raises(ValueError, match="n_neighbors=10 exceeds n_candidates=5"):
        est.kneighbors(queries, 10)
    with pytest.raises(ValueError, match="n_probe must be at least 1"):
        catalog.ann_index.n_probe = 0


def test_hnsw_and_flat_kinds(data, queries):
    exact = HybridFusion(Catalog(data.components, masks=data.masks)).fit().kneighbors(queries)[1]
    for kind in ("hnsw", "flat"):
        cat = Catalog(data.components, masks=data.masks).build_index(kind)
        assert cat.ann_index.kind == kind
        _, idx = HybridFusion(cat, approximate=True, n_candidates=50).fit().kneighbors(queries)
        recall = np.mean([np.intersect1d(a, e).size / 10 for a, e in zip(idx, exact, strict=True)])
        assert recall >= (0.99 if kind == "flat" else 0.9), (kind, recall)


def test_grid_search_with_approximate_search(catalog, data, queries):
    est = WeightedFusion(catalog, weights=[1, 1, 1], approximate=True, n_candidates=50)
    cloned = clone(est)
    assert cloned.catalog is catalog  # clones share the catalog, and so its index
    # Positive weights: an item has a zero fused vector only when it lacks every
    # weighted component, so no score is undefined and no split fails.
    grid = {"weights": [[1, 1, 1], [2, 1, 1], [1, 1, 3]]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        search = GridSearchCV(est, grid, cv=3).fit(queries, data.targets)
    assert search.best_estimator_.approximate is True
    assert search.best_estimator_.catalog.ann_index is catalog.ann_index
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    # The approximate scores agree with exact ones on what they rank.
    exact = GridSearchCV(WeightedFusion(catalog, weights=[1, 1, 1]), grid, cv=3)
    exact.fit(queries, data.targets)
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], exact.cv_results_["mean_test_score"], atol=0.05
    )


def test_float16_catalog(data, queries):
    """A float16 catalog: indexes are built from upcast rows; re-scoring matches exact search."""
    cat = Catalog(data.components, masks=data.masks, dtype="float16")
    cat.build_index(n_lists=16, n_probe=16)
    for name in ("hybrid", "combsum"):
        cls = STRATEGIES[name].estimator
        exact = cls(cat).fit().kneighbors(queries, 10)
        approx = cls(cat, approximate=True, n_candidates=N_ITEMS - 1).fit().kneighbors(queries, 10)
        assert_same_topk(*approx, *exact, atol=1e-5, rtol=1e-4)


# -- target_recall: calibrated search parameters (issue 17) ---------------------------------


def _worst_list_recall(cat, queries, pools, k):
    """Independent recall (float64 NumPy, literal): per query, the worst over the exact top-k
    of each component, of the static fusion G and of each pair of components at equal weight
    (fused cosine over the components an item has) of the fraction found among the candidates.
    """
    E = np.stack([np.asarray(m, dtype=np.float64) for m in cat.matrices()])  # (C, N, d)
    mask = np.asarray(cat.mask)
    C = E.shape[0]
    G = cat.ann_index.fused_weights
    weightings = [np.eye(C)[c] for c in range(C)] + [G]
    weightings += [(np.eye(C)[a] + np.eye(C)[b]) / 2 for a in range(C) for b in range(a + 1, C)]
    Q = np.asarray(queries, dtype=np.float64)
    Q = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    recalls = []
    for q in range(Q.shape[0]):
        worst = 1.0
        for w in weightings:
            wi = w[:, None] * mask  # (C, N)
            vec = np.einsum("cn,cnd->nd", wi, E)
            norm = np.linalg.norm(vec, axis=1)
            s = np.where(norm > 1e-6, (vec @ Q[q]) / np.where(norm > 1e-6, norm, 1.0), -np.inf)
            top = np.argsort(-s, kind="stable")[:k]
            worst = min(worst, np.isin(top, pools[q]).mean())
        recalls.append(worst)
    return float(np.mean(recalls))


@pytest.fixture(scope="module")
def calibrated(data):
    cat = Catalog(data.components, ids=data.ids, masks=data.masks)
    return cat.build_index(n_lists=16, target_recall=0.95, random_state=0)


def test_target_recall_is_reached_and_measured_independently(calibrated, data, queries):
    cal = calibrated.ann_index.calibration
    assert (cal["target_recall"], cal["k"], cal["queries"]) == (0.95, 10, "pseudo")
    assert cal["n_queries"] == 256
    assert cal["recall"] >= 0.95
    assert 0 < cal["recall_lower"] <= cal["recall"]
    assert calibrated.ann_index.n_probe == cal["n_probe"]
    # Held-out queries (make_catalog's own, not the pseudo-queries): recompute the recall of
    # the calibrated setting with an independent exact top-k; it must also reach the target
    # up to the sampling error of 256 calibration queries.
    pools = candidate_pools(
        calibrated.ann_index, queries, cal["n_candidates"], N_ITEMS, lowest=False
    )
    held_out = _worst_list_recall(calibrated, queries, pools, 10)
    assert held_out >= 0.95 - 0.03
    # The strategy users search with: HybridFusion's approximate top-10 against its exact one.
    exact = HybridFusion(calibrated).fit().kneighbors(queries, 10, return_distance=False)
    approx = HybridFusion(calibrated, approximate=True).fit().kneighbors(queries, 10, False)
    hits = [np.intersect1d(a, e).size for a, e in zip(approx, exact, strict=True)]
    assert np.mean(hits) / 10 >= 0.95 - 0.03


def test_calibration_recall_matches_an_independent_count(data, queries):
    cat = Catalog(data.components, ids=data.ids, masks=data.masks)
    cat.build_index(n_lists=16, target_recall=0.9, calibration_queries=queries[:20])
    cal = cat.ann_index.calibration
    assert (cal["queries"], cal["n_queries"]) == ("given", 20)
    pools = candidate_pools(cat.ann_index, queries[:20], cal["n_candidates"], N_ITEMS, lowest=False)
    assert cal["recall"] == pytest.approx(_worst_list_recall(cat, queries[:20], pools, 10))


def test_a_given_n_probe_is_kept_and_only_n_candidates_calibrated(data):
    cat = Catalog(data.components, ids=data.ids, masks=data.masks)
    cat.build_index(n_lists=16, n_probe=16, target_recall=1.0)
    cal = cat.ann_index.calibration
    assert cat.ann_index.n_probe == cal["n_probe"] == 16
    assert cal["recall"] == 1.0


def test_unreachable_target_warns_and_keeps_the_best_setting(data):
    cat = Catalog(data.components, ids=data.ids, masks=data.masks)
    with pytest.warns(UserWarning, match="target_recall=1.0 was not reached"):
        cat.build_index(n_lists=16, n_probe=1, target_recall=1.0)
    assert cat.ann_index.calibration["recall"] < 1.0


def test_calibration_is_saved_shown_and_pickled(calibrated, queries, tmp_path):
    index = calibrated.ann_index
    assert f"n_candidates={index.n_candidates}" in repr(index)
    assert "recall@10=" in repr(index)
    assert "target 0.95" in repr(index)
    loaded = Catalog.load(calibrated.save(tmp_path / "cat"))
    assert loaded.ann_index.calibration == index.calibration
    assert loaded.ann_index.n_probe == index.n_probe
    assert pickle.loads(pickle.dumps(calibrated)).ann_index.calibration == index.calibration
    est = HybridFusion(loaded, approximate=True).fit()
    _assert_same(
        est.kneighbors(queries),
        HybridFusion(calibrated, approximate=True).fit().kneighbors(queries),
    )


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"recall": 1.5}, "'recall' must be a number in \\[0, 1\\]"),
        ({"recall": "high"}, "'recall' must be a number"),
        ({"k": 0}, "'k' must be a positive integer"),
        ({"k": True}, "'k' must be a positive integer"),
        ({"n_candidates": 5}, "'n_candidates' \\(5\\) is below k"),
        ({"queries": "mine"}, "'queries' must be 'pseudo' or 'given'"),
        ({"recall_lower": 1.0}, "'recall_lower' \\(1.0\\) exceeds"),
        ({"n_probe": 7}, "index.calibration.n_probe"),
        ({"extra": 1}, "'extra' is unexpected or missing"),
    ],
)
def test_tampered_calibration_is_refused(calibrated, tmp_path, change, match):
    import json

    path = calibrated.save(tmp_path / "cat")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["index"]["calibration"].update(change)
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=match):
        Catalog.load(path)


def test_n_candidates_none_resolution(catalog, calibrated, queries):
    assert HybridFusion(catalog).get_params()["n_candidates"] is None
    # Uncalibrated index: 300 (the message names the resolved count).
    with pytest.raises(ValueError, match="n_neighbors=301 exceeds n_candidates=300"):
        HybridFusion(catalog, approximate=True).fit().kneighbors(queries, 301)
    n = calibrated.ann_index.n_candidates
    with pytest.raises(ValueError, match=f"n_neighbors={n + 1} exceeds n_candidates={n}"):
        HybridFusion(calibrated, approximate=True).fit().kneighbors(queries, n + 1)
    # An explicit count wins over the calibrated one, and the defaults equal it spelled out.
    explicit = HybridFusion(calibrated, approximate=True, n_candidates=n).fit()
    implicit = HybridFusion(calibrated, approximate=True).fit()
    np.testing.assert_array_equal(implicit.kneighbors(queries)[1], explicit.kneighbors(queries)[1])
    assert clone(implicit).get_params()["n_candidates"] is None


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"target_recall": 0.0}, ValueError, "target_recall must be in \\(0, 1\\]"),
        ({"target_recall": 1.2}, ValueError, "target_recall must be in \\(0, 1\\]"),
        ({"target_recall": "high"}, TypeError, "target_recall must be a number"),
        ({"target_recall": True}, TypeError, "target_recall must be a number"),
        ({"target_recall": 0.9, "recall_k": 0}, ValueError, "recall_k must be at least 1"),
        ({"calibration_queries": np.ones((2, DIM))}, ValueError, "only used with target_recall"),
        (
            {"target_recall": 0.9, "calibration_queries": np.ones((2, 3))},
            ValueError,
            "calibration_queries must be an array of shape \\(n_queries, 64\\)",
        ),
        (
            {"target_recall": 0.9, "calibration_queries": np.full((2, DIM), np.nan)},
            ValueError,
            "calibration_queries holds NaN",
        ),
        (
            {"target_recall": 0.9, "calibration_queries": np.zeros((2, DIM))},
            ValueError,
            "calibration_queries row 0 is all zeros",
        ),
    ],
)
def test_bad_calibration_parameters(data, kwargs, error, match):
    cat = Catalog(data.components, ids=data.ids, masks=data.masks)
    with pytest.raises(error, match=match):
        cat.build_index(n_lists=16, **kwargs)
    assert cat.ann_index is None


# -- batches: one faiss call per index, the union of candidates re-scored in one pass -----


@pytest.mark.parametrize("name", ["hybrid", "average", "weighted", "combsum", "calibrated"])
@pytest.mark.parametrize(
    ("union_limit", "overlap"),
    [(1 << 15, 1e9), (200, 1e9), (1 << 15, 0.0)],
    ids=["one-union", "many-unions", "per-query"],
)
def test_batch_search_equals_one_by_one(
    name, catalog, queries, atol, union_limit, overlap, monkeypatch
):
    from skfusion.fusion import _approximate

    monkeypatch.setattr(_approximate, "_UNION_LIMIT", union_limit)  # 200: many small groups
    monkeypatch.setattr(_approximate, "_UNION_OVERLAP", overlap)  # 0: never a union pass
    params = {**_params(name), "approximate": True, "n_candidates": 20}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # a deprecated strategy
        est = STRATEGIES[name].estimator(catalog, **params).fit()
    batch = est.kneighbors(queries, 10)
    single = [est.kneighbors(q[None, :], 10) for q in queries]
    one_by_one = (np.vstack([s for s, _ in single]), np.vstack([i for _, i in single]))
    _assert_same(batch, one_by_one, atol)


def test_auto_searches_exactly_when_cheaper_or_without_index(data, catalog, queries, monkeypatch):
    from skfusion.fusion import _approximate

    exact = HybridFusion(catalog).fit().kneighbors(queries)
    # 800 items with 300 candidates from each of 4 indexes: exact search is cheaper.
    auto = HybridFusion(catalog, approximate="auto").fit()
    assert _approximate.prefer_exact(auto, len(queries))
    np.testing.assert_array_equal(auto.kneighbors(queries)[1], exact[1])
    bare = Catalog(data.components, ids=data.ids, masks=data.masks)
    no_index = HybridFusion(bare, approximate="auto").fit()
    np.testing.assert_array_equal(no_index.kneighbors(queries)[1], exact[1])
    # When the model says approximate search is cheaper, "auto" is approximate=True.
    monkeypatch.setattr(_approximate, "_RESCORE_UNIT", 0.0)
    monkeypatch.setattr(_approximate, "_SCAN_UNIT", 0.0)
    auto = HybridFusion(catalog, approximate="auto", n_candidates=10).fit()
    assert not _approximate.prefer_exact(auto, len(queries))
    approx = HybridFusion(catalog, approximate=True, n_candidates=10).fit().kneighbors(queries)
    np.testing.assert_array_equal(auto.kneighbors(queries)[1], approx[1])
