"""Agreement fusion: per-query component weights from how the components agree.

The core of the recommended default (:class:`~skfusion.AgreementFusionCV`
chooses its two parameters on judged queries). For each query, the C similarity profiles
``s_c = (q·e_ic)_i`` over the catalog are modelled as noisy readings of one
common relevance signal; components whose profiles agree with the others
get weight, components that only add noise (an author list, a blurred image)
lose it. Everything comes from catalog statistics (no labels), exactly and
without a pass over the items at query time.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from numbers import Real
from typing import Any

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ..catalog import Catalog
from ..catalog._derived import discard_everywhere
from ._base import check_weights
from ._engine import scan_items
from ._vector import BaseVectorFusion

#: Communalities are kept inside [_H_MIN, _H_MAX] (a Heywood case, h ≥ 1,
#: would give a component zero noise and infinite weight).
_H_MIN, _H_MAX = 1e-3, 0.995
_FACTOR_ITERATIONS = 1000
#: Relative size below which a gap between the two leading eigenvalues, or the
#: sum of the loadings, counts as zero. The similarity covariances come from
#: float32 embeddings (relative rounding about 1e-7 per product, more after
#: the subtraction of the means), so an exactly degenerate catalog — a tie, or
#: loadings that cancel — computes to a few 1e-7 either side of zero; the
#: decision must not depend on that rounding (the order of the items, the CPU).
_DEGENERATE = 1e-5

#: Keys of agreement fusion's derived data in a catalog's store
#: (``skfusion/catalog/_derived.py``): the similarity covariances and the imputed copy,
#: shared by clones (GridSearchCV refits) and never stale (a catalog's arrays are
#: read-only), and the factor shares of recent query batches (a search over ``prior``
#: and ``prior_weights`` scores the same queries many times, and only the shrinkage
#: depends on those parameters).
_COVARIANCES_KEY = "fusion.agreement.covariances"
_IMPUTED_KEY = "fusion.agreement.imputed"
_SHARES_KEY = "fusion.agreement.shares"
#: Query batches whose factor shares are kept per catalog (the oldest evicted).
_SHARES_CACHE_SIZE = 32


class _SharesCache:
    """Factor shares of the last ``_SHARES_CACHE_SIZE`` query batches of one catalog."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> np.ndarray | None:
        with self.lock:
            return self.entries.get(key)

    def put(self, key: tuple[Any, ...], shares: np.ndarray) -> None:
        with self.lock:
            self.entries[key] = shares
            while len(self.entries) > _SHARES_CACHE_SIZE:
                self.entries.popitem(last=False)


def clear_shares_cache(catalog: Catalog | None = None) -> None:
    """Forget the cached factor shares of query batches (of one catalog, or of every catalog).

    For benchmarks that time the scoring of a new query batch.
    """
    if catalog is None:
        discard_everywhere(_SHARES_KEY)
    else:
        catalog._derived().discard(_SHARES_KEY)


def similarity_covariances(catalog: Catalog) -> np.ndarray:
    """Cross-covariances ``Σ_ab`` of the component embeddings over the catalog.

    ``Σ_ab = (1/N_ab) Σ_i (e_ia − m_a)(e_ib − m_b)ᵀ`` over the ``N_ab`` items
    having both components (means over those items), so that for any query
    ``qᵀ Σ_ab q`` is exactly the covariance over the catalog of its
    similarities to components a and b. The diagonal blocks are
    :meth:`Catalog.covariances`. Computed once per catalog and kept with the
    catalog's derived data.

    Returns
    -------
    ndarray of shape (C, C, dim, dim), float64
    """
    covariances: np.ndarray = catalog._derived().get_or_build(
        _COVARIANCES_KEY, lambda: _similarity_covariances(catalog)
    )
    return covariances


