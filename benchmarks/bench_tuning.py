"""GridSearchCV over fixed weights versus AgreementFusionCV over the same grid.

A synthetic collection shaped like one outside testers timed: 3,204 items, 4 text fields of
384 dimensions, about half the items missing one field, 52 queries with graded
judgments. Times, in one run (so the ratios share the machine's load):

(a) ``GridSearchCV(WeightedFusion(catalog, precompute=False), {"weights":
    simplex_grid(4, 0.1)}, cv=KFold(3))`` — Gram form, the path the
    cache serves; 286 candidates × 3 folds, with the per-catalog tuning cache
    (skfusion/fusion/_simcache.py);
(b) ``AgreementFusionCV(catalog, priors=(1.0,), prior_weights_grid=<same grid>)``;
(c) (a) with the tuning cache switched off (the path before it);
(d) (a) with the default ``precompute="auto"`` (scored from the cache too);
(e) (a) with ``precompute=True`` (fused vectors built for every candidate),

and checks that ``cv_results_`` (params, mean_test_score, rank_test_score)
are identical between (a), (c) and (d), also with ``n_jobs=2`` (threads).

Run: ``.venv/bin/python benchmarks/bench_tuning.py [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from joblib import parallel_backend
from sklearn.model_selection import GridSearchCV, KFold

from skfusion import AgreementFusionCV, Catalog, WeightedFusion
from skfusion.datasets import make_catalog
from skfusion.fusion import _simcache
from skfusion.fusion._grid import simplex_grid


def collection() -> tuple[Catalog, np.ndarray, Any]:
    fields = ["title", "abstract", "keywords", "body"]
    data = make_catalog(
        3204,
        52,
        components={f: {"modality": "text", "noise": 1.0 + 0.2 * i} for i, f in enumerate(fields)},
        dim=384,
        n_topics=60,
        # Independent per-field rates: about half the items miss at least one field.
        missing_rate={"title": 0.05, "abstract": 0.2, "keywords": 0.25, "body": 0.2},
        relevance_levels=3,
        random_state=17,
    )
    cat = Catalog.from_arrays(data.components, masks=data.masks)
    return cat, data.queries, data.qrels


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def results(search: GridSearchCV) -> tuple[list[Any], np.ndarray, np.ndarray]:
    r = search.cv_results_
    params = [tuple(np.asarray(p["weights"]).tolist()) for p in r["params"]]
    return params, np.asarray(r["mean_test_score"]), np.asarray(r["rank_test_score"])


def same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="best of this many runs")
    args = parser.parse_args()

    cat, X, y = collection()
    missing = float((~cat.mask).any(axis=0).mean())
    grid = simplex_grid(4, 0.1)
    print(
        f"catalog: {cat.n_items} items, {cat.n_components} fields, dim {cat.dim}, "
        f"{missing:.0%} of items miss a field; {len(X)} queries; {len(grid)} candidates × 3 folds"
    )
    # A list of lists so that cv_results_["params"] compare as plain values.
    param_grid = {"weights": [list(w) for w in grid]}

    def search(n_jobs: int | None = None, precompute: Any = False) -> GridSearchCV:
        est = WeightedFusion(cat, precompute=precompute)
        gs = GridSearchCV(est, param_grid, cv=KFold(3), n_jobs=n_jobs)
        with parallel_backend("threading"):
            return gs.fit(X, y)

    def agreement() -> AgreementFusionCV:
        return AgreementFusionCV(cat, priors=(1.0,), prior_weights_grid=grid).fit(X, y)

    def old() -> GridSearchCV:
        with _simcache.disabled():
            return search()

    search()  # warm up imports and the per-catalog checks of both paths once
    t_old, gs_old = timed(old, args.repeat)
    t_new, gs_new = timed(search, args.repeat)
    t_agr, _ = timed(agreement, args.repeat)
    t_par, gs_par = timed(lambda: search(n_jobs=2), 1)
    t_auto, gs_auto = timed(lambda: search(precompute="auto"), args.repeat)
    t_fused, _ = timed(lambda: search(precompute=True), 1)

    print(f"(a) GridSearchCV(WeightedFusion), tuning cache: {t_new:8.2f} s")
    print(f"(b) AgreementFusionCV, same grid:               {t_agr:8.2f} s")
    print(f"(c) GridSearchCV(WeightedFusion), cache off:    {t_old:8.2f} s")
    print(f"    (a) n_jobs=2 threads:                       {t_par:8.2f} s")
    print(f"(d) default precompute='auto':                {t_auto:8.2f} s")
    print(f"(e) precompute=True (fused per candidate):    {t_fused:8.2f} s")
    print(
        f"ratio GridSearchCV / AgreementFusionCV: {t_new / t_agr:.2f} "
        f"(cache off: {t_old / t_agr:.2f})"
    )
    print(f"ratio old / new (cache off / on):       {t_old / t_new:.2f}")
    r_new, r_old, r_par = results(gs_new), results(gs_old), results(gs_par)
    print(f"cv_results_ identical, cache on vs off:  {same(r_new, r_old)}")
    print(f"cv_results_ identical, n_jobs=2 vs 1:    {same(r_par, r_new)}")
    print(f"cv_results_ identical, 'auto' vs False:  {same(results(gs_auto), r_new)}")
    print(f"ratio (e) / (d), fused per candidate / default: {t_fused / t_auto:.2f}")
    print(f"best: {gs_new.best_params_} score {gs_new.best_score_:.6f}")
    print("(timings on a shared machine: compare the ratios, measured in this one run)")


if __name__ == "__main__":
    main()
