"""Fusion strategies: estimators over a Catalog, and a functional API on arrays."""

from ._base import BaseFusion
from ._engine import UndefinedScoreWarning, fused_cosine
from ._functional import global_weights, score
from ._registry import STRATEGIES, Strategy, get_strategy
from .average import AverageFusion, average_weights
from .hybrid import HybridFusion, hybrid_weights
from .weighted import WeightedFusion, weighted_weights

__all__ = [
    "STRATEGIES",
    "AverageFusion",
    "BaseFusion",
    "HybridFusion",
    "Strategy",
    "UndefinedScoreWarning",
    "WeightedFusion",
    "average_weights",
    "fused_cosine",
    "get_strategy",
    "global_weights",
    "hybrid_weights",
    "score",
    "weighted_weights",
]
