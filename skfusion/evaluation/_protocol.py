"""Rankings from cross-validated tuning: each query ranked by a model tuned without it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, check_cv

from ..metrics import RankingScorer


@dataclass
class FoldResult:
    """What the inner search chose on one outer fold.

    Attributes
    ----------
    fold : int
    train, test : ndarray of int
        Query positions used for tuning / ranked with the tuned model.
    best_params : dict
        The chosen parameters.
    best_score : float
        Their mean inner cross-validated score (training queries only; an
        optimistic estimate, not a result to report); NaN for an estimator
        fitted without a search that reports none.
    """

    fold: int
    train: np.ndarray
    test: np.ndarray
    best_params: dict[str, Any]
    best_score: float


@dataclass
class CrossValRanking:
    """Top-k lists assembled from held-out folds.

    Attributes
    ----------
    ranking : ndarray of shape (n_queries, depth), int64
        Item positions, best first.
    scores : ndarray of shape (n_queries, depth), float32
        The tuned model's scores for those items.
    folds : list of FoldResult
    """

    ranking: np.ndarray
    scores: np.ndarray
    folds: list[FoldResult] = field(default_factory=list)


def _n_items(estimator: Any) -> int:
    n = getattr(estimator, "n_items_", None)
    if n is None:
        raise TypeError(
            f"{type(estimator).__name__} does not expose n_items_ after fit; rank with a "
            "skfusion fusion estimator."
        )
    return int(n)


def cross_val_ranking(
    estimator: Any,
    param_grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]] | None,
    X: Any,
    y: Any,
    *,
    depth: int,
    cv: Any = None,
    inner_cv: Any = 5,
    scoring: str = "ndcg@10",
    groups: Any = None,
    n_jobs: int | None = None,
    progress: Any = None,
) -> CrossValRanking:
    """Nested cross-validation that returns every query's held-out ranking.

    For each outer split, ``GridSearchCV(estimator, param_grid, cv=inner_cv)``
    is fitted on the training queries only (and their ``groups``); its best
    estimator then ranks the test queries. Each query is therefore ranked
    exactly once, by a model whose parameters were chosen without it, and
    metrics or confidence intervals computed from these rankings are free
    of tuning leakage.

    Parameters
    ----------
    estimator : fusion estimator
        Anything with ``kneighbors`` and ``n_items_`` after fit.
    param_grid : dict, list of dicts, or None
        As for ``GridSearchCV``. ``None``: no inner search; the estimator
        is fitted with ``fit(X[train], y[train])`` (one that tunes itself,
        such as :class:`~skfusion.AgreementFusionCV`) and its
        ``best_params_`` and ``best_score_``, if any, are recorded.
    X : array-like of shape (n_queries, dim)
    y : array-like of shape (n_queries, n_items) or (n_queries,)
        Dense graded judgments (or one relevant position per query).
    depth : int
        Length of the returned lists.
    cv : int, splitter or None
        Outer splits; None means ``KFold(5, shuffle=True, random_state=0)``.
        With ``groups``, use a group splitter such as ``GroupKFold``.
    inner_cv : int or splitter, default=5
        Splits of the inner search (over training queries).
    scoring : str, default="ndcg@10"
        Metric the inner search maximises (without a search, the
        estimator's own ``scoring`` parameter applies).
    groups : array-like of shape (n_queries,), optional
        Query groups (queries sharing a source), passed to both splitters.
    n_jobs : int, optional
        Passed to ``GridSearchCV``.
    progress : callable, optional
        Called with no argument after each outer fold.

    Returns
    -------
    CrossValRanking
    """
    X = np.asarray(X)
    n_queries = X.shape[0]
    outer = KFold(5, shuffle=True, random_state=0) if cv is None else check_cv(cv)
    group_arr = None if groups is None else np.asarray(groups)
    if group_arr is not None and group_arr.shape != (n_queries,):
        raise ValueError(f"groups has shape {group_arr.shape}; expected ({n_queries},).")
    ranking: np.ndarray | None = None
    scores: np.ndarray | None = None
    seen = np.zeros(n_queries, dtype=bool)
    folds: list[FoldResult] = []
    for fold, (train, test) in enumerate(outer.split(X, y, group_arr)):
        if param_grid is None:
            best = clone(estimator).fit(X[train], _rows(y, train))
            best_params = dict(getattr(best, "best_params_", {}))
            best_score = float(getattr(best, "best_score_", np.nan))
        else:
            search = GridSearchCV(
                clone(estimator),
                param_grid,
                cv=inner_cv,
                scoring=RankingScorer(scoring),
                n_jobs=n_jobs,
                refit=True,
            )
            fit_params = {} if group_arr is None else {"groups": group_arr[train]}
            search.fit(X[train], _rows(y, train), **fit_params)
            best = search.best_estimator_
            best_params, best_score = dict(search.best_params_), float(search.best_score_)
        k = min(int(depth), _n_items(best))
        s, idx = best.kneighbors(X[test], n_neighbors=k)
        if ranking is None or scores is None:
            ranking = np.full((n_queries, k), -1, dtype=np.int64)
            scores = np.full((n_queries, k), -np.inf, dtype=np.float32)
        ranking[test] = idx
        scores[test] = s
        if seen[test].any():
            raise ValueError(
                "The outer splitter put a query in more than one test fold; use a "
                "partitioning splitter such as KFold or GroupKFold."
            )
        seen[test] = True
        folds.append(
            FoldResult(
                fold=fold,
                train=np.asarray(train),
                test=np.asarray(test),
                best_params=best_params,
                best_score=best_score,
            )
        )
        if progress is not None:
            progress()
    if ranking is None or scores is None or not seen.all():
        missing = int((~seen).sum())
        raise ValueError(
            f"{missing} queries were never in a test fold; the outer splitter must cover "
            "every query (KFold, GroupKFold)."
        )
    return CrossValRanking(ranking=ranking, scores=scores, folds=folds)


def _rows(y: Any, rows: np.ndarray) -> Any:
    if hasattr(y, "tocsr"):
        return y.tocsr()[rows]
    return np.asarray(y)[rows]
