"""Ranking metrics for judged queries."""

from ._ranking import as_relevance, ndcg_at_k

__all__ = ["as_relevance", "ndcg_at_k"]
