"""Ranking metrics from dense score matrices or from top-k lists.

Every metric is computed from the rank of each judged item, so the same
code serves scores and rankings:

* ``ndcg@k`` — trec_eval ``ndcg_cut.k``: the judged gains themselves (linear,
  not ``2^g − 1``), discount ``1 / log2(rank + 1)``, ideal ranking = all
  judged items of the query sorted by gain.
* ``recall@k`` — relevant items in the top k / relevant items (``recall.k``).
* ``precision@k`` — relevant items in the top k / k, even when fewer than k
  items were ranked (``P.k``).
* ``mrr`` / ``mrr@k`` — reciprocal rank of the first relevant item, 0 when
  none is ranked (within k) (``recip_rank``).
* ``map`` / ``map@k`` — average precision: the mean over the relevant items
  of the precision at their rank, unranked ones counting 0 (``map``,
  ``map_cut.k``).

An item is relevant when its gain is positive. Scores are ranked in
descending order; **equal scores go to the lower item position** (catalog
order), the rule the fusion estimators' ``kneighbors`` also follows.
trec_eval breaks ties differently (by document id, descending), so to
compare with it write runs whose scores have no ties (see
:func:`skfusion.io.write_trec_run`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import scipy.sparse as sp

from ._relevance import (
    as_relevance,
    check_judged,
    check_ranking,
    ranks_from_ranking,
    ranks_from_scores,
)

#: Metric names and whether they need a cut-off ``@k``.
METRICS: dict[str, bool] = {
    "ndcg": True,
    "recall": True,
    "precision": True,
    "mrr": False,
    "map": False,
}
_ALIASES = {"p": "precision", "r": "recall", "rr": "mrr", "ap": "map", "recip_rank": "mrr"}
_PATTERN = re.compile(r"^([a-z_]+)(?:@(\d+))?$")


def parse_metric(metric: str) -> tuple[str, int | None]:
    """Split a metric name like ``"ndcg@10"`` into ``("ndcg", 10)``.

    Accepted: ``ndcg@k``, ``recall@k``, ``precision@k`` (``p@k``), ``mrr``,
    ``mrr@k``, ``map``, ``map@k`` with ``k ≥ 1``.

    Raises
    ------
    ValueError
        Unknown metric, missing or non-positive cut-off.
    """
    if not isinstance(metric, str):
        raise TypeError(f"A metric name must be a string like 'ndcg@10', got {metric!r}.")
    m = _PATTERN.match(metric.strip().lower())
    if m is None:
        raise ValueError(f"Cannot parse metric {metric!r}; expected e.g. 'ndcg@10' or 'mrr'.")
    name, k_text = m.group(1), m.group(2)
    name = _ALIASES.get(name, name)
    if name not in METRICS:
        raise ValueError(
            f"Unknown metric {metric!r}; available: ndcg@k, recall@k, precision@k, mrr[@k], "
            "map[@k]."
        )
    k = None if k_text is None else int(k_text)
    if k is not None and k <= 0:
        raise ValueError(f"The cut-off of {metric!r} must be positive.")
    if k is None and METRICS[name]:
        raise ValueError(f"{name} needs a cut-off, e.g. '{name}@10'.")
    return name, k


def metric_depth(metrics: Iterable[str]) -> int | None:
    """How many top items the metrics need (None: the whole ranking)."""
    depth = 0
    for metric in metrics:
        _, k = parse_metric(metric)
        if k is None:
            return None
        depth = max(depth, k)
    return depth


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"k must be an int, got {k!r}.")
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}.")
    return int(k)


def _check_scores(y_score: Any, n_queries: int | None = None) -> np.ndarray:
    scores = np.asarray(y_score)
    if scores.ndim != 2:
        raise ValueError(f"y_score must be (n_queries, n_items), got shape {scores.shape}.")
    if scores.dtype.kind not in "biuf":
        raise ValueError(f"y_score must hold numbers, got dtype {scores.dtype}.")
    if n_queries is not None and scores.shape[0] != n_queries:
        raise ValueError(f"y_score has {scores.shape[0]} rows for {n_queries} queries.")
    nan = np.argwhere(np.isnan(scores))
    if nan.size:
        raise ValueError(
            f"y_score holds NaN (first at query {nan[0, 0]}, item {nan[0, 1]}); a ranking "
            "needs comparable scores."
        )
    return scores


def _segments(rel: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    counts = np.diff(rel.indptr)
    return np.repeat(np.arange(rel.shape[0]), counts), counts


def _segment_sum(values: np.ndarray, rows: np.ndarray, n_rows: int) -> np.ndarray:
    return np.bincount(rows, weights=values, minlength=n_rows)


def _metric_from_ranks(
    name: str, k: int | None, rel: sp.csr_matrix, ranks: np.ndarray
) -> np.ndarray:
    n_queries = rel.shape[0]
    rows, n_rel = _segments(rel)
    limit = np.inf if k is None else float(k)
    hit = ranks <= limit
    if name == "recall":
        return _segment_sum(hit.astype(np.float64), rows, n_queries) / n_rel
    if name == "precision":
        assert k is not None
        return _segment_sum(hit.astype(np.float64), rows, n_queries) / k
    if name == "ndcg":
        assert k is not None
        dcg = _segment_sum(np.where(hit, rel.data / np.log2(ranks + 1.0), 0.0), rows, n_queries)
        order = np.lexsort((-rel.data, rows))
        within = np.arange(rel.nnz) - rel.indptr[rows]
        ideal_gain = rel.data[order]
        ideal = np.where(within < k, ideal_gain / np.log2(within + 2.0), 0.0)
        return dcg / _segment_sum(ideal, rows, n_queries)
    if name == "mrr":
        first = np.full(n_queries, np.inf)
        np.minimum.at(first, rows, ranks)
        return np.where(first <= limit, 1.0 / first, 0.0)
    if name == "map":
        order = np.lexsort((ranks, rows))
        sorted_ranks = ranks[order]
        nth = np.arange(rel.nnz) - rel.indptr[rows] + 1.0  # rows are already grouped
        prec = np.where(sorted_ranks <= limit, nth / sorted_ranks, 0.0)
        return _segment_sum(prec, rows, n_queries) / n_rel
    raise AssertionError(name)  # pragma: no cover - parse_metric rejects others


def ranking_metrics(
    y_true: Any,
    y_score: Any = None,
    *,
    ranking: Any = None,
    metrics: Iterable[str] = ("ndcg@10", "recall@10", "mrr"),
    n_items: int | None = None,
    per_query: bool = False,
) -> dict[str, Any]:
    """Several ranking metrics at once, from scores or from top-k lists.

    Parameters
    ----------
    y_true : array-like or sparse matrix of shape (n_queries, n_items), or (n_queries,)
        Graded judgments (gain 0 = not relevant), or the position of the one
        relevant item per query.
    y_score : array-like of shape (n_queries, n_items), optional
        Scores, larger is better. Give either this or ``ranking``.
    ranking : array-like of int of shape (n_queries, m), optional
        Item positions in ranked order, best first (``kneighbors`` output);
        ``-1`` pads short lists at the end. Metrics are computed on the
        list as given: an item that is not listed is not retrieved.
    metrics : iterable of str, default=("ndcg@10", "recall@10", "mrr")
        Metric names: ``ndcg@k``, ``recall@k``, ``precision@k`` (``p@k``),
        ``mrr``, ``mrr@k``, ``map``, ``map@k`` with ``k ≥ 1``.
    n_items : int, optional
        Catalog size; needed only when ``y_true`` is 1-D and ``ranking`` is
        given.
    per_query : bool, default=False
        Return per-query arrays instead of means.

    Returns
    -------
    dict
        metric name → float (mean over queries) or ndarray (n_queries,).

    Raises
    ------
    ValueError
        Both or neither of ``y_score``/``ranking``; shapes that disagree;
        NaN scores; a query without any relevant item; unknown metrics.
    """
    names = list(metrics)
    if not names:
        raise ValueError("metrics is empty; name at least one, e.g. ['ndcg@10'].")
    parsed = [parse_metric(m) for m in names]
    if (y_score is None) == (ranking is None):
        raise ValueError("Give exactly one of y_score (dense scores) or ranking (top-k lists).")
    if y_score is not None:
        scores = _check_scores(y_score)
        rel = as_relevance(y_true, scores.shape[0], scores.shape[1])
        check_judged(rel)
        ranks = ranks_from_scores(rel, scores)
    else:
        arr = np.asarray(ranking)
        n_queries = arr.shape[0] if arr.ndim else 0
        shape_items = getattr(y_true, "shape", np.shape(y_true))
        if len(shape_items) == 2:
            n_items = int(shape_items[1])
        elif n_items is None:
            raise ValueError("With a 1-D y_true and a ranking, pass n_items (the catalog size).")
        rel = as_relevance(y_true, n_queries, int(n_items))
        check_judged(rel)
        ranks = ranks_from_ranking(rel, check_ranking(arr, n_queries, int(n_items)))
    out: dict[str, Any] = {}
    for metric, (name, k) in zip(names, parsed, strict=True):
        values = _metric_from_ranks(name, k, rel, ranks)
        out[metric] = values if per_query else float(values.mean())
    return out


def _single(y_true: Any, y_score: Any, metric: str, per_query: bool) -> Any:
    return ranking_metrics(y_true, y_score, metrics=[metric], per_query=per_query)[metric]


def ndcg_at_k(y_true: Any, y_score: Any, k: int = 10, *, per_query: bool = False) -> Any:
    """Mean nDCG@k (trec_eval ``ndcg_cut``: linear gains).

    Parameters
    ----------
    y_true : array-like or sparse matrix of shape (n_queries, n_items), or (n_queries,)
        Graded judgments, or the position of the one relevant item per query.
    y_score : array-like of shape (n_queries, n_items)
        Scores, larger is better; ties go to the lower item position.
    k : int, default=10
    per_query : bool, default=False
        Return the (n_queries,) array of per-query values instead of the mean.

    Returns
    -------
    float or ndarray
    """
    return _single(y_true, y_score, f"ndcg@{_check_k(k)}", per_query)


def recall_at_k(y_true: Any, y_score: Any, k: int = 10, *, per_query: bool = False) -> Any:
    """Mean Recall@k: the share of a query's relevant items ranked in the top k.

    Parameters are those of :func:`ndcg_at_k`.
    """
    return _single(y_true, y_score, f"recall@{_check_k(k)}", per_query)


def precision_at_k(y_true: Any, y_score: Any, k: int = 10, *, per_query: bool = False) -> Any:
    """Mean Precision@k: relevant items among the top k, divided by k.

    Parameters are those of :func:`ndcg_at_k`.
    """
    return _single(y_true, y_score, f"precision@{_check_k(k)}", per_query)


def mrr_at_k(y_true: Any, y_score: Any, k: int | None = None, *, per_query: bool = False) -> Any:
    """Mean reciprocal rank of the first relevant item (0 if it is below rank k).

    Parameters are those of :func:`ndcg_at_k`; ``k=None`` (default) looks
    at the whole ranking.
    """
    metric = "mrr" if k is None else f"mrr@{_check_k(k)}"
    return _single(y_true, y_score, metric, per_query)


def map_at_k(y_true: Any, y_score: Any, k: int | None = None, *, per_query: bool = False) -> Any:
    """Mean average precision (trec_eval ``map``; ``map_cut.k`` with ``k``).

    Parameters are those of :func:`ndcg_at_k`; ``k=None`` (default) looks
    at the whole ranking.
    """
    metric = "map" if k is None else f"map@{_check_k(k)}"
    return _single(y_true, y_score, metric, per_query)


def top_k(y_score: Any, k: int) -> np.ndarray:
    """Positions of the k best items per query, best first, ties to the lower position.

    Parameters
    ----------
    y_score : array-like of shape (n_queries, n_items)
    k : int
        Capped at n_items.

    Returns
    -------
    ndarray of shape (n_queries, min(k, n_items)), int64
    """
    scores = _check_scores(y_score)
    k = min(_check_k(k), scores.shape[1])
    n_items = scores.shape[1]
    positions = np.arange(n_items)
    out = np.empty((scores.shape[0], k), dtype=np.int64)
    for q, row in enumerate(scores):
        if k < n_items:
            kth = np.partition(row, n_items - k)[n_items - k]
            cand = np.flatnonzero(row >= kth)
        else:
            cand = positions
        order = np.lexsort((cand, -row[cand]))
        out[q] = cand[order[:k]]
    return out
