"""Held-out effect of AgreementFusionCV's guard against lucky candidates.

``AgreementFusionCV.fit(X, y)`` scores a few thousand candidates (``prior`` ×
target weights × ``impute``) on the judged queries. Keeping the plain best
mean favours a lucky candidate; the estimator keeps the best only if it is a
fixed weighting (``prior=1`` on the catalog as it is) or beats the best fixed
weighting by more than two standard errors of the paired per-query gain
(:func:`skfusion.fusion.agreement_cv.guarded_choice`).

No candidate learns from the judgments, so a candidate's score on a query
does not depend on the other queries: one pass gives the (candidate × query)
metric matrix, and any selection rule can be replayed under outer
cross-validation over the queries exactly as ``benchmark_strategies`` would
run the estimator (choose on the training queries, score the held-out ones).
For each catalog and each of ``--draws`` shuffles of 5 outer folds it prints,
per rule, the held-out nDCG@10 and the paired randomisation test against
fixed weights tuned like ``Tuned(WeightedFusion(...), {"weights": grid})``
(``GridSearchCV``, 3 inner folds, over the same fixed weightings) and against
the original hybrid strategy (uncorrected p; * p < 0.05).

Rules: ``best`` (the plain best mean), ``guard×1``, ``guard×2`` (the
estimator's rule), ``guard×3`` (the gain must exceed that many standard
errors). Catalogs: the bundled Cranfield MiniLM embeddings, the same with the
abstract or the title masked for a random half of the documents (``--seeds``),
and synthetic catalogs of ``bench_label_free.py``.

Usage::

    python benchmarks/bench_cv_guard.py                       # every catalog, seeds 0-3
    python benchmarks/bench_cv_guard.py --catalogs cranfield-no-abstract --seeds 4 5
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from bench_label_free import SYNTHETIC, cranfield_without
from sklearn.model_selection import KFold

from skfusion import AgreementFusionCV, Catalog, HybridFusion
from skfusion.datasets import make_catalog
from skfusion.evaluation import permutation_test
from skfusion.fusion import simplex_grid
from skfusion.fusion.agreement_cv import SE_FACTOR, guarded_choice
from skfusion.metrics import ranking_metrics
from skfusion.metrics._relevance import as_relevance

PRIORS = np.array([0.25, 0.5, 0.75, 1.0])


def matrix(catalog: Catalog, X: np.ndarray, y: Any) -> dict[str, Any]:
    """Per-query nDCG@10 of every default candidate, of hybrid, and which rows are fixed."""
    grid = simplex_grid(catalog.n_components, 0.1)
    est = AgreementFusionCV(catalog, prior_weights_grid=grid).fit(X)
    rel = as_relevance(y, X.shape[0], catalog.n_items)
    options = est._impute_options(catalog)
    priors = np.repeat(PRIORS, len(grid))
    targets = np.tile(grid, (len(PRIORS), 1))
    X32 = np.asarray(X, dtype=np.float32)
    per_query = np.concatenate(
        [est._candidate_metrics(X32, rel, priors, targets, o) for o in options]
    )
    imputes = [o for o in options for _ in range(len(priors))]
    masked = None if None in options else options[0]
    fixed = np.flatnonzero(
        (np.tile(priors, len(options)) == 1.0) & np.array([i == masked for i in imputes])
    )
    top = HybridFusion(catalog).fit().kneighbors(X, 10, return_distance=False)
    hybrid = ranking_metrics(y, ranking=top, metrics=("ndcg@10",), per_query=True)["ndcg@10"]
    return {"per_query": per_query, "fixed": fixed, "hybrid": np.asarray(hybrid)}


def guard(per_query: np.ndarray, fixed: np.ndarray, factor: float) -> int:
    """The guard with another factor (written out; ``factor=SE_FACTOR`` is checked equal)."""
    mean = per_query.mean(axis=1)
    best = int(np.argmax(mean))
    if fixed.size == 0 or best in fixed:
        return best
    base = int(fixed[np.argmax(mean[fixed])])
    gain = per_query[best] - per_query[base]
    if gain.size < 2:
        return base
    return best if gain.mean() > factor * gain.std(ddof=1) / np.sqrt(gain.size) else base


RULES = {
    "best": lambda M, fixed: int(np.argmax(M.mean(axis=1))),
    "guard×1": lambda M, fixed: guard(M, fixed, 1.0),
    "guard×2": lambda M, fixed: guard(M, fixed, 2.0),
    "guard×3": lambda M, fixed: guard(M, fixed, 3.0),
}


def replay(data: dict[str, Any], draw: int) -> dict[str, np.ndarray]:
    """Held-out per-query nDCG@10 of each rule and of tuned fixed weights, one outer draw."""
    M, fixed = data["per_query"], data["fixed"]
    n = M.shape[1]
    out = {name: np.zeros(n) for name in (*RULES, "fixed (tuned)")}
    for train, test in KFold(5, shuffle=True, random_state=draw).split(np.arange(n)):
        for name, rule in RULES.items():
            out[name][test] = M[rule(M[:, train], fixed), test]
        assert guard(M[:, train], fixed, SE_FACTOR) == guarded_choice(M[:, train], fixed)
        # GridSearchCV over the fixed weightings: mean of the 3 inner folds' means.
        inner = [train[t] for _, t in KFold(3).split(train)]
        scores = np.mean([M[fixed][:, t].mean(axis=1) for t in inner], axis=0)
        out["fixed (tuned)"][test] = M[fixed[int(np.argmax(scores))], test]
    return out


def catalogs(names: list[str], seeds: list[int]) -> list[tuple[str, Catalog, np.ndarray, Any]]:
    out = []
    for name in names:
        if name == "cranfield":
            out.append((name, *cranfield_without(None, 0)))
        elif name.startswith("cranfield-no-"):
            for seed in seeds:
                field = name.removeprefix("cranfield-no-")
                out.append((f"{name}/s{seed}", *cranfield_without(field, seed)))
        else:
            for seed in seeds[:2]:
                b = make_catalog(2000, 300, random_state=seed, **SYNTHETIC[name])
                cat = Catalog.from_arrays(b.components, ids=b.ids, masks=b.masks)
                out.append((f"{name}/s{seed}", cat, b.queries, b.qrels.toarray()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--catalogs",
        nargs="+",
        default=[
            "cranfield",
            "cranfield-no-abstract",
            "cranfield-no-title",
            "equal",
            "missing",
            "missing-text",
        ],
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--draws", type=int, default=10, help="outer-fold shuffles per catalog")
    parser.add_argument("--resamples", type=int, default=10_000)
    args = parser.parse_args()
    rows = []
    for name, cat, X, y in catalogs(args.catalogs, args.seeds):
        t0 = time.perf_counter()
        data = matrix(cat, np.asarray(X), y)
        counts: dict[str, list[float]] = {}
        for draw in range(args.draws):
            held = replay(data, draw)
            for rule, scores in held.items():
                vs_fixed = permutation_test(
                    scores, held["fixed (tuned)"], n_resamples=args.resamples, random_state=draw
                )
                vs_hybrid = permutation_test(
                    scores, data["hybrid"], n_resamples=args.resamples, random_state=draw
                )
                c = counts.setdefault(rule, [0.0, 0.0, 0.0, 0.0, 0.0])
                c[0] += scores.mean() / args.draws
                c[1] += vs_fixed.mean_difference / args.draws
                c[2] += vs_fixed.mean_difference < 0 and vs_fixed.p_value < 0.05
                c[3] += vs_hybrid.mean_difference / args.draws
                c[4] += vs_hybrid.mean_difference < 0 and vs_hybrid.p_value < 0.05
        took = time.perf_counter() - t0
        rows.append((name, float(data["hybrid"].mean()), counts, took))
        print(f"{name}: {took:.0f} s", flush=True)
    print(
        f"\nnDCG@10 held out, mean over {args.draws} outer draws; 'worse' counts the draws "
        "with a significantly lower score (paired randomisation test, p < 0.05, uncorrected)\n"
    )
    rules = [*RULES, "fixed (tuned)"]
    print("| catalog | hybrid | " + " | ".join(rules) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in rules) + " |")
    for name, hyb, counts, _ in rows:
        cells = []
        for rule in rules:
            mean, d_fixed, worse_fixed, d_hyb, worse_hyb = counts[rule]
            cell = f"{mean:.3f}"
            if rule != "fixed (tuned)":
                cell += f" ({d_fixed:+.3f}; worse {int(worse_fixed)})"
            cell += f" [{d_hyb:+.3f}; worse {int(worse_hyb)}]"
            cells.append(cell)
        print(f"| {name} | {hyb:.3f} | " + " | ".join(cells) + " |")
    print("\nCells: mean (difference to fixed (tuned); draws significantly worse than it)")
    print("[difference to hybrid; draws significantly worse than it]")
    for rule in rules:
        worse_f = sum(int(c[rule][2]) for _, _, c, _ in rows)
        worse_h = sum(int(c[rule][4]) for _, _, c, _ in rows)
        print(
            f"- {rule}: significantly worse than fixed (tuned) in {worse_f} draws, "
            f"than hybrid in {worse_h}, of {len(rows) * args.draws}"
        )


if __name__ == "__main__":
    main()
