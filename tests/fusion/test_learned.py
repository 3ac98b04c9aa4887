"""LearnedFusion: ListNet-fitted static weights (gradient, planted weights, sklearn API)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import softmax
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score

from skfusion import AverageFusion, Catalog, WeightedFusion
from skfusion.fusion.learned import LearnedFusion, _objective
from skfusion.metrics._relevance import as_relevance

from .._data import grouped_queries, unit_rows
from .._tolerance import assert_same_topk, fused_atol


def _random_problem(seed: int, *, missing: bool = False):
    """Gathered candidates of a small random catalog: (S, K, target, valid)."""
    rng = np.random.default_rng(seed)
    comps = {name: unit_rows(rng, (30, 6)).astype(np.float64) for name in "abc"}
    masks = None
    if missing:
        comps["b"][:5] = 0.0
        comps["c"][3:8] = 0.0
        masks = {"b": np.arange(30) >= 5, "c": (np.arange(30) < 3) | (np.arange(30) >= 8)}
    cat = Catalog.from_arrays(comps, masks=masks)
    X = unit_rows(rng, (7, 6))
    y = np.zeros((7, 30))
    y[np.arange(7), rng.integers(0, 30, 7)] = 2
    y[np.arange(7), rng.integers(0, 30, 7)] += 1
    est = LearnedFusion(cat, n_negatives=10)
    est.n_features_in_ = cat.dim
    return cat, est._candidates(cat, X, as_relevance(y, 7, 30), [np.full(cat.n_components, 0.5)])


def _numeric_grad(f, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    out = np.empty_like(theta)
    for c in range(theta.size):
        e = np.zeros_like(theta)
        e[c] = h
        out[c] = (f(theta + e) - f(theta - e)) / (2 * h)
    return out


@pytest.mark.parametrize("missing", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 0.7])
def test_gradient_matches_finite_differences(missing: bool, alpha: float) -> None:
    _, (S, K, target, valid) = _random_problem(0, missing=missing)
    assert valid.sum() > valid.shape[0] * 10  # relevant items and negatives
    rng = np.random.default_rng(1)
    for theta in (rng.normal(size=3), np.array([0.3, -1.2, 2.0])):
        args = (S, K, target, valid, 0.1, alpha)
        loss, grad = _objective(theta, *args)
        num = _numeric_grad(lambda t, a=args: _objective(t, *a)[0], theta)
        assert np.isfinite(loss)
        np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-9)


def test_zero_fused_vector_stays_finite() -> None:
    # Items missing "b" and "c" keep only "a"; weight ~0 on "a" zeroes their fused vector.
    _, (S, K, target, valid) = _random_problem(0, missing=True)
    theta = np.array([-800.0, 0.0, 0.0])  # w_a underflows to exactly 0
    assert softmax(theta)[0] == 0.0
    loss, grad = _objective(theta, S, K, target, valid, 0.05, 0.0)
    assert np.isfinite(loss)
    assert np.all(np.isfinite(grad))


def test_loss_matches_hand_computation_and_optimum_is_component_0() -> None:
    # q = e0. Item 0 (relevant): a = e0, b = e1. Item 1: a = e1, b = e1.
    # Only component a separates item 0: cos_0 = w_a / sqrt(w_a² + w_b²), cos_1 = 0.
    cat = Catalog.from_arrays({"a": np.eye(2), "b": np.array([[0.0, 1.0], [0.0, 1.0]])})
    X = np.array([[1.0, 0.0]])
    T = 1.0
    est = LearnedFusion(cat, alpha=0.0, temperature=T, n_negatives=1, random_state=0)
    est.fit(X, np.array([0]))
    assert est.weights_[0] > 0.99
    z0 = 1 / np.sqrt(2)  # equal weights
    expected = np.log(np.exp(z0 / T) + 1.0) - z0 / T
    S, K, target, valid = est._candidates(
        cat, X.astype(np.float32), sp.csr_matrix([[1.0, 0]]), [np.full(cat.n_components, 0.5)]
    )
    loss, _ = _objective(np.zeros(2), S, K, target, valid, T, 0.0)
    assert loss == pytest.approx(expected, rel=1e-6)
    assert est.loss_ < expected - 0.08  # the optimum, z = 1, gives log(e + 1) - 1
    z_end = est.weights_[0] / np.linalg.norm(est.weights_)
    assert est.loss_ == pytest.approx(np.log(np.exp(z_end / T) + 1) - z_end / T, rel=1e-5)


@pytest.fixture(scope="module")
def grouped():
    cat, X, y, groups = grouped_queries(0)
    train = groups < 27
    return cat, X, y, groups, train


def test_planted_weights_are_recovered(grouped) -> None:
    cat, X, y, _, train = grouped
    est = LearnedFusion(cat, alpha=0.1, random_state=0).fit(X[train], y[train])
    assert est.component_names_ == ("good", "noise")
    assert est.weights_[0] > 0.8
    np.testing.assert_array_equal(est.global_weights_, est.weights_)
    assert est.weights_.sum() == pytest.approx(1.0)
    assert est.n_iter_ >= 1
    held_out = est.score(X[~train], y[~train])
    average = AverageFusion(cat).fit().score(X[~train], y[~train])
    assert held_out >= average + 0.1
    # It ranks exactly like WeightedFusion with the learned weights.
    fixed = WeightedFusion(cat, weights=est.weights_).fit()
    np.testing.assert_array_equal(est.kneighbors(X[:5])[1], fixed.kneighbors(X[:5])[1])


def test_large_alpha_gives_equal_weights(grouped) -> None:
    cat, X, y, _, train = grouped
    est = LearnedFusion(cat, alpha=1e6, random_state=0).fit(X[train], y[train])
    np.testing.assert_allclose(est.weights_, [0.5, 0.5], atol=1e-3)
    free = LearnedFusion(cat, alpha=0.0, random_state=0).fit(X[train], y[train])
    assert free.loss_ < est.loss_


def test_grid_search_and_cross_val_score(grouped) -> None:
    cat, X, y, groups, _ = grouped
    grid = GridSearchCV(LearnedFusion(cat, random_state=0), {"alpha": [0.01, 1, 100]}, cv=3)
    grid.fit(X, sp.csr_matrix(y))
    assert grid.best_params_["alpha"] == 0.01
    assert grid.best_estimator_.weights_[0] > 0.8
    scores = cross_val_score(
        LearnedFusion(cat, random_state=0), X, y, cv=GroupKFold(3), groups=groups
    )
    assert scores.shape == (3,)
    assert np.all(scores > AverageFusion(cat).fit().score(X, y))


def test_one_relevant_item_per_query_matches_dense(grouped) -> None:
    cat, X, y, _, train = grouped
    target = y[train].argmax(axis=1)
    dense = np.zeros_like(y[train])
    dense[np.arange(target.size), target] = 1
    a = LearnedFusion(cat, random_state=0).fit(X[train], target)
    b = LearnedFusion(cat, random_state=0).fit(X[train], dense)
    np.testing.assert_allclose(a.weights_, b.weights_)


def test_clone_pickle_fit_returns_self_and_random_state(grouped) -> None:
    cat, X, y, _, train = grouped
    est = LearnedFusion(cat, alpha=0.5, random_state=3)
    assert est.fit(X[train], y[train]) is est
    copy = clone(est)
    assert copy.catalog is cat
    assert copy.get_params() == est.get_params()
    assert not hasattr(copy, "weights_")
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.weights_, est.weights_)
    np.testing.assert_array_equal(again.decision_function(X[:4]), est.decision_function(X[:4]))
    twin = LearnedFusion(cat, alpha=0.5, random_state=3).fit(X[train], y[train])
    np.testing.assert_array_equal(twin.weights_, est.weights_)
    other = LearnedFusion(cat, alpha=0.5, random_state=4).fit(X[train], y[train])
    assert not np.array_equal(other.weights_, est.weights_)  # the seed is used ...
    np.testing.assert_allclose(other.weights_, est.weights_, atol=1e-3)  # ... only to jitter


def test_missing_components_fit() -> None:
    rng = np.random.default_rng(5)
    good, noise = unit_rows(rng, (40, 8)), unit_rows(rng, (40, 8))
    noise[:10] = np.nan  # items 0-9 have only "good"
    good[30:] = np.nan  # items 30-39 have only "noise"
    cat = Catalog.from_arrays({"good": good, "noise": noise})
    assert cat.has_missing
    targets = np.arange(0, 40, 2)
    raw = np.nan_to_num(good[targets]) + np.nan_to_num(noise[targets]) * 0.2
    raw += rng.standard_normal(raw.shape) * 0.2
    X = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    est = LearnedFusion(cat, alpha=0.0, random_state=0).fit(X, targets)
    assert np.all(np.isfinite(est.weights_))
    assert np.isfinite(est.loss_)
    assert est.weights_[0] > 0.5
    assert np.all(np.isfinite(est.decision_function(X)))


def test_errors(grouped) -> None:
    cat, X, y, _, _ = grouped
    with pytest.raises(ValueError, match="judged queries"):
        LearnedFusion(cat).fit()
    with pytest.raises(ValueError, match="judged queries"):
        LearnedFusion(cat).fit(X)
    with pytest.raises(ValueError, match="judged queries"):
        LearnedFusion(cat).fit(None, y)
    with pytest.raises(ValueError, match="needs a catalog"):
        LearnedFusion().fit(X, y)
    with pytest.raises(ValueError, match="expected"):
        LearnedFusion(cat).fit(X, y[:, :-1])
    with pytest.raises(ValueError, match="entries for"):
        LearnedFusion(cat).fit(X, np.zeros(3, dtype=int))
    empty = y.copy()
    empty[4] = 0
    with pytest.raises(ValueError, match=r"no relevant item \(row 4\)"):
        LearnedFusion(cat).fit(X, empty)
    est = LearnedFusion(cat)
    with pytest.raises(ValueError, match="L2-normalised"):
        est.fit(X * 2, y)
    with pytest.raises(NotFittedError):
        est.decision_function(X)
    with pytest.raises(ValueError, match="features"):
        LearnedFusion(cat).fit(X[:, :-1], y)
    with pytest.raises(ValueError, match="raw queries"):
        LearnedFusion(cat).fit(["a query"] * len(X), y)
    for bad in ({"alpha": -1.0}, {"temperature": 0.0}, {"temperature": -0.1}):
        with pytest.raises(ValueError, match=f"'{next(iter(bad))}' parameter"):
            LearnedFusion(cat, **bad).fit(X, y)
    with pytest.raises(ValueError, match="'n_negatives' parameter"):
        LearnedFusion(cat, n_negatives=0).fit(X, y)
    with pytest.raises(ValueError, match="Unknown metric"):
        LearnedFusion(cat, scoring="nope").fit(X, y)


def test_max_iter_warns(grouped) -> None:
    from sklearn.exceptions import ConvergenceWarning

    cat, X, y, _, train = grouped
    with pytest.warns(ConvergenceWarning, match="max_iter=1"):
        est = LearnedFusion(cat, alpha=0.0, max_iter=1, random_state=0).fit(X[train], y[train])
    assert est.n_iter_ == est.n_rounds  # one iteration in each round


def test_candidates_are_relevant_items_then_hard_negatives(grouped) -> None:
    cat, X, y, _, _ = grouped
    est = LearnedFusion(cat, n_negatives=5)
    est.n_features_in_ = cat.dim
    rel = sp.csr_matrix(y[:6])
    S, K, target, valid = est._candidates(cat, X[:6], rel, [np.full(cat.n_components, 0.5)])
    assert S.shape == (6, 2 + 5, 2)
    assert K.shape == (6, 7, 2, 2)
    np.testing.assert_allclose(target.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.sort(target[:, :2]), [[0.25, 0.75]] * 6)  # gains 1 and 3
    assert not target[:, 2:].any()
    assert valid.all()
    top = WeightedFusion(cat).fit().kneighbors(X[:6], n_neighbors=7, return_distance=False)
    scores = np.einsum("qmc,c->qm", S, [0.5, 0.5]) / np.sqrt(
        np.einsum("qmab,a,b->qm", K, [0.5, 0.5], [0.5, 0.5])
    )
    for q in range(6):
        relevant = set(np.flatnonzero(y[q]))
        expected = [i for i in top[q] if i not in relevant][:5]
        full = WeightedFusion(cat).fit().decision_function(X[q : q + 1])[0]
        order = np.argsort(-full, kind="stable")
        own = [i for i in order if i not in relevant][:5]
        # One query and a batch of six are other BLAS call shapes: rounding differs within
        # the float32 bound (tests/_tolerance.py), so near ties may swap.
        tol = fused_atol(cat.dim, cat.gram)
        assert_same_topk(full[expected][None], np.array([expected]), full[own][None], [own], tol)
        # the gathered s_ic and Gram entries give the engine's equal-weight scores
        np.testing.assert_allclose(scores[q, 2:], full[expected], rtol=1e-5, atol=tol)
