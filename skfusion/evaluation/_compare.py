"""Compare retrieval strategies against a baseline, metric by metric."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from ._significance import (
    _as_scores,
    _check_confidence,
    _check_n_resamples,
    adjust_pvalues,
    bootstrap_ci,
    paired_t_test,
    permutation_test,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["compare_strategies"]

COLUMNS = [
    "strategy",
    "metric",
    "n_queries",
    "mean",
    "ci_low",
    "ci_high",
    "delta",
    "t_p_value",
    "perm_p_value",
    "p_value",
    "significant",
]


def _validate_scores(
    scores: Mapping[str, Mapping[str, ArrayLike]], baseline: str
) -> dict[str, dict[str, np.ndarray]]:
    """Check the nested mapping and return it as float arrays, in input order."""
    if not isinstance(scores, Mapping) or len(scores) == 0:
        raise ValueError("scores must be a non-empty mapping strategy -> metric -> values.")
    if baseline not in scores:
        raise ValueError(
            f"Unknown baseline {baseline!r}; the strategies are {sorted(map(str, scores))}."
        )
    base_metrics = scores[baseline]
    if not isinstance(base_metrics, Mapping) or len(base_metrics) == 0:
        raise ValueError(
            f"scores[{baseline!r}] must be a non-empty mapping metric -> per-query values."
        )
    expected = set(base_metrics)
    out: dict[str, dict[str, np.ndarray]] = {}
    n_queries: int | None = None
    for strategy, metrics in scores.items():
        if not isinstance(metrics, Mapping):
            raise ValueError(
                f"scores[{strategy!r}] must be a mapping metric -> per-query values, got "
                f"{type(metrics).__name__}."
            )
        if set(metrics) != expected:
            missing = sorted(map(str, expected - set(metrics)))
            extra = sorted(map(str, set(metrics) - expected))
            raise ValueError(
                f"Strategy {strategy!r} must report the baseline's metrics "
                f"{sorted(map(str, expected))}; missing {missing}, extra {extra}."
            )
        out[strategy] = {}
        for metric, values in metrics.items():
            arr = _as_scores(values, f"scores[{strategy!r}][{metric!r}]")
            if n_queries is None:
                n_queries = arr.shape[0]
            elif arr.shape[0] != n_queries:
                raise ValueError(
                    f"scores[{strategy!r}][{metric!r}] has {arr.shape[0]} queries, the "
                    f"others {n_queries}; all strategies must score the same queries in the "
                    "same order."
                )
            out[strategy][metric] = arr
    return out


def compare_strategies(
    scores: Mapping[str, Mapping[str, ArrayLike]],
    baseline: str,
    *,
    confidence: float = 0.95,
    test: Literal["permutation", "t"] = "permutation",
    correction: Literal["holm", "bonferroni", "fdr_bh", "none"] = "holm",
    n_resamples: int = 10_000,
    alpha: float = 0.05,
    random_state: int | np.random.Generator | None = 0,
) -> pd.DataFrame:
    """Tabulate each strategy's metrics with a CI and a paired test against a baseline.

    Parameters
    ----------
    scores : mapping of str to mapping of str to array-like of shape (n_queries,)
        Strategy name -> metric name -> per-query values. Every strategy must
        report the same metrics, every array must have the same length and
        list the queries in the same order (the tests pair them by position).
    baseline : str
        The strategy every other one is compared with.
    confidence : float, default=0.95
        Level of the BCa bootstrap interval of each mean (:func:`bootstrap_ci`).
    test : {"permutation", "t"}, default="permutation"
        Which p-value feeds ``p_value`` and ``significant``: the paired
        randomisation test or the paired t-test. Both are always reported.
    correction : {"holm", "bonferroni", "fdr_bh", "none"}, default="holm"
        Multiple-comparison adjustment (:func:`adjust_pvalues`), applied per
        metric over the family of non-baseline strategies.
    n_resamples : int, default=10_000
        Resamples for both the bootstrap and the permutation test.
    alpha : float, default=0.05
        Significance level for ``significant``.
    random_state : int, numpy.random.Generator or None, default=0
        Seeds one generator from which every bootstrap and permutation test
        draws its own seed, two per row in row order; the table is
        reproducible for a fixed int.

    Returns
    -------
    pandas.DataFrame
        One row per (strategy, metric), strategies in input order and metrics
        in each strategy's order, with columns ``strategy, metric, n_queries,
        mean, ci_low, ci_high, delta, t_p_value, perm_p_value, p_value,
        significant``. ``delta`` is the mean minus the baseline's mean;
        ``p_value`` is the ``test`` p-value after ``correction``. The
        baseline's rows have ``delta = 0.0``, NaN p-values and
        ``significant = False``.

    Raises
    ------
    ImportError
        pandas is not installed.
    ValueError
        Unknown baseline, test or correction; mismatched metrics or lengths
        (the message names the strategy and metric); invalid values,
        ``confidence`` or ``alpha`` outside (0, 1), ``n_resamples < 1``.
    """
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError('compare_strategies needs pandas: pip install "skfusion[frame]"') from exc

    if test not in ("permutation", "t"):
        raise ValueError(f"test must be 'permutation' or 't', got {test!r}.")
    if correction not in ("holm", "bonferroni", "fdr_bh", "none"):
        raise ValueError(
            f"correction must be one of 'holm', 'bonferroni', 'fdr_bh', 'none', got {correction!r}."
        )
    confidence = _check_confidence(confidence)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}.")
    n_resamples = _check_n_resamples(n_resamples)
    data = _validate_scores(scores, baseline)

    rng = np.random.default_rng(random_state)
    rows: list[dict[str, Any]] = []
    for strategy, metrics in data.items():
        for metric, values in metrics.items():
            ci_seed, perm_seed = (int(s) for s in rng.integers(0, 2**63 - 1, size=2))
            low, high = bootstrap_ci(
                values, confidence=confidence, n_resamples=n_resamples, random_state=ci_seed
            )
            base = data[baseline][metric]
            row: dict[str, Any] = {
                "strategy": strategy,
                "metric": metric,
                "n_queries": int(values.shape[0]),
                "mean": float(np.mean(values)),
                "ci_low": low,
                "ci_high": high,
                "delta": float(np.mean(values) - np.mean(base)),
                "t_p_value": np.nan,
                "perm_p_value": np.nan,
            }
            if strategy != baseline:  # the baseline's delta is exactly 0.0
                row["t_p_value"] = paired_t_test(values, base).p_value
                row["perm_p_value"] = permutation_test(
                    values, base, n_resamples=n_resamples, random_state=perm_seed
                ).p_value
            rows.append(row)

    frame = pd.DataFrame(rows, columns=COLUMNS[:-2])
    raw = frame["perm_p_value" if test == "permutation" else "t_p_value"].to_numpy(dtype=float)
    adjusted = np.full(len(frame), np.nan)
    for metric in frame["metric"].unique():
        idx = np.flatnonzero((frame["metric"] == metric).to_numpy())
        adjusted[idx] = adjust_pvalues(raw[idx], correction)
    frame["p_value"] = adjusted
    frame["significant"] = np.nan_to_num(adjusted, nan=1.0) < alpha
    return frame
