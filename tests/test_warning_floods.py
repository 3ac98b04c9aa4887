"""One warning per estimator and kind, with counts, attributed to the user's call.

A grid search over a Pipeline clones and refits the encoder for every
candidate and fold; the text-truncation warning must come once, pointing at
this file (not at scikit-learn's). The evaluation functions summarise the
warnings raised inside them (e.g. ``UndefinedScoreWarning`` for items
without a defined fused vector) into one per kind with its count.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline

from skfusion import Catalog, ClipEncoder, WeightedFusion
from skfusion._warnings import summarised_warnings, user_stacklevel, warn_at_caller
from skfusion.evaluation import Tuned, benchmark_strategies, cross_val_ranking
from skfusion.evaluation._benchmark import _benchmark_strategies
from skfusion.fusion import UndefinedScoreWarning

from ._data import unit_rows

LONG = "word " * 30  # the tiny CLIP's context is 16 tokens


def _record(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, caught


@pytest.mark.filterwarnings("ignore:.*truncated:UserWarning")
def test_truncation_warns_once_per_encoder_and_clones_at_the_users_line(
    tiny_clip_dir: Path,
) -> None:
    enc = ClipEncoder(tiny_clip_dir, modality="text", device="cpu")
    items = [f"{LONG} {i}" for i in range(12)]
    catalog = Catalog.from_arrays({"a": enc.transform(items[:6] * 2), "b": enc.transform(items)})
    assert enc.warning_counts_ == {"truncated": 24}
    queries = [f"{LONG} query {i}" for i in range(10)] + ["short"] * 10
    y = np.zeros((20, 12))
    y[np.arange(20), np.arange(20) % 12] = 1
    grid = {"weightedfusion__weights": [[1, 0], [0.5, 0.5], [0, 1]]}
    # A fresh encoder: 3 candidates × 5 folds × (fit + score) transforms, one warning.
    fresh = ClipEncoder(tiny_clip_dir, modality="text", device="cpu")
    search = GridSearchCV(make_pipeline(fresh, WeightedFusion(catalog)), grid, cv=KFold(5))
    _, caught = _record(search.fit, queries, y)
    truncation = [w for w in caught if "truncated" in str(w.message)]
    assert len(truncation) == 1, [str(w.message) for w in truncation]
    assert truncation[0].category is UserWarning
    assert truncation[0].filename == __file__  # the line above, not sklearn's files
    message = str(truncation[0].message)
    assert message.startswith("6 of 16 texts were longer than the model's context of 16 tokens")
    assert "reported once for ClipEncoder('tiny-clip" in message
    # Every transform of every clone was counted: 3 × 5 fits on 8 long training queries
    # (16 training queries per fold), 3 × 5 test folds with 2 long queries, and the refit.
    assert fresh.warning_counts_ == {"truncated": 3 * 5 * 8 + 3 * 5 * 2 + 10}
    # A clone shares the record; an encoder made anew warns again.
    _, caught = _record(clone(fresh).transform, [LONG])
    assert not caught
    other = ClipEncoder(tiny_clip_dir, modality="text", device="cpu")
    _, caught = _record(other.transform, [LONG])
    assert len(caught) == 1
    assert caught[0].filename == __file__
    assert pickle.loads(pickle.dumps(other)).warning_counts_ == {"truncated": 1}


class _WarningWeightedFusion(WeightedFusion):
    """WeightedFusion that warns about undefined scores (as hybrid's literal policy does).

    Undefined scores of static weights are expected and only counted; the summary
    machinery is tested on this subclass, which treats them as unexpected.
    """

    _undefined_expected = False


def _undefined_case() -> tuple[Catalog, np.ndarray, np.ndarray]:
    """Item 0 lacks component 'a': weights [1, 0] leave it without a fused vector."""
    rng = np.random.default_rng(0)
    a, b = unit_rows(rng, (30, 8)), unit_rows(rng, (30, 8))
    mask = np.ones(30, dtype=bool)
    mask[0] = False
    a[0] = 0.0
    catalog = Catalog.from_arrays({"a": a, "b": b}, masks={"a": mask})
    X = unit_rows(rng, (24, 8))
    y = np.zeros((24, 30))
    y[np.arange(24), 1 + np.arange(24)] = 1
    return catalog, X, y


def _defaults(**given: object) -> dict:
    """benchmark_strategies's defaults, for calling its unsummarised body."""
    import inspect

    params = inspect.signature(benchmark_strategies).parameters
    out = {n: p.default for n, p in params.items() if p.kind is p.KEYWORD_ONLY}
    out.update(n_resamples=100, **given)
    return out


def test_benchmark_summarises_undefined_scores_into_one_warning() -> None:
    catalog, X, y = _undefined_case()
    strategies = {
        "a-only": _WarningWeightedFusion(catalog, weights=[1, 0]),
        "tuned": Tuned(_WarningWeightedFusion(catalog), {"weights": [[1, 0], [0, 1], [0.5, 0.5]]}),
    }
    _, caught = _record(
        benchmark_strategies, strategies, X, y, baseline="a-only", inner_cv=3, n_resamples=100
    )
    undefined = [w for w in caught if issubclass(w.category, UndefinedScoreWarning)]
    assert len(undefined) == 1, [str(w.message) for w in undefined]
    message = str(undefined[0].message)
    assert "had a zero fused vector" in message
    # Without the summary, each estimator warns once for itself and all its clones: a-only
    # (cloned per fold) and the tuned WeightedFusion (cloned per fold, candidate and inner
    # fold) — two warnings where one per search call gave at least 16 (a-only once, and the
    # [1, 0] candidate in each of 5 × 3 inner folds).
    fresh = {
        "a-only": _WarningWeightedFusion(catalog, weights=[1, 0]),
        "tuned": Tuned(_WarningWeightedFusion(catalog), {"weights": [[1, 0], [0, 1], [0.5, 0.5]]}),
    }
    with warnings.catch_warnings(record=True) as raw:
        warnings.simplefilter("always")
        _benchmark_strategies(fresh, X, y, **_defaults(baseline="a-only", inner_cv=3))
    assert len(raw) == 2, [str(w.message) for w in raw]
    assert f"raised {len(raw)} times during benchmark_strategies" in message
    assert undefined[0].filename == __file__
    assert fresh["a-only"].warning_counts_["undefined"] > 0

    _, caught = _record(
        cross_val_ranking,
        _WarningWeightedFusion(catalog),
        {"weights": [[1, 0], [0, 1]]},
        X,
        y,
        depth=5,
        cv=KFold(2),
        inner_cv=2,
    )
    assert len(caught) == 1  # one lineage of WeightedFusion clones: reported once
    assert "reported once for _WarningWeightedFusion" in str(caught[0].message)
    assert caught[0].filename == __file__


def test_summaries_keep_filters_and_surface_with_errors() -> None:
    catalog, X, y = _undefined_case()
    args = ({"a": _WarningWeightedFusion(catalog, weights=[1, 0])}, X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=UndefinedScoreWarning)
        benchmark_strategies(*args, baseline="a", n_resamples=100)
    assert not [w for w in caught if issubclass(w.category, UndefinedScoreWarning)]

    # Warnings raised before an error are still reported, and the error is not masked.
    def fails() -> None:
        with summarised_warnings("the test"):
            for _ in range(2):
                warnings.warn("first", UserWarning, stacklevel=1)
            raise ValueError("boom")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="boom"):
            fails()
    assert [str(w.message) for w in caught] == [
        "first [raised 2 times during the test; this was the first]"
    ]
    assert caught[0].filename == __file__


def test_user_stacklevel_walks_out_of_internal_frames() -> None:
    here = __file__

    def inner() -> int:
        return user_stacklevel((here,))  # every frame of this file is "internal"

    assert inner() > 2  # past inner() and this test, into pytest's frames
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_at_caller("direct", RuntimeWarning)
    assert caught[0].filename == __file__
    assert caught[0].category is RuntimeWarning


def test_expected_undefined_scores_are_counted_not_warned() -> None:
    # A single-field strategy over a field some items lack: nothing to warn about.
    catalog, X, y = _undefined_case()
    est = WeightedFusion(catalog, weights=[1, 0])
    _, caught = _record(
        benchmark_strategies, {"a-only": est}, X, y, baseline="a-only", n_resamples=100
    )
    assert not [w for w in caught if issubclass(w.category, UndefinedScoreWarning)]
    fitted = WeightedFusion(catalog, weights=[1, 0]).fit()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted.kneighbors(X, 3)
    assert fitted.warning_counts_ == {"undefined": X.shape[0]}
