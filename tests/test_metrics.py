"""nDCG@k against scikit-learn's ndcg_score and a hand-computed case."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from skfusion.metrics import as_relevance, ndcg_at_k


def test_hand_computed() -> None:
    # gains: item 2 -> 3, item 0 -> 1; ranking [0, 1, 2].
    rel = as_relevance(np.array([[1, 0, 3, 0]]), 1, 4)
    dcg = 1 / math.log2(2) + 3 / math.log2(4)
    idcg = 3 / math.log2(2) + 1 / math.log2(3)
    np.testing.assert_allclose(ndcg_at_k(rel, np.array([[0, 1, 2, 3]]), k=3), [dcg / idcg])
    # cut at 1: only item 0 counts against the ideal item 2.
    np.testing.assert_allclose(ndcg_at_k(rel, np.array([[0, 1, 2, 3]]), k=1), [1 / 3])


@pytest.mark.parametrize("k", [1, 3, 10])
def test_matches_sklearn_ndcg_score(k: int) -> None:
    rng = np.random.default_rng(0)
    gains = rng.integers(0, 4, size=(20, 30)).astype(float)
    gains[:, 0] = 1  # every query has a relevant item
    scores = rng.standard_normal((20, 30))  # continuous: no ties
    ranked = np.argsort(-scores, axis=1)
    ours = ndcg_at_k(as_relevance(gains, 20, 30), ranked, k=k)
    theirs = [ndcg_score(gains[i : i + 1], scores[i : i + 1], k=k) for i in range(20)]
    np.testing.assert_allclose(ours, theirs, atol=1e-12)


def test_index_targets() -> None:
    rel = as_relevance(np.array([2, 0]), 2, 3)
    assert rel.toarray().tolist() == [[0, 0, 1], [1, 0, 0]]
    ranked = np.array([[1, 2, 0], [0, 1, 2]])
    np.testing.assert_allclose(ndcg_at_k(rel, ranked, k=10), [1 / math.log2(3), 1.0])


def test_bad_k_and_shapes() -> None:
    rel = as_relevance(np.array([0]), 1, 3)
    with pytest.raises(ValueError, match="k must be positive"):
        ndcg_at_k(rel, np.array([[0, 1]]), k=0)
    with pytest.raises(ValueError, match="ranked must be"):
        ndcg_at_k(rel, np.array([0, 1]), k=1)
    with pytest.raises(ValueError, match="expected \\(n_queries, n_items\\) = \\(1, 3\\)"):
        as_relevance(np.ones((1, 4)), 1, 3)
    with pytest.raises(ValueError, match="non-negative"):
        as_relevance(np.array([[0, -1, 0]]), 1, 3)
    with pytest.raises(ValueError, match="integer item indices"):
        as_relevance(np.array(["a"]), 1, 3)
