"""Blocked exact scoring: C similarity blocks in, fused cosines or a running top-k out.

The catalog is visited in blocks of items. For each block the engine computes
the C similarity blocks ``S[c] = Q @ E_c[block].T`` (the only work that
touches the embeddings), hands them with the block's Gram entries to a
strategy's block scorer, and either writes the scores into a dense result or
merges them into a running top-k. Memory therefore stays bounded by the block
size whatever the catalog size, and fused vectors are never built.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

#: A block scorer maps similarities (C, Q, B) and Gram entries (C, C, B) to
#: scores (Q, B). NaN marks an item whose fused vector is zero (undefined cosine).
#: A scorer whose coefficients depend on the queries instead exposes
#: ``for_queries(qs: slice) -> BlockScorer`` for each batch ``queries[qs]``.
BlockScorer = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: Target number of (query, item) pairs per block: small enough for the C
#: similarity blocks and the temporaries to stay in cache, large enough for
#: BLAS to run at full speed.
_TARGET_PAIRS = 1 << 15
_MIN_BLOCK = 256
_MAX_BLOCK = 1 << 16
#: Queries scored together; larger batches are split so a block stays small.
_MAX_QUERY_BATCH = 256


def block_size_for(n_queries: int) -> int:
    """Items per block for a batch of ``n_queries`` queries."""
    size = _TARGET_PAIRS // max(1, n_queries)
    return int(min(_MAX_BLOCK, max(_MIN_BLOCK, size)))


class UndefinedScoreWarning(RuntimeWarning):
    """Some items had a zero fused vector for a query; they were ranked last (-inf)."""


def fused_cosine(S: np.ndarray, K: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Cosine between each query and each item's weighted fused vector.

    ``cos(q, Σ_c w_c e_ic) = Σ_c w_c s_ic / sqrt(wᵀ K_i w)`` (DESIGN.md §2).

    Parameters
    ----------
    S : ndarray of shape (C, Q, B)
        Component similarities ``s_ic`` for Q queries and B items.
    K : ndarray of shape (C, C, B)
        Per-item Gram entries.
    W : ndarray of shape (C,) or (C, Q, B)
        Fusion weights: static per component, or per query and item.

    Returns
    -------
    ndarray of shape (Q, B)
        float32 scores; NaN where ``wᵀ K_i w`` is 0 (the fused vector is zero).
    """
    C = S.shape[0]
    if W.ndim == 1:
        num = np.tensordot(W.astype(S.dtype, copy=False), S, axes=1)
        den2 = np.zeros(S.shape[2], dtype=np.float64)
        for a in range(C):
            den2 += (W[a] * W[a]) * K[a, a]
            for b in range(a + 1, C):
                den2 += (2.0 * W[a] * W[b]) * K[a, b]
        den = np.sqrt(np.maximum(den2, 0.0)).astype(S.dtype)
        with np.errstate(divide="ignore", invalid="ignore"):
            num /= den
        if not den.all():
            num[:, den == 0] = np.nan
        return num

    num = W[0] * S[0]
    den2 = W[0] * W[0]
    den2 *= K[0, 0]
    tmp = np.empty_like(num)
    for a in range(1, C):
        np.multiply(W[a], S[a], out=tmp)
        num += tmp
        np.multiply(W[a], W[a], out=tmp)
        tmp *= K[a, a]
        den2 += tmp
    for a in range(C):
        for b in range(a + 1, C):
            np.multiply(W[a], W[b], out=tmp)
            tmp *= K[a, b]
            tmp *= 2.0
            den2 += tmp
    np.maximum(den2, 0.0, out=den2)
    np.sqrt(den2, out=den2)
    with np.errstate(divide="ignore", invalid="ignore"):
        num /= den2
    zero = den2 == 0
    if zero.any():
        num[zero] = np.nan
    return num


def _query_batches(n_queries: int) -> Iterator[slice]:
    for start in range(0, n_queries, _MAX_QUERY_BATCH):
        yield slice(start, min(start + _MAX_QUERY_BATCH, n_queries))


