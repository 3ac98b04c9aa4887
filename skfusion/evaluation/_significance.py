"""Paired significance tests, bootstrap intervals and p-value corrections.

Every function works on *per-query* scores: ``a[i]`` and ``b[i]`` are the
values of one metric for query ``i`` under two retrieval strategies. The tests
are paired over queries, so the query-to-query variance (some queries are
simply harder) cancels out of the comparison.

The statistics come from :mod:`scipy.stats`; only the family-wise corrections
(Holm, Bonferroni) are written here, because scipy has no function for them.
"""

from __future__ import annotations

import inspect
from typing import Any, Literal, NamedTuple

import numpy as np
import scipy.stats as st
from numpy.typing import ArrayLike

__all__ = [
    "PairedTestResult",
    "adjust_pvalues",
    "bootstrap_ci",
    "paired_t_test",
    "permutation_test",
]

RandomState = int | np.random.Generator | None

# Differences that agree to within this many units in the last place of the
# largest score are treated as identical (``(x + 0.2) - x`` is not exactly 0.2).
_ULPS = 16


class PairedTestResult(NamedTuple):
    """Outcome of a paired two-sided test.

    Attributes
    ----------
    statistic : float
        The test statistic: Student's t for :func:`paired_t_test`, the mean
        difference for :func:`permutation_test`.
    p_value : float
        Two-sided p-value of the null hypothesis that the mean difference is 0.
    mean_difference : float
        ``mean(a - b)`` over the queries.
    """

    statistic: float
    p_value: float
    mean_difference: float


