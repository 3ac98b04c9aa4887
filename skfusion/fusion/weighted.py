"""Fixed-weight fusion."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.utils._param_validation import StrOptions

from ..catalog import Catalog
from ._base import check_weights
from ._vector import BaseVectorFusion


def weighted_weights(
    S: np.ndarray,
    *,
    weights: Sequence[float] | np.ndarray,
    global_weights: np.ndarray | None = None,
) -> np.ndarray:
    """Fixed per-component weights, the same for every query and item.

    Fixed-weight fusion from the original write-up (e.g. 0.5 title, 0.3
    description, 0.2 image): ``f_i = Σ_c w_c e_ic``, ranked by ``cos(q, f_i)``
    (docs/strategies.md). In Gram form the score is
    ``Σ_c w_c s_ic / sqrt(wᵀ K_i w)``; rescaling ``w`` does not change it.

    Parameters
    ----------
    S : ndarray of shape (C, Q, B)
        Component similarities; only its first dimension is used.
    weights : sequence of C floats
        Non-negative weights in component order (normalised to sum to 1).
    global_weights : ignored
        Accepted for the shared strategy signature.

    Returns
    -------
    ndarray of shape (C,)
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (S.shape[0],):
        raise ValueError(f"weights has {w.size} value(s) for {S.shape[0]} component(s).")
    return w / w.sum()


class WeightedFusion(BaseVectorFusion):
    """Rank items by cosine to a fixed weighted sum of their components.

    ``f_i = Σ_c w_c e_ic`` and ``score(q, i) = cos(q, f_i)`` with fixed
    weights, e.g. 0.5 title / 0.3 description / 0.2 image in the original
    write-up (docs/strategies.md). Scored exactly in Gram form:
    ``Σ_c w_c s_ic / sqrt(wᵀ K_i w)``. Only the ratios of the weights matter,
    which makes them a natural target for ``GridSearchCV``.

    Parameters
    ----------
    catalog : Catalog
        The items to rank; shared, never copied, by ``clone``.
    weights : sequence of float or dict of str to float, optional
        Non-negative weights, in component order or by component name (a
        dict must name every component). Equal weights when omitted.
    block_size : int, optional
        Items per scoring block.
    scoring : str, default="ndcg@10"
        Metric of :meth:`score` (what ``GridSearchCV`` optimises by
        default): ``"ndcg@k"``, ``"recall@k"``, ``"precision@k"``,
        ``"mrr"``, ``"map"`` (see :func:`skfusion.metrics.parse_metric`).
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
    precompute : "auto" or bool, default="auto"
        Score from the items' unit fused vectors, computed once per weight
        vector and cached on the catalog (one matrix product per search
        instead of one per component; results equal the Gram form up to
        float32 rounding). ``"auto"`` does so when the fused matrix
        (``n_items × dim`` float32) fits 4 GiB; ``False`` always scores in
        Gram form from the component matrices (see :doc:`/backends`).

    Attributes
    ----------
    global_weights_ : ndarray of shape (n_components,)
        The weights in component order, normalised to sum to 1.
    n_features_in_ : int
    component_names_ : tuple of str
    n_items_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from skfusion import Catalog, WeightedFusion
    >>> rng = np.random.default_rng(0)
    >>> cat = Catalog.from_arrays(
    ...     {"title": rng.standard_normal((5, 4)), "body": rng.standard_normal((5, 4))},
    ...     normalize=True,
    ... )
    >>> WeightedFusion(cat, weights={"title": 3, "body": 1}).fit().global_weights_
    array([0.75, 0.25])
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **BaseVectorFusion._parameter_constraints,
        "weights": ["array-like", dict, None],
        "precompute": [StrOptions({"auto"}), "boolean"],
    }
    _static_weights = True
    _shard_weights = "parameters"

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
        precompute: str | bool = "auto",
    ):
        super().__init__(
            catalog,
            block_size=block_size,
            scoring=scoring,
            backend=backend,
            device=device,
            approximate=approximate,
            n_candidates=n_candidates,
        )
        self.weights = weights
        self.precompute = precompute

    def _fit_weights(self, catalog: Catalog) -> np.ndarray:
        if self.weights is None:
            return np.full(catalog.n_components, 1.0 / catalog.n_components)
        return check_weights(self.weights, catalog.names)

    def _weights(self, S: np.ndarray) -> np.ndarray:
        if self.weights is None:  # equal weights 1/C, exactly (AverageFusion)
            return np.asarray(self.global_weights_)
        return weighted_weights(S, weights=self.global_weights_)
