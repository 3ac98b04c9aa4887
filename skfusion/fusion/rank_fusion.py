"""Rank fusion: reciprocal rank fusion (RRF) of per-component rankings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval

from ..catalog import Catalog
from ._base import BaseFusion
from ._score_base import BaseCandidateFusion
from ._stats import ComponentScan


def rrf_scores(
    top_index: np.ndarray, weights: np.ndarray, k: float, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """Reciprocal rank fusion of per-component ranked lists for one query.

    ``score(i) = Σ_c w_c / (k + rank_c(i))`` over the lists that hold item
    i, ranks starting at 1 (Cormack, Clarke & Büttcher 2009, *Reciprocal rank
    fusion outperforms Condorcet and individual rank learning methods*,
    SIGIR; they use k = 60).

    Parameters
    ----------
    top_index : ndarray of shape (C, depth)
        Item positions per component, best first; -1 pads.
    weights : ndarray of shape (C,)
    k : float
    n_items : int

    Returns
    -------
    items, scores : ndarray of shape (m,)
        The items in at least one list (ascending positions) and their scores.
    """
    depth = top_index.shape[1]
    contrib = np.asarray(weights, dtype=np.float64)[:, None] / (k + np.arange(1, depth + 1))
    valid = top_index >= 0
    total = np.bincount(
        top_index[valid], weights=np.broadcast_to(contrib, valid.shape)[valid], minlength=n_items
    )
    items = np.unique(top_index[valid])
    return items, total[items]


class RRFusion(BaseCandidateFusion):
    """Reciprocal rank fusion (RRF) of the components' rankings.

    Each component ranks the catalog by ``s_ic = cos(q, e_ic)`` (items that
    lack the component are not ranked by it); the ``depth`` best items of
    each component form its list, and
    ``score(q, i) = Σ_c w_c / (k + rank_c(i))`` over the lists holding item i
    (Cormack, Clarke & Büttcher 2009). Scores ignore similarity levels
    entirely, so they are immune to the modality gap, at the price of
    ignoring how much better one item is than the next.

    Lexical components of the catalog (e.g. BM25, see :doc:`/lexical`) rank
    too, by their score ``Q_l · d_il``; their list holds only items with a
    positive score (sharing a term with the query), so a query without
    lexical columns adds nothing from them.

    Parameters
    ----------
    catalog : Catalog
    k : float, default=60
        The rank offset; 60 in the original paper.
    depth : int, default=100
        List length per component; items in no list score 0.
    weights : sequence or mapping of float, optional
        Per-component weights (weighted RRF) over the dense then the lexical
        components; equal when omitted.
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
    """

    _parameter_constraints = {
        **BaseCandidateFusion._parameter_constraints,
        "k": [Interval(Real, 0, None, closed="left")],
    }
    #: Ranks need no normalisation.
    normalization = "none"
    #: Lexical components rank too (their lists come from the scan).
    _supports_lexical = True

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        k: float = 60.0,
        depth: int = 100,
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
        self.k = k
        self.depth = depth

    def _candidate_scores(
        self, queries: np.ndarray, scan: ComponentScan
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        n_items = self._checked_catalog().n_items
        out = []
        for q in range(queries.shape[0]):
            items, sc = rrf_scores(
                scan.top_index[:, q, :], self.global_weights_, float(self.k), n_items
            )
            out.append((items, sc.astype(np.float32)))
        return out
