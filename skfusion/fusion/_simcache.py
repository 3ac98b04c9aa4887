"""Per-catalog tuning cache: similarity blocks shared by every candidate of a weight search.

A search over fixed weights (``GridSearchCV(WeightedFusion(catalog), {"weights":
...})``) scores every candidate on the same query arrays (the folds' test
queries). For a static strategy the fused cosine of query ``q`` and item ``i``
is, in Gram form (docs/strategies.md),

    cos(q, f_i) = Σ_c w_c s_ic / sqrt(wᵀ K_i w),   s_ic = q · e_ic,

so once the C similarity blocks ``S[c] = Q @ E_cᵀ`` of a query array are known,
a candidate costs O(Q·n·C) (a weighted sum and the per-item norms) instead of
products with the catalog's ``n × d`` matrices. This module keeps those blocks,
per catalog and per query array:

* **held by the catalog** (in its derived-data store,
  ``skfusion/catalog/_derived.py``, key ``"fusion.tuning"``, like the fused
  vectors of ``_static.py``: clones made by ``GridSearchCV`` share it, it goes
  away with the catalog and is never pickled) and **keyed** by a digest of the
  query array (its dtype, shape and bytes: different queries never share an
  entry) and the estimator's ``block_size``;
* **invalidated by construction**: the catalog's arrays are read-only and the
  digest covers the queries, so an entry never goes stale;
* **bounded**: at most :data:`SIMILARITY_CACHE_BYTES` per catalog, least
  recently used evicted first; a query array whose blocks would take more
  than 1/:data:`ENTRY_FRACTION` of it is not cached (the estimator then scores
  it through the scan engine as before);
* **thread-safe**: one lock per catalog and one build per key, so a threaded
  ``GridSearchCV(n_jobs=2)`` computes each query array's blocks once. Worker
  processes have their own copy.

The blocks are the scan engine's own (:func:`~._engine.scan` with the
:class:`~._engine.Blocks` reducer, the engine's block sizes), and candidates
are scored by the strategy's Gram-form block scorer through
:func:`~._engine.replay`, so the scores are bit-identical to scoring the same
estimator with ``precompute=False``.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ..catalog import Catalog
from ..catalog._derived import discard_everywhere
from ._engine import Blocks, Dense, StoredBlock, replay, scan

#: Bytes of similarity blocks kept per catalog (least recently used evicted).
SIMILARITY_CACHE_BYTES = 1 << 30
#: A query array is cached only when its blocks take at most this fraction of
#: :data:`SIMILARITY_CACHE_BYTES` (so the test folds of a search fit together).
ENTRY_FRACTION = 8
#: Digests of query arrays already validated against a catalog (kept per catalog).
VALIDATED_DIGESTS = 4096

#: The key of the tuning cache in a catalog's derived-data store.
_STORE_KEY = "fusion.tuning"
_ENABLED = [True]


def enabled() -> bool:
    """Whether the tuning cache is in use (see :func:`disabled`)."""
    return _ENABLED[0]


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Within the block, estimators score without the tuning cache (for benchmarks, tests)."""
    previous = _ENABLED[0]
    _ENABLED[0] = False
    try:
        yield
    finally:
        _ENABLED[0] = previous


def query_digest(X: Any) -> bytes | None:
    """Digest of a plain 2-D floating-point ndarray (dtype, shape, bytes); None otherwise.

    Only exact ``np.ndarray`` instances are digested: subclasses (e.g. an
    ``EncodedArray`` carrying its encoder) take the full validation path.
    """
    if type(X) is not np.ndarray or X.ndim != 2 or X.dtype.kind != "f":
        return None
    h = hashlib.blake2b(digest_size=20)
    h.update(f"{X.dtype.str}{X.shape}".encode())
    h.update(np.ascontiguousarray(X).data)
    return h.digest()


def similarity_nbytes(catalog: Catalog, n_queries: int) -> int:
    """Bytes of the float32 similarity blocks of ``n_queries`` queries (``C × Q × n × 4``)."""
    return int(catalog.n_components) * int(n_queries) * int(catalog.n_items) * 4


def cacheable(catalog: Catalog, n_queries: int) -> bool:
    """Whether the blocks of ``n_queries`` queries are small enough to cache."""
    return 0 < similarity_nbytes(catalog, n_queries) <= SIMILARITY_CACHE_BYTES // ENTRY_FRACTION


