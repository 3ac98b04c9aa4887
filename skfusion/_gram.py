"""Catalog statistics that make fusion exact and cheap.

Two identities (docs/strategies.md) are used everywhere:

* The mean pairwise cosine of a component over the catalog (all N² pairs,
  diagonal included) equals the squared norm of the component's mean vector:
  ``G_c = ‖(1/N) Σ_i e_ic‖²``. It costs one pass over the data, not N².
* For any weights ``w`` the cosine between a unit query ``q`` and a fused item
  ``Σ_c w_c e_ic`` is ``Σ_c w_c s_ic / sqrt(wᵀ K_i w)``, where ``s_ic = q·e_ic``
  and ``K_i`` is the C×C Gram matrix of item i's components. With ``K``
  precomputed, no fused vector is ever built.

When fused vectors *are* built — the precomputed unit fused vectors of static
strategies (``skfusion/fusion/_static.py``) and the static fused ANN index
(``skfusion/catalog/_index.py``) — they come from :func:`fuse_range` here, so
both hold the very same float32 vectors for the same weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._validation import REDUCTION_BLOCK

_MEAN_BLOCK = 1 << 17
#: Rows centred in float64 at a time for the covariances (128 MiB at d = 512).
_COVARIANCE_BLOCK = 1 << 15


def component_mean(E: np.ndarray) -> np.ndarray:
    """Mean row of ``E`` (N, d), accumulated in float64 over float32 blocks.

    Each block is reduced by a BLAS matrix-vector product (fast, and exact
    enough within a block); blocks are summed in float64 so the error does not
    grow with N. Blocks are large because each BLAS call has a fixed cost
    (measured: 4,096-row blocks ran 10x slower than 131,072-row ones).
    """
    n = E.shape[0]
    acc = np.zeros(E.shape[1], dtype=np.float64)
    ones = np.ones(_MEAN_BLOCK, dtype=np.float32)
    for start in range(0, n, _MEAN_BLOCK):
        block = np.asarray(E[start : start + _MEAN_BLOCK], dtype=np.float32)  # float16: upcast
        acc += ones[: block.shape[0]] @ block
    return acc / n


def component_covariance(E: np.ndarray, mean: np.ndarray, present: np.ndarray) -> np.ndarray:
    """``(1/N_c) Σ_{i present} (e_i − m)(e_i − m)ᵀ`` (d, d) float64.

    Centring before the product avoids the cancellation of ``E[eeᵀ] − mmᵀ``
    when a component's rows are tightly clustered (a narrow cone): then the
    spread is tiny next to the mean and the difference of two large float32
    sums would lose it. Centring and products are in float64: a query's
    variance ``qᵀ Σ q`` can be far below ``‖Σ‖`` (the query nearly orthogonal
    to the spread), and float32 products lost it at a relative error of about
    ``d · eps32 · ‖Σ‖ / qᵀΣq`` (12% of σ on a 2-item component). Each block
    goes through BLAS ``dsyrk`` (a symmetric rank-k update: half the work of
    a general product; measured at 1.09× the time of float32 ``ssyrk`` on
    262,144 × 512 here).
    """
    from scipy.linalg.blas import dsyrk

    d = E.shape[1]
    m64 = np.asarray(mean, dtype=np.float64)
    acc = np.zeros((d, d), dtype=np.float64)
    for start in range(0, E.shape[0], _COVARIANCE_BLOCK):
        block = np.asarray(E[start : start + _COVARIANCE_BLOCK], dtype=np.float64) - m64
        block[~present[start : start + _COVARIANCE_BLOCK]] = 0.0  # absent rows add nothing
        acc += dsyrk(1.0, block.T, trans=0)  # block.T is Fortran-ordered: no copy
    upper = np.triu(acc)
    return (upper + np.triu(upper, 1).T) / int(present.sum())


def global_weights_from_means(means: np.ndarray) -> np.ndarray:
    """``G_c = ‖mean_c‖²`` for each row of ``means`` (C, d)."""
    means = np.asarray(means, dtype=np.float64)
    return np.einsum("cd,cd->c", means, means)


def item_gram(components: Sequence[np.ndarray]) -> np.ndarray:
    """Per-item Gram entries ``K[c, c', i] = e_ic · e_ic'``.

    Parameters
    ----------
    components : sequence of C arrays of shape (N, d)

    Returns
    -------
    ndarray of shape (C, C, N), float32
        Symmetric in its first two axes; the diagonal holds squared norms.
        The item axis is last so that a block of items is a contiguous slice.
    """
    C = len(components)
    n = components[0].shape[0]
    K = np.empty((C, C, n), dtype=np.float32)
    for start in range(0, n, REDUCTION_BLOCK):
        stop = min(start + REDUCTION_BLOCK, n)
        blocks = [np.asarray(E[start:stop], dtype=np.float32) for E in components]
        for a in range(C):
            for b in range(a, C):
                K[a, b, start:stop] = np.einsum("nd,nd->n", blocks[a], blocks[b])
                K[b, a, start:stop] = K[a, b, start:stop]
    return K


def static_sq_norms(K: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``wᵀ K_i w`` per item for one static weight vector, in float64.

    Parameters
    ----------
    K : ndarray of shape (C, C, B)
        Per-item Gram entries.
    w : ndarray of shape (C,)

    Returns
    -------
    ndarray of shape (B,), float64
        The squared norm of each item's fused vector ``Σ_c w_c e_ic``.
    """
    C = K.shape[0]
    out = np.zeros(K.shape[2], dtype=np.float64)
    for a in range(C):
        if w[a] == 0:
            continue
        out += (w[a] * w[a]) * K[a, a]
        for b in range(a + 1, C):
            if w[b] != 0:
                out += (2.0 * w[a] * w[b]) * K[a, b]
    return out


# -- fused vectors of static weights ------------------------------------------------------

#: Rows per block while building fused vectors: small enough for the block's passes (sum,
#: norm, scale) to stay in cache. Blocks start at multiples of it in every caller, so a row
#: is computed in the same block whoever asks for it.
FUSE_ROWS = 1024


def max_scaled(weights: Any) -> np.ndarray:
    """Static weights as float64 divided by their largest (the scale of fused weights is free).

    Applying it twice changes nothing (the largest becomes exactly 1), so
    callers that key caches by the scaled weights get the same vectors.
    """
    w = np.asarray(weights, dtype=np.float64)
    return w / w.max()  # keeps huge or tiny weights finite


def fuse_range(
    matrices: Sequence[np.ndarray],
    gram: np.ndarray,
    w: np.ndarray,
    start: int,
    stop: int,
    out: np.ndarray,
    defined: np.ndarray,
) -> None:
    """Unit fused vectors ``Σ_c w_c e_ic / ‖·‖`` of items ``[start, stop)``.

    The one computation of fused vectors (static fusion and the fused ANN
    index both call it): the weighted sum in float32 (float16 rows upcast),
    its norm accumulated in float64, a zero row where the Gram form says the
    fused vector is zero (``wᵀ K_i w <= 0``, every weighted component
    missing) or its norm is zero.

    Parameters
    ----------
    matrices : sequence of C ndarrays of shape (n_items, d)
    gram : ndarray of shape (C, C, n_items)
    w : ndarray of shape (C,), float64
        Non-negative weights, already :func:`max_scaled`.
    start, stop : int
        The item range; ``start`` a multiple of :data:`FUSE_ROWS`.
    out : ndarray of shape (stop - start, d), float32, writeable
        Receives the vectors.
    defined : ndarray of shape (stop - start,)
        Receives 1 where the vector is defined, 0 where it is not.
    """
    d = out.shape[1]
    w32 = w.astype(np.float32)
    active = [c for c in range(len(matrices)) if w[c] != 0]
    tmp = np.empty((min(FUSE_ROWS, stop - start), d), dtype=np.float32)
    for s in range(start, stop, FUSE_ROWS):
        e = min(s + FUSE_ROWS, stop)
        block, t = out[s - start : e - start], tmp[: e - s]
        first = True
        for c in active:
            src = matrices[c][s:e]
            if first:
                np.multiply(src, w32[c], out=block, casting="unsafe")
                first = False
            else:
                np.multiply(src, w32[c], out=t, casting="unsafe")
                block += t
        if first:
            block[...] = 0.0
        den2 = static_sq_norms(gram[:, :, s:e], w)  # as the Gram form decides
        np.multiply(block, block, out=t)
        norms = np.sqrt(t.sum(axis=1, dtype=np.float64))
        ok = (den2 > 0) & (norms > 0)
        scale = np.zeros(e - s, dtype=np.float64)
        np.divide(1.0, norms, out=scale, where=ok)
        block *= scale.astype(np.float32)[:, None]
        defined[s - start : e - start] = ok


def fused_matrix(
    matrices: Sequence[np.ndarray],
    gram: np.ndarray,
    weights: Any,
    *,
    out: np.ndarray | None = None,
    run: Callable[[int, int, Callable[[int, int], None]], Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Unit fused vectors of every item (:func:`fuse_range` over the whole catalog).

    Parameters
    ----------
    matrices : sequence of C ndarrays of shape (n_items, d)
        float32 or float16 component matrices.
    gram : ndarray of shape (C, C, n_items)
        Per-item Gram entries.
    weights : array-like of shape (C,)
        Non-negative static weights (scale-free: :func:`max_scaled` first).
    out : ndarray of shape (n_items, d), float32, optional
        Where to write the fused vectors.
    run : callable, optional
        ``run(n_items, size, work)`` calls ``work(start, stop)`` over item
        ranges aligned to ``size`` (for instance on threads); one call over
        every item when omitted.

    Returns
    -------
    fused : ndarray of shape (n_items, d), float32
        Zero rows where the fused vector is zero.
    defined : ndarray of shape (1, 1, n_items), float32
        1 where the fused vector is non-zero, else 0.
    """
    n, d = matrices[0].shape
    w = max_scaled(weights)
    fused = np.empty((n, d), dtype=np.float32) if out is None else out
    defined = np.zeros((1, 1, n), dtype=np.float32)

    def work(start: int, stop: int) -> None:
        fuse_range(matrices, gram, w, start, stop, fused[start:stop], defined[0, 0, start:stop])

    if run is None:
        work(0, n)
    else:
        run(n, FUSE_ROWS * 16, work)
    return fused, defined


def fused_rows(
    matrices: Sequence[np.ndarray],
    gram: np.ndarray,
    weights: Any,
    positions: np.ndarray,
    *,
    window: int = 1 << 16,
) -> np.ndarray:
    """Rows ``positions`` of ``fused_matrix(matrices, gram, weights)[0]``, bit for bit.

    Computed a window of at most ``window`` items at a time (windows start at
    multiples of :data:`FUSE_ROWS`, skipping blocks without a requested row),
    so the memory stays bounded by the window and the result.

    Parameters
    ----------
    positions : ndarray of shape (m,), int
        Item positions in increasing order.

    Returns
    -------
    ndarray of shape (m, d), float32
    """
    positions = np.asarray(positions, dtype=np.int64)
    n, d = matrices[0].shape
    out = np.empty((positions.size, d), dtype=np.float32)
    if positions.size == 0:
        return out
    if np.any(np.diff(positions) <= 0) or positions[0] < 0 or positions[-1] >= n:
        raise ValueError("positions must be increasing item positions.")
    w = max_scaled(weights)
    span = max(FUSE_ROWS, window // FUSE_ROWS * FUSE_ROWS)
    buffer = np.empty((min(span, n), d), dtype=np.float32)
    defined = np.empty(min(span, n), dtype=np.float32)
    first = 0
    while first < positions.size:
        start = int(positions[first]) // FUSE_ROWS * FUSE_ROWS
        stop = min(start + span, n)
        last = int(np.searchsorted(positions, stop))
        block = buffer[: stop - start]
        fuse_range(matrices, gram, w, start, stop, block, defined[: stop - start])
        out[first:last] = block[positions[first:last] - start]
        first = last
    return out
