"""Shared scikit-learn machinery of the fusion estimators."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
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
    resolve_backend,
)
from ._engine import (
    UndefinedScoreWarning,
    dense_scores,
    topk_scores,
    undefined_message,
    undefined_reported_to,
)
from ._simcache import (
    cache_for,
    enabled,
    query_digest,
)


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


def check_weights(
    weights: Sequence[float] | Mapping[str, float] | np.ndarray,
    names: Sequence[str],
    param: str = "weights",
) -> np.ndarray:
    """Validate fusion weights and return them in component order, summing to 1.

    Parameters
    ----------
    weights : sequence of float or mapping of str to float
        One non-negative weight per component, in component order or by name.
        A mapping must name every component.
    names : sequence of str
        The components, in order.
    param : str, default="weights"
        The parameter's name, for error messages.

    Returns
    -------
    ndarray of shape (C,), float64

    Raises
    ------
    ValueError
        Wrong length, unknown or missing names, negative, non-finite or
        all-zero weights.
    """
    C = len(names)
    if isinstance(weights, Mapping):
        unknown = [k for k in weights if k not in names]
        if unknown:
            raise ValueError(
                f"{param} names unknown component(s) {unknown}; valid names are {list(names)}."
            )
        missing = [n for n in names if n not in weights]
        if missing:
            raise ValueError(
                f"{param} must give a weight for every component; missing {missing} "
                f"(components are {list(names)}; use 0 to leave one out)."
            )
        values = [weights[n] for n in names]
    elif isinstance(weights, str):
        raise ValueError(f"{param} must be numbers, got the string {weights!r}.")
    else:
        values = list(np.ravel(np.asarray(weights, dtype=object)))
    try:
        w = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{param} must be numbers, got {values!r}.") from exc
    if w.shape != (C,):
        raise ValueError(
            f"{param} has {w.size} value(s) but the catalog has {C} component(s) {list(names)}."
        )
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{param} must be finite, got {w.tolist()}.")
    if np.any(w < 0):
        bad = [names[int(c)] for c in np.flatnonzero(w < 0)]
        raise ValueError(f"{param} must be non-negative; negative for {bad}: {w.tolist()}.")
    largest = w.max()
    if largest <= 0:
        raise ValueError(f"{param} are all zero; at least one component needs a positive weight.")
    w = w / largest  # only the ratios matter; dividing first keeps huge weights finite
    return w / w.sum()


def _check_n_neighbors(n_neighbors: Any) -> None:
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)):
        raise TypeError(f"n_neighbors must be an int, got {n_neighbors!r}.")
    if n_neighbors <= 0:
        raise ValueError(f"n_neighbors must be positive, got {n_neighbors}.")


class BaseFusion(WarnOnceMixin, TransformerMixin, BaseEstimator):
    """The thin scikit-learn base of both fusion families over a :class:`~skfusion.Catalog`.

    It holds what every strategy shares: the parameters, :meth:`fit` (which
    asks the strategy for ``global_weights_`` through ``_fit_weights``),
    query validation, and the query path — :meth:`kneighbors`,
    :meth:`decision_function` and :meth:`score` hand the arrays and the block
    scorer of ``_scan_arrays`` to the scan engine (:mod:`._engine`). The two
    families supply the scorer: vector fusion (:mod:`._vector`, a fused
    vector per item, Gram-form scores) and score fusion (:mod:`._score_base`,
    normalised per-component scores combined).

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

    # -- to be provided by the families and strategies ---------------------------------
    def _fit_weights(self, catalog: Catalog) -> np.ndarray:
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
            self._validate_once(X)
        self._finish_fit(catalog, y)
        return self

    def _finish_fit(self, catalog: Catalog, y: Any) -> None:
        """What a family does at the end of :meth:`fit` (the weights are set); nothing here."""

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

    def _scoring_backend(self) -> Backend:
        """The checked backend for the ``backend`` and ``device`` parameters."""
        return resolve_backend(self.backend, self.device)

    def _scorer_for(self, queries: np.ndarray) -> Any:
        """The block scorer (a :class:`~skfusion.fusion._engine.BlockScorer`) for these
        validated queries; score fusion's depends on per-query statistics."""
        raise NotImplementedError

    def _scan_arrays(self, queries: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, Any]:
        """What the engine scans for these queries: matrices, Gram entries and scorer.

        The catalog's C component matrices in Gram form; vector fusion may
        scan its precomputed fused vectors instead.
        """
        cat = self._checked_catalog()
        return cat.matrices(), cat.gram, self._scorer_for(queries)

    # -- warnings --------------------------------------------------------------------
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
