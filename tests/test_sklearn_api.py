"""scikit-learn integration: estimator checks, clone, pickle, Pipeline and GridSearchCV."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer
from sklearn.utils.estimator_checks import parametrize_with_checks

from skfusion import AverageFusion, Catalog, HybridFusion, WeightedFusion
from skfusion.fusion import AgreementFusion, AgreementFusionCV, RRFusion, ScoreFusion
from skfusion.fusion._stats import similarity_moments
from skfusion.fusion.calibrated import _CalibratedFusion
from skfusion.fusion.score_fusion import _CombMNZ

from ._data import correlated_components, unit_rows
from ._tolerance import f32_atol, fused_atol

_DIM = "the catalog fixes the query dimension (5 here); this check feeds X with another width"
_NORM = "queries must be unit-norm embeddings; this check feeds un-normalised random rows"
# Every check below fails only for the two reasons above; the properties they
# protect (pickling, idempotent fit, subset invariance, ...) are tested with
# properly shaped queries further down in this file.
EXPECTED_FAILED = {
    "check_fit_score_takes_y": _DIM,
    "check_estimators_overwrite_params": _DIM,
    "check_dont_overwrite_parameters": _DIM,
    "check_estimators_fit_returns_self": _DIM,
    "check_readonly_memmap_input": _DIM,
    "check_n_features_in_after_fitting": _DIM,
    "check_positive_only_tag_during_fit": _DIM,
    "check_estimators_dtypes": _NORM,
    "check_dtype_object": _DIM,
    "check_pipeline_consistency": _DIM,
    "check_estimators_nan_inf": _DIM,
    "check_estimators_pickle": _DIM,
    "check_f_contiguous_array_estimator": _DIM,
    "check_transformer_data_not_an_array": _DIM,
    "check_transformer_general": _DIM,
    "check_transformer_preserve_dtypes": _DIM,
    "check_methods_sample_order_invariance": _DIM,
    "check_methods_subset_invariance": _DIM,
    "check_fit2d_1sample": _DIM,
    "check_fit2d_1feature": _DIM,
    "check_dict_unchanged": _DIM,
    "check_fit_idempotent": _DIM,
    "check_fit_check_is_fitted": _DIM,
    "check_n_features_in": _DIM,
    "check_fit2d_predict1d": _DIM,
}

_RNG = np.random.default_rng(0)
_CHECK_CATALOG = Catalog.from_arrays(
    {"a": _RNG.standard_normal((20, 5)), "b": _RNG.standard_normal((20, 5))}, normalize=True
)


@parametrize_with_checks(
    [
        AverageFusion(_CHECK_CATALOG),
        WeightedFusion(_CHECK_CATALOG, weights=[0.7, 0.3]),
        HybridFusion(_CHECK_CATALOG),
        ScoreFusion(_CHECK_CATALOG),
        ScoreFusion(_CHECK_CATALOG, method="max", normalization="minmax"),
        _CombMNZ(_CHECK_CATALOG, depth=5),
        RRFusion(_CHECK_CATALOG, depth=5),
        _CalibratedFusion(_CHECK_CATALOG),
        AgreementFusion(_CHECK_CATALOG),
        AgreementFusionCV(_CHECK_CATALOG, priors=[0.25, 1.0], prior_weights_grid=[[1, 1], [1, 0]]),
    ],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_compatible_estimator(estimator, check) -> None:
    check(estimator)


ESTIMATORS = [
    lambda c: AverageFusion(c),
    lambda c: WeightedFusion(c, weights=[0.5, 0.3, 0.2]),
    lambda c: HybridFusion(c),
    lambda c: ScoreFusion(c, normalization="dbsf"),
    lambda c: ScoreFusion(c, method="max"),
    lambda c: _CombMNZ(c, depth=10),
    lambda c: RRFusion(c, depth=20),
    lambda c: _CalibratedFusion(c, weights=[1, 2, 1]),
    lambda c: AgreementFusion(c, prior=0.5),
    lambda c: AgreementFusionCV(c, priors=[0.5, 1.0]),
]


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    comps = correlated_components(np.random.default_rng(1), n_items=80, dim=6)
    return Catalog.from_arrays({"title": comps[0], "desc": comps[1], "image": comps[2]})


@pytest.fixture(scope="module")
def queries() -> np.ndarray:
    return unit_rows(np.random.default_rng(2), (12, 6))


@pytest.mark.parametrize("make", ESTIMATORS)
def test_clone_and_deepcopy_share_the_catalog(make, catalog: Catalog) -> None:
    est = make(catalog)
    assert clone(est).catalog is catalog
    assert copy.deepcopy(est).catalog is catalog
    assert clone(est).get_params()["catalog"] is catalog


@pytest.mark.parametrize("make", ESTIMATORS)
def test_not_fitted(make, catalog: Catalog, queries: np.ndarray) -> None:
    est = make(catalog)
    for method in ("decision_function", "transform", "predict", "kneighbors"):
        with pytest.raises(NotFittedError):
            getattr(est, method)(queries)


@pytest.mark.parametrize("make", ESTIMATORS)
def test_fit_returns_self_idempotent_and_pickles(make, catalog, queries) -> None:
    est = make(catalog)
    assert est.fit() is est
    first = est.decision_function(queries)
    assert est.fit(queries) is est
    np.testing.assert_array_equal(est.decision_function(queries), first)
    np.testing.assert_array_equal(est.fit_transform(queries), first)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.decision_function(queries), first)
    assert restored.catalog.names == catalog.names


@pytest.mark.parametrize("make", ESTIMATORS)
def test_subset_and_order_invariance(make, catalog, queries) -> None:
    est = make(catalog).fit()
    full = est.decision_function(queries)
    # Other batch sizes and layouts are other BLAS calls: equal within float32 rounding
    # (tests/_tolerance.py), for fused cosines or for z-scores over the smallest σ.
    _, sd = similarity_moments(catalog, queries)
    tol = max(fused_atol(6, catalog.gram, query_aware=True), 2 * f32_atol(6 + 3 + 4) / sd.min())
    perm = np.random.default_rng(0).permutation(len(queries))
    close = {"rtol": 1e-6, "atol": tol}
    np.testing.assert_allclose(est.decision_function(queries[perm]), full[perm], **close)
    np.testing.assert_allclose(est.decision_function(queries[3:5]), full[3:5], **close)
    np.testing.assert_allclose(est.decision_function(np.asfortranarray(queries)), full, **close)
    np.testing.assert_allclose(est.decision_function(queries.astype(np.float64)), full, **close)


def _planted_problem(seed: int = 0):
    """A catalog whose 'good' component identifies items and 'noise' does not.

    Queries are noisy copies of an item's 'good' embedding, so weighting
    'good' alone retrieves best; any weight on 'noise' hurts.
    """
    rng = np.random.default_rng(seed)
    n_items, dim = 200, 16
    good = unit_rows(rng, (n_items, dim))
    noise = unit_rows(rng, (n_items, dim))
    cat = Catalog.from_arrays({"good": good, "noise": noise})
    targets = rng.integers(0, n_items, size=120)
    raw = good[targets] + rng.standard_normal((120, dim)) * 0.35
    return cat, raw, targets


def test_grid_search_finds_the_planted_weights() -> None:
    cat, raw, targets = _planted_problem()
    pipe = Pipeline([("norm", Normalizer()), ("fusion", WeightedFusion(cat))])
    grid = {"fusion__weights": [[1, 0], [0.8, 0.2], [0.5, 0.5], [0.2, 0.8], [0, 1]]}
    search = GridSearchCV(pipe, grid, cv=KFold(4, shuffle=True, random_state=0))
    search.fit(raw, targets)
    assert search.best_params_["fusion__weights"] == [1, 0]
    means = search.cv_results_["mean_test_score"]
    assert means[0] > means[2] > means[4]
    assert search.best_estimator_.named_steps["fusion"].catalog is cat
    assert search.score(raw, targets) == pytest.approx(search.best_estimator_.score(raw, targets))


def test_sparse_and_dense_graded_judgments_in_model_selection() -> None:
    cat, raw, targets = _planted_problem(1)
    X = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    graded = sp.csr_matrix(
        (np.full(len(targets), 3.0), (np.arange(len(targets)), targets)),
        shape=(len(targets), cat.n_items),
    )
    cv = KFold(3)
    direct = cross_val_score(HybridFusion(cat), X, targets, cv=cv)
    # cross_val_score only takes array-like y: a dense graded matrix works.
    dense = cross_val_score(HybridFusion(cat), X, graded.toarray(), cv=cv)
    # GridSearchCV slices a sparse graded matrix by query rows.
    search = GridSearchCV(HybridFusion(cat), {"negative": ["clamp", "literal"]}, cv=cv)
    search.fit(X, graded)
    # One relevant item per query: graded gains only rescale DCG and IDCG alike.
    np.testing.assert_allclose(dense, direct)
    np.testing.assert_allclose(search.cv_results_["split0_test_score"][0], direct[0])
    assert np.all(direct > 0.3)


def test_pipeline_with_encoder_like_step() -> None:
    cat, raw, targets = _planted_problem(2)
    pipe = Pipeline([("norm", Normalizer()), ("fusion", HybridFusion(cat))]).fit(raw, targets)
    top = pipe.predict(raw[:5])
    assert top.shape == (5,)
    assert pipe.score(raw, targets) > 0.3
