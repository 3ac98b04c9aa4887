"""Concurrent use of fitted estimators and of memory-mapped catalogs.

* ``decision_function`` / ``kneighbors`` from 8 threads at once on one fitted
  estimator give exactly the sequential results (the catalog's lazily computed
  covariances are first computed under that contention).
* ``GridSearchCV(..., n_jobs=2)`` over a catalog loaded with ``mmap=True`` gives
  the ``n_jobs=1`` scores, and the worker processes see the component matrices
  as ``np.memmap`` views of the catalog's own files: joblib's memmapping reducer
  passes them by reference, not as pickled copies.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold

from skfusion import Catalog
from skfusion.fusion import (
    AgreementFusion,
    AverageFusion,
    HybridFusion,
    RRFusion,
    ScoreFusion,
    WeightedFusion,
)
from skfusion.fusion.calibrated import _CalibratedFusion
from skfusion.fusion.score_fusion import _CombMNZ

from .._data import correlated_components, unit_rows

N_THREADS = 8

STRATEGIES: dict[str, Callable[[Catalog], Any]] = {
    "agreement": lambda cat: AgreementFusion(cat),
    "average": lambda cat: AverageFusion(cat),
    "weighted": lambda cat: WeightedFusion(cat, weights=[0.5, 0.3, 0.2]),
    "hybrid": lambda cat: HybridFusion(cat),
    "hybrid-literal": lambda cat: HybridFusion(cat, negative="literal"),
    "combsum": lambda cat: ScoreFusion(cat),
    "combsum-minmax": lambda cat: ScoreFusion(cat, normalization="minmax"),
    "combmax": lambda cat: ScoreFusion(cat, method="max", normalization="dbsf"),
    "combmnz": lambda cat: _CombMNZ(cat, depth=50),
    "rrf": lambda cat: RRFusion(cat, depth=50),
    "calibrated": lambda cat: _CalibratedFusion(cat, weights=[1, 2, 1]),
}


def _run(est: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dense = est.decision_function(X)
        scores, idx = est.kneighbors(X, n_neighbors=7)
    return dense, scores, idx


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_threads_give_sequential_results(name: str) -> None:
    rng = np.random.default_rng(0)
    comps = correlated_components(rng, n_items=3000, dim=16)
    # a fresh catalog: its covariances are first computed by the racing threads
    cat = Catalog.from_arrays({"t": comps[0], "d": comps[1], "i": comps[2]})
    est = STRATEGIES[name](cat).fit()
    X = np.concatenate([comps[0, :5], unit_rows(rng, (35, 16))])
    # block_size below N, so every call walks several item blocks; five blocks are too few
    # to split over workers, so every product runs on BLAS's own threads in every call: the
    # condition for bit-identical results (docs/backends.md, "Reproducibility").
    est.set_params(block_size=700)
    barrier = threading.Barrier(N_THREADS)

    def work(_: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        barrier.wait()
        return [_run(est, X) for _ in range(3)]

    with ThreadPoolExecutor(N_THREADS) as pool:
        concurrent = [r for rs in pool.map(work, range(N_THREADS)) for r in rs]
    expected = _run(est, X)
    for dense, scores, idx in concurrent:
        np.testing.assert_array_equal(dense, expected[0])
        np.testing.assert_array_equal(scores, expected[1])
        np.testing.assert_array_equal(idx, expected[2])


def _judged_queries(
    rng: np.random.Generator, n_items: int, dim: int, n_queries: int
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """A 'good' and a 'noise' component; each query is a noisy copy of one item's 'good'."""
    good = unit_rows(rng, (n_items, dim))
    noise = unit_rows(rng, (n_items, dim))
    mixed = good + noise
    mixed = (mixed / np.linalg.norm(mixed, axis=1, keepdims=True)).astype(np.float32)
    targets = rng.choice(n_items, size=n_queries, replace=False)
    raw = good[targets] + rng.standard_normal((n_queries, dim)) * 0.1
    X = (raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float32)
    return {"good": good, "noise": noise, "mixed": mixed}, X, targets


def test_grid_search_over_memmapped_catalog_in_processes(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    # 3 x 20,000 x 16 float32 = 3.84 MB of components: over joblib's 1 MB max_nbytes, so an
    # in-memory array would be dumped to a temporary file; the memmap must be passed as is.
    arrays, X, y = _judged_queries(rng, n_items=20_000, dim=16, n_queries=60)
    Catalog.from_arrays(arrays).save(tmp_path / "cat")
    cat = Catalog.load(tmp_path / "cat", mmap=True)
    assert all(isinstance(E, np.memmap) for E in cat.matrices())
    files = {
        name: str(Path(E.filename).resolve())  # type: ignore[attr-defined]
        for name, E in cat.components.items()
    }
    records = tmp_path / "records"
    records.mkdir()
    main_pid = os.getpid()

    def scorer(est: Any, X_test: Any, y_test: Any) -> float:
        """nDCG@10 (the estimator's own score), recording what the process sees."""
        seen = {}
        for name, E in est.catalog.components.items():
            filename = getattr(E, "filename", None)
            seen[name] = {
                "type": type(E).__name__,
                "memmap": isinstance(E, np.memmap),
                "filename": None if filename is None else str(Path(filename).resolve()),
            }
        record = {"pid": os.getpid(), "components": seen}
        (records / f"{uuid.uuid4().hex}.json").write_text(json.dumps(record), encoding="utf-8")
        return float(est.score(X_test, y_test))

    grid = {"weights": [[1, 0, 0], [0.7, 0.3, 0], [0.5, 0.2, 0.3], [0, 1, 0], [0.2, 0.1, 0.7]]}
    cv = KFold(n_splits=3, shuffle=True, random_state=0)
    results = {}
    for n_jobs in (1, 2):
        search = GridSearchCV(WeightedFusion(cat), grid, cv=cv, n_jobs=n_jobs, scoring=scorer)
        search.fit(X, y)
        results[n_jobs] = search.cv_results_
    np.testing.assert_allclose(
        results[2]["mean_test_score"], results[1]["mean_test_score"], rtol=1e-12, atol=0
    )
    np.testing.assert_allclose(
        results[2]["split0_test_score"], results[1]["split0_test_score"], rtol=1e-12, atol=0
    )
    assert results[1]["rank_test_score"].tolist() == results[2]["rank_test_score"].tolist()
    # the weights matter: the search is not trivially constant
    assert np.ptp(results[1]["mean_test_score"]) > 0.05

    seen = [json.loads(p.read_text(encoding="utf-8")) for p in records.glob("*.json")]
    n_fits = len(grid["weights"]) * cv.get_n_splits()
    assert len(seen) == 2 * n_fits  # one scorer call per fit and search (no train scores)
    in_workers = [r for r in seen if r["pid"] != main_pid]
    assert len(in_workers) == n_fits  # the n_jobs=2 search scored in other processes
    for record in seen:
        for name, info in record["components"].items():
            assert info["memmap"], (record["pid"], name, info)
            assert info["filename"] == files[name], (record["pid"], name, info)
