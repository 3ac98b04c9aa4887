"""Score fusion: CombSUM, CombMAX and CombMNZ over normalised component similarities.

One estimator, :class:`ScoreFusion`, with ``method="sum" | "max" | "mnz"``. The classes
``CombSUMFusion``, ``CombMAXFusion`` and ``CombMNZFusion`` are deprecated aliases of it.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.utils._param_validation import StrOptions

from .._warnings import warn_at_caller
from ..catalog import Catalog
from ._score_base import BaseCandidateFusion, BaseScoreFusion, normalize_similarities
from ._stats import Combiner, ComponentScan, normalization_coefficients


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


_COMBINERS: dict[str, Combiner] = {"sum": combsum_scores, "max": combmax_scores}

#: Why ``method="mnz"`` is deprecated (docs/changelog.md quotes the tables).
MNZ_DEPRECATION = (
    "ScoreFusion(method='mnz') (CombMNZ) is deprecated and will be removed in the next "
    "release: it ranked below ScoreFusion(method='sum') on every benchmark of "
    "docs/strategy_benchmark.md (e.g. Cranfield nDCG@10 0.164 vs 0.240); use "
    "ScoreFusion(method='sum') or AgreementFusionCV."
)


class ScoreFusion(BaseCandidateFusion):
    """Rank by a combination of normalised component similarities: CombSUM, CombMAX, CombMNZ.

    Each component's similarities ``s_ic = cos(q, e_ic)`` are normalised over
    the catalog for the query, giving ``n_ic``, then combined over the
    components ``C_i`` that item i has (Fox & Shaw 1994, *Combination of
    multiple searches*, TREC-2):

    ``method="sum"`` (CombSUM, default)
        ``score(q, i) = Σ_{c ∈ C_i} w_c n_ic``.
    ``method="max"`` (CombMAX)
        ``score(q, i) = max_{c ∈ C_i} w_c n_ic``; with equal weights the
        weights only rescale all scores alike.
    ``method="mnz"`` (CombMNZ, deprecated)
        ``score(q, i) = |{c : i ∈ top_depth(c)}| · Σ_{c ∈ C_i} w_c n_ic``:
        each component retrieves its ``depth`` most similar items, and an
        item in no list scores 0. The multiplication needs non-negative
        scores, so only ``"minmax"`` and ``"dbsf"`` are accepted. It ranked
        below ``method="sum"`` on every benchmark of
        ``docs/strategy_benchmark.md``, so fitting it emits a ``FutureWarning``.

    Normalisations (``normalization=``):

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
    method : {"sum", "max", "mnz"}, default="sum"
        How normalised similarities are combined (see above).
    normalization : {"zscore", "minmax", "dbsf", "none"}, default="zscore"
    weights : sequence or mapping of float, optional
        Non-negative per-component weights; equal when omitted.
    depth : int, default=100
        Candidate list length per component; used by ``method="mnz"`` only.
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

    Examples
    --------
    >>> import numpy as np
    >>> from skfusion import Catalog, ScoreFusion
    >>> rng = np.random.default_rng(0)
    >>> unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)
    >>> cat = Catalog({"a": unit(rng.normal(size=(6, 4))), "b": unit(rng.normal(size=(6, 4)))})
    >>> est = ScoreFusion(cat, method="max", normalization="minmax").fit()
    >>> est.kneighbors(unit(rng.normal(size=(1, 4))), n_neighbors=3)[1].shape
    (1, 3)
    """

    _parameter_constraints = {
        **BaseCandidateFusion._parameter_constraints,
        "method": [StrOptions({"sum", "max", "mnz"})],
    }
    #: Sum and max score lexical components in the block scan; ``_fit_weights``
    #: refuses them for "mnz", whose candidate scores read dense similarities only.
    _supports_lexical = True
    #: Whether fitting ``method="mnz"`` warns (private quiet subclasses turn it off).
    _warn_mnz = True

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        method: str = "sum",
        normalization: str = "zscore",
        weights: Sequence[float] | Mapping[str, float] | None = None,
        depth: int = 100,
        block_size: int | None = None,
        scoring: str = "ndcg@10",
        backend: str = "auto",
        device: str | None = None,
        approximate: bool = False,
        n_candidates: int | None = None,
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
        self.method = method
        self.depth = depth

    @property
    def _combine(self) -> Combiner:  # type: ignore[override]
        """The combiner of ``method`` for the block scan ("mnz" scores candidate lists)."""
        return _COMBINERS.get(self.method, combsum_scores)

    def _fit_weights(self, catalog: Catalog) -> np.ndarray:
        if self.method == "mnz":
            if self.normalization not in ("minmax", "dbsf"):
                raise ValueError(
                    "ScoreFusion(method='mnz') multiplies normalised scores by a count, so "
                    "they must be non-negative: use normalization='minmax' or 'dbsf', not "
                    f"{self.normalization!r}."
                )
            if catalog.lexical_names:
                raise ValueError(
                    "ScoreFusion(method='mnz') does not score lexical components, and this "
                    f"catalog has {list(catalog.lexical_names)}; use method='sum' or 'max', "
                    "or RRFusion, or a catalog without lexical components."
                )
            if type(self)._warn_mnz:
                warn_at_caller(MNZ_DEPRECATION, FutureWarning)
        return super()._fit_weights(catalog)

    def decision_function(self, X: Any) -> np.ndarray:
        """Fused scores of every item for each query (0 outside every list for "mnz").

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_queries, dim) or (n_queries, dim + Σ V_l)
            Unit-norm query embeddings, followed by the lexical query vectors
            when the catalog has lexical components (see :doc:`/lexical`).

        Returns
        -------
        ndarray of shape (n_queries, n_items), float32
        """
        if self.method == "mnz":
            return super().decision_function(X)
        return BaseScoreFusion.decision_function(self, X)

    def kneighbors(
        self, X: Any, n_neighbors: int = 10, return_distance: bool = True
    ) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
        """The best items per query (same contract as :meth:`BaseFusion.kneighbors`).

        For ``method="mnz"``: candidates by descending score, then zero-score
        items by position.
        """
        if self.method == "mnz":
            return super().kneighbors(X, n_neighbors, return_distance)
        return BaseScoreFusion.kneighbors(self, X, n_neighbors, return_distance)

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


# Private fixed-method forms: the registry and the demo use them (no deprecation
# warnings from inside skfusion); the deprecated public names below subclass them.


class _CombSUM(ScoreFusion):
    """``ScoreFusion(method="sum")`` with the old ``CombSUMFusion`` parameters."""

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        normalization: str = "zscore",
        weights: Sequence[float] | Mapping[str, float] | None = None,
        block_size: int | None = None,
        scoring: str = "ndcg@10",
        backend: str = "auto",
        device: str | None = None,
        approximate: bool = False,
        n_candidates: int | None = None,
    ):
        super().__init__(
            catalog,
            method="sum",
            normalization=normalization,
            weights=weights,
            block_size=block_size,
            scoring=scoring,
            backend=backend,
            device=device,
            approximate=approximate,
            n_candidates=n_candidates,
        )


class _CombMAX(ScoreFusion):
    """``ScoreFusion(method="max")`` with the old ``CombMAXFusion`` parameters."""

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        normalization: str = "zscore",
        weights: Sequence[float] | Mapping[str, float] | None = None,
        block_size: int | None = None,
        scoring: str = "ndcg@10",
        backend: str = "auto",
        device: str | None = None,
        approximate: bool = False,
        n_candidates: int | None = None,
    ):
        super().__init__(
            catalog,
            method="max",
            normalization=normalization,
            weights=weights,
            block_size=block_size,
            scoring=scoring,
            backend=backend,
            device=device,
            approximate=approximate,
            n_candidates=n_candidates,
        )


class _CombMNZ(ScoreFusion):
    """``ScoreFusion(method="mnz")`` with the old ``CombMNZFusion`` parameters (no warning)."""

    _warn_mnz = False

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
        n_candidates: int | None = None,
    ):
        super().__init__(
            catalog,
            method="mnz",
            normalization=normalization,
            weights=weights,
            depth=depth,
            block_size=block_size,
            scoring=scoring,
            backend=backend,
            device=device,
            approximate=approximate,
            n_candidates=n_candidates,
        )


def _deprecation(old: str, new: str) -> str:
    return (
        f"{old} is deprecated and will be removed in the next release; use {new} "
        "(identical rankings and scores)."
    )


class CombSUMFusion(_CombSUM):
    """Deprecated: use ``ScoreFusion(method="sum")`` (identical results).

    Parameters as :class:`ScoreFusion`, without ``method`` and ``depth``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            _deprecation("CombSUMFusion", "ScoreFusion(method='sum')"), FutureWarning, stacklevel=2
        )
        super().__init__(*args, **kwargs)

    # scikit-learn reads parameter names from the signature (get_params, clone).
    __init__.__signature__ = inspect.signature(_CombSUM.__init__)  # type: ignore[attr-defined]


class CombMAXFusion(_CombMAX):
    """Deprecated: use ``ScoreFusion(method="max")`` (identical results).

    Parameters as :class:`ScoreFusion`, without ``method`` and ``depth``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            _deprecation("CombMAXFusion", "ScoreFusion(method='max')"), FutureWarning, stacklevel=2
        )
        super().__init__(*args, **kwargs)

    __init__.__signature__ = inspect.signature(_CombMAX.__init__)  # type: ignore[attr-defined]


class CombMNZFusion(_CombMNZ):
    """Deprecated: use ``ScoreFusion(method="mnz", normalization="minmax")``.

    CombMNZ itself is deprecated (see :class:`ScoreFusion`). Parameters as
    :class:`ScoreFusion` without ``method``; ``normalization`` defaults to
    ``"minmax"``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            _deprecation(
                "CombMNZFusion",
                "ScoreFusion(method='mnz', normalization='minmax') (CombMNZ itself is "
                "deprecated: prefer ScoreFusion(method='sum'))",
            ),
            FutureWarning,
            stacklevel=2,
        )
        super().__init__(*args, **kwargs)

    __init__.__signature__ = inspect.signature(_CombMNZ.__init__)  # type: ignore[attr-defined]
