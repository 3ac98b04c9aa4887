"""Shared machinery of score-fusion strategies (no fused vector; normalised similarities).

Lexical components of the catalog (:attr:`Catalog.lexical`, e.g. BM25
weights) are scored here like dense ones: each is one more component whose
similarity is the sparse product ``Q_l @ D_l[block].T``, computed in the
same scan over the catalog's blocks, normalised exactly (the scan keeps
their minimum, maximum, sum and sum of squares) and combined with weights
that cover ``names + lexical_names``. Queries then have the columns
``[dense | lexical_1 | lexical_2 ...]`` (``make_union(dense_encoder,
BM25Encoder())``); d-wide queries have no lexical part, and every lexical
component scores 0 for them (contributing nothing after any normalisation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..catalog import Catalog
from ._approximate import approximate_candidate_lists
from ._base import BaseFusion, _check_n_neighbors, check_weights
from ._engine import dense_scores, topk_scores, undefined_reported_to
from ._stats import (
    NORMALIZATIONS,
    Combiner,
    ComponentScan,
    NormalizedScorer,
    lexical_pairs,
    normalization_coefficients,
    normalize_similarities,
    presence_of,
    scan_components,
)


class BaseScoreFusion(BaseFusion):
    """Score fusion: normalise each component's similarities over the catalog, then combine.

    Unlike vector fusion there is no fused item vector; the score of an item
    is a function of its components' normalised similarities, over the
    components it has (absent components contribute nothing).
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **BaseFusion._parameter_constraints,
        "normalization": [StrOptions(set(NORMALIZATIONS))],
        "weights": ["array-like", dict, None],
    }

    #: How normalised similarities are combined (set by subclasses).
    _combine: Combiner
    #: Whether the strategy scores the catalog's lexical components (its scoring goes
    #: through the block scan or the scan's top lists); others refuse such a catalog.
    _supports_lexical: bool = True

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        normalization: str = "zscore",
        weights: Sequence[float] | Mapping[str, float] | None = None,
        block_size: int | None = None,
        scoring: str = "ndcg@10",
        backend: str = "auto",
        device: str | None = None,
        approximate: bool = False,
        n_candidates: int | None = None,
    ):
        super().__init__(
            catalog,
            block_size=block_size,
            scoring=scoring,
            backend=backend,
            device=device,
            approximate=approximate,
            n_candidates=n_candidates,
        )
        self.normalization = normalization
        self.weights = weights

    def _fit_weights(self, catalog: Catalog) -> np.ndarray:
        if catalog.lexical_names and not type(self)._supports_lexical:
            raise ValueError(
                f"{type(self).__name__} does not score lexical components, and this catalog "
                f"has {list(catalog.lexical_names)}; use CombSUMFusion, CombMAXFusion, "
                "CalibratedFusion or RRFusion, or a catalog without lexical components."
            )
        names = catalog.names + catalog.lexical_names
        if self.weights is None:
            return np.full(len(names), 1.0 / len(names))
        return check_weights(self.weights, names)

    def _scan(
        self, queries: np.ndarray, depth: int, lexical_queries: list[Any] | None = None
    ) -> ComponentScan:
        return scan_components(
            self._checked_catalog(),
            queries,
            depth,
            block_size=self.block_size,
            backend=self._scoring_backend(),
            lexical_queries=lexical_queries,
        )

    def _coefficients(
        self,
        queries: np.ndarray,
        scan: ComponentScan | None = None,
        lexical_queries: list[Any] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        cat = self._checked_catalog()
        needs_scan = self.normalization == "minmax" or (
            bool(cat.lexical_names) and self.normalization in ("zscore", "dbsf")
        )
        if scan is None and needs_scan:
            scan = self._scan(queries, 0, lexical_queries)
        return normalization_coefficients(self.normalization, cat, queries, scan)

    def _scorer_for(self, queries: np.ndarray, lexical_queries: list[Any] | None = None) -> Any:
        offset, scale, clip = self._coefficients(queries, lexical_queries=lexical_queries)
        return NormalizedScorer(
            offset,
            scale,
            clip,
            np.asarray(self.global_weights_, np.float32),
            self._combine,
            presence=bool(self._checked_catalog().lexical_names),
        )

    def _check_lexical_approximate(self) -> None:
        if self.approximate and self._checked_catalog().lexical_names:
            raise ValueError(
                f"{type(self).__name__}(approximate=True) cannot search a catalog with "
                "lexical components: the ANN index covers the dense components only. Use "
                "approximate=False (exact search scores the lexical components too)."
            )

    def _lexical_scan_inputs(self, X: Any) -> tuple[np.ndarray, Any, np.ndarray, Any]:
        """Dense queries, lexical pairs, presence array and scorer for a lexical catalog."""
        cat = self._checked_catalog()
        Xv, lexq = self._split_queries(X)
        pairs = lexical_pairs(cat, lexq, Xv.shape[0])
        scorer = self._scorer_for(Xv, [Q for Q, _ in pairs])
        return Xv, pairs, presence_of(cat), scorer

    def decision_function(self, X: Any) -> np.ndarray:
        """Fused scores of every item for each query.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_queries, dim) or (n_queries, dim + Σ V_l)
            Unit-norm query embeddings, followed by the lexical query vectors
            when the catalog has lexical components (see :doc:`/lexical`).

        Returns
        -------
        ndarray of shape (n_queries, n_items), float32
        """
        check_is_fitted(self)
        if not self._checked_catalog().lexical_names:
            return super().decision_function(X)
        Xv, pairs, presence, scorer = self._lexical_scan_inputs(X)
        with undefined_reported_to(self._report_undefined):
            return dense_scores(
                Xv,
                self._checked_catalog().matrices(),
                presence,
                scorer,
                block_size=self.block_size,
                backend=self._scoring_backend(),
                lexical=pairs,
            )

    def kneighbors(
        self, X: Any, n_neighbors: int = 10, return_distance: bool = True
    ) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
        """The best items per query (same contract as :meth:`BaseFusion.kneighbors`).

        With lexical components X may carry lexical query columns (see
        :meth:`decision_function`); ``approximate=True`` is refused then.
        """
        check_is_fitted(self)
        if not self._checked_catalog().lexical_names:
            return super().kneighbors(X, n_neighbors, return_distance)
        _check_n_neighbors(n_neighbors)
        self._check_lexical_approximate()
        Xv, pairs, presence, scorer = self._lexical_scan_inputs(X)
        with undefined_reported_to(self._report_undefined):
            scores, idx = topk_scores(
                Xv,
                self._checked_catalog().matrices(),
                presence,
                scorer,
                int(n_neighbors),
                block_size=self.block_size,
                backend=self._scoring_backend(),
                lexical=pairs,
            )
        return (scores, idx) if return_distance else idx

    def explain(self, query: Any, items: Sequence[Any] | np.ndarray) -> Bunch:
        """Per-component similarity and normalised similarity behind chosen items' scores.

        Parameters
        ----------
        query : array-like or sparse matrix of shape (dim,), (1, dim) or (1, dim + Σ V_l)
            One query (with its lexical columns when the catalog has lexical
            components; without them they score 0).
        items : sequence
            Catalog ids of the items to explain.

        Returns
        -------
        Bunch
            ``ids`` (n,), ``components`` (C + L names: dense, then lexical),
            ``similarities`` (n, C + L) raw ``s_ic`` (cosines; BM25 scores for
            lexical components; NaN where the item lacks the component),
            ``normalized`` (n, C + L) the normalised values the strategy
            combines (NaN where absent), ``scores`` (n,) the strategy's scores.
        """
        import scipy.sparse as sp

        check_is_fitted(self)
        cat = self._checked_catalog()
        if sp.issparse(query):
            q_in: Any = query
        else:
            q_in = np.asarray(query)
            if q_in.ndim == 1:
                q_in = q_in[None, :]
        if len(q_in.shape) != 2 or q_in.shape[0] != 1:
            raise ValueError(f"Expected one query of shape (dim,), got shape {q_in.shape}.")
        if not cat.lexical_names and not sp.issparse(query):
            q, lexq = self._one_query(query), None  # keeps the encoder fingerprint check
        else:
            q, lexq = self._split_queries(q_in)
        rows = self._positions(items)
        pairs = lexical_pairs(cat, lexq, 1)
        scores = self.decision_function(q_in if cat.lexical_names else q)[0, rows]
        S = np.stack(
            [q @ E[rows].T for E in cat.matrices()]
            + [(Q @ D[rows].T).toarray().astype(np.float32) for Q, D in pairs]
        )  # (C + L, 1, n)
        offset, scale, clip = self._coefficients(q, lexical_queries=[Q for Q, _ in pairs])
        N = normalize_similarities(S, offset[:, :, None], scale[:, :, None], clip)
        absent = ~(presence_of(cat)[:, 0, rows] > 0.5)
        sims, norm = S[:, 0, :].T.copy(), N[:, 0, :].T.copy()
        sims[absent.T] = np.nan
        norm[absent.T] = np.nan
        return Bunch(
            ids=cat.ids[rows],
            components=cat.names + cat.lexical_names,
            similarities=sims,
            normalized=norm,
            scores=scores,
        )


class BaseCandidateFusion(BaseScoreFusion):
    """Fusion over per-component candidate lists (top ``depth`` items of each component).

    An item's score is built from the lists it appears in; an item in no
    list scores 0. Ties (including all zero scores) go to the lower item
    position.
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **BaseScoreFusion._parameter_constraints,
        "depth": [Interval(Integral, 1, None, closed="left")],
    }
    #: Candidate strategies read dense similarities in ``_candidate_scores``; those that
    #: use only the scan's lists (rank fusion) set this to True.
    _supports_lexical = False

    def _candidate_scores(
        self, queries: np.ndarray, scan: ComponentScan
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        raise NotImplementedError

    def _all_candidates(
        self, Xv: np.ndarray, lexical_queries: list[Any] | None = None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        scan = self._scan(Xv, int(self.depth), lexical_queries)
        return self._candidate_scores(Xv, scan)

    def decision_function(self, X: Any) -> np.ndarray:
        """Fused scores of every item (0 for items in no candidate list).

        Returns
        -------
        ndarray of shape (n_queries, n_items), float32
        """
        check_is_fitted(self)
        Xv, lexq = self._split_queries(X)
        out = np.zeros((Xv.shape[0], self._checked_catalog().n_items), dtype=np.float32)
        for q, (idx, sc) in enumerate(self._all_candidates(Xv, lexq)):
            out[q, idx] = sc
        return out

    def kneighbors(
        self, X: Any, n_neighbors: int = 10, return_distance: bool = True
    ) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
        """The best items per query: candidates by descending score, then zero-score items.

        Same contract as :meth:`BaseFusion.kneighbors`.
        """
        check_is_fitted(self)
        _check_n_neighbors(n_neighbors)
        self._check_lexical_approximate()
        Xv, lexq = self._split_queries(X)
        n_items = self._checked_catalog().n_items
        k = min(int(n_neighbors), n_items)
        out_s = np.zeros((Xv.shape[0], k), dtype=np.float32)
        out_i = np.empty((Xv.shape[0], k), dtype=np.int64)
        if self.approximate:
            candidates = approximate_candidate_lists(self, Xv, int(n_neighbors))
        else:
            candidates = self._all_candidates(Xv, lexq)
        for q, (idx, sc) in enumerate(candidates):
            positive = sc > 0
            idx_p, sc_p = idx[positive], sc[positive]
            order = np.lexsort((idx_p, -sc_p))[:k]
            m = order.size
            out_i[q, :m], out_s[q, :m] = idx_p[order], sc_p[order]
            if m < k:  # the rest score 0: lowest positions first
                taken = np.zeros(n_items, dtype=bool)
                taken[idx_p] = True
                out_i[q, m:] = np.flatnonzero(~taken)[: k - m]
        return (out_s, out_i) if return_distance else out_i
