"""Tests of make_catalog, the synthetic catalog calibrated to real CLIP geometry."""

from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.sparse as sp

from skfusion.datasets import _synthetic, load_coco_clip, make_catalog

TOLERANCE = 0.03


def _mean_pairwise(x: np.ndarray) -> float:
    """Mean cosine over distinct pairs of unit rows."""
    x = x.astype(np.float64)
    n = x.shape[0]
    total = x.sum(axis=0)
    return float((total @ total - np.einsum("ij,ij->", x, x)) / (n * n - n))


def _cross_statistics(text: np.ndarray, image: np.ndarray, targets: np.ndarray) -> tuple:
    """Mean matched and unmatched text–image cosines; text row q matches image row targets[q]."""
    sims = text.astype(np.float64) @ image.astype(np.float64).T
    matched = sims[np.arange(len(text)), targets]
    unmatched = (sims.sum() - matched.sum()) / (sims.size - matched.size)
    return float(matched.mean()), float(unmatched)


def _recall(queries: np.ndarray, items: np.ndarray, targets: np.ndarray, k: int) -> float:
    sims = queries.astype(np.float64) @ items.astype(np.float64).T
    target_sims = sims[np.arange(len(queries)), targets]
    rank = (sims > target_sims[:, None]).sum(axis=1)
    return float((rank < k).mean())


@pytest.fixture(scope="module")
def coco():
    return load_coco_clip()


@pytest.fixture(scope="module")
def default_catalog():
    return make_catalog(n_items=2000, n_queries=500, random_state=0)


# --- the bundled real data -------------------------------------------------------------------


def test_load_coco_clip_matches_its_readme(coco):
    assert coco.images.shape == coco.captions.shape == (500, 512)
    assert coco.images.dtype == coco.captions.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(coco.images, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(coco.captions, axis=1), 1.0, atol=1e-5)
    matched, unmatched = _cross_statistics(coco.captions, coco.images, np.arange(500))
    assert matched == pytest.approx(0.310, abs=0.001)
    assert unmatched == pytest.approx(0.162, abs=0.001)
    assert _mean_pairwise(coco.images) == pytest.approx(0.531, abs=0.001)
    assert _mean_pairwise(coco.captions) == pytest.approx(0.515, abs=0.001)
    assert _recall(coco.captions, coco.images, np.arange(500), 1) == pytest.approx(0.506)
    assert "Liang" in coco.DESCR
    assert "MIT" in coco.DESCR


# --- calibration -----------------------------------------------------------------------------


def test_default_catalog_is_calibrated_to_coco(coco, default_catalog):
    data = default_catalog
    real_matched, real_unmatched = _cross_statistics(coco.captions, coco.images, np.arange(500))
    matched, unmatched = _cross_statistics(data.queries, data.components["image"], data.targets)
    pairs = {
        "matched caption–image": (matched, real_matched),
        "unmatched caption–image": (unmatched, real_unmatched),
        "image–image": (_mean_pairwise(data.components["image"]), _mean_pairwise(coco.images)),
        "text–text": (_mean_pairwise(data.components["title"]), _mean_pairwise(coco.captions)),
    }
    for name, (synthetic, real) in pairs.items():
        assert abs(synthetic - real) <= TOLERANCE, (name, synthetic, real)


def test_cosine_spread_matches_coco(coco, default_catalog):
    """CLIP's low effective rank spreads within-modality cosines (std ≈ 0.1 on COCO)."""

    def spread(x):
        sims = x[:500].astype(np.float64) @ x[:500].astype(np.float64).T
        return float(sims[~np.eye(500, dtype=bool)].std())

    for name, real in (("image", coco.images), ("title", coco.captions)):
        assert abs(spread(default_catalog.components[name]) - spread(real)) <= TOLERANCE, name


def test_query_to_image_recall_is_plausible():
    data = make_catalog(n_items=500, n_queries=300, random_state=0)
    recall = _recall(data.queries, data.components["image"], data.targets, 1)
    assert 0.3 <= recall <= 0.7


