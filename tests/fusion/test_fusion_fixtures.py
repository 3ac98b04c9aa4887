"""Hand-computed fixtures for each original strategy.

Two items, two components, 2-D vectors:
item 0: A = (1, 0), B = (0, 1); item 1: A = (1, 0), B = (1, 0).
Global weights: G_A = ‖(1, 0)‖² = 1, G_B = ‖(0.5, 0.5)‖² = 0.5.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from skfusion import AverageFusion, Catalog, HybridFusion, WeightedFusion
from skfusion.fusion import UndefinedScoreWarning
from skfusion.fusion._engine import fused_cosine
from skfusion.fusion._functional import score
from skfusion.fusion.hybrid import hybrid_weights


@pytest.fixture
def catalog() -> Catalog:
    A = np.array([[1, 0], [1, 0]], dtype=np.float32)
    B = np.array([[0, 1], [1, 0]], dtype=np.float32)
    return Catalog.from_arrays({"A": A, "B": B}, ids=["x", "y"])


def q(*v: float) -> np.ndarray:
    return np.array([v], dtype=np.float32)


def test_global_weights(catalog: Catalog) -> None:
    est = HybridFusion(catalog).fit()
    np.testing.assert_allclose(est.global_weights_, [1.0, 0.5])


def test_average(catalog: Catalog) -> None:
    # f0 = (0.5, 0.5): cos with (1, 0) is 1/sqrt(2); f1 = (1, 0): cos 1.
    s = AverageFusion(catalog).fit().decision_function(q(1, 0))
    np.testing.assert_allclose(s, [[1 / math.sqrt(2), 1.0]], rtol=1e-6)


def test_average_is_weighted_fusion_with_equal_weights_only(catalog: Catalog) -> None:
    # The original method's name for WeightedFusion(weights=None); other weights are refused.
    assert AverageFusion.__mro__[1] is WeightedFusion
    with pytest.raises(ValueError, match="'weights' parameter of AverageFusion must be None"):
        AverageFusion(catalog, weights=[0.75, 0.25]).fit()
    avg = AverageFusion(catalog, precompute=False).fit()
    eq = WeightedFusion(catalog, precompute=False).fit()
    np.testing.assert_array_equal(avg.global_weights_, [0.5, 0.5])
    np.testing.assert_array_equal(
        avg.decision_function(q(0.6, 0.8)), eq.decision_function(q(0.6, 0.8))
    )


def test_weighted_by_name_and_order(catalog: Catalog) -> None:
    # f0 = (0.75, 0.25): cos with (1, 0) = 0.75 / sqrt(0.625).
    expected = [[0.75 / math.sqrt(0.625), 1.0]]
    by_order = WeightedFusion(catalog, weights=[0.75, 0.25]).fit()
    by_name = WeightedFusion(catalog, weights={"B": 1, "A": 3}).fit()
    np.testing.assert_allclose(by_order.decision_function(q(1, 0)), expected, rtol=1e-6)
    np.testing.assert_allclose(by_name.decision_function(q(1, 0)), expected, rtol=1e-6)


def test_hybrid_positive_and_tie(catalog: Catalog) -> None:
    # q = (1, 0): item 0 W = (1, 0) -> f0 = A = (1, 0); item 1 W = (1, 0.5),
    # f1 = (1, 0). Both score 1: the tie goes to the lower position.
    est = HybridFusion(catalog).fit()
    np.testing.assert_allclose(est.decision_function(q(1, 0)), [[1.0, 1.0]], rtol=1e-6)
    _, idx = est.kneighbors(q(1, 0), n_neighbors=2)
    assert idx.tolist() == [[0, 1]]
    assert est.predict(q(1, 0)).tolist() == ["x"]
    ex = est.explain(q(1, 0)[0], ["y"])
    np.testing.assert_allclose(ex.weights, [[2 / 3, 1 / 3]], rtol=1e-6)
    np.testing.assert_allclose(ex.similarities, [[1.0, 1.0]], rtol=1e-6)


def test_hybrid_negative_policies(catalog: Catalog) -> None:
    # q = (0.6, -0.8). Item 0: s = (0.6, -0.8).
    #   clamp: W = (0.6, 0) -> f0 = A -> cos 0.6.
    #   literal: W = (0.6, -0.4), sum 0.2, w = (3, -2), f0 = (3, -2):
    #   cos = (1.8 + 1.6) / sqrt(13).
    # Item 1: s = (0.6, 0.6), f1 = (1, 0) -> cos 0.6 under both.
    clamp = HybridFusion(catalog).fit().decision_function(q(0.6, -0.8))
    literal = HybridFusion(catalog, negative="literal").fit().decision_function(q(0.6, -0.8))
    np.testing.assert_allclose(clamp, [[0.6, 0.6]], rtol=1e-6)
    np.testing.assert_allclose(literal, [[3.4 / math.sqrt(13), 0.6]], rtol=1e-6)


def test_hybrid_all_negative(catalog: Catalog) -> None:
    # q = (-0.6, -0.8). Item 0: s = (-0.6, -0.8).
    #   clamp falls back to W = G = (1, 0.5): f0 = (1, 0.5), cos = -1 / sqrt(1.25).
    #   literal: W = (-0.6, -0.4), w = (0.6, 0.4), cos = -0.68 / sqrt(0.52).
    # Item 1: s = (-0.6, -0.6); f1 = (1, 0) under both -> cos -0.6.
    clamp = HybridFusion(catalog).fit().decision_function(q(-0.6, -0.8))
    literal = HybridFusion(catalog, negative="literal").fit().decision_function(q(-0.6, -0.8))
    np.testing.assert_allclose(clamp, [[-1 / math.sqrt(1.25), -0.6]], rtol=1e-6)
    np.testing.assert_allclose(literal, [[-0.68 / math.sqrt(0.52), -0.6]], rtol=1e-6)


def test_hybrid_literal_zero_sum_is_flagged() -> None:
    # G_A = G_B = 1 and s_A = -s_B exactly: sum W = 0, the weights are undefined.
    A = np.array([[1, 0], [1, 0]], dtype=np.float32)
    B = np.array([[0, 1], [0, 1]], dtype=np.float32)
    cat = Catalog.from_arrays({"A": A, "B": B})
    h = math.sqrt(0.5)
    literal = HybridFusion(cat, negative="literal").fit()
    with pytest.warns(UndefinedScoreWarning, match="2 \\(query, item\\) pair"):
        s = literal.decision_function(q(h, -h))
    assert np.all(s == -np.inf)
    # clamp: W = (h, 0) -> f = A, cos = h: defined, no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(HybridFusion(cat).fit().decision_function(q(h, -h)), [[h, h]])


def test_zero_fused_vector_is_flagged() -> None:
    # Item 0's components cancel under equal weights: f0 = 0.
    A = np.array([[1, 0], [0, 1]], dtype=np.float32)
    B = np.array([[-1, 0], [0, 1]], dtype=np.float32)
    cat = Catalog.from_arrays({"A": A, "B": B})
    with pytest.warns(UndefinedScoreWarning):
        s = AverageFusion(cat).fit().decision_function(q(1, 0))
    assert s[0, 0] == -np.inf
    assert s[0, 1] == pytest.approx(0.0, abs=1e-7)


def test_pure_functions_match_estimators(catalog: Catalog) -> None:
    comps = np.stack(catalog.matrices())
    query = q(0.6, -0.8)
    np.testing.assert_allclose(
        score("weighted", query, comps, weights=[3, 1]),
        WeightedFusion(catalog, weights=[3, 1]).fit().decision_function(query),
    )
    S = np.einsum("qd,cnd->cqn", query, comps).astype(np.float32)
    W = hybrid_weights(S, global_weights=np.array([1.0, 0.5]), negative="literal")
    np.testing.assert_allclose(W[:, 0, 0], [3.0, -2.0], rtol=1e-6)
    np.testing.assert_allclose(
        fused_cosine(S, catalog.gram, W)[0, 0], 3.4 / math.sqrt(13), rtol=1e-6
    )


def test_fused_embeddings(catalog: Catalog) -> None:
    est = HybridFusion(catalog).fit()
    fused = est.fused_embeddings(np.array([1, 0], dtype=np.float32))
    # item 0: w = (1, 0) -> A; item 1: w = (2/3, 1/3) -> (1, 0).
    np.testing.assert_allclose(fused, [[1, 0], [1, 0]], atol=1e-6)
    avg = AverageFusion(catalog).fit().fused_embeddings(np.array([1, 0], dtype=np.float32))
    np.testing.assert_allclose(avg, [[0.5, 0.5], [1, 0]], atol=1e-6)
