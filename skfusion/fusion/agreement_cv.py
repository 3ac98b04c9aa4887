"""AgreementFusion whose shrinkage and target weights are chosen on judged queries."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.base import _fit_context
from sklearn.utils._param_validation import StrOptions

from ..catalog import Catalog
from ..metrics import as_relevance, parse_metric, ranking_metrics
from ..metrics._relevance import check_judged
from ._base import BaseFusion
from ._engine import _block_topk, _merge_topk, block_size_for, iter_similarity_blocks
from ._grid import simplex_grid
from .agreement import AgreementFusion, _shrink, per_query_fused_cosine
from .weighted import check_weights

#: The label-free shrinkage (AgreementFusion's default prior), used without judgments.
LABEL_FREE_PRIOR = 0.25
#: The label-free imputation (AgreementFusion's default), used without judgments.
LABEL_FREE_IMPUTE = "regression"
#: Simplex step of the default grid of target weights.
GRID_STEP = 0.1
#: float32 scores of (candidate, query, item) computed at once per block.
_SCORE_ELEMENTS = 1 << 22
#: (candidate, query, rank) entries of the running top lists per pass over the catalog.
_TOPLIST_ENTRIES = 1 << 24


class AgreementFusionCV(AgreementFusion):
    """Agreement fusion with ``prior``, ``prior_weights`` and ``impute`` chosen on judged queries.

    The recommended default: :class:`AgreementFusion`'s per-query weights
    ``w(q) = (1 − ρ) u(q) + ρ t`` (``u(q)``: the query's factor-score
    shares, label-free; ``t``: target weights; ``ρ``: the shrinkage
    ``prior``), with ``(ρ, t)`` chosen like ``RidgeCV`` chooses ``alpha``.

    ``fit(X, y)`` with judged queries scores every candidate
    ``(ρ, t) ∈ priors × prior_weights_grid`` on them and keeps the one with
    the best mean ``scoring`` metric (nDCG@10 by default; the first
    candidate in grid order among ties)::

        (ρ*, t*) = argmax_(ρ, t) (1/Q) Σ_q metric_q(ranking of q under w_(ρ,t)(q))

    No candidate learns anything from the judgments (``u(q)`` comes from the
    catalog and the query alone), so a query's score under a candidate is
    the same whether or not the other queries were used: this mean *is* the
    leave-one-out cross-validated score of every candidate (it equals
    ``GridSearchCV(AgreementFusion(), ..., cv=LeaveOneOut())``; tested), and
    it is computed in passes over the catalog that score all candidates
    from the same similarity blocks, instead of one pass per candidate and
    fold. ``fit()`` or ``fit(X)`` without judgments gives the label-free
    default, :class:`AgreementFusion` with ``prior=0.25`` and equal targets.

    When the catalog has missing components, ``impute="auto"`` (the
    default) also chooses whether the factor model and the scores use the
    catalog with regression-imputed components or the catalog as it is
    (missing components left out of each item's fused vector): every
    ``(ρ, t)`` candidate is scored both ways. The default grid (``priors``
    0.25, 0.5, 0.75, 1 × the weight simplex at step 0.1) then contains at
    ``ρ = 1, impute=None`` every fixed weighting of that simplex exactly as
    :class:`WeightedFusion` scores it on the masked catalog, so on the
    queries it is tuned on it scores at least as well as the best of them. Held out
    (nested cross-validation, ``docs/strategy_benchmark.md``), it was never
    significantly worse on nDCG@10 than fixed weights tuned by
    ``GridSearchCV`` on 18 catalogs (Cranfield, 16 synthetic, one of a
    million items) and better on 10, every catalog with missing images
    among them. Leave-one-out cross-validation: Stone (1974),
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
    block_size : int, optional
    scoring : str, default="ndcg@10"
        The metric maximised by ``fit`` and reported by :meth:`score`.
        Metrics without a cut-off (``"mrr"``, ``"map"``) rank the whole
        catalog for every candidate, in more passes.
    backend : {"auto", "numpy", "torch"}, default="auto"
    device : str, optional
    approximate : bool, default=False
        As for :class:`AgreementFusion` (``fit`` always scores exactly).
    n_candidates : int, default=300

    Attributes
    ----------
    impute_ : {"regression"} or None
        The imputation used.
    prior_ : float
        The chosen shrinkage (0.25 without judgments).
    prior_weights_ : ndarray of shape (n_components,)
        The chosen target weights (equal without judgments); also
        ``global_weights_``.
    best_params_ : dict
        ``{"impute": impute_, "prior": prior_, "prior_weights": prior_weights_}``.
    best_score_ : float
        Mean ``scoring`` metric of the chosen candidate over the judged
        queries (only after ``fit(X, y)``).
    best_index_ : int
        Its position in ``cv_results_`` (only after ``fit(X, y)``).
    cv_results_ : dict of ndarray
        ``param_impute`` (n,), ``param_prior`` (n,), ``param_prior_weights``
        (n, n_components), ``mean_test_score``, ``std_test_score`` (over
        queries) and ``rank_test_score`` of every candidate, imputations
        varying slowest, then priors (only after ``fit(X, y)``).
    imputed_catalog_ : Catalog

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
        **BaseFusion._parameter_constraints,
        "priors": ["array-like"],
        "prior_weights_grid": ["array-like", None],
        "debias": ["boolean"],
        "impute": [StrOptions({"auto", "regression"}), None],
    }

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        priors: Any = (0.25, 0.5, 0.75, 1.0),
        prior_weights_grid: Any = None,
        debias: bool = True,
        impute: str | None = "auto",
        block_size: int | None = None,
        scoring: str = "ndcg@10",
        backend: str = "auto",
        device: str | None = None,
        approximate: bool = False,
        n_candidates: int = 300,
    ):
        BaseFusion.__init__(
            self,
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

    _FITTED = (
        "impute_",
        "prior_",
        "prior_weights_",
        "best_params_",
        "best_score_",
        "best_index_",
        "cv_results_",
        "global_weights_",
        "imputed_catalog_",
        "n_features_in_",
        "component_names_",
        "n_items_",
        "_imputed_from",
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
        try:
            BaseFusion.fit(self, X)  # validates X, imputes, equal target weights
            if y is not None:
                Xv = self._validate_queries(X)
                rel = as_relevance(y, Xv.shape[0], catalog.n_items)
                check_judged(rel)
        except Exception:
            for name in self._FITTED:
                self.__dict__.pop(name, None)  # not fitted: check_is_fitted must say so
            raise
        self.prior_ = LABEL_FREE_PRIOR
        self.impute_ = LABEL_FREE_IMPUTE if self.impute == "auto" else self.impute
        if y is None:
            self.prior_weights_ = self.global_weights_
            self.best_params_ = self._params()
            return self
        options = self._impute_options(catalog)
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
        best = int(np.argmax(mean))  # the first of tied candidates
        self.impute_ = cand_imputes[best]
        self._prepare_catalog(catalog, self.impute_)
        self.prior_ = float(cand_priors[best])
        self.prior_weights_ = cand_targets[best].copy()
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
        return self

    def _params(self) -> dict[str, Any]:
        return {"impute": self.impute_, "prior": self.prior_, "prior_weights": self.prior_weights_}

    def _impute_options(self, catalog: Catalog) -> list[str | None]:
        """The ``impute`` settings to choose among (one when fixed or nothing is missing)."""
        if self.impute != "auto":
            return [self.impute]
        return ["regression", None] if catalog.has_missing else [LABEL_FREE_IMPUTE]

    def _prior_share(self) -> float:
        return float(self.prior_)

    def _fit_weights(self, catalog: Catalog) -> np.ndarray:
        self._prepare_catalog(catalog, LABEL_FREE_IMPUTE if self.impute == "auto" else self.impute)
        return np.full(catalog.n_components, 1.0 / catalog.n_components)

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
        self._prepare_catalog(BaseFusion._checked_catalog(self), impute)
        catalog = self._checked_catalog()
        shares = self._query_shares(X)
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
            steps = range(0, len(group), per_step)
            best: list[Any] = [None] * len(steps)
            for s, e, S in iter_similarity_blocks(
                X, catalog.matrices(), block_size=size, backend=backend
            ):
                K = catalog.gram[:, :, s:e]
                for j, b in enumerate(steps):
                    fused = np.concatenate(
                        [per_query_fused_cosine(S, K, w) for w in group[b : b + per_step]]
                    )
                    fused[np.isnan(fused)] = -np.inf  # a zero fused vector ranks last
                    top, idx = _block_topk(fused, depth)
                    best[j] = _merge_topk(best[j], (top, idx + s), depth)
            rankings = np.concatenate([r[1] for r in best]).reshape(len(group), n_queries, -1)
            for j, ranking in enumerate(rankings):
                out[a + j] = ranking_metrics(
                    rel, ranking=ranking, metrics=[self.scoring], n_items=n_items, per_query=True
                )[self.scoring]
        return out
