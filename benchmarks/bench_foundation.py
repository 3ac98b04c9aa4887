"""Foundation benchmark: skfusion against the literal method and against the floor.

Prints ratios measured in one run on one machine and the same data:

(a) the literal original implementation (N×N×d broadcast for the global
    weights, one fused vector per query and item in a Python loop) against
    skfusion's ``HybridFusion`` (fit + scores) at growing N;
(b) global weights for N × 512 against the N×N definition (accuracy) and
    their time at N = 1,000,000;
(c) exact hybrid top-10 over N × 3 × 512 against the floor of the 3 bare
    matrix products ``Q @ E_c.T`` on the same arrays, and peak memory against
    the catalog's size.

Usage::

    python benchmarks/bench_foundation.py            # the full run (N = 1,000,000)
    python benchmarks/bench_foundation.py --quick    # N = 100,000, small literal sizes

Timing asserts never go in tests; this script is where targets are checked.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
from _common import best_of, unit_matrix

from skfusion import Catalog, HybridFusion
from skfusion.fusion._functional import global_weights


def literal_original(queries: np.ndarray, comps: list[np.ndarray]) -> np.ndarray:
    """The method as first written: N×N cosines by broadcasting, a loop over items."""
    G = []
    for E in comps:
        E64 = E.astype(np.float64)
        prod = E64[:, None, :] * E64[None, :, :]  # N × N × d
        G.append(prod.sum(-1).mean())
        del prod
    out = np.empty((queries.shape[0], comps[0].shape[0]))
    for qi, q in enumerate(queries.astype(np.float64)):
        for i in range(comps[0].shape[0]):
            vecs = [E[i].astype(np.float64) for E in comps]
            local = [float(q @ v) / (np.linalg.norm(q) * np.linalg.norm(v)) for v in vecs]
            W = [g * max(s, 0.0) for g, s in zip(G, local, strict=True)]
            if sum(W) == 0:  # skfusion's default "clamp" policy: fall back to G
                W = list(G)
            total = sum(W)
            fused = sum(w / total * v for w, v in zip(W, vecs, strict=True))
            out[qi, i] = float(q @ fused) / (np.linalg.norm(q) * np.linalg.norm(fused))
    return out


def part_a(sizes: list[int], d: int, n_queries: int) -> None:
    print(f"(a) literal original vs skfusion HybridFusion, C=3, d={d}, Q={n_queries}")
    print(f"{'N':>7} {'literal s':>11} {'skfusion s':>11} {'speed-up':>10} {'max |diff|':>11}")
    for n in sizes:
        rng = np.random.default_rng(n)
        comps = [
            unit_matrix(rng, n, d, rng.standard_normal(d).astype(np.float32) * 0.05)
            for _ in range(3)
        ]
        q = unit_matrix(rng, n_queries, d, np.zeros(d, dtype=np.float32))
        t0 = time.perf_counter()
        ref = literal_original(q, comps)
        t_lit = time.perf_counter() - t0

        def run(comps: list[np.ndarray] = comps, q: np.ndarray = q) -> np.ndarray:
            cat = Catalog.from_arrays({"title": comps[0], "desc": comps[1], "image": comps[2]})
            return HybridFusion(cat).fit().decision_function(q)

        got = run()
        t_sk = best_of(run, 5)
        diff = float(np.abs(got - ref).max())
        print(f"{n:>7} {t_lit:>11.3f} {t_sk:>11.5f} {t_lit / t_sk:>9.0f}x {diff:>11.2e}")


def part_b(n: int, d: int) -> None:
    rng = np.random.default_rng(1)
    E = unit_matrix(rng, 1000, d, rng.standard_normal(d).astype(np.float32) * 0.05)
    E64 = E.astype(np.float64)
    exact = (E64 @ E64.T).mean()
    fast = global_weights([E])[0]
    print(f"(b) global weight at N=1,000: |fast - N×N mean| = {abs(fast - exact):.2e}")
    big = unit_matrix(rng, n, d, rng.standard_normal(d).astype(np.float32) * 0.05)
    t = best_of(lambda: global_weights([big]), 3)
    print(f"    global weight of one {n:,} × {d} component: {t:.3f} s")


def part_c(n: int, d: int, query_counts: list[int]) -> None:
    rng = np.random.default_rng(2)
    comps = [
        unit_matrix(rng, n, d, rng.standard_normal(d).astype(np.float32) * 0.05) for _ in range(3)
    ]
    cat = Catalog.from_arrays({"title": comps[0], "desc": comps[1], "image": comps[2]})
    est = HybridFusion(cat).fit()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"(c) exact hybrid top-10 over {n:,} × 3 × {d} (catalog {cat.nbytes / 2**30:.2f} GiB)")
    print(f"{'Q':>5} {'floor s':>9} {'hybrid s':>9} {'ratio':>7} {'extra peak MiB':>15}")
    for nq in query_counts:
        q = unit_matrix(rng, nq, d, np.zeros(d, dtype=np.float32))

        def floor(q: np.ndarray = q) -> None:
            for E in comps:
                _ = q @ E.T

        t_floor = best_of(floor, 3)
        est.kneighbors(q, n_neighbors=10)
        t_hyb = best_of(lambda q=q: est.kneighbors(q, n_neighbors=10), 3)
        tracemalloc.start()
        est.kneighbors(q, n_neighbors=10)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"{nq:>5} {t_floor:>9.3f} {t_hyb:>9.3f} {t_hyb / t_floor:>6.2f}x {peak / 2**20:>15.1f}"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        f"    peak RSS of the whole process: {rss / 2**30:.2f} GiB = "
        f"{rss / cat.nbytes:.2f}x the catalog (before scoring: {rss_before / 2**30:.2f} GiB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = parser.parse_args()
    d = 512
    if args.quick:
        part_a([100, 300], d, 5)
        part_b(100_000, d)
        part_c(100_000, d, [1, 16])
    else:
        part_a([100, 300, 1000], d, 5)
        part_b(1_000_000, d)
        part_c(1_000_000, d, [1, 16, 128])


if __name__ == "__main__":
    main()
