"""Nested cross-validated rankings (no tuning leakage) and the benchmark protocol."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold

from skfusion import AverageFusion, HybridFusion, WeightedFusion
from skfusion.evaluation import Tuned, benchmark_strategies, cross_val_ranking
from skfusion.metrics import ranking_metrics
from skfusion.metrics._ranking import ndcg_at_k
from skfusion.metrics._scorer import RankingScorer

from .._data import grouped_queries

GRID = {"weights": [[1.0, 0.0], [0.7, 0.3], [0.3, 0.7], [0.0, 1.0]]}


def _scramble(y: np.ndarray, rows: np.ndarray, seed: int) -> np.ndarray:
    """Move every judgment of ``rows`` to random items."""
    rng = np.random.default_rng(seed)
    out = y.copy()
    for r in rows:
        out[r] = 0
        out[r, rng.choice(y.shape[1], size=2, replace=False)] = [3, 1]
    return out


def test_folds_partition_the_queries_and_rank_with_the_fold_model() -> None:
    cat, X, y, _ = grouped_queries(0)
    outer = KFold(4, shuffle=True, random_state=0)
    cvr = cross_val_ranking(WeightedFusion(cat), GRID, X, y, depth=25, cv=outer, inner_cv=3)
    tests = np.concatenate([f.test for f in cvr.folds])
    assert sorted(tests.tolist()) == list(range(len(X)))
    for fold in cvr.folds:
        assert not set(fold.train) & set(fold.test)
        est = WeightedFusion(cat, **fold.best_params).fit()
        s, idx = est.kneighbors(X[fold.test], n_neighbors=25)
        np.testing.assert_array_equal(cvr.ranking[fold.test], idx)
        np.testing.assert_array_equal(cvr.scores[fold.test], s)
        # The inner score is the grid search's, on training queries only.
        manual = GridSearchCV(WeightedFusion(cat), GRID, cv=3, scoring=RankingScorer())
        manual.fit(X[fold.train], y[fold.train])
        assert fold.best_params == manual.best_params_
        assert fold.best_score == pytest.approx(manual.best_score_)
    assert cvr.folds[0].best_params == {"weights": [1.0, 0.0]}  # the planted answer


def test_test_fold_judgments_never_reach_the_tuning() -> None:
    """Scrambling a test fold's judgments changes nothing that fold's model saw."""
    cat, X, y, _ = grouped_queries(1)
    outer = KFold(4, shuffle=True, random_state=1)
    first = cross_val_ranking(WeightedFusion(cat), GRID, X, y, depth=150, cv=outer, inner_cv=3)
    test0 = first.folds[0].test
    y_scrambled = _scramble(y, test0, seed=2)
    second = cross_val_ranking(
        WeightedFusion(cat), GRID, X, y_scrambled, depth=150, cv=outer, inner_cv=3
    )
    assert second.folds[0].best_params == first.folds[0].best_params
    assert second.folds[0].best_score == first.folds[0].best_score
    np.testing.assert_array_equal(second.ranking[test0], first.ranking[test0])
    # The scramble is not a no-op: it changes those queries' metric and the other folds'
    # tuning inputs (their training sets contain the scrambled queries).
    before = ranking_metrics(y[test0], ranking=first.ranking[test0], metrics=["ndcg@10"])
    after = ranking_metrics(y_scrambled[test0], ranking=first.ranking[test0], metrics=["ndcg@10"])
    assert before["ndcg@10"] > after["ndcg@10"] + 0.2
    assert any(
        a.best_score != b.best_score for a, b in zip(first.folds[1:], second.folds[1:], strict=True)
    )


def test_groups_reach_the_outer_and_inner_splits() -> None:
    cat, X, y, groups = grouped_queries(2)
    cvr = cross_val_ranking(
        WeightedFusion(cat),
        GRID,
        X,
        y,
        depth=10,
        cv=GroupKFold(4),
        inner_cv=GroupKFold(3),
        groups=groups,
    )
    for fold in cvr.folds:
        assert not set(groups[fold.train]) & set(groups[fold.test])
        manual = GridSearchCV(WeightedFusion(cat), GRID, cv=GroupKFold(3), scoring=RankingScorer())
        manual.fit(X[fold.train], y[fold.train], groups=groups[fold.train])
        assert fold.best_score == pytest.approx(manual.best_score_)


def test_cross_val_ranking_errors() -> None:
    cat, X, y, groups = grouped_queries(3)
    with pytest.raises(ValueError, match="groups has shape"):
        cross_val_ranking(WeightedFusion(cat), GRID, X, y, depth=5, groups=groups[:-1])

    class Overlapping:
        def split(self, X, y=None, groups=None):
            n = len(X)
            yield np.arange(n // 2, n), np.arange(0, n // 2 + 1)
            yield np.arange(0, n // 2), np.arange(n // 2, n)

        def get_n_splits(self, *args):
            return 2

    with pytest.raises(ValueError, match="more than one test fold"):
        cross_val_ranking(WeightedFusion(cat), GRID, X, y, depth=5, cv=Overlapping(), inner_cv=2)

    class Partial(Overlapping):
        def split(self, X, y=None, groups=None):
            n = len(X)
            yield np.arange(10, n), np.arange(0, 10)

    with pytest.raises(ValueError, match="never in a test fold"):
        cross_val_ranking(WeightedFusion(cat), GRID, X, y, depth=5, cv=Partial(), inner_cv=2)


def test_benchmark_strategies_table_and_per_query_values() -> None:
    cat, X, y, _ = grouped_queries(4)
    strategies = {
        "average": AverageFusion(cat),
        "hybrid": HybridFusion(cat),
        "good-only": WeightedFusion(cat, weights=[1, 0]),
        "tuned": Tuned(WeightedFusion(cat), GRID),
    }
    res = benchmark_strategies(
        strategies,
        X,
        y,
        baseline="hybrid",
        metrics=["ndcg@10", "mrr"],
        inner_cv=3,
        n_resamples=500,
        query_ids=[f"q{i}" for i in range(len(X))],
    )
    assert list(res.runs) == list(strategies)
    # Fixed strategies: per-query values are the metrics of their own scores.
    for name in ("average", "hybrid", "good-only"):
        est = strategies[name].fit()
        np.testing.assert_allclose(
            res.runs[name].per_query["ndcg@10"],
            ndcg_at_k(y, est.decision_function(X), per_query=True),
            atol=1e-7,
        )
        assert res.runs[name].ranking.shape == (len(X), cat.n_items)  # full ranking
    assert len(res.runs["tuned"].folds) == 5
    table = res.table.set_index(["strategy", "metric"])
    for name in strategies:
        for metric in ("ndcg@10", "mrr"):
            row = table.loc[(name, metric)]
            values = res.runs[name].per_query[metric]
            assert row["mean"] == pytest.approx(values.mean())
            assert row["ci_low"] <= row["mean"] <= row["ci_high"]
    assert np.isnan(table.loc[("hybrid", "ndcg@10"), "p_value"])
    # 'good' identifies items and 'noise' does not: good-only beats the average clearly.
    assert table.loc[("good-only", "ndcg@10"), "mean"] > table.loc[("average", "ndcg@10"), "mean"]
    frame = res.per_query_frame()
    assert frame.shape == (4 * len(X), 4)
    assert frame["query_id"].iloc[0] == "q0"


def test_benchmark_strategies_errors() -> None:
    cat, X, y, _ = grouped_queries(5)
    with pytest.raises(ValueError, match="Unknown baseline 'x'"):
        benchmark_strategies({"a": AverageFusion(cat)}, X, y, baseline="x")
    with pytest.raises(ValueError, match="shorter than the metrics' cut-off 10"):
        benchmark_strategies({"a": AverageFusion(cat)}, X, y, baseline="a", depth=5)
    with pytest.raises(ValueError, match="Unknown metric"):
        benchmark_strategies({"a": AverageFusion(cat)}, X, y, baseline="a", metrics=["bleu@4"])
    with pytest.raises(ValueError, match="query_ids has shape"):
        benchmark_strategies({"a": AverageFusion(cat)}, X, y, baseline="a", query_ids=[1, 2])
