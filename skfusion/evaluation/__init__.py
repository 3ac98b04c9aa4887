"""Evaluate and compare retrieval strategies on judged queries.

Paired tests over queries (:func:`paired_t_test`, :func:`permutation_test`),
bootstrap intervals of a mean (:func:`bootstrap_ci`), multiple-comparison
corrections (:func:`adjust_pvalues`) and a tidy summary table
(:func:`compare_strategies`, needs pandas); leakage-free rankings from nested
cross-validation (:func:`cross_val_ranking`) and the whole protocol in one
call (:func:`benchmark_strategies`); :func:`top_k_ids` gives the top-k item ids
of any fitted ranker, a ``Pipeline`` (encoder + fusion) included. See ``docs/evaluation.md`` and
``docs/significance.md``.
"""

from ._benchmark import BenchmarkResult, StrategyRun, Tuned, benchmark_strategies
from ._compare import compare_strategies
from ._protocol import CrossValRanking, FoldResult, cross_val_ranking, top_k_ids
from ._significance import (
    PairedTestResult,
    adjust_pvalues,
    bootstrap_ci,
    paired_t_test,
    permutation_test,
)

__all__ = [
    "BenchmarkResult",
    "CrossValRanking",
    "FoldResult",
    "PairedTestResult",
    "StrategyRun",
    "Tuned",
    "adjust_pvalues",
    "benchmark_strategies",
    "bootstrap_ci",
    "compare_strategies",
    "cross_val_ranking",
    "paired_t_test",
    "permutation_test",
    "top_k_ids",
]