class SimilarityBlocks:
    """The similarity blocks of one query array, as the scan engine computes them.

    Parameters
    ----------
    queries : ndarray of shape (Q, d), float32
        Validated query embeddings.
    matrices : list of C ndarrays of shape (n_items, d)
        The catalog's component matrices.
    block_size : int, optional
        The estimator's ``block_size`` (the engine's default sizes when None).
    """

    def __init__(
        self, queries: np.ndarray, matrices: list[np.ndarray], block_size: int | None
    ) -> None:
        self.n_queries = int(queries.shape[0])
        self.n_items = int(matrices[0].shape[0])
        # Read-only copies (shared by threads: a scorer may not write them).
        self.blocks: list[StoredBlock] = scan(queries, matrices, Blocks(), block_size=block_size)
        self.nbytes = sum(b.nbytes for *_, b in self.blocks)

    def scores(
        self, scorer: Callable[[np.ndarray, np.ndarray], np.ndarray], gram: np.ndarray
    ) -> tuple[np.ndarray, int]:
        """Every (query, item) score from ``scorer`` on the cached blocks.

        Returns
        -------
        scores : ndarray of shape (Q, n_items), float32
            Undefined scores (NaN from the scorer) are -inf.
        n_undefined : int
            How many there were.
        """
        counts: list[int] = []
        out: np.ndarray = replay(
            self.blocks,
            Dense(self.n_queries, self.n_items),
            gram=gram,
            scorer=scorer,
            on_undefined=counts.append,
        )
        return out, counts[0]


class TuningCache:
    """The similarity blocks and validated query digests of one catalog."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: OrderedDict[tuple[bytes, int | None], SimilarityBlocks] = OrderedDict()
        self.building: dict[tuple[bytes, int | None], threading.Lock] = {}
        self.validated: OrderedDict[bytes, None] = OrderedDict()

    def is_validated(self, digest: bytes | None) -> bool:
        """Whether a query array with this digest already passed validation."""
        if digest is None:
            return False
        with self.lock:
            if digest in self.validated:
                self.validated.move_to_end(digest)
                return True
            return False

    def mark_validated(self, digest: bytes | None) -> None:
        """Record that a query array with this digest passed validation."""
        if digest is None:
            return
        with self.lock:
            self.validated[digest] = None
            self.validated.move_to_end(digest)
            while len(self.validated) > VALIDATED_DIGESTS:
                self.validated.popitem(last=False)

    def lookup(self, digest: bytes | None, block_size: int | None) -> SimilarityBlocks | None:
        """The cached blocks of a query array, or None."""
        if digest is None:
            return None
        key = (digest, block_size)
        with self.lock:
            hit = self.entries.get(key)
            if hit is not None:
                self.entries.move_to_end(key)
            return hit

    def get(
        self,
        catalog: Catalog,
        digest: bytes,
        queries: np.ndarray,
        block_size: int | None,
    ) -> SimilarityBlocks:
        """The blocks of ``queries`` (validated; ``digest`` names them), computed once."""
        key = (digest, block_size)
        with self.lock:
            hit = self.entries.get(key)
            if hit is not None:
                self.entries.move_to_end(key)
                return hit
            build_lock = self.building.setdefault(key, threading.Lock())
        with build_lock:  # one computation per key, even under a threaded search
            with self.lock:
                hit = self.entries.get(key)
                if hit is not None:
                    self.entries.move_to_end(key)
                    return hit
            entry = SimilarityBlocks(queries, catalog.matrices(), block_size)
            with self.lock:
                total = sum(b.nbytes for b in self.entries.values())
                while self.entries and total + entry.nbytes > SIMILARITY_CACHE_BYTES:
                    total -= self.entries.popitem(last=False)[1].nbytes
                if entry.nbytes <= SIMILARITY_CACHE_BYTES:
                    self.entries[key] = entry
                self.building.pop(key, None)
            return entry


def cache_for(catalog: Catalog) -> TuningCache:
    """The tuning cache of ``catalog`` (created on first use, held by the catalog)."""
    cache: TuningCache = catalog._derived().get_or_build(_STORE_KEY, TuningCache)
    return cache


def clear_tuning_cache(catalog: Catalog | None = None) -> None:
    """Drop the cached similarity blocks and digests (of one catalog, or of every catalog)."""
    if catalog is None:
        discard_everywhere(_STORE_KEY)
    else:
        catalog._derived().discard(_STORE_KEY)