def _similarity_covariances(catalog: Catalog) -> np.ndarray:
    C, d = catalog.n_components, catalog.dim
    out = np.empty((C, C, d, d), dtype=np.float64)
    diag = catalog.covariances()
    mats, mask = catalog.matrices(), catalog.mask
    for a in range(C):
        out[a, a] = diag[a]
        for b in range(a + 1, C):
            both = mask[a] & mask[b]
            n = int(both.sum())
            if n == 0:
                out[a, b] = out[b, a] = 0.0
                continue
            moments = _CrossMoments(both, d)
            scan_items([mats[a], mats[b]], moments)
            ma, mb = moments.sums[0] / n, moments.sums[1] / n
            out[a, b] = moments.cross / n - np.outer(ma, mb)
            out[b, a] = out[a, b].T
    out.flags.writeable = False
    return out


class _CrossMoments:
    """Sums of two components' embeddings and of their cross products over the items in ``both``.

    A reducer of :func:`~._engine.scan_items` (float64 sums of float32 blocks).
    """

    def __init__(self, both: np.ndarray, d: int) -> None:
        self.both = both
        self.sums = [np.zeros(d), np.zeros(d)]
        self.cross = np.zeros((d, d))

    def update(self, start: int, stop: int, blocks: list[np.ndarray]) -> None:
        A, B = blocks
        rows = self.both[start:stop]
        if not rows.all():
            A, B = A[rows], B[rows]
        self.sums[0] += A.sum(axis=0, dtype=np.float64)
        self.sums[1] += B.sum(axis=0, dtype=np.float64)
        self.cross += A.T @ B


def centroid_basis(catalog: Catalog) -> np.ndarray:
    """An orthonormal basis of the span of the components' mean embeddings.

    Returns
    -------
    ndarray of shape (k, dim), float64
        ``k ≤ C`` rows (directions with a singular value below 1e-8 of the
        largest are dropped; none when every mean is zero).
    """
    means = np.asarray(catalog.means, dtype=np.float64)
    _, sv, vt = np.linalg.svd(means, full_matrices=False)
    return vt[sv > max(1e-8 * sv[0], 0.0)]


def agreement_weights(
    M: np.ndarray, prior: float = 0.75, target: np.ndarray | None = None
) -> np.ndarray:
    """Per-query component weights from a one-factor model of the similarity covariances.

    For one query, let ``M[a, b]`` be the covariance over the catalog of its
    similarities to components a and b, ``σ_c = sqrt(M[c, c])`` and ``R`` the
    correlation matrix. The one-factor model ``z_c = λ_c r + ε_c``
    (Spearman 1904) is fitted by principal-axis factoring: the communalities
    ``h_c`` replace the diagonal of ``R``, the loadings are the leading
    eigenvector scaled by the root of its eigenvalue, ``h_c = λ_c²``, repeated
    to convergence (``h_c`` kept in [0.001, 0.995]; a tied leading
    eigenvalue, or loadings summing to zero, mean no common factor, and
    equal weights). Bartlett's (1937) factor
    score weights, on the raw similarity scale, are then
    ``u_c = max(λ_c, 0) / ((1 − h_c) σ_c)`` — the minimum-variance unbiased
    estimate of ``r`` — and the returned weights are
    ``w_c = (1 − prior) u_c / Σ u + prior t_c``: shrunk toward the target
    weights ``t`` (equal weights ``1/C`` unless given).

    With two components the model is not identified and the loadings are
    equal (``λ = sqrt(r_ab)``); with one, the weight is 1. A component whose
    similarities do not vary (``σ_c = 0``) gets only the prior's share; when
    no component loads positively, the weights are the target.

    Parameters
    ----------
    M : ndarray of shape (Q, C, C)
        Similarity covariances per query (symmetric, non-negative diagonal).
    prior : float in [0, 1], default=0.75
        Weight of the target in the mixture.
    target : ndarray of shape (C,), optional
        Non-negative weights summing to 1; ``None`` is equal weights.

    Returns
    -------
    ndarray of shape (C, Q)
        Non-negative weights summing to 1 for each query.
    """
    M = np.asarray(M, dtype=np.float64)
    C = M.shape[1]
    t = np.full(C, 1.0 / C) if target is None else np.asarray(target, dtype=np.float64)
    return _shrink(_factor_shares(M), prior, t)


def _shrink(shares: np.ndarray, prior: float, target: np.ndarray) -> np.ndarray:
    """``(1 − prior) u + prior t`` per query, ``t`` where ``u`` is undefined; shape (C, Q)."""
    u = np.where(np.isnan(shares), target, shares)
    return ((1.0 - prior) * u + prior * target).T


