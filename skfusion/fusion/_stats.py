"""Per-query statistics of component similarities over the catalog.

Score fusion normalises each component's similarities ``s_ic = q·e_ic``
over the catalog before combining them. Two kinds of statistics serve it:

* moments — the mean and standard deviation of ``s_ic`` over the items that
  have component c, exactly and without touching the items at query time:
  ``μ_qc = q·m_c`` and ``σ²_qc = qᵀ Σ_c q`` from the catalog's mean vectors
  ``m_c`` and covariances ``Σ_c`` (:meth:`Catalog.covariances`);
* a scan — one blocked pass over the catalog giving each component's minimum,
  maximum and top-``depth`` list per query (needed by min-max normalisation,
  by rank fusion and by CombMNZ).

Lexical components (sparse BM25 weights, :attr:`Catalog.lexical`) are C + l
in every array here: their similarities ``Q_l @ D_l[block].T`` come from the
same scan (:func:`~._engine.scan` with ``lexical=``, reduced by
:class:`ComponentStats`), and
since no closed form of their spread over the catalog is kept, the scan also
sums ``s`` and ``s²`` over the items having them (exact mean and variance,
float64). An item "has" a lexical component when its row is not empty; its
top list holds only items with a positive score (no shared term, no rank).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..catalog import Catalog
from ._backends import Backend, torch_normalized_scorer
from ._engine import DualScorer, LexicalPairs, _block_topk, _merge_topk, scan

#: Normalisations of a component's similarities over the catalog.
NORMALIZATIONS = ("zscore", "minmax", "dbsf", "none")


#: A combiner maps normalised similarities (C, Q, B), the presence mask
#: (C, 1, B) and component weights (C,) to scores (Q, B).
Combiner = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def normalize_similarities(
    S: np.ndarray, offset: np.ndarray, scale: np.ndarray, clip: bool
) -> np.ndarray:
    """``(S − offset) / scale`` with (C, Q, 1) coefficients, clipped to [0, 1] if asked."""
    N = (S - offset) / scale
    if clip:
        np.clip(N, 0.0, 1.0, out=N)
    return N


class NormalizedScorer:
    """Per-query-batch block scorer: normalise each component, then combine.

    The engine hands it Gram entries (C, C, B), whose diagonal says which
    items have each component, or, with ``presence=True``, a presence array
    (C + L, 1, B) of 0/1 covering lexical components too (:func:`presence_of`).
    """

    def __init__(
        self,
        offset: np.ndarray,
        scale: np.ndarray,
        clip: bool,
        weights: np.ndarray,
        combine: Combiner,
        presence: bool = False,
    ):
        self.offset, self.scale, self.clip = offset, scale, clip
        self.weights, self.combine = weights, combine
        self.presence = presence

    def for_queries(self, qs: slice) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        offset = self.offset[:, qs, None]
        scale = self.scale[:, qs, None]
        presence = self.presence

        def scorer(S: np.ndarray, K: np.ndarray) -> np.ndarray:
            present = K > 0.5 if presence else np.einsum("ccb->cb", K)[:, None, :] > 0.5
            N = normalize_similarities(S, offset, scale, self.clip)
            return self.combine(N, present, self.weights).astype(np.float32, copy=False)

        def make_torch() -> Any:
            if presence:  # the torch scorer reads Gram entries: run the NumPy form
                return None
            return torch_normalized_scorer(offset, scale, self.clip, self.weights, self.combine)

        return DualScorer(scorer, make_torch)


def presence_of(catalog: Catalog) -> np.ndarray:
    """Which items have each dense and lexical component: (C + L, 1, n_items) float32 0/1.

    A lexical component is present where its row stores a (positive) weight.
    """
    rows = [catalog.mask.astype(np.float32)]
    for name in catalog.lexical_names:
        D = catalog.lexical[name]
        rows.append((np.diff(D.indptr) > 0).astype(np.float32)[None, :])
    return np.concatenate(rows)[:, None, :]


def lexical_pairs(catalog: Catalog, lexical_queries: Any, n_queries: int) -> LexicalPairs:
    """``(Q_l, D_l)`` for each lexical component; missing queries are empty rows (score 0)."""
    import scipy.sparse as sp

    pairs = []
    for k, name in enumerate(catalog.lexical_names):
        D = catalog.lexical[name]
        if lexical_queries is None:
            Q = sp.csr_array((n_queries, D.shape[1]), dtype=np.float32)
        else:
            Q = lexical_queries[k]
        pairs.append((Q, D))
    return pairs


def similarity_moments(catalog: Catalog, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and standard deviation of ``s_ic`` over the items having component c.

    Returns
    -------
    mean, std : ndarray of shape (n_components, n_queries), float64
    """
    Q = np.asarray(queries, dtype=np.float64)
    mu = catalog.means @ Q.T
    var = np.einsum("qd,cde,qe->cq", Q, catalog.covariances(), Q)
    return mu, np.sqrt(np.maximum(var, 0.0))


