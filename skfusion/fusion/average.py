"""Simple average fusion."""

from __future__ import annotations

from typing import Any

import numpy as np

from .weighted import WeightedFusion


def average_weights(S: np.ndarray, *, global_weights: np.ndarray | None = None) -> np.ndarray:
    """Equal weights ``w_c = 1 / C`` for every query and item.

    Average fusion, the first strategy of the original write-up: the fused
    item is ``f_i = (1/C) Σ_c e_ic`` and it is ranked by ``cos(q, f_i)``
    (docs/strategies.md; the fused vector is not renormalised, so the cosine divides
    by ``‖f_i‖``). In Gram form the score is
    ``Σ_c s_ic / sqrt(Σ_c Σ_c' K_i[c, c'])``.

    Parameters
    ----------
    S : ndarray of shape (C, Q, B)
        Component similarities; only its first dimension is used.
    global_weights : ignored
        Accepted for the shared strategy signature.

    Returns
    -------
    ndarray of shape (C,)
    """
    n_components = S.shape[0]
    return np.full(n_components, 1.0 / n_components)


class AverageFusion(WeightedFusion):
    """Rank items by cosine to the plain average of their components.

    ``f_i = (1/C) Σ_c e_ic`` and ``score(q, i) = cos(q, f_i)`` — the fused
    vector is not renormalised, so the cosine divides by ``‖f_i‖`` (original
    write-up; docs/strategies.md). Scored exactly in Gram form:
    ``Σ_c s_ic / sqrt(Σ_c Σ_c' K_i[c, c'])``, or from precomputed unit fused
    vectors (``precompute``).

    This is :class:`WeightedFusion` with equal weights, under the original
    method's name: ``weights`` must stay None.

    Parameters
    ----------
    catalog : Catalog
        The items to rank; shared, never copied, by ``clone``.
    weights : None
        Always None (equal weights); use :class:`WeightedFusion` for others.
    block_size : int, optional
        Items per scoring block (chosen from the number of queries when
        omitted).
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
        ``1 / C`` for every component.
    n_features_in_ : int
        The embedding dimension.
    component_names_ : tuple of str
    n_items_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from skfusion import AverageFusion, Catalog
    >>> rng = np.random.default_rng(0)
    >>> cat = Catalog.from_arrays(
    ...     {"title": rng.standard_normal((5, 4)), "body": rng.standard_normal((5, 4))},
    ...     normalize=True,
    ... )
    >>> est = AverageFusion(cat).fit()
    >>> scores, items = est.kneighbors(cat.components["title"][:2], n_neighbors=3)
    >>> items.shape
    (2, 3)
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **WeightedFusion._parameter_constraints,
        "weights": [None],
    }
