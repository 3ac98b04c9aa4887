"""AgreementFusionCV: hand-computed choice, parity with per-candidate estimators and LOO search."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, LeaveOneOut, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer
from sklearn.utils.validation import check_is_fitted

from skfusion import AgreementFusion, AgreementFusionCV, Catalog, WeightedFusion
from skfusion.datasets import make_catalog
from skfusion.evaluation import Tuned, benchmark_strategies, cross_val_ranking
from skfusion.fusion import agreement_cv, simplex_grid
from skfusion.fusion.agreement_cv import guarded_choice
from skfusion.metrics import ranking_metrics


def _shifted_catalog() -> tuple[Catalog, np.ndarray, np.ndarray]:
    """4 items: ``good`` is e_i, ``shifted`` is e_(i−1 mod 4); query j is e_j, relevant item j."""
    eye = np.eye(4)
    cat = Catalog.from_arrays({"good": eye, "shifted": np.roll(eye, 1, axis=0)})
    return cat, eye.copy(), np.arange(4)


def test_choice_and_scores_hand_computed() -> None:
    # prior=1 uses the target weights for every query (no factor model):
    # [1, 0]: every relevant item first, MRR 1.
    # [0, 1]: item j+1 scores 1, the other three (j among them) 0 and tie, lower
    #   position first: j at ranks 2, 3, 4, 4 → MRR (1/2 + 1/3 + 1/4 + 1/4)/4 = 1/3.
    # [½, ½]: items j and j+1 tie at 1/√2; j is second only for j = 3 (item 0
    #   comes first) → (3 + ½)/4 = 0.875.
    cat, X, y = _shifted_catalog()
    grid = [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]
    est = AgreementFusionCV(cat, priors=[1.0], prior_weights_grid=grid, scoring="mrr").fit(X, y)
    np.testing.assert_allclose(est.cv_results_["mean_test_score"], [1.0, 1 / 3, 0.875])
    np.testing.assert_array_equal(est.cv_results_["rank_test_score"], [1, 3, 2])
    np.testing.assert_array_equal(est.prior_weights_, [1.0, 0.0])
    assert est.prior_ == 1.0
    assert est.best_index_ == 0
    assert est.best_score_ == 1.0
    assert est.best_params_["prior"] == 1.0
    np.testing.assert_array_equal(est.predict(X), cat.ids)


def test_ties_go_to_the_first_candidate() -> None:
    cat, X, y = _shifted_catalog()
    est = AgreementFusionCV(
        cat, priors=[1.0], prior_weights_grid=[[0.0, 1.0], [0.8, 0.2], [1.0, 0.0]], scoring="mrr"
    ).fit(X, y)
    np.testing.assert_allclose(est.cv_results_["mean_test_score"], [1 / 3, 1.0, 1.0])
    assert est.best_index_ == 1
    np.testing.assert_array_equal(est.cv_results_["rank_test_score"], [3, 1, 1])


def test_guarded_choice_hand_computed() -> None:
    # Rows: candidates; columns: queries. Row 0 is the only fixed weighting.
    fixed = np.array([0])
    # Gain of row 1 over row 0: [0.1, 0.4] → mean 0.25, sd 0.2121, se 0.15;
    # 0.25 > 2 × 0.15 is false: the fixed weighting is kept.
    noisy = np.array([[0.5, 0.5], [0.6, 0.9]])
    assert guarded_choice(noisy, fixed) == 0
    # Gain [0.2, 0.3, 0.25]: mean 0.25, sd 0.05, se 0.0289; 0.25 > 0.0577: kept.
    clear = np.array([[0.5, 0.5, 0.5], [0.7, 0.8, 0.75]])
    assert guarded_choice(clear, fixed) == 1
    # The same gain on every query (se 0) is clear evidence.
    assert guarded_choice(np.array([[0.5, 0.2], [0.6, 0.3]]), fixed) == 1
    # One query is no evidence; the best fixed weighting wins ties by position.
    assert guarded_choice(np.array([[0.5], [0.9], [0.5]]), np.array([0, 2])) == 0
    # A fixed weighting that is best, or no fixed weighting at all: the best mean.
    assert guarded_choice(np.array([[0.2, 0.2], [0.9, 0.1], [0.6, 0.6]]), np.array([2])) == 2
    assert guarded_choice(noisy, np.array([], dtype=int)) == 1


def test_without_judgments_it_is_the_label_free_default() -> None:
    data = make_catalog(150, 10, random_state=0)
    cat = Catalog.from_arrays(data.components, masks=data.masks)
    ref = AgreementFusion(cat).fit().decision_function(data.queries)
    for args in ((), (data.queries,)):
        est = AgreementFusionCV(cat).fit(*args)
        assert est.prior_ == 0.75
        np.testing.assert_allclose(est.prior_weights_, 1 / 3)
        np.testing.assert_array_equal(est.decision_function(data.queries), ref)
        assert not hasattr(est, "cv_results_")
        assert not hasattr(est, "best_score_")


@pytest.fixture(scope="module")
def judged() -> tuple[Catalog, np.ndarray, np.ndarray]:
    data = make_catalog(240, 14, missing_rate={"image": 0.3}, random_state=1)
    cat = Catalog.from_arrays(data.components, masks=data.masks)
    return cat, data.queries, data.qrels.toarray()


GRID = [[1.0, 0.0, 0.0], [0.2, 0.3, 0.5], [0.4, 0.4, 0.2], [0.0, 0.5, 0.5]]


@pytest.mark.parametrize("scoring", ["ndcg@10", "recall@5", "mrr"])
def test_every_candidate_scores_like_the_agreement_fusion_it_stands_for(
    judged, scoring: str
) -> None:
    cat, X, y = judged
    est = AgreementFusionCV(cat, priors=[0.0, 0.5, 1.0], prior_weights_grid=GRID, scoring=scoring)
    est.fit(X, y)
    res = est.cv_results_
    # The catalog has missing images: every (prior, target) is scored imputed and masked.
    assert len(res["mean_test_score"]) == 24
    assert res["param_impute"].tolist() == ["regression"] * 12 + [None] * 12
    params = zip(res["param_impute"], res["param_prior"], res["param_prior_weights"], strict=True)
    for i, (imp, p, t) in enumerate(params):
        ref = AgreementFusion(cat, prior=p, prior_weights=t, impute=imp).fit()
        ranking = ref.kneighbors(X, n_neighbors=cat.n_items, return_distance=False)
        per_query = ranking_metrics(y, ranking=ranking, metrics=[scoring], per_query=True)
        assert res["mean_test_score"][i] == pytest.approx(per_query[scoring].mean(), abs=1e-12)
        assert res["std_test_score"][i] == pytest.approx(per_query[scoring].std(), abs=1e-12)
    best = AgreementFusion(
        cat, prior=est.prior_, prior_weights=est.prior_weights_, impute=est.impute_
    ).fit()
    np.testing.assert_array_equal(est.decision_function(X), best.decision_function(X))
    assert est.score(X, y) == pytest.approx(est.best_score_, abs=1e-12)


def test_small_passes_and_blocks_give_the_same_choice(judged, monkeypatch) -> None:
    cat, X, y = judged
    kwargs = {"priors": [0.25, 1.0], "prior_weights_grid": GRID}
    whole = AgreementFusionCV(cat, **kwargs).fit(X, y)
    # One candidate per pass and per step, 7-item blocks: many passes, partial blocks.
    monkeypatch.setattr(agreement_cv, "_TOPLIST_ENTRIES", 1)
    monkeypatch.setattr(agreement_cv, "_SCORE_ELEMENTS", 1)
    pieces = AgreementFusionCV(cat, block_size=7, **kwargs).fit(X, y)
    np.testing.assert_array_equal(
        pieces.cv_results_["mean_test_score"], whole.cv_results_["mean_test_score"]
    )


@pytest.mark.parametrize(
    ("priors", "grid", "guarded"),
    [
        ([0.25, 0.75, 1.0], GRID[:3], False),  # the best candidate clearly wins
        ([0.25, 1.0], simplex_grid(3, 0.5).tolist(), True),  # the guard keeps fixed weights
    ],
)
def test_equals_grid_search_with_leave_one_out(judged, priors, grid, guarded: bool) -> None:
    # No candidate learns from the judgments, so the mean over queries is the
    # leave-one-out score of GridSearchCV over the same grid (same order), and
    # the choice is GridSearchCV's with the same rule as a callable refit.
    cat, X, y = judged
    est = AgreementFusionCV(cat, priors=priors, prior_weights_grid=grid).fit(X, y)
    assert (est.cv_results_["rank_test_score"][est.best_index_] > 1) == guarded

    def guarded_refit(results: dict[str, Any]) -> int:
        # The estimator's choice, written from GridSearchCV's per-split (= per-query)
        # scores: the best mean unless it beats the best fixed weighting (prior 1,
        # masked catalog) by no more than two standard errors of the paired gain.
        n = sum(key.startswith("split") and key.endswith("_test_score") for key in results)
        scores = np.array([results[f"split{i}_test_score"] for i in range(n)]).T
        mean = scores.mean(axis=1)
        best = int(np.argmax(mean))
        fixed = [
            i
            for i, (p, imp) in enumerate(
                zip(results["param_prior"], results["param_impute"], strict=True)
            )
            if p == 1.0 and imp is None
        ]
        base = max(fixed, key=lambda i: (mean[i], -i))
        if best in fixed:
            return best
        gain = scores[best] - scores[base]
        return best if gain.mean() > 2 * gain.std(ddof=1) / np.sqrt(n) else base

    search = GridSearchCV(
        AgreementFusion(cat),
        {"impute": ["regression", None], "prior": priors, "prior_weights": grid},
        cv=LeaveOneOut(),
        refit=guarded_refit,
    ).fit(X, y)
    np.testing.assert_allclose(
        est.cv_results_["mean_test_score"], search.cv_results_["mean_test_score"], atol=1e-12
    )
    assert est.best_index_ == search.best_index_
    assert est.prior_ == search.best_params_["prior"]
    assert est.impute_ == search.best_params_["impute"]
    np.testing.assert_array_equal(est.prior_weights_, search.best_params_["prior_weights"])


def test_default_grid_is_the_simplex_times_four_priors(judged) -> None:
    cat, X, y = judged
    est = AgreementFusionCV(cat).fit(X, y)
    res = est.cv_results_
    assert len(res["mean_test_score"]) == 2 * 4 * 66  # imputed and masked
    np.testing.assert_array_equal(np.unique(res["param_prior"]), [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(res["param_prior_weights"].sum(axis=1), 1.0)
    # Prior 1 on the masked catalog is fixed weights: the best fixed weighting is
    # among the candidates, and the choice scores at least as well.
    fixed = (res["param_prior"] == 1.0) & np.array([i is None for i in res["param_impute"]])
    assert fixed.sum() == 66
    assert est.best_score_ >= res["mean_test_score"][fixed].max()


def test_prior_one_masked_candidates_are_weighted_fusion_on_the_masked_catalog(judged) -> None:
    # With missing components, the prior=1, impute=None candidates rank exactly as
    # WeightedFusion on the catalog with its masks (not on an imputed copy).
    cat, X, y = judged
    assert cat.has_missing
    est = AgreementFusionCV(cat, priors=[1.0], prior_weights_grid=GRID, scoring="mrr").fit(X, y)
    res = est.cv_results_
    masked = np.flatnonzero(res["param_impute"] == None)  # noqa: E711 - object array
    assert masked.size == len(GRID)
    for i, t in zip(masked, res["param_prior_weights"][masked], strict=True):
        ref = WeightedFusion(cat, weights=t, precompute=False).fit()
        ranking = ref.kneighbors(X, n_neighbors=cat.n_items, return_distance=False)
        expected = ranking_metrics(y, ranking=ranking, metrics=["mrr"], per_query=True)["mrr"]
        assert res["mean_test_score"][i] == pytest.approx(expected.mean(), abs=1e-12)


def test_complete_catalog_has_one_imputation_candidate() -> None:
    cat, X, y = _shifted_catalog()
    est = AgreementFusionCV(cat, priors=[1.0], prior_weights_grid=[[1, 0], [0, 1]]).fit(X, y)
    assert est.cv_results_["param_impute"].tolist() == ["regression", "regression"]
    fixed = AgreementFusionCV(cat, priors=[1.0], prior_weights_grid=[[1, 0]], impute=None)
    assert fixed.fit(X, y).impute_ is None


def test_named_grid_rows_and_refit_on_other_judgments(judged) -> None:
    cat, X, y = judged
    rows = [{"image": 1, "title": 1, "description": 2}, {"title": 1, "description": 0, "image": 0}]
    est = AgreementFusionCV(cat, priors=[1.0], prior_weights_grid=rows, scoring="mrr")
    est.fit(X, y)
    np.testing.assert_allclose(est.cv_results_["param_prior_weights"][0], [0.25, 0.5, 0.25])
    first = est.cv_results_["mean_test_score"].copy()
    est.fit(X[:7], y[:7])
    assert not np.array_equal(est.cv_results_["mean_test_score"], first)


def test_clone_pickle_and_pipeline(judged) -> None:
    cat, X, y = judged
    est = AgreementFusionCV(cat, priors=[0.5, 1.0], prior_weights_grid=GRID).fit(X, y)
    assert clone(est).catalog is cat
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.decision_function(X), est.decision_function(X))
    assert restored.best_params_["prior"] == est.best_params_["prior"]
    pipe = Pipeline(
        [
            ("norm", Normalizer()),
            ("fusion", AgreementFusionCV(cat, priors=[1.0], prior_weights_grid=GRID)),
        ]
    )
    scores = cross_val_score(pipe, X, y, cv=KFold(2))
    assert scores.shape == (2,)
    assert np.all((scores >= 0) & (scores <= 1))


def test_nested_evaluation_fits_it_on_each_training_fold(judged) -> None:
    cat, X, y = judged
    est = AgreementFusionCV(cat, priors=[0.25, 1.0], prior_weights_grid=GRID)
    cv = KFold(3, shuffle=True, random_state=0)
    cvr = cross_val_ranking(est, None, X, y, depth=10, cv=cv)
    for fold in cvr.folds:
        ref = clone(est).fit(X[fold.train], y[fold.train])
        assert fold.best_params["prior"] == ref.prior_
        np.testing.assert_array_equal(fold.best_params["prior_weights"], ref.prior_weights_)
        assert fold.best_score == ref.best_score_
        np.testing.assert_array_equal(
            cvr.ranking[fold.test], ref.kneighbors(X[fold.test], return_distance=False)
        )
    res = benchmark_strategies(
        {"cv": Tuned(est), "label-free": AgreementFusion(cat)},
        X,
        y,
        baseline="label-free",
        cv=cv,
        n_resamples=200,
    )
    np.testing.assert_array_equal(res.runs["cv"].ranking[:, :10], cvr.ranking)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"priors": []}, "non-empty 1-D"),
        ({"priors": [[0.5]]}, "non-empty 1-D"),
        ({"priors": [0.5, 1.5]}, r"lie in \[0, 1\]"),
        ({"priors": ["a"]}, "sequence of numbers"),
        ({"prior_weights_grid": [[1.0, 0.0]]}, "prior_weights_grid"),
        ({"prior_weights_grid": [[1.0, -1.0, 1.0]]}, "prior_weights_grid"),
        ({"prior_weights_grid": [{"title": 1, "sound": 1}]}, "sound"),
        ({"prior_weights_grid": []}, "empty"),
        ({"prior_weights_grid": np.ones(3)}, "one row of weights per candidate"),
        ({"scoring": "ndcg"}, "cut-off"),
    ],
)
def test_bad_parameters(judged, kwargs, match: str) -> None:
    cat, X, y = judged
    with pytest.raises(ValueError, match=match):
        AgreementFusionCV(cat, **kwargs).fit(X, y)


def test_bad_judgments_leave_it_unfitted(judged) -> None:
    cat, X, y = judged
    est = AgreementFusionCV(cat, priors=[1.0], prior_weights_grid=GRID)
    with pytest.raises(ValueError, match="without queries"):
        est.fit(None, y)
    unjudged = y.copy()
    unjudged[3] = 0
    with pytest.raises(ValueError, match="relevant"):
        est.fit(X, unjudged)
    with pytest.raises(NotFittedError):
        est.decision_function(X)
    with pytest.raises(ValueError, match="shape"):
        est.fit(X, y[:5])
    with pytest.raises(NotFittedError):
        est.predict(X)
    with pytest.raises(ValueError, match="L2-normalised"):
        est.fit(2 * X, y)  # queries that are not unit-norm
    with pytest.raises(NotFittedError):
        est.predict(X)


# -- lexical evidence (BM25-like sparse components) ----------------------------------------


def _lexical_catalog(seed: int = 0) -> tuple[Catalog, np.ndarray, np.ndarray, Any]:
    """A synthetic catalog plus an informative lexical component and the full-width queries.

    Each item holds 4 of 2,000 terms; each query holds 2 terms of each of its most
    relevant items (so lexical evidence finds them) and one random term.
    """
    import scipy.sparse as sp

    data = make_catalog(
        240, 40, random_state=seed, missing_rate={"description": 0.3}, modality_gap=1.4
    )
    rng = np.random.default_rng(seed)
    n, V = 240, 2000
    rows = np.repeat(np.arange(n), 4)
    cols = np.concatenate([rng.choice(V, 4, replace=False) for _ in range(n)])
    D = sp.csr_array((rng.uniform(0.5, 3.0, rows.size), (rows, cols)), shape=(n, V))
    rel = data.qrels.toarray()
    Q = np.zeros((40, V))
    for q in range(40):
        for item in np.flatnonzero(rel[q] >= rel[q].max()):
            Q[q, D[[item]].indices[:2]] = 1.0
        Q[q, rng.integers(V)] += 1.0
    cat = Catalog.from_arrays(data.components, masks=data.masks, lexical={"bm25": D})
    X = sp.hstack([sp.csr_array(data.queries), sp.csr_array(Q)]).tocsr()
    return cat, np.asarray(data.queries), data.qrels, X


def _minmax(S: np.ndarray) -> np.ndarray:
    S = np.asarray(S, dtype=np.float64)
    lo, hi = S.min(axis=1, keepdims=True), S.max(axis=1, keepdims=True)
    return np.where(hi > lo, (S - lo) / np.where(hi > lo, hi - lo, 1.0), 0.0)


def test_lexical_weight_is_chosen_and_scores_are_the_literal_convex_combination() -> None:
    cat, Xd, y, X = _lexical_catalog()
    est = AgreementFusionCV(cat, priors=[0.5, 1.0]).fit(X, y)
    assert est.lexical_weight_ > 0
    assert est.best_params_["lexical_weight"] == est.lexical_weight_
    res = est.cv_results_
    assert res["param_lexical_weight"][est.best_index_] == est.lexical_weight_
    # The dense rows are those of the same search without lexical evidence.
    dense_only = AgreementFusionCV(cat, priors=[0.5, 1.0], lexical_weights=[0.0]).fit(X, y)
    n_dense = dense_only.cv_results_["mean_test_score"].size
    np.testing.assert_array_equal(
        res["mean_test_score"][:n_dense], dense_only.cv_results_["mean_test_score"]
    )
    assert dense_only.lexical_weight_ == 0.0
    assert np.all(res["param_lexical_weight"][:n_dense] == 0)
    assert res["mean_test_score"].size == n_dense + 10  # α = 0.1 … 1
    # Literal: the chosen dense candidate's fused cosines and the lexical products.
    alpha = est.lexical_weight_
    ref_dense = AgreementFusion(
        cat,
        prior=est.prior_,
        prior_weights=est.prior_weights_,
        impute=est.impute_,
    ).fit()
    f = ref_dense.decision_function(Xd)
    b = (X[:, cat.dim :] @ cat.lexical["bm25"].T).toarray()
    expected = (1 - alpha) * _minmax(f) + alpha * _minmax(b)
    np.testing.assert_allclose(est.decision_function(X), expected, atol=1e-6)
    top = est.kneighbors(X, 10, return_distance=False)
    order = np.lexsort((np.tile(np.arange(cat.n_items), (40, 1)), -expected), axis=1)[:, :10]
    np.testing.assert_array_equal(top, order)
    # The chosen row's mean is the estimator's own score on these queries.
    assert est.best_score_ == pytest.approx(est.score(X, y), abs=1e-12)
    # Lexical evidence alone (α = 1) is a candidate too.
    lex_only = ranking_metrics(
        y,
        ranking=np.lexsort((np.tile(np.arange(cat.n_items), (40, 1)), -_minmax(b)), axis=1)[:, :10],
        metrics=["ndcg@10"],
    )["ndcg@10"]
    assert res["mean_test_score"][-1] == pytest.approx(lex_only, abs=1e-12)


def test_without_lexical_columns_or_judgments_the_lexical_weight_is_zero() -> None:
    cat, Xd, y, X = _lexical_catalog()
    assert AgreementFusionCV(cat, priors=[1.0]).fit(Xd, y).lexical_weight_ == 0.0
    label_free = AgreementFusionCV(cat).fit(X)
    assert label_free.lexical_weight_ == 0.0
    np.testing.assert_array_equal(
        label_free.kneighbors(X, 5, return_distance=False),
        AgreementFusion(cat).fit().kneighbors(Xd, 5, return_distance=False),
    )


def test_lexical_weights_are_validated_and_approximate_is_refused() -> None:
    cat, _, y, X = _lexical_catalog()
    for bad in ([1.5], [[0.1]], "some", [np.nan]):
        with pytest.raises((ValueError, TypeError)):
            AgreementFusionCV(cat, lexical_weights=bad).fit(X, y)
    est = AgreementFusionCV(cat, priors=[1.0], approximate=True).fit(X, y)
    assert est.lexical_weight_ > 0
    with pytest.raises(ValueError, match="approximate=False"):
        est.kneighbors(X, 5)


def test_dense_catalog_results_do_not_change_with_lexical_weights() -> None:
    data = make_catalog(150, 20, random_state=1)
    cat = Catalog.from_arrays(data.components, masks=data.masks)
    a = AgreementFusionCV(cat, priors=[0.5, 1.0]).fit(data.queries, data.qrels)
    b = AgreementFusionCV(cat, priors=[0.5, 1.0], lexical_weights=[0.0, 0.5]).fit(
        data.queries, data.qrels
    )
    assert "param_lexical_weight" not in a.cv_results_
    assert "lexical_weight" not in a.best_params_
    np.testing.assert_array_equal(
        a.cv_results_["mean_test_score"], b.cv_results_["mean_test_score"]
    )
    assert a.lexical_weight_ == b.lexical_weight_ == 0.0


# -- composition: the chosen strategy is a fitted AgreementFusion -------------------------


def _check_wraps(est: AgreementFusionCV, X: Any, **expected: Any) -> AgreementFusion:
    """``best_estimator_`` is a fitted AgreementFusion with the chosen and passed-on params."""
    inner = est.best_estimator_
    assert type(inner) is AgreementFusion
    check_is_fitted(inner)
    params = inner.get_params()
    assert params["catalog"] is est.catalog
    assert params["prior"] == est.prior_
    assert params["impute"] == est.impute_
    for name in ("debias", "block_size", "scoring", "backend", "device", "approximate"):
        assert params[name] == est.get_params()[name], name
    assert params["n_candidates"] == est.n_candidates
    for name, value in expected.items():
        assert params[name] == value, name
    np.testing.assert_array_equal(inner.global_weights_, est.prior_weights_)
    np.testing.assert_array_equal(est.global_weights_, est.prior_weights_)
    assert inner.imputed_catalog_ is est.imputed_catalog_
    # Scored through the wrapper, the strategy is the inner estimator's, bit for bit.
    assert est.lexical_weight_ == 0.0
    s, idx = est.kneighbors(X, 15)
    s_in, idx_in = inner.kneighbors(X, 15)
    np.testing.assert_array_equal(idx, idx_in)
    np.testing.assert_array_equal(s, s_in)
    np.testing.assert_array_equal(est.decision_function(X), inner.decision_function(X))
    np.testing.assert_array_equal(est.query_weights(X), inner.query_weights(X))
    ids = est.catalog.ids[:4]
    ours, theirs = est.explain(X[0], ids), inner.explain(X[0], ids)
    for key in ("similarities", "weights", "scores"):
        np.testing.assert_array_equal(ours[key], theirs[key])
    np.testing.assert_array_equal(est.fused_embeddings(X[1]), inner.fused_embeddings(X[1]))
    return inner


def test_it_wraps_a_fitted_agreement_fusion_rather_than_subclassing_it(judged) -> None:
    from skfusion.fusion._vector import BaseVectorFusion

    assert not issubclass(AgreementFusionCV, AgreementFusion)
    assert issubclass(AgreementFusionCV, BaseVectorFusion)
    for name in ("_static_weights", "_shard_weights", "_undefined_expected"):
        assert getattr(AgreementFusionCV, name) == getattr(AgreementFusion, name), name
    cat, X, y = judged
    est = AgreementFusionCV(
        cat, priors=[0.0, 0.5, 1.0], prior_weights_grid=GRID, debias=False, block_size=37
    ).fit(X, y)
    assert not isinstance(est, AgreementFusion)
    inner = _check_wraps(est, X, debias=False, block_size=37)
    np.testing.assert_array_equal(inner.prior_weights, est.prior_weights_)
    # The same strategy from its parameters alone (weights normalised again: float rounding).
    again = AgreementFusion(**inner.get_params()).fit()
    np.testing.assert_allclose(again.decision_function(X), est.decision_function(X), atol=1e-6)
    # A refit replaces it; a failed refit leaves none behind.
    first = est.best_estimator_
    est.fit(X[:7], y[:7])
    assert est.best_estimator_ is not first
    with pytest.raises(ValueError, match="relevant"):
        est.fit(X, np.zeros_like(y))
    assert not hasattr(est, "best_estimator_")
    with pytest.raises(NotFittedError):
        est.kneighbors(X)


def test_the_default_grid_chooses_a_fitted_agreement_fusion_too(judged) -> None:
    # The default simplex grid has rows that check_weights would renormalise in the last
    # bit: the inner estimator keeps the target exactly as it was scored.
    cat, X, y = judged
    est = AgreementFusionCV(cat, priors=[0.25, 1.0]).fit(X, y)
    _check_wraps(est, X)
    assert est.score(X, y) == pytest.approx(est.best_score_, abs=1e-12)


@pytest.mark.parametrize("with_queries", [False, True])
def test_a_label_free_fit_sets_the_label_free_default(judged, with_queries: bool) -> None:
    cat, X, _ = judged
    est = AgreementFusionCV(cat).fit(*((X,) if with_queries else ()))
    inner = _check_wraps(est, X, prior=0.75, prior_weights=None, impute="regression")
    np.testing.assert_array_equal(inner.global_weights_, np.full(3, 1 / 3))
    assert est.impute_ == "regression"
    assert est.prior_ == 0.75
    fixed = AgreementFusionCV(cat, impute=None).fit(*((X,) if with_queries else ()))
    _check_wraps(fixed, X, impute=None)
    assert fixed.imputed_catalog_ is cat


def test_another_catalog_set_after_fit_is_not_scored_with_the_old_imputed_copy(judged) -> None:
    cat, X, y = judged
    est = AgreementFusionCV(cat, priors=[1.0], prior_weights_grid=GRID).fit(X, y)
    assert est._checked_catalog() is est.best_estimator_.imputed_catalog_
    data = make_catalog(240, 14, missing_rate={"image": 0.3}, random_state=1)  # as judged
    other = Catalog.from_arrays(data.components, masks=data.masks)
    est.set_params(catalog=other)
    assert est._checked_catalog() is other


def test_with_lexical_evidence_rankers_and_scorers_use_the_wrapper() -> None:
    # best_estimator_ ranks by the dense scores only; RankingScorer, top_k_ids and
    # cross_val_ranking rank with the estimator itself (the convex combination).
    from skfusion.evaluation import top_k_ids
    from skfusion.evaluation._protocol import final_estimator
    from skfusion.metrics import make_ranking_scorer

    cat, Xd, y, X = _lexical_catalog()
    est = AgreementFusionCV(cat, priors=[0.5, 1.0]).fit(X, y)
    assert est.lexical_weight_ > 0
    assert final_estimator(est) is est
    inner = est.best_estimator_
    np.testing.assert_array_equal(est._dense_scores(Xd), inner.decision_function(Xd))
    assert not np.array_equal(est.decision_function(X), inner.decision_function(X))
    assert make_ranking_scorer("ndcg@10")(est, X, y) == pytest.approx(est.best_score_, abs=1e-12)
    top = est.kneighbors(X, 10, return_distance=False)
    np.testing.assert_array_equal(top_k_ids(est, X, 10), cat.ids[top])
    # A search over AgreementFusionCV ranks with its best AgreementFusionCV.
    search = GridSearchCV(
        AgreementFusionCV(cat, priors=[1.0]), {"lexical_weights": [[0.0], "auto"]}, cv=KFold(2)
    ).fit(X, y.toarray())
    assert isinstance(final_estimator(search), AgreementFusionCV)
    np.testing.assert_array_equal(top_k_ids(search, X, 5), top_k_ids(search.best_estimator_, X, 5))


def test_approximate_search_goes_through_the_wrapped_strategy(judged) -> None:
    pytest.importorskip("faiss")
    _, X, y = judged
    data = make_catalog(240, 14, missing_rate={"image": 0.3}, random_state=1)  # as judged
    indexed = Catalog.from_arrays(data.components, masks=data.masks)
    indexed.build_index(n_lists=4, n_probe=4, random_state=0)
    exact = AgreementFusionCV(indexed, priors=[0.25, 1.0], prior_weights_grid=GRID).fit(X, y)
    approx = clone(exact).set_params(approximate=True, n_candidates=indexed.n_items).fit(X, y)
    assert approx.best_estimator_.approximate is True
    np.testing.assert_array_equal(
        approx.cv_results_["mean_test_score"], exact.cv_results_["mean_test_score"]
    )
    s, idx = approx.kneighbors(X, 10)
    s_exact, idx_exact = exact.kneighbors(X, 10)
    np.testing.assert_array_equal(idx, idx_exact)
    np.testing.assert_allclose(s, s_exact, atol=1e-6)
    s_in, idx_in = approx.best_estimator_.kneighbors(X, 10)
    np.testing.assert_array_equal(idx, idx_in)
    np.testing.assert_array_equal(s, s_in)
