"""skfusion against the literal original implementation on random data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from skfusion import AverageFusion, Catalog, HybridFusion, WeightedFusion
from skfusion.fusion._functional import global_weights, score

from .._data import correlated_components, unit_rows
from .._tolerance import RTOL32, assert_same_topk, fused_atol, gram_of
from ..reference import literal_global_weights, literal_scores

CASES = [
    ("average", {}),
    ("weighted", {"weights": [0.5, 0.3, 0.2]}),
    ("hybrid", {"negative": "clamp"}),
    ("hybrid", {"negative": "literal"}),
]


@pytest.mark.parametrize(("strategy", "params"), CASES)
@pytest.mark.parametrize("seed", [0, 1])
def test_functional_matches_literal(strategy: str, params: dict, seed: int) -> None:
    rng = np.random.default_rng(seed)
    comps = correlated_components(rng, n_items=60, dim=16)
    # Mix in queries near items and random ones, so similarities take both signs.
    queries = np.concatenate([comps[0, :3], unit_rows(rng, (5, 16))])
    expected = literal_scores(strategy, queries, comps, **params)
    got = score(strategy, queries, comps, **params)
    tol = fused_atol(16, gram_of(comps), params.get("weights"), query_aware=strategy == "hybrid")
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=tol)


def test_global_weights_match_nxn_definition() -> None:
    rng = np.random.default_rng(3)
    comps = correlated_components(rng, n_items=1000, dim=32)
    fast = global_weights(comps)
    # The N×N definition, vectorised per component in float64 (1000² cosines).
    literal = np.array([(E.astype(np.float64) @ E.T.astype(np.float64)).mean() for E in comps])
    np.testing.assert_allclose(fast, literal, atol=1e-6, rtol=0)
    # and the loop version on a subset, to check the vectorised reference itself
    np.testing.assert_allclose(
        global_weights(comps[:, :40]), literal_global_weights(comps[:, :40]), atol=1e-6
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda c: AverageFusion(c),
        lambda c: WeightedFusion(c, weights=[0.2, 0.2, 0.6]),
        lambda c: HybridFusion(c),
        lambda c: HybridFusion(c, negative="literal"),
    ],
)
def test_topk_equals_sorted_dense_for_any_block_size(make) -> None:
    rng = np.random.default_rng(5)
    comps = correlated_components(rng, n_items=500, dim=12)
    cat = Catalog.from_arrays({"t": comps[0], "d": comps[1], "i": comps[2]})
    queries = unit_rows(rng, (7, 12))
    est = make(cat).fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dense = est.decision_function(queries)
    order = np.argsort(-dense, axis=1, kind="stable")[:, :10]
    for block in (None, 1, 7, 64, 499, 10_000):
        est.set_params(block_size=block)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s, idx = est.kneighbors(queries, n_neighbors=10)
            again = est.decision_function(queries)
        # Exactly the stable sort of the dense scores of the same blocks ...
        np.testing.assert_array_equal(idx, np.argsort(-again, axis=1, kind="stable")[:, :10])
        np.testing.assert_array_equal(s, np.take_along_axis(again, idx, axis=1))
        # ... and another block width is another BLAS call shape: other rounding, within the
        # float32 bound (hybrid weights are query-aware), so only near ties may swap.
        tol = fused_atol(12, cat.gram, query_aware=True)
        assert_same_topk(s, idx, np.take_along_axis(dense, order, axis=1), order, tol)
        np.testing.assert_allclose(again, dense, rtol=RTOL32, atol=tol)
        if block in (None, 10_000):  # one block of all 500 items, as for ``dense``
            np.testing.assert_array_equal(again, dense)


def test_ties_broken_by_item_position_across_blocks() -> None:
    rng = np.random.default_rng(0)
    base = unit_rows(rng, (1, 8))
    # 50 identical items, then a better one at the end.
    E = np.repeat(base, 51, axis=0)
    best = unit_rows(rng, (1, 8))
    E[50] = best[0]
    cat = Catalog.from_arrays({"a": E, "b": E})
    query = ((best[0] * 0.2 + base[0]) / np.linalg.norm(best[0] * 0.2 + base[0]))[None, :]
    for block in (3, 16, None):
        est = AverageFusion(cat, block_size=block).fit()
        _, idx = est.kneighbors(query.astype(np.float32), n_neighbors=5)
        dense = est.decision_function(query.astype(np.float32))[0]
        expected = np.argsort(-dense, kind="stable")[:5]
        assert idx[0].tolist() == expected.tolist()


def test_many_queries_are_batched_consistently() -> None:
    rng = np.random.default_rng(9)
    comps = correlated_components(rng, n_items=300, dim=8)
    cat = Catalog.from_arrays({"a": comps[0], "b": comps[1], "c": comps[2]})
    queries = unit_rows(rng, (600, 8))  # more than one query batch
    est = HybridFusion(cat).fit()
    all_at_once = est.decision_function(queries)
    # A batch of 3 queries is scored in other BLAS call shapes (one 300-item block, M = 3)
    # than batches of 256 (256-item blocks): float32 rounding differs, by at most the bound.
    tol = fused_atol(8, cat.gram, query_aware=True)
    for start in (0, 255, 256, 597):
        part = est.decision_function(queries[start : start + 3])
        np.testing.assert_allclose(all_at_once[start : start + 3], part, rtol=RTOL32, atol=tol)
    expected = literal_scores("hybrid", queries[-3:], comps)
    np.testing.assert_allclose(all_at_once[-3:], expected, rtol=2e-5, atol=tol)
