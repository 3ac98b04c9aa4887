"""Fusion strategies: estimators over a Catalog.

Vector fusion (:class:`AgreementFusionCV`, the recommended default, and
:class:`AgreementFusion`, its label-free form;
:class:`AverageFusion`, :class:`WeightedFusion`, :class:`HybridFusion`)
ranks by the cosine to a fused item vector; score fusion
(:class:`ScoreFusion`: CombSUM, CombMAX) combines normalised component
similarities; rank fusion (:class:`RRFusion`) combines component rankings;
:class:`LearnedFusion` fits static weights on judged queries.
:func:`simplex_grid` gives weight grids for tuning, and
:class:`UndefinedScoreWarning` is the warning to filter for queries whose
scores are undefined.

The pure functions, the strategy registry and the base class that this
module used to export are deprecated (a ``FutureWarning`` names each one's
replacement); they live on in private modules.
"""

from .._warnings import deprecated_attributes
from ._engine import UndefinedScoreWarning
from ._grid import simplex_grid
from .agreement import AgreementFusion
from .agreement_cv import AgreementFusionCV
from .average import AverageFusion
from .calibrated import CalibratedFusion  # noqa: F401  (deprecated, not in __all__)
from .hybrid import HybridFusion
from .learned import LearnedFusion
from .rank_fusion import RRFusion
from .score_fusion import (  # Comb*Fusion: deprecated, not in __all__
    CombMAXFusion,  # noqa: F401
    CombMNZFusion,  # noqa: F401
    CombSUMFusion,  # noqa: F401
    ScoreFusion,
)
from .weighted import WeightedFusion

__all__ = [
    "AgreementFusion",
    "AgreementFusionCV",
    "AverageFusion",
    "HybridFusion",
    "LearnedFusion",
    "RRFusion",
    "ScoreFusion",
    "UndefinedScoreWarning",
    "WeightedFusion",
    "simplex_grid",
]

_ESTIMATOR = "the estimators (e.g. ScoreFusion(catalog).fit().decision_function(queries))"
_EXPLAIN = "the estimator's explain() (its per-component similarities and scores)"
#: Deprecated name -> (private module, replacement named in the FutureWarning).
_DEPRECATED: dict[str, tuple[str, str]] = {
    "BaseFusion": ("._base", "sklearn.base.BaseEstimator for isinstance checks"),
    "STRATEGIES": ("._registry", "the estimator classes themselves (skfusion.ScoreFusion, ...)"),
    "Strategy": ("._registry", "the estimator classes themselves (skfusion.ScoreFusion, ...)"),
    "get_strategy": ("._registry", "the estimator classes themselves (skfusion.ScoreFusion, ...)"),
    "score": ("._functional", _ESTIMATOR + " on skfusion.Catalog(components)"),
    "global_weights": ("._functional", "skfusion.Catalog(components).global_weights()"),
    "fused_cosine": ("._engine", _ESTIMATOR),
    "similarity_moments": ("._stats", _EXPLAIN),
    "similarity_covariances": (".agreement", "AgreementFusion (which uses it)"),
    "impute_components": (".agreement", "AgreementFusionCV(impute='auto')"),
    "centroid_basis": (".agreement", "AgreementFusion (which uses it)"),
    "agreement_weights": (".agreement", "AgreementFusion"),
    "average_weights": (".average", "AverageFusion"),
    "weighted_weights": (".weighted", "WeightedFusion"),
    "hybrid_weights": (".hybrid", "HybridFusion"),
    "calibrated_scores": (".calibrated", "ScoreFusion(method='sum')"),
    "combsum_scores": (".score_fusion", "ScoreFusion(method='sum')"),
    "combmax_scores": (".score_fusion", "ScoreFusion(method='max')"),
    "combmnz_scores": (".score_fusion", "ScoreFusion(method='sum')"),
    "rrf_scores": (".rank_fusion", "RRFusion"),
}


__getattr__ = deprecated_attributes(__name__, _DEPRECATED)
