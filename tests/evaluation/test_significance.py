"""Paired tests, bootstrap intervals, p-value corrections and the comparison table."""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import scipy.stats as st

from skfusion.evaluation import (
    adjust_pvalues,
    bootstrap_ci,
    compare_strategies,
    paired_t_test,
    permutation_test,
)

# Six queries, distinct |differences| so the enumeration has no near-ties.
A6 = np.array([0.61, 0.42, 0.77, 0.35, 0.58, 0.90])
B6 = np.array([0.50, 0.47, 0.52, 0.33, 0.41, 0.86])


# --- paired t-test ---------------------------------------------------------------------------


def test_t_test_matches_textbook_formula() -> None:
    a = np.array([0.8, 0.6, 0.7, 0.9, 0.5])
    b = np.array([0.7, 0.65, 0.5, 0.6, 0.55])
    d = a - b  # [0.1, -0.05, 0.2, 0.3, -0.05]
    n = d.size
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    t = mean / (sd / math.sqrt(n))
    p = 2 * st.t.sf(abs(t), df=n - 1)
    res = paired_t_test(a, b)
    assert res.statistic == pytest.approx(t, rel=1e-12)
    assert res.p_value == pytest.approx(p, rel=1e-10)
    assert res.mean_difference == pytest.approx(0.1, rel=1e-12)
    # Swapping the arguments flips the sign, not the p-value.
    swapped = paired_t_test(b, a)
    assert swapped.statistic == pytest.approx(-t, rel=1e-12)
    assert swapped.p_value == pytest.approx(p, rel=1e-10)


def test_t_test_identical_inputs() -> None:
    res = paired_t_test(A6, A6.copy())
    assert res == (0.0, 1.0, 0.0)


@pytest.mark.parametrize(("shift", "sign"), [(0.2, 1.0), (-0.1, -1.0)])
def test_t_test_constant_difference(shift: float, sign: float) -> None:
    # (x + 0.2) - x is 0.2 only up to rounding; it must still count as constant.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = paired_t_test(A6 + shift, A6)
    assert res.statistic == sign * np.inf
    assert res.p_value == 0.0
    assert res.mean_difference == pytest.approx(shift)


# --- permutation test ------------------------------------------------------------------------


def test_permutation_exact_matches_enumeration() -> None:
    d = A6 - B6
    observed = abs(d.mean())
    signs = np.array(list(itertools.product([1.0, -1.0], repeat=d.size)))  # all 2^6 flips
    null = signs @ d / d.size
    expected = np.mean(np.abs(null) >= observed - 1e-12)
    assert 0.05 < expected < 0.5  # a p-value in the interesting range, not an edge case
    res = permutation_test(A6, B6, n_resamples=10**6)
    assert res.p_value == pytest.approx(expected, abs=1e-12)
    assert res.statistic == pytest.approx(d.mean())
    assert res.mean_difference == pytest.approx(d.mean())


def test_permutation_random_is_seeded_and_close_to_exact() -> None:
    exact = permutation_test(A6, B6, n_resamples=10**6).p_value
    one = permutation_test(A6, B6, n_resamples=2000, random_state=7)
    two = permutation_test(A6, B6, n_resamples=2000, random_state=np.random.default_rng(7))
    assert one == two
    assert one.p_value == pytest.approx(exact, abs=0.05)


def test_permutation_identical_and_clearly_different() -> None:
    assert permutation_test(A6, A6.copy(), n_resamples=100).p_value == 1.0
    rng = np.random.default_rng(0)
    a = rng.random(50)
    res = permutation_test(a + 0.2, a, n_resamples=999, random_state=0)
    assert res.p_value == pytest.approx(2 / 1000)  # the floor of a randomised test
    assert res.mean_difference == pytest.approx(0.2)


# --- bootstrap -------------------------------------------------------------------------------


def test_bootstrap_percentile_matches_numpy_reimplementation() -> None:
    x = np.random.default_rng(1).normal(0.5, 0.2, 25)
    low, high = bootstrap_ci(x, method="percentile", n_resamples=2000, random_state=3)
    # Same stream as scipy: one (n_resamples, n) draw of indices from default_rng(3).
    idx = np.random.default_rng(3).integers(0, x.size, (2000, x.size))
    means = x[idx].mean(axis=1)
    np.testing.assert_allclose([low, high], np.quantile(means, [0.025, 0.975]), rtol=1e-12)
    # The basic interval reflects the percentile one around the mean.
    b_low, b_high = bootstrap_ci(x, method="basic", n_resamples=2000, random_state=3)
    np.testing.assert_allclose([b_low, b_high], [2 * x.mean() - high, 2 * x.mean() - low])


def test_bootstrap_contains_mean_and_widens_with_confidence() -> None:
    x = np.random.default_rng(2).exponential(size=40)
    widths = []
    for conf in (0.5, 0.8, 0.95, 0.99):
        low, high = bootstrap_ci(x, confidence=conf, n_resamples=2000, random_state=0)
        assert low < x.mean() < high
        widths.append(high - low)
    assert np.all(np.diff(widths) > 0)


