"""Approximate search with exact re-ranking (``approximate=True`` on the fusion estimators).

The catalog's ANN index (:meth:`skfusion.Catalog.build_index`) proposes, for
each query, the union of the ``n_candidates`` nearest items of every
component index and of the static fused index. Those candidates are then
scored *exactly* by the estimator's own strategy, with the same Gram-form
scorer as exact search, and the top-k among them is returned. Whatever the
index misses cannot be returned; every returned score is exact.

Per-query statistics over the whole catalog are handled as follows:

* vector fusion (average, weighted, hybrid, learned): no statistics, the
  candidates' scores are exact;
* z-score, DBSF and calibrated normalisations: the moments come from the
  catalog's means and covariances without a scan, so they are exact;
* min-max normalisation: the catalog minimum and maximum of each component
  are taken over the candidates, which include the nearest items to ``q``
  (for the maximum) and to ``-q`` (for the minimum): approximate;
* RRF and CombMNZ: each component's top-``depth`` list is made from the
  candidates that have the component (their exact similarities, ranked), so
  ranks are exact as long as the true top-``depth`` items are candidates:
  approximate. For them each index is asked for ``max(n_candidates, depth)``
  items so the lists can be filled.

``n_candidates`` at least the catalog size makes every item a candidate, so
the results are those of exact search. ``n_candidates=None`` takes the count
calibrated by ``build_index(target_recall=...)``, else 300.

A batch of queries is searched with one faiss call per index. When the
queries' candidates overlap, the union of a batch's candidates is re-scored
in one pass (one matrix product per component), each query keeping only its
own candidates; otherwise each query's candidates are re-scored on their
own. Either way the result is that of searching the queries one by one.
The candidates are scored by the scan engine over the row subset
(:func:`~._engine.scan` with ``rows=``), like exact search over all rows.
With ``approximate="auto"`` a batch is searched exactly when a cost model
(:func:`prefer_exact`) says exact search is cheaper, or when the catalog
has no index.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..catalog import Catalog
from ..catalog._index import DEFAULT_N_CANDIDATES
from ._engine import Blocks, TopK, _for_batch, _warn_undefined, replay, scan, topk_scores
from ._stats import ComponentScan, NormalizedScorer


def _require_index(estimator: Any) -> Any:
    """The ANN index of the estimator's ``catalog`` parameter.

    An estimator may score a derived catalog with the same items in the same
    order (AgreementFusion scores an imputed copy); candidates are item
    positions, so they come from the index of the catalog the user gave.
    """
    scored: Catalog = estimator._checked_catalog()
    catalog: Catalog = estimator.catalog
    if catalog.n_items != scored.n_items:  # pragma: no cover - a broken subclass
        raise ValueError("The scored catalog and the indexed catalog differ in size.")
    index = catalog.ann_index
    if index is None:
        raise ValueError(
            f"{type(estimator).__name__}(approximate=True) needs the catalog's ANN index, "
            "but none was built: call catalog.build_index() first (and catalog.save() to keep "
            "it), or use approximate=False for exact search."
        )
    if index.n_components != catalog.n_components:
        raise ValueError(
            f"The catalog's ANN index covers {index.n_components} components but the catalog "
            f"has {catalog.n_components}; rebuild it with catalog.build_index()."
        )
    return index


#: Most distinct candidates re-scored in one pass (bounds the gathered rows' memory).
_UNION_LIMIT = 1 << 15
#: The union of a group's candidates is re-scored in one matrix product when it costs at
#: most this many times the per-query products (the candidates of the queries overlap);
#: a matrix product runs several times faster per multiply-add than one query's product.
_UNION_OVERLAP = 4.0
#: Cost model of ``approximate="auto"``, in seconds-like units: one unit is exact
#: search's cost per (query, item, component) in a batch (a matrix product, ~19 ns at
#: d = 512 on a float16 catalog, where rows are widened to float32 first). Scanning a
#: stored SQ8 index vector costs ~1.6 units, re-scoring one candidate's component ~40 (a
#: random row gather), and a single query's exact scan ~28 per item and component (a
#: matrix-vector product, bound by memory). Measured with benchmarks/bench_approximate.py
#: at 100,000 items on a shared 2-core machine (docs/approximate.md); only the ranking of
#: the two choices depends on them.
_RESCORE_UNIT = 40.0
_SCAN_UNIT = 1.6
_EXACT_UNIT_SINGLE = 28.0
_EXACT_UNIT_BATCH = 1.0


def n_candidates_of(estimator: Any, index: Any) -> int:
    """The estimator's ``n_candidates``, or the index's calibrated count, or 300."""
    if estimator.n_candidates is not None:
        return int(estimator.n_candidates)
    calibrated = None if index is None else index.n_candidates
    return DEFAULT_N_CANDIDATES if calibrated is None else int(calibrated)


def prefer_exact(estimator: Any, n_queries: int) -> bool:
    """Whether ``approximate="auto"`` searches this batch exactly.

    True without an index. Otherwise the estimated cost per query of
    approximate search — scanning ``n_probe / n_lists`` of each index's
    vectors plus re-scoring ``(C + 1) · n_candidates`` candidates over ``C``
    components — is compared with exact search's ``n_items · C`` (per unit
    of dimension; the units are above). Exact search gets cheaper per item
    as the batch grows (a matrix product instead of a matrix-vector one).
    """
    if estimator.approximate != "auto":
        return False
    catalog: Catalog = estimator.catalog
    index = catalog.ann_index
    if index is None:
        return True
    C = catalog.n_components
    sizes = [*index.identity["present"], index.identity["n_items"]]
    n = n_candidates_of(estimator, index)
    if index.kind == "ivf":
        scanned = sum(sizes) * min(index.n_probe, index.n_lists) / max(index.n_lists, 1)
    elif index.kind == "hnsw":
        scanned = len(sizes) * max(index.n_probe, n) * 32
    else:
        scanned = float(sum(sizes))
    approx = scanned * _SCAN_UNIT + len(sizes) * n * C * _RESCORE_UNIT
    unit = _EXACT_UNIT_SINGLE if n_queries < 8 else _EXACT_UNIT_BATCH
    return approx >= catalog.n_items * C * unit


def _check_k(estimator: Any, k: int, n_candidates: int) -> None:
    if k > n_candidates:
        raise ValueError(
            f"n_neighbors={k} exceeds n_candidates={n_candidates}: approximate search "
            f"returns neighbours from at least n_candidates candidates per query; raise "
            f"n_candidates to at least {k}."
        )


def candidate_pools(
    index: Any, queries: np.ndarray, n: int, n_items: int, *, lowest: bool
) -> list[np.ndarray]:
    """Sorted unique candidate item positions per query (the union over all indexes).

    ``n >= n_items`` makes every item a candidate without searching: the
    result is then exact search (at exact search's cost).
    """
    if n >= n_items:
        return [np.arange(n_items, dtype=np.int64)] * queries.shape[0]
    found = index.search(queries, n, lowest=lowest)
    return [np.unique(row[row >= 0]) for row in found]


def candidate_similarities(
    matrices: list[np.ndarray], query: np.ndarray, pool: np.ndarray
) -> np.ndarray:
    """Exact ``s_ic`` of one query against the candidates, shape (C, 1, m), float32.

    Read-only: the one block of a scan of the rows ``pool``.
    """
    if pool.size == 0:
        return np.empty((len(matrices), 1, 0), dtype=np.float32)
    q = np.ascontiguousarray(query[None, :], dtype=np.float32)
    blocks = scan(q, matrices, Blocks(), rows=pool, block_size=pool.size, query_batch=None)
    S: np.ndarray = blocks[0][3]
    return S


def _extremes(sims: list[np.ndarray], pools: list[np.ndarray], mask: np.ndarray) -> ComponentScan:
    """Minimum and maximum of each component's similarities over the candidates having it."""
    C, Q = mask.shape[0], len(pools)
    lo = np.zeros((C, Q), dtype=np.float32)
    hi = np.zeros((C, Q), dtype=np.float32)
    for q, (S, pool) in enumerate(zip(sims, pools, strict=True)):
        present = mask[:, pool]
        for c in range(C):
            values = S[c, 0, present[c]]
            if values.size:  # otherwise no candidate has c: its coefficients never apply
                lo[c, q], hi[c, q] = values.min(), values.max()
    empty_s = np.empty((C, Q, 0), dtype=np.float32)
    return ComponentScan(lo, hi, empty_s, np.empty((C, Q, 0), dtype=np.int64))


def _minmax(estimator: Any) -> bool:
    return hasattr(estimator, "_coefficients") and estimator.normalization == "minmax"


def approximate_kneighbors(
    estimator: Any, queries: np.ndarray, n_neighbors: int
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``n_neighbors`` items per query among ANN candidates, re-scored exactly.

    For the estimators built on :class:`~skfusion.fusion._base.BaseFusion`
    and :class:`~skfusion.fusion._score_base.BaseScoreFusion` (those scored
    block by block). A query whose candidates number fewer than
    ``n_neighbors`` (an index returned short lists) is searched exactly.

    Parameters
    ----------
    estimator : BaseFusion
        A fitted estimator with ``approximate=True``.
    queries : ndarray of shape (n_queries, dim), float32
        Validated unit-norm queries.
    n_neighbors : int

    Returns
    -------
    scores : ndarray of shape (n_queries, k), float32
    indices : ndarray of shape (n_queries, k), int64
        ``k = min(n_neighbors, n_items)``; ties go to the lower position.
    """
    catalog: Catalog = estimator._checked_catalog()
    if prefer_exact(estimator, queries.shape[0]):
        matrices, full_gram, exact_scorer = estimator._scan_arrays(queries)
        result: tuple[np.ndarray, np.ndarray] = topk_scores(
            queries,
            matrices,
            full_gram,
            exact_scorer,
            int(n_neighbors),
            block_size=estimator.block_size,
            backend=estimator._scoring_backend(),
        )
        return result
    index = _require_index(estimator)
    n_candidates = n_candidates_of(estimator, index)
    _check_k(estimator, n_neighbors, n_candidates)
    k = min(int(n_neighbors), catalog.n_items)
    mats, gram, mask = catalog.matrices(), catalog.gram, catalog.mask
    minmax = _minmax(estimator)
    pools = candidate_pools(index, queries, n_candidates, catalog.n_items, lowest=minmax)
    Qn = queries.shape[0]
    out_s = np.empty((Qn, k), dtype=np.float32)
    out_i = np.empty((Qn, k), dtype=np.int64)
    short = [q for q, pool in enumerate(pools) if pool.size < k]
    counts: list[int] = []  # undefined scores, reported once
    if minmax:
        sims = [candidate_similarities(mats, queries[q], pool) for q, pool in enumerate(pools)]
        offset, scale, clip = estimator._coefficients(queries, _extremes(sims, pools, mask))
        scorer: Any = NormalizedScorer(
            offset,
            scale,
            clip,
            np.asarray(estimator.global_weights_, np.float32),
            estimator._combine,
        )
        for q, (S, pool) in enumerate(zip(sims, pools, strict=True)):
            if pool.size < k:
                continue
            s, i = replay(
                [(slice(0, 1), 0, pool.size, S)],
                TopK(1, k),
                gram=gram[:, :, pool],
                scorer=scorer_for_query(scorer, q),
                on_undefined=counts.append,
            )
            out_s[q], out_i[q] = s[0], pool[i[0]]
    else:
        scorer = estimator._scorer_for(queries)
        for start, stop in _groups(pools):
            group = pools[start:stop]
            union = np.unique(np.concatenate(group)) if len(group) > 1 else group[0]
            if (stop - start) * union.size <= _UNION_OVERLAP * sum(p.size for p in group):
                counts.append(
                    _rescore_group(
                        scorer, queries, mats, gram, pools, union, start, stop, k, out_s, out_i
                    )
                )
                continue
            for q in range(start, stop):  # little overlap: each query on its own candidates
                pool = pools[q]
                if pool.size < k:
                    continue
                s, i = scan(
                    queries[q : q + 1],
                    mats,
                    TopK(1, k),
                    gram=gram,
                    scorer=scorer_for_query(scorer, q),
                    rows=pool,
                    block_size=pool.size,
                    query_batch=None,
                    on_undefined=counts.append,
                )
                out_s[q], out_i[q] = s[0], pool[i[0]]
    _warn_undefined(sum(counts))
    if short:
        rows = np.asarray(short)
        sub = queries[rows]
        s, i = topk_scores(
            sub, mats, gram, estimator._scorer_for(sub), k, block_size=estimator.block_size
        )
        out_s[rows], out_i[rows] = s, i
    return out_s, out_i


def _groups(pools: list[np.ndarray]) -> list[tuple[int, int]]:
    """Consecutive query ranges whose candidates total at most ``_UNION_LIMIT`` (or one query)."""
    groups, start, total = [], 0, 0
    for q, pool in enumerate(pools):
        if q > start and total + pool.size > _UNION_LIMIT:
            groups.append((start, q))
            start, total = q, 0
        total += pool.size
    if pools:
        groups.append((start, len(pools)))
    return groups


def _rescore_group(
    scorer: Any,
    queries: np.ndarray,
    mats: list[np.ndarray],
    gram: np.ndarray,
    pools: list[np.ndarray],
    union: np.ndarray,
    start: int,
    stop: int,
    k: int,
    out_s: np.ndarray,
    out_i: np.ndarray,
) -> int:
    """Re-score queries ``start:stop`` on ``union``, the union of their candidates, in one pass.

    Each query keeps only its own candidates (the others score -inf), so its
    top-k is the one it would get alone. Queries with fewer than ``k``
    candidates are left to the caller. Returns the count of undefined scores.
    """
    group = pools[start:stop]
    Qg = stop - start
    own = np.zeros((Qg, union.size), dtype=bool)
    for j, pool in enumerate(group):
        own[j, np.searchsorted(union, pool)] = True
    counts: list[int] = []
    s, i = scan(
        np.ascontiguousarray(queries[start:stop], dtype=np.float32),
        mats,
        TopK(Qg, min(k, union.size)),
        gram=gram,
        scorer=_for_batch(scorer, slice(start, stop)),
        rows=union,
        keep=own,  # each query scores only its own candidates
        block_size=union.size,
        query_batch=None,
        on_undefined=counts.append,
    )
    for j, pool in enumerate(group):
        if pool.size >= k:
            out_s[start + j], out_i[start + j] = s[j, :k], union[i[j, :k]]
    return counts[0]


def scorer_for_query(scorer: Any, q: int) -> Any:
    """The block scorer of query ``q`` (query-aware scorers hold per-query coefficients)."""
    return _for_batch(scorer, slice(q, q + 1))


def approximate_candidate_lists(
    estimator: Any, queries: np.ndarray, n_neighbors: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Candidate-list fusion (RRF, CombMNZ) over lists built from ANN candidates.

    Each component's top-``depth`` list is ranked from the exact similarities
    of the candidates that have the component; min-max extremes come from
    the candidates too. The estimator's own ``_candidate_scores`` then fuses
    the lists.

    Returns
    -------
    list of (items, scores)
        Per query, as the estimator's exact ``_all_candidates``.
    """
    catalog: Catalog = estimator._checked_catalog()
    if estimator.approximate == "auto" and catalog.ann_index is None:
        exact: list[tuple[np.ndarray, np.ndarray]] = estimator._all_candidates(queries)
        return exact
    index = _require_index(estimator)
    n_candidates = n_candidates_of(estimator, index)
    _check_k(estimator, n_neighbors, n_candidates)
    depth = min(int(estimator.depth), catalog.n_items)
    n = max(n_candidates, depth)
    mats, mask = catalog.matrices(), catalog.mask
    minmax = _minmax(estimator)
    pools = candidate_pools(index, queries, n, catalog.n_items, lowest=minmax)
    C, Q = catalog.n_components, queries.shape[0]
    top_s = np.full((C, Q, depth), -np.inf, dtype=np.float32)
    top_i = np.full((C, Q, depth), -1, dtype=np.int64)
    sims = []
    for q, pool in enumerate(pools):
        S = candidate_similarities(mats, queries[q], pool)
        sims.append(S)
        present = mask[:, pool]
        for c in range(C):
            items, values = pool[present[c]], S[c, 0, present[c]]
            order = np.lexsort((items, -values))[:depth]
            top_s[c, q, : order.size] = values[order]
            top_i[c, q, : order.size] = items[order]
    extremes = _extremes(sims, pools, mask)
    scan = ComponentScan(extremes.minimum, extremes.maximum, top_s, top_i)
    result: list[tuple[np.ndarray, np.ndarray]] = estimator._candidate_scores(queries, scan)
    return result
