"""Ranking metrics for judged queries, and scorers for model selection.

Metric names (``"ndcg@10"``, ``"recall@10"``, ``"precision@5"``, ``"mrr"``,
``"map"``, …) follow trec_eval's definitions; see :mod:`._ranking`.
:func:`ranking_metrics` computes any of them, one or several at once, as means
or per query (named apart from scikit-learn's ``ndcg_score``, ``recall_score``
and ``precision_score``, which take other arguments);
:func:`make_ranking_scorer` gives the scorer for ``GridSearchCV``.
"""

from .._warnings import deprecated_attributes
from ._ranking import ranking_metrics
from ._scorer import make_ranking_scorer

__all__ = ["make_ranking_scorer", "ranking_metrics"]


def _one_metric(name: str) -> str:
    return f"ranking_metrics(y_true, y_score, metrics=[{name!r}])[{name!r}]"


_METRIC_NAMES = "a metric name string such as 'ndcg@10' (ranking_metrics(metrics=...))"
#: Deprecated name -> (private module, name there, replacement named in the FutureWarning).
_DEPRECATED: dict[str, tuple[str, str, str]] = {
    "ndcg_score": ("._ranking", "ndcg_at_k", _one_metric("ndcg@10")),
    "recall_score": ("._ranking", "recall_at_k", _one_metric("recall@10")),
    "precision_score": ("._ranking", "precision_at_k", _one_metric("precision@10")),
    "mrr_score": ("._ranking", "mrr_at_k", _one_metric("mrr")),
    "map_score": ("._ranking", "map_at_k", _one_metric("map")),
    "METRICS": ("._ranking", "METRICS", _METRIC_NAMES),
    "parse_metric": ("._ranking", "parse_metric", _METRIC_NAMES),
    "metric_depth": ("._ranking", "metric_depth", _METRIC_NAMES),
    "top_k": ("._ranking", "top_k", "the estimator's kneighbors(X, n_neighbors=k)"),
    "as_relevance": (
        "._relevance",
        "as_relevance",
        "the metrics directly (they accept the same judgments)",
    ),
    "RankingScorer": ("._scorer", "RankingScorer", "skfusion.metrics.make_ranking_scorer"),
    "ranking_scorers": (
        "._scorer",
        "ranking_scorers",
        "{m: make_ranking_scorer(m) for m in metrics}",
    ),
}


__getattr__ = deprecated_attributes(__name__, _DEPRECATED)
