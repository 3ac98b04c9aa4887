"""Shared scikit-learn machinery of the fusion estimators."""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._arrays import EncodedArray, encoder_id_of, modality_of
from .._validation import check_unit_rows, row_sq_norms
from .._warnings import WarnOnceMixin
from ..catalog import Catalog
from ..metrics import RankingScorer, parse_metric
from ._approximate import approximate_kneighbors
from ._backends import Backend, query_aware_torch_scorer, resolve_backend, static_torch_scorer
from ._engine import (
    BlockScorer,
    DualScorer,
    UndefinedScoreWarning,
    dense_scores,
    fused_cosine,
    topk_scores,
    undefined_message,
    undefined_reported_to,
)
from ._static import fused_for, resolve_precompute


def _check_n_neighbors(n_neighbors: Any) -> None:
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)):
        raise TypeError(f"n_neighbors must be an int, got {n_neighbors!r}.")
    if n_neighbors <= 0:
        raise ValueError(f"n_neighbors must be positive, got {n_neighbors}.")


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


class BaseFusion(WarnOnceMixin, TransformerMixin, BaseEstimator):
    """Base class of vector-fusion estimators over a :class:`~skfusion.Catalog`.

    Subclasses implement ``_fit_weights(catalog)`` (returning
    ``global_weights_``) and ``_weights(S)`` (weights for a block of
    similarities). Everything else — validation, blocked scoring, top-k,
    scoring with a ranking metric, fused vectors and explanations — lives here.

    The scikit-learn mapping (docs/strategies.md): X holds queries (one row per
    query embedding), y the judged items per query; the catalog is a
    constructor parameter, so cross-validation splits queries, never items.
    """

    _parameter_constraints: dict[str, list[Any]] = {
        "catalog": [Catalog, None],
        "block_size": [Interval(Integral, 1, None, closed="left"), None],
        "scoring": [str],
        "backend": [StrOptions({"auto", "numpy", "torch"})],
        "device": [str, None],
        "approximate": ["boolean"],
        "n_candidates": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        block_size: int | None = None,
        scoring: str = "ndcg@10",
        backend: str = "auto",
        device: str | None = None,
        approximate: bool = False,
        n_candidates: int = 300,
    ):
        self.catalog = catalog
        self.block_size = block_size
        self.scoring = scoring
        self.backend = backend
        self.device = device
        self.approximate = approximate
        self.n_candidates = n_candidates

    #: Whether the weights depend on the catalog only (not on the query or the item's
    #: similarities): such strategies can score from precomputed fused vectors.
    _static_weights: bool = False
    #: How sharded scoring (:func:`skfusion.distributed.sharded_kneighbors`) gets the
    #: global weights: ``None``, not shardable (scores need catalog-wide statistics that
    #: shards do not combine, or weights fitted on judged queries); ``"parameters"``,
    #: from the estimator's parameters on every shard; ``"means"``, from the component
    #: means merged over the shards (hybrid's ``G_c = ‖m_c‖²``).
    _shard_weights: str | None = None

    # -- to be provided by strategies ------------------------------------------------
    def _fit_weights(self, catalog: Catalog) -> np.ndarray:
        raise NotImplementedError

    def _weights(self, S: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # -- fitting ---------------------------------------------------------------------
    def _checked_catalog(self) -> Catalog:
        if self.catalog is None:
            raise ValueError(
                f"{type(self).__name__} needs a catalog: pass a skfusion.Catalog as its first "
                "argument (catalog=...)."
            )
        return self.catalog

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any = None, y: Any = None) -> BaseFusion:
        """Compute the global weights from the catalog.

        Parameters
        ----------
        X : array-like of shape (n_queries, dim) or None
            Query embeddings; only checked (dimension, encoder) since the
            weights depend on the catalog alone.
        y : ignored
            Accepted for Pipeline and GridSearchCV compatibility.

        Returns
        -------
        self
        """
        catalog = self._checked_catalog()
        parse_metric(self.scoring)
        self._scoring_backend()  # an unavailable backend or device fails here, not at search
        self.global_weights_ = self._fit_weights(catalog)
        self.n_features_in_ = catalog.dim
        self.component_names_ = catalog.names
        self.n_items_ = catalog.n_items
        if X is not None:
            self._validate_queries(X)
        self._precomputed()  # build (or reuse) the fused vectors now, not at the first search
        return self

    # -- queries ---------------------------------------------------------------------
    def _validate_queries(self, X: Any) -> np.ndarray:
        catalog = self._checked_catalog()
        query_encoder = encoder_id_of(X)
        if query_encoder is not None:
            wrong = [
                name
                for name, enc in catalog.encoder_ids.items()
                if enc is not None and enc != query_encoder
            ]
            if wrong:
                raise ValueError(
                    f"The queries were encoded by {query_encoder!r}, but catalog component(s) "
                    f"{wrong} were built with "
                    f"{sorted({str(catalog.encoder_ids[w]) for w in wrong})}; "
                    "embed queries with the catalog's encoder."
                )
        if modality_of(X) == "image":
            kinds = catalog.modalities
            if all(k is not None for k in kinds.values()) and not any(
                k in ("image", "mixed") for k in kinds.values()
            ):
                raise ValueError(
                    f"The queries are images, but this catalog has no image component (its "
                    f"components are {kinds}); add one, or strip the tag with np.asarray(X) "
                    "if cross-modal image-to-text retrieval is intended."
                )
        first = X[0] if isinstance(X, Sequence) and len(X) else None
        if isinstance(X, np.ndarray) and X.dtype.kind in "USO" and X.size:
            first = X.flat[0]
        if isinstance(first, str):
            raise ValueError(
                f"{type(self).__name__} takes query embeddings of shape (n_queries, dim), "
                "not raw queries; put an encoder (e.g. skfusion.ClipEncoder) before it in "
                "a Pipeline."
            )
        Xv = validate_data(self, X, reset=False, dtype=np.float32, order="C")
        check_unit_rows(row_sq_norms(Xv), what="Query embeddings X")
        return np.asarray(Xv)

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

    def _scoring_backend(self) -> Backend:
        """The checked backend for the ``backend`` and ``device`` parameters."""
        return resolve_backend(self.backend, self.device)

    def _scorer_for(self, queries: np.ndarray) -> Any:
        """The scorer for these validated queries (score fusion needs per-query statistics)."""
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
        cat = self._checked_catalog()
        return cat.matrices(), cat.gram, self._scorer_for(queries)

    # -- warnings --------------------------------------------------------------------
    def _report_undefined(self, n_undefined: int) -> None:
        """Count undefined scores (``warning_counts_["undefined"]``); warn the first time."""
        self._warn_once(
            "undefined", n_undefined, undefined_message(n_undefined), UndefinedScoreWarning
        )

    # -- scoring ---------------------------------------------------------------------
    def decision_function(self, X: Any) -> np.ndarray:
        """Cosine between each query and each item's (query-aware) fused vector.

        Computed in Gram form, block by block over the catalog; no fused
        vector is built.

        Parameters
        ----------
        X : array-like of shape (n_queries, dim)
            Unit-norm query embeddings.

        Returns
        -------
        ndarray of shape (n_queries, n_items), float32
            Items whose fused vector is zero score -inf (with a warning).
        """
        check_is_fitted(self)
        Xv = self._validate_queries(X)
        matrices, gram, scorer = self._scan_arrays(Xv)
        with undefined_reported_to(self._report_undefined):
            return dense_scores(
                Xv,
                matrices,
                gram,
                scorer,
                block_size=self.block_size,
                backend=self._scoring_backend(),
            )

    def transform(self, X: Any) -> np.ndarray:
        """Same as :meth:`decision_function`: similarities to every fused item.

        Like ``KMeans.transform`` giving distances to centres, this gives each
        query's similarity to every item of the catalog.
        """
        return self.decision_function(X)

    def kneighbors(
        self, X: Any, n_neighbors: int = 10, return_distance: bool = True
    ) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
        """The best items for each query, by a running top-k over item blocks.

        With ``approximate=True`` the items are the best among the candidates
        proposed by the catalog's ANN index (``n_candidates`` from each of its
        indexes), each re-scored exactly; ``n_neighbors`` may not exceed
        ``n_candidates`` (see :doc:`/approximate`).

        Parameters
        ----------
        X : array-like of shape (n_queries, dim)
            Unit-norm query embeddings.
        n_neighbors : int, default=10
            Items returned per query (capped at the catalog size).
        return_distance : bool, default=True
            Also return the scores.

        Returns
        -------
        scores : ndarray of shape (n_queries, n_neighbors), float32
            Fused cosines, descending (only when ``return_distance``). They
            are similarities, not distances: larger is better.
        indices : ndarray of shape (n_queries, n_neighbors), int64
            Item positions in the catalog; ties go to the lower position.
        """
        check_is_fitted(self)
        _check_n_neighbors(n_neighbors)
        Xv = self._validate_queries(X)
        with undefined_reported_to(self._report_undefined):
            if self.approximate:
                scores, idx = approximate_kneighbors(self, Xv, int(n_neighbors))
            else:
                matrices, gram, scorer = self._scan_arrays(Xv)
                scores, idx = topk_scores(
                    Xv,
                    matrices,
                    gram,
                    scorer,
                    int(n_neighbors),
                    block_size=self.block_size,
                    backend=self._scoring_backend(),
                )
        return (scores, idx) if return_distance else idx

    def predict(self, X: Any) -> np.ndarray:
        """Id of the best item for each query.

        Returns
        -------
        ndarray of shape (n_queries,)
            Catalog ids of the top-ranked items.
        """
        idx = self.kneighbors(X, n_neighbors=1, return_distance=False)
        assert isinstance(idx, np.ndarray)
        return self._checked_catalog().ids[idx[:, 0]]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean ranking quality of X against the judgments y (nDCG@10 by default).

        The metric is the ``scoring`` parameter (any name accepted by
        :func:`skfusion.metrics.parse_metric`, e.g. ``"recall@100"`` or
        ``"mrr"``); it is what ``GridSearchCV`` optimises when no
        ``scoring=`` is given.

        Parameters
        ----------
        X : array-like of shape (n_queries, dim)
            Query embeddings.
        y : array-like of shape (n_queries,) or (n_queries, n_items)
            The index of the relevant item per query, or a (sparse) graded
            relevance matrix.
        sample_weight : array-like of shape (n_queries,), optional
            Weights for averaging the per-query values.

        Returns
        -------
        float
        """
        check_is_fitted(self)
        return RankingScorer(self.scoring)(self, X, y, sample_weight=sample_weight)

    # -- inspection ------------------------------------------------------------------
    def _one_query(self, query: Any) -> np.ndarray:
        encoder_id = encoder_id_of(query)
        q = np.asarray(query)
        if q.ndim == 1:
            q = q[None, :]
        if q.ndim != 2 or q.shape[0] != 1:
            raise ValueError(f"Expected one query of shape (dim,), got shape {np.shape(query)}.")
        return self._validate_queries(EncodedArray(q, encoder_id) if encoder_id else q)

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

    def _positions(self, items: Sequence[Any] | np.ndarray) -> np.ndarray:
        """Catalog positions of item ids; unknown ids raise ``ValueError``."""
        cat = self._checked_catalog()
        positions = {v: i for i, v in enumerate(cat.ids.tolist())}
        rows = []
        for item in list(items):
            key = item.item() if isinstance(item, np.generic) else item
            if key not in positions:
                raise ValueError(f"Item id {item!r} is not in the catalog.")
            rows.append(positions[key])
        return np.asarray(rows, dtype=np.int64)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        tags.input_tags.allow_nan = False
        return tags
