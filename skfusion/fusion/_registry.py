"""Registry of fusion strategies by name (private: tests, benchmarks and the functional API).

The score-fusion entries use the private fixed-method forms of
:class:`~skfusion.fusion.score_fusion.ScoreFusion` (``combsum`` is
``ScoreFusion(method="sum")``) and the deprecated strategies (``combmnz``,
``calibrated``) their quiet private classes, so that nothing here warns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._base import BaseFusion
from .agreement import AgreementFusion, agreement_weights
from .average import AverageFusion, average_weights
from .calibrated import _CalibratedFusion, calibrated_scores
from .hybrid import HybridFusion, hybrid_weights
from .rank_fusion import RRFusion, rrf_scores
from .score_fusion import (
    _CombMAX,
    _CombMNZ,
    _CombSUM,
    combmax_scores,
    combmnz_scores,
    combsum_scores,
)
from .weighted import WeightedFusion, weighted_weights


@dataclass(frozen=True)
class Strategy:
    """A named fusion strategy: its estimator and its pure scoring function.

    Attributes
    ----------
    name : str
    estimator : type
        The :class:`BaseFusion` subclass implementing it.
    function : callable
        The pure function at its core (weights for vector fusion, a
        combination of normalised similarities for score fusion, ranks for
        rank fusion); documented with its formula and source.
    params : tuple of str
        Keyword parameters accepted by the functional API.
    required : tuple of str
        Parameters without a default.
    """

    name: str
    estimator: type[BaseFusion]
    function: Callable[..., Any]
    params: tuple[str, ...]
    required: tuple[str, ...] = ()


STRATEGIES: dict[str, Strategy] = {
    "agreement": Strategy(
        "agreement",
        AgreementFusion,
        agreement_weights,
        ("prior", "prior_weights", "debias", "impute"),
    ),
    "average": Strategy("average", AverageFusion, average_weights, ()),
    "weighted": Strategy("weighted", WeightedFusion, weighted_weights, ("weights",), ("weights",)),
    "hybrid": Strategy("hybrid", HybridFusion, hybrid_weights, ("negative",)),
    "combsum": Strategy("combsum", _CombSUM, combsum_scores, ("normalization", "weights")),
    "combmax": Strategy("combmax", _CombMAX, combmax_scores, ("normalization", "weights")),
    "combmnz": Strategy("combmnz", _CombMNZ, combmnz_scores, ("normalization", "depth", "weights")),
    "rrf": Strategy("rrf", RRFusion, rrf_scores, ("k", "depth", "weights")),
    "calibrated": Strategy("calibrated", _CalibratedFusion, calibrated_scores, ("weights",)),
}


def get_strategy(name: str) -> Strategy:
    """Look a strategy up by name; unknown names raise ``ValueError`` listing the valid ones."""
    try:
        return STRATEGIES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown fusion strategy {name!r}; valid strategies are {sorted(STRATEGIES)}."
        ) from None
