"""Rankings from cross-validated tuning: each query ranked by a model tuned without it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, check_cv
from sklearn.pipeline import Pipeline
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import _num_samples

from .._warnings import summarised_warnings
from ..metrics._scorer import RankingScorer, _final_step


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
    if n is None or not hasattr(estimator, "kneighbors"):
        raise TypeError(
            f"{type(estimator).__name__} cannot rank a catalog (it has no kneighbors and "
            "n_items_ after fit); rank with a skfusion fusion estimator, or a Pipeline "
            "ending in one."
        )
    return int(n)


def final_estimator(estimator: Any) -> Any:
    """The estimator that ranks: the last step of a Pipeline, the base of a search object.

    Works on unfitted objects (``GridSearchCV.estimator``, ``Pipeline.steps``);
    a fitted search object gives its ``best_estimator_``. A ranker (an object
    with ``kneighbors``) is its own final estimator, even when it keeps a
    ``best_estimator_`` (:class:`~skfusion.AgreementFusionCV`).
    """
    if hasattr(estimator, "kneighbors"):
        return estimator
    inner = getattr(estimator, "best_estimator_", None)
    if inner is None and hasattr(estimator, "param_grid") and hasattr(estimator, "estimator"):
        inner = estimator.estimator
    if inner is not None:
        estimator = inner
    if isinstance(estimator, Pipeline):
        return final_estimator(estimator.steps[-1][1])
    return estimator


def queries_of(X: Any) -> tuple[Any, int]:
    """Queries kept as given (embeddings, raw texts, images, a DataFrame) and their number.

    Numeric array-likes become arrays (an :class:`~skfusion.EncodedArray`
    keeps its encoder tag); anything else (a list of texts or images, a
    Series) stays as it is, for a Pipeline's first step to read.
    """
    if isinstance(X, np.ndarray) or hasattr(X, "iloc"):
        return X, _num_samples(X)
    if isinstance(X, list | tuple) and X and all(isinstance(r, list | tuple) for r in X):
        arr = np.asarray(X)
        if arr.dtype.kind in "fiu":
            return arr, arr.shape[0]
    return X, _num_samples(X)


def rank(
    estimator: Any, X: Any, n_neighbors: int, *, return_distance: bool = True
) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
    """``kneighbors`` of a fitted ranker: a fusion estimator, Pipeline or search object.

    A Pipeline's earlier steps transform ``X`` (texts, images, ...) first.
    """
    final, Xt = _final_step(estimator, X)
    _n_items(final)
    out: tuple[np.ndarray, np.ndarray] | np.ndarray = final.kneighbors(
        Xt, n_neighbors=n_neighbors, return_distance=return_distance
    )
    return out


def top_k_ids(
    estimator: Any, X: Any, k: int = 10, *, return_scores: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Catalog ids of the ``k`` best items for each query, from any fitted ranker.

    The one call for top-k ids from a fitted ``Pipeline`` (whose
    ``predict`` gives only the best item, and which has no ``kneighbors``):
    the earlier steps embed the queries, the last step ranks.

    Parameters
    ----------
    estimator : fitted fusion estimator, Pipeline ending in one, or fitted search object
        ``GridSearchCV`` and similar rank with their ``best_estimator_``.
    X : queries
        What the estimator takes: raw texts or images for a Pipeline that
        starts with an encoder, embeddings for a bare fusion estimator.
    k : int, default=10
        Items per query, capped at the catalog size.
    return_scores : bool, default=False
        Also return the fused cosines.

    Returns
    -------
    ids : ndarray of shape (n_queries, k)
        Catalog ids (``catalog.ids``), best first; ties go to the lower
        catalog position, as in ``kneighbors``.
    scores : ndarray of shape (n_queries, k), float32
        Only with ``return_scores``: the scores of those items, descending.

    Raises
    ------
    TypeError
        The estimator cannot rank a catalog.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline  # doctest: +SKIP
    >>> search = make_pipeline(encoder, HybridFusion(catalog)).fit()  # doctest: +SKIP
    >>> top_k_ids(search, ["red running shoes"], k=3)  # doctest: +SKIP
    array([['p7', 'p2', 'p5']], dtype=object)
    """
    scores, idx = rank(estimator, X, k)
    final = final_estimator(estimator)
    catalog = getattr(final, "catalog", None)
    ids = getattr(catalog, "ids", None)
    if ids is None:
        raise TypeError(
            f"{type(final).__name__} has no catalog with item ids; top_k_ids needs a skfusion "
            "fusion estimator (or a Pipeline ending in one)."
        )
    out = np.asarray(ids)[idx]
    return (out, scores) if return_scores else out


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
    estimator : fusion estimator or Pipeline
        Anything with ``kneighbors`` and ``n_items_`` after fit, or a
        ``Pipeline`` ending in such an estimator (its earlier steps, e.g. an
        encoder, transform the queries; grid keys then carry the step
        names, ``"hybridfusion__weights"``).
    param_grid : dict, list of dicts, or None
        As for ``GridSearchCV``. ``None``: no inner search; the estimator
        is fitted with ``fit(X[train], y[train])`` (one that tunes itself,
        such as :class:`~skfusion.AgreementFusionCV`) and its
        ``best_params_`` and ``best_score_``, if any, are recorded.
    X : array-like of shape (n_queries, dim), or raw queries
        Query embeddings, or whatever the Pipeline's first step takes
        (a list of texts for an encoder).
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

    Warns
    -----
    Warnings raised while tuning and ranking (e.g. a text encoder's
    truncation warning, ``UndefinedScoreWarning``) are collected and issued
    once per kind, with the number of times they were raised, at the caller.
    """
    with summarised_warnings("cross_val_ranking"):
        return _cross_val_ranking(
            estimator,
            param_grid,
            X,
            y,
            depth=depth,
            cv=cv,
            inner_cv=inner_cv,
            scoring=scoring,
            groups=groups,
            n_jobs=n_jobs,
            progress=progress,
        )


def _cross_val_ranking(
    estimator: Any,
    param_grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]] | None,
    X: Any,
    y: Any,
    *,
    depth: int,
    cv: Any,
    inner_cv: Any,
    scoring: str,
    groups: Any,
    n_jobs: int | None,
    progress: Any,
) -> CrossValRanking:
    X, n_queries = queries_of(X)
    outer = KFold(5, shuffle=True, random_state=0) if cv is None else check_cv(cv)
    group_arr = None if groups is None else np.asarray(groups)
    if group_arr is not None and group_arr.shape != (n_queries,):
        raise ValueError(f"groups has shape {group_arr.shape}; expected ({n_queries},).")
    ranking: np.ndarray | None = None
    scores: np.ndarray | None = None
    seen = np.zeros(n_queries, dtype=bool)
    folds: list[FoldResult] = []
    for fold, (train, test) in enumerate(outer.split(X, y, group_arr)):
        X_train, X_test = _safe_indexing(X, train), _safe_indexing(X, test)
        if param_grid is None:
            best = clone(estimator).fit(X_train, _rows(y, train))
            fitted = final_estimator(best)
            best_params = dict(getattr(fitted, "best_params_", {}))
            best_score = float(getattr(fitted, "best_score_", np.nan))
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
            search.fit(X_train, _rows(y, train), **fit_params)
            best = search.best_estimator_
            best_params, best_score = dict(search.best_params_), float(search.best_score_)
        k = min(int(depth), _n_items(final_estimator(best)))
        s, idx = rank(best, X_test, k)
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
