"""Ranking metrics: hand-computed cases, trec_eval (pytrec_eval) and scikit-learn parity."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import ndcg_score as sk_ndcg_score
from sklearn.metrics import top_k_accuracy_score

from skfusion.metrics import ranking_metrics
from skfusion.metrics._ranking import (
    map_at_k,
    metric_depth,
    mrr_at_k,
    ndcg_at_k,
    parse_metric,
    precision_at_k,
    recall_at_k,
    top_k,
)
from skfusion.metrics._relevance import as_relevance

pytrec_eval = pytest.importorskip("pytrec_eval")

# Our name -> trec_eval measure and the key pytrec_eval reports it under.
TREC_MEASURES = {
    "ndcg@5": ("ndcg_cut.5", "ndcg_cut_5"),
    "ndcg@10": ("ndcg_cut.10", "ndcg_cut_10"),
    "recall@5": ("recall.5", "recall_5"),
    "recall@10": ("recall.10", "recall_10"),
    "precision@5": ("P.5", "P_5"),
    "precision@10": ("P.10", "P_10"),
    "mrr": ("recip_rank", "recip_rank"),
    "map": ("map", "map"),
    "map@10": ("map_cut.10", "map_cut_10"),
}


def _graded(rng: np.random.Generator, n_queries: int, n_items: int) -> np.ndarray:
    gains = rng.integers(0, 4, size=(n_queries, n_items)) * (
        rng.random((n_queries, n_items)) < 0.15
    )
    gains[:3] = 0  # a few queries with a single relevant item, graded 2
    gains[np.arange(3), rng.integers(0, n_items, size=3)] = 2
    empty = gains.sum(axis=1) == 0
    gains[empty, rng.integers(0, n_items, size=int(empty.sum()))] = 1
    return gains


def _trec_eval(gains: np.ndarray, run_rows: list[dict[int, float]]) -> dict[str, np.ndarray]:
    qrels = {
        f"q{q}": {f"d{i}": int(g) for i, g in enumerate(row) if g > 0 or i % 7 == 0}
        for q, row in enumerate(gains)
    }  # also some explicit 0 judgments: trec_eval treats them as not relevant
    run = {f"q{q}": {f"d{i}": float(s) for i, s in r.items()} for q, r in enumerate(run_rows)}
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {m for m, _ in TREC_MEASURES.values()})
    res = evaluator.evaluate(run)
    return {
        ours: np.array([res[f"q{q}"][key] for q in range(len(gains))])
        for ours, (_, key) in TREC_MEASURES.items()
    }


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dense_scores_match_trec_eval(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gains = _graded(rng, 40, 60)
    scores = rng.standard_normal((40, 60))  # continuous: no ties, so tie rules do not matter
    ref = _trec_eval(gains, [dict(enumerate(row)) for row in scores])
    ours = ranking_metrics(gains, scores, metrics=list(TREC_MEASURES), per_query=True)
    for name in TREC_MEASURES:
        np.testing.assert_allclose(ours[name], ref[name], rtol=0, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("seed", [3, 4])
def test_topk_lists_match_trec_eval_on_truncated_runs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    gains = _graded(rng, 30, 80)
    scores = rng.standard_normal((30, 80))
    ranking = top_k(scores, 12)
    run_rows = [{int(i): float(12 - r) for r, i in enumerate(row)} for row in ranking]
    ref = _trec_eval(gains, run_rows)
    sparse = sp.csr_matrix(gains)
    ours = ranking_metrics(sparse, ranking=ranking, metrics=list(TREC_MEASURES), per_query=True)
    for name in TREC_MEASURES:
        np.testing.assert_allclose(ours[name], ref[name], rtol=0, atol=1e-9, err_msg=name)


def test_padded_lists_match_trec_eval() -> None:
    rng = np.random.default_rng(5)
    gains = _graded(rng, 10, 30)
    ranking = np.full((10, 8), -1)
    run_rows = []
    for q in range(10):
        n = int(rng.integers(1, 9))
        ranking[q, :n] = rng.permutation(30)[:n]
        run_rows.append({int(i): float(8 - r) for r, i in enumerate(ranking[q, :n])})
    ref = _trec_eval(gains, run_rows)
    ours = ranking_metrics(gains, ranking=ranking, metrics=list(TREC_MEASURES), per_query=True)
    for name in TREC_MEASURES:
        np.testing.assert_allclose(ours[name], ref[name], rtol=0, atol=1e-9, err_msg=name)


def test_hand_computed_one_query() -> None:
    # Gains: item 2 -> 3, item 0 -> 1, item 4 -> 2 (3 relevant). Scores rank 0, 1, 2, 3, 4.
    gains = np.array([[1, 0, 3, 0, 2]])
    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.5]])
    dcg3 = 1 / math.log2(2) + 3 / math.log2(4)
    idcg3 = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(gains, scores, k=3) == pytest.approx(dcg3 / idcg3, abs=1e-15)
    assert ndcg_at_k(gains, scores, k=1) == pytest.approx(1 / 3, abs=1e-15)
    assert recall_at_k(gains, scores, k=3) == pytest.approx(2 / 3)
    assert precision_at_k(gains, scores, k=3) == pytest.approx(2 / 3)
    assert precision_at_k(gains, scores, k=10) == pytest.approx(3 / 10)  # divides by k
    assert mrr_at_k(gains, scores) == pytest.approx(1.0)
    # AP: relevant at ranks 1, 3, 5 -> (1/1 + 2/3 + 3/5) / 3
    assert map_at_k(gains, scores) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    # AP cut at 3 keeps the divisor 3 (all relevant items): (1 + 2/3) / 3
    assert map_at_k(gains, scores, k=3) == pytest.approx((1 + 2 / 3) / 3)
    # First relevant at rank 2 -> RR 1/2; with k=1 nothing relevant within the cut -> 0.
    later = np.array([[0.1, 0.8, 0.7, 0.6, 0.5]])
    assert mrr_at_k(gains, later) == pytest.approx(0.5)
    assert mrr_at_k(gains, later, k=1) == 0.0


def test_per_query_and_mean() -> None:
    gains = np.array([[1, 0, 0], [0, 0, 1]])
    scores = np.array([[0.9, 0.5, 0.1], [0.9, 0.5, 0.1]])
    per = recall_at_k(gains, scores, k=1, per_query=True)
    np.testing.assert_array_equal(per, [1.0, 0.0])
    assert recall_at_k(gains, scores, k=1) == 0.5
    np.testing.assert_allclose(mrr_at_k(gains, scores, per_query=True), [1.0, 1 / 3])


def test_ties_go_to_the_lower_item_position() -> None:
    # Items 1 and 3 tie; item 3 is relevant, so it ranks third (after item 1), not second.
    gains = np.array([[0, 0, 0, 1]])
    scores = np.array([[0.9, 0.5, 0.1, 0.5]])
    assert mrr_at_k(gains, scores) == pytest.approx(1 / 3)
    np.testing.assert_array_equal(top_k(scores, 4), [[0, 1, 3, 2]])
    # Every score equal: catalog order.
    flat = np.zeros((1, 6))
    np.testing.assert_array_equal(top_k(flat, 3), [[0, 1, 2]])
    assert mrr_at_k(np.array([[0, 0, 0, 0, 1, 0]]), flat) == pytest.approx(1 / 5)


def test_top_k_matches_stable_argsort_with_many_ties() -> None:
    rng = np.random.default_rng(6)
    scores = rng.integers(0, 4, size=(25, 40)).astype(float)
    scores[0, :5] = -np.inf
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :7]
    np.testing.assert_array_equal(top_k(scores, 7), expected)
    # The metrics from dense scores agree with the metrics of that ranking.
    gains = _graded(rng, 25, 40)
    full = np.argsort(-scores, axis=1, kind="stable")
    a = ranking_metrics(gains, scores, metrics=["ndcg@10", "map", "mrr"], per_query=True)
    b = ranking_metrics(gains, ranking=full, metrics=["ndcg@10", "map", "mrr"], per_query=True)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-12)


@pytest.mark.parametrize("k", [1, 3, 10])
def test_ndcg_matches_sklearn(k: int) -> None:
    rng = np.random.default_rng(0)
    gains = _graded(rng, 20, 30).astype(float)
    scores = rng.standard_normal((20, 30))
    ours = ndcg_at_k(gains, scores, k=k, per_query=True)
    theirs = [sk_ndcg_score(gains[i : i + 1], scores[i : i + 1], k=k) for i in range(20)]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    assert ndcg_at_k(gains, scores, k=k) == pytest.approx(sk_ndcg_score(gains, scores, k=k))


@pytest.mark.parametrize("k", [1, 2, 5])
def test_recall_with_one_relevant_item_is_top_k_accuracy(k: int) -> None:
    rng = np.random.default_rng(1)
    target = rng.integers(0, 12, size=50)
    scores = rng.standard_normal((50, 12))
    expected = top_k_accuracy_score(target, scores, k=k, labels=np.arange(12))
    assert recall_at_k(target, scores, k=k) == pytest.approx(expected, abs=1e-12)


def test_average_precision_of_one_relevant_item_is_its_reciprocal_rank() -> None:
    rng = np.random.default_rng(7)
    target = rng.integers(0, 20, size=30)
    scores = rng.standard_normal((30, 20))
    np.testing.assert_allclose(
        map_at_k(target, scores, per_query=True), mrr_at_k(target, scores, per_query=True)
    )


def test_sparse_dense_and_index_targets_agree() -> None:
    rng = np.random.default_rng(2)
    target = rng.integers(0, 9, size=15)
    dense = np.zeros((15, 9))
    dense[np.arange(15), target] = 1
    scores = rng.standard_normal((15, 9))
    for y in (target, dense, sp.csr_matrix(dense), sp.coo_matrix(dense)):
        assert ndcg_at_k(y, scores, k=3) == pytest.approx(ndcg_at_k(dense, scores, k=3))


def test_negative_infinity_scores_rank_last() -> None:
    gains = np.array([[1, 0, 0]])
    scores = np.array([[-np.inf, 0.0, -1.0]])
    assert mrr_at_k(gains, scores) == pytest.approx(1 / 3)


def test_metric_names() -> None:
    assert parse_metric("nDCG@10") == ("ndcg", 10)
    assert parse_metric("p@5") == ("precision", 5)
    assert parse_metric("mrr") == ("mrr", None)
    assert parse_metric("map@100") == ("map", 100)
    assert metric_depth(["ndcg@10", "recall@100"]) == 100
    assert metric_depth(["ndcg@10", "map"]) is None
    for bad, msg in [
        ("ndcg", "needs a cut-off"),
        ("ndcg@0", "must be positive"),
        ("bleu@4", "Unknown metric"),
        ("ndcg@ten", "Cannot parse"),
    ]:
        with pytest.raises(ValueError, match=msg):
            parse_metric(bad)


def test_bad_input_errors() -> None:
    gains = np.array([[1, 0, 0], [0, 1, 0]])
    scores = np.zeros((2, 3))
    with pytest.raises(ValueError, match="k must be positive"):
        ndcg_at_k(gains, scores, k=0)
    with pytest.raises(TypeError, match="k must be an int"):
        recall_at_k(gains, scores, k=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"expected \(n_queries, n_items\) = \(2, 4\)"):
        ndcg_at_k(gains, np.zeros((2, 4)))
    with pytest.raises(ValueError, match="must be \\(n_queries, n_items\\)"):
        ndcg_at_k(gains, np.zeros(3))
    nan = scores.copy()
    nan[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN .*query 1, item 2"):
        mrr_at_k(gains, nan)
    with pytest.raises(ValueError, match=r"1 query has no relevant item \(row 1\)"):
        ndcg_at_k(np.array([[1, 0, 0], [0, 0, 0]]), scores)
    with pytest.raises(ValueError, match="non-negative"):
        ndcg_at_k(np.array([[1, -1, 0], [1, 0, 0]]), scores)
    with pytest.raises(ValueError, match="finite"):
        ndcg_at_k(np.array([[1, np.nan, 0], [1, 0, 0]]), scores)
    with pytest.raises(ValueError, match="exactly one of"):
        ranking_metrics(gains)
    with pytest.raises(ValueError, match="exactly one of"):
        ranking_metrics(gains, scores, ranking=np.zeros((2, 1), dtype=int))
    with pytest.raises(ValueError, match=r"ranking\[0, 1\] = 7"):
        ranking_metrics(gains, ranking=np.array([[0, 7], [1, 2]]))
    with pytest.raises(ValueError, match="row 1 lists item 2 more than once"):
        ranking_metrics(gains, ranking=np.array([[0, 1], [2, 2]]))
    with pytest.raises(ValueError, match="pad only at the end"):
        ranking_metrics(gains, ranking=np.array([[0, 1], [-1, 2]]))
    with pytest.raises(ValueError, match="integer item positions"):
        ranking_metrics(gains, ranking=np.array([[0.0, 1.0], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="pass n_items"):
        ranking_metrics(np.array([0, 1]), ranking=np.array([[0], [1]]))
    with pytest.raises(ValueError, match="metrics is empty"):
        ranking_metrics(gains, scores, metrics=[])
    with pytest.raises(ValueError, match="1 relevant item index per query|2 entries for 3"):
        as_relevance(np.array([0, 1]), 3, 3)
