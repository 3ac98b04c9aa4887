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

from .._warnings import deprecated_attributes
from ._benchmark import Tuned, benchmark_strategies
from ._compare import compare_strategies
from ._protocol import cross_val_ranking, top_k_ids
from ._significance import adjust_pvalues, bootstrap_ci, paired_t_test, permutation_test

__all__ = [
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

#: Deprecated name -> (private module, replacement named in the FutureWarning). These are
#: the result types; the functions that return them are the public way to get them.
_DEPRECATED: dict[str, tuple[str, str]] = {
    "BenchmarkResult": ("._benchmark", "the object benchmark_strategies() returns"),
    "StrategyRun": ("._benchmark", "the values of benchmark_strategies(...).runs"),
    "CrossValRanking": ("._protocol", "the object cross_val_ranking() returns"),
    "FoldResult": ("._protocol", "the folds of cross_val_ranking(...)"),
    "PairedTestResult": ("._significance", "the object paired_t_test() returns"),
}


__getattr__ = deprecated_attributes(__name__, _DEPRECATED)