def test_cone_and_modality_gap_parameters_are_honoured():
    data = make_catalog(
        n_items=2000,
        n_queries=10,
        components={"t": {"modality": "text"}, "i": {"modality": "image"}},
        cone=0.3,
        modality_gap=0.5,
        random_state=0,
    )
    assert _mean_pairwise(data.components["i"]) == pytest.approx(0.3, abs=0.02)
    assert _mean_pairwise(data.components["t"]) == pytest.approx(0.3, abs=0.02)
    gap = np.linalg.norm(data.components["t"].mean(axis=0) - data.components["i"].mean(axis=0))
    assert gap == pytest.approx(0.5, abs=0.02)


def test_modality_gap_lowers_text_image_cosines():
    components = {
        "text": {"modality": "text", "noise": 1.0},
        "img": {"modality": "image", "noise": 1.0},
    }

    def matched(**kwargs):
        data = make_catalog(400, 400, components=components, random_state=1, **kwargs)
        return (
            _cross_statistics(data.queries, data.components["text"], data.targets)[0],
            _cross_statistics(data.queries, data.components["img"], data.targets)[0],
        )

    text_text, text_image = matched()
    assert text_image < text_text - 0.2
    text_text, text_image = matched(cone=0.52, modality_gap=0.0)
    assert text_image == pytest.approx(text_text, abs=0.02)


def test_noisier_component_retrieves_worse():
    data = make_catalog(
        n_items=2000,
        n_queries=400,
        dim=256,
        components={
            "sharp_text": {"modality": "text", "noise": 0.5},
            "blurry_text": {"modality": "text", "noise": 2.5},
            "sharp_image": {"modality": "image", "noise": 0.5},
            "blurry_image": {"modality": "image", "noise": 2.5},
        },
        random_state=0,
    )
    recall = {
        name: _recall(data.queries, rows, data.targets, 10)
        for name, rows in data.components.items()
    }
    assert recall["sharp_text"] > recall["blurry_text"] + 0.1
    assert recall["sharp_image"] > recall["blurry_image"] + 0.1


# --- structure -------------------------------------------------------------------------------


def test_shapes_dtypes_and_fields(default_catalog):
    data = default_catalog
    assert list(data.components) == ["title", "description", "image"]
    assert data.modalities == {"title": "text", "description": "text", "image": "image"}
    for name, rows in data.components.items():
        assert rows.shape == (2000, 512)
        assert rows.dtype == np.float32
        assert data.masks[name].shape == (2000,)
        assert data.masks[name].dtype == np.bool_
        assert data.masks[name].all()
        np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    assert data.queries.shape == (500, 512)
    assert data.queries.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(data.queries, axis=1), 1.0, atol=1e-5)
    assert data.targets.shape == (500,)
    assert np.issubdtype(data.targets.dtype, np.integer)
    assert len(np.unique(data.targets)) == 500  # distinct targets when n_queries <= n_items
    assert data.topics.shape == (2000,)
    assert set(np.unique(data.topics)) == set(range(50))
    assert data.ids.shape == (2000,)
    assert data.ids[0] == "item-00000"
    assert data.ids[1999] == "item-01999"
    assert len(set(data.ids.tolist())) == 2000
    assert "make_catalog" in data.DESCR


def test_small_and_odd_sizes():
    data = make_catalog(n_items=1, n_queries=3, n_topics=1, dim=2, random_state=0)
    assert data.components["title"].shape == (1, 2)
    assert data.queries.shape == (3, 2)
    np.testing.assert_array_equal(data.targets, [0, 0, 0])
    np.testing.assert_array_equal(data.qrels.toarray(), [[3.0], [3.0], [3.0]])
    wide = make_catalog(n_items=123_456, n_queries=1, dim=2, random_state=0)
    assert wide.ids[0] == "item-000000"


# --- missing components ----------------------------------------------------------------------


