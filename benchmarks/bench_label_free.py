"""Which label-free setting of AgreementFusion is robust on every benchmark catalog?

Without judged queries :class:`~skfusion.AgreementFusionCV` is
``AgreementFusion()`` with its default ``prior`` and ``impute``. This script
scores every candidate setting (``prior`` × ``impute``, equal target weights)
against the original hybrid strategy on every benchmark catalog, with no
tuning at all (nothing here sees the judgments except the evaluation):

- ``cranfield``: the bundled Cranfield 1400 MiniLM embeddings;
- ``cranfield-no-abstract`` / ``cranfield-no-title``: the same with the
  field removed (masked) for a random half of the documents, as real
  collections lack fields;
- the synthetic scenarios of ``bench_strategies_quality.py`` (``equal``,
  ``noisy``, ``gap``, ``missing``, ``missing-text``), 2,000 items, 300
  queries;

each for ``--seeds`` draws. It prints nDCG@10 differences to hybrid with the
two-sided paired randomisation-test p-value per catalog (uncorrected: the
stricter reading for "never significantly worse"), then per setting the worst
difference and how many catalogs it is significantly worse (p < 0.05) or
better on.

Usage::

    python benchmarks/bench_label_free.py                 # seeds 0 1
    python benchmarks/bench_label_free.py --seeds 2 3     # a confirmation draw
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from bench_strategies_quality import SYNTHETIC as SCENARIOS

from skfusion import AgreementFusion, Catalog, HybridFusion
from skfusion.datasets import load_cranfield_minilm, make_catalog
from skfusion.evaluation import permutation_test
from skfusion.metrics import ranking_metrics

#: The synthetic scenarios of bench_strategies_quality.py (all but the million-item one).
SYNTHETIC: dict[str, dict[str, Any]] = {k: v for k, v in SCENARIOS.items() if k != "large"}
PRIORS = (0.25, 0.5, 0.75, 1.0)
IMPUTE: tuple[str | None, ...] = ("regression", None)


def ndcg10(estimator: Any, X: np.ndarray, y: Any) -> np.ndarray:
    estimator.fit()
    top = estimator.kneighbors(X, 10, return_distance=False)
    per_query: np.ndarray = ranking_metrics(y, ranking=top, metrics=("ndcg@10",), per_query=True)[
        "ndcg@10"
    ]
    return per_query


def cranfield_without(field: str | None, seed: int) -> tuple[Catalog, np.ndarray, Any]:
    """The bundled Cranfield catalog, ``field`` masked for a random half of the items.

    Items that have no other component keep it (an item needs one).
    """
    data = load_cranfield_minilm()
    cat = data.catalog
    if field is None:
        return cat, np.asarray(data.queries), data.relevance
    comps = {name: np.array(arr) for name, arr in cat.components.items()}
    masks = {name: np.array(cat.mask[c]) for c, name in enumerate(cat.names)}
    drop = np.random.default_rng(seed).random(cat.n_items) < 0.5
    others = np.any([m for name, m in masks.items() if name != field], axis=0)
    masks[field] &= ~(drop & others)  # an item keeps at least one component
    comps[field][~masks[field]] = 0.0
    masked = Catalog.from_arrays(comps, ids=cat.ids, masks=masks)
    return masked, np.asarray(data.queries), data.relevance


def catalogs(seeds: list[int]) -> list[tuple[str, Catalog, np.ndarray, Any]]:
    out = []
    out.append(("cranfield", *cranfield_without(None, 0)))
    for field in ("abstract", "title"):
        for seed in seeds:
            out.append((f"cranfield-no-{field}/s{seed}", *cranfield_without(field, seed)))
    for name, params in SYNTHETIC.items():
        for seed in seeds:
            b = make_catalog(2000, 300, random_state=seed, **params)
            cat = Catalog.from_arrays(b.components, ids=b.ids, masks=b.masks)
            out.append((f"{name}/s{seed}", cat, b.queries, b.qrels.toarray()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--resamples", type=int, default=10_000)
    args = parser.parse_args()
    t0 = time.perf_counter()
    settings = [(p, imp) for imp in IMPUTE for p in PRIORS]
    label = {s: f"prior={s[0]}, impute={s[1]!r}" for s in settings}
    results: dict[tuple[float, str | None], list[tuple[float, float]]] = {s: [] for s in settings}
    header = " | ".join(f"{s[0]}/{'reg' if s[1] else 'none'}" for s in settings)
    print(f"| catalog | hybrid | {header} |")
    print("| --- " * (len(settings) + 2) + "|")
    for name, cat, X, y in catalogs(args.seeds):
        base = ndcg10(HybridFusion(cat), X, y)
        cells = []
        for prior, impute in settings:
            scores = ndcg10(AgreementFusion(cat, prior=prior, impute=impute), X, y)
            test = permutation_test(scores, base, n_resamples=args.resamples, random_state=0)
            results[(prior, impute)].append((test.mean_difference, test.p_value))
            star = "*" if test.p_value < 0.05 else ""
            cells.append(f"{test.mean_difference:+.3f} ({test.p_value:.2g}){star}")
        print(f"| {name} | {base.mean():.3f} | " + " | ".join(cells) + " |", flush=True)
    print("\n| setting | worst difference (p) | significantly worse | significantly better |")
    print("| --- | --- | --- | --- |")
    for s in settings:
        rows = results[s]
        worst = min(rows, key=lambda r: r[0])
        worse = sum(d < 0 and p < 0.05 for d, p in rows)
        better = sum(d > 0 and p < 0.05 for d, p in rows)
        print(f"| {label[s]} | {worst[0]:+.3f} ({worst[1]:.2g}) | {worse} | {better} |")
    print(f"\n{len(results[settings[0]])} catalogs, {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