@dataclass
class ComponentScan:
    """One pass over the catalog, per component and query (items having the component only).

    Attributes
    ----------
    minimum, maximum : ndarray of shape (C + L, Q), float32
        C dense then L lexical components.
    top_scores : ndarray of shape (C + L, Q, depth), float32
        Descending; -inf pads components present in fewer than ``depth`` items
        (for lexical components: with a positive score).
    top_index : ndarray of shape (C + L, Q, depth), int64
        Item positions; ties go to the lower position; -1 pads.
    total, total_sq : ndarray of shape (L, Q), float64, optional
        Sums of the lexical similarities and of their squares over the items
        having each lexical component (None without lexical components).
    count : ndarray of shape (L,), optional
        How many items have each lexical component.
    """

    minimum: np.ndarray
    maximum: np.ndarray
    top_scores: np.ndarray
    top_index: np.ndarray
    total: np.ndarray | None = None
    total_sq: np.ndarray | None = None
    count: np.ndarray | None = None


def scan_components(
    catalog: Catalog,
    queries: np.ndarray,
    depth: int,
    *,
    block_size: int | None = None,
    backend: Backend | None = None,
    lexical_queries: Any = None,
) -> ComponentScan:
    """Minimum, maximum and top-``depth`` items of each component's similarities.

    Parameters
    ----------
    catalog : Catalog
    queries : ndarray of shape (Q, d), float32
    depth : int
        Length of the top lists (0 for none).
    block_size : int, optional
    backend : NumpyBackend or TorchBackend, optional
        Where the similarity products run (NumPy when omitted).
    lexical_queries : list of CSR arrays of shape (Q, V_l), optional
        The queries' lexical vectors, one per lexical component of the
        catalog; None scores every lexical component 0 (no lexical query).

    Returns
    -------
    ComponentScan
    """
    pairs = lexical_pairs(catalog, lexical_queries, queries.shape[0])
    mask = presence_of(catalog)[:, 0, :] > 0.5
    stats = ComponentStats(mask, catalog.n_components, queries.shape[0], depth)
    result: ComponentScan = scan(
        queries,
        catalog.matrices(),
        stats,
        block_size=block_size,
        backend=backend,
        lexical=pairs,
    )
    return result


class _StatsPart:
    """The running extremes and top lists of one query batch (one range: the whole catalog)."""

    def __init__(self, stats: ComponentStats, qs: slice) -> None:
        C, n = stats.mask.shape[0], qs.stop - qs.start
        self.stats, self.qs = stats, qs
        self.lo = np.full((C, n), np.inf, dtype=np.float32)
        self.hi = np.full((C, n), -np.inf, dtype=np.float32)
        self.best: list[tuple[np.ndarray, np.ndarray] | None] = [None] * C

    def update(self, start: int, stop: int, S: np.ndarray) -> None:
        st, qs, k = self.stats, self.qs, self.stats.k
        present = st.mask[:, start:stop]
        for c in range(st.mask.shape[0]):
            full = bool(present[c].all())
            Sc = S[c] if full else np.where(present[c], S[c], np.float32(-np.inf))
            self.hi[c] = np.maximum(self.hi[c], Sc.max(axis=1))
            low = Sc if full else np.where(present[c], S[c], np.float32(np.inf))
            self.lo[c] = np.minimum(self.lo[c], low.min(axis=1))
            if c >= st.n_dense:
                assert st.total is not None
                assert st.total_sq is not None
                S64 = np.where(present[c], S[c], 0.0).astype(np.float64)
                st.total[c - st.n_dense, qs] += S64.sum(axis=1)
                st.total_sq[c - st.n_dense, qs] += (S64 * S64).sum(axis=1)
                Sc = np.where(Sc > 0, Sc, np.float32(-np.inf))  # no shared term, no rank
            if k:
                s, i = _block_topk(Sc, min(k, stop - start))
                self.best[c] = _merge_topk(self.best[c], (s, i + start), k)


