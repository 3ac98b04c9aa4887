"""Vector fusion: one fused vector per item, scored in Gram form.

A vector-fusion strategy weighs each item's component embeddings,
``f_i = Σ_c w_ic e_ic``, and ranks items by the cosine between the query and
``f_i``. Its scores come from the component similarities and the catalog's
Gram entries (``s_ic = q·e_ic``, ``K_i = [e_ic·e_id]``) without building
``f_i``: ``score = Σ_c w_ic s_ic / sqrt(wᵀ K_i w)``. Strategies give the
weights (:meth:`BaseVectorFusion._weights`); those whose weights depend on
the catalog only (:attr:`BaseVectorFusion._static_weights`) can instead
score from precomputed unit fused vectors (one product per block, see
:mod:`._static`), and a weight search scores them from the per-catalog
similarity cache (:mod:`._simcache`).

Score fusion (:mod:`._score_base`) is the other family under the same thin
base (:mod:`._base`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from ..catalog import Catalog
from ._backends import NumpyBackend, query_aware_torch_scorer, static_torch_scorer
from ._base import BaseFusion
from ._engine import (
    BlockScorer,
    DualScorer,
    UndefinedScoreWarning,
    _block_topk,
    _warn_undefined,
    fused_cosine,
    static_sq_norms,
    undefined_reported_to,
)
from ._simcache import cache_for, cacheable, enabled, query_digest
from ._static import fused_for, resolve_precompute


def _unit_cosine(S: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Scores of precomputed unit fused vectors: ``S[0]``, NaN where undefined (K = 0).

    Returns a view of ``S`` (the engine consumes it before the next block).
    """
    scores = S[0]
    defined = K[0, 0]
    if not defined.all():
        scores[:, defined == 0] = np.nan
    return scores


_ONE = np.ones(1, dtype=np.float64)
_UNIT_SCORER = DualScorer(_unit_cosine, lambda: static_torch_scorer(_ONE.astype(np.float32)))


