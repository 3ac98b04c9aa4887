"""Approximate nearest-neighbour (ANN) indexes of a catalog, built with faiss.

A :class:`CatalogIndex` holds one inner-product index per component (over
the items that have that component) and one static *fused* index over each
item's global-weight fusion ``f_i = Σ_c G_c e_ic / ‖Σ_c G_c e_ic‖``. The
fusion estimators use them, with ``approximate=True``, only to propose
candidate items; every candidate is then re-scored exactly
(:mod:`skfusion.fusion._approximate`).

The fused index holds the vectors of :func:`skfusion._gram.fused_matrix`
with the catalog's global weights, computed by the same code as the unit
fused vectors of static fusion: bit for bit
``skfusion.fusion._static.build_fused(catalog, catalog.global_weights())[0]``
(:func:`fused_row_getter`).

faiss is an optional dependency (``pip install "skfusion[ann]"``); it is
imported when an index is built, read or searched, never at import time.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np

from .._gram import fused_rows as _gram_fused_rows

__all__ = [
    "DEFAULT_N_CANDIDATES",
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
#: Candidates per index when neither the estimator nor a calibrated index gives a count.
DEFAULT_N_CANDIDATES = 300
#: Candidate counts tried by the calibration (those below ``k`` are skipped).
_CANDIDATE_GRID = (10, 16, 25, 40, 64, 100, 160, 250, 400, 640, 1000)
#: Relative cost of re-scoring one candidate of one component (a random gather plus a
#: dot product) against scanning one stored vector in an index list: ~0.8 µs against
#: ~31 ns on 512-dimensional SQ8 lists and a float16 catalog (benchmarks/bench_approximate.py,
#: 100,000 items, shared 2-core machine); only the ranking of settings depends on it.
_RESCORE_COST = 25.0
#: Expected cosine between a default pseudo-query and the item component it was drawn from
#: (make_catalog's caption-like queries sit near 0.31 of their target image).
_PSEUDO_QUERY_COSINE = 0.4
#: Items scored exactly at a time while computing the calibration's ground truth.
_TRUTH_BLOCK = 1 << 15


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
    calibration : dict, optional
        The result of :func:`calibrate_index` (``target_recall``, ``k``,
        ``n_queries``, ``queries``, ``n_probe``, ``n_candidates``, ``recall``,
        ``recall_lower``), validated by :func:`check_calibration`.

    Attributes
    ----------
    source : pathlib.Path or None
        The catalog directory the index was read from; None when it was
        built in this process.
    calibration : dict or None
        How the search parameters were chosen by ``target_recall``, or None.
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
        calibration: Mapping[str, Any] | None = None,
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
        where = "The ANN index" if source is None else f"The ANN index of {source}"
        self.calibration: dict[str, Any] | None = (
            None if calibration is None else check_calibration(calibration, where)
        )
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

    @property
    def n_candidates(self) -> int | None:
        """The calibrated candidates per index (``target_recall``), or None if uncalibrated."""
        return None if self.calibration is None else int(self.calibration["n_candidates"])

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
            "calibration": None if self.calibration is None else dict(self.calibration),
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
            f"indexes={self.n_components} components + fused{self._calibration_repr()})"
        )

    def _calibration_repr(self) -> str:
        cal = self.calibration
        if cal is None:
            return ""
        return (
            f", calibrated: n_candidates={cal['n_candidates']}, "
            f"recall@{cal['k']}={cal['recall']:.4f} (target {cal['target_recall']}, "
            f"95% lower bound {cal['recall_lower']:.4f}, {cal['n_queries']} {cal['queries']} "
            "queries)"
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
            calibration=entry.get("calibration"),
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
            calibration=params.get("calibration"),
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


def fused_index_weights(global_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The weights of the fused index: those its vectors are built with, and those recorded.

    Returns
    -------
    build : ndarray of shape (C,), float64
        The global weights clipped at 0 (all ones when every one is 0), given
        to :func:`skfusion._gram.fused_matrix`, which scales them by their
        largest, exactly as static fusion does with ``catalog.global_weights()``.
    recorded : ndarray of shape (C,), float64
        The same weights normalised to sum 1 (:attr:`CatalogIndex.fused_weights`).
    """
    G = np.clip(np.asarray(global_weights, dtype=np.float64), 0.0, None)
    C = G.shape[0]
    if G.sum() > 0:
        return G, G / G.sum()
    return np.ones(C), np.full(C, 1.0 / C)


