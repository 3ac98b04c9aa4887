"""Exact top-k over a catalog split into shards, one Dask task per shard."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import clone

from .._gram import global_weights_from_means
from ..catalog import Catalog
from ._common import get_client, require_dask

__all__ = ["save_shards", "sharded_kneighbors"]


def _shard_mode(estimator: Any) -> str | None:
    """How a strategy (estimator or class) gets its global weights shard by shard.

    See ``BaseFusion._shard_weights``; ``None`` when it cannot be sharded.
    """
    cls = estimator if isinstance(estimator, type) else type(estimator)
    mode: str | None = getattr(cls, "_shard_weights", None)
    return mode


_OPEN: dict[tuple[str, int], Catalog] = {}
_OPEN_LOCK = threading.Lock()
_OPEN_MAX = 32


def _open_shard(path: str) -> Catalog:
    """``Catalog.load(path)`` memory-mapped, kept per worker process while unchanged."""
    real = os.path.realpath(path)
    key = (real, os.stat(Path(real) / "manifest.json").st_mtime_ns)
    with _OPEN_LOCK:
        found = _OPEN.get(key)
    if found is not None:
        return found
    catalog = Catalog.load(real, mmap=True, verify=False)
    with _OPEN_LOCK:
        if len(_OPEN) >= _OPEN_MAX:
            _OPEN.pop(next(iter(_OPEN)))
        _OPEN[key] = catalog
    return catalog


@dataclass
class _Summary:
    n_items: int
    names: tuple[str, ...]
    dim: int
    encoder_ids: dict[str, str | None]
    counts: np.ndarray
    means: np.ndarray


def _summarize(path: str) -> _Summary:
    cat = _open_shard(path)
    return _Summary(
        cat.n_items,
        cat.names,
        cat.dim,
        cat.encoder_ids,
        cat.mask.sum(axis=1).astype(np.int64),
        np.asarray(cat.means, dtype=np.float64),
    )


def _shard_topk(
    path: str,
    template: Any,
    global_weights: np.ndarray | None,
    X: Any,
    n_neighbors: int,
    offset: int,
) -> tuple[np.ndarray, np.ndarray]:
    catalog = _open_shard(path)
    est = clone(template).set_params(catalog=catalog).fit()
    if global_weights is not None:
        est.global_weights_ = global_weights
    k = min(n_neighbors, catalog.n_items)
    scores, idx = est.kneighbors(X, n_neighbors=k)
    return np.asarray(scores), np.asarray(idx, dtype=np.int64) + offset


def save_shards(
    catalog: Catalog, path: str | os.PathLike[str], n_shards: int, *, overwrite: bool = False
) -> list[Path]:
    """Split a catalog into contiguous shards saved as catalog directories.

    Shard ``s`` holds items ``bounds[s]:bounds[s + 1]`` of ``catalog`` (as
    equal as possible), with their masks, encoder ids and modalities, in
    ``path/shard-<s>``. Pass the returned paths, in order, to
    :func:`sharded_kneighbors`.

    Parameters
    ----------
    catalog : Catalog
        The catalog to split.
    path : path-like
        Directory that receives the shard directories.
    n_shards : int
        Number of shards, from 1 to ``catalog.n_items``.
    overwrite : bool, default=False
        Replace existing shard directories.

    Returns
    -------
    list of pathlib.Path
        The shard directories, in item order.
    """
    if isinstance(n_shards, bool) or not isinstance(n_shards, int | np.integer):
        raise TypeError(f"n_shards must be an int, got {n_shards!r}.")
    if not 1 <= n_shards <= catalog.n_items:
        raise ValueError(
            f"n_shards must be between 1 and the number of items ({catalog.n_items}), "
            f"got {n_shards}."
        )
    bounds = np.linspace(0, catalog.n_items, int(n_shards) + 1).astype(int)
    root = Path(path)
    width = max(3, len(str(n_shards - 1)))
    out = []
    for s in range(int(n_shards)):
        a, b = int(bounds[s]), int(bounds[s + 1])
        part = Catalog(
            {name: np.asarray(E[a:b]) for name, E in catalog.components.items()},
            catalog.ids[a:b],
            encoder_ids=catalog.encoder_ids,
            masks={name: np.asarray(catalog.mask[c, a:b]) for c, name in enumerate(catalog.names)},
            modalities=catalog.modalities,
        )
        out.append(part.save(root / f"shard-{s:0{width}d}", overwrite=overwrite))
    return out


def _check_shards(paths: list[str], summaries: list[_Summary]) -> None:
    first = summaries[0]
    for path, s in zip(paths[1:], summaries[1:], strict=True):
        if s.names != first.names:
            raise ValueError(
                f"Shard {path} has components {list(s.names)}, but shard {paths[0]} has "
                f"{list(first.names)}: all shards must hold the same components in order."
            )
        if s.dim != first.dim:
            raise ValueError(
                f"Shard {path} has dimension {s.dim}, but shard {paths[0]} has {first.dim}."
            )
        if s.encoder_ids != first.encoder_ids:
            raise ValueError(
                f"Shard {path} was encoded by {s.encoder_ids}, but shard {paths[0]} by "
                f"{first.encoder_ids}: shards of one catalog need the same encoders."
            )


def _merged_global_weights(summaries: list[_Summary]) -> np.ndarray:
    """``G_c`` of the union of the shards: the means over present items, combined exactly."""
    counts = np.stack([s.counts for s in summaries]).astype(np.float64)  # (S, C)
    sums = np.stack([s.means * s.counts[:, None] for s in summaries]).sum(axis=0)  # (C, d)
    means = sums / counts.sum(axis=0)[:, None]
    return np.asarray(global_weights_from_means(means))


def sharded_kneighbors(
    estimator: Any,
    X: Any,
    shards: Sequence[str | os.PathLike[str]],
    n_neighbors: int = 10,
    *,
    client: Any = None,
    return_distance: bool = True,
) -> tuple[np.ndarray, np.ndarray] | np.ndarray:
    """Exact top-k of a fusion strategy over a catalog split into shards, on Dask.

    Each shard is a catalog directory (see :func:`save_shards`) that every
    worker can read; one task per shard opens it memory-mapped (kept open
    by the worker for later calls), ranks it with a copy of ``estimator``
    and returns its top ``n_neighbors``. The client merges them: the result
    equals ``estimator.kneighbors`` on the whole catalog, positions included
    (a position is the item's row in the concatenation of the shards, in the
    order given), ties going to the lower position, up to floating-point
    rounding of the scores.

    Parameters
    ----------
    estimator : AverageFusion, WeightedFusion or HybridFusion
        The strategy and its parameters (fitted or not; its catalog is
        ignored). HybridFusion's global weights ``G_c`` are computed from the
        component means of all shards combined exactly (weighted by each
        shard's number of items having the component), not per shard.
    X : array-like of shape (n_queries, dim)
        Unit-norm query embeddings.
    shards : sequence of path-like
        The shard directories, in item order.
    n_neighbors : int, default=10
        Items per query (capped at the total number of items).
    client : distributed.Client, optional
        The cluster; the current default client when omitted.
    return_distance : bool, default=True
        Also return the scores.

    Returns
    -------
    scores : ndarray of shape (n_queries, n_neighbors), float32
        Fused cosines, descending (only when ``return_distance``).
    indices : ndarray of shape (n_queries, n_neighbors), int64
        Global item positions.

    Raises
    ------
    ValueError
        A strategy whose scores need catalog-wide statistics that shards do
        not combine (score and rank fusion normalise or rank each query over
        the whole catalog; CalibratedFusion and LearnedFusion are fitted on
        it); shards that disagree on components, dimension or encoders; no
        shards.
    """
    require_dask()
    name = type(estimator).__name__
    mode = _shard_mode(estimator)
    if mode is None:
        from ..fusion._registry import STRATEGIES

        supported = sorted(
            s.estimator.__name__ for s in STRATEGIES.values() if _shard_mode(s.estimator)
        )
        raise ValueError(
            f"{name} cannot be scored shard by shard: its scores depend on statistics of the "
            "whole catalog (per-query normalisation or ranks over all items, or weights fitted "
            f"on it) that are not combined across shards. Sharded scoring supports {supported}."
        )
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, int | np.integer):
        raise TypeError(f"n_neighbors must be an int, got {n_neighbors!r}.")
    if n_neighbors <= 0:
        raise ValueError(f"n_neighbors must be positive, got {n_neighbors}.")
    paths = [os.fspath(p) for p in shards]
    if not paths:
        raise ValueError("shards is empty: pass the shard directories in item order.")
    client = get_client(client)
    summaries: list[_Summary] = client.gather([client.submit(_summarize, p) for p in paths])
    _check_shards(paths, summaries)
    offsets = np.concatenate([[0], np.cumsum([s.n_items for s in summaries])])
    total = int(offsets[-1])
    k = min(int(n_neighbors), total)
    template = clone(estimator).set_params(catalog=None)
    if "approximate" in template.get_params():
        template.set_params(approximate=False)  # exact search on every shard
    weights = _merged_global_weights(summaries) if mode == "means" else None
    if weights is not None and not np.any(weights > 0):
        raise ValueError(
            "Every component's global weight G_c is 0 over the shards combined, so hybrid "
            "weights are undefined for this catalog."
        )
    queries = client.scatter(X, broadcast=True)
    futures = [
        client.submit(_shard_topk, p, template, weights, queries, k, int(offsets[s]), pure=False)
        for s, p in enumerate(paths)
    ]
    parts = client.gather(futures)
    scores = np.concatenate([p[0] for p in parts], axis=1)
    idx = np.concatenate([p[1] for p in parts], axis=1)
    order = np.lexsort((idx, -scores.astype(np.float64)), axis=-1)[:, :k]
    top_scores = np.take_along_axis(scores, order, axis=1)
    top_idx = np.take_along_axis(idx, order, axis=1)
    return (top_scores, top_idx) if return_distance else top_idx