class ComponentStats:
    """Scan reducer of :func:`scan_components`: per component, extremes and top lists.

    Takes the raw similarity blocks (C + L, Q, B) of a scan in item order
    (not split over threads: the lexical sums are float64 running sums) and
    keeps, over the items having each component, the minimum, maximum and
    top-``depth`` items per query, plus the sums of lexical similarities.

    Parameters
    ----------
    mask : ndarray of shape (C + L, n_items), bool
        Which items have each dense, then lexical, component.
    n_dense : int
        C.
    n_queries : int
    depth : int
    """

    parallel = False
    tensors = False

    def __init__(self, mask: np.ndarray, n_dense: int, n_queries: int, depth: int) -> None:
        C, n_items = mask.shape
        self.mask, self.n_dense = mask, n_dense
        self.k = k = min(int(depth), n_items)
        self.lo = np.empty((C, n_queries), dtype=np.float32)
        self.hi = np.empty((C, n_queries), dtype=np.float32)
        self.top_s = np.full((C, n_queries, k), -np.inf, dtype=np.float32)
        self.top_i = np.full((C, n_queries, k), -1, dtype=np.int64)
        L = C - n_dense
        self.total = np.zeros((L, n_queries), dtype=np.float64) if L else None
        self.total_sq = np.zeros((L, n_queries), dtype=np.float64) if L else None

    def partial(self, qs: slice, tensors: bool) -> _StatsPart:
        return _StatsPart(self, qs)

    def join(self, qs: slice, parts: list[Any]) -> None:
        (part,) = parts
        self.lo[:, qs], self.hi[:, qs] = part.lo, part.hi
        for c, entry in enumerate(part.best):
            if entry is not None:
                s, i = entry
                i = np.where(np.isfinite(s), i, -1)
                self.top_s[c, qs, : s.shape[1]], self.top_i[c, qs, : s.shape[1]] = s, i

    def result(self) -> ComponentScan:
        n_dense = self.n_dense
        return ComponentScan(
            minimum=self.lo,
            maximum=self.hi,
            top_scores=self.top_s,
            top_index=self.top_i,
            total=self.total,
            total_sq=self.total_sq,
            count=self.mask[n_dense:].sum(axis=1) if self.total is not None else None,
        )


def normalization_coefficients(
    normalization: str, catalog: Catalog, queries: np.ndarray, scan: ComponentScan | None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(offset, scale, clip)`` so that the normalised similarity is ``(s − offset) / scale``.

    ``"zscore"``: offset μ, scale σ. ``"dbsf"`` (distribution-based score
    fusion): the limits μ ± 3σ map to 0 and 1 and values outside are clipped.
    ``"minmax"``: the catalog minimum and maximum map to 0 and 1 (needs a
    scan). ``"none"``: raw cosines. A zero spread gets scale 1 (the component
    then carries no ranking information for that query). Lexical components
    follow the dense ones (C + L rows); their μ and σ come from the scan's
    sums (so a catalog with lexical components needs a scan for every
    normalisation but ``"none"``).

    Returns
    -------
    offset, scale : ndarray of shape (C + L, Q), float32
    clip : bool
        Whether to clip the normalised values to [0, 1].
    """
    C, Qn = catalog.n_components + len(catalog.lexical_names), queries.shape[0]
    if normalization == "none":
        return np.zeros((C, Qn), np.float32), np.ones((C, Qn), np.float32), False
    if normalization == "minmax":
        if scan is None:
            raise ValueError("min-max normalisation needs a scan of the catalog.")
        offset = scan.minimum.astype(np.float64)
        scale = scan.maximum.astype(np.float64) - offset
        clip = False
    else:
        mu, sd = similarity_moments(catalog, queries)
        if catalog.lexical_names and normalization in ("zscore", "dbsf"):
            if scan is None or scan.total is None or scan.total_sq is None:
                raise ValueError(
                    f"{normalization!r} normalisation of lexical components needs a scan "
                    "of the catalog."
                )
            assert scan.count is not None
            n = np.maximum(scan.count, 1).astype(np.float64)[:, None]
            lex_mu = scan.total / n
            lex_var = np.maximum(scan.total_sq / n - lex_mu * lex_mu, 0.0)
            mu = np.concatenate([mu, lex_mu])
            sd = np.concatenate([sd, np.sqrt(lex_var)])
        if normalization == "zscore":
            offset, scale, clip = mu, sd, False
        elif normalization == "dbsf":
            offset, scale, clip = mu - 3.0 * sd, 6.0 * sd, True
        else:
            raise ValueError(
                f"Unknown normalization {normalization!r}; valid ones are {list(NORMALIZATIONS)}."
            )
    scale = np.where(scale > 1e-12, scale, 1.0)
    return offset.astype(np.float32), scale.astype(np.float32), clip
