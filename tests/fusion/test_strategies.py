"""Score and rank fusion strategies and missing components: fixtures, parity, invariance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from skfusion import AverageFusion, Catalog, HybridFusion, WeightedFusion
from skfusion.fusion import RRFusion, ScoreFusion
from skfusion.fusion._functional import global_weights, score
from skfusion.fusion._registry import STRATEGIES
from skfusion.fusion._stats import similarity_moments
from skfusion.fusion.calibrated import _CalibratedFusion
from skfusion.fusion.score_fusion import _CombMNZ

from .._data import correlated_components, unit_rows
from .._tolerance import RTOL32, f32_atol
from ..reference import literal_global_weights, literal_score_fusion, literal_scores


def _masked_problem(seed: int, n_items: int = 40, dim: int = 12):
    rng = np.random.default_rng(seed)
    comps = correlated_components(rng, n_items=n_items, dim=dim).astype(np.float64)
    mask = rng.random((3, n_items)) > 0.3
    mask[0, ~mask.any(axis=0)] = True  # every item keeps a component
    comps[~mask] = 0.0
    queries = np.concatenate([comps[0, mask[0]][:2], unit_rows(rng, (4, dim))])
    return comps.astype(np.float32), mask, queries.astype(np.float32)


# --- hand-computed fixtures -------------------------------------------------------------
# Two components in 2-D, three items, one query q = (1, 0):
#   component a: items at angles 0°, 60°, 90°  -> s_a = (1, 0.5, 0)
#   component b: items at angles 90°, 0°, 60°  -> s_b = (0, 1, 0.5)
def _fixture() -> tuple[Catalog, np.ndarray]:
    def at(deg: float) -> list[float]:
        return [math.cos(math.radians(deg)), math.sin(math.radians(deg))]

    a = np.array([at(0), at(60), at(90)], dtype=np.float32)
    b = np.array([at(90), at(0), at(60)], dtype=np.float32)
    return Catalog.from_arrays({"a": a, "b": b}), np.array([[1.0, 0.0]], dtype=np.float32)


def test_hand_computed_zscore_and_minmax_combsum() -> None:
    cat, q = _fixture()
    # Each component's similarities are a permutation of (1, 0.5, 0): mean 0.5, population
    # sd sqrt(1/6); z = (s - 0.5) * sqrt(6).
    z = lambda s: (s - 0.5) * math.sqrt(6)  # noqa: E731
    expected = [(z(1) + z(0)) / 2, (z(0.5) + z(1)) / 2, (z(0) + z(0.5)) / 2]
    got = ScoreFusion(cat).fit().decision_function(q)[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # min-max maps (1, 0.5, 0) to itself: sums (1, 1.5, 0.5), halved by the equal weights.
    got = ScoreFusion(cat, normalization="minmax").fit().decision_function(q)[0]
    np.testing.assert_allclose(got, [0.5, 0.75, 0.25], atol=1e-6)
    # CombMAX with weights (0.75, 0.25): max(0.75 s_a, 0.25 s_b).
    got = (
        ScoreFusion(cat, method="max", normalization="none", weights=[3, 1])
        .fit()
        .decision_function(q)[0]
    )
    np.testing.assert_allclose(got, [0.75, 0.375, 0.125], atol=1e-6)
    # DBSF: (s - (μ - 3σ)) / 6σ with μ = 0.5, σ = 1/sqrt(6), inside [0, 1] here.
    lo, span = 0.5 - 3 / math.sqrt(6), 6 / math.sqrt(6)
    d = lambda s: (s - lo) / span  # noqa: E731
    got = ScoreFusion(cat, normalization="dbsf").fit().decision_function(q)[0]
    np.testing.assert_allclose(
        got, [(d(1) + d(0)) / 2, (d(0.5) + d(1)) / 2, (d(0) + d(0.5)) / 2], atol=1e-6
    )


def test_hand_computed_rank_fusion_and_mnz() -> None:
    cat, q = _fixture()
    # Ranks: a -> items (0, 1, 2); b -> items (1, 2, 0). RRF k=1, equal weights 1/2.
    got = RRFusion(cat, k=1, depth=3).fit().decision_function(q)[0]
    expected = [0.5 * (1 / 2 + 1 / 4), 0.5 * (1 / 3 + 1 / 2), 0.5 * (1 / 4 + 1 / 3)]
    np.testing.assert_allclose(got, expected, atol=1e-7)
    # depth=1: only the top item of each list counts; item 2 is in no list and scores 0.
    got = RRFusion(cat, k=1, depth=1).fit().decision_function(q)[0]
    np.testing.assert_allclose(got, [0.25, 0.25, 0.0], atol=1e-7)
    # CombMNZ, min-max, depth 2: lists a = {0, 1}, b = {1, 2}; item 1 is in both.
    got = _CombMNZ(cat, depth=2).fit().decision_function(q)[0]
    np.testing.assert_allclose(got, [1 * 0.5, 2 * 0.75, 1 * 0.25], atol=1e-6)
    _s, idx = RRFusion(cat, k=1, depth=1).fit().kneighbors(q, n_neighbors=3)
    np.testing.assert_array_equal(idx, [[0, 1, 2]])  # tie at 0.25 -> lower position first


def test_hand_computed_calibrated_with_a_missing_component() -> None:
    cat, q = _fixture()
    mask = {"b": np.array([True, False, True])}
    b = cat.components["b"].copy()
    b[1] = np.nan
    masked = Catalog.from_arrays({"a": cat.components["a"], "b": b}, masks=mask)
    # b over items {0, 2}: s = (0, 0.5), mean 0.25, sd 0.25 -> z = (-1, 1).
    za = [(s - 0.5) * math.sqrt(6) for s in (1, 0.5, 0)]
    expected = [(za[0] - 1) / 2, za[1], (za[2] + 1) / 2]  # item 1 averages over a alone
    got = _CalibratedFusion(masked).fit().decision_function(q)[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)


# --- parity with literal implementations ---------------------------------------------------
SCORE_CASES = [
    ("combsum", {"normalization": "zscore"}),
    ("combsum", {"normalization": "minmax", "weights": [0.5, 0.3, 0.2]}),
    ("combsum", {"normalization": "dbsf"}),
    ("combmax", {"normalization": "zscore"}),
    ("combmax", {"normalization": "none"}),
    ("combmnz", {"normalization": "minmax", "depth": 7}),
    ("combmnz", {"normalization": "dbsf", "depth": 40}),
    ("rrf", {"k": 60.0, "depth": 10}),
    ("rrf", {"k": 2.0, "depth": 40, "weights": [2.0, 1.0, 1.0]}),
    ("calibrated", {}),
    ("calibrated", {"weights": [0.2, 0.5, 0.3]}),
]


@pytest.mark.parametrize(("strategy", "params"), SCORE_CASES)
@pytest.mark.parametrize("masked", [False, True])
def test_score_fusion_matches_literal(strategy: str, params: dict, masked: bool) -> None:
    comps, mask, queries = _masked_problem(7)
    m = mask if masked else None
    if not masked:
        comps = correlated_components(np.random.default_rng(7), n_items=40, dim=12)
    expected = literal_score_fusion(strategy, queries, comps, mask=m, **params)
    got = score(strategy, queries, comps, mask=m, **params)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=2e-5)


VECTOR_CASES = [
    ("average", {}),
    ("weighted", {"weights": [0.5, 0.3, 0.2]}),
    ("hybrid", {"negative": "clamp"}),
    ("hybrid", {"negative": "literal"}),
]


@pytest.mark.parametrize(("strategy", "params"), VECTOR_CASES)
def test_vector_fusion_with_missing_components_matches_literal(strategy: str, params) -> None:
    comps, mask, queries = _masked_problem(3)
    expected = literal_scores(strategy, queries, comps, mask=mask, **params)
    got = score(strategy, queries, comps, mask=mask, **params)
    finite = np.isfinite(expected)
    np.testing.assert_allclose(got[finite], expected[finite], rtol=2e-5, atol=2e-6)
    assert np.all(np.isfinite(got[:, mask.sum(axis=0) > 0]) | ~finite)


def test_global_weights_over_present_items_only() -> None:
    comps, mask, _ = _masked_problem(4)
    np.testing.assert_allclose(
        global_weights(comps, mask=mask), literal_global_weights(comps, mask), rtol=1e-6
    )


def test_moments_are_exact() -> None:
    comps, mask, queries = _masked_problem(5)
    cat = Catalog.from_arrays(
        {str(c): comps[c] for c in range(3)}, masks={str(c): mask[c] for c in range(3)}
    )
    mu, sd = similarity_moments(cat, queries)
    for c in range(3):
        S = queries.astype(np.float64) @ comps[c][mask[c]].astype(np.float64).T
        np.testing.assert_allclose(mu[c], S.mean(axis=1), atol=1e-6)
        np.testing.assert_allclose(sd[c], S.std(axis=1), atol=1e-5)


# --- properties ------------------------------------------------------------------------------
def test_calibrated_ignores_affine_level_shifts_of_a_component() -> None:
    """Component b is an affine image of component a for every query: same z-scores.

    Items live in the first d-1 axes; b tilts each a-vector towards the last axis g
    (b = a cos θ + g sin θ), and every query has the same g-part (q = u cos φ + g sin φ),
    so s_b = cos θ cos φ (u·a) + sin θ sin φ: a rescaled and offset copy of s_a —
    the shape of a modality gap.
    """
    rng = np.random.default_rng(11)
    d, n = 9, 60
    a = np.zeros((n, d))
    a[:, :-1] = unit_rows(rng, (n, d - 1))
    theta, phi = 1.1, 0.6
    g = np.zeros(d)
    g[-1] = 1.0
    b = a * math.cos(theta) + g * math.sin(theta)
    u = np.zeros((5, d))
    u[:, :-1] = unit_rows(rng, (5, d - 1))
    q = (u * math.cos(phi) + g * math.sin(phi)).astype(np.float32)
    both = Catalog.from_arrays({"a": a, "b": b})
    alone = Catalog.from_arrays({"a": a})
    np.testing.assert_allclose(
        _CalibratedFusion(both).fit().decision_function(q),
        _CalibratedFusion(alone).fit().decision_function(q),
        atol=2e-5,
    )
    # Raw levels differ (b sits higher: the offset sin θ sin φ), z-scores do not.
    ex = _CalibratedFusion(both).fit().explain(q[0], list(range(n)))
    offset = ex.similarities[:, 1] - math.cos(theta) * ex.similarities[:, 0]
    np.testing.assert_allclose(offset, math.sin(theta) * math.sin(phi), atol=1e-5)
    np.testing.assert_allclose(ex.normalized[:, 0], ex.normalized[:, 1], atol=2e-4)


@pytest.mark.parametrize(
    "make",
    [
        lambda c: ScoreFusion(c),
        lambda c: ScoreFusion(c, normalization="minmax"),
        lambda c: ScoreFusion(c, method="max", normalization="dbsf"),
        lambda c: _CombMNZ(c, depth=15),
        lambda c: RRFusion(c, depth=15),
        lambda c: _CalibratedFusion(c),
    ],
)
def test_kneighbors_agrees_with_a_stable_sort_of_decision_function(make) -> None:
    comps, mask, queries = _masked_problem(9, n_items=70)
    cat = Catalog.from_arrays(
        {f"c{c}": comps[c] for c in range(3)}, masks={f"c{c}": mask[c] for c in range(3)}
    )
    est = make(cat).fit()
    dense = est.decision_function(queries)
    s, idx = est.kneighbors(queries, n_neighbors=30)
    expected = np.argsort(-dense, axis=1, kind="stable")[:, :30]
    np.testing.assert_array_equal(idx, expected)
    np.testing.assert_allclose(s, np.take_along_axis(dense, expected, axis=1), atol=1e-6)
    # Block size changes BLAS call shapes, so rounding only (tests/_tolerance.py): similarities
    # by f32_atol(d) and so z-scores, the widest normalisation here, by twice that over σ.
    small = make(cat).set_params(block_size=7).fit()
    _, sd = similarity_moments(cat, queries)
    atol = 2 * f32_atol(12 + 3 + 4) / sd.min(axis=0)[:, None]
    assert np.all(np.abs(small.decision_function(queries) - dense) <= atol)


def test_items_missing_components_are_kept_and_scored() -> None:
    comps, mask, queries = _masked_problem(12)
    cat = Catalog.from_arrays(
        {f"c{c}": comps[c] for c in range(3)}, masks={f"c{c}": mask[c] for c in range(3)}
    )
    assert cat.has_missing
    assert cat.mask.shape == (3, 40)
    for est in (AverageFusion(cat), HybridFusion(cat), ScoreFusion(cat), _CalibratedFusion(cat)):
        scores = est.fit().decision_function(queries)
        assert scores.shape == (len(queries), 40)  # no item dropped
        assert np.all(np.isfinite(scores))  # and none silently undefined
    # An item that has only its image scores its image's cosine under the average.
    only = np.flatnonzero(mask.sum(axis=0) == 1)
    assert only.size
    i = only[0]
    c = int(np.flatnonzero(mask[:, i])[0])
    got = AverageFusion(cat).fit().decision_function(queries)[:, i]
    np.testing.assert_allclose(got, queries @ comps[c, i], atol=1e-6)
    ex = HybridFusion(cat).fit().explain(queries[0], [cat.ids[i]])
    assert np.isnan(ex.similarities[0, [j for j in range(3) if j != c]]).all()
    assert ex.weights[0, c] == pytest.approx(1.0)


def test_catalog_mask_round_trip_and_errors(tmp_path) -> None:
    comps, mask, _ = _masked_problem(13)
    masks = {f"c{c}": mask[c] for c in range(3)}
    cat = Catalog.from_arrays({f"c{c}": comps[c] for c in range(3)}, masks=masks)
    cat.save(tmp_path / "cat")
    back = Catalog.load(tmp_path / "cat")
    np.testing.assert_array_equal(back.mask, mask)
    np.testing.assert_allclose(back.means, cat.means)
    # NaN rows are read as missing without a mask; the caller's array is not modified.
    nan = comps[1].copy()
    nan[~mask[1]] = np.nan
    auto = Catalog.from_arrays(
        {"c0": comps[0], "c1": nan, "c2": comps[2]}, masks={"c0": mask[0], "c2": mask[2]}
    )
    np.testing.assert_array_equal(auto.mask[1], mask[1])
    assert np.isnan(nan[~mask[1]]).all()
    filled = comps[1].copy()
    filled[~mask[1]] = comps[0][~mask[1]]
    with pytest.raises(
        ValueError, match=r"masks\['c1'\] marks item .* missing, but its row holds an embedding"
    ):
        Catalog.from_arrays({"c0": comps[0], "c1": filled}, masks={"c0": mask[0], "c1": mask[1]})
    with pytest.raises(ValueError, match=r"masks\['c1'\] must be a boolean array of shape \(40,\)"):
        Catalog.from_arrays({"c0": comps[0], "c1": comps[1]}, masks={"c1": mask[1].astype(int)})
    with pytest.raises(ValueError, match=r"masks names unknown components \['zz'\]"):
        Catalog.from_arrays({"c0": comps[0]}, masks={"zz": mask[0]})
    none = np.zeros((40, 12), dtype=np.float32)
    with pytest.raises(ValueError, match="missing for every item"):
        Catalog.from_arrays(
            {"c0": unit_rows(np.random.default_rng(0), (40, 12)), "c1": none},
            masks={"c1": np.zeros(40, bool)},
        )
    a, b = comps[0][mask[0]][:5].copy(), comps[1][mask[1]][:5].copy()
    a[3] = 0
    b[3] = 0
    gone = np.array([True, True, True, False, True])
    with pytest.raises(ValueError, match=r"Item 3 \(row 3\) has no component at all"):
        Catalog.from_arrays({"a": a, "b": b}, masks={"a": gone, "b": gone})


def test_functional_api_names_and_errors() -> None:
    assert {"rrf", "combsum", "combmnz", "combmax", "calibrated"} <= set(STRATEGIES)
    comps, mask, queries = _masked_problem(14)
    with pytest.raises(ValueError, match=r"valid strategies are \[.*'calibrated'.*'rrf'.*\]"):
        score("borda", queries, comps)
    with pytest.raises(
        ValueError, match=r"mask must be a boolean array of shape \(C, N\) = \(3, 40\)"
    ):
        score("average", queries, comps, mask=mask[:2])
    with pytest.raises(ValueError, match="takes parameters"):
        score("rrf", queries, comps, negative="clamp")
    cat = Catalog.from_arrays(
        {f"c{c}": comps[c] for c in range(3)}, masks={f"c{c}": mask[c] for c in range(3)}
    )
    with pytest.raises(ValueError, match="normalization='minmax' or 'dbsf'"):
        _CombMNZ(cat, normalization="zscore").fit()
    with pytest.raises(ValueError, match="normalization"):
        ScoreFusion(cat, normalization="l2").fit()
    # Score fusion has no fused item vector, so it has no fused_embeddings at all.
    assert not hasattr(ScoreFusion(cat).fit(), "fused_embeddings")
    ex = ScoreFusion(cat).fit().explain(queries[0], [0, 1])
    assert ex.normalized.shape == (2, 3)
    # explain multiplies other shapes than the engine: z-scores agree within rounding.
    _, sd = similarity_moments(cat, queries[:1])
    np.testing.assert_allclose(
        ex.scores,
        ScoreFusion(cat).fit().decision_function(queries[:1])[0, :2],
        rtol=RTOL32,
        atol=2 * f32_atol(12 + 3 + 4) / sd.min(),
    )
    assert WeightedFusion(cat, weights=[1, 1, 1]).fit().n_items_ == 40


def test_two_families_under_one_thin_base() -> None:
    """Vector fusion and score fusion are siblings: neither overrides the other's kind."""
    from skfusion.fusion import _registry
    from skfusion.fusion._base import BaseFusion
    from skfusion.fusion._score_base import BaseScoreFusion
    from skfusion.fusion._vector import BaseVectorFusion

    assert not issubclass(BaseScoreFusion, BaseVectorFusion)
    assert not issubclass(BaseVectorFusion, BaseScoreFusion)
    # The thin base knows no family: no weights of a fused vector, no fused vectors.
    for name in ("_weights", "fused_embeddings", "explain", "_precomputed", "_tuning_rank"):
        assert not hasattr(BaseFusion, name), name
    vector = {"AverageFusion", "WeightedFusion", "HybridFusion", "LearnedFusion"}
    vector |= {"AgreementFusion", "AgreementFusionCV"}
    import skfusion

    for name in vector:
        assert issubclass(getattr(skfusion, name), BaseVectorFusion), name
    for spec in _registry.STRATEGIES.values():
        family = BaseVectorFusion if spec.estimator.__name__ in vector else BaseScoreFusion
        assert issubclass(spec.estimator, family), spec.estimator.__name__
