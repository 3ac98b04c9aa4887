"""Functional API: fuse and score plain arrays without building a Catalog."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._gram import component_mean, global_weights_from_means
from .._validation import check_unit_rows, row_sq_norms
from ..catalog import Catalog
from ._registry import get_strategy


def _as_components(components: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    mats = [np.ascontiguousarray(E, dtype=np.float32) for E in components]
    if not mats:
        raise ValueError("components is empty: pass a (C, N, d) array or C arrays of (N, d).")
    shape = mats[0].shape
    for c, E in enumerate(mats):
        if E.ndim != 2 or E.shape != shape:
            raise ValueError(
                f"components[{c}] has shape {E.shape}; every component must be (N, d) with "
                f"the shape of components[0], {shape}."
            )
    if shape[0] == 0:
        raise ValueError("components hold no items.")
    return mats


def _catalog(components: np.ndarray | Sequence[np.ndarray], mask: Any = None) -> Catalog:
    mats = _as_components(components)
    names = [str(c) for c in range(len(mats))]
    masks = None
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != (len(mats), mats[0].shape[0]) or m.dtype != np.bool_:
            raise ValueError(
                f"mask must be a boolean array of shape (C, N) = ({len(mats)}, "
                f"{mats[0].shape[0]}), got dtype {m.dtype} and shape {m.shape}."
            )
        masks = {n: m[c] for c, n in enumerate(names)}
    try:
        return Catalog(dict(zip(names, mats, strict=True)), masks=masks)
    except ValueError as exc:
        # Name components as the caller passed them: components[1], not Component '1'.
        raise ValueError(re.sub(r"[Cc]omponent '(\d+)'", r"components[\1]", str(exc))) from None


def global_weights(
    components: np.ndarray | Sequence[np.ndarray], *, mask: Any = None
) -> np.ndarray:
    """Global weight ``G_c`` of each component: its mean pairwise cosine over all N² pairs.

    Computed as ``‖(1/N_c) Σ_i e_ic‖²`` (docs/strategies.md) in O(N·d), which equals
    the mean of the N×N cosine matrix (diagonal included) for unit rows.

    Parameters
    ----------
    components : ndarray of shape (C, N, d) or sequence of C arrays (N, d)
        Unit-norm component embeddings.
    mask : ndarray of bool of shape (C, N), optional
        Which items have each component; the mean runs over those items.

    Returns
    -------
    ndarray of shape (C,), float64
    """
    if mask is None:
        mats = _as_components(components)
        return global_weights_from_means(np.stack([component_mean(E) for E in mats]))
    return _catalog(components, mask).global_weights()


def score(
    strategy: str,
    queries: np.ndarray,
    components: np.ndarray | Sequence[np.ndarray],
    *,
    mask: Any = None,
    **params: Any,
) -> np.ndarray:
    """Score queries against items with a named strategy.

    Parameters
    ----------
    strategy : str
        A name from the registry: ``"average"``, ``"weighted"``,
        ``"hybrid"``, ``"combsum"``, ``"combmax"``, ``"combmnz"``, ``"rrf"``,
        ``"calibrated"`` (see :data:`STRATEGIES`).
    queries : ndarray of shape (Q, d)
        Unit-norm query embeddings.
    components : ndarray of shape (C, N, d) or sequence of C arrays (N, d)
        Unit-norm component embeddings of N items (rows of absent
        components all zero or all NaN).
    mask : ndarray of bool of shape (C, N), optional
        Which items have each component (True = present); by default every
        row that is not all-NaN is present.
    **params
        The strategy's parameters, e.g. ``weights`` (sequence of C) for
        ``"weighted"``, ``negative`` for ``"hybrid"``, ``k`` and ``depth``
        for ``"rrf"``, ``normalization`` for the Comb* strategies.

    Returns
    -------
    ndarray of shape (Q, N), float32
        Each strategy's scores; vector fusion gives ``cos(q, f_i)`` (-inf
        where the fused vector is zero), candidate-list strategies (RRF,
        CombMNZ) give 0 to items in no list.
    """
    spec = get_strategy(strategy)
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        raise ValueError(
            f"Strategy {strategy!r} takes parameters {list(spec.params)}; got unknown {unknown}."
        )
    missing = [p for p in spec.required if p not in params]
    if missing:
        raise ValueError(f"Strategy {strategy!r} needs parameter(s) {missing}.")
    catalog = _catalog(components, mask)
    Q = np.ascontiguousarray(queries, dtype=np.float32)
    if Q.ndim != 2 or Q.shape[1] != catalog.dim:
        raise ValueError(
            f"queries must be (Q, {catalog.dim}) to match the components, got {Q.shape}."
        )
    check_unit_rows(row_sq_norms(Q), what="queries")
    estimator = spec.estimator(catalog, **params)
    return estimator.fit().decision_function(Q)
