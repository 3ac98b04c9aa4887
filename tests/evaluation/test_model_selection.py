"""Scorers, the estimators' configurable metric, and query-grouped (nested) cross-validation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import sklearn
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    KFold,
    cross_val_score,
    cross_validate,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer

from skfusion import Catalog, HybridFusion, WeightedFusion
from skfusion.metrics import make_ranking_scorer, ranking_metrics
from skfusion.metrics._ranking import mrr_at_k, ndcg_at_k, recall_at_k
from skfusion.metrics._scorer import RankingScorer, ranking_scorers

from .._data import grouped_queries, unit_rows


def test_scorer_equals_estimator_score_and_metric_functions() -> None:
    cat, X, y, _ = grouped_queries()
    est = HybridFusion(cat).fit()
    scores = est.decision_function(X)
    assert RankingScorer("ndcg@10")(est, X, y) == pytest.approx(est.score(X, y), abs=1e-12)
    assert RankingScorer("ndcg@10")(est, X, y) == pytest.approx(ndcg_at_k(y, scores, k=10))
    # No cut-off: ranked through decision_function.
    assert RankingScorer("mrr")(est, X, y) == pytest.approx(mrr_at_k(y, scores))
    per_query = RankingScorer("recall@5").per_query(est, X, y)
    np.testing.assert_allclose(per_query, recall_at_k(y, scores, k=5, per_query=True))
    w = np.linspace(0.5, 1.5, len(X))
    assert RankingScorer("recall@5")(est, X, y, sample_weight=w) == pytest.approx(
        np.average(per_query, weights=w)
    )
    assert repr(make_ranking_scorer("map@10")) == "RankingScorer('map@10')"


class _DenseOnly:
    """Exposes decision_function only, so the scorer cannot use kneighbors."""

    def __init__(self, est: Any):
        self.est = est

    def decision_function(self, X: Any) -> np.ndarray:
        return self.est.decision_function(X)


def test_top_k_and_dense_paths_agree_even_with_tied_items() -> None:
    rng = np.random.default_rng(3)
    good = unit_rows(rng, (60, 8))
    good[31] = good[7]  # identical items: equal scores for every query
    good[45] = good[7]
    cat = Catalog.from_arrays({"a": good, "b": unit_rows(rng, (60, 8))})
    X = unit_rows(rng, (20, 8))
    y = np.zeros((20, 60))
    y[:, 45] = 2
    y[:, 7] = 1
    y[np.arange(20), rng.integers(0, 60, 20)] += 1
    est = WeightedFusion(cat, weights=[1, 0]).fit()
    for metric in ("ndcg@10", "recall@20", "precision@3", "mrr@5", "map@30"):
        topk = RankingScorer(metric).per_query(est, X, y)
        dense = RankingScorer(metric).per_query(_DenseOnly(est), X, y)
        np.testing.assert_allclose(topk, dense, rtol=0, atol=1e-7, err_msg=metric)


def test_estimator_scoring_parameter() -> None:
    cat, X, y, _ = grouped_queries(1)
    est = WeightedFusion(cat, weights=[1, 1], scoring="recall@5").fit()
    assert est.score(X, y) == pytest.approx(recall_at_k(y, est.decision_function(X), k=5))
    assert est.get_params()["scoring"] == "recall@5"
    with pytest.raises(ValueError, match="Unknown metric 'bleu@4'"):
        HybridFusion(cat, scoring="bleu@4").fit()
    # GridSearchCV without scoring= optimises the estimator's own metric.
    search = GridSearchCV(
        WeightedFusion(cat, scoring="mrr"), {"weights": [[1, 0], [0, 1]]}, cv=KFold(3)
    ).fit(X, y)
    manual = [
        mrr_at_k(y[test], WeightedFusion(cat, weights=[1, 0]).fit().decision_function(X[test]))
        for _, test in KFold(3).split(X)
    ]
    np.testing.assert_allclose(search.cv_results_["split0_test_score"][0], manual[0])


def test_multi_metric_cross_validate_and_refit_by_name() -> None:
    cat, X, y, _ = grouped_queries(2)
    scoring = ranking_scorers(["ndcg@10", "recall@10", "mrr"])
    res = cross_validate(WeightedFusion(cat, weights=[1, 0.2]), X, y, cv=KFold(4), scoring=scoring)
    for fold, (_, test) in enumerate(KFold(4).split(X)):
        scores = WeightedFusion(cat, weights=[1, 0.2]).fit().decision_function(X[test])
        expected = ranking_metrics(y[test], scores, metrics=["ndcg@10", "recall@10", "mrr"])
        for name, value in expected.items():
            assert res[f"test_{name}"][fold] == pytest.approx(value, abs=1e-9)
    search = GridSearchCV(
        WeightedFusion(cat),
        {"weights": [[1, 0], [0.5, 0.5], [0, 1]]},
        scoring=scoring,
        refit="recall@10",
        cv=KFold(3),
    ).fit(X, y)
    assert search.best_params_["weights"] == [1, 0]
    assert "mean_test_mrr" in search.cv_results_
    # cross_val_score with a scorer on a Pipeline (the scorer ranks with the last step).
    pipe = Pipeline([("norm", Normalizer()), ("fusion", WeightedFusion(cat, weights=[1, 0]))])
    vals = cross_val_score(pipe, X * 3.0, y, cv=KFold(3), scoring=make_ranking_scorer("ndcg@5"))
    direct = cross_val_score(
        WeightedFusion(cat, weights=[1, 0]),
        X,
        y,
        cv=KFold(3),
        scoring=make_ranking_scorer("ndcg@5"),
    )
    np.testing.assert_allclose(vals, direct, atol=1e-6)
    # A fitted search is scored through its best estimator.
    assert RankingScorer("ndcg@10")(search, X, y) == pytest.approx(
        search.best_estimator_.score(X, y)
    )


def test_scorer_rejects_estimators_that_cannot_rank() -> None:
    with pytest.raises(TypeError, match="neither kneighbors nor decision_function"):
        RankingScorer()(object(), np.zeros((1, 2)), np.array([0]))
    with pytest.raises(ValueError, match="Unknown metric"):
        RankingScorer("accuracy")
    with pytest.raises(ValueError, match="metrics is empty"):
        ranking_scorers([])


def test_nested_cross_validation_with_query_groups() -> None:
    """The documented recipe: GroupKFold inside and outside, groups routed to both."""
    cat, X, y, groups = grouped_queries(4)
    grid = {"weights": [[1, 0], [0.7, 0.3], [0.3, 0.7]]}
    scorer = make_ranking_scorer("ndcg@10")
    with sklearn.config_context(enable_metadata_routing=True):
        inner = GridSearchCV(WeightedFusion(cat), grid, cv=GroupKFold(3), scoring=scorer)
        outer = cross_validate(
            inner,
            X,
            y,
            cv=GroupKFold(4),
            scoring=scorer,
            params={"groups": groups},
            return_estimator=True,
            return_indices=True,
        )
    for fold, (train, test) in enumerate(
        zip(outer["indices"]["train"], outer["indices"]["test"], strict=True)
    ):
        assert not set(groups[train]) & set(groups[test])  # no source on both sides
        # The inner search saw only training queries, split by their groups.
        manual = GridSearchCV(WeightedFusion(cat), grid, cv=GroupKFold(3), scoring=scorer)
        manual.fit(X[train], y[train], groups=groups[train])
        fitted = outer["estimator"][fold]
        np.testing.assert_allclose(
            fitted.cv_results_["mean_test_score"], manual.cv_results_["mean_test_score"]
        )
        assert outer["test_score"][fold] == pytest.approx(manual.score(X[test], y[test]))
