"""Static vector fusion at the one-matrix floor: fused unit vectors computed once.

When a strategy's weights do not depend on the query (fixed weights, the
plain average, weights learned on judged queries), every item has one fused
vector ``f_i = Σ_c w_c e_ic`` for all queries, and ``cos(q, f_i) = q · f̂_i``
with ``f̂_i = f_i / ‖f_i‖``. Computing the unit vectors ``F̂`` once turns each
search into one matrix product ``Q @ F̂ᵀ`` (plus the top-k) instead of C
products and the Gram-form combination: the cost of reading one matrix of the
catalog's size instead of C.

``F̂`` is derived data: it is held in a bounded cache kept in the catalog's
derived-data store (``skfusion/catalog/_derived.py``, key ``"fusion.fused"``),
keyed by the weight ratios, never in the estimator (so pickles stay small and
clones made by ``GridSearchCV`` for the same weights share one copy), and
recomputed on demand after unpickling or eviction. The catalog's arrays are
read-only, so an entry never goes stale.

The vectors come from :func:`skfusion._gram.fused_matrix`, the computation
the catalog's static fused ANN index uses too: with the catalog's global
weights, that index holds exactly ``build_fused(catalog,
catalog.global_weights())[0]``.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from .._gram import fused_matrix, max_scaled
from ..catalog import Catalog
from ..catalog._derived import discard_everywhere
from ._engine import run_item_ranges

#: Largest fused matrix (bytes) that ``precompute="auto"`` builds; above it the
#: strategy scores in Gram form from the C component matrices. 4 GiB holds
#: 2,000,000 fused 512-dimensional float32 vectors.
PRECOMPUTE_BUDGET = 4 << 30
#: Bytes of fused matrices kept per catalog (least recently used evicted; one
#: matrix is always kept, whatever its size).
CACHE_BYTES = 1 << 30

#: The key of the fused-matrix cache in a catalog's derived-data store.
_STORE_KEY = "fusion.fused"


def fused_nbytes(catalog: Catalog) -> int:
    """Bytes of the float32 fused matrix of ``catalog`` (``n_items × dim × 4``)."""
    return int(catalog.n_items) * int(catalog.dim) * 4


def resolve_precompute(setting: Any, catalog: Catalog) -> bool:
    """Whether a static strategy scores from precomputed fused vectors.

    ``True`` and ``False`` are obeyed; ``"auto"`` precomputes when the fused
    matrix (``n_items × dim`` float32) fits :data:`PRECOMPUTE_BUDGET`, so a
    memory-mapped catalog larger than that is still streamed from disk in
    Gram form rather than copied into memory.
    """
    if isinstance(setting, (bool, np.bool_)):
        return bool(setting)
    return fused_nbytes(catalog) <= PRECOMPUTE_BUDGET


def build_fused(
    catalog: Catalog, weights: np.ndarray, *, out: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The unit fused vectors of every item and which of them are defined.

    Parameters
    ----------
    catalog : Catalog
    weights : ndarray of shape (n_components,)
        Non-negative static weights (their scale does not matter).
    out : ndarray of shape (n_items, dim), float32, optional
        Memory to write the result into (made writeable, then read-only).

    Returns
    -------
    fused : ndarray of shape (n_items, dim), float32, read-only
        ``f̂_i = Σ_c w_c e_ic / ‖Σ_c w_c e_ic‖`` (the norm taken in float64);
        a zero row where the fused vector is zero (every weighted component
        of the item is missing).
    defined : ndarray of shape (1, 1, n_items), float32, read-only
        1 where ``f̂_i`` is defined, 0 where it is not: the Gram entry of the
        one-component catalog ``F̂``, so the engine's Gram-form scorer with
        weight 1 scores ``q · f̂_i`` and marks undefined items exactly as the
        C-component form does.
    """
    if out is not None:
        out.flags.writeable = True
    fused, defined = fused_matrix(
        catalog.matrices(), catalog.gram, weights, out=out, run=run_item_ranges
    )
    fused.flags.writeable = False
    defined.flags.writeable = False
    return fused, defined


class _FusedCache:
    """Least-recently-used fused matrices of one catalog, bounded in bytes.

    The matrix of an evicted entry that nothing else references any more is
    reused for the next build: a weight search then writes each candidate's
    vectors into the same memory instead of asking the system for more.
    """

    def __init__(self) -> None:
        self.entries: OrderedDict[bytes, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.lock = threading.Lock()
        self.building: dict[bytes, threading.Lock] = {}

    def _make_room(self, nbytes: int) -> np.ndarray | None:
        """Evict until one more matrix of ``nbytes`` fits; a free evicted matrix, if any."""
        spare = None
        total = sum(f.nbytes for f, _ in self.entries.values())
        while self.entries and total + nbytes > CACHE_BYTES:
            fused = self.entries.popitem(last=False)[1][0]
            total -= fused.nbytes
            # Referenced only here (and by getrefcount's argument): no search is reading it.
            if spare is None and fused.nbytes == nbytes and sys.getrefcount(fused) <= 2:
                spare = fused
            del fused
        return spare

    def get(self, catalog: Catalog, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = max_scaled(weights)
        key = w.tobytes()
        with self.lock:
            hit = self.entries.get(key)
            if hit is not None:
                self.entries.move_to_end(key)
                return hit
            build_lock = self.building.setdefault(key, threading.Lock())
        with build_lock:  # one build per key, even under a threaded grid search
            with self.lock:
                hit = self.entries.get(key)
                if hit is not None:
                    self.entries.move_to_end(key)
                    return hit
                spare = self._make_room(fused_nbytes(catalog))
            entry = build_fused(catalog, w, out=spare)
            with self.lock:
                self.entries[key] = entry
                self.building.pop(key, None)
            return entry


def fused_cache(catalog: Catalog) -> _FusedCache:
    """The fused-matrix cache of ``catalog`` (created on first use, held by the catalog)."""
    cache: _FusedCache = catalog._derived().get_or_build(_STORE_KEY, _FusedCache)
    return cache


def fused_for(catalog: Catalog, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cached (or newly built) :func:`build_fused` result for these weights."""
    return fused_cache(catalog).get(catalog, weights)


def clear_fused_cache(catalog: Catalog | None = None) -> None:
    """Drop cached fused matrices (of one catalog, or of every catalog)."""
    if catalog is None:
        discard_everywhere(_STORE_KEY)
    else:
        catalog._derived().discard(_STORE_KEY)
