"""The scan engine: one pass over the catalog's blocks of items, with pluggable reducers.

:func:`scan` is the only loop over the catalog's item blocks. For each block
it computes the C similarity blocks ``S[c] = Q @ E_c[block].T`` (the only
work that touches the embeddings), optionally hands them with the block's
Gram entries to a strategy's block scorer, and passes the result to a
reducer (:class:`Reducer`): a running top-k (:class:`TopK`), a dense score
matrix (:class:`Dense`), kept blocks (:class:`Blocks`, scored later by
:func:`replay`), or a caller's own (the per-component statistics of score
fusion, the many-candidate top lists of ``AgreementFusionCV``). An optional
row subset scans only some items (the candidates of approximate search).
Memory stays bounded by the block size whatever the catalog size, and fused
vectors are never built. The model is scikit-learn's ``kneighbors``, which
hands a small ``reduce_func`` to the shared chunker
``pairwise_distances_chunked``. :func:`scan_items` is the same walk over the
embeddings alone (no queries), for catalog statistics.

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
from typing import Any, Protocol

import numpy as np

from .._gram import static_sq_norms
from ._backends import Backend, NumpyBackend, TorchBackend


class BlockScorer(Protocol):
    """Maps similarities S (C, Q, B) and Gram entries K (C, C, B) to scores (Q, B).

    NaN marks an item whose fused vector is zero (undefined cosine). The
    NumPy kernel; :class:`DualScorer` pairs it with a torch one.
    """

    def __call__(self, S: np.ndarray, K: np.ndarray, /) -> np.ndarray: ...


class QueryAwareScorer(Protocol):
    """A scorer whose coefficients depend on the queries: one block scorer per batch."""

    def for_queries(self, qs: slice, /) -> BlockScorer:
        """The block scorer of the batch ``queries[qs]``."""


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
    """A block scorer with its NumPy and (optionally) torch kernels side by side.

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


