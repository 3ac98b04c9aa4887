"""The demo's report folder: results.json, per-query CSV, TREC files and plots."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..io import matrix_to_qrels, run_from_topk, write_trec_qrels, write_trec_run
from ._cranfield import DemoResult

#: Depth of the TREC run files (the usual trec_eval convention).
RUN_DEPTH = 1000


def _num(value: Any) -> float | None:
    v = float(value)
    return None if math.isnan(v) else v


def results_dict(result: DemoResult) -> dict[str, Any]:
    """The content of ``results.json`` (JSON-ready: NaN becomes null)."""
    from .. import __version__

    bench = result.benchmark
    strategies: dict[str, dict[str, Any]] = {}
    for row in bench.table.to_dict("records"):
        entry = strategies.setdefault(str(row["strategy"]), {})
        entry[str(row["metric"])] = {
            "mean": float(row["mean"]),
            "ci": [float(row["ci_low"]), float(row["ci_high"])],
            "p_value": _num(row["p_value"]),
            "p_value_uncorrected": _num(row["perm_p_value"]),
            "p_value_t_test": _num(row["t_p_value"]),
            "delta": _num(row["delta"]),
            "significant": bool(row["significant"]),
        }
    names = list(result.catalog.names)
    tuning = {
        name: [
            {
                "fold": f.fold,
                "n_train": len(f.train),
                "n_test": len(f.test),
                "test_query_ids": [str(q) for q in result.query_ids[f.test]],
                "params": {
                    k: (
                        dict(zip(names, map(float, v), strict=True))
                        if k in ("weights", "prior_weights")
                        else v
                    )
                    for k, v in f.best_params.items()
                },
                f"inner_cv_{result.settings['tuning_metric']}": f.best_score,
            }
            for f in run.folds
        ]
        for name, run in bench.runs.items()
        if run.folds
    }
    land = result.simplex
    best = int(np.argmax(land["ndcg@10"]))
    return {
        "dataset": result.dataset,
        "mode": result.mode,
        "model": result.model,
        "encoder_id": result.encoder_id,
        "skfusion_version": __version__,
        "n_items": int(result.catalog.n_items),
        "n_queries": len(result.query_ids),
        "components": names,
        "metrics": list(bench.metrics),
        "baseline": bench.baseline,
        "settings": result.settings,
        "strategies": strategies,
        "tuning": tuning,
        "lexical_tests": result.lexical_tests,
        "landscape": {
            "components": land["components"],
            "queries": "all (descriptive; not used for tuning)",
            "best_weights": [float(w) for w in land["weights"][best]],
            "best_ndcg@10": float(land["ndcg@10"][best]),
        },
        "timings_s": {k: round(v, 3) for k, v in result.timings.items()},
    }


def _has_ties(scores: np.ndarray) -> bool:
    finite = np.where(np.isfinite(scores), scores, np.nan)
    return bool(np.any(finite[:, 1:] == finite[:, :-1]))


def write_report(result: DemoResult, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the report folder and return what was written.

    Contents: ``results.json`` (per strategy and metric: mean, 95% CI,
    Holm-corrected p-value against the baseline, and the tuning record),
    ``per_query.csv`` (one row per strategy and query), ``qrels.txt`` and
    ``runs/<strategy>.txt.gz`` (TREC format, top 1,000, gzip-compressed:
    ``zcat`` one into trec_eval; a run whose scores tie within a query is
    written with rank-derived scores so that trec_eval, which breaks ties by
    document id, reads skfusion's order),
    ``strategies.png`` and ``simplex.png``.

    Parameters
    ----------
    result : DemoResult
    out_dir : path
        Created if needed; existing files of the same names are replaced.

    Returns
    -------
    dict
        name → path of each file written.
    """
    from ._plots import plot_simplex, plot_strategies

    out = Path(out_dir)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    payload = results_dict(result)
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, out / "results.json")
    written["results"] = out / "results.json"

    frame = result.benchmark.per_query_frame()
    frame.to_csv(out / "per_query.csv", index=False, float_format="%.10g")
    written["per_query"] = out / "per_query.csv"

    item_ids = [str(i) for i in result.item_ids]
    query_ids = [str(q) for q in result.query_ids]
    write_trec_qrels(out / "qrels.txt", matrix_to_qrels(result.relevance, query_ids, item_ids))
    written["qrels"] = out / "qrels.txt"
    for name, run in result.benchmark.runs.items():
        depth = min(RUN_DEPTH, run.ranking.shape[1])
        ranking, scores = run.ranking[:, :depth], run.scores[:, :depth]
        trec = run_from_topk(query_ids, item_ids, ranking, np.asarray(scores, dtype=np.float64))
        path = out / "runs" / f"{name}.txt.gz"
        write_trec_run(path, trec, tag=name, scores="rank" if _has_ties(scores) else "original")
        written[f"run:{name}"] = path

    written["strategies_plot"] = plot_strategies(result, out / "strategies.png")
    written["simplex_plot"] = plot_simplex(result, out / "simplex.png")
    return written
