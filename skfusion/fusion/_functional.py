"""Functional API: fuse and score plain arrays without building a Catalog."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._gram import component_mean, global_weights_from_means, item_gram
from .._validation import check_unit_rows, row_sq_norms
from ._engine import dense_scores, fused_cosine
from ._registry import get_strategy
from .weighted import check_weights


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


def global_weights(components: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """Global weight ``G_c`` of each component: its mean pairwise cosine over all N² pairs.

    Computed as ``‖(1/N) Σ_i e_ic‖²`` (DESIGN.md §2) in O(N·d), which equals
    the mean of the N×N cosine matrix (diagonal included) for unit rows.

    Parameters
    ----------
    components : ndarray of shape (C, N, d) or sequence of C arrays (N, d)
        Unit-norm component embeddings.

    Returns
    -------
    ndarray of shape (C,), float64
    """
    mats = _as_components(components)
    return global_weights_from_means(np.stack([component_mean(E) for E in mats]))


def score(
    strategy: str,
    queries: np.ndarray,
    components: np.ndarray | Sequence[np.ndarray],
    **params: Any,
) -> np.ndarray:
    """Score queries against items fused by a named strategy.

    Parameters
    ----------
    strategy : {"average", "weighted", "hybrid"}
        A name from the strategy registry.
    queries : ndarray of shape (Q, d)
        Unit-norm query embeddings.
    components : ndarray of shape (C, N, d) or sequence of C arrays (N, d)
        Unit-norm component embeddings of N items.
    **params
        Strategy parameters: ``weights`` (sequence of C) for ``"weighted"``,
        ``negative`` (``"clamp"`` or ``"literal"``) for ``"hybrid"``.

    Returns
    -------
    ndarray of shape (Q, N), float32
        ``cos(q, f_i)`` for every query and item; -inf where the fused vector
        is zero.
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
    mats = _as_components(components)
    Q = np.ascontiguousarray(queries, dtype=np.float32)
    if Q.ndim != 2 or Q.shape[1] != mats[0].shape[1]:
        raise ValueError(
            f"queries must be (Q, {mats[0].shape[1]}) to match the components, got {Q.shape}."
        )
    check_unit_rows(row_sq_norms(Q), what="queries")
    gram = item_gram(mats)
    for c in range(len(mats)):
        check_unit_rows(gram[c, c], what=f"components[{c}]")
    kwargs = dict(params)
    if "weights" in kwargs:
        kwargs["weights"] = check_weights(kwargs["weights"], [str(c) for c in range(len(mats))])
    if spec.needs_global_weights:
        kwargs["global_weights"] = global_weights(mats)

    def scorer(S: np.ndarray, K: np.ndarray) -> np.ndarray:
        return fused_cosine(S, K, spec.weights(S, **kwargs))

    return dense_scores(Q, mats, gram, scorer)