def lexical_similarities(
    lexical: LexicalPairs,
    start: int,
    stop: int,
    out: np.ndarray,
    rows: np.ndarray | None = None,
) -> None:
    """``out[l] = Q_l @ D_l[start:stop].T`` (float32, dense) for each lexical pair.

    With ``rows``, the items ``rows[start:stop]``. The sparse product
    touches only the block's stored weights; an item without a shared term
    scores exactly 0.
    """
    sel = slice(start, stop) if rows is None else rows[start:stop]
    for idx, (Ql, Dl) in enumerate(lexical):
        prod = Ql @ Dl[sel].T
        out[idx] = prod.toarray() if hasattr(prod, "toarray") else prod


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
    rows: np.ndarray | None = None,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(s, e, S)`` for item blocks of ``[start, stop)``; ``S`` is a reused buffer.

    float16 matrices are upcast block by block into a reused float32 buffer,
    so products accumulate in float32 and float32 matrices take the same
    path as before (no copy). Lexical pairs (for these queries) add one
    sparse similarity block each after the C dense ones. With ``rows`` the
    positions index ``rows``: each block's rows are gathered (a copy, widened
    to float32 on the way) and multiplied in one product.
    """
    C = len(matrices)
    L = len(lexical) if lexical else 0
    buf = np.empty((C + L, queries.shape[0], size), dtype=np.float32)
    up: np.ndarray | None = None
    releasers = [_page_releaser(E) for E in matrices]
    for s in range(start, stop, size):
        e = min(s + size, stop)
        S = buf[:, :, : e - s]
        if rows is not None:
            sel = rows[s:e]
            for c, E in enumerate(matrices):
                np.matmul(queries, np.asarray(E[sel], dtype=np.float32).T, out=S[c])
            if lexical:
                lexical_similarities(lexical, s, e, S[C:], rows)
            yield s, e, S
            continue
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


def _warn_undefined(n_undefined: int, stacklevel: int = 3) -> None:
    if not n_undefined:
        return
    sink = _UNDEFINED_SINK.get()
    if sink is not None:
        sink(n_undefined)
        return
    warnings.warn(undefined_message(n_undefined), UndefinedScoreWarning, stacklevel=stacklevel)


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


def run_item_ranges(n_items: int, size: int, work: Callable[[int, int], Any]) -> None:
    """``work(start, stop)`` over item ranges aligned to ``size``, on the NumPy backend's threads.

    The ``run`` of :func:`skfusion._gram.fused_matrix` for static fusion.
    """
    _run_ranges(_item_ranges(n_items, NumpyBackend().threads(), size), work)


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
    rows: np.ndarray | None = None,
) -> Iterator[tuple[int, int, Any, Any]]:
    """``(s, e, S, K)`` tensors on the backend's device for item blocks of ``[start, stop)``.

    Lexical similarity blocks are computed on the host (SciPy) and appended.
    With ``rows`` the positions index ``rows``, gathered on the host block by block.
    """
    from ._backends import _torch, torch_matmul_f32

    torch = _torch()
    device = backend.device
    q = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32)).to(device)
    if rows is None:
        mats, K, resident = _device_matrices(matrices, gram, backend)
    else:  # a row subset is gathered on the host, block by block
        mats, K, resident = list(matrices), gram, False
    releasers = (
        [_page_releaser(E) for E in matrices]
        if device == "cpu" and rows is None
        else [None] * len(mats)
    )
    for s in range(start, stop, size):
        e = min(s + size, stop)
        sel = slice(s, e) if rows is None else rows[s:e]
        parts = []
        for c, E in enumerate(mats):
            block = E[s:e] if resident else torch.from_numpy(np.array(E[sel])).to(device)
            parts.append(torch_matmul_f32(q, block))
            release = releasers[c]
            if release is not None:
                release(s, e)
        if lexical:
            lex = np.empty((len(lexical), q.shape[0], e - s), dtype=np.float32)
            lexical_similarities(lexical, s, e, lex, rows)
            parts.extend(torch.from_numpy(lex).to(device).unbind(0))
        S = torch.stack(parts)
        if gram is None:
            Kb = None
        elif resident:
            Kb = K[:, :, s:e]
        else:
            Kb = torch.from_numpy(np.array(gram[:, :, sel])).to(device)
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


# -- the scan: one pass over catalog blocks, reduced by a pluggable reducer ---------------


class Partial(Protocol):
    """What a reducer keeps for one query batch over one contiguous range of scan positions."""

    def update(self, start: int, stop: int, block: Any) -> None:
        """Consume the block of scan positions ``[start, stop)``, in increasing order."""


class Reducer(Protocol):
    """Turns the blocks of a :func:`scan` into its result: a top-k, dense scores, statistics…

    For each query batch ``qs`` the scan asks :meth:`partial` for one
    :class:`Partial` per range of scan positions it visits (one range, or
    one per worker thread when :attr:`parallel`), feeds each the blocks of
    its range in increasing order, then hands the batch's partials, in
    position order, to :meth:`join`. :meth:`result` is what the scan returns.

    A block is, for a scan with a scorer, the scores (Q, B) with undefined
    ones already -inf; without one, the similarity blocks ``S`` (C + L, Q, B).
    Either may be a reused buffer, valid only during ``update``. Like the
    ``reduce_func`` that scikit-learn's ``kneighbors`` hands to
    ``pairwise_distances_chunked``, a reducer never sees the catalog itself.
    """

    #: Whether the position ranges of a query batch may be reduced on worker threads
    #: (NumPy backend); otherwise a batch is scanned in one range, in position order.
    parallel: bool
    #: Whether :meth:`partial` takes ``tensors=True``: its blocks then stay torch tensors on
    #: the backend's device. Otherwise a torch scan brings each block to the host.
    tensors: bool

    def partial(self, qs: slice, tensors: bool) -> Partial:
        """A fresh partial for queries ``qs`` over one range of positions."""

    def join(self, qs: slice, parts: list[Any]) -> None:
        """The partials of batch ``qs`` (from :meth:`partial`), in position order."""

    def result(self) -> Any:
        """The reduction of the whole scan."""


class _TopKPart:
    def __init__(self, k: int) -> None:
        self.k = k
        self.best: tuple[Any, Any] | None = None

    def update(self, start: int, stop: int, block: np.ndarray) -> None:
        top, idx = _block_topk(block, self.k)
        self.best = _merge_topk(self.best, (top, idx + start), self.k)


class _TorchTopKPart(_TopKPart):
    def update(self, start: int, stop: int, block: Any) -> None:
        from ._backends import torch_block_topk, torch_merge_topk

        top, idx = torch_block_topk(block, min(self.k, stop - start))
        self.best = torch_merge_topk(self.best, (top, idx + start), self.k)


class TopK:
    """Reducer: the ``k`` best scan positions per query, descending, ties to the lower one.

    Position ranges are joined in position order, so a tie goes to the lower
    position whatever the block size, the threads or the backend (NumPy and
    torch kernels side by side: :func:`_block_topk`, ``torch_block_topk``).

    Parameters
    ----------
    n_queries : int
    k : int
        At most the number of scanned positions.
    """

    parallel = True
    tensors = True

    def __init__(self, n_queries: int, k: int) -> None:
        self.k = int(k)
        self.scores = np.empty((n_queries, self.k), dtype=np.float32)
        self.index = np.empty((n_queries, self.k), dtype=np.int64)

    def partial(self, qs: slice, tensors: bool) -> _TopKPart:
        return _TorchTopKPart(self.k) if tensors else _TopKPart(self.k)

    def join(self, qs: slice, parts: list[Any]) -> None:
        best: tuple[Any, Any] | None = None
        for part in parts:  # position order: the earlier (lower) positions win ties
            if part.best is None:
                continue
            if isinstance(part, _TorchTopKPart):
                from ._backends import torch_merge_topk

                best = torch_merge_topk(best, part.best, self.k)
            else:
                best = _merge_topk(best, part.best, self.k)
        assert best is not None
        if isinstance(best[0], np.ndarray):
            self.scores[qs], self.index[qs] = best
        else:
            self.scores[qs] = best[0].cpu().numpy()
            self.index[qs] = best[1].cpu().numpy()

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        """``(scores, positions)``, each (n_queries, k)."""
        return self.scores, self.index


class _DensePart:
    def __init__(self, out: np.ndarray, qs: slice) -> None:
        self.out, self.qs = out, qs

    def update(self, start: int, stop: int, block: np.ndarray) -> None:
        self.out[self.qs, start:stop] = block


class Dense:
    """Reducer: every score, (n_queries, n_positions) float32 (ranges write disjoint columns)."""

    parallel = True
    tensors = False

    def __init__(self, n_queries: int, n_positions: int) -> None:
        self.out = np.empty((n_queries, n_positions), dtype=np.float32)

    def partial(self, qs: slice, tensors: bool) -> _DensePart:
        return _DensePart(self.out, qs)

    def join(self, qs: slice, parts: list[Any]) -> None:
        pass  # the partials wrote their columns

    def result(self) -> np.ndarray:
        return self.out


#: A stored block of a scan: ``(qs, start, stop, S)`` (see :class:`Blocks`).
StoredBlock = tuple[slice, int, int, np.ndarray]


class _BlocksPart:
    def __init__(self, blocks: list[StoredBlock], qs: slice) -> None:
        self.blocks, self.qs = blocks, qs

    def update(self, start: int, stop: int, block: np.ndarray) -> None:
        kept = block.copy()  # the scan's block is a reused buffer
        kept.flags.writeable = False  # may be shared by threads: a scorer may not write it
        self.blocks.append((self.qs, start, stop, kept))


class Blocks:
    """Reducer: a read-only copy of every block, ``(qs, start, stop, S)`` in scan order.

    Kept blocks are scored later by :func:`replay` (the tuning cache, the
    candidates of approximate search), exactly as the scan would score them.
    """

    parallel = False
    tensors = False

    def __init__(self) -> None:
        self.blocks: list[StoredBlock] = []

    def partial(self, qs: slice, tensors: bool) -> _BlocksPart:
        return _BlocksPart(self.blocks, qs)

    def join(self, qs: slice, parts: list[Any]) -> None:
        pass

    def result(self) -> list[StoredBlock]:
        return self.blocks


def _batches(n_queries: int, query_batch: int | None) -> list[slice]:
    if query_batch is None:
        return [slice(0, n_queries)]
    return [
        slice(start, min(start + query_batch, n_queries))
        for start in range(0, n_queries, query_batch)
    ]


def _report(undefined: Any, on_undefined: Callable[[int], None] | None) -> None:
    n_undefined = int(undefined)
    if on_undefined is not None:
        on_undefined(n_undefined)
    else:
        _warn_undefined(n_undefined, stacklevel=4)


def scan(
    queries: np.ndarray,
    matrices: Sequence[np.ndarray],
    reducer: Reducer,
    *,
    gram: np.ndarray | None = None,
    scorer: Any = None,
    rows: np.ndarray | None = None,
    keep: np.ndarray | None = None,
    block_size: int | None = None,
    backend: Backend | None = None,
    lexical: LexicalPairs | None = None,
    query_batch: int | None = _MAX_QUERY_BATCH,
    on_undefined: Callable[[int], None] | None = None,
) -> Any:
    """One pass over the catalog's blocks of items, reduced by ``reducer``.

    The one place where the catalog is walked in blocks: exact, approximate
    (``rows``), tuning-cache and cross-validation scoring and the per-query
    statistics of score fusion all run here, with a reducer saying what to
    keep (:class:`TopK`, :class:`Dense`, :class:`Blocks`, or one of a
    caller's, e.g. ``_stats.ComponentStats``). For each batch of queries and
    each block of positions ``[s, e)`` the scan computes the similarity
    blocks ``S[c] = Q @ E_c[block].T`` (float16 upcast, float32
    accumulation; pages of memory-mapped matrices released), appends the
    lexical ones, and hands the reducer either ``S`` or, with a ``scorer``,
    the scores ``scorer(S, gram[:, :, block])`` with NaN (undefined) as -inf.

    Parameters
    ----------
    queries : ndarray of shape (n_queries, d), float32
    matrices : sequence of C ndarrays of shape (n_items, d)
        float32 or float16.
    reducer : Reducer
    gram : ndarray of shape (C, C, n_items), optional
        Per-item Gram entries, needed with ``scorer``.
    scorer : block scorer, optional
        :class:`BlockScorer`, :class:`QueryAwareScorer` or :class:`DualScorer`.
    rows : ndarray of int, optional
        Scan only these item positions (ANN candidates), gathered block by
        block; the reducer's positions then index ``rows``.
    keep : ndarray of bool, shape (n_queries, len(rows) or n_items), optional
        Which positions each query scores (its own candidates): the others
        score -inf and do not count as undefined. Only with ``scorer``.
    block_size : int, optional
        Positions per block; :func:`block_size_for` the query batch when omitted.
    backend : NumpyBackend or TorchBackend, optional
        NumPy on all available cores when omitted.
    lexical : sequence of (Q_l, D_l) CSR pairs, optional
        :data:`LexicalPairs`; their blocks follow the C dense ones in ``S``.
    query_batch : int or None, default=256
        Queries scanned together (None: all of them at once).
    on_undefined : callable, optional
        Given the count of undefined scores instead of an
        :class:`UndefinedScoreWarning` (with ``scorer`` only).

    Returns
    -------
    ``reducer.result()``
    """
    n = matrices[0].shape[0] if rows is None else len(rows)
    n_mat = len(matrices) + (len(lexical) if lexical else 0)
    torch_backend = isinstance(backend, TorchBackend)
    numpy_backend = backend if isinstance(backend, NumpyBackend) else NumpyBackend()
    undefined: Any = 0
    for qs in _batches(queries.shape[0], query_batch):
        q = queries[qs]
        size = block_size or block_size_for(q.shape[0], backend, n_matrices=n_mat)
        batch = None if scorer is None else _for_batch(scorer, qs)
        args = (reducer, qs, q, matrices, gram, batch, rows, None if keep is None else keep[qs])
        lex = lexical_batch(lexical, qs)
        if torch_backend:
            assert isinstance(backend, TorchBackend)
            undefined = undefined + _torch_scan(*args, n, size, backend, lex)
        else:
            ranges = _item_ranges(n, numpy_backend.threads(), size) if reducer.parallel else []
            undefined += _numpy_scan(*args, ranges or [(0, n)], size, lex)
    if scorer is not None:
        _report(undefined, on_undefined)
    return reducer.result()


def _numpy_scan(
    reducer: Reducer,
    qs: slice,
    q: np.ndarray,
    matrices: Sequence[np.ndarray],
    gram: np.ndarray | None,
    batch: Any,
    rows: np.ndarray | None,
    keep: np.ndarray | None,
    ranges: list[tuple[int, int]],
    size: int,
    lexical: LexicalPairs | None,
) -> int:
    """One query batch on the NumPy backend: each range on its own worker thread."""

    def work(a: int, b: int) -> tuple[Partial, int]:
        part = reducer.partial(qs, False)
        n_bad = 0
        for s, e, S in _numpy_blocks(q, matrices, a, b, size, lexical, rows):
            if batch is None:
                part.update(s, e, S)
                continue
            assert gram is not None
            scores = batch(S, gram[:, :, s:e] if rows is None else gram[:, :, rows[s:e]])
            if keep is not None:
                scores[~keep[:, s:e]] = -np.inf
            n_bad += _nan_to_floor(scores)
            part.update(s, e, scores)
        return part, n_bad

    done = _run_ranges(ranges, work)
    reducer.join(qs, [part for part, _ in done])
    return sum(n_bad for _, n_bad in done)


def _torch_scan(
    reducer: Reducer,
    qs: slice,
    q: np.ndarray,
    matrices: Sequence[np.ndarray],
    gram: np.ndarray | None,
    batch: Any,
    rows: np.ndarray | None,
    keep: np.ndarray | None,
    n: int,
    size: int,
    backend: TorchBackend,
    lexical: LexicalPairs | None,
) -> Any:
    """One query batch on a torch device; returns the count of undefined scores (a tensor)."""
    fn = None if batch is None else _torch_block_scorer(batch)
    tensors = bool(reducer.tensors)
    part = reducer.partial(qs, tensors)
    undefined: Any = 0
    blocks = _torch_blocks(
        q, matrices, None if fn is None else gram, backend, 0, n, size, lexical, rows
    )
    for s, e, S, K in blocks:
        block = S
        if fn is not None:
            scores = fn(S, K)
            if keep is not None:
                from ._backends import _torch

                own = _torch().from_numpy(np.ascontiguousarray(keep[:, s:e])).to(scores.device)
                scores = scores.masked_fill(~own, float("-inf"))
            block, n_bad = _torch_nan_to_floor(scores)
            undefined = undefined + n_bad
        part.update(s, e, block if tensors else block.cpu().numpy())
    reducer.join(qs, [part])
    return undefined


def replay(
    blocks: Sequence[StoredBlock],
    reducer: Reducer,
    *,
    gram: np.ndarray,
    scorer: Any,
    on_undefined: Callable[[int], None] | None = None,
) -> Any:
    """Score stored similarity blocks (from :class:`Blocks`) into ``reducer``, as :func:`scan`.

    ``gram`` is indexed by the blocks' positions. Each block's scores are
    exactly those the scan would hand the reducer (undefined ones -inf).
    """
    undefined = 0
    current: slice | None = None
    part: Any = None
    batch: Any = None
    for qs, s, e, S in blocks:
        if part is None or qs != current:
            if part is not None:
                reducer.join(current, [part])  # type: ignore[arg-type]
            current, part, batch = qs, reducer.partial(qs, False), _for_batch(scorer, qs)
        scores = batch(S, gram[:, :, s:e])
        undefined += _nan_to_floor(scores)
        part.update(s, e, scores)
    if part is not None:
        assert current is not None
        reducer.join(current, [part])
    _report(undefined, on_undefined)
    return reducer.result()


class ItemPartial(Protocol):
    """Consumes the embedding blocks of :func:`scan_items`."""

    def update(self, start: int, stop: int, blocks: list[np.ndarray]) -> None:
        """Rows ``[start, stop)`` of each matrix, float32, in increasing order."""


#: Items per block of :func:`scan_items`.
_ITEM_BLOCK = 1 << 16


def scan_items(
    matrices: Sequence[np.ndarray], reducer: ItemPartial, *, block_size: int = _ITEM_BLOCK
) -> None:
    """One pass over the catalog's embeddings alone (no queries), in blocks of items.

    For catalog statistics (e.g. the cross-covariances of agreement fusion):
    ``reducer.update(start, stop, blocks)`` receives each matrix's rows
    ``[start, stop)`` as float32 (float16 upcast), blocks in item order.
    """
    n_items = matrices[0].shape[0]
    for start in range(0, n_items, block_size):
        stop = min(start + block_size, n_items)
        reducer.update(start, stop, [np.asarray(E[start:stop], dtype=np.float32) for E in matrices])


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
    result: np.ndarray = scan(
        queries,
        matrices,
        Dense(queries.shape[0], matrices[0].shape[0]),
        gram=gram,
        scorer=scorer,
        block_size=block_size,
        backend=backend,
        lexical=lexical,
    )
    return result


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
    result: tuple[np.ndarray, np.ndarray] = scan(
        queries,
        matrices,
        TopK(queries.shape[0], k),
        gram=gram,
        scorer=scorer,
        block_size=block_size,
        backend=backend,
        lexical=lexical,
    )
    return result
