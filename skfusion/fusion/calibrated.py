"""Calibrated fusion: per-query standardised similarities, averaged over present components.

Deprecated: ``CalibratedFusion`` ranked no better than z-score CombSUM
(:class:`~skfusion.ScoreFusion`) and below the vector strategies on every benchmark of
``docs/strategy_benchmark.md`` (docs/changelog.md quotes the figures).
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..catalog import Catalog
from ._base import BaseFusion
from ._score_base import BaseScoreFusion


def calibrated_scores(N: np.ndarray, present: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``Σ_{c ∈ C_i} w_c z_ic / Σ_{c ∈ C_i} w_c``: the weighted mean of present z-scores.

    Parameters
    ----------
    N : ndarray of shape (C, Q, B)
        z-scores ``z_ic = (s_ic − μ_qc) / σ_qc``.
    present : ndarray of bool, broadcastable to (C, Q, B)
    weights : ndarray of shape (C,)

    Returns
    -------
    ndarray of shape (Q, B)
    """
    w = np.asarray(weights, dtype=N.dtype)[:, None, None]
    wp = np.where(present, w, 0)
    total = wp.sum(axis=0)
    num = (np.where(present, N, 0) * wp).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, num / total, np.nan)


class _CalibratedFusion(BaseScoreFusion):
    """Modality-gap-aware fusion: the mean of per-query standardised component similarities.

    ``z_ic = (s_ic − μ_qc) / σ_qc`` with ``μ_qc`` and ``σ_qc`` the exact mean
    and standard deviation of query q's similarities to component c over the
    catalog (from the catalog's mean vectors and covariances: no labels,
    no extra pass), and ``score(q, i) = Σ_{c ∈ C_i} w_c z_ic / Σ_{c ∈ C_i} w_c``
    over the components item i has.

    Why: CLIP text–image cosines sit far below text–text ones whatever the
    relevance (the modality gap: Liang et al. 2022, *Mind the gap*), and
    different components of one catalog have different similarity levels and
    spreads (the cone effect). The original hybrid strategy weights each
    component by its raw similarity ``s_ic``, so such level differences decide
    the weights. Here an offset ``s_ic + δ_c`` or a rescaling ``a_c s_ic``
    (a_c > 0) of a whole component leaves every ``z_ic`` — and the ranking —
    unchanged. The weights are per component (tunable, equal by default), not
    per item: per-item query-dependent weights act as a soft maximum over
    components and can lift an irrelevant item on the strength of one noisy
    component. Averaging (rather than summing) over present components keeps
    items with a missing component on the same scale as complete ones.

    Equivalent to z-score CombSUM (``ScoreFusion(method="sum")``) when every item
    has every component, up to the constant ``Σ_c w_c``.

    Parameters
    ----------
    catalog : Catalog
    weights : sequence or mapping of float, optional
        Non-negative component weights; equal when omitted.
    block_size : int, optional
    scoring : str, default="ndcg@10"
    backend : {"auto", "numpy", "torch"}, default="auto"
        Scoring backend: ``"auto"`` uses torch on a CUDA or MPS device when
        one is available and numpy otherwise (see :doc:`/backends`).
    device : str, optional
        Torch device for ``backend="torch"`` (``"cpu"``, ``"cuda"``,
        ``"cuda:1"``, ``"mps"``); the best available one when omitted.
    approximate : bool or "auto", default=False
        Take :meth:`kneighbors` candidates from the catalog's ANN index
        (:meth:`skfusion.Catalog.build_index`) and re-score them exactly;
        exact search over every item when False.
        ``"auto"``: exact search when the catalog has no index or exact
        search of the batch is estimated cheaper (see :doc:`/approximate`).
    n_candidates : int or None, default=None
        Candidates per query taken from each index when ``approximate``.
        None: the count calibrated by ``build_index(target_recall=...)``,
        else 300.

    Attributes
    ----------
    global_weights_ : ndarray of shape (n_components,)
        The normalised component weights.
    """

    _combine = staticmethod(calibrated_scores)
    #: Fixed: the z-scores are what makes the ranking offset-invariant.
    normalization = "zscore"

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        weights: Sequence[float] | Mapping[str, float] | None = None,
        block_size: int | None = None,
        scoring: str = "ndcg@10",
        backend: str = "auto",
        device: str | None = None,
        approximate: bool = False,
        n_candidates: int | None = None,
    ):
        BaseFusion.__init__(
            self,
            catalog,
            block_size=block_size,
            scoring=scoring,
            backend=backend,
            device=device,
            approximate=approximate,
            n_candidates=n_candidates,
        )
        self.weights = weights


#: The deprecation message of :class:`CalibratedFusion`.
CALIBRATED_DEPRECATION = (
    "CalibratedFusion is deprecated and will be removed in the next release: it never ranked "
    "better than ScoreFusion(method='sum') (z-score CombSUM) and ranked below hybrid and "
    "AgreementFusionCV on every benchmark (Cranfield nDCG@10 0.240 vs hybrid 0.369 and "
    "AgreementFusionCV 0.381). Use ScoreFusion(method='sum') or AgreementFusionCV."
)


class CalibratedFusion(_CalibratedFusion):
    """Deprecated: use ``ScoreFusion(method="sum")`` or :class:`AgreementFusionCV`.

    The weighted mean of per-query z-scores over the components each item
    has: ``score(q, i) = Σ_{c ∈ C_i} w_c z_ic / Σ_{c ∈ C_i} w_c`` with
    ``z_ic = (s_ic − μ_qc) / σ_qc``. Equal to z-score CombSUM up to a constant
    when no component is missing. It ranked no better than z-score CombSUM
    and below hybrid and :class:`AgreementFusionCV` on every benchmark of
    ``docs/strategy_benchmark.md`` (Cranfield nDCG@10: 0.240, hybrid 0.369).

    Parameters
    ----------
    catalog : Catalog
    weights : sequence or mapping of float, optional
        Non-negative component weights; equal when omitted.
    block_size : int, optional
    scoring : str, default="ndcg@10"
    backend : {"auto", "numpy", "torch"}, default="auto"
    device : str, optional
    approximate : bool or "auto", default=False
        ``"auto"``: exact search when the catalog has no index or exact
        search of the batch is estimated cheaper (see :doc:`/approximate`).
    n_candidates : int or None, default=None
        None: the count calibrated by ``build_index(target_recall=...)``,
        else 300.

    Attributes
    ----------
    global_weights_ : ndarray of shape (n_components,)
        The normalised component weights.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(CALIBRATED_DEPRECATION, FutureWarning, stacklevel=2)
        super().__init__(*args, **kwargs)

    # scikit-learn reads parameter names from the signature (get_params, clone).
    __init__.__signature__ = inspect.signature(_CalibratedFusion.__init__)  # type: ignore[attr-defined]
