"""Blocked exact scoring: C similarity blocks in, fused cosines or a running top-k out.

The catalog is visited in blocks of items. For each block the engine computes
the C similarity blocks ``S[c] = Q @ E_c[block].T`` (the only work that
touches the embeddings), hands them with the block's Gram entries to a
strategy's block scorer, and either writes the scores into a dense result or
merges them into a running top-k. Memory therefore stays bounded by the block
size whatever the catalog size, and fused vectors are never built.

Where the products and scorers run is a backend (:mod:`._backends`): NumPy
on the CPU, item ranges split over worker threads, or torch on a CPU, CUDA
or MPS device. Catalogs stored in float16 are upcast block by block (float32
accumulation), and the pages of memory-mapped catalogs are released once a
block is scored, so a catalog larger than RAM is streamed with bounded
resident memory.

Lexical components (sparse BM25 weights ``D_l``, :attr:`Catalog.lexical`)
join the same scan: given ``lexical=`` pairs ``(Q_l, D_l)`` of SciPy CSR
arrays, each block also gets ``Q_l @ D_l[block].T`` (on the host, with SciPy),
appended after the C dense similarity blocks.
"""

from __future__ import annotations

import contextlib
import contextvars
import mmap as mmap_module
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ._backends import Backend, NumpyBackend, TorchBackend

#: A block scorer maps similarities (C, Q, B) and Gram entries (C, C, B) to
#: scores (Q, B). NaN marks an item whose fused vector is zero (undefined cosine).
#: A scorer whose coefficients depend on the queries instead exposes
#: ``for_queries(qs: slice) -> BlockScorer`` for each batch ``queries[qs]``.
BlockScorer = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: Target number of (query, item) pairs per block: small enough for the C
#: similarity blocks and the temporaries to stay in cache, large enough for
#: BLAS to run at full speed.
_TARGET_PAIRS = 1 << 15
_MIN_BLOCK = 256
_MAX_BLOCK = 1 << 16
#: Queries scored together; larger batches are split so a block stays small.
_MAX_QUERY_BATCH = 256


def block_size_for(
    n_queries: int, backend: Backend | None = None, n_matrices: int | None = None
) -> int:
    """Items per block for a batch of ``n_queries`` queries.

    Torch runs each operation with a larger fixed cost (and, on an
    accelerator, a kernel launch), so its blocks are larger: up to the whole
    of a few-million-item catalog for one query on a GPU. A scan of a single
    matrix (precomputed fused vectors) keeps one similarity block and no Gram
    temporaries, so its NumPy blocks hold four times as many pairs: with
    2¹⁵ pairs a 128-query top-10 over 1,000,000 items took 1.5× one bare
    product, with 2¹⁷ 0.9× (``benchmarks/bench_static.py``).
    """
    pairs, largest = _TARGET_PAIRS, _MAX_BLOCK
    if n_matrices == 1:
        pairs *= 4
    if isinstance(backend, TorchBackend):
        pairs, largest = (1 << 24, 1 << 22) if backend.is_accelerator else (1 << 18, 1 << 16)
    size = pairs // max(1, n_queries)
    return int(min(largest, max(_MIN_BLOCK, size)))


class UndefinedScoreWarning(RuntimeWarning):
    """Some items had a zero fused vector for a query; they were ranked last (-inf)."""


