"""Scoring backends (NumPy, torch), float16 storage and the engine's invariants."""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from skfusion import Catalog, HybridFusion, LearnedFusion, WeightedFusion
from skfusion.fusion._backends import NumpyBackend, TorchBackend, resolve_backend
from skfusion.fusion._engine import _page_releaser, dense_scores, topk_scores
from skfusion.fusion._registry import STRATEGIES
from skfusion.fusion._stats import similarity_moments

from .._data import correlated_components, unit_rows
from .._tolerance import RTOL32, assert_same_topk, f32_atol, fused_atol

#: fp16 unit roundoff: a stored coordinate x becomes x(1 + δ) with |δ| ≤ 2⁻¹¹.
U16 = 2.0**-11

#: Extra parameters some strategies need to run on these small catalogs.
EXTRA: dict[str, dict[str, Any]] = {
    "combmnz": {"normalization": "minmax", "depth": 40},
    "rrf": {"depth": 40},
}
SCORE_FUSION = {"combsum", "combmax", "combmnz", "rrf", "calibrated"}


def _catalog(seed: int = 0, n_items: int = 700, dim: int = 24, **kw) -> Catalog:
    rng = np.random.default_rng(seed)
    comps = correlated_components(rng, n_items=n_items, dim=dim)
    masks = None
    if kw.pop("missing", False):
        masks = {"c1": rng.random(n_items) > 0.2}
        masks["c1"][0] = True
        comps[1][~masks["c1"]] = 0.0
    return Catalog.from_arrays(dict(zip(("c0", "c1", "c2"), comps, strict=True)), masks=masks, **kw)