def _as_scores(values: ArrayLike, name: str) -> np.ndarray:
    """Validate one vector of per-query scores and return it as float64."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}.")
    arr = arr.astype(np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per query), got shape {arr.shape}.")
    if arr.shape[0] < 2:
        raise ValueError(f"{name} has {arr.shape[0]} queries; at least 2 are needed.")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name}[{bad[0]}] = {arr[bad[0]]} is not finite.")
    return arr


def _as_pair(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x = _as_scores(a, "a")
    y = _as_scores(b, "b")
    if x.shape != y.shape:
        raise ValueError(
            f"a and b must score the same queries: a has {x.shape[0]} values, b has {y.shape[0]}."
        )
    return x, y


def _tolerance(*arrays: np.ndarray) -> float:
    """Rounding tolerance for differences of the given scores."""
    scale = max(float(np.max(np.abs(arr))) for arr in arrays)
    return _ULPS * float(np.finfo(np.float64).eps) * scale


def _is_constant(values: np.ndarray, tol: float) -> bool:
    return float(np.ptp(values)) <= tol


def _check_n_resamples(n_resamples: int) -> int:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer):
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}.")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples}.")
    return int(n_resamples)


def _check_confidence(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}.")
    return float(confidence)


def _rng_kwargs(func: Any, random_state: RandomState) -> dict[str, np.random.Generator]:
    """Seed keyword for a scipy resampling function.

    scipy >= 1.15 calls it ``rng``; older versions ``random_state``. Both
    accept a ``Generator``, which keeps the stream identical across versions.
    """
    rng = np.random.default_rng(random_state)
    key = "rng" if "rng" in inspect.signature(func).parameters else "random_state"
    return {key: rng}


def paired_t_test(a: ArrayLike, b: ArrayLike) -> PairedTestResult:
    """Two-sided paired t-test of ``mean(a - b) = 0``.

    Parameters
    ----------
    a, b : array-like of shape (n_queries,)
        Per-query scores of two strategies, in the same query order.

    Returns
    -------
    PairedTestResult
        ``statistic`` is ``mean(d) / (sd(d) / sqrt(n))`` with ``d = a - b``,
        from :func:`scipy.stats.ttest_rel`.

    Raises
    ------
    ValueError
        Inputs not 1-D, of different lengths, shorter than 2 queries, or with
        non-finite values.

    Notes
    -----
    When all differences are equal the standard deviation is 0 and scipy
    returns NaN. Here, differences equal up to rounding (spread within 16 ulp
    of the largest score) are treated as constant: all zero gives
    ``statistic = 0.0`` and ``p_value = 1.0``; a nonzero constant gives
    ``statistic = ±inf`` (the sign of the difference) and ``p_value = 0.0``.
    """
    x, y = _as_pair(a, b)
    d = x - y
    mean_diff = float(np.mean(d))
    tol = _tolerance(x, y)
    if _is_constant(d, tol):
        if float(np.max(np.abs(d))) <= tol:
            return PairedTestResult(0.0, 1.0, 0.0)
        return PairedTestResult(float(np.copysign(np.inf, mean_diff)), 0.0, mean_diff)
    res = st.ttest_rel(x, y)
    return PairedTestResult(float(res.statistic), float(res.pvalue), mean_diff)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def permutation_test(
    a: ArrayLike,
    b: ArrayLike,
    *,
    n_resamples: int = 10_000,
    random_state: RandomState = None,
) -> PairedTestResult:
    """Paired two-sided randomisation test of ``mean(a - b) = 0``.

    Under the null hypothesis the two strategies are exchangeable on every
    query, so each per-query difference is equally likely to have either sign.
    The null distribution of the mean difference is built from random sign
    flips (:func:`scipy.stats.permutation_test` with
    ``permutation_type="samples"``).

    Parameters
    ----------
    a, b : array-like of shape (n_queries,)
        Per-query scores of two strategies, in the same query order.
    n_resamples : int, default=10_000
        Number of random sign-flip vectors. When ``2**n_queries <= n_resamples``
        all sign flips are enumerated and the p-value is exact.
    random_state : int, numpy.random.Generator or None, default=None
        Seed of the resampling; ``None`` draws fresh entropy.

    Returns
    -------
    PairedTestResult
        ``statistic`` and ``mean_difference`` are both ``mean(a - b)``. For a
        randomised (not enumerated) test, scipy counts the observed value as
        one of the resamples, so the p-value is never below
        ``2 / (n_resamples + 1)``.

    Raises
    ------
    ValueError
        Invalid inputs (see :func:`paired_t_test`) or ``n_resamples < 1``.

    Notes
    -----
    Identical scores (all differences 0 up to rounding) give
    ``statistic = 0.0`` and ``p_value = 1.0`` without resampling.
    """
    x, y = _as_pair(a, b)
    n_resamples = _check_n_resamples(n_resamples)
    d = x - y
    if float(np.max(np.abs(d))) <= _tolerance(x, y):
        return PairedTestResult(0.0, 1.0, 0.0)
    res = st.permutation_test(
        (x, y),
        _mean_difference,
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="two-sided",
        **_rng_kwargs(st.permutation_test, random_state),
    )
    return PairedTestResult(float(res.statistic), float(min(res.pvalue, 1.0)), float(np.mean(d)))


def bootstrap_ci(
    values: ArrayLike,
    *,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    method: Literal["percentile", "basic", "bca"] = "bca",
    random_state: RandomState = None,
) -> tuple[float, float]:
    """Bootstrap confidence interval of the mean of per-query scores.

    Parameters
    ----------
    values : array-like of shape (n_queries,)
        One metric's per-query values.
    confidence : float, default=0.95
        Confidence level, in (0, 1).
    n_resamples : int, default=10_000
        Number of bootstrap resamples.
    method : {"percentile", "basic", "bca"}, default="bca"
        Interval construction, as in :func:`scipy.stats.bootstrap`. BCa
        (bias-corrected and accelerated) has the best coverage in general.
    random_state : int, numpy.random.Generator or None, default=None
        Seed of the resampling.

    Returns
    -------
    (low, high) : tuple of float

    Raises
    ------
    ValueError
        Invalid values (not 1-D, fewer than 2, non-finite), ``confidence``
        outside (0, 1), ``n_resamples < 1`` or an unknown ``method``.

    Notes
    -----
    Constant values (up to rounding) have a degenerate bootstrap distribution,
    for which BCa is undefined; the interval is then ``(v, v)`` with ``v`` the
    mean, without calling scipy or warning.
    """
    x = _as_scores(values, "values")
    confidence = _check_confidence(confidence)
    n_resamples = _check_n_resamples(n_resamples)
    if method not in ("percentile", "basic", "bca"):
        raise ValueError(f"method must be one of 'percentile', 'basic', 'bca', got {method!r}.")
    if _is_constant(x, _tolerance(x)):
        mean = float(x[0] + np.mean(x - x[0]))  # exactly x[0] when all values are equal
        return mean, mean
    res = st.bootstrap(
        (x,),
        np.mean,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method=method,
        vectorized=True,
        **_rng_kwargs(st.bootstrap, random_state),
    )
    ci = res.confidence_interval
    return float(ci.low), float(ci.high)


def _holm(p: np.ndarray) -> np.ndarray:
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


def adjust_pvalues(
    p_values: ArrayLike,
    method: Literal["holm", "bonferroni", "fdr_bh", "none"] = "holm",
) -> np.ndarray:
    """Adjust a family of p-values for multiple comparisons.

    Parameters
    ----------
    p_values : array-like of shape (m,)
        Raw p-values in [0, 1]. NaN entries (no test) pass through as NaN and
        do not count towards the family size.
    method : {"holm", "bonferroni", "fdr_bh", "none"}, default="holm"
        - ``"holm"``: Holm's step-down procedure, controls the family-wise
          error rate; uniformly more powerful than Bonferroni. With sorted
          ``p_(1) <= ... <= p_(m)``, ``adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``.
        - ``"bonferroni"``: ``min(1, m p)``.
        - ``"fdr_bh"``: Benjamini–Hochberg, controls the false discovery rate
          (via :func:`scipy.stats.false_discovery_control`).
        - ``"none"``: the p-values unchanged.

        Holm and Bonferroni are written here because scipy provides only
        false-discovery-rate control; both are a few lines of arithmetic and
        adding statsmodels for them is not worth the dependency.

    Returns
    -------
    ndarray of float64, shape (m,)

    Raises
    ------
    ValueError
        Not 1-D, values outside [0, 1], or an unknown method.
    """
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p_values must be 1-D, got shape {p.shape}.")
    if method not in ("holm", "bonferroni", "fdr_bh", "none"):
        raise ValueError(
            f"method must be one of 'holm', 'bonferroni', 'fdr_bh', 'none', got {method!r}."
        )
    present = ~np.isnan(p)
    bad = np.flatnonzero(present & ((p < 0) | (p > 1)))
    if bad.size:
        raise ValueError(f"p_values[{bad[0]}] = {p[bad[0]]} is not in [0, 1].")
    out = p.copy()
    finite = p[present]
    if finite.size == 0 or method == "none":
        return out
    if method == "holm":
        out[present] = _holm(finite)
    elif method == "bonferroni":
        out[present] = np.minimum(finite * finite.size, 1.0)
    else:
        out[present] = st.false_discovery_control(finite, method="bh")
    return out