def _factor_shares(M: np.ndarray) -> np.ndarray:
    """The normalised Bartlett weights ``u_c / Σu`` of :func:`agreement_weights`.

    Returns
    -------
    ndarray of shape (Q, C)
        Rows summing to 1, or NaN rows for queries without a common factor
        (their weights are then the target).
    """
    M = np.asarray(M, dtype=np.float64)
    Q, C, _ = M.shape
    if C == 1:
        return np.ones((Q, 1))
    sd = np.sqrt(np.maximum(np.einsum("qcc->qc", M), 0.0))
    live = sd > 0
    safe = np.where(live, sd, 1.0)
    R = M / (safe[:, :, None] * safe[:, None, :])
    R[~(live[:, :, None] & live[:, None, :])] = 0.0
    off = np.abs(R - np.eye(C) * np.einsum("qcc->qc", R)[:, :, None])
    h = np.clip(off.max(axis=2), _H_MIN, _H_MAX)
    idx = np.arange(C)
    lam = np.zeros((Q, C))
    vals = np.zeros((Q, C))
    # Iterate each query until its own communalities settle (to 1e-9): the
    # queries are independent, so those that converged leave the batch.
    active = np.arange(Q)
    for _ in range(_FACTOR_ITERATIONS):
        Rr = R[active]
        Rr[:, idx, idx] = h[active]
        vals_a, vecs = np.linalg.eigh(Rr)
        lam_a = vecs[:, :, -1] * np.sqrt(np.maximum(vals_a[:, -1], 0.0))[:, None]
        lam_a *= np.where(lam_a.sum(axis=1) < 0, -1.0, 1.0)[:, None]
        h_new = np.clip(lam_a**2, _H_MIN, _H_MAX)
        settled = np.abs(h_new - h[active]).max(axis=1) <= 1e-9
        lam[active], vals[active], h[active] = lam_a, vals_a, h_new
        active = active[~settled]
        if active.size == 0:
            break
    u = np.where(live, np.maximum(lam, 0.0) / ((1.0 - h) * safe), 0.0)
    # A tied leading eigenvalue (no common factor, e.g. uncorrelated profiles)
    # leaves the loadings undetermined: fall back to the target.
    # So does a factor whose loadings cancel (Σλ = 0: its sign is undetermined).
    tied = vals[:, -1] - vals[:, -2] <= _DEGENERATE * np.maximum(np.abs(vals[:, -1]), 1e-12)
    unsigned = np.abs(lam.sum(axis=1)) <= _DEGENERATE * np.abs(lam).sum(axis=1)
    u[tied | unsigned] = 0.0
    total = u.sum(axis=1, keepdims=True)
    return np.divide(u, total, out=np.full_like(u, np.nan), where=total > 0)


def impute_components(catalog: Catalog) -> Catalog:
    """A copy of the catalog with every absent component predicted from the present ones.

    For each component c and each set P of components present on items that
    lack c, a ridge regression from the concatenated (centred) components P
    to component c is fitted on the items having c and all of P, with penalty
    ``α = trace(XᵀX) / p`` (the mean eigenvalue of the design's Gram matrix,
    so the shrinkage does not depend on N or on the embedding scale); the
    prediction is L2-normalised like any embedding. Items whose pattern has
    no training item get the component's mean direction. A catalog without
    missing components is returned unchanged; the copy is kept with the
    catalog's derived data.

    Returns
    -------
    Catalog
        In memory, with every component present for every item; ids,
        encoder fingerprints, modalities and lexical components (not
        imputed) are kept.
    """
    if not catalog.has_missing:
        return catalog
    imputed: Catalog = catalog._derived().get_or_build(
        _IMPUTED_KEY, lambda: _impute_components(catalog)
    )
    return imputed


