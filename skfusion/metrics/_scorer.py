"""Scorers: ranking metrics as ``scoring=`` callables for scikit-learn model selection."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ._ranking import metric_depth, parse_metric, ranking_metrics


def _final_step(estimator: Any, X: Any) -> tuple[Any, Any]:
    """The estimator that ranks, and X transformed by whatever comes before it."""
    from sklearn.pipeline import Pipeline

    # A fitted search object ranks with its best estimator; a ranker that keeps one
    # (AgreementFusionCV's chosen AgreementFusion) ranks itself.
    best = getattr(estimator, "best_estimator_", None)
    if best is not None and not hasattr(estimator, "kneighbors"):
        estimator = best
    if isinstance(estimator, Pipeline):
        if len(estimator.steps) > 1:
            X = estimator[:-1].transform(X)
        estimator = estimator.steps[-1][1]
    return estimator, X


class RankingScorer:
    """A ranking metric as a scikit-learn scorer: ``scorer(estimator, X, y) -> float``.

    Pass it as ``scoring=`` to :class:`~sklearn.model_selection.GridSearchCV`,
    :func:`~sklearn.model_selection.cross_validate` or
    :func:`~sklearn.model_selection.cross_val_score`; a dict of them
    (:func:`ranking_scorers`) gives multi-metric evaluation. Larger is better
    for every ranking metric, so no sign flip is involved.

    The estimator (or the last step of a Pipeline, or the best estimator of
    a fitted search) ranks with ``kneighbors(X, n_neighbors=k)`` when the
    metric has a cut-off k — a running top-k, so memory does not grow with
    the catalog — and with ``decision_function`` otherwise.

    Parameters
    ----------
    metric : str, default="ndcg@10"
        A metric name as :func:`skfusion.metrics.ranking_metrics` takes them
        (``"ndcg@10"``, ``"recall@100"``, ``"mrr"``, ...).

    Examples
    --------
    >>> from skfusion.metrics import make_ranking_scorer
    >>> make_ranking_scorer("recall@100")
    RankingScorer('recall@100')
    """

    def __init__(self, metric: str = "ndcg@10"):
        parse_metric(metric)
        self.metric = metric

    def __repr__(self) -> str:
        return f"RankingScorer({self.metric!r})"

    def per_query(self, estimator: Any, X: Any, y: Any) -> np.ndarray:
        """The metric for each query of X (an array of shape (n_queries,))."""
        final, Xt = _final_step(estimator, X)
        depth = metric_depth([self.metric])
        # Fusion estimators may score from cached similarity blocks (a weight search
        # scores every candidate on the same queries); None: not applicable.
        tuned = getattr(final, "_tuning_rank", None)
        fast = tuned(Xt, depth) if tuned is not None else None
        if fast is not None:
            if depth is None:
                result = ranking_metrics(y, fast, metrics=[self.metric], per_query=True)
            else:
                n_items = getattr(final, "n_items_", None)
                result = ranking_metrics(
                    y, ranking=fast, metrics=[self.metric], n_items=n_items, per_query=True
                )
        elif depth is not None and hasattr(final, "kneighbors"):
            ranking = final.kneighbors(Xt, n_neighbors=depth, return_distance=False)
            n_items = getattr(final, "n_items_", None)
            result = ranking_metrics(
                y, ranking=ranking, metrics=[self.metric], n_items=n_items, per_query=True
            )
        elif hasattr(final, "decision_function"):
            scores = final.decision_function(Xt)
            result = ranking_metrics(y, scores, metrics=[self.metric], per_query=True)
        else:
            raise TypeError(
                f"{type(final).__name__} has neither kneighbors nor decision_function, so "
                "RankingScorer cannot rank items with it."
            )
        return np.asarray(result[self.metric])

    def __call__(self, estimator: Any, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean of the metric over the queries of X (weighted by ``sample_weight``).

        Raises
        ------
        ValueError
            ``sample_weight`` of the wrong length, negative, non-finite or all zero.
        """
        values = self.per_query(estimator, X, y)
        if sample_weight is None:
            return float(np.mean(values))
        return float(np.average(values, weights=check_query_weights(sample_weight, len(values))))


def check_query_weights(sample_weight: Any, n_queries: int) -> np.ndarray:
    """Validated per-query weights for averaging a metric.

    Raises
    ------
    ValueError
        Not one finite, non-negative number per query, or all zero.
    """
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"sample_weight must be numbers, got {sample_weight!r:.200}.") from exc
    if w.shape != (n_queries,):
        raise ValueError(
            f"sample_weight has shape {w.shape} but there are {n_queries} queries; give one "
            "weight per query."
        )
    if not np.isfinite(w).all():
        raise ValueError("sample_weight must be finite.")
    if (w < 0).any():
        first = int(np.flatnonzero(w < 0)[0])
        raise ValueError(
            f"sample_weight must be non-negative; query {first} has weight {w[first]!r}."
        )
    if not w.sum() > 0:
        raise ValueError("sample_weight is zero for every query; at least one must be positive.")
    return w


def make_ranking_scorer(metric: str = "ndcg@10") -> RankingScorer:
    """A scorer for ``scoring=``: see :class:`RankingScorer`."""
    return RankingScorer(metric)


def ranking_scorers(metrics: Iterable[str]) -> dict[str, RankingScorer]:
    """A ``{name: scorer}`` dict for multi-metric ``scoring=`` (refit by name)."""
    out = {m: RankingScorer(m) for m in metrics}
    if not out:
        raise ValueError("metrics is empty; name at least one, e.g. ['ndcg@10'].")
    return out
