"""Fusion strategies: estimators over a Catalog, and a functional API on arrays.

Vector fusion (:class:`AgreementFusionCV`, the recommended default, and
:class:`AgreementFusion`, its label-free form;
:class:`AverageFusion`, :class:`WeightedFusion`, :class:`HybridFusion`)
ranks by the cosine to a fused item vector; score
fusion (:class:`CombSUMFusion`, :class:`CombMAXFusion`, :class:`CombMNZFusion`,
:class:`CalibratedFusion`) combines normalised component similarities; rank
fusion (:class:`RRFusion`) combines component rankings; :class:`LearnedFusion`
fits static weights on judged queries.
"""

from ._base import BaseFusion
from ._engine import UndefinedScoreWarning, fused_cosine
from ._functional import global_weights, score
from ._registry import STRATEGIES, Strategy, get_strategy
from ._stats import similarity_moments
from .agreement import (
    AgreementFusion,
    agreement_weights,
    centroid_basis,
    impute_components,
    similarity_covariances,
)
from .agreement_cv import AgreementFusionCV
from .average import AverageFusion, average_weights
from .calibrated import CalibratedFusion, calibrated_scores
from .hybrid import HybridFusion, hybrid_weights
from .learned import LearnedFusion
from .rank_fusion import RRFusion, rrf_scores
from .score_fusion import (
    CombMAXFusion,
    CombMNZFusion,
    CombSUMFusion,
    combmax_scores,
    combmnz_scores,
    combsum_scores,
)
from .weighted import WeightedFusion, weighted_weights

__all__ = [
    "STRATEGIES",
    "AgreementFusion",
    "AgreementFusionCV",
    "AverageFusion",
    "BaseFusion",
    "CalibratedFusion",
    "CombMAXFusion",
    "CombMNZFusion",
    "CombSUMFusion",
    "HybridFusion",
    "LearnedFusion",
    "RRFusion",
    "Strategy",
    "UndefinedScoreWarning",
    "WeightedFusion",
    "agreement_weights",
    "average_weights",
    "calibrated_scores",
    "centroid_basis",
    "combmax_scores",
    "combmnz_scores",
    "combsum_scores",
    "fused_cosine",
    "get_strategy",
    "global_weights",
    "hybrid_weights",
    "impute_components",
    "rrf_scores",
    "score",
    "similarity_covariances",
    "similarity_moments",
    "weighted_weights",
]
