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
from ..metrics._ranking import parse_metric
from ..metrics._scorer import RankingScorer
from ._approximate import approximate_kneighbors
from ._backends import (
    Backend,
    NumpyBackend,
    query_aware_torch_scorer,
    resolve_backend,
    static_torch_scorer,
)
from ._engine import (
    BlockScorer,
    DualScorer,
    UndefinedScoreWarning,
    _block_topk,
    _warn_undefined,
    dense_scores,
    fused_cosine,
    static_sq_norms,
    topk_scores,
    undefined_message,
    undefined_reported_to,
)
from ._simcache import (
    cache_for,
    cacheable,
    enabled,
    query_digest,
)
from ._static import fused_for, resolve_precompute


def _split_lexical_columns(X: Any, catalog: Catalog, owner: str) -> tuple[Any, list[Any] | None]:
    """``(dense part, lexical parts or None)`` of a query matrix, by its width.

    The dense part is left for ``validate_data``; a sparse one is densified.
    Lexical parts are float32 CSR with sorted indices, finite and non-negative.
    """
    import scipy.sparse as sp

    names = catalog.lexical_names
    if not names:  # dense queries only (sparse X is refused by validate_data, as before)
        return X, None
    sparse = sp.issparse(X)
    widths = [catalog.lexical[n].shape[1] for n in names]
    dim, total = catalog.dim, catalog.dim + sum(widths)
    shape = X.shape if sparse else np.shape(X)
    if len(shape) != 2:
        return X, None  # validate_data names the problem
    n_cols = int(shape[1])
    if n_cols == dim:
        return (X.toarray() if sparse else X), None
    if n_cols != total:
        parts = " + ".join(f"{w} ({n!r})" for n, w in zip(names, widths, strict=True))
        raise ValueError(
            f"X has {n_cols} columns, but {owner} with this catalog takes {dim} (dense query "
            f"embeddings) or {total} = {dim} dense + {parts} lexical columns, in the catalog's "
            "lexical order (e.g. make_union(dense_encoder, bm25_encoder))."
        )
    M = sp.csr_array(X) if sparse else sp.csr_array(np.asarray(X, dtype=np.float32))
    dense = M[:, :dim].toarray()
    lexical = []
    start = dim
    for name, width in zip(names, widths, strict=True):
        part = sp.csr_array(M[:, start : start + width], dtype=np.float32)
        part.sum_duplicates()
        part.sort_indices()
        if not (np.isfinite(part.data).all() and (part.data >= 0).all()):
            raise ValueError(
                f"The lexical query columns of {name!r} (columns {start}..{start + width - 1} "
                "of X) must be finite and non-negative (e.g. BM25Encoder term counts)."
            )
        lexical.append(part)
        start += width
    return dense, lexical


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
        "approximate": ["boolean", StrOptions({"auto"})],
        "n_candidates": [Interval(Integral, 1, None, closed="left"), None],
    }

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        block_size: int | None = None,
        scoring: str = "ndcg@10",
        backend: str = "auto",
        device: str | None = None,
        approximate: bool | str = False,
        n_candidates: int | None = None,
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
    #: Whether an undefined score (a zero fused vector) can only mean that the weights
    #: give none of the item's present components any weight, which is expected (counted,
    #: not warned). False for strategies where it signals trouble (hybrid's literal policy).
    _undefined_expected: bool = True

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
        if self._static_weights:
            self._warn_cancelled(catalog)
        self.n_features_in_ = catalog.dim
        self.component_names_ = catalog.names
        self.n_items_ = catalog.n_items
        if X is not None:
            self._validate_once(X)
        if y is None or not self._tuning_applies():
            # Build (or reuse) the fused vectors now, not at the first search. A judged fit
            # (model selection) that will be scored through the tuning cache skips this;
            # the vectors are still built on demand by kneighbors.
            self._precomputed()
        return self

    def _validate_once(self, X: Any) -> None:
        """Validate X, skipping a plain array already validated against this catalog.

        Repeated fits on the same catalog (the candidates of a grid search,
        each fitted on the same training folds) then validate each query
        array once: the digest (dtype, shape, bytes) of every array that
        passed is kept on the catalog's tuning cache (:mod:`._simcache`).
        """
        digest = query_digest(X) if enabled() else None
        if digest is None:
            self._validate_queries(X)
            return
        key = digest + type(self).__qualname__.encode()
        cache = cache_for(self._checked_catalog())
        if not cache.is_validated(key):
            self._validate_queries(X)
            cache.mark_validated(key)

    def _tuning_applies(self) -> bool:
        """Whether :class:`~skfusion.metrics.RankingScorer` scores this estimator from the
        per-catalog similarity cache (:meth:`_tuning_rank`).

        Static strategies scoring exactly on the NumPy backend, unless
        ``precompute=True`` asks for the fused vectors.
        """
        if not (self._static_weights and enabled()) or self.approximate:
            return False
        if resolve_precompute(getattr(self, "precompute", False), self._checked_catalog()):
            return False  # scores precomputed fused vectors (their own rounding)
        return isinstance(self._scoring_backend(), NumpyBackend)

    def _tuning_rank(self, X: Any, k: int | None) -> np.ndarray | None:
        """Top-``k`` item positions (or all scores when ``k`` is None) for a scorer.

        The hook of :class:`~skfusion.metrics.RankingScorer`: for a static
        strategy (:meth:`_tuning_applies`) the similarity blocks of X are
        computed once per catalog and query array and cached
        (:mod:`skfusion.fusion._simcache`); each candidate of a weight search
        then costs ``O(Q·n·C)``: its Gram-form scores
        ``Σ_c w_c s_ic / sqrt(wᵀ K_i w)`` from those blocks, bit-identical to
        the estimator's own Gram-form scores. It applies when the estimator
        scores in Gram form (``precompute=False``, or ``"auto"`` above its
        budget): precomputed fused vectors round differently in the last
        bits, so they keep their own path. ``None`` when it does not apply:
        the scorer then uses :meth:`kneighbors` or :meth:`decision_function`
        as before.
        """
        check_is_fitted(self)
        if not self._tuning_applies():
            return None
        catalog = self._checked_catalog()
        if resolve_precompute(getattr(self, "precompute", False), catalog):
            return None
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

    # -- queries ---------------------------------------------------------------------
    def _validate_queries(self, X: Any) -> np.ndarray:
        """The validated dense query embeddings (Q, d); lexical columns are checked, then dropped.

        Vector-fusion strategies use only the dense columns of a
        ``[dense | lexical ...]`` query matrix (see :meth:`_split_queries`).
        """
        return self._split_queries(X)[0]

    def _split_queries(self, X: Any) -> tuple[np.ndarray, list[Any] | None]:
        """Split X into dense embeddings (Q, d) float32 and lexical CSR parts (Q, V_l).

        X is either d wide (dense queries only: ``None`` for the lexical
        parts) or ``d + Σ V_l`` wide, the lexical query vectors of the
        catalog's lexical components following the dense ones in
        :attr:`Catalog.lexical_names` order — what
        ``make_union(dense_encoder, BM25Encoder())`` outputs (sparse or
        dense). Any other width raises a ``ValueError`` naming the accepted ones.
        """
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
        X, lexical = _split_lexical_columns(X, catalog, type(self).__name__)
        Xv = validate_data(self, X, reset=False, dtype=np.float32, order="C")
        check_unit_rows(row_sq_norms(Xv), what="Query embeddings X")
        return np.asarray(Xv), lexical

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

    def _report_undefined(self, n_undefined: int) -> None:
        """Count undefined scores (``warning_counts_["undefined"]``); warn the first time.

        When :attr:`_undefined_expected`, they are only counted: the weights
        give none of those items' components any weight (a single-field
        strategy over a field some items lack, a weight vector of a grid that
        leaves a field out), so ranking them last is the intended outcome.
        """
        if self._undefined_expected:
            self._count_only("undefined", n_undefined)
            return
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
