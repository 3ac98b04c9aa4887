"""Tolerances for comparing float32 results, derived from float32 arithmetic.

Two float32 evaluations of the same score need not agree bit for bit: the BLAS
kernel (and so the summation order, FMA or not) depends on the CPU, on
``OPENBLAS_CORETYPE``, on the matrix shape (block size, query batch size), on
BLAS's own thread count and on the backend. Comparisons between such
evaluations use the bounds below; comparisons that must be bit-identical use
``assert_array_equal`` and hold only under the conditions listed in
docs/backends.md ("Reproducibility: when results are bit-identical").

Derivation (u = 2⁻²⁴ is float32's unit roundoff, ``EPS32`` = 2u = 2⁻²³):

1. A sum of n products ``s = Σ_k x_k y_k`` computed in float32 in *any* order,
   with or without fused multiply-adds, satisfies
   ``|fl(s) − s| ≤ γ_n Σ_k |x_k y_k|`` with ``γ_n = n·u / (1 − n·u)``
   (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., §3.1).
   Two evaluations therefore differ by at most ``2γ_n Σ|x_k y_k| ≈ n·EPS32·scale``
   where ``scale ≥ Σ|x_k y_k|``: for unit vectors ``scale = 1`` (Cauchy–Schwarz).
   That is :func:`f32_atol`. Against a float64 reference only one side rounds,
   so the same bound holds with a factor 2 to spare.
2. A fused cosine ``Σ_c w_c s_c / ‖Σ_c w_c e_c‖``: each similarity moves by at
   most ``δ = f32_atol(dim)``, so the numerator by ``δ Σ|w_c|``; the C-term sum,
   the square root and the division add a few roundings each ≤ u relative. With
   ``ρ = ‖Σ_c w_c e_c‖ / Σ_c |w_c|`` (≤ 1; the fused vector's norm per unit of
   weight, smallest over the items) the cosine moves by at most
   ``f32_atol(dim + C + 4) / ρ``. Query-aware weights (hybrid, agreement) also
   move with the similarities; ``|∂ cos / ∂w_c| ≤ 2 / ‖Σ w e‖`` doubles the bound.
   That is :func:`fused_atol`.
3. ``RTOL32`` covers the last few relative roundings of values whose magnitude
   is not bounded by 1 (z-scores, sums of several components).

For a d = 8 catalog (ρ ≈ 0.3) the bound is about 1e-5: loose next to the
observed differences (1e-8 to 1e-7), tight next to any real error (a wrong
weight or a wrong item moves scores by 1e-3 or more).
"""

from __future__ import annotations

import numpy as np

#: float32 machine epsilon, 2⁻²³ (twice the unit roundoff).
EPS32 = float(np.finfo(np.float32).eps)

#: Relative tolerance for the last few roundings of a float32 value.
RTOL32 = 4 * EPS32


def f32_atol(n_terms: int, scale: float = 1.0) -> float:
    """Largest difference between two float32 evaluations of a sum of ``n_terms`` products.

    ``2γ_n · scale`` with ``γ_n = n·u / (1 − n·u)`` (see the module docstring);
    ``scale`` bounds ``Σ_k |x_k y_k|``: 1 for two unit vectors.
    """
    u = EPS32 / 2
    return 2 * n_terms * u / (1 - n_terms * u) * scale


def gram_of(components: np.ndarray) -> np.ndarray:
    """(C, C, N) Gram entries ``e_ai · e_bi`` of (C, N, d) components, in float64."""
    E = np.asarray(components, dtype=np.float64)
    return np.einsum("and,bnd->abn", E, E)


def fused_norm_floor(gram: np.ndarray, weights: np.ndarray | None = None) -> float:
    """``ρ``: smallest ``‖Σ_c w_c e_ic‖ / Σ_c |w_c|`` over the items, from Gram entries.

    ``gram`` is a catalog's (C, C, N) Gram entries; ``weights`` default to equal
    weights. Items whose fused vector is zero (score undefined) are skipped.
    """
    K = np.asarray(gram, dtype=np.float64)
    C = K.shape[0]
    w = np.full(C, 1.0 / C) if weights is None else np.asarray(weights, dtype=np.float64)
    norm = np.sqrt(np.maximum(np.einsum("a,abn,b->n", w, K, w), 0.0))
    norm = norm[norm > 0]
    return float(norm.min() / np.abs(w).sum())


def fused_atol(
    dim: int,
    gram: np.ndarray,
    weights: np.ndarray | None = None,
    query_aware: bool = False,
) -> float:
    """Largest difference between two float32 evaluations of fused cosines (unit inputs).

    ``f32_atol(dim + C + 4) / ρ``, doubled for query-aware weights (module docstring, 2).
    """
    C = np.asarray(gram).shape[0]
    bound = f32_atol(dim + C + 4) / fused_norm_floor(gram, weights)
    return 2 * bound if query_aware else bound


def assert_same_topk(
    scores: np.ndarray,
    idx: np.ndarray,
    ref_scores: np.ndarray,
    ref_idx: np.ndarray,
    atol: float | np.ndarray,
    rtol: float = RTOL32,
) -> None:
    """Two (Q, k) top-k results of the same scores, computed with different rounding.

    The sorted scores agree within ``atol + rtol·|ref|`` (the k-th largest of values
    each moved by ≤ t moves by ≤ t). Items agree position by position, except that
    rounding may order items whose reference scores lie within twice that of each
    other either way, including one at the k-th place with one just outside the list.
    """
    scores, idx = np.asarray(scores), np.asarray(idx)
    ref_scores, ref_idx = np.asarray(ref_scores), np.asarray(ref_idx)
    bound = np.broadcast_to(atol, ref_scores.shape) + rtol * np.abs(ref_scores)
    with np.errstate(invalid="ignore"):  # -inf - -inf
        bad = ~((scores == ref_scores) | (np.abs(scores - ref_scores) <= bound))
    assert not bad.any(), (scores[bad], ref_scores[bad], bound[bad])
    tol = 2 * bound
    for r, c in zip(*np.nonzero(idx != ref_idx), strict=True):
        where = np.flatnonzero(ref_idx[r] == idx[r, c])
        j = where[0] if where.size else ref_idx.shape[1] - 1  # outside: swapped in at the end
        assert abs(ref_scores[r, j] - ref_scores[r, c]) <= tol[r, c], (
            f"query {r}, rank {c}: item {idx[r, c]} instead of {ref_idx[r, c]}, "
            f"reference scores {ref_scores[r, j]} and {ref_scores[r, c]} are not a near tie"
        )
