"""Evaluate several strategies on judged queries: rankings, per-query metrics, a tested table."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from .._warnings import summarised_warnings
from ..metrics._ranking import parse_metric, ranking_metrics
from ._compare import compare_strategies
from ._protocol import FoldResult, _cross_val_ranking, final_estimator, queries_of

if TYPE_CHECKING:
    import pandas as pd

#: Rankings up to this many items are computed in full (exact MRR and MAP).
FULL_RANKING_LIMIT = 10_000


@dataclass
class Tuned:
    """A strategy whose parameters are chosen by nested cross-validation.

    Parameters
    ----------
    estimator : fusion estimator or Pipeline
        The unfitted estimator (e.g. ``WeightedFusion(catalog)``, or
        ``make_pipeline(encoder, WeightedFusion(catalog))`` for raw queries).
    param_grid : dict, list of dicts, or None, default=None
        The grid searched on training queries of every outer fold (for a
        Pipeline, keys name the step: ``"weightedfusion__weights"``); ``None``
        for an estimator that tunes itself in ``fit(X, y)``
        (:class:`~skfusion.AgreementFusionCV`): it is fitted on each outer
        fold's training queries and ranks its test queries.
    """

    estimator: Any
    param_grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]] | None = None


@dataclass
class StrategyRun:
    """One strategy's rankings and per-query metrics.

    Attributes
    ----------
    ranking : ndarray of shape (n_queries, depth), int64
    scores : ndarray of shape (n_queries, depth), float32
    per_query : dict
        metric name → ndarray (n_queries,).
    folds : list of FoldResult
        The tuning record (empty for a strategy without parameters to tune).
    """

    ranking: np.ndarray
    scores: np.ndarray
    per_query: dict[str, np.ndarray]
    folds: list[FoldResult] = field(default_factory=list)


@dataclass
class BenchmarkResult:
    """What :func:`benchmark_strategies` measured.

    Attributes
    ----------
    query_ids : ndarray of shape (n_queries,)
    metrics : list of str
    baseline : str
    runs : dict
        strategy name → :class:`StrategyRun`.
    table : pandas.DataFrame
        :func:`compare_strategies` output: mean, confidence interval and
        (corrected) p-value against the baseline per strategy and metric.
    """

    query_ids: np.ndarray
    metrics: list[str]
    baseline: str
    runs: dict[str, StrategyRun]
    table: pd.DataFrame

    def per_query_frame(self) -> pd.DataFrame:
        """Long table: one row per (strategy, query), one column per metric."""
        import pandas as pd

        frames = []
        for name, run in self.runs.items():
            frame = pd.DataFrame({"strategy": name, "query_id": self.query_ids})
            for metric in self.metrics:
                frame[metric] = run.per_query[metric]
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)


def benchmark_strategies(
    strategies: Mapping[str, Any],
    X: Any,
    y: Any,
    *,
    baseline: str,
    metrics: Sequence[str] = ("ndcg@10", "recall@10", "mrr"),
    tuning_metric: str = "ndcg@10",
    cv: Any = None,
    inner_cv: Any = 5,
    groups: Any = None,
    depth: int | None = None,
    query_ids: Any = None,
    confidence: float = 0.95,
    test: str = "permutation",
    correction: str = "holm",
    n_resamples: int = 10_000,
    random_state: int = 0,
    n_jobs: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> BenchmarkResult:
    """Rank judged queries with every strategy and compare them to a baseline.

    Strategies without parameters to tune are fitted once and rank every
    query. A :class:`Tuned` strategy goes through :func:`cross_val_ranking`:
    its parameters are chosen on the training queries of each outer fold
    and it ranks only that fold's test queries. Per-query metrics are then
    computed from the rankings, and :func:`compare_strategies` adds
    bootstrap confidence intervals and paired p-values against
    ``baseline``, corrected for the number of strategies compared.

    Parameters
    ----------
    strategies : mapping
        name → fusion estimator, ``Pipeline`` ending in one (e.g. an
        encoder and a fusion estimator), or :class:`Tuned`.
    X : array-like of shape (n_queries, dim), or raw queries
        Query embeddings, or what the Pipelines' first steps take (a list
        of texts for an encoder); every strategy gets the same ``X``.
    y : array-like of shape (n_queries, n_items), or (n_queries,)
        Graded judgments (dense; cross-validation slices rows).
    baseline : str
        The strategy the others are tested against.
    metrics : sequence of str, default=("ndcg@10", "recall@10", "mrr")
    tuning_metric : str, default="ndcg@10"
        What the inner searches maximise.
    cv, inner_cv, groups, n_jobs
        As for :func:`cross_val_ranking`. The outer ``cv`` default is
        ``KFold(5, shuffle=True, random_state=random_state)``.
    depth : int, optional
        Length of each ranking. Default: the whole catalog up to
        :data:`FULL_RANKING_LIMIT` items (so MRR and MAP are exact), else
        1,000 (metrics without a cut-off are then computed on the top 1,000,
        as trec_eval does on a 1,000-deep run).
    query_ids : array-like of shape (n_queries,), optional
        Labels for the per-query table; positions by default.
    confidence, test, correction, n_resamples, random_state
        As for :func:`compare_strategies`.
    progress : callable, optional
        Called as ``progress(name, done, total)`` after each unit of work,
        with the strategy being evaluated: a strategy without tuning is one
        unit, a :class:`Tuned` strategy one per outer fold; ``done`` of
        ``total`` units are finished.

    Returns
    -------
    BenchmarkResult

    Warns
    -----
    Warnings raised while evaluating (e.g. a text encoder's truncation
    warning, ``UndefinedScoreWarning``) are collected and issued once per
    kind, with the number of times they were raised, at the caller.
    """
    with summarised_warnings("benchmark_strategies"):
        return _benchmark_strategies(
            strategies,
            X,
            y,
            baseline=baseline,
            metrics=metrics,
            tuning_metric=tuning_metric,
            cv=cv,
            inner_cv=inner_cv,
            groups=groups,
            depth=depth,
            query_ids=query_ids,
            confidence=confidence,
            test=test,
            correction=correction,
            n_resamples=n_resamples,
            random_state=random_state,
            n_jobs=n_jobs,
            progress=progress,
        )


def _benchmark_strategies(
    strategies: Mapping[str, Any],
    X: Any,
    y: Any,
    *,
    baseline: str,
    metrics: Sequence[str],
    tuning_metric: str,
    cv: Any,
    inner_cv: Any,
    groups: Any,
    depth: int | None,
    query_ids: Any,
    confidence: float,
    test: str,
    correction: str,
    n_resamples: int,
    random_state: int,
    n_jobs: int | None,
    progress: Callable[[str, int, int], None] | None,
) -> BenchmarkResult:
    if baseline not in strategies:
        raise ValueError(f"Unknown baseline {baseline!r}; the strategies are {list(strategies)}.")
    metrics = list(metrics)
    parse_metric(tuning_metric)
    cutoffs = [k for _, k in map(parse_metric, metrics) if k is not None]
    needed = max(cutoffs, default=None)
    Xa, n_queries = queries_of(X)
    qids = np.arange(n_queries) if query_ids is None else np.asarray(query_ids)
    if qids.shape != (n_queries,):
        raise ValueError(f"query_ids has shape {qids.shape}; expected ({n_queries},).")
    outer = cv
    if outer is None:
        from sklearn.model_selection import KFold

        outer = KFold(5, shuffle=True, random_state=random_state)
    n_folds = outer.get_n_splits(Xa, y, groups) if hasattr(outer, "get_n_splits") else None
    if n_folds is None or not isinstance(n_folds, int | np.integer):
        n_folds = 1
    total = sum(int(n_folds) if isinstance(s, Tuned) else 1 for s in strategies.values())
    done = 0

    def step(name: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(name, done, total)

    runs: dict[str, StrategyRun] = {}
    for name, spec in strategies.items():
        if isinstance(spec, Tuned):
            n_items = _catalog_size(spec.estimator, name)
            k = _depth(depth, n_items, needed)
            cvr = _cross_val_ranking(
                spec.estimator,
                spec.param_grid,
                Xa,
                y,
                depth=k,
                cv=outer,
                inner_cv=inner_cv,
                scoring=tuning_metric,
                groups=groups,
                n_jobs=n_jobs,
                progress=lambda name=name: step(name),
            )
            ranking, scores, folds = cvr.ranking, cvr.scores, cvr.folds
        else:
            est, Xt = _fit_fixed(spec, Xa, name)
            n_items = int(est.n_items_)
            k = _depth(depth, n_items, needed)
            scores, ranking = est.kneighbors(Xt, n_neighbors=k)
            folds = []
            step(name)
        per_query = ranking_metrics(
            y, ranking=ranking, metrics=metrics, n_items=n_items, per_query=True
        )
        runs[name] = StrategyRun(
            ranking=ranking,
            scores=np.asarray(scores, dtype=np.float32),
            per_query={m: np.asarray(v) for m, v in per_query.items()},
            folds=folds,
        )
    table = compare_strategies(
        {name: run.per_query for name, run in runs.items()},
        baseline,
        confidence=confidence,
        test=test,  # type: ignore[arg-type]
        correction=correction,  # type: ignore[arg-type]
        n_resamples=n_resamples,
        random_state=random_state,
    )
    return BenchmarkResult(
        query_ids=qids, metrics=metrics, baseline=baseline, runs=runs, table=table
    )


def _catalog_size(estimator: Any, name: str) -> int:
    """Items in the catalog of an unfitted strategy (its last step's, for a Pipeline)."""
    catalog = getattr(final_estimator(estimator), "catalog", None)
    n_items = getattr(catalog, "n_items", None)
    if n_items is None:
        raise TypeError(
            f"Strategy {name!r}: {type(final_estimator(estimator)).__name__} has no catalog; "
            "give a skfusion fusion estimator, or a Pipeline ending in one."
        )
    return int(n_items)


def _fit_fixed(spec: Any, X: Any, name: str) -> tuple[Any, Any]:
    """Fit a strategy without tuning; return the ranking estimator and the queries it ranks.

    A bare fusion estimator is fitted on its catalog alone (``fit()``); a
    Pipeline's earlier steps are fitted on and transform ``X`` (once), and
    its last step is fitted on the transformed queries, as ``Pipeline.fit``
    would.
    """
    if not hasattr(spec, "fit"):
        raise TypeError(
            f"Strategy {name!r} is a {type(spec).__name__}; give a fusion estimator, a "
            "Pipeline ending in one, or Tuned(estimator, grid)."
        )
    est = clone(spec)
    if isinstance(est, Pipeline):
        final = est.steps[-1][1]
        if not hasattr(final, "kneighbors"):
            raise TypeError(
                f"Strategy {name!r}: the last step of the Pipeline, {type(final).__name__}, "
                "cannot rank a catalog; end it with a skfusion fusion estimator."
            )
        Xt = est[:-1].fit_transform(X) if len(est.steps) > 1 else X
        return final.fit(Xt), Xt
    if not hasattr(est, "kneighbors"):
        raise TypeError(
            f"Strategy {name!r}: {type(est).__name__} cannot rank a catalog (no kneighbors); "
            "give a skfusion fusion estimator or a Pipeline ending in one."
        )
    return est.fit(), X


def _depth(depth: int | None, n_items: int, needed: int | None) -> int:
    if depth is None:
        return n_items if n_items <= FULL_RANKING_LIMIT else min(n_items, 1000)
    if depth <= 0:
        raise ValueError(f"depth must be positive, got {depth}.")
    if needed is not None and depth < min(needed, n_items):
        raise ValueError(f"depth={depth} is shorter than the metrics' cut-off {needed}.")
    return min(int(depth), n_items)
