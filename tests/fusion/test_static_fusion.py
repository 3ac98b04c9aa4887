"""Static fusion from precomputed unit fused vectors (``precompute`` on the static strategies)."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold

from skfusion import AverageFusion, Catalog, LearnedFusion, WeightedFusion
from skfusion.fusion import UndefinedScoreWarning, _static

from .._data import correlated_components, unit_rows
from ..reference import literal_scores

EPS32 = float(np.finfo(np.float32).eps)


def _masked_catalog(seed: int = 0, n_items: int = 200, dim: int = 16) -> tuple[Catalog, np.ndarray]:
    rng = np.random.default_rng(seed)
    comps = correlated_components(rng, n_items=n_items, dim=dim)
    mask = np.ones((3, n_items), dtype=bool)
    mask[1, rng.random(n_items) < 0.4] = False  # a description missing for ~40% of items
    mask[2, :5] = False
    mask[1, :3] = False  # items 0-2 have the title only
    comps = comps * mask[:, :, None]
    cat = Catalog.from_arrays(
        {"title": comps[0], "description": comps[1], "image": comps[2]},
        masks={"description": mask[1], "image": mask[2]},
    )
    return cat, mask


def test_hand_computed_fused_unit_vectors() -> None:
    # Two items, two components in the plane; weights 3:1.
    a = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    b = np.array([[0.0, 1.0], [0.0, 0.0]], dtype=np.float32)  # item 1 lacks b
    cat = Catalog.from_arrays({"a": a, "b": b}, masks={"b": np.array([True, False])})
    fused, defined = _static.build_fused(cat, np.array([0.75, 0.25]))
    # item 0: 0.75 (1, 0) + 0.25 (0, 1) → (3, 1) / sqrt(10); item 1: (0, 1).
    np.testing.assert_allclose(fused[0], np.array([3, 1]) / np.sqrt(10), rtol=0, atol=2 * EPS32)
    np.testing.assert_array_equal(fused[1], [0.0, 1.0])
    np.testing.assert_array_equal(defined[0, 0], [1.0, 1.0])
    q = np.array([[0.6, 0.8]], dtype=np.float32)
    est = WeightedFusion(cat, weights=[3, 1], precompute=True).fit()
    expected = [(0.6 * 3 + 0.8 * 1) / np.sqrt(10), 0.8]
    np.testing.assert_allclose(est.decision_function(q)[0], expected, rtol=0, atol=4 * EPS32)
    assert not fused.flags.writeable
    assert not defined.flags.writeable


def test_item_whose_weighted_components_are_all_missing_is_undefined() -> None:
    a = np.array([[1.0, 0.0], [0.0, 0.0]], dtype=np.float32)
    b = np.array([[0.0, 1.0], [0.0, 1.0]], dtype=np.float32)
    cat = Catalog.from_arrays({"a": a, "b": b}, masks={"a": np.array([True, False])})
    q = np.array([[0.6, 0.8]], dtype=np.float32)
    est = WeightedFusion(cat, weights=[1, 0], precompute=True).fit()
    # Expected (the weights ignore the one component item 1 has): counted, never warned.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scores = est.decision_function(q)
        idx = est.kneighbors(q, 2, return_distance=False)
    assert scores[0, 0] == pytest.approx(0.6, abs=4 * EPS32)
    assert scores[0, 1] == -np.inf
    assert idx.tolist() == [[0, 1]]
    assert est.warning_counts_ == {"undefined": 2}


def test_a_grid_search_counts_undefined_scores_without_warning() -> None:
    cat, _ = _masked_catalog(n_items=60)
    rng = np.random.default_rng(11)
    X = unit_rows(rng, (12, 16))
    y = rng.integers(0, cat.n_items, size=12)
    est = WeightedFusion(cat)
    grid = {"weights": [[0, 1, 0], [0, 0, 1], [1, 1, 1]]}  # the first two leave items empty
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        GridSearchCV(est, grid, cv=KFold(3)).fit(X, y)
    assert not [w for w in caught if issubclass(w.category, UndefinedScoreWarning)]
    # Every test query of every fold (3 × 4) counted, for each item lacking the one
    # component its candidate weighs: the description for [0, 1, 0], the image for [0, 0, 1].
    lacking = int((~cat.mask[1]).sum() + (~cat.mask[2]).sum())
    assert est.warning_counts_ == {"undefined": 12 * lacking}


@pytest.mark.parametrize(
    "weights", [None, [0.5, 0.3, 0.2], [0.0, 1.0, 0.0], {"image": 1, "title": 2, "description": 0}]
)
def test_precomputed_equals_gram_form_and_literal_reference(weights: object) -> None:
    cat, mask = _masked_catalog()
    rng = np.random.default_rng(1)
    q = unit_rows(rng, (40, 16))
    fast = WeightedFusion(cat, weights=weights, precompute=True).fit()
    gram = WeightedFusion(cat, weights=weights, precompute=False).fit()
    assert fast._precomputed() is not None
    assert gram._precomputed() is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedScoreWarning)
        a, b = fast.decision_function(q), gram.decision_function(q)
        ia = fast.kneighbors(q, 10, return_distance=False)
        ib = gram.kneighbors(q, 10, return_distance=False)
    np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b))
    finite = np.isfinite(a)
    # Both are float32 cosines of the same vectors: |error| ≲ a few eps32 × (d + C) terms.
    assert np.abs(a[finite] - b[finite]).max() <= 64 * EPS32
    w = fast.global_weights_
    if (w > 0).all():  # the literal reference needs a weighted component on every item
        comps = np.stack(list(cat.components.values()))
        expected = literal_scores("weighted", q, comps, mask=mask, weights=list(w))
        assert np.abs(a - expected).max() <= 64 * EPS32
    # Top-10 equal except where two items are tied within rounding.
    for r in range(q.shape[0]):
        if ia[r].tolist() != ib[r].tolist():
            gaps = np.abs(np.diff(np.sort(b[r][np.isfinite(b[r])])[::-1][:11]))
            assert gaps.min() <= 64 * EPS32


def test_average_and_learned_use_precomputed_vectors() -> None:
    cat, _ = _masked_catalog()
    rng = np.random.default_rng(2)
    q = unit_rows(rng, (10, 16))
    for est in (AverageFusion(cat).fit(), AverageFusion(cat, precompute=False).fit()):
        assert (est._precomputed() is not None) == (est.precompute == "auto")
    y = np.random.default_rng(3).integers(0, cat.n_items, size=10)
    learned = LearnedFusion(cat, n_rounds=1, max_iter=50, random_state=0).fit(q, y)
    ref = WeightedFusion(cat, weights=learned.weights_, precompute=False).fit()
    np.testing.assert_allclose(
        learned.decision_function(q), ref.decision_function(q), rtol=0, atol=64 * EPS32
    )
    assert learned._precomputed() is not None


def test_auto_respects_the_memory_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    cat, _ = _masked_catalog()
    assert _static.resolve_precompute("auto", cat)
    monkeypatch.setattr(_static, "PRECOMPUTE_BUDGET", _static.fused_nbytes(cat) - 1)
    assert not _static.resolve_precompute("auto", cat)
    assert WeightedFusion(cat).fit()._precomputed() is None
    assert WeightedFusion(cat, precompute=True).fit()._precomputed() is not None


def test_clones_share_one_fused_matrix_and_pickles_do_not_carry_it() -> None:
    cat, _ = _masked_catalog()
    est = WeightedFusion(cat, weights=[0.5, 0.3, 0.2]).fit()
    twin = clone(est).fit()
    scaled = WeightedFusion(cat, weights=[5, 3, 2]).fit()  # same ratios, same vectors
    assert est._precomputed()[0] is twin._precomputed()[0] is scaled._precomputed()[0]
    other = WeightedFusion(cat, weights=[0.2, 0.3, 0.5]).fit()
    assert other._precomputed()[0] is not est._precomputed()[0]
    blob = pickle.dumps(est)
    assert len(blob) < _static.fused_nbytes(cat) + cat.nbytes  # the fused matrix is not in it
    q = unit_rows(np.random.default_rng(4), (5, 16))
    _static.clear_fused_cache()
    restored = pickle.loads(blob)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedScoreWarning)
        np.testing.assert_array_equal(
            restored.kneighbors(q, 5, return_distance=False),
            est.kneighbors(q, 5, return_distance=False),
        )


def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    cat, _ = _masked_catalog()
    _static.clear_fused_cache(cat)
    monkeypatch.setattr(_static, "CACHE_BYTES", 2 * _static.fused_nbytes(cat))
    for w in ([1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]):
        WeightedFusion(cat, weights=w, precompute=True).fit()
    entries = _static.fused_cache(cat).entries
    assert len(entries) == 2
    kept = [np.frombuffer(k) for k in entries]
    np.testing.assert_array_equal(kept[-1], [1, 1, 1])  # the most recent survives


def test_huge_and_tiny_weights_are_ratios() -> None:
    cat, _ = _masked_catalog()
    q = unit_rows(np.random.default_rng(5), (5, 16))
    ref = WeightedFusion(cat, weights=[1, 1, 1]).fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedScoreWarning)
        expected = ref.decision_function(q)
        for w in ([1e308] * 3, [1e-300] * 3):
            for pre in (True, False):
                got = WeightedFusion(cat, weights=w, precompute=pre).fit().decision_function(q)
                np.testing.assert_allclose(got, expected, rtol=0, atol=64 * EPS32)


def test_grid_search_results_do_not_depend_on_precompute() -> None:
    cat, _ = _masked_catalog(n_items=120)
    rng = np.random.default_rng(6)
    X = unit_rows(rng, (30, 16))
    y = rng.integers(0, cat.n_items, size=30)
    grid = {"weights": [[1, 0, 0], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [1, 1, 1]]}
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedScoreWarning)
        for pre, n_jobs in ((False, 1), (True, 1), (True, 2)):
            search = GridSearchCV(
                WeightedFusion(cat, precompute=pre), grid, cv=KFold(3), n_jobs=n_jobs
            ).fit(X, y)
            results.append(search.cv_results_["mean_test_score"])
    np.testing.assert_allclose(results[1], results[0], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(results[2], results[1])


def test_default_grid_search_scores_from_the_tuning_cache_and_builds_no_fused_vectors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # precompute="auto" (the default): a search's candidates are scored in Gram form
    # from the cached similarity blocks, exactly as with precompute=False, and no
    # candidate builds fused vectors (one build per candidate would cost more than
    # its cached scores); kneighbors of the refitted best estimator still uses them.
    from skfusion.fusion import _vector

    cat, _ = _masked_catalog(n_items=120)
    rng = np.random.default_rng(7)
    X = unit_rows(rng, (30, 16))
    y = rng.integers(0, cat.n_items, size=30)
    grid = {"weights": [[1, 0, 0], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [1, 1, 1]]}
    built: list[bytes] = []
    real = _vector.fused_for

    def counting(catalog: Catalog, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        built.append(np.asarray(weights, dtype=np.float64).tobytes())
        return real(catalog, weights)

    monkeypatch.setattr(_vector, "fused_for", counting)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedScoreWarning)
        auto = GridSearchCV(WeightedFusion(cat), grid, cv=KFold(3)).fit(X, y)
        assert built == []
        gram = GridSearchCV(WeightedFusion(cat, precompute=False), grid, cv=KFold(3)).fit(X, y)
    for key in ("mean_test_score", "split0_test_score", "split2_test_score", "rank_test_score"):
        np.testing.assert_array_equal(auto.cv_results_[key], gram.cv_results_[key], err_msg=key)
    assert auto.best_estimator_._precomputed() is not None  # built on demand for searches
    assert len(built) == 1
    forced = GridSearchCV(WeightedFusion(cat, precompute=True), grid, cv=KFold(3)).fit(X, y)
    assert len(built) > 1  # precompute=True keeps its own path
    np.testing.assert_allclose(
        forced.cv_results_["mean_test_score"], gram.cv_results_["mean_test_score"], atol=1e-6
    )


def test_torch_backend_scores_the_precomputed_vectors() -> None:
    cat, _ = _masked_catalog()
    q = unit_rows(np.random.default_rng(7), (8, 16))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedScoreWarning)
        a = WeightedFusion(cat, weights=[0.5, 0.3, 0.2], backend="torch", device="cpu").fit()
        b = WeightedFusion(cat, weights=[0.5, 0.3, 0.2], backend="numpy").fit()
        sa, ia = a.kneighbors(q, 10)
        sb, ib = b.kneighbors(q, 10)
    np.testing.assert_allclose(sa, sb, rtol=0, atol=64 * EPS32)
    np.testing.assert_array_equal(ia, ib)


def test_negative_sample_weight_is_refused() -> None:
    cat, _ = _masked_catalog()
    rng = np.random.default_rng(8)
    X = unit_rows(rng, (4, 16))
    y = rng.integers(0, cat.n_items, size=4)
    est = WeightedFusion(cat).fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedScoreWarning)
        with pytest.raises(ValueError, match="non-negative; query 1"):
            est.score(X, y, sample_weight=[1.0, -1.0, 1.0, 1.0])
        with pytest.raises(ValueError, match="one weight per query"):
            est.score(X, y, sample_weight=[1.0, 1.0])
        with pytest.raises(ValueError, match="zero for every query"):
            est.score(X, y, sample_weight=[0, 0, 0, 0])
        with pytest.raises(ValueError, match="finite"):
            est.score(X, y, sample_weight=[1, np.nan, 1, 1])
        assert est.score(X, y, sample_weight=[1, 0, 0, 0]) == pytest.approx(est.score(X[:1], y[:1]))


def test_evicted_matrix_is_reused_only_when_nothing_reads_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cat, _ = _masked_catalog()
    _static.clear_fused_cache(cat)
    monkeypatch.setattr(_static, "CACHE_BYTES", _static.fused_nbytes(cat))  # one entry
    first = WeightedFusion(cat, weights=[1, 0, 0], precompute=True).fit()
    held = first._precomputed()[0]  # a search holding the matrix (e.g. another thread)
    before = held.copy()
    second = WeightedFusion(cat, weights=[0, 0, 1], precompute=True).fit()
    np.testing.assert_array_equal(held, before)  # evicted, but not overwritten
    del held
    free = second._precomputed()[0].__array_interface__["data"][0]
    WeightedFusion(cat, weights=[0, 1, 0], precompute=True).fit()  # evicts [0, 0, 1]
    entries = _static.fused_cache(cat).entries
    assert len(entries) == 1
    newest = next(iter(entries.values()))[0]
    # [0, 0, 1]'s matrix was free when evicted: the new vectors were written into it.
    assert newest.__array_interface__["data"][0] == free
    assert not newest.flags.writeable
    np.testing.assert_array_equal(newest, _static.build_fused(cat, np.array([0.0, 1.0, 0.0]))[0])
