"""AgreementFusion: hand-computed factor weights, exact covariances, imputation, parity."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold

from skfusion import AgreementFusion, AverageFusion, Catalog, WeightedFusion
from skfusion.datasets import make_catalog
from skfusion.fusion._functional import score
from skfusion.fusion._registry import STRATEGIES
from skfusion.fusion.agreement import agreement_weights, impute_components, similarity_covariances

from .._data import correlated_components, unit_rows
from .._tolerance import RTOL32, fused_atol


def _one_factor(lam: list[float], sd: list[float]) -> np.ndarray:
    """Covariance of an exact one-factor model: R = λλᵀ off the diagonal, 1 on it."""
    lam_a, sd_a = np.asarray(lam), np.asarray(sd)
    R = np.outer(lam_a, lam_a)
    np.fill_diagonal(R, 1.0)
    return (R * np.outer(sd_a, sd_a))[None]


def test_weights_hand_computed_for_an_exact_one_factor_model() -> None:
    # Loadings 0.8, 0.6, 0.5 and spreads 1, 2, 0.5: principal-axis factoring
    # recovers h = λ², and Bartlett's weights are λ / ((1 − λ²) σ):
    # 0.8/0.36 = 2.2222, 0.6/(0.64·2) = 0.46875, 0.5/(0.75·0.5) = 1.3333.
    M = _one_factor([0.8, 0.6, 0.5], [1.0, 2.0, 0.5])
    u = np.array([0.8 / 0.36, 0.6 / 1.28, 0.5 / 0.375])
    np.testing.assert_allclose(agreement_weights(M, prior=0.0)[:, 0], u / u.sum(), atol=1e-6)
    np.testing.assert_allclose(
        agreement_weights(M, prior=0.25)[:, 0], 0.75 * u / u.sum() + 0.25 / 3, atol=1e-6
    )


def test_a_component_that_does_not_agree_gets_only_the_prior() -> None:
    M = _one_factor([0.9, 0.7, 0.8, 0.0], [1.0, 1.0, 1.0, 1.0])
    w = agreement_weights(M, prior=0.2)[:, 0]
    assert w[3] == pytest.approx(0.2 / 4, abs=1e-3)
    assert w.sum() == pytest.approx(1.0)


def test_weights_follow_the_scale_of_a_component() -> None:
    # Multiplying one component's similarities by a divides its raw weight by a,
    # so w_c · s_ic — and the ranking contribution — is unchanged.
    M = _one_factor([0.8, 0.6, 0.5], [1.0, 1.0, 1.0])
    D = np.diag([1.0, 3.0, 1.0])
    w0 = agreement_weights(M, prior=0.0)[:, 0]
    w1 = agreement_weights(D @ M[0] @ D[None], prior=0.0)[:, 0]
    ratio = w1 / w0
    np.testing.assert_allclose(ratio[[0, 2]], ratio[0], rtol=1e-6)
    assert ratio[1] == pytest.approx(ratio[0] / 3, rel=1e-6)


def test_degenerate_shapes() -> None:
    np.testing.assert_allclose(agreement_weights(np.ones((2, 1, 1))), [[1.0, 1.0]])
    # Two components: loadings equal, so the factor weights are ∝ 1/σ.
    M = _one_factor([0.7, 0.7], [1.0, 4.0])
    np.testing.assert_allclose(agreement_weights(M, prior=0.0)[:, 0], [0.8, 0.2], atol=1e-6)
    # No spread at all: equal weights, no NaN.
    np.testing.assert_allclose(agreement_weights(np.zeros((1, 3, 3)))[:, 0], [1 / 3] * 3)
    # Negatively correlated profiles load on no common positive factor: equal weights.
    M = _one_factor([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    assert np.isfinite(agreement_weights(M)).all()


def _masked_catalog(seed: int = 0) -> Catalog:
    rng = np.random.default_rng(seed)
    comps = correlated_components(rng, n_items=60, dim=8)
    masks = {"a": np.ones(60, bool), "b": rng.random(60) > 0.3, "c": rng.random(60) > 0.2}
    masks["c"][~masks["b"]] = True  # every item keeps at least two components
    arrays = {n: np.where(masks[n][:, None], comps[i], 0.0) for i, n in enumerate("abc")}
    return Catalog.from_arrays(arrays, masks=masks)


def test_similarity_covariances_are_exact_over_items_having_both() -> None:
    cat = _masked_catalog()
    q = unit_rows(np.random.default_rng(5), (4, 8))
    cov = similarity_covariances(cat)
    for a in range(3):
        for b in range(3):
            both = cat.mask[a] & cat.mask[b]
            sa = q @ cat.matrices()[a][both].T.astype(np.float64)
            sb = q @ cat.matrices()[b][both].T.astype(np.float64)
            expected = ((sa - sa.mean(1, keepdims=True)) * (sb - sb.mean(1, keepdims=True))).mean(1)
            got = np.einsum("qd,de,qe->q", q, cov[a, b], q)
            np.testing.assert_allclose(got, expected, atol=1e-6)
    assert similarity_covariances(cat) is cov  # cached per catalog


def test_imputation_matches_sklearn_ridge() -> None:
    cat = _masked_catalog(1)
    filled = impute_components(cat)
    assert not filled.has_missing
    mats, mask = cat.matrices(), cat.mask
    for c in range(3):
        np.testing.assert_array_equal(filled.matrices()[c][mask[c]], mats[c][mask[c]])
        lacking = np.flatnonzero(~mask[c])
        for pattern in {tuple(mask[:, i]) for i in lacking}:
            preds = [p for p in range(3) if pattern[p]]
            rows = [i for i in lacking if tuple(mask[:, i]) == pattern]
            train = mask[c] & mask[preds].all(axis=0)
            X = np.hstack([mats[p][train] for p in preds]).astype(np.float64)
            Xc = X - X.mean(axis=0)
            alpha = np.trace(Xc.T @ Xc) / X.shape[1]
            model = Ridge(alpha=alpha).fit(X, mats[c][train].astype(np.float64))
            pred = model.predict(np.hstack([mats[p][rows] for p in preds]))
            pred /= np.linalg.norm(pred, axis=1, keepdims=True)
            np.testing.assert_allclose(filled.matrices()[c][rows], pred, atol=1e-5)
    assert impute_components(filled) is filled


def _literal_agreement(
    cat: Catalog, queries: np.ndarray, prior: float, debias: bool = False
) -> np.ndarray:
    """Brute force: covariances of explicit similarities, explicit fused vectors."""
    from scipy.linalg import orth

    mats = [m.astype(np.float64) for m in cat.matrices()]
    C = len(mats)
    centroids = np.stack([mats[c][cat.mask[c]].mean(axis=0) for c in range(C)])
    basis = orth(centroids.T)  # (dim, k): orthonormal columns spanning the centroids
    out = np.empty((len(queries), cat.n_items))
    for qi, q in enumerate(queries.astype(np.float64)):
        p = q - basis @ (basis.T @ q) if debias else q
        M = np.empty((C, C))
        for a in range(C):
            for b in range(C):
                both = cat.mask[a] & cat.mask[b]
                M[a, b] = np.cov(mats[a][both] @ p, mats[b][both] @ p, bias=True)[0, 1]
        w = agreement_weights(M[None], prior)[:, 0]
        for i in range(cat.n_items):
            fused = sum(w[c] * mats[c][i] for c in range(C) if cat.mask[c, i])
            out[qi, i] = fused @ q / np.linalg.norm(fused)
    return out


@pytest.mark.parametrize("debias", [False, True])
@pytest.mark.parametrize("impute", [None, "regression"])
@pytest.mark.parametrize("prior", [0.0, 0.25, 1.0])
def test_scores_equal_a_literal_implementation(
    impute: str | None, prior: float, debias: bool
) -> None:
    cat = _masked_catalog(2)
    q = unit_rows(np.random.default_rng(3), (5, 8))
    est = AgreementFusion(cat, prior=prior, impute=impute, debias=debias, block_size=7).fit()
    expected = _literal_agreement(
        impute_components(cat) if impute == "regression" else cat, q, prior, debias
    )
    np.testing.assert_allclose(est.decision_function(q), expected, atol=2e-5)
    _, top_i = est.kneighbors(q, n_neighbors=5)
    dense = est.decision_function(q)
    np.testing.assert_array_equal(top_i, np.argsort(-dense, axis=1, kind="stable")[:, :5])
    w = est.query_weights(q)
    assert w.shape == (5, 3)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)


def test_target_weights_hand_computed() -> None:
    # Two components, spreads 1 and 2: factor weights ∝ 1/σ = [2/3, 1/3];
    # shrunk half-way toward the target [0.6, 0.4]: [0.6333, 0.3667].
    M = _one_factor([0.7, 0.7], [1.0, 2.0])
    w = agreement_weights(M, prior=0.5, target=np.array([0.6, 0.4]))[:, 0]
    np.testing.assert_allclose(w, [0.5 * 2 / 3 + 0.3, 0.5 / 3 + 0.2], atol=1e-6)
    # No common factor (uncorrelated profiles): the target itself, not equal weights.
    M = _one_factor([0.0, 0.0], [1.0, 1.0])
    np.testing.assert_allclose(
        agreement_weights(M, prior=0.1, target=np.array([0.9, 0.1]))[:, 0], [0.9, 0.1]
    )


def test_prior_one_with_target_weights_is_weighted_fusion() -> None:
    comps = correlated_components(np.random.default_rng(4), n_items=50, dim=6)
    cat = Catalog.from_arrays({"a": comps[0], "b": comps[1], "c": comps[2]})
    q = unit_rows(np.random.default_rng(6), (4, 6))
    est = AgreementFusion(cat, prior=1.0, prior_weights={"a": 2, "b": 1, "c": 1}).fit()
    np.testing.assert_allclose(est.global_weights_, [0.5, 0.25, 0.25])
    # Another code path (other products): equal within float32 rounding (tests/_tolerance.py).
    np.testing.assert_allclose(
        est.decision_function(q),
        WeightedFusion(cat, weights=[0.5, 0.25, 0.25]).fit().decision_function(q),
        rtol=RTOL32,
        atol=fused_atol(6, cat.gram, [0.5, 0.25, 0.25]),
    )


def test_debiased_weights_ignore_the_query_along_the_centroids() -> None:
    # With debias, moving the query along a component's mean direction changes
    # nothing the weights are computed from (up to a scale they do not see);
    # without it, the weights move.
    comps = correlated_components(np.random.default_rng(10), n_items=80, dim=8)
    b = comps[1] + 0.5  # a component with an offset, like CLIP's other modality
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    cat = Catalog.from_arrays({"a": comps[0], "b": b, "c": comps[2]})
    q = unit_rows(np.random.default_rng(11), (3, 8))
    m = cat.means[1] / np.linalg.norm(cat.means[1])
    shifted = q + 0.7 * m
    shifted /= np.linalg.norm(shifted, axis=1, keepdims=True)
    on = AgreementFusion(cat, prior=0.0).fit()
    off = AgreementFusion(cat, prior=0.0, debias=False).fit()
    np.testing.assert_allclose(on.query_weights(shifted), on.query_weights(q), atol=1e-6)
    assert not np.allclose(off.query_weights(shifted), off.query_weights(q), atol=1e-3)


def test_prior_one_on_a_complete_catalog_is_average_fusion() -> None:
    comps = correlated_components(np.random.default_rng(4), n_items=50, dim=6)
    cat = Catalog.from_arrays({"a": comps[0], "b": comps[1], "c": comps[2]})
    q = unit_rows(np.random.default_rng(6), (4, 6))
    np.testing.assert_allclose(
        AgreementFusion(cat, prior=1.0).fit().decision_function(q),
        AverageFusion(cat).fit().decision_function(q),
        rtol=RTOL32,
        atol=fused_atol(6, cat.gram),
    )


def test_explain_reports_the_query_weights() -> None:
    cat = _masked_catalog(3)
    q = unit_rows(np.random.default_rng(7), (1, 8))[0]
    est = AgreementFusion(cat).fit()
    ex = est.explain(q, [0, 1, 2])
    np.testing.assert_allclose(ex.weights, np.tile(est.query_weights(q[None]), (3, 1)), atol=1e-6)
    # explain multiplies other shapes than the engine: equal within float32 rounding.
    tol = fused_atol(8, cat.gram, query_aware=True)
    np.testing.assert_allclose(ex.scores, est.decision_function(q[None])[0, :3], atol=tol)


def test_refit_on_another_catalog_never_scores_a_stale_imputation() -> None:
    first, second = _masked_catalog(4), _masked_catalog(5)
    q = unit_rows(np.random.default_rng(8), (3, 8))
    est = AgreementFusion(first).fit()
    est.set_params(catalog=second).fit()
    np.testing.assert_allclose(
        est.decision_function(q), AgreementFusion(second).fit().decision_function(q), atol=1e-7
    )


def test_registry_and_functional_api() -> None:
    assert STRATEGIES["agreement"].estimator is AgreementFusion
    cat = _masked_catalog(6)
    q = unit_rows(np.random.default_rng(9), (2, 8))
    got = score("agreement", q, [np.asarray(m) for m in cat.matrices()], mask=cat.mask, prior=0.5)
    np.testing.assert_allclose(
        got, AgreementFusion(cat, prior=0.5).fit().decision_function(q), atol=1e-6
    )
    params = {"prior": 0.5, "prior_weights": [0.2, 0.5, 0.3], "debias": False}
    got = score("agreement", q, [np.asarray(m) for m in cat.matrices()], mask=cat.mask, **params)
    np.testing.assert_allclose(
        got, AgreementFusion(cat, **params).fit().decision_function(q), atol=1e-6
    )


def test_bad_parameters() -> None:
    cat = _masked_catalog(7)
    with pytest.raises(ValueError, match="prior"):
        AgreementFusion(cat, prior=1.5).fit()
    with pytest.raises(ValueError, match="impute"):
        AgreementFusion(cat, impute="mean").fit()
    with pytest.raises(ValueError, match="prior_weights has 2 value"):
        AgreementFusion(cat, prior_weights=[0.5, 0.5]).fit()
    with pytest.raises(ValueError, match="prior_weights must be non-negative"):
        AgreementFusion(cat, prior_weights=[1.0, -1.0, 1.0]).fit()
    with pytest.raises(ValueError, match="debias"):
        AgreementFusion(cat, debias="yes").fit()


def test_grid_search_tunes_the_prior_on_a_synthetic_catalog() -> None:
    data = make_catalog(400, 60, random_state=0, missing_rate={"image": 0.3})
    cat = Catalog.from_arrays(data.components, masks=data.masks)
    grid = {"prior": [0.0, 0.25, 1.0], "prior_weights": [None, [0.6, 0.2, 0.2]]}
    search = GridSearchCV(AgreementFusion(cat), grid, cv=KFold(3)).fit(
        data.queries, data.qrels.toarray()
    )
    assert search.best_params_["prior"] in (0.0, 0.25, 1.0)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert impute_components(cat) is impute_components(cat)  # clones share one imputation


def test_better_than_plain_averaging_when_images_are_missing() -> None:
    # Items without an image are ranked on text alone under plain averaging,
    # and text cosines sit above text–image ones: they crowd the top ranks.
    data = make_catalog(1000, 120, random_state=1, missing_rate={"image": 0.3})
    cat = Catalog.from_arrays(data.components, masks=data.masks)
    y = data.qrels.toarray()
    agree = AgreementFusion(cat).fit().score(data.queries, y)
    plain = AverageFusion(cat).fit().score(data.queries, y)
    assert agree > plain + 0.1


def test_cached_factor_shares_never_leak_between_settings() -> None:
    # Estimators on one catalog share the factor shares of a query batch; the
    # shrinkage, the target and debias must still be their own.
    cat = _masked_catalog(11)
    q = unit_rows(np.random.default_rng(12), (4, 8))
    first = AgreementFusion(cat, prior=0.0).fit().query_weights(q)
    shrunk = AgreementFusion(cat, prior=0.5, prior_weights=[0.6, 0.2, 0.2]).fit()
    np.testing.assert_allclose(
        shrunk.query_weights(q), 0.5 * first + 0.5 * np.array([0.6, 0.2, 0.2]), atol=1e-12
    )
    raw = AgreementFusion(cat, prior=0.0, debias=False).fit().query_weights(q)
    assert not np.allclose(raw, first, atol=1e-4)
    cov = similarity_covariances(impute_components(cat))
    M = np.einsum("qd,abde,qe->qab", q.astype(np.float64), cov, q.astype(np.float64))
    np.testing.assert_allclose(raw, agreement_weights(M, prior=0.0).T, atol=1e-9)