def test_missing_rows_are_zero_and_present_rows_unit():
    data = make_catalog(n_items=3000, n_queries=5, dim=16, missing_rate=0.4, random_state=0)
    for name, rows in data.components.items():
        mask = data.masks[name]
        assert 0 < mask.sum() < mask.size
        np.testing.assert_allclose(np.linalg.norm(rows[mask], axis=1), 1.0, atol=1e-5)
        assert not rows[~mask].any()


def test_missing_rates_per_component():
    n = 40_000
    data = make_catalog(
        n_items=n,
        n_queries=1,
        dim=4,
        missing_rate={"title": 0.3, "image": 0.6},
        random_state=0,
    )
    assert data.masks["description"].all()
    assert 1 - data.masks["title"].mean() == pytest.approx(0.3, abs=0.01)
    assert 1 - data.masks["image"].mean() == pytest.approx(0.6, abs=0.01)

    data = make_catalog(n_items=n, n_queries=1, dim=4, missing_rate=0.5, random_state=0)
    # An item drawn without any component keeps one: the rate drops by 0.5**3 / 3.
    for mask in data.masks.values():
        assert 1 - mask.mean() == pytest.approx(0.5 - 0.5**3 / 3, abs=0.01)


def test_no_item_loses_every_component():
    data = make_catalog(
        n_items=5000,
        n_queries=1,
        dim=4,
        components=["a", "b"],
        missing_rate=0.95,
        random_state=0,
    )
    present = np.logical_or(data.masks["a"], data.masks["b"])
    assert present.all()
    assert not np.logical_and(data.masks["a"], data.masks["b"]).all()
    single = make_catalog(
        n_items=500, n_queries=1, dim=4, components=["a"], missing_rate=0.5, random_state=0
    )
    assert single.masks["a"].all()


def test_present_rows_do_not_depend_on_missing_rate():
    full = make_catalog(n_items=300, n_queries=20, dim=8, random_state=3)
    holed = make_catalog(n_items=300, n_queries=20, dim=8, missing_rate=0.5, random_state=3)
    for name, rows in holed.components.items():
        mask = holed.masks[name]
        np.testing.assert_array_equal(rows[mask], full.components[name][mask])
    np.testing.assert_array_equal(holed.queries, full.queries)


# --- judgments -------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [1, 3, 5])
def test_qrels_grade_the_target_on_top(levels):
    data = make_catalog(n_items=600, n_queries=200, dim=32, relevance_levels=levels, random_state=0)
    qrels = data.qrels
    assert sp.issparse(qrels)
    assert qrels.format == "csr"
    assert qrels.dtype == np.float64
    assert qrels.shape == (200, 600)
    counts = np.diff(qrels.indptr)
    assert (counts >= 1).all()
    assert (counts <= 2 * levels - 1).all()
    assert (qrels.data > 0).all()
    assert set(np.unique(qrels.data)) == set(map(float, range(1, levels + 1)))
    dense = qrels.toarray()
    rows = np.arange(200)
    assert (dense[rows, data.targets] == levels).all()
    assert ((dense == levels).sum(axis=1) == 1).all()  # only the target has the top grade
    for q in range(200):  # every judged item shares the target's topic
        judged = qrels.indices[qrels.indptr[q] : qrels.indptr[q + 1]]
        assert (data.topics[judged] == data.topics[data.targets[q]]).all()


def test_judged_items_are_the_closest_of_their_topic():
    data = make_catalog(n_items=1000, n_queries=200, dim=64, n_topics=10, random_state=0)
    image = data.components["image"].astype(np.float64)
    dense = data.qrels.toarray()
    judged, unjudged = [], []
    for q, target in enumerate(data.targets):
        same_topic = data.topics == data.topics[target]
        sims = image @ image[target]
        judged.append(sims[(dense[q] > 0) & (dense[q] < 3)].mean())
        unjudged.append(sims[same_topic & (dense[q] == 0)].mean())
    assert np.mean(judged) > np.mean(unjudged) + 0.02


# --- randomness ------------------------------------------------------------------------------


