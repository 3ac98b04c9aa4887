"""Approximate nearest-neighbour (ANN) indexes of a catalog, built with faiss.

A :class:`CatalogIndex` holds one inner-product index per component (over
the items that have that component) and one static *fused* index over each
item's global-weight fusion ``f_i = Σ_c G_c e_ic / ‖Σ_c G_c e_ic‖``. The
fusion estimators use them, with ``approximate=True``, only to propose
candidate items; every candidate is then re-scored exactly
(:mod:`skfusion.fusion._approximate`).

faiss is an optional dependency (``pip install "skfusion[ann]"``); it is
imported when an index is built, read or searched, never at import time.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "INDEX_ENCODINGS",
    "INDEX_KINDS",
    "CatalogIndex",
    "IndexFile",
    "build_catalog_index",
    "import_faiss",
]

#: Index structures :meth:`skfusion.Catalog.build_index` can build.
INDEX_KINDS = ("ivf", "hnsw", "flat")
#: How an IVF index stores vectors: faiss factory suffixes.
INDEX_ENCODINGS = {"flat": "Flat", "sq8": "SQ8", "fp16": "SQfp16"}
#: Training points per IVF list (k-means sample size = this × n_lists).
_TRAIN_PER_LIST = 64
#: Rows added to an index at a time (bounds the memory of fused rows and masks).
_ADD_CHUNK = 1 << 16
#: Neighbours per node of an HNSW graph.
_HNSW_M = 32
_HNSW_EF_CONSTRUCTION = 80


def import_faiss() -> Any:
    """Import faiss, or raise an ImportError saying which extra installs it."""
    try:
        import faiss
    except ImportError as exc:
        raise ImportError(
            "Approximate search needs faiss, which is not installed; install it with "
            '`pip install "skfusion[ann]"` (the faiss-cpu package).'
        ) from exc
    return faiss


def default_n_lists(n_vectors: int) -> int:
    """IVF lists for ``n_vectors`` vectors: about √n, at least 39 vectors per list."""
    return int(max(1, min(round(math.sqrt(n_vectors)), n_vectors // 39)))


def default_n_probe(kind: str, n_lists: int) -> int:
    """The search breadth used when none is given (lists probed, or HNSW ``efSearch``)."""
    if kind == "ivf":
        return int(min(n_lists, 32))
    if kind == "hnsw":
        return 128
    return 0


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}.")
    return int(value)


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class IndexFile:
    """An index file opened when its catalog was loaded, read on first use.

    The open descriptor keeps the file the catalog was loaded with, even when
    the directory is later replaced; its bytes are checked against the
    manifest's SHA-256 whenever they are read, so a file changed in place is
    refused rather than used.

    Parameters
    ----------
    path : pathlib.Path
        The file (for messages).
    sha256 : str
        Its checksum in the catalog manifest.
    """

    def __init__(self, path: Path, sha256: str) -> None:
        self.path = path
        self.sha256 = sha256
        self._fd: int | None = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))

    def read(self) -> bytes:
        """The file's bytes, checked against the manifest's checksum."""
        if self._fd is None:
            raise ValueError(f"Index file {self.path} was already closed.")
        size = os.fstat(self._fd).st_size
        parts = []
        offset = 0
        while offset < size:
            chunk = os.pread(self._fd, min(size - offset, 1 << 24), offset)
            if not chunk:
                break
            parts.append(chunk)
            offset += len(chunk)
        blob = b"".join(parts)
        if _sha256_bytes(blob) != self.sha256:
            raise ValueError(
                f"Checksum mismatch for {self.path}: the index file changed after its catalog "
                "was loaded; load the catalog again."
            )
        return blob

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        with contextlib.suppress(OSError):
            self.close()


class CatalogIndex:
    """ANN indexes of one catalog: one per component plus one static fused index.

    Built by :meth:`skfusion.Catalog.build_index`; not meant to be created
    directly. Every index uses inner product on unit vectors (cosine), and
    labels vectors with their item positions in the catalog.

    Parameters
    ----------
    kind : {"ivf", "hnsw", "flat"}
    n_lists : int
        IVF lists per index (0 for the other kinds).
    n_probe : int
        IVF lists probed per query, or HNSW ``efSearch`` (ignored by "flat").
    encoding : {"flat", "sq8", "fp16"}
        How IVF stores vectors.
    fused_weights : ndarray of shape (n_components,)
        The weights ``G_c`` (normalised to sum 1) of the fused index.
    indexes : list, optional
        The faiss indexes: one per component, then the fused one.
    loader : callable, optional
        Returns the serialised faiss indexes on first use (a saved catalog
        reads its index files lazily, from the files it opened when it was
        loaded).
    source : pathlib.Path, optional
        The catalog directory the index was read from.
    identity : dict
        The catalog the index was built for: ``n_items``, ``dim`` and
        ``present`` (the number of items having each component). Checked
        against every faiss index when the indexes are opened.

    Attributes
    ----------
    source : pathlib.Path or None
        The catalog directory the index was read from; None when it was
        built in this process.
    """

    def __init__(
        self,
        *,
        kind: str,
        n_lists: int,
        n_probe: int,
        encoding: str,
        fused_weights: np.ndarray,
        indexes: Sequence[Any] | None = None,
        loader: Callable[[], list[bytes]] | None = None,
        source: Path | None = None,
        identity: Mapping[str, Any],
    ) -> None:
        if (indexes is None) == (loader is None):
            raise ValueError("Give exactly one of indexes and loader.")
        self.identity: dict[str, Any] = {
            "n_items": int(identity["n_items"]),
            "dim": int(identity["dim"]),
            "present": [int(k) for k in identity["present"]],
        }
        self.kind = kind
        self.n_lists = int(n_lists)
        self._n_probe = int(n_probe)
        self.encoding = encoding
        self.fused_weights = np.asarray(fused_weights, dtype=np.float64)
        self._indexes: list[Any] | None = None if indexes is None else list(indexes)
        self._loader = loader
        self._lock = threading.Lock()
        self.source = source
        if self._indexes is not None:
            self._check_indexes(self._indexes)
            self._apply_n_probe()

    # -- parameters --------------------------------------------------------------------
    @property
    def n_components(self) -> int:
        """Number of component indexes (the fused index comes on top)."""
        return int(self.fused_weights.shape[0])

    @property
    def n_probe(self) -> int:
        """IVF lists probed per query, or HNSW ``efSearch``; settable."""
        return self._n_probe

    @n_probe.setter
    def n_probe(self, value: int) -> None:
        self._n_probe = _check_int(value, "n_probe", 1)
        if self._indexes is not None:
            self._apply_n_probe()

    def _apply_n_probe(self) -> None:
        assert self._indexes is not None
        if self.kind == "flat":
            return
        faiss = import_faiss()
        for index in self._indexes:
            if self.kind == "ivf":
                faiss.extract_index_ivf(index).nprobe = min(self._n_probe, self.n_lists)
            else:
                faiss.downcast_index(index.index).hnsw.efSearch = self._n_probe

    def params(self) -> dict[str, Any]:
        """The build and search parameters, as written to the catalog manifest."""
        return {
            "kind": self.kind,
            "n_lists": self.n_lists,
            "n_probe": self._n_probe,
            "encoding": self.encoding,
            "fused_weights": self.fused_weights.tolist(),
        }

    def check_catalog(self, n_items: int, dim: int, present: Sequence[int], where: str) -> None:
        """Raise ``ValueError`` unless the index was built for a catalog of this shape.

        Parameters
        ----------
        n_items, dim : int
            The catalog's item count and dimension.
        present : sequence of int
            How many items have each component.
        where : str
            What the index is, for the message.
        """
        mine = self.identity
        theirs = {"n_items": int(n_items), "dim": int(dim), "present": [int(k) for k in present]}
        if mine != theirs:
            raise ValueError(
                f"{where} was built for another catalog ({mine['n_items']} items of dimension "
                f"{mine['dim']}, {mine['present']} items per component); this catalog has "
                f"{theirs['n_items']} items of dimension {theirs['dim']}, {theirs['present']} "
                "items per component. Rebuild it with catalog.build_index()."
            )

    def _check_indexes(self, indexes: Sequence[Any]) -> None:
        """Raise ``ValueError`` unless the faiss indexes match :attr:`identity`."""
        where = "The ANN index" if self.source is None else f"The ANN index of {self.source}"
        expected = [*self.identity["present"], self.identity["n_items"]]
        if len(indexes) != len(expected):
            raise ValueError(
                f"{where} holds {len(indexes)} faiss indexes; its catalog needs {len(expected)}."
            )
        for k, (index, count) in enumerate(zip(indexes, expected, strict=True)):
            what = "fused index" if k == len(expected) - 1 else f"index of component {k}"
            if int(index.d) != self.identity["dim"] or int(index.ntotal) != count:
                raise ValueError(
                    f"{where}: its {what} holds {int(index.ntotal)} vectors of dimension "
                    f"{int(index.d)}, but the catalog it belongs to has {count} of dimension "
                    f"{self.identity['dim']}; the index was built for another catalog. Rebuild "
                    "it with catalog.build_index()."
                )

    def __repr__(self) -> str:
        return (
            f"CatalogIndex(kind={self.kind!r}, n_lists={self.n_lists}, "
            f"n_probe={self._n_probe}, encoding={self.encoding!r}, "
            f"indexes={self.n_components} components + fused)"
        )

    # -- the faiss objects -------------------------------------------------------------
    def indexes(self) -> list[Any]:
        """The faiss indexes (components in order, then the fused one), read on first use."""
        if self._indexes is None:
            with self._lock:
                if self._indexes is None:
                    assert self._loader is not None
                    faiss = import_faiss()
                    blobs = self._loader()
                    loaded = []
                    for k, blob in enumerate(blobs):
                        try:
                            loaded.append(faiss.deserialize_index(np.frombuffer(blob, np.uint8)))
                        except RuntimeError as exc:
                            where = "" if self.source is None else f" of {self.source}"
                            raise ValueError(
                                f"The ANN index{where} cannot be read: faiss refused "
                                f"{self.file_names()[k]} ({str(exc).splitlines()[0][:200]})."
                            ) from exc
                    self._check_indexes(loaded)
                    self._indexes = loaded
                    self._loader = None
                    self._apply_n_probe()
        assert self._indexes is not None
        return self._indexes

    def search(self, queries: np.ndarray, n_candidates: int, *, lowest: bool = False) -> np.ndarray:
        """Candidate item positions for each query, from every index.

        Parameters
        ----------
        queries : ndarray of shape (n_queries, dim), float32
        n_candidates : int
            Neighbours asked from each index.
        lowest : bool, default=False
            Also ask each component index for the items *least* similar to
            the query (a search with ``-q``): candidates for the catalog
            minimum of a component's similarities.

        Returns
        -------
        ndarray of shape (n_queries, n_indexes * n_candidates), int64
            Item positions; -1 where an index returned fewer neighbours.
        """
        Xq = np.ascontiguousarray(queries, dtype=np.float32)
        indexes = self.indexes()
        found = [index.search(Xq, int(n_candidates))[1] for index in indexes]
        if lowest:
            neg = np.ascontiguousarray(-Xq)
            found += [index.search(neg, int(n_candidates))[1] for index in indexes[:-1]]
        out = np.concatenate(found, axis=1).astype(np.int64, copy=False)
        if out.size and int(out.max()) >= self.identity["n_items"]:
            raise ValueError(
                f"The ANN index returned item position {int(out.max())}, but its catalog has "
                f"{self.identity['n_items']} items: the index was not built for this catalog. "
                "Rebuild it with catalog.build_index()."
            )
        return out

    # -- persistence -------------------------------------------------------------------
    def blobs(self) -> list[bytes]:
        """The serialised faiss indexes (components in order, then the fused one).

        An index loaded from disk and not searched yet returns the bytes of
        the files its catalog opened when it was loaded (checked against the
        manifest), without faiss.
        """
        with self._lock:
            if self._indexes is None:
                assert self._loader is not None
                return self._loader()
        faiss = import_faiss()
        return [faiss.serialize_index(ix).tobytes() for ix in self.indexes()]

    def file_names(self) -> list[str]:
        """The names of the index files in a catalog directory."""
        names = [f"index_component_{c}.faiss" for c in range(self.n_components)]
        return [*names, "index_fused.faiss"]

    def entry(self, files: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The manifest entry of this index, given its file entries."""
        return {**self.params(), "catalog": dict(self.identity), "files": list(files)}

    @classmethod
    def from_manifest(
        cls, root: Path, entry: Mapping[str, Any], files: Sequence[IndexFile]
    ) -> CatalogIndex:
        """The index described by a (validated) manifest entry; read on first use.

        Parameters
        ----------
        root : pathlib.Path
            The catalog directory.
        entry : mapping
            The manifest's ``index`` entry, its types already checked.
        files : sequence of IndexFile
            The index files, opened (and their checksums verified) by the
            catalog loader.
        """
        handles = list(files)

        def load() -> list[bytes]:
            return [f.read() for f in handles]

        return cls(
            kind=entry["kind"],
            n_lists=entry["n_lists"],
            n_probe=entry["n_probe"],
            encoding=entry["encoding"],
            fused_weights=np.asarray(entry["fused_weights"], dtype=np.float64),
            loader=load,
            source=root,
            identity=entry["catalog"],
        )

    def __getstate__(self) -> dict[str, Any]:
        return {"params": self.params(), "identity": self.identity, "blobs": self.blobs()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        blobs = [bytes(b) for b in state["blobs"]]
        params = state["params"]
        self.__init__(  # type: ignore[misc]
            kind=params["kind"],
            n_lists=params["n_lists"],
            n_probe=params["n_probe"],
            encoding=params["encoding"],
            fused_weights=np.asarray(params["fused_weights"]),
            loader=lambda: blobs,
            identity=state["identity"],
        )


def _new_index(faiss: Any, kind: str, dim: int, n_lists: int, encoding: str) -> Any:
    metric = faiss.METRIC_INNER_PRODUCT
    if kind == "ivf":
        return faiss.index_factory(dim, f"IVF{n_lists},{INDEX_ENCODINGS[encoding]}", metric)
    if kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dim, _HNSW_M, metric)
        inner.hnsw.efConstruction = _HNSW_EF_CONSTRUCTION
        return faiss.IndexIDMap(inner)
    return faiss.IndexIDMap(faiss.IndexFlatIP(dim))


