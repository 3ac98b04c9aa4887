"""AgreementFusion whose shrinkage and target weights are chosen on judged queries."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.base import _fit_context
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_is_fitted

from ..catalog import Catalog
from ..metrics._ranking import parse_metric, ranking_metrics
from ..metrics._relevance import as_relevance, check_judged
from ._base import _check_n_neighbors, check_weights
from ._engine import _block_topk, _merge_topk, block_size_for, scan
from ._grid import simplex_grid
from ._vector import BaseVectorFusion
from .agreement import AgreementFusion, _shrink, per_query_fused_cosine

#: The label-free shrinkage (AgreementFusion's default prior), used without judgments.
LABEL_FREE_PRIOR = 0.75
#: The label-free imputation (AgreementFusion's default), used without judgments.
LABEL_FREE_IMPUTE = "regression"
#: Simplex step of the default grid of target weights.
GRID_STEP = 0.1
#: float32 scores of (candidate, query, item) computed at once per block.
_SCORE_ELEMENTS = 1 << 22
#: (candidate, query, rank) entries of the running top lists per pass over the catalog.
_TOPLIST_ENTRIES = 1 << 24
#: Candidate weights of the lexical evidence by default (catalogs with lexical components).
LEXICAL_GRID = tuple(round(0.1 * k, 1) for k in range(11))
#: (query, item) scores held at once when dense and lexical scores are combined.
_COMBINED_ELEMENTS = 1 << 24
#: Standard errors by which the best candidate must beat the best fixed weighting.
SE_FACTOR = 2.0


def guarded_choice(per_query: np.ndarray, fixed: np.ndarray) -> int:
    """The candidate to keep: the best, unless it doesn't clearly beat the best fixed one.

    ``per_query`` is (n_candidates, n_queries); ``fixed`` the rows of the
    fixed weightings (``prior=1`` on the catalog as it is). The best mean
    (first among ties) is kept if it is a fixed weighting, if there are
    none, or if its paired per-query gain over the best fixed weighting
    exceeds :data:`SE_FACTOR` standard errors of that gain; otherwise the
    best fixed weighting is kept. Picking the largest of thousands of noisy
    means favours a lucky candidate (the winner's curse); moving away from
    the simpler family only on clear evidence is the one-standard-error
    rule of Breiman et al. (1984) and Hastie et al., *The Elements of
    Statistical Learning* (2009, section 7.10), with a paired error and a
    factor 2 for the size of the grid.
    """
    mean = per_query.mean(axis=1)
    best = int(np.argmax(mean))
    if fixed.size == 0 or best in fixed:
        return best
    base = int(fixed[np.argmax(mean[fixed])])
    gain = per_query[best] - per_query[base]
    if gain.size < 2:
        return base  # one judged query is no evidence for the factor model
    se = float(gain.std(ddof=1)) / np.sqrt(gain.size)
    return best if float(gain.mean()) > SE_FACTOR * se else base


def _minmax_rows(S: np.ndarray) -> np.ndarray:
    """``(s − min) / (max − min)`` per row over the finite entries (float64).

    Non-finite entries (an undefined fused cosine, scored ``-inf``) and rows
    whose finite entries are all equal normalise to 0.
    """
    S = np.asarray(S, dtype=np.float64)
    finite = np.isfinite(S)
    lo = np.where(finite, S, np.inf).min(axis=1, keepdims=True)
    hi = np.where(finite, S, -np.inf).max(axis=1, keepdims=True)
    span = hi - lo
    ok = np.isfinite(span) & (span > 0)
    out = (np.where(finite, S, 0.0) - np.where(ok, lo, 0.0)) / np.where(ok, span, 1.0)
    out[~finite | ~ok] = 0.0
    return out


def _topk_stable(S: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest entries per row, descending, ties to the lower position."""
    n_rows, n = S.shape
    k = min(int(k), n)
    idx = np.empty((n_rows, k), dtype=np.int64)
    for q in range(n_rows):
        row = S[q]
        if k < n:
            threshold = np.partition(row, n - k)[n - k]
            cand = np.flatnonzero(row >= threshold)
        else:
            cand = np.arange(n)
        idx[q] = cand[np.lexsort((cand, -row[cand]))][:k]
    return np.take_along_axis(S, idx, axis=1), idx


class _CandidateTopListsPart:
    def __init__(self, lists: CandidateTopLists) -> None:
        self.lists = lists
        self.best: list[Any] = [None] * len(range(0, len(lists.weights), lists.per_step))

    def update(self, start: int, stop: int, S: np.ndarray) -> None:
        lists = self.lists
        K = lists.gram[:, :, start:stop]
        for j, b in enumerate(range(0, len(lists.weights), lists.per_step)):
            fused = np.concatenate(
                [per_query_fused_cosine(S, K, w) for w in lists.weights[b : b + lists.per_step]]
            )
            fused[np.isnan(fused)] = -np.inf  # a zero fused vector ranks last
            top, idx = _block_topk(fused, lists.depth)
            self.best[j] = _merge_topk(self.best[j], (top, idx + start), lists.depth)


class CandidateTopLists:
    """Scan reducer: the running top-``depth`` list of every (candidate, query) pair.

    Takes the raw similarity blocks (C, Q, B) of one pass over the catalog
    and scores every candidate weighting from them (``per_step`` candidates
    stacked per top-k call), so the products with the catalog are computed
    once for all candidates.

    Parameters
    ----------
    weights : ndarray of shape (n_candidates, C, Q)
        Per-query component weights of each candidate.
    gram : ndarray of shape (C, C, n_items)
    depth : int
        Length of the top lists.
    per_step : int
        Candidates scored together per block.

    ``result()`` is a list of ``(scores, positions)``, one per step of
    ``per_step`` candidates, each (n_step · Q, depth), candidate-major.
    """

    parallel = False
    tensors = False

    def __init__(self, weights: np.ndarray, gram: np.ndarray, depth: int, per_step: int) -> None:
        self.weights, self.gram, self.depth, self.per_step = weights, gram, depth, per_step
        self.best: list[Any] = []

    def partial(self, qs: slice, tensors: bool) -> _CandidateTopListsPart:
        return _CandidateTopListsPart(self)

    def join(self, qs: slice, parts: list[Any]) -> None:
        (part,) = parts
        self.best = part.best

    def result(self) -> list[Any]:
        return self.best


class AgreementFusionCV(BaseVectorFusion):
    """Agreement fusion with ``prior``, ``prior_weights`` and ``impute`` chosen on judged queries.

    The recommended default: :class:`AgreementFusion`'s per-query weights
    ``w(q) = (1 − ρ) u(q) + ρ t`` (``u(q)``: the query's factor-score
    shares, label-free; ``t``: target weights; ``ρ``: the shrinkage
    ``prior``), with ``(ρ, t)`` chosen like ``RidgeCV`` chooses ``alpha``.

    ``fit(X, y)`` with judged queries scores every candidate
    ``(ρ, t) ∈ priors × prior_weights_grid`` on them by its mean ``scoring``
    metric (nDCG@10 by default)::

        m(ρ, t) = (1/Q) Σ_q metric_q(ranking of q under w_(ρ,t)(q))

    and keeps the best (the first candidate in grid order among ties) if it
    is a fixed weighting (``ρ = 1``), or if its paired per-query gain over
    the best fixed weighting exceeds two standard errors; otherwise it keeps
    the best fixed weighting (a one-standard-error
    rule). Without the guard, the largest of a few thousand noisy means was
    a lucky candidate often enough to lose to tuned fixed weights on held-out
    queries of real text catalogs with missing fields; with it, held-out
    scores on synthetic catalogs were unchanged (``docs/strategy_benchmark.md``).

    No candidate learns anything from the judgments (``u(q)`` comes from the
    catalog and the query alone), so a query's score under a candidate is
    the same whether or not the other queries were used: this mean *is* the
    leave-one-out cross-validated score of every candidate (it equals
    ``GridSearchCV(AgreementFusion(), ..., cv=LeaveOneOut())``; tested), and
    it is computed in passes over the catalog that score all candidates
    from the same similarity blocks, instead of one pass per candidate and
    fold. ``fit()`` or ``fit(X)`` without judgments gives the label-free
    default, :class:`AgreementFusion` with ``prior=0.75`` and equal targets.

    It composes :class:`AgreementFusion` rather than extending it, as
    scikit-learn's ``RidgeCV`` fits an inner ``Ridge`` (by its fast
    leave-one-out path or ``GridSearchCV``) and reports the chosen one: the
    fast leave-one-out search above stands for
    ``GridSearchCV(AgreementFusion(), ..., cv=LeaveOneOut())``, and the
    chosen candidate is ``best_estimator_``, an :class:`AgreementFusion`
    fitted (label-free) with the chosen ``prior``, ``prior_weights`` and
    ``impute``. Scoring, :meth:`query_weights`, :meth:`explain` and
    :meth:`fused_embeddings` use its per-query weights and scored catalog;
    warnings and ``warning_counts_`` are this estimator's.

    When the catalog has missing components, ``impute="auto"`` (the
    default) also chooses whether the factor model and the scores use the
    catalog with regression-imputed components or the catalog as it is
    (missing components left out of each item's fused vector): every
    ``(ρ, t)`` candidate is scored both ways. The default grid (``priors``
    0.25, 0.5, 0.75, 1 × the weight simplex at step 0.1) then contains at
    ``ρ = 1, impute=None`` every fixed weighting of that simplex exactly as
    :class:`WeightedFusion` scores it on the masked catalog, so on the
    queries it is tuned on it scores at least as well as the best of them
    (those are the fixed weightings of the guard). Held out
    (nested cross-validation replayed over 10 outer shuffles of 19
    catalogs, ``docs/strategy_benchmark.md``), it was never significantly
    worse on nDCG@10 than fixed weights tuned by ``GridSearchCV``, and
    better by 0.015–0.036 on every catalog with missing images or
    descriptions. Leave-one-out cross-validation: Stone (1974),
    *Cross-validatory choice and assessment of statistical predictions*.

    Parameters
    ----------
    catalog : Catalog
    priors : array-like of float in [0, 1], default=(0.25, 0.5, 0.75, 1.0)
        Candidate shrinkages ``ρ``.
    prior_weights_grid : array-like of shape (n_targets, n_components), or None
        Candidate target weights, one row (or mapping of component name to
        weight) per candidate, each normalised to sum to 1. ``None`` is the
        weight simplex at step 0.1 (66 rows for 3 components, 286 for 4).
    debias : bool, default=True
        As for :class:`AgreementFusion`.
    impute : {"auto", "regression"} or None, default="auto"
        ``"regression"`` or None: as for :class:`AgreementFusion`. ``"auto"``:
        chosen with ``prior`` and ``prior_weights`` by ``fit(X, y)`` among
        ``"regression"`` and None (catalogs with missing components only);
        ``"regression"`` without judgments.
    lexical_weights : "auto" or array-like of float in [0, 1], default="auto"
        Candidate weights ``α`` of lexical evidence, for catalogs with lexical
        components (:attr:`Catalog.lexical`, e.g. BM25) and queries that carry
        their lexical columns (``make_union(dense_encoder,
        FrozenEstimator(bm25))``). With ``α > 0`` an item scores
        ``(1 − α) mm(f_q) + α mm(b_q)``: ``f_q`` the dense agreement scores of
        the chosen candidate, ``b_q`` the sum of the lexical scores, ``mm``
        min-max normalisation over the catalog for the query (the convex
        combination of Bruch et al., "An Analysis of Fusion Functions for
        Hybrid Retrieval", TOIS 2023). ``"auto"`` is 0, 0.1, …, 1 (1 is
        lexical evidence alone) when both are there, else 0 only. ``α = 0``
        (dense only) is always a candidate. ``α`` is chosen after the dense
        candidate, for that candidate, by the same mean ``scoring`` metric.
    block_size : int, optional
    scoring : str, default="ndcg@10"
        The metric maximised by ``fit`` and reported by :meth:`score`.
        Metrics without a cut-off (``"mrr"``, ``"map"``) rank the whole
        catalog for every candidate, in more passes.
    backend : {"auto", "numpy", "torch"}, default="auto"
    device : str, optional
    approximate : bool, default=False
        As for :class:`AgreementFusion` (``fit`` always scores exactly).
    n_candidates : int or None, default=None
        None: the count calibrated by ``build_index(target_recall=...)``,
        else 300.

    Attributes
    ----------
    impute_ : {"regression"} or None
        The imputation used.
    prior_ : float
        The chosen shrinkage (0.75 without judgments).
    prior_weights_ : ndarray of shape (n_components,)
        The chosen target weights (equal without judgments); also
        ``global_weights_``.
    lexical_weight_ : float
        The chosen weight of lexical evidence (0 without lexical components,
        lexical query columns or judgments).
    best_params_ : dict
        ``{"impute": impute_, "prior": prior_, "prior_weights": prior_weights_}``,
        plus ``"lexical_weight"`` when the catalog has lexical components.
    best_score_ : float
        Mean ``scoring`` metric of the chosen candidate over the judged
        queries (only after ``fit(X, y)``).
    best_index_ : int
        Its position in ``cv_results_`` (only after ``fit(X, y)``); not rank 1
        when the guard kept a fixed weighting.
    cv_results_ : dict of ndarray
        ``param_impute`` (n,), ``param_prior`` (n,), ``param_prior_weights``
        (n, n_components), ``mean_test_score``, ``std_test_score`` (over
        queries) and ``rank_test_score`` of every candidate, imputations
        varying slowest, then priors (only after ``fit(X, y)``). With lexical
        components also ``param_lexical_weight``: 0 for those rows, then one
        row per ``α > 0`` of the chosen dense candidate.
    imputed_catalog_ : Catalog
        The catalog scored: ``catalog`` itself or its imputed copy (that of
        ``best_estimator_``).
    best_estimator_ : AgreementFusion
        The chosen strategy: :class:`AgreementFusion` with ``prior=prior_``,
        ``prior_weights=prior_weights_``, ``impute=impute_`` and this
        estimator's ``debias``, ``block_size``, ``scoring``, ``backend``,
        ``device``, ``approximate`` and ``n_candidates``, fitted without
        judgments (it learns nothing from them); the label-free default
        after ``fit(X)`` without ``y``. Its scores are this estimator's when
        ``lexical_weight_ == 0``.

    See Also
    --------
    AgreementFusion : the same strategy with ``prior`` and ``prior_weights`` given.

    Examples
    --------
    >>> from skfusion import AgreementFusionCV, Catalog
    >>> from skfusion.datasets import make_catalog
    >>> data = make_catalog(500, 40, random_state=0)
    >>> cat = Catalog.from_arrays(data.components, masks=data.masks)
    >>> est = AgreementFusionCV(cat, priors=[0.25, 1.0]).fit(data.queries, data.qrels)
    >>> sorted(est.best_params_)
    ['impute', 'prior', 'prior_weights']
    >>> est.cv_results_["mean_test_score"].shape
    (132,)
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **BaseVectorFusion._parameter_constraints,
        "priors": ["array-like"],
        "prior_weights_grid": ["array-like", None],
        "debias": ["boolean"],
        "impute": [StrOptions({"auto", "regression"}), None],
        "lexical_weights": [StrOptions({"auto"}), "array-like"],
    }

    # The capabilities of the strategy it wraps (per-query weights: no precomputed
    # fused vectors, no sharding, undefined scores expected and only counted).
    _static_weights = AgreementFusion._static_weights
    _shard_weights = AgreementFusion._shard_weights
    _undefined_expected = AgreementFusion._undefined_expected

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        priors: Any = (0.25, 0.5, 0.75, 1.0),
        prior_weights_grid: Any = None,
        debias: bool = True,
        impute: str | None = "auto",
        lexical_weights: Any = "auto",
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
        self.priors = priors
        self.prior_weights_grid = prior_weights_grid
        self.debias = debias
        self.impute = impute
        self.lexical_weights = lexical_weights

    _FITTED = (
        "impute_",
        "prior_",
        "prior_weights_",
        "best_params_",
        "best_score_",
        "best_index_",
        "cv_results_",
        "lexical_weight_",
        "global_weights_",
        "imputed_catalog_",
        "n_features_in_",
        "component_names_",
        "n_items_",
        "best_estimator_",
    )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any = None, y: Any = None) -> AgreementFusionCV:
        """Choose ``prior`` and ``prior_weights`` on judged queries (label-free without ``y``).

        Parameters
        ----------
        X : array-like of shape (n_queries, dim), optional
            Unit-norm query embeddings; needed with ``y``.
        y : array-like of shape (n_queries,) or (n_queries, n_items), or sparse, optional
            The index of the relevant item per query, or a (sparse) graded
            relevance matrix; every query needs a relevant item.

        Returns
        -------
        self
        """
        for name in self._FITTED:
            self.__dict__.pop(name, None)  # a failed refit leaves nothing stale
        catalog = self._checked_catalog()
        if y is not None and X is None:
            raise ValueError(
                "AgreementFusionCV.fit got judgments y without queries X: pass the query "
                "embeddings the judgments belong to."
            )
        priors = self._checked_priors()
        grid = self._checked_grid(catalog)
        alphas = self._checked_lexical_weights(catalog)
        try:
            super().fit(X)  # validates X; best_estimator_: the label-free default (_fit_weights)
            if y is not None:
                Xv, lexical = self._split_queries(X)
                rel = as_relevance(y, Xv.shape[0], catalog.n_items)
                check_judged(rel)
        except Exception:
            for name in self._FITTED:
                self.__dict__.pop(name, None)  # not fitted: check_is_fitted must say so
            raise
        self.prior_ = LABEL_FREE_PRIOR
        self.impute_ = LABEL_FREE_IMPUTE if self.impute == "auto" else self.impute
        self.lexical_weight_ = 0.0
        if y is None:
            self.prior_weights_ = self.global_weights_
            self.best_params_ = self._params()
            return self
        options = self._impute_options(catalog)
        # The fast leave-one-out path: every candidate scored from shared passes.
        n_per = len(priors) * len(grid)
        cand_imputes = np.array([o for o in options for _ in range(n_per)], dtype=object)
        cand_priors = np.tile(np.repeat(priors, len(grid)), len(options))
        cand_targets = np.tile(grid, (len(priors) * len(options), 1))
        per_query = np.concatenate(
            [
                self._candidate_metrics(Xv, rel, cand_priors[:n_per], cand_targets[:n_per], o)
                for o in options
            ]
        )
        mean = per_query.mean(axis=1)
        masked = None if None in options else options[0]
        fixed = np.flatnonzero((cand_priors == 1.0) & (cand_imputes == masked))
        best = guarded_choice(per_query, fixed)
        self.impute_ = cand_imputes[best]
        self.prior_ = float(cand_priors[best])
        self.prior_weights_ = cand_targets[best].copy()
        self.best_estimator_ = self._refit(self.impute_, self.prior_, self.prior_weights_)
        self.imputed_catalog_ = self.best_estimator_.imputed_catalog_
        self.global_weights_ = self.prior_weights_
        self.best_index_ = best
        self.best_score_ = float(mean[best])
        self.best_params_ = self._params()
        self.cv_results_ = {
            "param_impute": cand_imputes,
            "param_prior": cand_priors,
            "param_prior_weights": cand_targets,
            "mean_test_score": mean,
            "std_test_score": per_query.std(axis=1),
            "rank_test_score": rankdata(-mean, method="min").astype(np.int64),
        }
        if catalog.lexical_names:
            self._choose_lexical_weight(Xv, lexical, rel, alphas, best)
        return self

    def _checked_lexical_weights(self, catalog: Catalog) -> np.ndarray:
        """The candidate lexical weights ``α > 0`` (empty without lexical components)."""
        if isinstance(self.lexical_weights, str):  # "auto"
            values = np.asarray(LEXICAL_GRID, dtype=np.float64)
        else:
            try:
                values = np.asarray(self.lexical_weights, dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(
                    "lexical_weights must be 'auto' or a sequence of numbers in [0, 1], got "
                    f"{self.lexical_weights!r}."
                ) from None
            if values.ndim != 1 or not np.all(np.isfinite(values)):
                raise ValueError(
                    "lexical_weights must be 'auto' or a 1-D sequence of numbers in [0, 1], "
                    f"got {self.lexical_weights!r}."
                )
            if values.size and (values.min() < 0 or values.max() > 1):
                raise ValueError(
                    f"Every value of lexical_weights must lie in [0, 1], got {values.tolist()}."
                )
        if not catalog.lexical_names:
            return np.empty(0)
        return np.unique(values[values > 0])

    def _choose_lexical_weight(
        self, Xv: np.ndarray, lexical: Any, rel: Any, alphas: np.ndarray, best: int
    ) -> None:
        """Score ``α`` candidates for the chosen dense candidate; keep the best overall.

        Appends one ``cv_results_`` row per ``α > 0`` (0 for the dense rows)
        and moves ``best_*`` to an ``α`` row only when it scores higher than
        every dense candidate (the first in order among ties, so dense only wins
        a tie).
        """
        res = self.cv_results_
        n_dense = res["mean_test_score"].shape[0]
        use = alphas if lexical is not None else np.empty(0)
        n_items = self._checked_catalog().n_items
        _, cutoff = parse_metric(self.scoring)
        depth = n_items if cutoff is None else min(cutoff, n_items)
        per_query = np.empty((use.size, Xv.shape[0]))
        if use.size:
            for qs in self._query_chunks(Xv.shape[0]):
                dense = _minmax_rows(self._dense_scores(Xv[qs]))
                lex = _minmax_rows(self._lexical_scores([Q[qs] for Q in lexical]))
                for a, alpha in enumerate(use):
                    _, ranking = _topk_stable((1.0 - alpha) * dense + alpha * lex, depth)
                    per_query[a, qs] = ranking_metrics(
                        rel[qs],
                        ranking=ranking,
                        metrics=[self.scoring],
                        n_items=n_items,
                        per_query=True,
                    )[self.scoring]
        mean = np.concatenate([res["mean_test_score"], per_query.mean(axis=1)])
        chosen = int(np.argmax(mean))
        repeat = np.full(use.size, best)
        self.cv_results_ = {
            "param_impute": np.concatenate([res["param_impute"], res["param_impute"][repeat]]),
            "param_prior": np.concatenate([res["param_prior"], res["param_prior"][repeat]]),
            "param_prior_weights": np.concatenate(
                [res["param_prior_weights"], res["param_prior_weights"][repeat]]
            ),
            "param_lexical_weight": np.concatenate([np.zeros(n_dense), use]),
            "mean_test_score": mean,
            "std_test_score": np.concatenate([res["std_test_score"], per_query.std(axis=1)]),
            "rank_test_score": rankdata(-mean, method="min").astype(np.int64),
        }
        self.lexical_weight_ = float(use[chosen - n_dense]) if chosen >= n_dense else 0.0
        self.best_index_ = chosen
        self.best_score_ = float(mean[chosen])
        self.best_params_ = self._params()

    def _query_chunks(self, n_queries: int) -> list[slice]:
        n_items = self._checked_catalog().n_items
        step = max(1, _COMBINED_ELEMENTS // max(n_items, 1))
        return [slice(a, min(a + step, n_queries)) for a in range(0, n_queries, step)]

    def _lexical_scores(self, lexical: Any) -> np.ndarray:
        """Sum over the lexical components of ``Q_l D_lᵀ``: (n_queries, n_items) float64."""
        cat = self._checked_catalog()
        out = np.zeros((lexical[0].shape[0], cat.n_items), dtype=np.float64)
        for Q, name in zip(lexical, cat.lexical_names, strict=True):
            out += (Q @ cat.lexical[name].T).toarray()
        return out

    def _combined(self, dense: np.ndarray, lexical: Any) -> np.ndarray:
        """``(1 − α) mm(f_q) + α mm(b_q)`` for a chunk of queries (float64)."""
        alpha = self.lexical_weight_
        f = _minmax_rows(self._dense_scores(dense))
        if lexical is None:  # queries without lexical columns: b_q = 0, mm(b_q) = 0
            return (1.0 - alpha) * f
        return (1.0 - alpha) * f + alpha * _minmax_rows(self._lexical_scores(lexical))

    def _dense_scores(self, X: Any) -> np.ndarray:
        """The fused cosines of ``best_estimator_``'s strategy, scored here (this warns)."""
        return super().decision_function(X)

    def decision_function(self, X: Any) -> np.ndarray:
        """Fused scores of every item; with ``lexical_weight_ > 0`` the convex combination.

        Returns
        -------
        ndarray of shape (n_queries, n_items), float32
            Fused cosines (``lexical_weight_ == 0``), or
            ``(1 − α) mm(f_q) + α mm(b_q)`` in [0, 1] (see ``lexical_weights``).
        """
        check_is_fitted(self)
        if not self.lexical_weight_:
            return super().decision_function(X)
        dense, lexical = self._split_queries(X)
        out = np.empty((dense.shape[0], self._checked_catalog().n_items), dtype=np.float32)
        for qs in self._query_chunks(dense.shape[0]):
            lex = None if lexical is None else [Q[qs] for Q in lexical]
            out[qs] = self._combined(dense[qs], lex)
        return out

    def kneighbors(
        self, X: Any, n_neighbors: int = 10, return_distance: bool = True
    ) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
        """The best items per query; with ``lexical_weight_ > 0`` by the combined score.

        Same contract as :meth:`BaseFusion.kneighbors` (ties to the lower
        position). The combined score needs every item's dense and lexical
        score for the min-max normalisation, so it is exact search only.
        """
        check_is_fitted(self)
        if not self.lexical_weight_:
            return super().kneighbors(X, n_neighbors, return_distance)
        _check_n_neighbors(n_neighbors)
        if self.approximate is True:  # "auto" searches exactly here
            raise ValueError(
                "AgreementFusionCV chose lexical_weight_="
                f"{self.lexical_weight_}, and the min-max normalised combination with lexical "
                "scores needs every item's score: use approximate=False."
            )
        dense, lexical = self._split_queries(X)
        k = min(int(n_neighbors), self._checked_catalog().n_items)
        scores = np.empty((dense.shape[0], k), dtype=np.float32)
        idx = np.empty((dense.shape[0], k), dtype=np.int64)
        for qs in self._query_chunks(dense.shape[0]):
            lex = None if lexical is None else [Q[qs] for Q in lexical]
            top, pos = _topk_stable(self._combined(dense[qs], lex), k)
            scores[qs], idx[qs] = top, pos
        return (scores, idx) if return_distance else idx

    def _params(self) -> dict[str, Any]:
        params = {
            "impute": self.impute_,
            "prior": self.prior_,
            "prior_weights": self.prior_weights_,
        }
        if super()._checked_catalog().lexical_names:
            params["lexical_weight"] = self.lexical_weight_
        return params

    # -- the wrapped strategy ----------------------------------------------------------
    def _agreement(
        self,
        impute: str | None,
        prior: float = LABEL_FREE_PRIOR,
        prior_weights: np.ndarray | None = None,
    ) -> AgreementFusion:
        """An unfitted :class:`AgreementFusion` with these and this estimator's other parameters."""
        return AgreementFusion(
            self.catalog,
            prior=prior,
            prior_weights=prior_weights,
            debias=self.debias,
            impute=impute,
            block_size=self.block_size,
            scoring=self.scoring,
            backend=self.backend,
            device=self.device,
            # "auto" too: AgreementFusion's constraints accept it, its annotation omits it.
            approximate=self.approximate,  # type: ignore[arg-type]
            n_candidates=self.n_candidates,
        )

    def _refit(
        self, impute: str | None, prior: float, prior_weights: np.ndarray | None
    ) -> AgreementFusion:
        """The candidate ``(impute, prior, prior_weights)`` fitted, without judgments."""
        est = self._agreement(impute, prior, prior_weights).fit()
        if prior_weights is not None:
            # The target exactly as the candidate was scored: normalising an already
            # normalised row again (check_weights) can move its last bit.
            est.global_weights_ = prior_weights
        return est

    def _fit_weights(self, catalog: Catalog) -> np.ndarray:
        """Fit the label-free default as ``best_estimator_``; its equal target weights."""
        impute = LABEL_FREE_IMPUTE if self.impute == "auto" else self.impute
        self.best_estimator_ = self._refit(impute, LABEL_FREE_PRIOR, None)
        self.imputed_catalog_ = self.best_estimator_.imputed_catalog_
        weights: np.ndarray = self.best_estimator_.global_weights_
        return weights

    def _checked_catalog(self) -> Catalog:
        """The catalog scored: ``best_estimator_``'s (an imputed copy) if made from ``catalog``."""
        base = super()._checked_catalog()
        inner = self.__dict__.get("best_estimator_")
        if inner is not None and inner.catalog is base:
            scored: Catalog = inner._checked_catalog()
            return scored
        return base

    def _scorer_for(self, queries: np.ndarray) -> Any:
        return self.best_estimator_._scorer_for(queries)

    def _query_item_weights(self, q: np.ndarray, S: np.ndarray) -> np.ndarray:
        weights: np.ndarray = self.best_estimator_._query_item_weights(q, S)
        return weights

    def query_weights(self, X: Any) -> np.ndarray:
        """The component weights ``w_c(q)`` of each query (those of ``best_estimator_``).

        Parameters
        ----------
        X : array-like of shape (n_queries, dim)
            Unit-norm query embeddings (lexical columns, if any, are ignored).

        Returns
        -------
        ndarray of shape (n_queries, n_components)
            Non-negative, summing to 1 per query.
        """
        check_is_fitted(self)
        weights: np.ndarray = self.best_estimator_._query_weights(self._validate_queries(X))
        return weights.T

    def _impute_options(self, catalog: Catalog) -> list[str | None]:
        """The ``impute`` settings to choose among (one when fixed or nothing is missing)."""
        if self.impute != "auto":
            return [self.impute]
        return ["regression", None] if catalog.has_missing else [LABEL_FREE_IMPUTE]

    def _checked_priors(self) -> np.ndarray:
        try:
            priors = np.asarray(self.priors, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"priors must be a sequence of numbers in [0, 1], got {self.priors!r}."
            ) from None
        if priors.ndim != 1 or priors.size == 0:
            raise ValueError(
                "priors must be a non-empty 1-D sequence of numbers in [0, 1], got "
                f"{self.priors!r}."
            )
        if not np.all(np.isfinite(priors)) or priors.min() < 0 or priors.max() > 1:
            raise ValueError(f"Every value of priors must lie in [0, 1], got {priors.tolist()}.")
        return priors

    def _checked_grid(self, catalog: Catalog) -> np.ndarray:
        if self.prior_weights_grid is None:
            return simplex_grid(catalog.n_components, GRID_STEP)
        rows = self.prior_weights_grid
        if isinstance(rows, np.ndarray) and rows.ndim != 2:
            raise ValueError(
                "prior_weights_grid must have one row of weights per candidate, shape "
                f"(n_targets, {catalog.n_components}); got shape {rows.shape}."
            )
        grid = [check_weights(row, catalog.names, "prior_weights_grid") for row in rows]
        if not grid:
            raise ValueError("prior_weights_grid is empty; give at least one row of weights.")
        return np.vstack(grid)

    def _candidate_metrics(
        self,
        X: np.ndarray,
        rel: Any,
        priors: np.ndarray,
        targets: np.ndarray,
        impute: str | None,
    ) -> np.ndarray:
        """Per-query ``scoring`` metric of every candidate, shape (n_candidates, n_queries).

        The candidates score the catalog imputed as ``impute`` says (the
        catalog itself, with its masks, for None). Each pass over the catalog
        computes the similarity blocks once and keeps a running top list per
        (candidate, query); metrics without a cut-off keep the whole ranking,
        so fewer candidates fit in a pass.
        """
        helper = self._agreement(impute)  # prepares the catalog and the factor shares
        helper._prepare_catalog(super()._checked_catalog(), impute)
        catalog = helper._checked_catalog()
        shares = helper._query_shares(X)
        n_queries, n_items = X.shape[0], catalog.n_items
        _, cutoff = parse_metric(self.scoring)
        depth = n_items if cutoff is None else min(cutoff, n_items)
        W = np.stack([_shrink(shares, p, t) for p, t in zip(priors, targets, strict=True)])
        backend = self._scoring_backend()
        size = int(self.block_size or block_size_for(n_queries, backend))
        per_step = max(1, _SCORE_ELEMENTS // (n_queries * min(size, n_items)))
        per_pass = max(1, _TOPLIST_ENTRIES // (n_queries * depth))
        out = np.empty((len(W), n_queries))
        for a in range(0, len(W), per_pass):
            group = W[a : a + per_pass]
            best = scan(
                X,
                catalog.matrices(),
                CandidateTopLists(group, catalog.gram, depth, per_step),
                block_size=size,
                backend=backend,
                query_batch=None,  # every query at once: one pass per group of candidates
            )
            rankings = np.concatenate([r[1] for r in best]).reshape(len(group), n_queries, -1)
            for j, ranking in enumerate(rankings):
                out[a + j] = ranking_metrics(
                    rel, ranking=ranking, metrics=[self.scoring], n_items=n_items, per_query=True
                )[self.scoring]
        return out