def fused_row_getter(
    matrices: Sequence[np.ndarray], gram: np.ndarray, global_weights: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    """The rows the fused index is trained on and filled with, by item position.

    ``rows(positions)`` (increasing positions) is
    ``fused_matrix(matrices, gram, G)[0][positions]`` bit for bit
    (:func:`skfusion._gram.fused_rows`, one window of :data:`_ADD_CHUNK` items
    at a time), with ``G`` from :func:`fused_index_weights`.
    """
    weights = fused_index_weights(global_weights)[0]

    def rows(positions: np.ndarray) -> np.ndarray:
        return _gram_fused_rows(matrices, gram, weights, positions, window=_ADD_CHUNK)

    return rows


def build_catalog_index(
    matrices: Sequence[np.ndarray],
    mask: np.ndarray,
    global_weights: np.ndarray,
    gram: np.ndarray,
    *,
    kind: str = "ivf",
    n_lists: int | None = None,
    n_probe: int | None = None,
    encoding: str = "sq8",
    random_state: int | None = 0,
    target_recall: float | None = None,
    recall_k: int = 10,
    calibration_queries: Any = None,
    n_calibration_queries: int = 256,
) -> CatalogIndex:
    """Build the per-component and fused indexes (see :meth:`skfusion.Catalog.build_index`)."""
    if target_recall is not None:
        ok = isinstance(target_recall, int | float) and not isinstance(target_recall, bool)
        if not ok:
            raise TypeError(f"target_recall must be a number or None, got {target_recall!r}.")
        if not 0.0 < float(target_recall) <= 1.0:
            raise ValueError(f"target_recall must be in (0, 1], got {target_recall!r}.")
    elif calibration_queries is not None:
        raise ValueError("calibration_queries is only used with target_recall; give both.")
    _check_int(recall_k, "recall_k", 1)
    _check_int(n_calibration_queries, "n_calibration_queries", 1)
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
    G = fused_index_weights(global_weights)[1]
    indexes = []
    for c, E in enumerate(matrices):
        index = _new_index(faiss, kind, dim, lists, encoding)
        positions = np.flatnonzero(mask[c]).astype(np.int64)
        _fill(faiss, index, kind, _row_getter(E), positions, rng, lists, seed + c)
        indexes.append(index)
    fused = _new_index(faiss, kind, dim, lists, encoding)
    everything = np.arange(n_items, dtype=np.int64)
    fused_rows = fused_row_getter(matrices, gram, global_weights)
    _fill(faiss, fused, kind, fused_rows, everything, rng, lists, seed + C)
    indexes.append(fused)
    probe = default_n_probe(kind, lists) if n_probe is None else int(n_probe)
    built = CatalogIndex(
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
    if target_recall is not None:
        calibrate_index(
            built,
            matrices,
            mask,
            target_recall=float(target_recall),
            k=int(recall_k),
            queries=calibration_queries,
            n_queries=int(n_calibration_queries),
            n_probe=n_probe,
            random_state=seed,
        )
    return built


# -- calibration: the cheapest search parameters that reach a target recall ---------------


def check_calibration(calibration: Any, where: str) -> dict[str, Any]:
    """A calibration record, checked field by field (it may come from an untrusted file).

    Parameters
    ----------
    calibration : mapping
        ``target_recall``, ``k``, ``n_queries``, ``queries`` ("pseudo" or
        "given"), ``n_probe``, ``n_candidates``, ``recall`` and
        ``recall_lower``.
    where : str
        What holds the record, for the message.

    Returns
    -------
    dict
        The same fields, as Python ints, floats and str.

    Raises
    ------
    ValueError
        A field is missing, of the wrong type or out of its range.
    """

    def bad(field: str, problem: str) -> ValueError:
        return ValueError(f"{where}: its calibration field {field!r} {problem}.")

    if not isinstance(calibration, Mapping):
        raise ValueError(f"{where}: its calibration must be a mapping, got {calibration!r:.80}.")
    fields = {
        "target_recall": "number",
        "k": "int",
        "n_queries": "int",
        "queries": "str",
        "n_probe": "int",
        "n_candidates": "int",
        "recall": "number",
        "recall_lower": "number",
    }
    if set(calibration) != set(fields):
        raise bad(
            ", ".join(sorted(set(calibration) ^ set(fields))),
            f"is unexpected or missing (the fields are {sorted(fields)})",
        )
    out: dict[str, Any] = {}
    for name, kind in fields.items():
        value = calibration[name]
        if kind == "int":
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise bad(name, f"must be a positive integer, got {value!r:.80}")
            out[name] = int(value)
        elif kind == "number":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not 0.0 <= float(value) <= 1.0:
                raise bad(name, f"must be a number in [0, 1], got {value!r:.80}")
            out[name] = float(value)
        else:
            if value not in ("pseudo", "given"):
                raise bad(name, f"must be 'pseudo' or 'given', got {value!r:.80}")
            out[name] = str(value)
    if out["target_recall"] == 0.0:
        raise bad("target_recall", "must be positive, got 0")
    if out["recall_lower"] > out["recall"]:
        raise bad(
            "recall_lower",
            f"({out['recall_lower']}) exceeds the measured recall ({out['recall']})",
        )
    if out["n_candidates"] < out["k"]:
        raise bad("n_candidates", f"({out['n_candidates']}) is below k ({out['k']})")
    return out


def wilson_lower_bound(successes: float, trials: int, z: float = 1.96) -> float:
    """Lower end of the Wilson score interval of a binomial proportion.

    ``(p̂ + z²/2n − z √(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)`` with ``p̂ = successes / n``
    (Wilson, "Probable inference, the law of succession, and statistical
    inference", JASA 22, 1927); ``z = 1.96`` gives the two-sided 95% interval.
    """
    n = float(trials)
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(max(p * (1 - p) / n + z * z / (4 * n * n), 0.0))
    return float(max(0.0, (centre - spread) / (1 + z * z / n)))


def pseudo_queries(
    matrices: Sequence[np.ndarray], mask: np.ndarray, n_queries: int, rng: np.random.Generator
) -> np.ndarray:
    """Held-out pseudo-queries drawn from the catalog itself.

    Each is a random item's random present component plus isotropic Gaussian
    noise, renormalised: ``q = (e_ic + σ g) / ‖e_ic + σ g‖`` with
    ``g ~ N(0, I_d)`` and ``σ = sqrt((1/ρ² − 1) / d)``, so that ``q · e_ic ≈ ρ``
    (``ρ`` = 0.4, near the 0.31 query–target cosine of caption-like queries).
    The noise makes the query a new point, not a copy of an item.
    """
    n_items = mask.shape[1]
    dim = int(matrices[0].shape[1])
    sigma = math.sqrt((1.0 / _PSEUDO_QUERY_COSINE**2 - 1.0) / dim)
    items = rng.integers(0, n_items, size=n_queries)
    out = np.empty((n_queries, dim), dtype=np.float32)
    for q, i in enumerate(items):
        present = np.flatnonzero(mask[:, i])
        c = int(rng.choice(present)) if present.size else 0
        out[q] = np.asarray(matrices[c][i], dtype=np.float32)
    out += (sigma * rng.standard_normal((n_queries, dim))).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def _check_queries(queries: Any, dim: int) -> np.ndarray:
    Q = np.asarray(queries)
    if Q.ndim != 2 or Q.shape[1] != dim or Q.shape[0] < 1:
        raise ValueError(
            f"calibration_queries must be an array of shape (n_queries, {dim}) with at least "
            f"one query, got shape {Q.shape}."
        )
    if Q.dtype.kind not in "fiu":
        raise TypeError(f"calibration_queries must be numeric, got dtype {Q.dtype}.")
    Q = Q.astype(np.float32)
    if not np.isfinite(Q).all():
        raise ValueError("calibration_queries holds NaN or infinite values.")
    norms = np.linalg.norm(Q, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ValueError(
            f"calibration_queries row {int(np.flatnonzero(norms[:, 0] == 0)[0])} is all zeros."
        )
    return np.ascontiguousarray(Q / norms)


def _merge_topk(
    best_s: np.ndarray, best_i: np.ndarray, s: np.ndarray, i: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    all_s = np.concatenate([best_s, s], axis=1)
    all_i = np.concatenate([best_i, i], axis=1)
    if all_s.shape[1] > k:
        part = np.argpartition(-all_s, k - 1, axis=1)[:, :k]
        all_s = np.take_along_axis(all_s, part, axis=1)
        all_i = np.take_along_axis(all_i, part, axis=1)
    keep = np.argsort(-all_s, axis=1, kind="stable")
    return np.take_along_axis(all_s, keep, axis=1), np.take_along_axis(all_i, keep, axis=1)


def list_weights(fused_weights: np.ndarray) -> np.ndarray:
    """The weightings whose exact top-k lists the calibration must recover, shape (L, C).

    Each component alone, the static fusion ``G``, and every pair of
    components at equal weight: the items a query-aware strategy (hybrid,
    agreement) ranks first are near the top of some fixed weighting between
    its components, not necessarily of one component or of ``G``.
    """
    C = int(fused_weights.shape[0])
    rows = [np.eye(C)[c] for c in range(C)]
    rows.append(np.asarray(fused_weights, dtype=np.float64))
    for a in range(C):
        for b in range(a + 1, C):
            w = np.zeros(C)
            w[[a, b]] = 0.5
            rows.append(w)
    return np.unique(np.round(np.stack(rows), 12), axis=0)


def exact_lists(
    matrices: Sequence[np.ndarray],
    mask: np.ndarray,
    weights: np.ndarray,
    queries: np.ndarray,
    k: int,
) -> np.ndarray:
    """Exact top-``k`` item positions of fixed-weight fused cosines, shape (Q, L, k).

    List ``l`` ranks the items by
    ``Σ_c w_lc m_ic (q · e_ic) / ‖Σ_c w_lc m_ic e_ic‖`` (``m_ic`` = 1 when
    item ``i`` has component ``c``); items where that vector is zero are not
    ranked. Positions are -1 where fewer than ``k`` items are ranked.
    """
    C, n_items = mask.shape
    Qn, L = queries.shape[0], weights.shape[0]
    best_s = np.full((Qn * L, k), -np.inf, dtype=np.float32)
    best_i = np.full((Qn * L, k), -1, dtype=np.int64)
    W = np.asarray(weights, dtype=np.float32)
    for start in range(0, n_items, _TRUTH_BLOCK):
        stop = min(start + _TRUTH_BLOCK, n_items)
        B = stop - start
        m = np.asarray(mask[:, start:stop], dtype=np.float32)  # (C, B)
        blocks = [
            np.asarray(E[start:stop], dtype=np.float32) * m[c][:, None]
            for c, E in enumerate(matrices)
        ]
        S = np.stack([queries @ b.T for b in blocks])  # (C, Q, B)
        K = np.empty((C, C, B), dtype=np.float32)
        for a in range(C):
            for b in range(a, C):
                K[a, b] = K[b, a] = np.einsum("ij,ij->i", blocks[a], blocks[b])
        num = np.einsum("lc,cqb->qlb", W, S)
        norm2 = np.einsum("lc,ld,cdb->lb", W, W, K)
        ok = norm2 > 1e-12
        scores = np.where(ok[None], num / np.sqrt(np.where(ok, norm2, 1.0))[None], -np.inf)
        scores = scores.reshape(Qn * L, B).astype(np.float32)
        positions = np.broadcast_to(np.arange(start, stop, dtype=np.int64), scores.shape)
        best_s, best_i = _merge_topk(best_s, best_i, scores, positions, k)
    best_i = np.where(np.isfinite(best_s), best_i, -1)
    return best_i.reshape(Qn, L, k)


def _probe_grid(index: CatalogIndex, n_probe: int | None) -> list[int]:
    if n_probe is not None or index.kind == "flat":
        return [index.n_probe]
    if index.kind == "ivf":
        grid = [p for p in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)]
        return sorted({min(p, index.n_lists) for p in grid} | {index.n_lists})
    return [16, 32, 64, 128, 256, 512]


def _cost(index: CatalogIndex, n_probe: int, n_candidates: int) -> float:
    """Relative cost of one query: index vectors scanned plus candidates re-scored."""
    sizes = [*index.identity["present"], index.identity["n_items"]]
    C = index.n_components
    rescore = len(sizes) * n_candidates * C * _RESCORE_COST
    if index.kind == "ivf":
        scan = sum(sizes) * min(n_probe, index.n_lists) / max(index.n_lists, 1)
    elif index.kind == "hnsw":
        scan = len(sizes) * max(n_probe, n_candidates) * _HNSW_M
    else:
        scan = float(sum(sizes))
    return float(scan + rescore)


def _ranks_in(found: np.ndarray, targets: np.ndarray, absent: int) -> np.ndarray:
    """Position of each target in its query's row of ``found`` (``absent`` where missing).

    ``found`` (Q, n) holds each query's ranked item positions (-1 for none),
    ``targets`` (Q, ...) item positions (-1 for none); rows are made disjoint
    by an offset per query, so one sort and one binary search serve all.
    """
    Qn, n = found.shape
    stride = int(max(found.max(initial=0), targets.max(initial=0))) + 2
    offset = (np.arange(Qn, dtype=np.int64) * stride)[:, None]
    keys = (found + 1 + offset).ravel()
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    wanted = (targets.reshape(Qn, -1) + 1 + offset).ravel()
    at = np.minimum(np.searchsorted(sorted_keys, wanted), sorted_keys.size - 1)
    ok = (sorted_keys[at] == wanted) & (targets.reshape(-1) >= 0)
    ranks = np.where(ok, order[at] % max(n, 1), absent)
    return ranks.reshape(targets.shape)


def calibrate_index(
    index: CatalogIndex,
    matrices: Sequence[np.ndarray],
    mask: np.ndarray,
    *,
    target_recall: float,
    k: int,
    queries: np.ndarray | None,
    n_queries: int,
    n_probe: int | None,
    random_state: int,
) -> dict[str, Any]:
    """Choose the cheapest ``(n_probe, n_candidates)`` whose recall@k reaches the target.

    The recall of one query is the *worst*, over the exact top-k lists of
    :func:`exact_lists` for the weightings of :func:`list_weights` (each
    component, the static fusion, each pair of components), of
    the fraction of the list found in the union of candidates; the recall of
    a setting is its mean over the calibration queries. A strategy re-scores
    the candidates exactly, so an item missing from the union is the only way
    it can lose recall. Settings are ranked by :func:`_cost`; the index's
    ``n_probe`` is set to the choice and the record is returned (and stored on
    the index). When no setting reaches the target, the one of highest recall
    is kept and a warning says so.

    Parameters
    ----------
    index : CatalogIndex
        The built index (its ``n_probe`` is changed).
    matrices, mask
        The catalog's component matrices and presence mask.
    target_recall : float
        In (0, 1].
    k : int
        Length of the lists whose recall is measured.
    queries : ndarray of shape (n_queries, dim) or None
        Calibration queries (checked and normalised); None draws
        ``n_queries`` :func:`pseudo_queries`.
    n_queries : int
        Pseudo-queries drawn when ``queries`` is None.
    n_probe : int or None
        Keep this search breadth and calibrate only ``n_candidates``.
    random_state : int
        Seed of the pseudo-queries.
    """
    dim = index.identity["dim"]
    n_items = index.identity["n_items"]
    source = "pseudo" if queries is None else "given"
    rng = np.random.default_rng([random_state, 1])
    Q = pseudo_queries(matrices, mask, n_queries, rng) if queries is None else queries
    Q = _check_queries(Q, dim)
    kk = min(k, n_items)
    # (Q, L, kk) truth positions; a list's length is the number of items it ranks.
    T = exact_lists(matrices, mask, list_weights(index.fused_weights), Q, kk)
    valid = T >= 0
    lengths = np.maximum(valid.sum(axis=2), 1)
    grid = [n for n in _CANDIDATE_GRID if kk <= n < n_items] + [min(n_items, _CANDIDATE_GRID[-1])]
    grid = sorted({max(n, kk) for n in grid})
    n_max = grid[-1]
    faiss_indexes = index.indexes()
    best: tuple[float, float, int, int] | None = None  # (-recall, cost, probe, n) if unmet
    chosen: tuple[float, int, int, float] | None = None  # (cost, probe, n, recall)
    for probe in _probe_grid(index, n_probe):
        index.n_probe = probe
        # Rank of each truth item in each index's result list (n_max when absent).
        first = np.full(T.shape, n_max, dtype=np.int64)
        for fx in faiss_indexes:
            found = fx.search(Q, min(n_max, int(fx.ntotal)))[1]
            np.minimum(first, _ranks_in(found, T, n_max), out=first)
        for n in grid:
            per_list = ((first < n) & valid).sum(axis=2) / lengths
            recall = float(per_list.min(axis=1).mean())
            cost = _cost(index, probe, n)
            if recall >= target_recall:
                if chosen is None or cost < chosen[0]:
                    chosen = (cost, probe, n, recall)
                break  # larger n at this probe only cost more
            if best is None or (-recall, cost) < best[:2]:
                best = (-recall, cost, probe, n)
        if chosen is not None and _cost(index, probe, kk) >= chosen[0]:
            break  # wider probes cost more than the choice, whatever their candidate count
    if chosen is not None:
        _, probe, n, recall = chosen
    else:
        assert best is not None
        recall, probe, n = -best[0], best[2], best[3]
        warnings.warn(
            f"target_recall={target_recall} was not reached on the {Q.shape[0]} calibration "
            f"queries: the best setting (n_probe={probe}, n_candidates={n}) gives recall@{kk} "
            f"{recall:.4f}. Build with more lists probed (kind='flat' is exact) or a lower "
            "target.",
            UserWarning,
            stacklevel=4,
        )
    index.n_probe = probe
    record = {
        "target_recall": float(target_recall),
        "k": int(kk),
        "n_queries": int(Q.shape[0]),
        "queries": source,
        "n_probe": int(probe),
        "n_candidates": int(n),
        "recall": float(recall),
        "recall_lower": min(
            float(recall), wilson_lower_bound(recall * Q.shape[0] * kk, Q.shape[0] * kk)
        ),
    }
    index.calibration = check_calibration(record, "The ANN index")
    return index.calibration
