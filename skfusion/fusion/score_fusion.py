"""Score fusion: CombSUM, CombMAX and CombMNZ over normalised component similarities."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..catalog import Catalog
from ._score_base import BaseCandidateFusion, BaseScoreFusion, normalize_similarities
from ._stats import ComponentScan, normalization_coefficients


def combsum_scores(N: np.ndarray, present: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """CombSUM: ``Σ_c w_c n_ic`` over the components item i has.

    Fox & Shaw (1994), *Combination of multiple searches*, TREC-2. ``n_ic`` is
    the normalised similarity of component c (see :func:`normalization_coefficients`);
    equal ``w_c`` give the classic unweighted sum.

    Parameters
    ----------
    N : ndarray of shape (C, Q, B)
        Normalised similarities.
    present : ndarray of bool, broadcastable to (C, Q, B)
    weights : ndarray of shape (C,)

    Returns
    -------
    ndarray of shape (Q, B)
    """
    w = np.asarray(weights, dtype=N.dtype)[:, None, None]
    return np.where(present, N * w, 0).sum(axis=0)


def combmax_scores(N: np.ndarray, present: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """CombMAX: ``max_c w_c n_ic`` over the components item i has (Fox & Shaw 1994).

    Parameters and returns as :func:`combsum_scores`. With the default equal
    weights the weights only rescale all scores alike.
    """
    w = np.asarray(weights, dtype=N.dtype)[:, None, None]
    return np.where(present, N * w, -np.inf).max(axis=0)


def combmnz_scores(
    N: np.ndarray, present: np.ndarray, weights: np.ndarray, n_lists: np.ndarray
) -> np.ndarray:
    """CombMNZ: CombSUM multiplied by the number of candidate lists holding the item.

    Fox & Shaw (1994): items retrieved by several searches are boosted.
    ``n_lists`` counts the components whose top-``depth`` list contains the
    item (0 outside every list, so such items score 0).
    """
    return combsum_scores(N, present, weights) * n_lists


class CombSUMFusion(BaseScoreFusion):
    """Rank by the (weighted) sum of normalised component similarities: CombSUM.

    ``score(q, i) = Σ_{c ∈ C_i} w_c n_ic`` where ``C_i`` are the components
    item i has and ``n_ic`` is ``s_ic = cos(q, e_ic)`` normalised over the
    catalog for this query and component (Fox & Shaw 1994, *Combination of
    multiple searches*). Normalisations (``normalization=``):

    ``"zscore"`` (default)
        ``(s − μ_qc) / σ_qc`` with the exact mean and standard deviation of
        the component's similarities over the catalog.
    ``"minmax"``
        ``(s − min) / (max − min)`` over the catalog (one extra pass over the
        embeddings per call).
    ``"dbsf"``
        Distribution-based score fusion: the limits ``μ ± 3σ`` map to 0 and
        1, values beyond are clipped (the normaliser Qdrant calls DBSF).
    ``"none"``
        Raw cosines.

    Parameters
    ----------
    catalog : Catalog
    normalization : {"zscore", "minmax", "dbsf", "none"}, default="zscore"
    weights : sequence or mapping of float, optional
        Non-negative per-component weights; equal when omitted.
    block_size : int, optional
    scoring : str, default="ndcg@10"
    backend : {"auto", "numpy", "torch"}, default="auto"
        Scoring backend: ``"auto"`` uses torch on a CUDA or MPS device when
        one is available and numpy otherwise (see :doc:`/backends`).
    device : str, optional
        Torch device for ``backend="torch"`` (``"cpu"``, ``"cuda"``,
        ``"cuda:1"``, ``"mps"``); the best available one when omitted.
    approximate : bool, default=False
        Take :meth:`kneighbors` candidates from the catalog's ANN index
        (:meth:`skfusion.Catalog.build_index`) and re-score them exactly;
        exact search over every item when False.
    n_candidates : int, default=300
        Candidates per query taken from each index when ``approximate``.

    Attributes
    ----------
    global_weights_ : ndarray of shape (n_components,)
        The normalised component weights.
    """

    _combine = staticmethod(combsum_scores)


class CombMAXFusion(BaseScoreFusion):
    """Rank by the largest normalised component similarity: CombMAX.

    ``score(q, i) = max_{c ∈ C_i} w_c n_ic`` (Fox & Shaw 1994) with the
    normalisations of :class:`CombSUMFusion`. Parameters as there.
    """

    _combine = staticmethod(combmax_scores)


class CombMNZFusion(BaseCandidateFusion):
    """CombSUM boosted by how many components retrieve the item: CombMNZ.

    ``score(q, i) = |{c : i ∈ top_depth(c)}| · Σ_{c ∈ C_i} w_c n_ic`` (Fox &
    Shaw 1994): each component retrieves its ``depth`` most similar items;
    an item in no list scores 0. ``n_ic`` is normalised over the catalog
    with ``"minmax"`` (default) or ``"dbsf"``, both in [0, 1] as the
    multiplication needs non-negative scores.

    Parameters
    ----------
    catalog : Catalog
    normalization : {"minmax", "dbsf"}, default="minmax"
    depth : int, default=100
        Candidate list length per component.
    weights : sequence or mapping of float, optional
    block_size : int, optional
    scoring : str, default="ndcg@10"
    backend : {"auto", "numpy", "torch"}, default="auto"
        Scoring backend: ``"auto"`` uses torch on a CUDA or MPS device when
        one is available and numpy otherwise (see :doc:`/backends`).
    device : str, optional
        Torch device for ``backend="torch"`` (``"cpu"``, ``"cuda"``,
        ``"cuda:1"``, ``"mps"``); the best available one when omitted.
    approximate : bool, default=False
        Take :meth:`kneighbors` candidates from the catalog's ANN index
        (:meth:`skfusion.Catalog.build_index`) and re-score them exactly;
        exact search over every item when False.
    n_candidates : int, default=300
        Candidates per query taken from each index when ``approximate``.
    """

    _parameter_constraints = {**BaseCandidateFusion._parameter_constraints}

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        normalization: str = "minmax",
        depth: int = 100,
        weights: Sequence[float] | Mapping[str, float] | None = None,
        block_size: int | None = None,
        scoring: str = "ndcg@10",
        backend: str = "auto",
        device: str | None = None,
        approximate: bool = False,
        n_candidates: int = 300,
    ):
        super().__init__(
            catalog,
            normalization=normalization,
            weights=weights,
            block_size=block_size,
            scoring=scoring,
            backend=backend,
            device=device,
            approximate=approximate,
            n_candidates=n_candidates,
        )
        self.depth = depth

    def _fit_weights(self, catalog: Catalog) -> np.ndarray:
        if self.normalization not in ("minmax", "dbsf"):
            raise ValueError(
                "CombMNZ multiplies normalised scores by a count, so they must be "
                f"non-negative: use normalization='minmax' or 'dbsf', not {self.normalization!r}."
            )
        return super()._fit_weights(catalog)

    def _candidate_scores(
        self, queries: np.ndarray, scan: ComponentScan
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        cat = self._checked_catalog()
        offset, scale, clip = normalization_coefficients(self.normalization, cat, queries, scan)
        mats = cat.matrices()
        out = []
        for q in range(queries.shape[0]):
            lists = scan.top_index[:, q, :]
            idx, counts = np.unique(lists[lists >= 0], return_counts=True)
            S = np.stack([E[idx] @ queries[q] for E in mats])[:, None, :]  # (C, 1, m)
            N = normalize_similarities(S, offset[:, q, None, None], scale[:, q, None, None], clip)
            # The gathered product can round a hair below the scan's minimum: min-max
            # values are non-negative by definition (and kneighbors relies on it).
            np.maximum(N, 0.0, out=N)
            present = cat.mask[:, idx][:, None, :]
            sc = combmnz_scores(N, present, self.global_weights_, counts[None, :])[0]
            out.append((idx, sc.astype(np.float32)))
        return out
