"""Judgments as a sparse gain matrix, and rankings checked against it."""

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
        Explicit zeros removed, column indices sorted.

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
            if arr.dtype.kind not in "biuf":
                raise ValueError(f"Relevance gains must be numbers, got dtype {arr.dtype}.")
            rel = sp.csr_matrix(arr.astype(np.float64))
        else:
            raise ValueError(f"y must be 1-D or 2-D, got shape {arr.shape}.")
    if rel.shape != (n_queries, n_items):
        raise ValueError(
            f"y has shape {rel.shape}; expected (n_queries, n_items) = ({n_queries}, {n_items})."
        )
    if not np.all(np.isfinite(rel.data)):
        raise ValueError("Relevance gains must be finite; y holds NaN or infinity.")
    if np.any(rel.data < 0):
        raise ValueError("Relevance gains must be non-negative; y holds a negative gain.")
    rel.sum_duplicates()
    rel.eliminate_zeros()
    rel.sort_indices()
    return rel


def check_judged(rel: sp.csr_matrix) -> None:
    """Raise if some query has no relevant item (its metrics are undefined)."""
    empty = np.flatnonzero(np.diff(rel.indptr) == 0)
    if empty.size:
        shown = ", ".join(str(q) for q in empty[:5]) + (", …" if empty.size > 5 else "")
        raise ValueError(
            f"{empty.size} quer{'y has' if empty.size == 1 else 'ies have'} no relevant item "
            f"(row {shown}), so recall, nDCG, MRR and AP are undefined for "
            f"{'it' if empty.size == 1 else 'them'}; drop such queries before evaluating "
            "(trec_eval leaves them out too)."
        )


def ranks_from_scores(rel: sp.csr_matrix, scores: np.ndarray) -> np.ndarray:
    """1-based rank of every judged item (aligned with ``rel.data``) under ``scores``.

    Items are ordered by descending score; equal scores go to the lower item
    position first. -inf is a valid (lowest) score; NaN is not.

    Parameters
    ----------
    rel : csr_matrix of shape (n_queries, n_items)
    scores : ndarray of shape (n_queries, n_items)

    Returns
    -------
    ndarray of shape (rel.nnz,), float64
    """
    ranks = np.empty(rel.nnz, dtype=np.float64)
    n_items = scores.shape[1]
    positions = np.arange(n_items)
    q_of = np.repeat(np.arange(rel.shape[0]), np.diff(rel.indptr))
    # All (query, judged item) pairs at once, in chunks of ~8 M compared entries.
    step = max(1, (1 << 23) // max(1, n_items))
    for a in range(0, rel.nnz, step):
        q, it = q_of[a : a + step], rel.indices[a : a + step]
        rows = scores[q]  # (m, n_items)
        s = rows[np.arange(q.size), it][:, None]
        above = np.count_nonzero(rows > s, axis=1)
        tied_before = np.count_nonzero((rows == s) & (positions[None, :] < it[:, None]), axis=1)
        ranks[a : a + q.size] = 1 + above + tied_before
    return ranks


def ranks_from_ranking(rel: sp.csr_matrix, ranking: np.ndarray) -> np.ndarray:
    """1-based rank of every judged item (aligned with ``rel.data``) in top-k lists.

    Parameters
    ----------
    rel : csr_matrix of shape (n_queries, n_items)
    ranking : ndarray of shape (n_queries, m)
        Item positions, best first; -1 pads lists shorter than ``m``.

    Returns
    -------
    ndarray of shape (rel.nnz,), float64
        ``inf`` for judged items that are not in the list.
    """
    n_queries, depth = ranking.shape
    valid = ranking >= 0
    rows = np.repeat(np.arange(n_queries), depth)[valid.ravel()]
    cols = ranking.ravel()[valid.ravel()]
    rank_of = sp.csr_matrix(
        (
            np.tile(np.arange(1, depth + 1, dtype=np.float64), n_queries)[valid.ravel()],
            (rows, cols),
        ),
        shape=rel.shape,
    )
    q_of = np.repeat(np.arange(n_queries), np.diff(rel.indptr))
    found = np.asarray(rank_of[q_of, rel.indices]).ravel() if rel.nnz else np.empty(0)
    return np.where(found > 0, found, np.inf)


def check_ranking(ranking: Any, n_queries: int, n_items: int) -> np.ndarray:
    """Validate top-k lists: integer (n_queries, m), positions in range, no repeats."""
    arr = np.asarray(ranking)
    if arr.ndim != 2 or arr.shape[0] != n_queries:
        raise ValueError(f"ranking must have shape (n_queries={n_queries}, m), got {arr.shape}.")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"ranking must hold integer item positions, got dtype {arr.dtype}.")
    arr = arr.astype(np.int64, copy=False)
    bad = np.argwhere((arr < -1) | (arr >= n_items))
    if bad.size:
        q, j = bad[0]
        raise ValueError(
            f"ranking[{q}, {j}] = {arr[q, j]} is not an item position of {n_items} items "
            "(-1 marks padding)."
        )
    pad = arr < 0
    if arr.shape[1] > 1 and np.any(pad[:, :-1] & ~pad[:, 1:]):
        q = int(np.argwhere(pad[:, :-1] & ~pad[:, 1:])[0, 0])
        raise ValueError(f"ranking row {q} has an item after a -1; pad only at the end.")
    if arr.shape[1] > 1:
        srt = np.sort(arr, axis=1)
        dup = np.argwhere((srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0))
        if dup.size:
            q = dup[0, 0]
            raise ValueError(f"ranking row {q} lists item {srt[q, dup[0, 1]]} more than once.")
    return arr