def test_bootstrap_bca_coverage() -> None:
    rng = np.random.default_rng(12345)
    hits = 0
    for _ in range(200):
        x = rng.normal(1.0, 1.0, 30)
        low, high = bootstrap_ci(x, n_resamples=499, random_state=rng)
        hits += low <= 1.0 <= high
    assert 0.9 <= hits / 200 <= 0.99


@pytest.mark.parametrize("method", ["percentile", "basic", "bca"])
def test_bootstrap_constant_values(method: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert bootstrap_ci(np.full(10, 0.3), method=method) == (0.3, 0.3)  # type: ignore[arg-type]


# --- p-value corrections ---------------------------------------------------------------------

P5 = [0.01, 0.04, 0.035, 0.005, 0.5]


def test_holm_hand_worked() -> None:
    # m = 5, sorted: 0.005, 0.01, 0.035, 0.04, 0.5
    # (m - j + 1) p_(j): 5*0.005=0.025, 4*0.01=0.04, 3*0.035=0.105, 2*0.04=0.08, 1*0.5=0.5
    # running max:       0.025,         0.04,        0.105,         0.105,       0.5
    expected = [0.04, 0.105, 0.105, 0.025, 0.5]  # back in input order
    np.testing.assert_allclose(adjust_pvalues(P5, "holm"), expected, rtol=1e-12)
    np.testing.assert_allclose(adjust_pvalues(P5), expected, rtol=1e-12)  # the default


def test_holm_caps_at_one() -> None:
    # m = 3: 3*0.2=0.6, 2*0.6=1.2 -> 1, 1*0.9=0.9 -> running max keeps 1.
    np.testing.assert_allclose(adjust_pvalues([0.9, 0.2, 0.6], "holm"), [1.0, 0.6, 1.0])


def test_bh_hand_worked() -> None:
    # m = 5, sorted p_(i) * m / i: 0.005*5/1=0.025, 0.01*5/2=0.025, 0.035*5/3=0.058333,
    # 0.04*5/4=0.05, 0.5*5/5=0.5; running min from the largest: 0.025, 0.025, 0.05, 0.05, 0.5
    expected = [0.025, 0.05, 0.05, 0.025, 0.5]
    np.testing.assert_allclose(adjust_pvalues(P5, "fdr_bh"), expected, rtol=1e-12)


def test_bonferroni_caps_at_one() -> None:
    # m = 5: 5 * p, capped at 1.
    np.testing.assert_allclose(
        adjust_pvalues(P5, "bonferroni"), [0.05, 0.2, 0.175, 0.025, 1.0], rtol=1e-12
    )


def test_none_and_nan_passthrough() -> None:
    np.testing.assert_array_equal(adjust_pvalues(P5, "none"), P5)
    # NaN is not counted: m = 2 here.
    out = adjust_pvalues([0.01, np.nan, 0.04], "holm")
    np.testing.assert_allclose(out, [0.02, np.nan, 0.04])
    out = adjust_pvalues([0.01, np.nan, 0.04], "bonferroni")
    np.testing.assert_allclose(out, [0.02, np.nan, 0.08])
    assert np.isnan(adjust_pvalues([np.nan, np.nan], "fdr_bh")).all()
    assert adjust_pvalues([], "holm").shape == (0,)


# --- error paths -----------------------------------------------------------------------------


@pytest.mark.parametrize("func", [paired_t_test, permutation_test])
def test_paired_input_errors(func: Callable[..., Any]) -> None:
    with pytest.raises(ValueError, match=r"a must be 1-D .*shape \(2, 2\)"):
        func(np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="a has 3 values, b has 4"):
        func([1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="a has 1 queries; at least 2"):
        func([1.0], [1.0])
    with pytest.raises(ValueError, match=r"b\[1\] = nan is not finite"):
        func([1.0, 2.0], [1.0, np.nan])
    with pytest.raises(ValueError, match=r"a\[0\] = inf is not finite"):
        func([np.inf, 2.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="must hold real numbers"):
        func(["x", "y"], [1.0, 2.0])


def test_resampling_parameter_errors() -> None:
    with pytest.raises(ValueError, match="n_resamples must be a positive integer, got 0"):
        permutation_test(A6, B6, n_resamples=0)
    with pytest.raises(ValueError, match="n_resamples must be a positive integer, got 1.5"):
        bootstrap_ci(A6, n_resamples=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"confidence must be in \(0, 1\), got 1.0"):
        bootstrap_ci(A6, confidence=1.0)
    with pytest.raises(ValueError, match="method must be one of 'percentile'.*'student'"):
        bootstrap_ci(A6, method="student")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="values has 1 queries"):
        bootstrap_ci([0.5])


def test_adjust_errors() -> None:
    with pytest.raises(ValueError, match=r"p_values\[1\] = 1.5 is not in \[0, 1\]"):
        adjust_pvalues([0.1, 1.5])
    with pytest.raises(ValueError, match="p_values must be 1-D"):
        adjust_pvalues([[0.1, 0.2]])
    with pytest.raises(ValueError, match="method must be one of .*'sidak'"):
        adjust_pvalues([0.1], "sidak")  # type: ignore[arg-type]


# --- compare_strategies ----------------------------------------------------------------------

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


def _scores() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    ndcg = rng.random(50)
    mrr = rng.random(50)
    return {
        "average": {"ndcg": ndcg, "mrr": mrr},
        "hybrid": {"ndcg": ndcg + 0.2, "mrr": mrr + rng.normal(0, 0.3, 50)},
        "copy": {"ndcg": ndcg.copy(), "mrr": mrr.copy()},
        "noisy": {"ndcg": ndcg + rng.normal(0.05, 0.2, 50), "mrr": mrr + rng.normal(0.05, 0.2, 50)},
    }


def test_compare_table() -> None:
    scores = _scores()
    df = compare_strategies(scores, "average", n_resamples=999)
    assert list(df.columns) == COLUMNS
    assert list(zip(df["strategy"], df["metric"], strict=True)) == [
        (s, m) for s in ("average", "hybrid", "copy", "noisy") for m in ("ndcg", "mrr")
    ]
    assert (df["n_queries"] == 50).all()
    base = df[df["strategy"] == "average"]
    assert (base["delta"] == 0.0).all()
    assert base[["t_p_value", "perm_p_value", "p_value"]].isna().all().all()
    assert not base["significant"].any()
    row = df.set_index(["strategy", "metric"])
    np.testing.assert_allclose(row.loc[("hybrid", "ndcg"), "delta"], 0.2)
    assert row.loc[("hybrid", "ndcg"), "mean"] == pytest.approx(scores["hybrid"]["ndcg"].mean())
    assert row.loc[("hybrid", "ndcg"), "p_value"] < 0.01
    assert row.loc[("hybrid", "ndcg"), "significant"]
    for metric in ("ndcg", "mrr"):
        assert row.loc[("copy", metric), "p_value"] == 1.0
        assert not row.loc[("copy", metric), "significant"]
    assert (df["ci_low"] <= df["mean"]).all()
    assert (df["mean"] <= df["ci_high"]).all()


@pytest.mark.parametrize(
    ("test", "column", "correction"),
    [("permutation", "perm_p_value", "holm"), ("t", "t_p_value", "fdr_bh")],
)
def test_compare_correction_within_metric(test: Any, column: str, correction: Any) -> None:
    df = compare_strategies(_scores(), "average", test=test, correction=correction, n_resamples=499)
    for metric in ("ndcg", "mrr"):
        family = df[(df["metric"] == metric) & (df["strategy"] != "average")]
        assert len(family) == 3
        expected = adjust_pvalues(family[column].to_numpy(), correction)
        np.testing.assert_allclose(family["p_value"], expected)
        np.testing.assert_array_equal(family["significant"], expected < 0.05)
    # The family is per metric, not the whole table: a pooled Holm would use m = 6.
    pooled = adjust_pvalues(df[column].to_numpy(), correction)
    assert not np.allclose(np.nan_to_num(pooled), np.nan_to_num(df["p_value"].to_numpy()))


def test_compare_uncorrected_and_alpha() -> None:
    df = compare_strategies(_scores(), "average", correction="none", n_resamples=199, alpha=0.5)
    others = df[df["strategy"] != "average"]
    np.testing.assert_array_equal(others["p_value"], others["perm_p_value"])
    np.testing.assert_array_equal(others["significant"], others["p_value"] < 0.5)


def test_compare_reproducible() -> None:
    one = compare_strategies(_scores(), "average", n_resamples=199, random_state=3)
    two = compare_strategies(_scores(), "average", n_resamples=199, random_state=3)
    other = compare_strategies(_scores(), "average", n_resamples=199, random_state=4)
    assert one.equals(two)
    assert not one[["ci_low", "ci_high"]].equals(other[["ci_low", "ci_high"]])


def test_compare_errors() -> None:
    scores = _scores()
    with pytest.raises(ValueError, match=r"Unknown baseline 'bm25'.*'average', 'copy'"):
        compare_strategies(scores, "bm25")
    short = {**scores, "copy": {"ndcg": scores["copy"]["ndcg"][:40], "mrr": scores["copy"]["mrr"]}}
    with pytest.raises(
        ValueError, match=r"scores\['copy'\]\['ndcg'\] has 40 queries, the others 50"
    ):
        compare_strategies(short, "average")
    missing = {**scores, "noisy": {"ndcg": scores["noisy"]["ndcg"]}}
    with pytest.raises(ValueError, match=r"'noisy' must report .*missing \['mrr'\], extra \[\]"):
        compare_strategies(missing, "average")
    with pytest.raises(ValueError, match="test must be 'permutation' or 't'"):
        compare_strategies(scores, "average", test="wilcoxon")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="correction must be one of"):
        compare_strategies(scores, "average", correction="sidak")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\)"):
        compare_strategies(scores, "average", alpha=0.0)
    with pytest.raises(ValueError, match="non-empty mapping"):
        compare_strategies({}, "average")


def test_compare_without_pandas(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("no pandas")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r'pip install "skfusion\[frame\]"'):
        compare_strategies(_scores(), "average")
