"""Calibrated approximate search against exact search, on catalogs of different structure.

For each generator — ``make_catalog`` (CLIP-calibrated), isotropic noise,
clustered items, a heavy modality gap, and the testers' correlated components
(a shared low-rank signal plus noise) — it builds a float16 catalog of N
items × 3 components × 512 dimensions, builds its ANN index with
``build_index(target_recall=0.99)`` (calibrated on 256 more of the
generator's queries, disjoint from those evaluated, or with
``--calibrate-on pseudo`` on pseudo-queries drawn from the catalog), then
for each strategy (HybridFusion by default) measures on the generator's
held-out queries: recall@10 of ``approximate=True``
(``n_candidates=None``: the calibrated count) against exact search,
single-query time (median over ``--single`` queries of the best of
``--repeat``), and the time of a batch of ``--queries`` queries, exact,
``approximate=True`` and ``approximate="auto"``. One catalog is in memory at
a time.

Usage::

    python benchmarks/bench_approximate.py               # N = 1,000,000
    python benchmarks/bench_approximate.py --n 100000    # quicker

Timing asserts never go in tests; this prints ratios measured in one run.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np
from _common import best_of

from skfusion import Catalog
from skfusion.datasets import make_catalog
from skfusion.fusion._registry import STRATEGIES

_DIM = 512
_COMPONENTS = ("title", "description", "image")

#: Strategies timed, with their constructor parameters.
_CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "hybrid": ("hybrid", {}),
    "average": ("average", {}),
    "weighted": ("weighted", {"weights": [0.5, 0.3, 0.2]}),
    "combsum-zscore": ("combsum", {"normalization": "zscore"}),
    "combsum-minmax": ("combsum", {"normalization": "minmax"}),
    "calibrated": ("calibrated", {}),
    "rrf": ("rrf", {}),
    "combmnz": ("combmnz", {}),
}


def _recall(approx: np.ndarray, exact: np.ndarray) -> float:
    hits = [np.intersect1d(a, e).size for a, e in zip(approx, exact, strict=True)]
    return float(np.mean(hits) / exact.shape[1])


def _single(est: Any, queries: np.ndarray, repeat: int) -> float:
    """Median over queries of the best-of-``repeat`` time of a one-query kneighbors."""
    return float(
        np.median([best_of(lambda q=q: est.kneighbors(q[None, :], 10), repeat) for q in queries])
    )


def _unit(block: np.ndarray) -> np.ndarray:
    return block / np.linalg.norm(block, axis=1, keepdims=True)


def _fill(n: int, rows: Any) -> dict[str, np.ndarray]:
    """Float16 component matrices filled 65,536 rows at a time by ``rows(start, stop)``."""
    out = {name: np.empty((n, _DIM), dtype=np.float16) for name in _COMPONENTS}
    for start in range(0, n, 1 << 16):
        stop = min(start + (1 << 16), n)
        for name, block in zip(_COMPONENTS, rows(start, stop), strict=True):
            out[name][start:stop] = _unit(block)
    return out


def gen_make_catalog(n: int, n_queries: int, rng: np.random.Generator) -> tuple[dict, np.ndarray]:
    """skfusion.datasets.make_catalog: CLIP-calibrated topics, caption-like queries."""
    data = make_catalog(n, n_queries, random_state=int(rng.integers(1 << 31)))
    queries = np.ascontiguousarray(data.queries, dtype=np.float32)
    comps = {}
    for name in list(data.components):
        comps[name] = data.components.pop(name).astype(np.float16)
    return comps, queries


def gen_isotropic(n: int, n_queries: int, rng: np.random.Generator) -> tuple[dict, np.ndarray]:
    """Independent isotropic Gaussian directions: no structure for the index to exploit."""
    comps = _fill(n, lambda a, b: [rng.standard_normal((b - a, _DIM)) for _ in _COMPONENTS])
    return comps, _unit(rng.standard_normal((n_queries, _DIM))).astype(np.float32)


def gen_clustered(n: int, n_queries: int, rng: np.random.Generator) -> tuple[dict, np.ndarray]:
    """Items around 2,000 shared cluster centres (noise 0.7 of the centre's norm per component)."""
    centres = _unit(rng.standard_normal((2000, _DIM)))

    def rows(a: int, b: int) -> list[np.ndarray]:
        c = centres[rng.integers(0, len(centres), b - a)]
        return [c + 0.7 * rng.standard_normal((b - a, _DIM)) / np.sqrt(_DIM) for _ in _COMPONENTS]

    queries = centres[rng.integers(0, len(centres), n_queries)]
    queries = queries + 0.7 * rng.standard_normal((n_queries, _DIM)) / np.sqrt(_DIM)
    return _fill(n, rows), _unit(queries).astype(np.float32)


def gen_modality_gap(n: int, n_queries: int, rng: np.random.Generator) -> tuple[dict, np.ndarray]:
    """A heavy modality gap: each component (and the queries) in its own narrow cone.

    ``e_c = unit(2 m_c + g)`` with ``m_c`` a unit offset per component and
    ``g`` an isotropic unit direction shared by the item's components
    plus its own noise; cross-modal cosines are dominated by the offsets.
    """
    offsets = _unit(rng.standard_normal((len(_COMPONENTS) + 1, _DIM)))

    def rows(a: int, b: int) -> list[np.ndarray]:
        g = _unit(rng.standard_normal((b - a, _DIM)))
        return [
            2 * offsets[c] + g + 0.5 * _unit(rng.standard_normal((b - a, _DIM)))
            for c in range(len(_COMPONENTS))
        ]

    base = _unit(rng.standard_normal((n_queries, _DIM)))
    return _fill(n, rows), _unit(2 * offsets[-1] + base).astype(np.float32)


def gen_low_rank(n: int, n_queries: int, rng: np.random.Generator) -> tuple[dict, np.ndarray]:
    """The testers' catalog: correlated components, a shared rank-32 signal plus noise.

    An item has a latent ``z ~ N(0, I_32 / 32)``; component ``c`` is
    ``unit(A_c z + 0.8 u)`` with ``A_c`` a random (512 × 32) map,
    ``A_c = A + 0.5 B_c`` (entries N(0, 1/512); a shared map plus a component-specific part: the
    components are correlated) and ``u`` isotropic unit-scale noise. Queries
    are the same construction through ``A`` from a fresh latent.
    """
    r = 32
    A = rng.standard_normal((_DIM, r)) / np.sqrt(_DIM)
    maps = [A + 0.5 * rng.standard_normal((_DIM, r)) / np.sqrt(_DIM) for _ in _COMPONENTS]

    def rows(a: int, b: int) -> list[np.ndarray]:
        z = rng.standard_normal((b - a, r)) / np.sqrt(r)
        noise = [rng.standard_normal((b - a, _DIM)) / np.sqrt(_DIM) for _ in maps]
        return [z @ M.T + 0.8 * u for M, u in zip(maps, noise, strict=True)]

    z = rng.standard_normal((n_queries, r)) / np.sqrt(r)
    q = z @ A.T + 0.8 * rng.standard_normal((n_queries, _DIM)) / np.sqrt(_DIM)
    return _fill(n, rows), _unit(q).astype(np.float32)


GENERATORS = {
    "make_catalog": gen_make_catalog,
    "isotropic": gen_isotropic,
    "clustered": gen_clustered,
    "modality_gap": gen_modality_gap,
    "low_rank": gen_low_rank,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=128)
    parser.add_argument("--single", type=int, default=5, help="queries timed one at a time")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--target-recall", type=float, default=0.99)
    parser.add_argument("--generators", nargs="*", default=list(GENERATORS))
    parser.add_argument("--strategies", nargs="*", default=["hybrid"])
    parser.add_argument(
        "--calibrate-on",
        choices=["queries", "pseudo"],
        default="queries",
        help="queries: 256 more of the generator's queries, disjoint from those evaluated; "
        "pseudo: build_index's own pseudo-queries",
    )
    args = parser.parse_args()

    print(
        f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs; N = {args.n:,}; "
        f"calibrated on {args.calibrate_on}"
    )
    header = (
        f"{'generator':<13} {'strategy':<9} {'probe':>5} {'n_cand':>6} {'cal.rec':>7} "
        f"{'recall@10':>9} {'exact 1q':>9} {'approx 1q':>9} {'x':>5} {'exact Bq':>8} "
        f"{'approx Bq':>9} {'x':>5} {'auto Bq':>8} {'build+cal':>9}"
    )
    print(header)
    print("-" * len(header), flush=True)
    for g_name in args.generators:
        rng = np.random.default_rng(0)
        comps, all_queries = GENERATORS[g_name](args.n, args.queries + 256, rng)
        queries, held = all_queries[: args.queries], all_queries[args.queries :]
        catalog = Catalog(comps, dtype="float16")
        del comps
        catalog.covariances()
        t0 = time.perf_counter()
        given = held if args.calibrate_on == "queries" else None
        catalog.build_index(target_recall=args.target_recall, calibration_queries=given)
        t_build = time.perf_counter() - t0
        index = catalog.ann_index
        assert index is not None
        assert index.calibration is not None
        cal = index.calibration
        single = queries[: args.single]
        for label in args.strategies:
            name, params = _CASES[label]
            cls = STRATEGIES[name].estimator
            exact = cls(catalog, **params).fit()
            _, top_exact = exact.kneighbors(queries, 10)
            approx = cls(catalog, approximate=True, **params).fit()
            auto = cls(catalog, approximate="auto", **params).fit()
            _, top_approx = approx.kneighbors(queries, 10)
            recall = _recall(top_approx, top_exact)
            e1 = _single(exact, single, args.repeat)
            a1 = _single(approx, single, args.repeat)
            eb = best_of(lambda est=exact, q=queries: est.kneighbors(q, 10), args.repeat)
            ab = best_of(lambda est=approx, q=queries: est.kneighbors(q, 10), args.repeat)
            ub = best_of(lambda est=auto, q=queries: est.kneighbors(q, 10), args.repeat)
            print(
                f"{g_name:<13} {label:<9} {index.n_probe:>5} {cal['n_candidates']:>6} "
                f"{cal['recall']:>7.4f} {recall:>9.4f} {e1 * 1e3:>7.1f}ms {a1 * 1e3:>7.1f}ms "
                f"{e1 / a1:>5.1f} {eb:>7.2f}s {ab:>8.2f}s {eb / ab:>5.1f} {ub:>7.2f}s "
                f"{t_build:>8.1f}s",
                flush=True,
            )
        del catalog, exact, approx, auto
    print(f"\nload average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
