"""A literal implementation of the original three strategies, for parity tests.

Deliberately naive and independent of skfusion: float64, an N×N cosine
matrix for the global weights, one fused vector per (query, item) built in a
Python loop, then a cosine. It follows the write-up's formulas word for word
(docs/strategies.md) and is only usable for small N.
"""

from __future__ import annotations

import math

import numpy as np


def cosine(u: np.ndarray, v: np.ndarray) -> float:
    nu, nv = math.sqrt(float(u @ u)), math.sqrt(float(v @ v))
    if nu == 0 or nv == 0:
        return float("nan")
    return float(u @ v) / (nu * nv)


def literal_global_weights(components: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """G_c: mean of the N_c×N_c cosine matrix of each component over the items that have it."""
    comps = np.asarray(components, dtype=np.float64)
    out = []
    for c, E in enumerate(comps):
        rows = [i for i in range(E.shape[0]) if mask is None or mask[c, i]]
        total = 0.0
        for i in rows:
            for j in rows:
                total += cosine(E[i], E[j])
        out.append(total / (len(rows) * len(rows)))
    return np.array(out)


def literal_scores(
    strategy: str,
    queries: np.ndarray,
    components: np.ndarray,
    *,
    weights: list[float] | None = None,
    negative: str = "clamp",
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """cos(q, f_i) for every query and item, building each fused vector.

    With a (C, N) boolean ``mask``, each item's fused vector is built from
    the components it has, and the weights are renormalised over them.
    """
    comps = np.asarray(components, dtype=np.float64)
    qs = np.asarray(queries, dtype=np.float64)
    C, N, _ = comps.shape
    G = literal_global_weights(comps, mask) if strategy == "hybrid" else None
    out = np.empty((qs.shape[0], N))
    for qi, q in enumerate(qs):
        for i in range(N):
            have = [c for c in range(C) if mask is None or mask[c, i]]
            if strategy == "average":
                w = {c: 1.0 / len(have) for c in have}
            elif strategy == "weighted":
                assert weights is not None
                total = sum(weights[c] for c in have)
                w = {c: weights[c] / total for c in have}
            else:
                assert G is not None
                sims = {c: cosine(q, comps[c, i]) for c in have}
                if negative == "clamp":
                    W = {c: G[c] * max(sims[c], 0.0) for c in have}
                    if sum(W.values()) == 0:
                        W = {c: G[c] for c in have}
                else:
                    W = {c: G[c] * sims[c] for c in have}
                total = sum(W.values())
                if total == 0:
                    out[qi, i] = float("nan")
                    continue
                w = {c: x / total for c, x in W.items()}
            fused = sum(w[c] * comps[c, i] for c in have)
            out[qi, i] = cosine(q, fused)
    return out


def _present(mask: np.ndarray | None, c: int, i: int) -> bool:
    return mask is None or bool(mask[c, i])


def literal_similarities(queries: np.ndarray, components: np.ndarray) -> np.ndarray:
    """s[c, q, i] = cos(q, e_ic) by loops (NaN for zero rows)."""
    comps = np.asarray(components, dtype=np.float64)
    qs = np.asarray(queries, dtype=np.float64)
    C, N, _ = comps.shape
    S = np.empty((C, len(qs), N))
    for c in range(C):
        for qi, q in enumerate(qs):
            for i in range(N):
                S[c, qi, i] = cosine(q, comps[c, i])
    return S


def literal_normalized(S: np.ndarray, mask: np.ndarray | None, normalization: str) -> np.ndarray:
    """Normalise each (component, query) row over the items that have the component."""
    C, Q, N = S.shape
    out = np.full_like(S, np.nan)
    for c in range(C):
        for q in range(Q):
            vals = [S[c, q, i] for i in range(N) if _present(mask, c, i)]
            mu = sum(vals) / len(vals)
            sd = math.sqrt(sum((v - mu) ** 2 for v in vals) / len(vals))
            lo, hi = min(vals), max(vals)
            for i in range(N):
                if not _present(mask, c, i):
                    continue
                s = S[c, q, i]
                if normalization == "zscore":
                    out[c, q, i] = (s - mu) / sd
                elif normalization == "minmax":
                    out[c, q, i] = (s - lo) / (hi - lo)
                elif normalization == "dbsf":
                    out[c, q, i] = min(1.0, max(0.0, (s - (mu - 3 * sd)) / (6 * sd)))
                else:
                    out[c, q, i] = s
    return out


def literal_ranks(S: np.ndarray, mask: np.ndarray | None) -> list[list[dict[int, int]]]:
    """rank[c][q][item] (1-based) among items having c; ties to the lower position."""
    C, Q, N = S.shape
    out = []
    for c in range(C):
        per_q = []
        for q in range(Q):
            items = [i for i in range(N) if _present(mask, c, i)]
            items.sort(key=lambda i: (-S[c, q, i], i))
            per_q.append({item: r + 1 for r, item in enumerate(items)})
        out.append(per_q)
    return out


def literal_score_fusion(
    strategy: str,
    queries: np.ndarray,
    components: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    normalization: str = "zscore",
    weights: list[float] | None = None,
    depth: int = 100,
    k: float = 60.0,
) -> np.ndarray:
    """CombSUM / CombMAX / CombMNZ / RRF / calibrated, item by item."""
    S = literal_similarities(queries, components)
    C, Q, N = S.shape
    w = [1.0] * C if weights is None else list(weights)
    total_w = sum(w)
    w = [x / total_w for x in w]
    norm = literal_normalized(S, mask, normalization)
    ranks = literal_ranks(S, mask)
    out = np.zeros((Q, N))
    for q in range(Q):
        for i in range(N):
            have = [c for c in range(C) if _present(mask, c, i)]
            in_lists = [c for c in have if ranks[c][q][i] <= depth]
            if strategy == "combsum":
                out[q, i] = sum(w[c] * norm[c, q, i] for c in have)
            elif strategy == "combmax":
                out[q, i] = max(w[c] * norm[c, q, i] for c in have)
            elif strategy == "combmnz":
                out[q, i] = len(in_lists) * sum(w[c] * norm[c, q, i] for c in have)
            elif strategy == "rrf":
                out[q, i] = sum(w[c] / (k + ranks[c][q][i]) for c in in_lists)
            elif strategy == "calibrated":
                out[q, i] = sum(w[c] * norm[c, q, i] for c in have) / sum(w[c] for c in have)
            else:
                raise ValueError(strategy)
    return out