def _queries(cat: Catalog, seed: int = 1, n: int = 7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    near = np.asarray(cat.matrices()[0][:3], dtype=np.float32)
    return np.concatenate([near, unit_rows(rng, (n - 3, cat.dim))])


def _fit(name: str, cat: Catalog, **params):
    return STRATEGIES[name].estimator(cat, **EXTRA.get(name, {}), **params).fit()


def _rounding_atol(name: str, cat: Catalog, X: np.ndarray) -> np.ndarray:
    """Per-query bound on float32 rounding of ``name``'s scores (tests/_tolerance.py).

    Fused cosines (query-aware weights): ``fused_atol``. Score fusion: a z-score
    (s − μ)/σ moves by twice ``f32_atol(d + C + 4)`` over the query's smallest σ; a
    weighted mean of such by no more.
    """
    if name in SCORE_FUSION:
        _, sd = similarity_moments(cat, X)
        return (2 * f32_atol(cat.dim + cat.n_components + 4) / sd.min(axis=0))[:, None]
    return np.full((len(X), 1), fused_atol(cat.dim, cat.gram, query_aware=True))


def _assert_same_topk(
    dense: np.ndarray, s: np.ndarray, i: np.ndarray, s_ref: np.ndarray, atol: np.ndarray
) -> None:
    """Top-k of another backend: same scores; each returned item scores the same in ``dense``."""
    assert np.all(np.abs(s - s_ref) <= atol)
    assert np.all(np.abs(np.take_along_axis(dense, i, axis=1) - s_ref) <= atol)


# -- parity across backends ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_torch_cpu_matches_numpy_for_every_strategy(name: str) -> None:
    cat = _catalog(missing=True)
    X = _queries(cat)
    est_np = _fit(name, cat, backend="numpy", block_size=97)
    est_t = _fit(name, cat, backend="torch", device="cpu", block_size=97)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # literal policies may warn; both backends alike
        d_np, d_t = est_np.decision_function(X), est_t.decision_function(X)
        s_np, _ = est_np.kneighbors(X, n_neighbors=15)
        s_t, i_t = est_t.kneighbors(X, n_neighbors=15)
    # float32 products summed in another order: within the float32 rounding bound.
    atol = _rounding_atol(name, cat, X)
    finite = np.isfinite(d_np)
    np.testing.assert_array_equal(np.isfinite(d_t), finite)
    assert np.all(np.abs(d_t - d_np)[finite] <= np.broadcast_to(atol, d_np.shape)[finite])
    _assert_same_topk(d_np, s_t, i_t, s_np, atol)


def test_learned_fusion_backend_parity() -> None:
    rng = np.random.default_rng(4)
    cat = _catalog(seed=4, n_items=300)
    X = np.asarray(cat.matrices()[1][:40], dtype=np.float32) + 0.1 * unit_rows(rng, (40, cat.dim))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.arange(40)
    est_np = LearnedFusion(cat, random_state=0, backend="numpy").fit(X, y)
    est_t = LearnedFusion(cat, random_state=0, backend="torch", device="cpu").fit(X, y)
    np.testing.assert_allclose(est_t.weights_, est_np.weights_, atol=1e-6)
    s_np, _ = est_np.kneighbors(X[:5], n_neighbors=5)
    s_t, _ = est_t.kneighbors(X[:5], n_neighbors=5)
    np.testing.assert_allclose(s_t, s_np, atol=2e-6, rtol=0)


@pytest.mark.parametrize("negative", ["clamp", "literal"])
def test_hybrid_torch_weights_match_numpy_weights(negative: str) -> None:
    from skfusion.fusion.hybrid import hybrid_weights

    rng = np.random.default_rng(2)
    S = rng.uniform(-0.3, 0.6, (3, 4, 50)).astype(np.float32)
    S[:, 0, :5] = -0.1  # all negative: clamp falls back to the global weights
    S[:, 1, 5] = [0.2, -0.2, 0.0]  # a zero sum under the literal policy (with G equal)
    G = np.array([0.3, 0.3, 0.3])
    est = HybridFusion(_catalog(), negative=negative).fit()
    est.global_weights_ = G
    W_np = hybrid_weights(S, global_weights=G, negative=negative)
    W_t = est._weights_torch(torch.from_numpy(S)).numpy()
    np.testing.assert_allclose(W_t, W_np, atol=1e-7, equal_nan=True)


# -- float16 storage ----------------------------------------------------------------------


def _fused_norm_floor(cat: Catalog) -> float:
    """Smallest ‖Σ_c e_ic‖ / C over items: the fused vector's norm for equal weights."""
    K = np.asarray(cat.gram, dtype=np.float64)
    return float(np.sqrt(K.sum(axis=(0, 1))).min() / cat.n_components)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("name", ["average", "weighted", "hybrid", "combsum", "calibrated"])
def test_float16_storage_matches_float32_within_rounding(name: str, backend: str) -> None:
    cat32 = _catalog(seed=3)
    cat16 = Catalog.from_arrays(cat32.components, dtype="float16")
    assert cat16.dtype == np.float16
    assert cat16.gram.dtype == np.float32
    assert cat16.nbytes * 2 == cat32.nbytes
    X = _queries(cat32)
    device = {"device": "cpu"} if backend == "torch" else {}
    d32 = _fit(name, cat32, backend=backend, **device).decision_function(X)
    d16 = _fit(name, cat16, backend=backend, **device).decision_function(X)
    # Rounding moves each coordinate by a relative U16 at most, so by Cauchy-Schwarz each
    # similarity s_ic = q·e_ic moves by at most U16 (unit q and e).
    if name in SCORE_FUSION:
        # z-scores (s - μ)/σ: s and μ each move by ≤ U16, so a z-score by ≤ 2·U16/σ; a
        # weighted mean or sum of C of them with weights summing to 1 by no more.
        _, sd = similarity_moments(cat32, X)
        tol = 2 * U16 / sd.min(axis=0)[:, None] * (1.01 if name == "calibrated" else 1.0)
    else:
        # Fused cosine Σ w s / ‖Σ w e‖: the numerator moves by ≤ U16 Σw and the norm by a
        # relative ≤ U16 / ρ with ρ = ‖Σ w e‖ / Σ w, so the cosine by ≤ 2·U16/ρ (|cos| ≤ 1).
        # Hybrid weights also move with s; the clamp keeps them continuous on this cone
        # data, where similarities to items near the queries are positive. ×2 margin.
        tol = 4 * U16 / _fused_norm_floor(cat32)
    assert np.all(np.abs(d16 - d32) <= tol)


def test_float16_save_load_and_mmap_roundtrip(tmp_path) -> None:
    cat = _catalog(seed=5, dtype="float16", missing=True)
    cat.save(tmp_path / "c16")
    manifest = json.loads((tmp_path / "c16" / "manifest.json").read_text())
    assert {c["dtype"] for c in manifest["components"]} == {"float16"}
    X = _queries(cat)
    ref = HybridFusion(cat).fit().decision_function(X)
    for mmap in (True, False):
        back = Catalog.load(tmp_path / "c16", mmap=mmap)
        assert back.dtype == np.float16
        assert all(isinstance(E, np.memmap) == mmap for E in back.matrices())
        for a, b in zip(back.matrices(), cat.matrices(), strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(back.mask, cat.mask)
        np.testing.assert_array_equal(HybridFusion(back).fit().decision_function(X), ref)
    # A manifest that disagrees with the file's dtype is refused.
    manifest["components"][0]["dtype"] = "float32"
    (tmp_path / "c16" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="float32"):
        Catalog.load(tmp_path / "c16", verify=False)


@pytest.mark.parametrize(("dtype", "match"), [("bfloat16", "no bfloat16"), ("int8", "dtype")])
def test_unsupported_storage_dtype_is_refused(dtype: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _catalog(dtype=dtype)


def test_float32_catalog_keeps_float32_and_memmap(tmp_path) -> None:
    cat = _catalog(seed=6)
    assert cat.dtype == np.float32
    cat.save(tmp_path / "c32")
    back = Catalog.load(tmp_path / "c32")
    assert all(isinstance(E, np.memmap) and E.dtype == np.float32 for E in back.matrices())


# -- backend selection and errors ---------------------------------------------------------


def test_auto_backend_on_this_machine() -> None:
    accel = torch.cuda.is_available() or torch.backends.mps.is_available()
    chosen = resolve_backend("auto")
    assert isinstance(chosen, TorchBackend if accel else NumpyBackend)
    assert resolve_backend("torch", "cpu") == TorchBackend("cpu")
    assert resolve_backend("auto", "cpu") == NumpyBackend()
    assert isinstance(resolve_backend("numpy"), NumpyBackend)
    assert resolve_backend("numpy", "cpu:0") == NumpyBackend()
    assert resolve_backend("torch", "cpu:0") == TorchBackend("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_unavailable_cuda_is_a_clear_error(device: str) -> None:
    est = HybridFusion(_catalog(), backend="torch", device=device)
    with pytest.raises(ValueError, match="CUDA is not available"):
        est.fit()
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_backend("auto", device)
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_backend("numpy", device)


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="MPS is available here")
def test_unavailable_mps_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="MPS"):
        WeightedFusion(_catalog(), backend="torch", device="mps").fit()


@pytest.mark.parametrize(
    ("backend", "device", "match"),
    [
        ("torch", "banana", "not a torch device string"),
        ("torch", "meta", "supports device types"),
    ],
)
def test_bad_device_is_a_clear_error(backend: str, device: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        HybridFusion(_catalog(), backend=backend, device=device).fit()


def test_unknown_backend_name_is_refused_by_parameter_validation() -> None:
    with pytest.raises(ValueError, match="backend"):
        HybridFusion(_catalog(), backend="jax").fit()


# -- engine invariants: block size, threads, ties, memory-mapped pages ---------------------


def _tied_catalog() -> Catalog:
    """Many exact ties: 40 distinct items, each repeated 15 times at scattered positions."""
    rng = np.random.default_rng(8)
    base = correlated_components(rng, n_items=40, dim=8)
    order = rng.permutation(600)
    comps = base[:, order % 40]
    return Catalog.from_arrays(dict(zip(("a", "b", "c"), comps, strict=True)))


@pytest.mark.parametrize("name", ["average", "hybrid", "calibrated"])
def test_topk_independent_of_block_size_threads_and_backend_with_ties(name: str) -> None:
    cat = _tied_catalog()
    X = _queries(cat, n=5)
    est = _fit(name, cat, backend="numpy")
    dense = est.decision_function(X)
    k = 37
    # Reference: all items sorted by descending score, ties by lower position.
    ref_i = np.argsort(-dense, axis=1, kind="stable")[:, :k]
    ref_s = np.take_along_axis(dense, ref_i, axis=1)
    assert (np.diff(ref_s, axis=1) == 0).sum() > 10
    mats, gram = cat.matrices(), cat.gram
    atol = _rounding_atol(name, cat, X)
    for block in (1, 7, 64, 600, 5000):
        for backend in (NumpyBackend(1), NumpyBackend(2), NumpyBackend(3), TorchBackend("cpu")):
            s, i = topk_scores(
                X, mats, gram, est._scorer_for(X), k, block_size=block, backend=backend
            )
            # Ties go to the lower position among scores equal as computed: exactly the
            # stable sort of the same configuration's dense scores.
            own = dense_scores(X, mats, gram, est._scorer_for(X), block_size=block, backend=backend)
            own_i = np.argsort(-own, axis=1, kind="stable")[:, :k]
            np.testing.assert_array_equal(i, own_i, err_msg=f"block={block} {backend}")
            # Other block widths and backends round the last bits differently (docs/backends.md,
            # "Reproducibility"), so items may swap only within near ties.
            assert_same_topk(s, i, ref_s, ref_i, atol=atol)


def test_dense_scores_independent_of_threads() -> None:
    cat = _catalog(seed=9, n_items=2000)
    X = _queries(cat)
    est = _fit("hybrid", cat)
    # Bit-identical at a fixed block size, given one BLAS thread per product (what split
    # searches use): item ranges are aligned to blocks, so the products are the same calls.
    # docs/backends.md, "Reproducibility: when results are bit-identical".
    with threadpool_limits(limits=1, user_api="blas"):
        ref = dense_scores(
            X,
            cat.matrices(),
            cat.gram,
            est._scorer_for(X),
            block_size=64,
            backend=NumpyBackend(1),
        )
    # Other blocks, and BLAS's own thread pool: equal within float32 rounding only.
    other = dense_scores(X, cat.matrices(), cat.gram, est._scorer_for(X), backend=NumpyBackend(1))
    tol = fused_atol(cat.dim, cat.gram, query_aware=True)
    np.testing.assert_allclose(other, ref, rtol=RTOL32, atol=tol)
    for threads in (2, 5):
        got = dense_scores(
            X,
            cat.matrices(),
            cat.gram,
            est._scorer_for(X),
            block_size=64,
            backend=NumpyBackend(threads),
        )
        np.testing.assert_array_equal(got, ref)


def test_query_batches_larger_than_one_batch() -> None:
    cat = _catalog(seed=10, n_items=200, dim=8)
    rng = np.random.default_rng(0)
    X = unit_rows(rng, (600, 8))  # more than the 256 queries scored together
    est = _fit("hybrid", cat)
    dense = est.decision_function(X)
    _, i = est.kneighbors(X, n_neighbors=4)
    np.testing.assert_array_equal(i, np.argsort(-dense, axis=1, kind="stable")[:, :4])


def test_memory_mapped_pages_are_released_without_changing_results(tmp_path) -> None:
    cat = _catalog(seed=11, n_items=3000, dim=64)
    cat.save(tmp_path / "c")
    back = Catalog.load(tmp_path / "c", mmap=True)
    releasers = [_page_releaser(E) for E in back.matrices()]
    assert all(r is not None for r in releasers)
    assert all(_page_releaser(np.asarray(E)) is None for E in cat.matrices())
    X = _queries(cat)
    ref = HybridFusion(cat).fit().kneighbors(X, n_neighbors=20)
    got = HybridFusion(back, block_size=100).fit().kneighbors(X, n_neighbors=20)
    for r in releasers:
        assert r is not None
        r(0, 3000)  # dropping every page leaves the mapping readable
    again = HybridFusion(back, block_size=100).fit().kneighbors(X, n_neighbors=20)
    np.testing.assert_array_equal(again[1], got[1])  # same blocks: same bits
    np.testing.assert_array_equal(again[0], got[0])
    # Other block width: other rounding, within the float32 bound; near ties may swap.
    assert_same_topk(*got, *ref, atol=fused_atol(cat.dim, cat.gram, query_aware=True))
