"""Static fusion at the one-matrix floor: precomputed fused vectors vs the Gram form.

For a catalog of N items × 3 components × 512 dimensions it times top-10
retrieval (``kneighbors``) of the static strategies (``AverageFusion``,
``WeightedFusion``) scored two ways, in one run on the same arrays:

* old: ``precompute=False``, the Gram form over the 3 component matrices;
* new: ``precompute=True``, one product with the precomputed unit fused vectors;

against the floor of one bare ``Q @ F.T`` plus a top-10 (``argpartition``)
on the same fused matrix ``F``. It prints new/floor (target ≤ 1.2×), old/new,
and whether the top-10 of old and new are identical. It also times one
``GridSearchCV`` over a weight grid three ways (fit + score per candidate and
fold): ``precompute=False`` (old: Gram form, scored from the per-catalog
tuning cache of similarity blocks), ``precompute=True`` (fused vectors built
for every candidate) and the default ``precompute="auto"`` (scored from the
tuning cache; no fused vectors built): the default must not be slower than
old, and its ``cv_results_`` must equal old's exactly.

Usage::

    python benchmarks/bench_static.py                 # N = 1,000,000
    python benchmarks/bench_static.py --n 100000      # quicker

Best of ``--repeat`` runs each. Timing asserts never go in tests.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from _common import best_of, unit_matrix
from sklearn.model_selection import GridSearchCV, KFold

from skfusion import AverageFusion, Catalog, WeightedFusion
from skfusion.fusion._grid import simplex_grid
from skfusion.fusion._simcache import clear_tuning_cache
from skfusion.fusion._static import clear_fused_cache


def floor_topk(q: np.ndarray, F: np.ndarray, k: int) -> np.ndarray:
    """One bare product and a top-k per query (unsorted candidates, then sorted)."""
    scores = q @ F.T
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(scores, part, axis=1)
    return np.take_along_axis(part, np.argsort(-top, axis=1), axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, nargs="+", default=[1, 16, 128])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--grid-queries", type=int, default=40)
    parser.add_argument("--grid-step", type=float, default=0.1)
    args = parser.parse_args()
    n, d, k = args.n, 512, 10
    rng = np.random.default_rng(0)
    comps = {
        name: unit_matrix(rng, n, d, rng.standard_normal(d).astype(np.float32) * 0.05 * (c + 1))
        for c, name in enumerate(("title", "description", "image"))
    }
    catalog = Catalog.from_arrays(comps)
    del comps
    print(f"N = {n:,} items × 3 components × {d}, top-{k}, best of {args.repeat}")
    strategies = {
        "average": lambda pre: AverageFusion(catalog, precompute=pre),
        "weighted": lambda pre: WeightedFusion(catalog, weights=[0.5, 0.3, 0.2], precompute=pre),
    }
    print(
        f"{'strategy':<10} {'Q':>4} {'floor s':>9} {'old s':>9} {'new s':>9} "
        f"{'new/floor':>9} {'old/new':>8}  top-{k} identical"
    )
    for name, make in strategies.items():
        old = make(False).fit()
        t0 = time.perf_counter()
        new = make(True).fit()
        t_pre = time.perf_counter() - t0
        fused = new._precomputed()[0]
        for n_q in args.queries:
            q = unit_matrix(rng, n_q, d, np.zeros(d, np.float32))
            t_floor = best_of(lambda q=q, f=fused: floor_topk(q, f, k), args.repeat)
            t_old = best_of(lambda q=q, e=old: e.kneighbors(q, k), args.repeat)
            t_new = best_of(lambda q=q, e=new: e.kneighbors(q, k), args.repeat)
            same = np.array_equal(
                old.kneighbors(q, k, return_distance=False),
                new.kneighbors(q, k, return_distance=False),
            )
            print(
                f"{name:<10} {n_q:>4} {t_floor:9.4f} {t_old:9.4f} {t_new:9.4f} "
                f"{t_new / t_floor:8.2f}× {t_old / t_new:7.2f}×  {same}"
            )
        print(f"{name:<10} precompute at fit (once per weight vector): {t_pre:.2f} s")

    # A weight search: every candidate is fitted and scored on each fold.
    X = unit_matrix(rng, args.grid_queries, d, np.zeros(d, np.float32))
    y = rng.integers(0, n, size=args.grid_queries)
    grid = {"weights": [list(w) for w in simplex_grid(3, args.grid_step)]}
    times, results = {}, {}
    for pre in (False, True, "auto"):
        clear_fused_cache()
        clear_tuning_cache()
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            search = GridSearchCV(WeightedFusion(catalog, precompute=pre), grid, cv=KFold(5))
            search.fit(X, y)
        times[pre] = time.perf_counter() - t0
        results[pre] = search.cv_results_["mean_test_score"]
    print(
        f"GridSearchCV over {len(grid['weights'])} weightings × 5 folds, {args.grid_queries} "
        f"queries: old (precompute=False) {times[False]:.1f} s, precompute=True "
        f"{times[True]:.1f} s, default 'auto' {times['auto']:.1f} s; "
        f"old/auto {times[False] / times['auto']:.2f}×, True/auto "
        f"{times[True] / times['auto']:.2f}×; cv_results_ of 'auto' equal old's: "
        f"{np.array_equal(results['auto'], results[False])}; max |Δ mean score| True vs old "
        f"{np.abs(results[True] - results[False]).max():.1e}"
    )


if __name__ == "__main__":
    main()