def _impute_components(catalog: Catalog) -> Catalog:
    mask = catalog.mask
    mats = [np.asarray(E, dtype=np.float32) for E in catalog.matrices()]
    filled = []
    for c, E in enumerate(mats):
        out = np.array(E, dtype=np.float32)
        lacking = np.flatnonzero(~mask[c])
        if lacking.size:
            patterns = np.unique(mask[:, lacking].T, axis=0)
            for pattern in patterns:
                preds = np.flatnonzero(pattern)
                rows = lacking[(pattern == mask[:, lacking].T).all(axis=1)]
                train = mask[c] & mask[preds].all(axis=0)
                if preds.size == 0 or not train.any():
                    target = catalog.means[c] / max(np.linalg.norm(catalog.means[c]), 1e-12)
                    out[rows] = target.astype(np.float32)
                    continue
                X = np.hstack([mats[p][train] for p in preds]).astype(np.float64)
                Y = E[train].astype(np.float64)
                x0, y0 = X.mean(axis=0), Y.mean(axis=0)
                X -= x0
                G = X.T @ X
                alpha = max(np.trace(G) / G.shape[0], 1e-12)
                G[np.diag_indices_from(G)] += alpha
                coef = np.linalg.solve(G, X.T @ (Y - y0))
                P = np.hstack([mats[p][rows] for p in preds]).astype(np.float64) - x0
                pred = P @ coef + y0
                norms = np.linalg.norm(pred, axis=1, keepdims=True)
                out[rows] = (pred / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        filled.append(out)
    return Catalog.from_arrays(
        dict(zip(catalog.names, filled, strict=True)),
        ids=catalog.ids,
        encoder_ids=catalog.encoder_ids,
        modalities=catalog.modalities,
        lexical=catalog.lexical or None,
    )


def per_query_fused_cosine(S: np.ndarray, K: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``cos(q, Σ_c w_c(q) e_ic)`` for weights shared by all items of a query.

    The squared norm of the fused vector is ``Σ_ab w_a(q) w_b(q) K_i[a, b]``:
    one (Q, C²) × (C², B) matrix product per block.

    Parameters
    ----------
    S : ndarray of shape (C, Q, B)
    K : ndarray of shape (C, C, B)
    W : ndarray of shape (C, Q)

    Returns
    -------
    ndarray of shape (Q, B), float32
        NaN where the fused vector is zero.
    """
    C, Q, B = S.shape
    Wf = W.astype(np.float32, copy=False)
    num = np.einsum("cq,cqb->qb", Wf, S)
    pairs = (Wf[:, None, :] * Wf[None, :, :]).reshape(C * C, Q).T
    den = pairs @ np.asarray(K, dtype=np.float32).reshape(C * C, B)
    np.maximum(den, 0.0, out=den)
    np.sqrt(den, out=den)
    with np.errstate(divide="ignore", invalid="ignore"):
        num /= den
    num[den == 0] = np.nan
    return num


class _PerQueryWeights:
    """Block scorer with one weight vector per query (shared by all items)."""

    def __init__(self, weights: np.ndarray):
        self.weights = np.asarray(weights, dtype=np.float32)

    def for_queries(self, qs: slice) -> Any:
        W = self.weights[:, qs]

        def scorer(S: np.ndarray, K: np.ndarray) -> np.ndarray:
            return per_query_fused_cosine(S, K, W)

        return scorer


class AgreementFusion(BaseVectorFusion):
    """Vector fusion with per-query weights from how the components agree (label-free default).

    For query q, let ``p = q − B Bᵀ q`` be its part orthogonal to the span of
    the components' mean embeddings (``B``, :func:`centroid_basis`;
    ``debias=False`` keeps ``p = q``). ``M_ab(q) = pᵀ Σ_ab p`` is the exact
    covariance over the catalog of p's similarities to components a and b
    (from the catalog's cross-covariances, :func:`similarity_covariances`). A
    one-factor model of ``M(q)`` — every component's similarity profile reads
    one common relevance signal plus its own noise — gives loadings ``λ_c``
    and communalities ``h_c``; Bartlett's factor-score weights
    ``u_c ∝ λ_c / ((1 − h_c) σ_c)``, shrunk by ``prior`` toward target
    weights ``t`` (``prior_weights``, equal by default), are the query's
    component weights ``w(q) = (1 − prior) u / Σu + prior t``
    (:func:`agreement_weights`), and the query itself (not p) is scored:

    ``score(q, i) = cos(q, Σ_c w_c(q) e_ic) = Σ_c w_c(q) s_ic / sqrt(w(q)ᵀ K_i w(q))``

    in Gram form (docs/strategies.md). Items lacking a component are first completed
    by a ridge regression from the components they have
    (:func:`impute_components`, ``impute="regression"``) or fused over the
    components they have (``impute=None``).

    Why: a component that carries relevance co-varies with the other
    components across the catalog for that query; one that does not (an
    author list for a topical query, a noisy field) has low loadings and
    large unique variance. The weights are per query and per component, not
    per item, so an item cannot be lifted by one noisy component (the soft
    maximum of the original hybrid strategy), and they are invariant to a
    component's level: adding a constant to every ``s_ic`` of a component
    (the CLIP modality gap; Liang et al. 2022, *Mind the gap*) changes no
    covariance. The projection removes what the gap does to the spread: a
    text query lies near the text centroid, so an image's position along the
    centroid directions shifts its similarity to *every* query alike; that
    variation is not evidence of relevance to this query, yet it inflated the
    image's unique variance and cost it weight (measured in
    ``docs/strategy_benchmark.md``). Imputation stops items without, say, an
    image from being ranked on text alone, whose cosines sit above text–image
    ones. Factor analysis: Spearman (1904); principal-axis factoring and
    Bartlett (1937) factor scores as in Harman, *Modern Factor Analysis*
    (1976).

    Without judged queries use the defaults. With them, use
    :class:`AgreementFusionCV`, which chooses ``prior_weights`` and ``prior``
    on them (or tune the two with ``GridSearchCV``): at ``prior=1`` the
    strategy is :class:`WeightedFusion` with ``prior_weights`` on the imputed
    catalog, so the search contains every fixed weighting.

    Parameters
    ----------
    catalog : Catalog
    prior : float in [0, 1], default=0.75
        Shrinkage of the factor weights toward ``prior_weights``: 0 trusts
        the factor model alone, 1 uses the target weights for every query
        (:class:`AverageFusion`, or :class:`WeightedFusion`, on the imputed
        catalog). The default was chosen as the label-free setting that was
        never significantly worse than the original hybrid strategy on any
        benchmark catalog (``benchmarks/bench_label_free.py``, see
        ``docs/strategy_benchmark.md``).
    prior_weights : sequence of float, mapping of str to float, or None, default=None
        The target weights, one non-negative weight per component (in
        component order or by name; normalised to sum to 1). ``None`` is
        equal weights, the label-free choice.
    debias : bool, default=True
        Estimate the weights from the query's part orthogonal to the
        components' mean embeddings (see above); ``False`` uses the query as
        it is (the behaviour before this option), as does a query lying in
        the span of the means (in practice only when ``dim <= C``).
    impute : {"regression"} or None, default="regression"
        How items lacking a component are handled: predicted from their
        other components, or fused over the components they have.
    block_size : int, optional
    scoring : str, default="ndcg@10"
    backend : {"auto", "numpy", "torch"}, default="auto"
        Scoring backend (see :doc:`/backends`).
    device : str, optional
        Torch device for ``backend="torch"``.
    approximate : bool or "auto", default=False
        Take :meth:`kneighbors` candidates from the catalog's ANN index
        (:meth:`skfusion.Catalog.build_index`) and re-score them exactly.
        ``"auto"``: exact search when the catalog has no index or exact
        search of the batch is estimated cheaper (see :doc:`/approximate`).
    n_candidates : int or None, default=None
        Candidates per query taken from each index when ``approximate``.
        None: the count calibrated by ``build_index(target_recall=...)``,
        else 300.

    Attributes
    ----------
    global_weights_ : ndarray of shape (n_components,)
        The target weights ``t`` (the weights are per query: see
        :meth:`query_weights`).
    imputed_catalog_ : Catalog
        The catalog scored: ``catalog`` itself, or its imputed copy (then
        :meth:`explain` and :meth:`fused_embeddings` show imputed components
        as present, with their similarity to the imputed vector).

    Examples
    --------
    >>> from skfusion import AgreementFusion, Catalog
    >>> from skfusion.datasets import make_catalog
    >>> data = make_catalog(500, 20, random_state=0)
    >>> cat = Catalog.from_arrays(data.components, masks=data.masks)
    >>> est = AgreementFusion(cat).fit()
    >>> est.query_weights(data.queries[:2]).shape
    (2, 3)
    """

    _parameter_constraints: dict[str, list[Any]] = {
        **BaseVectorFusion._parameter_constraints,
        "prior": [Interval(Real, 0, 1, closed="both")],
        "prior_weights": ["array-like", dict, None],
        "debias": ["boolean"],
        "impute": [StrOptions({"regression"}), None],
    }

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        prior: float = 0.75,
        prior_weights: Any = None,
        debias: bool = True,
        impute: str | None = "regression",
        block_size: int | None = None,
        scoring: str = "ndcg@10",
        backend: str = "auto",
        device: str | None = None,
        approximate: bool = False,
        n_candidates: int | None = None,
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
        self.prior = prior
        self.prior_weights = prior_weights
        self.debias = debias
        self.impute = impute

    def _fit_weights(self, catalog: Catalog) -> np.ndarray:
        target = (
            np.full(catalog.n_components, 1.0 / catalog.n_components)
            if self.prior_weights is None
            else check_weights(self.prior_weights, catalog.names, "prior_weights")
        )
        self._prepare_catalog(catalog)
        return target

    def _prepare_catalog(self, catalog: Catalog, impute: str | None = "param") -> None:
        """Impute (or not) and compute the similarity covariances, once, at fit time.

        ``impute`` overrides the parameter of the same name (``"param"``: use it).
        """
        how = self.impute if impute == "param" else impute
        self.imputed_catalog_ = impute_components(catalog) if how == "regression" else catalog
        self._imputed_from = self.catalog
        similarity_covariances(self.imputed_catalog_)

    def _checked_catalog(self) -> Catalog:
        base = super()._checked_catalog()
        # Score the imputed copy, but only one made from the current catalog.
        if getattr(self, "_imputed_from", None) is base:
            imputed: Catalog = self.imputed_catalog_
            return imputed
        return base

    def query_weights(self, X: Any) -> np.ndarray:
        """The component weights ``w_c(q)`` of each query.

        Parameters
        ----------
        X : array-like of shape (n_queries, dim)
            Unit-norm query embeddings.

        Returns
        -------
        ndarray of shape (n_queries, n_components)
            Non-negative, summing to 1 per query.
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        return self._query_weights(self._validate_queries(X)).T

    def _query_weights(self, queries: np.ndarray) -> np.ndarray:
        return _shrink(self._query_shares(queries), self._prior_share(), self.global_weights_)

    def _prior_share(self) -> float:
        """The shrinkage toward the target weights used when scoring."""
        return float(self.prior)

    def _query_shares(self, queries: np.ndarray) -> np.ndarray:
        """The normalised factor weights of these queries, (Q, C); cached per catalog."""
        catalog = self._checked_catalog()
        raw = np.ascontiguousarray(queries)
        digest = hashlib.blake2b(raw.data, digest_size=16).digest()
        key = (bool(self.debias), raw.dtype.str, raw.shape, digest)
        cache: _SharesCache = catalog._derived().get_or_build(_SHARES_KEY, _SharesCache)
        shares = cache.get(key)
        if shares is None:
            q = np.asarray(raw, dtype=np.float64)
            if self.debias:
                basis = centroid_basis(catalog)
                p = q - (q @ basis.T) @ basis
                # A query inside the centroids' span (in practice only when
                # dim <= C) has nothing left to project: use it as it is.
                inside = np.linalg.norm(p, axis=1) <= 1e-6 * np.linalg.norm(q, axis=1)
                q = np.where(inside[:, None], q, p)
            cov = similarity_covariances(catalog)
            shares = _factor_shares(np.einsum("qd,abde,qe->qab", q, cov, q, optimize=True))
            shares.flags.writeable = False
            cache.put(key, shares)
        return shares

    def _scorer_for(self, queries: np.ndarray) -> Any:
        return _PerQueryWeights(self._query_weights(queries))

    def _query_item_weights(self, q: np.ndarray, S: np.ndarray) -> np.ndarray:
        return self._query_weights(q)[:, :, None]  # (C, 1, 1): one weight per component
