"""Pipelines (encoder + fusion) and raw queries in the evaluation functions and scorers.

A real Pipeline — the tiny random CLIP's text tower before a fusion
estimator — is given raw texts; every result must equal the one obtained by
embedding the texts first and giving the bare estimator the embeddings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer

from skfusion import AgreementFusionCV, Catalog, ClipEncoder, HybridFusion, WeightedFusion
from skfusion.evaluation import Tuned, benchmark_strategies, cross_val_ranking, top_k_ids
from skfusion.metrics._scorer import RankingScorer

from .._tolerance import assert_same_topk

WORDS = ["red", "blue", "green", "shoe", "boot", "sock", "run", "walk", "trail", "road"]
GRID = [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]


@pytest.fixture(scope="module")
def texts(tiny_clip_dir: Path) -> dict:
    """40 items (title, body) and 30 queries of a few words.

    The tiny CLIP's context is 16 byte tokens, so some texts are truncated, in the same way
    inside and outside a Pipeline.
    """
    rng = np.random.default_rng(0)

    def phrase(n: int) -> str:
        return " ".join(rng.choice(WORDS, size=n))

    # Numbered, so that no two items are the same text (ties would make the order of
    # equal scores depend on float rounding).
    titles = [f"{phrase(2)} {i}" for i in range(40)]
    bodies = [f"{phrase(3)} {i}" for i in range(40)]
    targets = rng.choice(40, size=30)
    queries = [f"{titles[t]} {rng.choice(WORDS)}" for t in targets]
    encoder = ClipEncoder(tiny_clip_dir, modality="text", device="cpu")
    catalog = Catalog.from_arrays(
        {"title": encoder.transform(titles), "body": encoder.transform(bodies)},
        ids=[f"item-{i}" for i in range(40)],
    )
    y = np.zeros((30, 40))
    y[np.arange(30), targets] = 2
    y[np.arange(30), (targets + 1) % 40] = 1
    return {
        "encoder": encoder,
        "catalog": catalog,
        "queries": queries,
        "embedded": encoder.transform(queries),
        "y": y,
    }


def test_benchmark_strategies_takes_pipelines_and_raw_queries(texts: dict) -> None:
    enc, cat = texts["encoder"], texts["catalog"]
    piped = {
        "hybrid": make_pipeline(enc, HybridFusion(cat)),
        "weighted": Tuned(
            make_pipeline(enc, WeightedFusion(cat)), {"weightedfusion__weights": GRID}
        ),
        "agreement-cv": Tuned(
            make_pipeline(enc, AgreementFusionCV(cat, priors=[0.5, 1.0], prior_weights_grid=GRID))
        ),
    }
    bare = {
        "hybrid": HybridFusion(cat),
        "weighted": Tuned(WeightedFusion(cat), {"weights": GRID}),
        "agreement-cv": Tuned(AgreementFusionCV(cat, priors=[0.5, 1.0], prior_weights_grid=GRID)),
    }
    common = {
        "baseline": "hybrid",
        "cv": KFold(3, shuffle=True, random_state=0),
        "inner_cv": 3,
        "n_resamples": 200,
    }
    got = benchmark_strategies(piped, texts["queries"], texts["y"], **common)
    want = benchmark_strategies(bare, texts["embedded"], texts["y"], **common)
    for name in bare:
        # The encoder runs again inside the Pipeline, on other batches of queries: float32
        # rounding may differ by ~1e-7, and so may the order of items tied within it.
        assert_same_topk(
            got.runs[name].scores,
            got.runs[name].ranking,
            want.runs[name].scores,
            want.runs[name].ranking,
            atol=1e-6,
        )
        for metric, values in want.runs[name].per_query.items():
            np.testing.assert_allclose(got.runs[name].per_query[metric], values, atol=1e-12)
    # The grid's keys are the Pipeline's; a self-tuning last step reports its own parameters.
    for g, w in zip(got.runs["weighted"].folds, want.runs["weighted"].folds, strict=True):
        assert g.best_params == {"weightedfusion__weights": w.best_params["weights"]}
        assert g.best_score == pytest.approx(w.best_score)
    for g, w in zip(got.runs["agreement-cv"].folds, want.runs["agreement-cv"].folds, strict=True):
        assert g.best_params["prior"] == w.best_params["prior"]
        np.testing.assert_array_equal(
            g.best_params["prior_weights"], w.best_params["prior_weights"]
        )
        assert g.best_score == pytest.approx(w.best_score)


def test_cross_val_ranking_with_a_pipeline_and_raw_queries(texts: dict) -> None:
    enc, cat = texts["encoder"], texts["catalog"]
    outer = KFold(3, shuffle=True, random_state=1)
    pipe = make_pipeline(enc, Normalizer(), WeightedFusion(cat))
    got = cross_val_ranking(
        pipe, {"weightedfusion__weights": GRID}, texts["queries"], texts["y"], depth=7, cv=outer
    )
    want = cross_val_ranking(
        WeightedFusion(cat), {"weights": GRID}, texts["embedded"], texts["y"], depth=7, cv=outer
    )
    assert_same_topk(got.scores, got.ranking, want.scores, want.ranking, atol=1e-6)
    assert got.ranking.shape == (30, 7)


def test_scorer_takes_a_pipeline_and_raw_queries(texts: dict) -> None:
    enc, cat = texts["encoder"], texts["catalog"]
    pipe = make_pipeline(enc, HybridFusion(cat)).fit(texts["queries"])
    for metric in ("ndcg@10", "mrr"):
        scorer = RankingScorer(metric)
        assert scorer(pipe, texts["queries"], texts["y"]) == pytest.approx(
            scorer(HybridFusion(cat).fit(), texts["embedded"], texts["y"])
        )


def test_top_k_ids_from_a_pipeline_an_estimator_and_a_search(texts: dict) -> None:
    enc, cat = texts["encoder"], texts["catalog"]
    est = HybridFusion(cat).fit()
    scores, idx = est.kneighbors(texts["embedded"], n_neighbors=5)
    expected = np.asarray(cat.ids)[idx]
    pipe = make_pipeline(enc, HybridFusion(cat)).fit(texts["queries"])
    np.testing.assert_array_equal(top_k_ids(pipe, texts["queries"], k=5), expected)
    np.testing.assert_array_equal(top_k_ids(est, texts["embedded"], k=5), expected)
    ids, got_scores = top_k_ids(pipe, texts["queries"], k=5, return_scores=True)
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_allclose(got_scores, scores, atol=1e-6)
    assert ids[:, 0].tolist() == pipe.predict(texts["queries"]).tolist()
    assert top_k_ids(est, texts["embedded"], k=500).shape == (30, 40)  # capped at the catalog
    search = GridSearchCV(
        make_pipeline(enc, WeightedFusion(cat)), {"weightedfusion__weights": GRID}, cv=3
    ).fit(texts["queries"], texts["y"])
    chosen = WeightedFusion(cat, weights=search.best_params_["weightedfusion__weights"]).fit()
    np.testing.assert_array_equal(
        top_k_ids(search, texts["queries"], k=3),
        top_k_ids(chosen, texts["embedded"], k=3),
    )


def test_non_rankers_are_refused_with_their_names(texts: dict) -> None:
    enc, cat = texts["encoder"], texts["catalog"]
    with pytest.raises(TypeError, match="Normalizer cannot rank a catalog"):
        top_k_ids(make_pipeline(enc, Normalizer()).fit(texts["queries"]), texts["queries"])
    with pytest.raises(TypeError, match="Strategy 'norm': the last step of the Pipeline"):
        benchmark_strategies(
            {"hybrid": HybridFusion(cat), "norm": make_pipeline(enc, Normalizer())},
            texts["embedded"],
            texts["y"],
            baseline="hybrid",
        )
    with pytest.raises(TypeError, match="Strategy 'norm': Normalizer has no catalog"):
        benchmark_strategies(
            {"hybrid": HybridFusion(cat), "norm": Tuned(Normalizer(), {"norm": ["l2"]})},
            texts["embedded"],
            texts["y"],
            baseline="hybrid",
        )
    # A bare estimator given raw texts says what to do, and that advice now works.
    with pytest.raises(ValueError, match="put an encoder .* before it in a Pipeline"):
        benchmark_strategies(
            {"hybrid": HybridFusion(cat)}, texts["queries"], texts["y"], baseline="hybrid"
        )
