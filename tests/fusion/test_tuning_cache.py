"""The per-catalog tuning cache: similarity blocks shared by the candidates of a weight search."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from joblib import parallel_backend
from sklearn.model_selection import GridSearchCV, KFold

from skfusion import Catalog, WeightedFusion
from skfusion.fusion import _simcache
from skfusion.metrics import make_ranking_scorer, ranking_metrics

from .._data import unit_rows


def _small() -> tuple[Catalog, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    title, body = unit_rows(rng, (40, 6)), unit_rows(rng, (40, 6))
    mask = np.ones((2, 40), dtype=bool)
    mask[1, :10] = False  # ten items without a body
    body[:10] = 0
    cat = Catalog.from_arrays({"title": title, "body": body}, masks={"body": mask[1]})
    X = unit_rows(rng, (12, 6))
    y = np.zeros((12, 40))
    y[np.arange(12), rng.integers(0, 40, 12)] = 2
    y[np.arange(12), rng.integers(0, 40, 12)] += 1
    return cat, X, y


GRID = {"weights": [[1.0, 0.0], [0.7, 0.3], [0.5, 0.5], [0.2, 0.8], [0.0, 1.0]]}


def _search(cat: Catalog, X: np.ndarray, y: np.ndarray, n_jobs: int | None = None) -> dict:
    gs = GridSearchCV(WeightedFusion(cat, precompute=False), GRID, cv=KFold(3), n_jobs=n_jobs)
    with parallel_backend("threading"):
        return gs.fit(X, y).cv_results_


def test_cv_results_identical_with_and_without_cache() -> None:
    cat, X, y = _small()
    _simcache.clear_tuning_cache()
    new = _search(cat, X, y)
    with _simcache.disabled():
        old = _search(cat, X, y)
    assert _simcache.cache_for(cat).entries  # the cached path ran
    for key in ("mean_test_score", "rank_test_score", "split0_test_score", "split2_test_score"):
        np.testing.assert_array_equal(new[key], old[key], err_msg=key)
    assert [p["weights"] for p in new["params"]] == [p["weights"] for p in old["params"]]


def test_scores_equal_kneighbors_metric_and_hand_computed_gram_form() -> None:
    cat, X, y = _small()
    est = WeightedFusion(cat, weights=[0.7, 0.3], precompute=False).fit()
    ranking = est.kneighbors(X, n_neighbors=10, return_distance=False)
    expected = ranking_metrics(y, ranking=ranking, metrics=["ndcg@10"], n_items=cat.n_items)[
        "ndcg@10"
    ]
    assert est.score(X, y) == expected
    # The cached dense scores are the Gram form Σ w_c s_ic / sqrt(wᵀ K_i w).
    scores = est._tuning_rank(X, None)
    assert scores is not None
    E = np.stack(cat.matrices()).astype(np.float64)
    w = np.array([0.7, 0.3])
    f = np.tensordot(w, E, axes=1)
    norms = np.linalg.norm(f, axis=1)
    ref = X.astype(np.float64) @ f.T / norms
    np.testing.assert_allclose(scores, ref, atol=1e-5)
    np.testing.assert_array_equal(scores, est.decision_function(X))


def test_clones_hit_the_same_entry_and_different_queries_do_not() -> None:
    cat, X, y = _small()
    _simcache.clear_tuning_cache(cat)
    a = WeightedFusion(cat, weights=[1, 0], precompute=False).fit()
    b = WeightedFusion(cat, weights=[0, 1], precompute=False).fit()
    a.score(X, y)
    entries = _simcache.cache_for(cat).entries
    assert len(entries) == 1
    first = next(iter(entries.values()))
    b.score(X.copy(), y)  # a clone-like estimator, an equal array: same entry
    assert len(entries) == 1
    assert next(iter(entries.values())) is first
    Z = X.copy()
    Z[0] = X[1]  # other queries: a new entry, and the right scores
    b.score(Z, y)
    assert len(entries) == 2
    with _simcache.disabled():
        expected = b.kneighbors(Z, n_neighbors=10, return_distance=False)
    np.testing.assert_array_equal(b._tuning_rank(Z, 10), expected)


def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    cat, X, _ = _small()
    _simcache.clear_tuning_cache(cat)
    one = _simcache.similarity_nbytes(cat, 4)
    monkeypatch.setattr(_simcache, "SIMILARITY_CACHE_BYTES", 2 * one)
    monkeypatch.setattr(_simcache, "ENTRY_FRACTION", 2)
    est = WeightedFusion(cat, precompute=False).fit()
    for start in range(0, 12, 4):
        assert est._tuning_rank(X[start : start + 4], 5) is not None
    entries = _simcache.cache_for(cat).entries
    assert len(entries) == 2  # the oldest was evicted
    assert sum(e.nbytes for e in entries.values()) <= 2 * one
    assert est._tuning_rank(X, 5) is None  # 12 queries: larger than an entry may be


def test_threaded_search_is_correct_and_builds_each_entry_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cat, X, y = _small()
    with _simcache.disabled():
        expected = _search(cat, X, y)
    _simcache.clear_tuning_cache(cat)
    builds: list[int] = []
    lock = threading.Lock()
    original = _simcache.SimilarityBlocks.__init__

    def counting(self: object, *args: object) -> None:
        with lock:
            builds.append(1)
        original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(_simcache.SimilarityBlocks, "__init__", counting)
    got = _search(cat, X, y, n_jobs=2)
    np.testing.assert_array_equal(got["mean_test_score"], expected["mean_test_score"])
    np.testing.assert_array_equal(got["rank_test_score"], expected["rank_test_score"])
    assert len(builds) == 3  # one per test fold


def test_fused_vectors_keep_their_own_path() -> None:
    cat, X, y = _small()
    # "auto" (within budget) ranks scorers from the cache, like False; True keeps its path.
    auto = WeightedFusion(cat).fit()._tuning_rank(X, 10)
    assert auto is not None
    np.testing.assert_array_equal(
        auto, WeightedFusion(cat, precompute=False).fit()._tuning_rank(X, 10)
    )
    assert WeightedFusion(cat, precompute=True).fit()._tuning_rank(X, 10) is None
    assert (
        WeightedFusion(cat, backend="numpy", precompute=False).fit()._tuning_rank(X, 10) is not None
    )
    scorer = make_ranking_scorer("ndcg@10")
    est = WeightedFusion(cat, precompute=False).fit()
    assert scorer(est, X, y) == est.score(X, y)


def test_invalid_queries_still_raise() -> None:
    cat, X, y = _small()
    est = WeightedFusion(cat, precompute=False).fit()
    with pytest.raises(ValueError, match="L2-normalised"):
        est.score(X * 2, y)  # not unit rows
    with pytest.raises(ValueError, match="features"):
        est.score(X[:, :4], y)


def test_derived_caches_are_held_by_the_catalog() -> None:
    from skfusion import AgreementFusion
    from skfusion.fusion import _static, agreement

    first, X, y = _small()
    second, _, _ = _small()  # an equal catalog: a store of its own
    for cat in (first, second):
        WeightedFusion(cat, precompute=False).fit().score(X, y)  # similarity blocks
        WeightedFusion(cat, precompute=True).fit().kneighbors(X, 5)  # fused vectors
        AgreementFusion(cat).fit().kneighbors(X, 5)  # agreement statistics
    for cat in (first, second):
        assert {"fusion.tuning", "fusion.fused", "fusion.agreement.imputed"} <= set(
            cat._derived().keys()
        )
        assert _simcache.cache_for(cat) is cat._derived().get("fusion.tuning")
        assert _static.fused_cache(cat) is cat._derived().get("fusion.fused")
    # Agreement scores the imputed copy: its statistics are held by that catalog.
    imputed = agreement.impute_components(first)
    assert imputed is first._derived().get("fusion.agreement.imputed")
    assert {
        "catalog.covariances",
        "fusion.agreement.covariances",
        "fusion.agreement.shares",
    } <= set(imputed._derived().keys())
    # One catalog, or every catalog:
    _simcache.clear_tuning_cache(first)
    assert "fusion.tuning" not in first._derived()
    assert "fusion.tuning" in second._derived()
    _simcache.clear_tuning_cache()
    _static.clear_fused_cache()
    agreement.clear_shares_cache()
    for cat in (first, second, imputed):
        assert not {"fusion.tuning", "fusion.fused", "fusion.agreement.shares"} & set(
            cat._derived().keys()
        )
    assert "fusion.agreement.covariances" in imputed._derived()  # not a query cache
