"""The public API: its size, that it is documented, and that deprecated names still work.

Every name in a public module's ``__all__`` counts once, however many modules
export the same object (``skfusion.HybridFusion`` is
``skfusion.fusion.HybridFusion``). Names removed from ``__all__`` stay
importable for one release and emit a ``FutureWarning`` naming their
replacement; deprecated classes warn when instantiated.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone

from skfusion import Catalog, ScoreFusion
from skfusion.fusion.calibrated import _CalibratedFusion
from skfusion.fusion.score_fusion import _CombMAX, _CombMNZ, _CombSUM

from ._data import correlated_components, unit_rows
from .test_docs import API, documented_names

#: Every public module (each has ``__all__``).
PUBLIC_MODULES = (
    "skfusion",
    "skfusion.fusion",
    "skfusion.metrics",
    "skfusion.evaluation",
    "skfusion.encoders",
    "skfusion.datasets",
    "skfusion.io",
    "skfusion.distributed",
    "skfusion.catalog",
    "skfusion.testing",
    "skfusion.demo",
)
#: The number of distinct public names; docs/api.rst states the same number.
MAX_PUBLIC_NAMES = 51


def _public() -> dict[int | str, list[str]]:
    """Distinct public objects → the qualified names that export them."""
    seen: dict[int | str, list[str]] = {}
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            key: int | str = f"{module_name}.{name}" if isinstance(obj, str) else id(obj)
            seen.setdefault(key, []).append(f"{module_name}.{name}")
    return seen


def test_public_name_count_is_bounded_and_documented() -> None:
    count = len(_public())
    assert count <= MAX_PUBLIC_NAMES, f"{count} public names, more than {MAX_PUBLIC_NAMES}"
    text = API.read_text(encoding="utf-8")
    assert f"{MAX_PUBLIC_NAMES} public names" in text


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_name_imports_without_warning(module_name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        module = importlib.import_module(module_name)
        assert len(module.__all__) == len(set(module.__all__))
        for name in module.__all__:
            exec(f"from {module_name} import {name}", {})


def test_api_reference_lists_exactly_the_public_names() -> None:
    documented = documented_names(API.read_text(encoding="utf-8"))
    public = _public()
    exported = {q for names in public.values() for q in names}
    # Each distinct object is documented under one of its public names...
    undocumented = [names for names in public.values() if not set(names) & documented]
    assert not undocumented, f"public names missing from docs/api.rst: {undocumented}"
    # ...and docs/api.rst documents nothing else.
    extra = sorted(documented - exported)
    assert not extra, f"docs/api.rst lists names that are not public: {extra}"


# -- deprecated names ------------------------------------------------------------------


#: (module, deprecated name, the replacement its warning names, its private home).
DEPRECATED_NAMES = [
    ("skfusion.fusion", "score", r"Catalog\(components\)", "skfusion.fusion._functional"),
    ("skfusion.fusion", "global_weights", r"global_weights\(\)", "skfusion.fusion._functional"),
    ("skfusion.fusion", "STRATEGIES", "estimator classes", "skfusion.fusion._registry"),
    ("skfusion.fusion", "Strategy", "estimator classes", "skfusion.fusion._registry"),
    ("skfusion.fusion", "get_strategy", "estimator classes", "skfusion.fusion._registry"),
    ("skfusion.fusion", "BaseFusion", "BaseEstimator", "skfusion.fusion._base"),
    ("skfusion.fusion", "fused_cosine", "decision_function", "skfusion.fusion._engine"),
    ("skfusion.fusion", "similarity_moments", r"explain\(\)", "skfusion.fusion._stats"),
    ("skfusion.fusion", "similarity_covariances", "AgreementFusion", "skfusion.fusion.agreement"),
    ("skfusion.fusion", "impute_components", "impute='auto'", "skfusion.fusion.agreement"),
    ("skfusion.fusion", "centroid_basis", "AgreementFusion", "skfusion.fusion.agreement"),
    ("skfusion.fusion", "agreement_weights", "AgreementFusion", "skfusion.fusion.agreement"),
    ("skfusion.fusion", "average_weights", "AverageFusion", "skfusion.fusion.average"),
    ("skfusion.fusion", "weighted_weights", "WeightedFusion", "skfusion.fusion.weighted"),
    ("skfusion.fusion", "hybrid_weights", "HybridFusion", "skfusion.fusion.hybrid"),
    ("skfusion.fusion", "calibrated_scores", "method='sum'", "skfusion.fusion.calibrated"),
    ("skfusion.fusion", "combsum_scores", "method='sum'", "skfusion.fusion.score_fusion"),
    ("skfusion.fusion", "combmax_scores", "method='max'", "skfusion.fusion.score_fusion"),
    ("skfusion.fusion", "combmnz_scores", "method='sum'", "skfusion.fusion.score_fusion"),
    ("skfusion.fusion", "rrf_scores", "RRFusion", "skfusion.fusion.rank_fusion"),
    ("skfusion.metrics", "METRICS", "metric name", "skfusion.metrics._ranking"),
    ("skfusion.metrics", "parse_metric", "metric name", "skfusion.metrics._ranking"),
    ("skfusion.metrics", "metric_depth", "metric name", "skfusion.metrics._ranking"),
    ("skfusion.metrics", "top_k", "kneighbors", "skfusion.metrics._ranking"),
    ("skfusion.metrics", "as_relevance", "metrics directly", "skfusion.metrics._relevance"),
    ("skfusion.metrics", "RankingScorer", "make_ranking_scorer", "skfusion.metrics._scorer"),
    ("skfusion.metrics", "ranking_scorers", "make_ranking_scorer", "skfusion.metrics._scorer"),
    (
        "skfusion.evaluation",
        "BenchmarkResult",
        "benchmark_strategies",
        "skfusion.evaluation._benchmark",
    ),
    (
        "skfusion.evaluation",
        "StrategyRun",
        "benchmark_strategies",
        "skfusion.evaluation._benchmark",
    ),
    (
        "skfusion.evaluation",
        "CrossValRanking",
        "cross_val_ranking",
        "skfusion.evaluation._protocol",
    ),
    ("skfusion.evaluation", "FoldResult", "cross_val_ranking", "skfusion.evaluation._protocol"),
    (
        "skfusion.evaluation",
        "PairedTestResult",
        "paired_t_test",
        "skfusion.evaluation._significance",
    ),
    ("skfusion.io", "Run", r"dict\[str, dict\[str, float\]\]", "skfusion.io._trec"),
    ("skfusion.io", "Qrels", r"dict\[str, dict\[str, int\]\]", "skfusion.io._trec"),
    ("skfusion.demo", "simplex_grid", r"skfusion\.fusion\.simplex_grid", "skfusion.fusion"),
    ("skfusion.demo", "DemoResult", r"run_demo\(\)", "skfusion.demo._cranfield"),
    (
        "skfusion.demo",
        "embed_cranfield",
        r"load_cranfield_minilm",
        "skfusion.demo._cranfield",
    ),
    ("skfusion.demo", "write_report", r"skfusion demo --out", "skfusion.demo._report"),
    ("skfusion.encoders", "clear_cache", r"ClipEncoder\.clear_cache", "skfusion.encoders._cache"),
    (
        "skfusion.encoders",
        "parse_query_mixture",
        r"MixtureEncoder",
        "skfusion.encoders.mixture",
    ),
]


@pytest.mark.parametrize(("module_name", "name", "replacement", "home"), DEPRECATED_NAMES)
def test_deprecated_name_warns_and_is_the_same_object(
    module_name: str, name: str, replacement: str, home: str
) -> None:
    module = importlib.import_module(module_name)
    assert name not in module.__all__
    with pytest.warns(FutureWarning, match=rf"{module_name}\.{name} is deprecated.*{replacement}"):
        obj = getattr(module, name)
    assert obj is getattr(importlib.import_module(home), name)


RENAMED_METRICS = [
    ("ndcg_score", "ndcg@3"),
    ("recall_score", "recall@3"),
    ("precision_score", "precision@3"),
    ("mrr_score", "mrr@3"),
    ("map_score", "map@3"),
]


@pytest.mark.parametrize(("old", "metric"), RENAMED_METRICS)
def test_renamed_metric_warns_and_still_works(old: str, metric: str) -> None:
    import skfusion.metrics as metrics

    gains = np.array([[0, 2, 1, 0], [1, 0, 0, 0]])
    scores = np.array([[0.4, 0.3, 0.2, 0.1], [0.1, 0.4, 0.3, 0.2]])
    with pytest.warns(FutureWarning, match=rf"metrics\.{old} is deprecated.*ranking_metrics"):
        deprecated = getattr(metrics, old)
    expected = metrics.ranking_metrics(gains, scores, metrics=[metric])[metric]
    assert deprecated(gains, scores, k=3) == expected


def test_unknown_names_raise_attribute_error() -> None:
    for module_name in ("skfusion", "skfusion.fusion", "skfusion.metrics", "skfusion.io"):
        module = importlib.import_module(module_name)
        with pytest.raises(AttributeError, match="no_such_name"):
            module.no_such_name


# -- ScoreFusion replaces CombSUMFusion, CombMAXFusion and CombMNZFusion -----------------


def _catalogs() -> list[Catalog]:
    rng = np.random.default_rng(3)
    full = Catalog(dict(zip("abc", correlated_components(rng, 60, 8, 3), strict=True)))
    mats = correlated_components(rng, 60, 8, 3)
    mask = rng.random((3, 60)) > 0.3
    mask[0] = True  # every item keeps one component
    mats[~mask] = 0.0  # missing rows are all zero
    masked = Catalog(
        dict(zip("abc", mats, strict=True)), masks={n: mask[c] for c, n in enumerate("abc")}
    )
    return [full, masked]


#: (deprecated class, its old parameters, the ScoreFusion parameters giving the same ranking)
OLD_CLASSES = [
    ("CombSUMFusion", {}, {"method": "sum"}),
    ("CombSUMFusion", {"normalization": "minmax"}, {"normalization": "minmax"}),
    ("CombSUMFusion", {"normalization": "dbsf", "weights": [1, 2, 3]}, {}),
    ("CombMAXFusion", {}, {"method": "max"}),
    ("CombMAXFusion", {"normalization": "none", "weights": [3, 1, 1]}, {"method": "max"}),
    ("CombMNZFusion", {"depth": 15}, {"method": "mnz", "normalization": "minmax"}),
    ("CombMNZFusion", {"normalization": "dbsf"}, {"method": "mnz"}),
]


@pytest.mark.parametrize(("old", "old_params", "new_params"), OLD_CLASSES)
def test_old_classes_warn_and_equal_score_fusion(
    old: str, old_params: dict[str, Any], new_params: dict[str, Any]
) -> None:
    import skfusion

    cls = getattr(skfusion, old)
    assert old not in skfusion.__all__
    method = new_params.get("method", "sum")
    params = {**old_params, **new_params, "method": method}
    for cat in _catalogs():
        queries = unit_rows(np.random.default_rng(4), (5, 8))
        with pytest.warns(
            FutureWarning, match=rf"{old} is deprecated.*ScoreFusion\(method='{method}'"
        ):
            old_est = cls(cat, **old_params)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "mnz" warns at fit
            old_est.fit()
            new_est = ScoreFusion(cat, **params).fit()
        s_old, i_old = old_est.kneighbors(queries, n_neighbors=10)
        s_new, i_new = new_est.kneighbors(queries, n_neighbors=10)
        np.testing.assert_array_equal(i_new, i_old)
        np.testing.assert_array_equal(s_new, s_old)
        np.testing.assert_array_equal(
            new_est.decision_function(queries), old_est.decision_function(queries)
        )


def test_private_forms_equal_score_fusion_and_do_not_warn() -> None:
    cat = _catalogs()[1]
    queries = unit_rows(np.random.default_rng(5), (4, 8))
    pairs = [
        (_CombSUM(cat), ScoreFusion(cat)),
        (
            _CombMAX(cat, normalization="minmax"),
            ScoreFusion(cat, method="max", normalization="minmax"),
        ),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        mnz = _CombMNZ(cat, depth=10).fit()
        calibrated = _CalibratedFusion(cat).fit()
        for quiet, public in pairs:
            np.testing.assert_array_equal(
                quiet.fit().decision_function(queries), public.fit().decision_function(queries)
            )
    with pytest.warns(FutureWarning, match=r"method='mnz'.*deprecated.*0\.164 vs 0\.240"):
        public_mnz = ScoreFusion(cat, method="mnz", normalization="minmax", depth=10).fit()
    np.testing.assert_array_equal(
        public_mnz.decision_function(queries), mnz.decision_function(queries)
    )
    assert np.isfinite(calibrated.decision_function(queries)).any()


def test_calibrated_fusion_warns_and_still_works() -> None:
    import skfusion

    cat = _catalogs()[1]
    queries = unit_rows(np.random.default_rng(6), (3, 8))
    with pytest.warns(
        FutureWarning, match=r"CalibratedFusion is deprecated.*ScoreFusion.*AgreementFusionCV"
    ):
        est = skfusion.CalibratedFusion(cat, weights=[1, 2, 1])
    assert "CalibratedFusion" not in skfusion.__all__
    quiet = _CalibratedFusion(cat, weights=[1, 2, 1]).fit()
    np.testing.assert_array_equal(
        est.fit().decision_function(queries), quiet.decision_function(queries)
    )
    assert est.get_params()["weights"] == [1, 2, 1]
    with pytest.warns(FutureWarning, match="CalibratedFusion is deprecated"):
        twin = clone(est)
    assert type(twin) is skfusion.CalibratedFusion


def test_score_fusion_parameters() -> None:
    cat = _catalogs()[0]
    est = ScoreFusion(cat, method="max", normalization="dbsf", depth=7)
    params = est.get_params()
    assert (params["method"], params["normalization"], params["depth"]) == ("max", "dbsf", 7)
    twin = clone(est).set_params(method="sum")
    assert twin.method == "sum"
    assert est.method == "max"
    with pytest.raises(ValueError, match="method"):
        ScoreFusion(cat, method="median").fit()
    mnz = ScoreFusion(cat, method="mnz")
    with pytest.raises(ValueError, match="normalization='minmax' or 'dbsf', not 'zscore'"):
        mnz.fit()
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        ScoreFusion(cat, method="sum").fit()
        ScoreFusion(cat, method="max").fit()


def test_score_fusion_methods_by_hand() -> None:
    # Two items, two components, normalization="none": the cosines are the scores' inputs.
    a = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    b = np.array([[0.6, 0.8], [0.8, 0.6]], dtype=np.float32)
    cat = Catalog({"a": a, "b": b})
    q = np.array([[1.0, 0.0]], dtype=np.float32)
    # s_a = (1, 0), s_b = (0.6, 0.8); weights (0.5, 0.5) by default.
    total = ScoreFusion(cat, normalization="none").fit().decision_function(q)[0]
    np.testing.assert_allclose(total, [0.8, 0.4], atol=1e-6)
    top = ScoreFusion(cat, method="max", normalization="none").fit().decision_function(q)[0]
    np.testing.assert_allclose(top, [0.5, 0.4], atol=1e-6)