def iter_similarity_blocks(
    queries: np.ndarray,
    matrices: Sequence[np.ndarray],
    *,
    block_size: int | None = None,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(start, stop, S)`` with ``S[c] = queries @ E_c[start:stop].T``, (C, Q, B).

    ``S`` is a reused buffer: consume it before asking for the next block.
    """
    n_items = matrices[0].shape[0]
    C = len(matrices)
    n_queries = queries.shape[0]
    size = block_size or block_size_for(n_queries)
    buf = np.empty((C, n_queries, size), dtype=np.float32)
    for start in range(0, n_items, size):
        stop = min(start + size, n_items)
        S = buf[:, :, : stop - start]
        for c, E in enumerate(matrices):
            np.matmul(queries, E[start:stop].T, out=S[c])
        yield start, stop, S


def iter_block_scores(
    queries: np.ndarray,
    matrices: Sequence[np.ndarray],
    gram: np.ndarray,
    scorer: BlockScorer,
    *,
    block_size: int | None = None,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(start, stop, scores)`` for consecutive item blocks.

    ``queries`` is (Q, d) with Q at most a few hundred (callers batch larger
    query sets); ``scores`` is (Q, stop - start) float32 with NaN for
    undefined cosines.
    """
    for start, stop, S in iter_similarity_blocks(queries, matrices, block_size=block_size):
        yield start, stop, scorer(S, gram[:, :, start:stop])


def _for_batch(scorer: Any, qs: slice) -> BlockScorer:
    """The block scorer for a batch of queries (query-aware scorers expose ``for_queries``)."""
    for_queries = getattr(scorer, "for_queries", None)
    return scorer if for_queries is None else for_queries(qs)


def _nan_to_floor(scores: np.ndarray) -> int:
    bad = np.isnan(scores)
    n_bad = int(bad.sum())
    if n_bad:
        scores[bad] = -np.inf
    return n_bad


def _warn_undefined(n_undefined: int) -> None:
    if n_undefined:
        warnings.warn(
            f"{n_undefined} (query, item) pair(s) had a zero fused vector, so their cosine "
            "is undefined; they were scored -inf (ranked last).",
            UndefinedScoreWarning,
            stacklevel=3,
        )


def dense_scores(
    queries: np.ndarray,
    matrices: Sequence[np.ndarray],
    gram: np.ndarray,
    scorer: Any,
    *,
    block_size: int | None = None,
) -> np.ndarray:
    """All (n_queries, n_items) fused cosines, computed block by block."""
    out = np.empty((queries.shape[0], matrices[0].shape[0]), dtype=np.float32)
    undefined = 0
    for qs in _query_batches(queries.shape[0]):
        for start, stop, scores in iter_block_scores(
            queries[qs], matrices, gram, _for_batch(scorer, qs), block_size=block_size
        ):
            undefined += _nan_to_floor(scores)
            out[qs, start:stop] = scores
    _warn_undefined(undefined)
    return out


def _block_topk(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k columns per row of ``scores``, ties broken by lower column index.

    Returns scores and column indices, each (Q, k), sorted by descending score.
    """
    if k >= scores.shape[1]:
        idx = np.argsort(-scores, axis=1, kind="stable")
        return np.take_along_axis(scores, idx, axis=1), idx
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(scores, part, axis=1)
    # argpartition may pick any of several items tied at the k-th score; redo
    # the (rare) rows where a lower-index tied item was left out.
    kth = top.min(axis=1)
    eq_all = np.count_nonzero(scores == kth[:, None], axis=1)
    eq_sel = np.count_nonzero(top == kth[:, None], axis=1)
    for row in np.flatnonzero(eq_all > eq_sel):
        part[row] = np.argsort(-scores[row], kind="stable")[:k]
        top[row] = scores[row, part[row]]
    order = np.lexsort((part, -top), axis=1)
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(part, order, axis=1)


def topk_scores(
    queries: np.ndarray,
    matrices: Sequence[np.ndarray],
    gram: np.ndarray,
    scorer: Any,
    k: int,
    *,
    block_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best items per query with a running top-k over item blocks.

    Returns
    -------
    scores : ndarray of shape (n_queries, k), float32, descending
    indices : ndarray of shape (n_queries, k), int64 item positions
        Ties are broken by lower item position, so results do not depend on
        the block size.
    """
    n_items = matrices[0].shape[0]
    k = min(k, n_items)
    Qn = queries.shape[0]
    out_s = np.empty((Qn, k), dtype=np.float32)
    out_i = np.empty((Qn, k), dtype=np.int64)
    undefined = 0
    for qs in _query_batches(Qn):
        best_s: np.ndarray | None = None
        best_i: np.ndarray | None = None
        for start, _stop, scores in iter_block_scores(
            queries[qs], matrices, gram, _for_batch(scorer, qs), block_size=block_size
        ):
            undefined += _nan_to_floor(scores)
            s, i = _block_topk(scores, k)
            i = i + start
            if best_s is None or best_i is None:
                best_s, best_i = s, i
                continue
            # Earlier blocks hold lower positions: a stable sort keeps them first on ties.
            cat_s = np.concatenate([best_s, s], axis=1)
            cat_i = np.concatenate([best_i, i], axis=1)
            order = np.argsort(-cat_s, axis=1, kind="stable")[:, :k]
            best_s = np.take_along_axis(cat_s, order, axis=1)
            best_i = np.take_along_axis(cat_i, order, axis=1)
        assert best_s is not None
        assert best_i is not None
        out_s[qs], out_i[qs] = best_s, best_i
    _warn_undefined(undefined)
    return out_s, out_i