class BaseVectorFusion(BaseFusion):
    """Base class of vector-fusion estimators over a :class:`~skfusion.Catalog`.

    Subclasses implement ``_fit_weights(catalog)`` (returning
    ``global_weights_``) and ``_weights(S)`` (weights for a block of
    similarities ``S`` of shape (C, Q, n): a (C,) vector when they depend on
    the catalog only, else (C, Q, n)). This class adds to
    :class:`~skfusion.fusion._base.BaseFusion` the Gram-form scorer, the
    precomputed fused vectors of static strategies, the weight-search fast
    path, :meth:`fused_embeddings` and :meth:`explain`.
    """

    #: Whether the weights depend on the catalog only (not on the query or the item's
    #: similarities): such strategies can score from precomputed fused vectors.
    _static_weights: bool = False

    def _weights(self, S: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # -- fitting ---------------------------------------------------------------------
    def _finish_fit(self, catalog: Catalog, y: Any) -> None:
        """Warn about cancelling components; build the fused vectors unless a search skips them."""
        if self._static_weights:
            self._warn_cancelled(catalog)
        if y is None or not self._tuning_applies():
            # Build (or reuse) the fused vectors now, not at the first search. A judged fit
            # (model selection) that will be scored through the tuning cache skips this;
            # the vectors are still built on demand by kneighbors.
            self._precomputed()

    def _tuning_applies(self) -> bool:
        """Whether :class:`~skfusion.metrics.RankingScorer` scores this estimator from the
        per-catalog similarity cache (:meth:`_tuning_rank`).

        Static strategies scoring exactly on the NumPy backend, unless
        ``precompute=True`` asks for the fused vectors. With ``"auto"`` a
        scorer ranks from the cache in Gram form (building a candidate's
        fused vectors costs more than its cached scores, and a search builds
        them for every candidate), while :meth:`kneighbors` and
        :meth:`decision_function` use the fused vectors.
        """
        if not (self._static_weights and enabled()) or self.approximate:
            return False
        precompute = getattr(self, "precompute", False)
        if isinstance(precompute, (bool, np.bool_)) and precompute:
            return False  # asked for the fused vectors (their own rounding)
        return isinstance(self._scoring_backend(), NumpyBackend)

    def _tuning_rank(self, X: Any, k: int | None) -> np.ndarray | None:
        """Top-``k`` item positions (or all scores when ``k`` is None) for a scorer.

        The hook of :class:`~skfusion.metrics.RankingScorer`: for a static
        strategy (:meth:`_tuning_applies`) the similarity blocks of X are
        computed once per catalog and query array and cached
        (:mod:`skfusion.fusion._simcache`); each candidate of a weight search
        then costs ``O(Q·n·C)``: its Gram-form scores
        ``Σ_c w_c s_ic / sqrt(wᵀ K_i w)`` from those blocks, bit-identical to
        the estimator's Gram-form scores (``precompute=False``). It applies
        unless ``precompute=True`` (precomputed fused vectors round
        differently in the last bits, so they keep their own path), also
        with the default ``"auto"``. ``None`` when it does not apply or the
        query array is too large to cache: the scorer then uses
        :meth:`kneighbors` or :meth:`decision_function`.
        """
        check_is_fitted(self)
        if not self._tuning_applies():
            return None
        catalog = self._checked_catalog()
        if not cacheable(catalog, int(np.shape(X)[0])):
            return None
        cache = cache_for(catalog)
        digest = query_digest(X)
        entry = cache.lookup(digest, self.block_size)
        if entry is None:
            Xv = self._validate_queries(X)
            digest = digest or query_digest(Xv)
            assert digest is not None
            entry = cache.get(catalog, digest, Xv, self.block_size)
        scores, n_undefined = entry.scores(self._scorer(), catalog.gram)
        result = scores if k is None else _block_topk(scores, min(int(k), scores.shape[1]))[1]
        with undefined_reported_to(self._report_undefined):
            _warn_undefined(n_undefined)
        return result

    # -- scoring ---------------------------------------------------------------------
    def _scorer(self) -> BlockScorer:
        def scorer(S: np.ndarray, K: np.ndarray) -> np.ndarray:
            return fused_cosine(S, K, self._weights(S))

        return DualScorer(scorer, self._torch_scorer)

    def _torch_scorer(self) -> Any:
        """The block scorer on torch tensors (used by ``backend="torch"``)."""
        C = len(self.global_weights_)
        probe = self._weights(np.zeros((C, 1, 1), dtype=np.float32))
        weights_torch = getattr(self, "_weights_torch", None)
        if np.ndim(probe) == 1:  # static weights: one vector for every query and item
            return static_torch_scorer(np.asarray(probe, dtype=np.float32))
        return query_aware_torch_scorer(self._weights, weights_torch)

    def _scorer_for(self, queries: np.ndarray) -> Any:
        """Vector fusion's scorer does not depend on the queries: :meth:`_scorer`."""
        return self._scorer()

    def _precomputed(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Unit fused vectors and their defined-mask, for a static strategy that uses them.

        ``None`` for query-aware strategies and when ``precompute`` (where the
        strategy has that parameter) resolves to False.
        """
        if not self._static_weights:
            return None
        cat = self._checked_catalog()
        if not resolve_precompute(getattr(self, "precompute", False), cat):
            return None
        return fused_for(cat, np.asarray(self.global_weights_, dtype=np.float64))

    def _scan_arrays(self, queries: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, Any]:
        """What the engine scans for these queries: matrices, Gram entries and scorer.

        A static strategy with precomputed fused vectors scans the single
        matrix of unit fused vectors (one product per block, weight 1);
        every other strategy scans the C component matrices in Gram form.
        """
        pre = self._precomputed()
        if pre is not None:
            fused, defined = pre
            return [fused], defined, _UNIT_SCORER
        return super()._scan_arrays(queries)

    # -- warnings --------------------------------------------------------------------
    def _warn_cancelled(self, catalog: Catalog) -> None:
        """Warn (once) about items whose weighted components cancel to a zero fused vector.

        With static weights an undefined score is expected when none of an
        item's present components has weight (it is then only counted); it
        is unexpected when they have weight but cancel (``e_a = −e_b`` at equal
        weights), which this finds from the Gram entries at ``fit``.
        """
        w = np.asarray(self.global_weights_, dtype=np.float64)
        weighted = ((w > 0)[:, None] & np.asarray(catalog.mask)).any(axis=0)
        cancelled = int(np.count_nonzero(weighted & (static_sq_norms(catalog.gram, w) <= 0)))
        if cancelled:
            self._warn_once(
                "undefined",
                0,
                f"{cancelled} item(s) have weighted components that cancel (their fused "
                "vector is zero), so their score is undefined for every query; they are "
                "scored -inf (ranked last).",
                UndefinedScoreWarning,
            )

    # -- inspection ------------------------------------------------------------------
    def _query_item_weights(self, q: np.ndarray, S: np.ndarray) -> np.ndarray:
        """Weights of one query ``q`` (1, d) given its similarities ``S`` (C, 1, n)."""
        return self._weights(S)

    def _weights_for(
        self, q: np.ndarray, rows: np.ndarray | slice
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        cat = self._checked_catalog()
        mats = [E[rows] for E in cat.matrices()]
        S = np.stack([q @ E.T for E in mats]).astype(np.float32)  # (C, 1, n)
        W = self._query_item_weights(q, S)
        W = np.broadcast_to(W if W.ndim == 3 else W[:, None, None], S.shape)
        return S[:, 0, :], np.array(W[:, 0, :]), mats

    def fused_embeddings(self, query: Any) -> np.ndarray:
        """The query-aware fused vectors ``f_i(q) = Σ_c w_ic e_ic`` of every item.

        Not renormalised, exactly as in the original definition. This builds
        an (n_items, dim) array: use it for inspection, not for ranking.

        Parameters
        ----------
        query : array-like of shape (dim,)
            One unit-norm query embedding.

        Returns
        -------
        ndarray of shape (n_items, dim), float32
        """
        check_is_fitted(self)
        q = self._one_query(query)
        _, W, mats = self._weights_for(q, slice(None))
        fused = np.zeros_like(mats[0])
        for c, E in enumerate(mats):
            fused += W[c][:, None].astype(np.float32) * E
        return fused

    def explain(self, query: Any, items: Sequence[Any] | np.ndarray) -> Bunch:
        """Per-component similarity and weight behind chosen items' scores.

        Parameters
        ----------
        query : array-like of shape (dim,)
            One unit-norm query embedding.
        items : sequence
            Catalog ids of the items to explain.

        Returns
        -------
        Bunch
            ``ids`` (n,), ``components`` (C names), ``similarities`` (n, C)
            ``s_ic``, ``weights`` (n, C) normalised ``w_ic``, ``scores`` (n,)
            the fused cosines.
        """
        check_is_fitted(self)
        cat = self._checked_catalog()
        q = self._one_query(query)
        row_idx = self._positions(items)
        S, W, _ = self._weights_for(q, row_idx)
        K = cat.gram[:, :, row_idx]
        scores = fused_cosine(S[:, None, :], K, W[:, None, :])[0]
        absent = ~cat.mask[:, row_idx]
        if absent.any():  # an absent component has no similarity and no weight
            S = np.where(absent, np.nan, S)
            W = np.where(absent, 0.0, W)
            total = W.sum(axis=0, keepdims=True)
            W = np.divide(W, total, out=np.full_like(W, np.nan), where=total != 0)
        return Bunch(
            ids=cat.ids[row_idx],
            components=cat.names,
            similarities=S.T.copy(),
            weights=W.T.copy(),
            scores=scores,
        )
