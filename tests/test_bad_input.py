"""Every bad input named by the foundation issue gets a clear, specific error."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from skfusion import AverageFusion, Catalog, EncodedArray, HybridFusion, WeightedFusion
from skfusion.fusion._functional import score

from ._data import correlated_components, unit_rows


@pytest.fixture(scope="module")
def comps() -> np.ndarray:
    return correlated_components(np.random.default_rng(0), n_items=30, dim=8)


@pytest.fixture(scope="module")
def catalog(comps: np.ndarray) -> Catalog:
    return Catalog.from_arrays(
        {"title": EncodedArray(comps[0], "clip:A:1"), "image": EncodedArray(comps[1], "clip:A:1")}
    )


def test_wrong_query_dimension(catalog: Catalog) -> None:
    est = HybridFusion(catalog).fit()
    with pytest.raises(ValueError, match="X has 5 features, but HybridFusion is expecting 8"):
        est.decision_function(unit_rows(np.random.default_rng(0), (2, 5)))
    with pytest.raises(ValueError, match="X has 5 features"):
        HybridFusion(catalog).fit(unit_rows(np.random.default_rng(0), (2, 5)))


def test_unnormalised_and_non_finite_queries(catalog: Catalog) -> None:
    est = AverageFusion(catalog).fit()
    q = unit_rows(np.random.default_rng(0), (3, 8))
    with pytest.raises(ValueError, match="L2-normalised rows, but row 1 has norm 2"):
        est.decision_function(q * np.array([[1], [2], [1]], dtype=np.float32))
    bad = q.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.decision_function(bad)
    bad[2, 3] = np.inf
    with pytest.raises(ValueError, match="infinity|inf"):
        est.kneighbors(bad)


def test_raw_text_queries_point_to_an_encoder(catalog: Catalog) -> None:
    est = AverageFusion(catalog).fit()
    with pytest.raises(ValueError, match="not raw queries; put an encoder"):
        est.decision_function(["red shoes"])


def test_catalog_errors(comps: np.ndarray) -> None:
    with pytest.raises(ValueError, match="at least one component"):
        Catalog.from_arrays({})
    with pytest.raises(ValueError, match="empty"):
        Catalog.from_arrays({"a": np.zeros((0, 8), dtype=np.float32)})
    with pytest.raises(ValueError, match="'b' has shape \\(30, 4\\)"):
        Catalog.from_arrays({"a": comps[0], "b": comps[1][:, :4]})
    with pytest.raises(ValueError, match="'b' has shape \\(29, 8\\)"):
        Catalog.from_arrays({"a": comps[0], "b": comps[1][:29]})
    nan = comps[1].copy()
    nan[7, 0] = np.nan
    with pytest.raises(
        ValueError, match=r"Component 'b' has NaN in part of the row of item 'i7' \(row 7\)"
    ):
        Catalog.from_arrays({"a": comps[0], "b": nan}, ids=[f"i{i}" for i in range(30)])
    with pytest.raises(ValueError, match="unique; duplicated: \\['x'\\]"):
        Catalog.from_arrays({"a": comps[0]}, ids=["x", "x", *[str(i) for i in range(28)]])
    with pytest.raises(ValueError, match="Got 3 ids for 30 items"):
        Catalog.from_arrays({"a": comps[0]}, ids=[1, 2, 3])
    z = comps[0].copy()
    z[4] = 0
    with pytest.raises(ValueError, match="all-zero row for item 4"):
        Catalog.from_arrays({"a": z}, normalize=True)
    with pytest.raises(ValueError, match="unknown components \\['c'\\]"):
        Catalog.from_arrays({"a": comps[0]}, encoder_ids={"c": "x"})


def test_missing_catalog() -> None:
    with pytest.raises(ValueError, match="needs a catalog"):
        HybridFusion().fit()


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"title": 1, "colour": 1}, "unknown component\\(s\\) \\['colour'\\].*valid names"),
        ({"title": 1}, "missing \\['image'\\]"),
        ([1.0, -0.5], "non-negative; negative for \\['image'\\]"),
        ([0, 0], "all zero"),
        ([1, 2, 3], "3 value\\(s\\) but the catalog has 2"),
        ([1, np.nan], "finite"),
        ("title", "must be an array-like, an instance of .dict."),
    ],
)
def test_bad_weights(catalog: Catalog, weights, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WeightedFusion(catalog, weights=weights).fit()


def test_bad_negative_policy(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="'negative' parameter"):
        HybridFusion(catalog, negative="abs").fit()


def test_query_from_another_encoder(catalog: Catalog, comps: np.ndarray) -> None:
    est = HybridFusion(catalog).fit()
    same = EncodedArray(comps[0][:2], "clip:A:1")
    est.decision_function(same)  # accepted
    other = EncodedArray(comps[0][:2], "text:B:2")
    with pytest.raises(ValueError, match="encoded by 'text:B:2'.*\\['title', 'image'\\]"):
        est.decision_function(other)
    with pytest.raises(ValueError, match="encoded by 'text:B:2'"):
        est.explain(other[0], [0])


def test_not_fitted_and_bad_neighbors(catalog: Catalog) -> None:
    q = unit_rows(np.random.default_rng(0), (1, 8))
    with pytest.raises(NotFittedError):
        HybridFusion(catalog).kneighbors(q)
    est = HybridFusion(catalog).fit()
    with pytest.raises(ValueError, match="n_neighbors must be positive"):
        est.kneighbors(q, n_neighbors=0)
    with pytest.raises(TypeError, match="n_neighbors must be an int"):
        est.kneighbors(q, n_neighbors=2.5)
    assert est.kneighbors(q, n_neighbors=100)[1].shape == (1, 30)
    with pytest.raises(ValueError, match="Item id 'zz' is not in the catalog"):
        est.explain(q[0], ["zz"])


def test_score_bad_judgments(catalog: Catalog) -> None:
    q = unit_rows(np.random.default_rng(0), (2, 8))
    est = AverageFusion(catalog).fit()
    with pytest.raises(ValueError, match="y\\[1\\] = 30 is not an item index"):
        est.score(q, [0, 30])
    with pytest.raises(ValueError, match="2 entries for"):
        est.score(q[:1], [0, 1])
    with pytest.raises(ValueError, match=r"1 query has no relevant item \(row 1\)"):
        est.score(q, np.vstack([np.eye(30)[0], np.zeros(30)]))


def test_functional_errors(comps: np.ndarray) -> None:
    q = unit_rows(np.random.default_rng(0), (1, 8))
    with pytest.raises(ValueError, match="Unknown fusion strategy 'borda'.*'average'.*'rrf'"):
        score("borda", q, comps)
    with pytest.raises(ValueError, match="needs parameter\\(s\\) \\['weights'\\]"):
        score("weighted", q, comps)
    with pytest.raises(ValueError, match="unknown \\['weights'\\]"):
        score("hybrid", q, comps, weights=[1, 1, 1])
    with pytest.raises(ValueError, match="queries must be \\(Q, 8\\)"):
        score("average", q[:, :4], comps)
    with pytest.raises(ValueError, match="components\\[1\\] must hold L2-normalised"):
        score("average", q, [comps[0], comps[1] * 2])


@pytest.mark.parametrize("scale", [1e30, 8e37, 1e-40])
def test_normalize_scales_huge_and_tiny_rows_exactly(scale: float) -> None:
    # A 3-4-5 row at any finite scale normalises to (0.6, 0.8): squaring 1e30 in float32
    # overflowed, and the row was reported "all-zero".
    rows = np.array([[3.0, 4.0], [0.0, 1.0]], dtype=np.float32) * np.float32(scale)
    rows[1] = [0.0, 1.0]
    cat = Catalog.from_arrays({"a": rows}, normalize=True)
    np.testing.assert_allclose(cat.components["a"][0], [0.6, 0.8], rtol=1e-6)
    np.testing.assert_array_equal(cat.components["a"][1], [0.0, 1.0])
