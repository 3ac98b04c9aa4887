"""Ranking metrics computed from top-k lists.

Conventions follow trec_eval's ``ndcg_cut``: gains are the graded judgments
themselves (linear gains, not ``2^g - 1``), discounts ``1 / log2(rank + 1)``,
and the ideal ranking orders all judged items of the query by gain.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp


def as_relevance(y: Any, n_queries: int, n_items: int) -> sp.csr_matrix:
    """Turn judgments into a sparse (n_queries, n_items) gain matrix.

    Parameters
    ----------
    y : array-like of shape (n_queries,) or sparse/dense (n_queries, n_items)
        Either the index of the one relevant item per query (gain 1), or a
        graded matrix of gains (0 = not relevant).
    n_queries, n_items : int
        Expected shape.

    Returns
    -------
    scipy.sparse.csr_matrix of float64

    Raises
    ------
    ValueError
        Wrong shape, item indices out of range, non-integer indices, or
        negative / non-finite gains.
    """
    if sp.issparse(y):
        rel = sp.csr_matrix(y, dtype=np.float64)
    else:
        arr = np.asarray(y)
        if arr.ndim == 1:
            if arr.shape[0] != n_queries:
                raise ValueError(
                    f"y has {arr.shape[0]} entries for {n_queries} queries; give one relevant "
                    "item index per query."
                )
            if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
                arr = arr.astype(np.int64)
            if arr.dtype.kind not in "iu":
                raise ValueError(
                    f"A 1-D y must hold integer item indices (positions in the catalog), got "
                    f"dtype {arr.dtype}."
                )
            bad = np.flatnonzero((arr < 0) | (arr >= n_items))
            if bad.size:
                raise ValueError(
                    f"y[{bad[0]}] = {arr[bad[0]]} is not an item index of a catalog with "
                    f"{n_items} items."
                )
            rel = sp.csr_matrix(
                (np.ones(n_queries), (np.arange(n_queries), arr)), shape=(n_queries, n_items)
            )
        elif arr.ndim == 2:
            rel = sp.csr_matrix(arr.astype(np.float64))
        else:
            raise ValueError(f"y must be 1-D or 2-D, got shape {arr.shape}.")
    if rel.shape != (n_queries, n_items):
        raise ValueError(
            f"y has shape {rel.shape}; expected (n_queries, n_items) = ({n_queries}, {n_items})."
        )
    if not np.all(np.isfinite(rel.data)) or np.any(rel.data < 0):
        raise ValueError("Relevance gains must be finite and non-negative.")
    rel.eliminate_zeros()
    return rel


def ndcg_at_k(relevance: sp.csr_matrix, ranked: np.ndarray, k: int = 10) -> np.ndarray:
    """Per-query nDCG@k of ranked item lists.

    Parameters
    ----------
    relevance : csr_matrix of shape (n_queries, n_items)
        Gains, as returned by :func:`as_relevance`.
    ranked : ndarray of shape (n_queries, m)
        Item indices in ranked order (best first); only the first ``k`` count.
    k : int, default=10

    Returns
    -------
    ndarray of shape (n_queries,)

    Raises
    ------
    ValueError
        ``k <= 0``, mismatched shapes, or a query without any relevant item
        (its nDCG is undefined).
    """
    if k <= 0:
        raise ValueError(f"k must be positive, got {k}.")
    ranked = np.asarray(ranked)
    n_queries = relevance.shape[0]
    if ranked.ndim != 2 or ranked.shape[0] != n_queries:
        raise ValueError(f"ranked must be (n_queries={n_queries}, m), got {ranked.shape}.")
    top = ranked[:, :k]
    depth = top.shape[1]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    rows = np.repeat(np.arange(n_queries), depth)
    gains = np.asarray(relevance[rows, top.ravel()]).reshape(n_queries, depth)
    dcg = gains @ discounts[:depth]
    idcg = np.empty(n_queries)
    for q in range(n_queries):
        row = relevance.data[relevance.indptr[q] : relevance.indptr[q + 1]]
        if row.size == 0:
            raise ValueError(
                f"Query {q} has no relevant item, so its nDCG is undefined; drop it or "
                "add a judgment."
            )
        ideal = np.sort(row)[::-1][:k]
        idcg[q] = ideal @ discounts[: ideal.size]
    return dcg / idcg
