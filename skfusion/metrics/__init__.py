"""Ranking metrics for judged queries, and scorers for model selection.

Metric names (``"ndcg@10"``, ``"recall@10"``, ``"precision@5"``, ``"mrr"``,
``"map"``, …) follow trec_eval's definitions; see :mod:`._ranking`.
"""

from ._ranking import (
    METRICS,
    map_score,
    metric_depth,
    mrr_score,
    ndcg_score,
    parse_metric,
    precision_score,
    ranking_metrics,
    recall_score,
    top_k,
)
from ._relevance import as_relevance
from ._scorer import RankingScorer, make_ranking_scorer, ranking_scorers

__all__ = [
    "METRICS",
    "RankingScorer",
    "as_relevance",
    "make_ranking_scorer",
    "map_score",
    "metric_depth",
    "mrr_score",
    "ndcg_score",
    "parse_metric",
    "precision_score",
    "ranking_metrics",
    "ranking_scorers",
    "recall_score",
    "top_k",
]