def static_sq_norms(K: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``wᵀ K_i w`` per item for one static weight vector, in float64.

    Parameters
    ----------
    K : ndarray of shape (C, C, B)
        Per-item Gram entries.
    w : ndarray of shape (C,)

    Returns
    -------
    ndarray of shape (B,), float64
        The squared norm of each item's fused vector ``Σ_c w_c e_ic``.
    """
    C = K.shape[0]
    out = np.zeros(K.shape[2], dtype=np.float64)
    for a in range(C):
        if w[a] == 0:
            continue
        out += (w[a] * w[a]) * K[a, a]
        for b in range(a + 1, C):
            if w[b] != 0:
                out += (2.0 * w[a] * w[b]) * K[a, b]
    return out


def fused_cosine(S: np.ndarray, K: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Cosine between each query and each item's weighted fused vector.

    ``cos(q, Σ_c w_c e_ic) = Σ_c w_c s_ic / sqrt(wᵀ K_i w)`` (docs/strategies.md).

    Parameters
    ----------
    S : ndarray of shape (C, Q, B)
        Component similarities ``s_ic`` for Q queries and B items.
    K : ndarray of shape (C, C, B)
        Per-item Gram entries.
    W : ndarray of shape (C,) or (C, Q, B)
        Fusion weights: static per component, or per query and item.

    Returns
    -------
    ndarray of shape (Q, B)
        float32 scores; NaN where ``wᵀ K_i w`` is 0 (the fused vector is zero).
    """
    C = S.shape[0]
    if W.ndim == 1:
        num = np.tensordot(W.astype(S.dtype, copy=False), S, axes=1)
        den = np.sqrt(np.maximum(static_sq_norms(K, W), 0.0)).astype(S.dtype)
        with np.errstate(divide="ignore", invalid="ignore"):
            num /= den
        if not den.all():
            num[:, den == 0] = np.nan
        return num

    num = W[0] * S[0]
    den2 = W[0] * W[0]
    den2 *= K[0, 0]
    tmp = np.empty_like(num)
    for a in range(1, C):
        np.multiply(W[a], S[a], out=tmp)
        num += tmp
        np.multiply(W[a], W[a], out=tmp)
        tmp *= K[a, a]
        den2 += tmp
    for a in range(C):
        for b in range(a + 1, C):
            np.multiply(W[a], W[b], out=tmp)
            tmp *= K[a, b]
            tmp *= 2.0
            den2 += tmp
    np.maximum(den2, 0.0, out=den2)
    np.sqrt(den2, out=den2)
    with np.errstate(divide="ignore", invalid="ignore"):
        num /= den2
    zero = den2 == 0
    if zero.any():
        num[zero] = np.nan
    return num


class DualScorer:
    """A block scorer with an optional torch counterpart.

    Parameters
    ----------
    numpy_fn : callable
        ``(S (C, Q, B), K (C, C, B)) -> (Q, B)`` on NumPy arrays.
    make_torch : callable, optional
        Zero-argument factory of the same scorer on torch tensors (called
        only by the torch backend, so torch is imported only when used).
        Without it the torch backend runs ``numpy_fn`` on host copies.
    """

    def __init__(
        self,
        numpy_fn: BlockScorer,
        make_torch: Callable[[], Callable[[Any, Any], Any] | None] | None = None,
    ) -> None:
        self.numpy_fn = numpy_fn
        self.make_torch = make_torch

    def __call__(self, S: np.ndarray, K: np.ndarray) -> np.ndarray:
        return self.numpy_fn(S, K)


#: Lexical (sparse) components of a scan: pairs ``(Q_l, D_l)`` of SciPy CSR arrays,
#: the queries' term vectors (n_queries, V_l) and the catalog's weights (n_items, V_l).
#: Their similarity blocks ``Q_l @ D_l[block].T`` follow the C dense ones in ``S``.
LexicalPairs = Sequence[tuple[Any, Any]]


def lexical_batch(lexical: LexicalPairs | None, qs: slice) -> LexicalPairs | None:
    """The lexical pairs restricted to the queries ``qs`` of a batch."""
    if not lexical:
        return None
    return [(Ql[qs], Dl) for Ql, Dl in lexical]


def lexical_similarities(lexical: LexicalPairs, start: int, stop: int, out: np.ndarray) -> None:
    """``out[l] = Q_l @ D_l[start:stop].T`` (float32, dense) for each lexical pair.

    The sparse product touches only the block's stored weights; an item
    without a shared term scores exactly 0.
    """
    for idx, (Ql, Dl) in enumerate(lexical):
        prod = Ql @ Dl[start:stop].T
        out[idx] = prod.toarray() if hasattr(prod, "toarray") else prod


def _query_batches(n_queries: int) -> Iterator[slice]:
    for start in range(0, n_queries, _MAX_QUERY_BATCH):
        yield slice(start, min(start + _MAX_QUERY_BATCH, n_queries))


def _page_releaser(E: np.ndarray) -> Callable[[int, int], None] | None:
    """For a memory-mapped matrix, a function dropping rows ``[start, stop)`` from RSS.

    Pages of a file mapping that the scan has read stay mapped, and count in
    the process's resident memory, until the kernel needs them back; a scan
    of a catalog larger than RAM would then show a peak RSS near the machine's
    memory. ``madvise(MADV_DONTNEED)`` unmaps them (they are re-read from the
    page cache or the disk if touched again), so resident memory stays at a
    few blocks.
    """
    mm = getattr(E, "_mmap", None)
    if mm is None or not hasattr(mm, "madvise") or not hasattr(mmap_module, "MADV_DONTNEED"):
        return None
    try:
        base = np.frombuffer(mm, dtype=np.uint8)
    except (TypeError, ValueError, BufferError):  # pragma: no cover - closed or odd mapping
        return None
    base_addr = base.ctypes.data
    size = base.size
    del base
    if E.ndim != 2 or not E.flags.c_contiguous:
        return None
    first = E.ctypes.data - base_addr
    row = E.shape[1] * E.itemsize
    page = mmap_module.PAGESIZE

    def release(start: int, stop: int) -> None:
        lo = first + start * row
        hi = min(first + stop * row, size)
        lo -= lo % page
        hi -= hi % page  # keep the page shared with the next block
        if hi > lo:
            with contextlib.suppress(OSError, ValueError):  # a mapping closed meanwhile
                mm.madvise(mmap_module.MADV_DONTNEED, lo, hi - lo)

    return release


#: Rows of a float16 block upcast at a time (the float32 copy stays in cache).
_UPCAST_ROWS = 2048
#: Elements below which a torch element-wise operation runs without its thread pool.
_TORCH_GRAIN = 32768


def _half_matmul(queries: np.ndarray, block: np.ndarray, out: np.ndarray, up: np.ndarray) -> None:
    """``out = queries @ block.T`` for a float16 ``block``, accumulated in float32.

    The block is upcast a few rows at a time into the reused buffer ``up``
    (by torch's vectorised conversion: NumPy's float16 cast runs about six
    times slower here), then multiplied by BLAS in float32.
    """
    from ._backends import _torch

    torch = _torch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # read-only memory-mapped block
        src = torch.from_numpy(block)
    dst = torch.from_numpy(up)
    rows = up.shape[0]
    # Copies below torch's parallel grain (32,768 elements) run in the calling thread:
    # torch's own thread pool would compete with the engine's workers and BLAS.
    step = max(1, (_TORCH_GRAIN - 1) // max(1, block.shape[1]))
    for r in range(0, block.shape[0], rows):
        m = min(rows, block.shape[0] - r)
        for a in range(0, m, step):
            b = min(a + step, m)
            dst[a:b].copy_(src[r + a : r + b])
        np.matmul(queries, up[:m].T, out=out[:, r : r + m])


def _numpy_blocks(
    queries: np.ndarray,
    matrices: Sequence[np.ndarray],
    start: int,
    stop: int,
    size: int,
    lexical: LexicalPairs | None = None,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(s, e, S)`` for item blocks of ``[start, stop)``; ``S`` is a reused buffer.

    float16 matrices are upcast block by block into a reused float32 buffer,
    so products accumulate in float32 and float32 matrices take the same
    path as before (no copy). Lexical pairs (for these queries) add one
    sparse similarity block each after the C dense ones.
    """
    C = len(matrices)
    L = len(lexical) if lexical else 0
    buf = np.empty((C + L, queries.shape[0], size), dtype=np.float32)
    up: np.ndarray | None = None
    releasers = [_page_releaser(E) for E in matrices]
    for s in range(start, stop, size):
        e = min(s + size, stop)
        S = buf[:, :, : e - s]
        for c, E in enumerate(matrices):
            block = E[s:e]
            if block.dtype == np.float32:
                np.matmul(queries, block.T, out=S[c])
            else:
                if up is None:
                    up = np.empty((min(size, _UPCAST_ROWS), E.shape[1]), dtype=np.float32)
                _half_matmul(queries, block, S[c], up)
            release = releasers[c]
            if release is not None:
                release(s, e)
        if lexical:
            lexical_similarities(lexical, s, e, S[C:])
        yield s, e, S


def iter_similarity_blocks(
    queries: np.ndarray,
    matrices: Sequence[np.ndarray],
    *,
    block_size: int | None = None,
    backend: Backend | None = None,
    lexical: LexicalPairs | None = None,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(start, stop, S)`` with ``S[c] = queries @ E_c[start:stop].T``, (C, Q, B).

    ``S`` is float32 and may be a reused buffer: consume it before asking for
    the next block. With a torch backend the products run on its device and
    ``S`` is brought back to the host. With ``lexical`` pairs ``(Q_l, D_l)``
    (:data:`LexicalPairs`, for these queries) ``S`` is (C + L, Q, B), the
    sparse products ``Q_l @ D_l[start:stop].T`` following the dense ones.
    """
    n_items = matrices[0].shape[0]
    size = block_size or block_size_for(queries.shape[0], backend)
    if isinstance(backend, TorchBackend):
        for s, e, S, _K in _torch_blocks(
            queries, matrices, None, backend, 0, n_items, size, lexical
        ):
            yield s, e, S.cpu().numpy()
        return
    yield from _numpy_blocks(queries, matrices, 0, n_items, size, lexical)


def _for_batch(scorer: Any, qs: slice) -> BlockScorer:
    """The block scorer for a batch of queries (query-aware scorers expose ``for_queries``)."""
    for_queries = getattr(scorer, "for_queries", None)
    return scorer if for_queries is None else for_queries(qs)


def _nan_to_floor(scores: np.ndarray) -> int:
    bad = np.isnan(scores)
    n_bad = int(bad.sum())
    if n_bad:
        scores[bad] = -np.inf
    return n_bad


#: Where the count of undefined scores goes instead of a warning (an estimator's
#: once-per-estimator report; see :func:`undefined_reported_to`).
_UNDEFINED_SINK: contextvars.ContextVar[Callable[[int], None] | None] = contextvars.ContextVar(
    "skfusion_undefined_sink", default=None
)


@contextlib.contextmanager
def undefined_reported_to(sink: Callable[[int], None]) -> Iterator[None]:
    """Within the block, counts of undefined scores go to ``sink`` instead of a warning."""
    token = _UNDEFINED_SINK.set(sink)
    try:
        yield
    finally:
        _UNDEFINED_SINK.reset(token)


def undefined_message(n_undefined: int) -> str:
    """The text of an :class:`UndefinedScoreWarning` for ``n_undefined`` pairs."""
    return (
        f"{n_undefined} (query, item) pair(s) had a zero fused vector, so their cosine "
        "is undefined; they were scored -inf (ranked last)."
    )


def _warn_undefined(n_undefined: int) -> None:
    if not n_undefined:
        return
    sink = _UNDEFINED_SINK.get()
    if sink is not None:
        sink(n_undefined)
        return
    warnings.warn(undefined_message(n_undefined), UndefinedScoreWarning, stacklevel=3)


def _block_topk(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k columns per row of ``scores``, ties broken by lower column index.

    Returns scores and column indices, each (Q, k), sorted by descending score.
    """
    if k >= scores.shape[1]:
        idx = np.argsort(-scores, axis=1, kind="stable")
        return np.take_along_axis(scores, idx, axis=1), idx
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    top = np.take_along_axis(scores, part, axis=1)
    # argpartition may pick any of several items tied at the k-th score; redo
    # the (rare) rows where a lower-index tied item was left out.
    kth = top.min(axis=1)
    eq_all = np.count_nonzero(scores == kth[:, None], axis=1)
    eq_sel = np.count_nonzero(top == kth[:, None], axis=1)
    for row in np.flatnonzero(eq_all > eq_sel):
        part[row] = np.argsort(-scores[row], kind="stable")[:k]
        top[row] = scores[row, part[row]]
    order = np.lexsort((part, -top), axis=1)
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(part, order, axis=1)


# -- NumPy backend: item ranges over worker threads ---------------------------------------

#: Fewest blocks per worker thread worth a split (below, one thread is as fast).
_MIN_BLOCKS_PER_THREAD = 4
_BLAS_CONTROLLER: Any = None
_BLAS_LOCK = threading.Lock()


def _item_ranges(n_items: int, n_threads: int, size: int) -> list[tuple[int, int]]:
    """Contiguous item ranges, one per worker, aligned to the block size."""
    n_blocks = -(-n_items // size)
    workers = max(1, min(n_threads, n_blocks // _MIN_BLOCKS_PER_THREAD))
    if workers == 1:
        return [(0, n_items)]
    per = -(-n_blocks // workers)
    return [
        (w * per * size, min((w + 1) * per * size, n_items))
        for w in range(workers)
        if w * per * size < n_items
    ]


def _one_blas_thread() -> Any:
    """A context limiting BLAS to one thread (each worker thread then runs its own)."""
    global _BLAS_CONTROLLER
    with _BLAS_LOCK:
        if _BLAS_CONTROLLER is None:
            from threadpoolctl import ThreadpoolController

            _BLAS_CONTROLLER = ThreadpoolController()
        return _BLAS_CONTROLLER.limit(limits=1, user_api="blas")


def _run_ranges(ranges: list[tuple[int, int]], work: Callable[[int, int], Any]) -> list[Any]:
    """``work(start, stop)`` for each range: inline for one, on threads for several."""
    if len(ranges) == 1:
        return [work(*ranges[0])]
    with _one_blas_thread(), ThreadPoolExecutor(max_workers=len(ranges)) as pool:
        futures = [pool.submit(work, a, b) for a, b in ranges]
        return [f.result() for f in futures]


def _merge_topk(
    best: tuple[np.ndarray, np.ndarray] | None, new: tuple[np.ndarray, np.ndarray], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Merge two descending top-k lists; the first holds lower positions and wins ties."""
    if best is None:
        return new
    cat_s = np.concatenate([best[0], new[0]], axis=1)
    cat_i = np.concatenate([best[1], new[1]], axis=1)
    order = np.argsort(-cat_s, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(cat_s, order, axis=1), np.take_along_axis(cat_i, order, axis=1)


def _numpy_dense(
    queries: np.ndarray,
    matrices: Sequence[np.ndarray],
    gram: np.ndarray,
    scorer: Any,
    size: int | None,
    backend: NumpyBackend,
    lexical: LexicalPairs | None = None,
) -> np.ndarray:
    n_items = matrices[0].shape[0]
    out = np.empty((queries.shape[0], n_items), dtype=np.float32)
    undefined = 0
    for qs in _query_batches(queries.shape[0]):
        q = queries[qs]
        n_mat = len(matrices) + (len(lexical) if lexical else 0)
        bsize = size or block_size_for(q.shape[0], n_matrices=n_mat)
        batch = _for_batch(scorer, qs)
        lex = lexical_batch(lexical, qs)

        def work(
            a: int,
            b: int,
            q: np.ndarray = q,
            batch: Any = batch,
            bsize: int = bsize,
            qs: slice = qs,
            lex: LexicalPairs | None = lex,
        ) -> int:
            n_bad = 0
            for s, e, S in _numpy_blocks(q, matrices, a, b, bsize, lex):
                scores = batch(S, gram[:, :, s:e])
                n_bad += _nan_to_floor(scores)
                out[qs, s:e] = scores
            return n_bad

        undefined += sum(_run_ranges(_item_ranges(n_items, backend.threads(), bsize), work))
    _warn_undefined(undefined)
    return out


def _numpy_topk(
    queries: np.ndarray,
    matrices: Sequence[np.ndarray],
    gram: np.ndarray,
    scorer: Any,
    k: int,
    size: int | None,
    backend: NumpyBackend,
    lexical: LexicalPairs | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    n_items = matrices[0].shape[0]
    Qn = queries.shape[0]
    out_s = np.empty((Qn, k), dtype=np.float32)
    out_i = np.empty((Qn, k), dtype=np.int64)
    undefined = 0
    for qs in _query_batches(Qn):
        q = queries[qs]
        n_mat = len(matrices) + (len(lexical) if lexical else 0)
        bsize = size or block_size_for(q.shape[0], n_matrices=n_mat)
        batch = _for_batch(scorer, qs)
        lex = lexical_batch(lexical, qs)

        def work(
            a: int,
            b: int,
            q: np.ndarray = q,
            batch: Any = batch,
            bsize: int = bsize,
            lex: LexicalPairs | None = lex,
        ) -> tuple[tuple[np.ndarray, np.ndarray] | None, int]:
            best: tuple[np.ndarray, np.ndarray] | None = None
            n_bad = 0
            for s, e, S in _numpy_blocks(q, matrices, a, b, bsize, lex):
                scores = batch(S, gram[:, :, s:e])
                n_bad += _nan_to_floor(scores)
                top, idx = _block_topk(scores, k)
                best = _merge_topk(best, (top, idx + s), k)
            return best, n_bad

        best: tuple[np.ndarray, np.ndarray] | None = None
        # Ranges come back in item order, so earlier (lower) positions win ties.
        for part, n_bad in _run_ranges(_item_ranges(n_items, backend.threads(), bsize), work):
            undefined += n_bad
            if part is not None:
                best = _merge_topk(best, part, k)
        assert best is not None
        out_s[qs], out_i[qs] = best
    _warn_undefined(undefined)
    return out_s, out_i


# -- torch backend ------------------------------------------------------------------------


def _device_matrices(
    matrices: Sequence[np.ndarray], gram: np.ndarray | None, backend: TorchBackend
) -> tuple[list[Any], Any, bool]:
    """Component matrices (and Gram) as tensors on the backend's device.

    On the CPU they share the arrays' memory. On an accelerator they are
    copied once and kept resident when they fit in a conservative share of
    free device memory; otherwise the engine streams each block.
    """
    from ._backends import _torch, as_tensor

    torch = _torch()
    device = backend.device
    resident = True
    if backend.is_accelerator and device.startswith("cuda"):
        need = sum(E.nbytes for E in matrices) + (0 if gram is None else gram.nbytes)
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        resident = need < 0.7 * free
    if not resident:
        return list(matrices), None if gram is None else gram, False
    mats = [as_tensor(E, device, resident=backend.is_accelerator) for E in matrices]
    K = None if gram is None else as_tensor(gram, device, resident=backend.is_accelerator)
    return mats, K, True


def _torch_blocks(
    queries: np.ndarray,
    matrices: Sequence[np.ndarray],
    gram: np.ndarray | None,
    backend: TorchBackend,
    start: int,
    stop: int,
    size: int,
    lexical: LexicalPairs | None = None,
) -> Iterator[tuple[int, int, Any, Any]]:
    """``(s, e, S, K)`` tensors on the backend's device for item blocks of ``[start, stop)``.

    Lexical similarity blocks are computed on the host (SciPy) and appended.
    """
    from ._backends import _torch, torch_matmul_f32

    torch = _torch()
    device = backend.device
    q = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32)).to(device)
    mats, K, resident = _device_matrices(matrices, gram, backend)
    releasers = [_page_releaser(E) for E in matrices] if device == "cpu" else [None] * len(mats)
    for s in range(start, stop, size):
        e = min(s + size, stop)
        parts = []
        for c, E in enumerate(mats):
            block = E[s:e] if resident else torch.from_numpy(np.array(E[s:e])).to(device)
            parts.append(torch_matmul_f32(q, block))
            release = releasers[c]
            if release is not None:
                release(s, e)
        if lexical:
            lex = np.empty((len(lexical), q.shape[0], e - s), dtype=np.float32)
            lexical_similarities(lexical, s, e, lex)
            parts.extend(torch.from_numpy(lex).to(device).unbind(0))
        S = torch.stack(parts)
        if gram is None:
            Kb = None
        elif resident:
            Kb = K[:, :, s:e]
        else:
            Kb = torch.from_numpy(np.array(gram[:, :, s:e])).to(device)
        yield s, e, S, Kb


def _torch_block_scorer(batch: Any) -> Callable[[Any, Any], Any]:
    """The torch form of a block scorer, or a host fallback running its NumPy form."""
    make = getattr(batch, "make_torch", None)
    fn = make() if make is not None else None
    if fn is not None:
        return fn
    from ._backends import _torch

    torch = _torch()

    def host(S: Any, K: Any) -> Any:
        scores = batch(S.cpu().numpy(), K.cpu().numpy())
        return torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32)).to(S.device)

    return host


def _torch_nan_to_floor(scores: Any) -> tuple[Any, Any]:
    from ._backends import _torch

    torch = _torch()
    bad = torch.isnan(scores)
    return scores.masked_fill(bad, float("-inf")), bad.sum()


def _torch_dense(
    queries: np.ndarray,
    matrices: Sequence[np.ndarray],
    gram: np.ndarray,
    scorer: Any,
    size: int | None,
    backend: TorchBackend,
    lexical: LexicalPairs | None = None,
) -> np.ndarray:
    n_items = matrices[0].shape[0]
    out = np.empty((queries.shape[0], n_items), dtype=np.float32)
    undefined: Any = 0
    for qs in _query_batches(queries.shape[0]):
        q = queries[qs]
        bsize = size or block_size_for(q.shape[0], backend)
        fn = _torch_block_scorer(_for_batch(scorer, qs))
        lex = lexical_batch(lexical, qs)
        for s, e, S, K in _torch_blocks(q, matrices, gram, backend, 0, n_items, bsize, lex):
            scores, n_bad = _torch_nan_to_floor(fn(S, K))
            undefined = undefined + n_bad
            out[qs, s:e] = scores.cpu().numpy()
    _warn_undefined(int(undefined))
    return out


def _torch_topk(
    queries: np.ndarray,
    matrices: Sequence[np.ndarray],
    gram: np.ndarray,
    scorer: Any,
    k: int,
    size: int | None,
    backend: TorchBackend,
    lexical: LexicalPairs | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    from ._backends import torch_block_topk, torch_merge_topk

    n_items = matrices[0].shape[0]
    Qn = queries.shape[0]
    out_s = np.empty((Qn, k), dtype=np.float32)
    out_i = np.empty((Qn, k), dtype=np.int64)
    undefined: Any = 0
    for qs in _query_batches(Qn):
        q = queries[qs]
        bsize = size or block_size_for(q.shape[0], backend)
        fn = _torch_block_scorer(_for_batch(scorer, qs))
        lex = lexical_batch(lexical, qs)
        best: tuple[Any, Any] | None = None
        for s, e, S, K in _torch_blocks(q, matrices, gram, backend, 0, n_items, bsize, lex):
            scores, n_bad = _torch_nan_to_floor(fn(S, K))
            undefined = undefined + n_bad
            top, idx = torch_block_topk(scores, min(k, e - s))
            best = torch_merge_topk(best, (top, idx + s), k)
        assert best is not None
        out_s[qs] = best[0].cpu().numpy()
        out_i[qs] = best[1].cpu().numpy()
    _warn_undefined(int(undefined))
    return out_s, out_i


# -- fused matrices of static strategies ---------------------------------------------------

#: Rows per block while building a fused matrix: small enough for the block's
#: passes (sum, norm, scale) to stay in cache.
_FUSE_ROWS = 1024


def fused_matrix(
    matrices: Sequence[np.ndarray],
    gram: np.ndarray,
    weights: np.ndarray,
    *,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Unit fused vectors ``Σ_c w_c e_ic / ‖·‖`` of every item, built block by block.

    Parameters
    ----------
    matrices : sequence of C ndarrays of shape (n_items, d)
        float32 or float16 component matrices.
    gram : ndarray of shape (C, C, n_items)
        Per-item Gram entries (an item whose weighted components are all
        missing has ``wᵀ K_i w = 0``).
    weights : ndarray of shape (C,), float64
        Non-negative static weights.
    out : ndarray of shape (n_items, d), float32, optional
        Where to write the fused vectors.

    Returns
    -------
    fused : ndarray of shape (n_items, d), float32
        Zero rows where the fused vector is zero.
    defined : ndarray of shape (1, 1, n_items), float32
        1 where the fused vector is non-zero, else 0.
    """
    n, d = matrices[0].shape
    w = np.asarray(weights, dtype=np.float64)
    w32 = w.astype(np.float32)
    active = [c for c in range(len(matrices)) if w[c] != 0]
    fused = np.empty((n, d), dtype=np.float32) if out is None else out
    defined = np.zeros((1, 1, n), dtype=np.float32)

    def work(start: int, stop: int) -> None:
        tmp = np.empty((_FUSE_ROWS, d), dtype=np.float32)
        for s in range(start, stop, _FUSE_ROWS):
            e = min(s + _FUSE_ROWS, stop)
            block, t = fused[s:e], tmp[: e - s]
            first = True
            for c in active:
                src = matrices[c][s:e]
                if first:
                    np.multiply(src, w32[c], out=block, casting="unsafe")
                    first = False
                else:
                    np.multiply(src, w32[c], out=t, casting="unsafe")
                    block += t
            if first:
                block[...] = 0.0
            den2 = static_sq_norms(gram[:, :, s:e], w)  # as the Gram form decides
            np.multiply(block, block, out=t)
            norms = np.sqrt(t.sum(axis=1, dtype=np.float64))
            ok = (den2 > 0) & (norms > 0)
            scale = np.zeros(e - s, dtype=np.float64)
            np.divide(1.0, norms, out=scale, where=ok)
            block *= scale.astype(np.float32)[:, None]
            defined[0, 0, s:e] = ok

    size = _FUSE_ROWS * 16
    _run_ranges(_item_ranges(n, NumpyBackend().threads(), size), work)
    return fused, defined


# -- entry points -------------------------------------------------------------------------


def dense_scores(
    queries: np.ndarray,
    matrices: Sequence[np.ndarray],
    gram: np.ndarray,
    scorer: Any,
    *,
    block_size: int | None = None,
    backend: Backend | None = None,
    lexical: LexicalPairs | None = None,
) -> np.ndarray:
    """All (n_queries, n_items) fused cosines, computed block by block.

    Parameters
    ----------
    queries : ndarray of shape (n_queries, d), float32
    matrices : sequence of C ndarrays of shape (n_items, d)
        float32 or float16 (upcast per block; float32 accumulation).
    gram : ndarray of shape (C, C, n_items), float32
    scorer : block scorer
        See :data:`BlockScorer` and :class:`DualScorer`.
    block_size : int, optional
        Items per block; sized from the query batch when omitted.
    backend : NumpyBackend or TorchBackend, optional
        NumPy on all available cores when omitted.
    lexical : sequence of (Q_l, D_l) CSR pairs, optional
        Lexical components (:data:`LexicalPairs`): the scorer then receives
        ``S`` of shape (C + L, Q, B), their sparse similarity blocks after
        the dense ones.

    Returns
    -------
    ndarray of shape (n_queries, n_items), float32
        Undefined cosines are -inf (with an :class:`UndefinedScoreWarning`).
    """
    if isinstance(backend, TorchBackend):
        return _torch_dense(queries, matrices, gram, scorer, block_size, backend, lexical)
    return _numpy_dense(
        queries, matrices, gram, scorer, block_size, backend or NumpyBackend(), lexical
    )


def topk_scores(
    queries: np.ndarray,
    matrices: Sequence[np.ndarray],
    gram: np.ndarray,
    scorer: Any,
    k: int,
    *,
    block_size: int | None = None,
    backend: Backend | None = None,
    lexical: LexicalPairs | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best items per query with a running top-k over item blocks.

    Memory stays bounded whatever the catalog size: one block of
    similarities per worker and a (Q, k) list per query batch.

    Parameters
    ----------
    queries, matrices, gram, scorer, block_size, backend, lexical
        As in :func:`dense_scores`.
    k : int
        Items kept per query (capped at the catalog size).

    Returns
    -------
    scores : ndarray of shape (n_queries, k), float32, descending
    indices : ndarray of shape (n_queries, k), int64 item positions
        Ties are broken by lower item position, so results do not depend on
        the block size, the number of threads or the backend.
    """
    k = min(int(k), matrices[0].shape[0])
    if isinstance(backend, TorchBackend):
        return _torch_topk(queries, matrices, gram, scorer, k, block_size, backend, lexical)
    return _numpy_topk(
        queries, matrices, gram, scorer, k, block_size, backend or NumpyBackend(), lexical
    )