def _assert_same(a, b):
    for name in a.components:
        np.testing.assert_array_equal(a.components[name], b.components[name])
        np.testing.assert_array_equal(a.masks[name], b.masks[name])
    np.testing.assert_array_equal(a.queries, b.queries)
    np.testing.assert_array_equal(a.targets, b.targets)
    np.testing.assert_array_equal(a.topics, b.topics)
    assert (a.qrels != b.qrels).nnz == 0


def test_reproducible_with_a_seed_and_different_with_another(monkeypatch):
    kwargs = {"n_items": 3000, "n_queries": 50, "dim": 16, "missing_rate": 0.2}
    first = make_catalog(**kwargs, random_state=7)
    _assert_same(first, make_catalog(**kwargs, random_state=7))
    _assert_same(first, make_catalog(**kwargs, random_state=np.random.default_rng(7)))
    other = make_catalog(**kwargs, random_state=8)
    for name in first.components:
        assert not np.array_equal(first.components[name], other.components[name])
    assert not np.array_equal(first.queries, other.queries)
    # The output does not depend on the number of threads.
    monkeypatch.setattr(_synthetic, "_MAX_THREADS", 1)
    _assert_same(first, make_catalog(**kwargs, random_state=7))


def test_generator_state_advances():
    rng = np.random.default_rng(0)
    a = make_catalog(n_items=50, n_queries=5, dim=8, random_state=rng)
    b = make_catalog(n_items=50, n_queries=5, dim=8, random_state=rng)
    assert not np.array_equal(a.queries, b.queries)


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_items": 0}, "n_items must be >= 1"),
        ({"n_items": 2.5}, "n_items must be an integer"),
        ({"n_queries": 0}, "n_queries must be >= 1"),
        ({"dim": 1}, "dim must be >= 2"),
        ({"n_topics": 0}, "n_topics must be >= 1"),
        ({"n_items": 10, "n_topics": 11}, "n_topics must be <= n_items"),
        ({"missing_rate": 1.0}, "missing_rate must be in [0, 1)"),
        ({"missing_rate": -0.1}, "missing_rate must be in [0, 1)"),
        ({"missing_rate": {"title": 1.5}}, "missing_rate must be in [0, 1)"),
        ({"missing_rate": {"caption": 0.1}}, "missing_rate names unknown components ['caption']"),
        ({"components": {"title": {"noise": -1.0}}}, "component 'title': noise must be >= 0"),
        ({"components": {"x": {"noise": float("nan")}}}, "noise must be finite"),
        ({"components": {"x": {"modality": "audio"}}}, "unknown modality 'audio'"),
        ({"components": {"x": {"noize": 1.0}}}, "unknown spec keys ['noize']"),
        ({"components": {"x": 1.0}}, "spec must be a dict"),
        ({"components": {}}, "at least one component"),
        ({"components": []}, "at least one component"),
        ({"components": "title"}, "not the string 'title'"),
        ({"components": ["a", "a"]}, "duplicate names"),
        ({"relevance_levels": 0}, "relevance_levels must be >= 1"),
        ({"cone": 1.0}, "cone must be in [0, 1)"),
        ({"cone": {"audio": 0.5}}, "cone names unknown modalities ['audio']"),
        ({"modality_gap": 3.0}, "modality_gap must be in"),
        ({"cone": {"text": 0.1, "image": 0.9}, "modality_gap": 0.0}, "modality_gap must be in"),
        ({"random_state": "seed"}, "random_state must be"),
        ({"random_state": -1}, "random_state must be a non-negative integer"),
    ],
)
def test_bad_input_raises(kwargs, match):
    kwargs = {"n_items": 20, "n_queries": 2, "dim": 4, "n_topics": 2, **kwargs}
    with pytest.raises(ValueError, match=re.escape(match)):
        make_catalog(**kwargs)


def test_relevance_is_the_qrels_under_the_loaders_name() -> None:
    data = make_catalog(50, 5, random_state=0)
    assert data.relevance is data.qrels
