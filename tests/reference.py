"""A literal implementation of the original three strategies, for parity tests.

Deliberately naive and independent of skfusion: float64, an N×N cosine
matrix for the global weights, one fused vector per (query, item) built in a
Python loop, then a cosine. It follows the write-up's formulas word for word
(DESIGN.md §1) and is only usable for small N.
"""

from __future__ import annotations

import math

import numpy as np


def cosine(u: np.ndarray, v: np.ndarray) -> float:
    nu, nv = math.sqrt(float(u @ u)), math.sqrt(float(v @ v))
    if nu == 0 or nv == 0:
        return float("nan")
    return float(u @ v) / (nu * nv)


def literal_global_weights(components: np.ndarray) -> np.ndarray:
    """G_c: mean of the full N×N cosine matrix of each component (diagonal included)."""
    out = []
    for E in np.asarray(components, dtype=np.float64):
        n = E.shape[0]
        total = 0.0
        for i in range(n):
            for j in range(n):
                total += cosine(E[i], E[j])
        out.append(total / (n * n))
    return np.array(out)


def literal_scores(
    strategy: str,
    queries: np.ndarray,
    components: np.ndarray,
    *,
    weights: list[float] | None = None,
    negative: str = "clamp",
) -> np.ndarray:
    """cos(q, f_i) for every query and item, building each fused vector."""
    comps = np.asarray(components, dtype=np.float64)
    qs = np.asarray(queries, dtype=np.float64)
    C, N, _ = comps.shape
    G = literal_global_weights(comps) if strategy == "hybrid" else None
    out = np.empty((qs.shape[0], N))
    for qi, q in enumerate(qs):
        for i in range(N):
            if strategy == "average":
                w = [1.0 / C] * C
            elif strategy == "weighted":
                assert weights is not None
                total = sum(weights)
                w = [x / total for x in weights]
            else:
                assert G is not None
                sims = [cosine(q, comps[c, i]) for c in range(C)]
                if negative == "clamp":
                    W = [G[c] * max(sims[c], 0.0) for c in range(C)]
                    if sum(W) == 0:
                        W = list(G)
                else:
                    W = [G[c] * sims[c] for c in range(C)]
                total = sum(W)
                if total == 0:
                    out[qi, i] = float("nan")
                    continue
                w = [x / total for x in W]
            fused = sum(w[c] * comps[c, i] for c in range(C))
            out[qi, i] = cosine(q, fused)
    return out
