"""Approximate search with exact re-ranking against exact search: recall@10 and speed-up.

On a ``make_catalog`` catalog of N items × 3 components × 512 dimensions
(CLIP-calibrated, the issue's target uses N = 1,000,000), it builds the ANN
index (``Catalog.build_index``), then for each strategy times top-10
retrieval (``kneighbors``) exactly and with ``approximate=True`` on the same
queries, and measures recall@10 of the approximate top-10 against the exact
top-10 of the same strategy. Timings are best-of-``--repeat`` for one query
(each of ``--single`` queries in turn, best run kept per query, then the
median over queries) and for a batch of ``--queries`` queries. Recall is
over the whole batch.

Usage::

    python benchmarks/bench_approximate.py               # N = 1,000,000
    python benchmarks/bench_approximate.py --n 100000    # quicker

Timing asserts never go in tests; this prints ratios measured in one run.
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from typing import Any

import numpy as np
from _common import best_of

from skfusion import Catalog
from skfusion.datasets import make_catalog
from skfusion.fusion import STRATEGIES

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=128)
    parser.add_argument("--single", type=int, default=5, help="queries timed one at a time")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--n-candidates", type=int, nargs="*", default=[100], help="values to compare"
    )
    parser.add_argument(
        "--n-probe", type=int, nargs="*", default=[], help="search breadths to compare"
    )
    parser.add_argument("--n-lists", type=int, default=None)
    parser.add_argument("--encoding", default="sq8")
    parser.add_argument("--strategies", nargs="*", default=list(_CASES))
    parser.add_argument(
        "--cache",
        default=None,
        help="directory: reuse the catalog and index saved there, or save them there",
    )
    args = parser.parse_args()

    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
    t0 = time.perf_counter()
    data = make_catalog(args.n, args.queries, random_state=0)
    queries = np.ascontiguousarray(data.queries, dtype=np.float32)
    cached = args.cache is not None and os.path.isdir(args.cache)
    if cached:
        del data
        catalog = Catalog.load(args.cache, verify=False)
    else:
        catalog = Catalog(data.components, ids=data.ids, masks=data.masks)
        del data
    t_make = time.perf_counter() - t0
    t0 = time.perf_counter()
    catalog.covariances()  # z-score moments, shared by exact and approximate search
    t_cov = time.perf_counter() - t0
    t0 = time.perf_counter()
    if not cached:
        catalog.build_index(n_lists=args.n_lists, encoding=args.encoding)
    t_index = time.perf_counter() - t0
    if args.cache is not None and not cached:
        catalog.save(args.cache)
    print(
        f"catalog: {catalog.n_items:,} items x {list(catalog.names)} x {catalog.dim} "
        f"(make_catalog + Catalog {t_make:.1f} s, covariances {t_cov:.1f} s)"
    )
    built = "read from " + args.cache if cached else f"built in {t_index:.1f} s"
    print(f"index: {catalog.ann_index!r}, {built}")
    print(f"{args.queries} queries (batch), {args.single} single queries; best of {args.repeat}\n")
    index = catalog.ann_index
    assert index is not None
    probes = args.n_probe or [index.n_probe]
    header = (
        f"{'strategy':<16} {'n_probe':>7} {'n_cand':>6} {'recall@10':>9} {'exact 1q':>9} "
        f"{'approx 1q':>9} {'speed-up':>8} {'exact Bq':>9} {'approx Bq':>9} {'speed-up':>8}"
    )
    print(header)
    print("-" * len(header))
    single = queries[: args.single]
    for label in args.strategies:
        name, params = _CASES[label]
        cls = STRATEGIES[name].estimator
        exact = cls(catalog, **params).fit()
        _, top_exact = exact.kneighbors(queries, 10)
        e1 = _single(exact, single, args.repeat)
        eb = best_of(lambda est=exact: est.kneighbors(queries, 10), max(1, args.repeat - 1))
        for probe, n_cand in itertools.product(probes, args.n_candidates):
            index.n_probe = probe
            approx = cls(catalog, approximate=True, n_candidates=n_cand, **params).fit()
            _, top_approx = approx.kneighbors(queries, 10)
            recall = _recall(top_approx, top_exact)
            a1 = _single(approx, single, args.repeat)
            ab = best_of(lambda est=approx: est.kneighbors(queries, 10), args.repeat)
            print(
                f"{label:<16} {probe:>7} {n_cand:>6} {recall:>9.4f} {e1 * 1e3:>7.1f}ms "
                f"{a1 * 1e3:>7.1f}ms {e1 / a1:>7.1f}x {eb:>8.2f}s {ab:>8.2f}s {eb / ab:>7.1f}x",
                flush=True,
            )
    print(f"\nload average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