def _fill(
    faiss: Any,
    index: Any,
    kind: str,
    rows: Callable[[np.ndarray], np.ndarray],
    positions: np.ndarray,
    rng: np.random.Generator,
    n_lists: int,
    seed: int,
) -> None:
    """Train (IVF) and add the rows at ``positions``, labelled by position."""
    if kind == "ivf":
        ivf = faiss.extract_index_ivf(index)
        ivf.cp.seed = seed
        ivf.cp.spherical = True
        n_train = min(positions.size, _TRAIN_PER_LIST * n_lists)
        ivf.cp.max_points_per_centroid = max(1, -(-n_train // n_lists))
        sample = np.sort(rng.choice(positions, size=n_train, replace=False))
        index.train(np.ascontiguousarray(rows(sample), dtype=np.float32))
    for start in range(0, positions.size, _ADD_CHUNK):
        chunk = positions[start : start + _ADD_CHUNK]
        index.add_with_ids(np.ascontiguousarray(rows(chunk), dtype=np.float32), chunk)


def _row_getter(E: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    def rows(positions: np.ndarray) -> np.ndarray:
        return np.asarray(E[positions])

    return rows


def build_catalog_index(
    matrices: Sequence[np.ndarray],
    mask: np.ndarray,
    global_weights: np.ndarray,
    *,
    kind: str = "ivf",
    n_lists: int | None = None,
    n_probe: int | None = None,
    encoding: str = "sq8",
    random_state: int | None = 0,
) -> CatalogIndex:
    """Build the per-component and fused indexes (see :meth:`skfusion.Catalog.build_index`)."""
    if kind not in INDEX_KINDS:
        raise ValueError(f"Unknown index kind {kind!r}; valid kinds are {list(INDEX_KINDS)}.")
    if encoding not in INDEX_ENCODINGS:
        raise ValueError(
            f"Unknown index encoding {encoding!r}; valid encodings are {list(INDEX_ENCODINGS)}."
        )
    if n_lists is not None:
        _check_int(n_lists, "n_lists", 1)
    if n_probe is not None:
        _check_int(n_probe, "n_probe", 1)
    if random_state is not None:
        _check_int(random_state, "random_state", 0)
    faiss = import_faiss()
    C, n_items = mask.shape
    dim = int(matrices[0].shape[1])
    fewest = int(mask.sum(axis=1).min())
    if kind == "ivf":
        lists = default_n_lists(fewest) if n_lists is None else int(n_lists)
        if lists > fewest:
            raise ValueError(
                f"n_lists={lists} exceeds the {fewest} items of the sparsest component; an "
                "IVF index needs at least one training vector per list."
            )
    else:
        lists = 0
    seed = 0 if random_state is None else int(random_state)
    rng = np.random.default_rng(seed)
    G = np.clip(np.asarray(global_weights, dtype=np.float64), 0.0, None)
    G = G / G.sum() if G.sum() > 0 else np.full(C, 1.0 / C)

    def fused_rows(chunk: np.ndarray) -> np.ndarray:
        out = np.zeros((chunk.size, dim), dtype=np.float32)
        for c, E in enumerate(matrices):
            out += np.float32(G[c]) * np.asarray(E[chunk], dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out /= np.where(norms > 0, norms, 1.0)
        return out

    indexes = []
    for c, E in enumerate(matrices):
        index = _new_index(faiss, kind, dim, lists, encoding)
        positions = np.flatnonzero(mask[c]).astype(np.int64)
        _fill(faiss, index, kind, _row_getter(E), positions, rng, lists, seed + c)
        indexes.append(index)
    fused = _new_index(faiss, kind, dim, lists, encoding)
    everything = np.arange(n_items, dtype=np.int64)
    _fill(faiss, fused, kind, fused_rows, everything, rng, lists, seed + C)
    indexes.append(fused)
    probe = default_n_probe(kind, lists) if n_probe is None else int(n_probe)
    return CatalogIndex(
        kind=kind,
        n_lists=lists,
        n_probe=max(probe, 1),
        encoding=encoding,
        fused_weights=G,
        indexes=indexes,
        identity={
            "n_items": n_items,
            "dim": dim,
            "present": [int(k) for k in mask.sum(axis=1)],
        },
    )
