"""Shared machinery of score-fusion strategies (no fused vector; normalised similarities)."""

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
from ._base import BaseFusion, _check_n_neighbors
from ._stats import (
    NORMALIZATIONS,
    Combiner,
    ComponentScan,
    NormalizedScorer,
    normalization_coefficients,
    normalize_similarities,
    scan_components,
)
from .weighted import check_weights


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
        n_candidates: int = 300,
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
        if self.weights is None:
            return np.full(catalog.n_components, 1.0 / catalog.n_components)
        return check_weights(self.weights, catalog.names)

    def _scan(self, queries: np.ndarray, depth: int) -> ComponentScan:
        return scan_components(
            self._checked_catalog(),
            queries,
            depth,
            block_size=self.block_size,
            backend=self._scoring_backend(),
        )

    def _coefficients(
        self, queries: np.ndarray, scan: ComponentScan | None = None
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        if scan is None and self.normalization == "minmax":
            scan = self._scan(queries, 0)
        return normalization_coefficients(
            self.normalization, self._checked_catalog(), queries, scan
        )

    def _scorer_for(self, queries: np.ndarray) -> Any:
        offset, scale, clip = self._coefficients(queries)
        return NormalizedScorer(
            offset, scale, clip, np.asarray(self.global_weights_, np.float32), type(self)._combine
        )

    def fused_embeddings(self, query: Any) -> np.ndarray:
        """Not defined: score fusion combines scores, not vectors."""
        raise NotImplementedError(
            f"{type(self).__name__} combines normalised similarities, not vectors, so there "
            "is no fused item vector; use explain() to see each component's contribution."
        )

    def explain(self, query: Any, items: Sequence[Any] | np.ndarray) -> Bunch:
        """Per-component similarity and normalised similarity behind chosen items' scores.

        Returns
        -------
        Bunch
            ``ids`` (n,), ``components`` (C names), ``similarities`` (n, C)
            raw ``s_ic`` (NaN where the item lacks the component),
            ``normalized`` (n, C) the normalised values the strategy combines
            (NaN where absent), ``scores`` (n,) the strategy's scores.
        """
        check_is_fitted(self)
        cat = self._checked_catalog()
        q = self._one_query(query)
        rows = self._positions(items)
        scores = self.decision_function(q)[0, rows]
        S = np.stack([q @ E[rows].T for E in cat.matrices()])  # (C, 1, n)
        offset, scale, clip = self._coefficients(q)
        N = normalize_similarities(S, offset[:, :, None], scale[:, :, None], clip)
        absent = ~cat.mask[:, rows]
        sims, norm = S[:, 0, :].T.copy(), N[:, 0, :].T.copy()
        sims[absent.T] = np.nan
        norm[absent.T] = np.nan
        return Bunch(
            ids=cat.ids[rows],
            components=cat.names,
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

    def _candidate_scores(
        self, queries: np.ndarray, scan: ComponentScan
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        raise NotImplementedError

    def _all_candidates(self, Xv: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        scan = self._scan(Xv, int(self.depth))
        return self._candidate_scores(Xv, scan)

    def decision_function(self, X: Any) -> np.ndarray:
        """Fused scores of every item (0 for items in no candidate list).

        Returns
        -------
        ndarray of shape (n_queries, n_items), float32
        """
        check_is_fitted(self)
        Xv = self._validate_queries(X)
        out = np.zeros((Xv.shape[0], self._checked_catalog().n_items), dtype=np.float32)
        for q, (idx, sc) in enumerate(self._all_candidates(Xv)):
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
        Xv = self._validate_queries(X)
        n_items = self._checked_catalog().n_items
        k = min(int(n_neighbors), n_items)
        out_s = np.zeros((Xv.shape[0], k), dtype=np.float32)
        out_i = np.empty((Xv.shape[0], k), dtype=np.int64)
        if self.approximate:
            candidates = approximate_candidate_lists(self, Xv, int(n_neighbors))
        else:
            candidates = self._all_candidates(Xv)
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
