"""Encoding a catalog stored as Parquet across a Dask cluster, one task per shard."""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import shutil
import tempfile
import uuid
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..catalog import Catalog, _build
from ._common import get_client, require_dask

__all__ = ["ShardSchemaError", "encode_parquet"]

# v2: the ``missing`` policy and per-shard masks (a v1 shard is never read as a v2 one).
_FINGERPRINT_VERSION = b"skfusion-dask-encode-v2\0"


class ShardSchemaError(ValueError):
    """Finished shards of one build disagree (component names, dimension or dtype)."""


@dataclass(frozen=True)
class _Shard:
    """Rows ``[start, stop)`` of one Parquet file; global rows from ``offset``."""

    k: int
    file: str
    start: int
    stop: int
    offset: int


class _ShiftedIds:
    """Item ids of one shard, indexed by global row (for error messages)."""

    def __init__(self, ids: np.ndarray, offset: int) -> None:
        self.ids = ids
        self.offset = offset

    def __getitem__(self, row: int) -> Any:
        return self.ids[row - self.offset]


def _parquet_files(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.is_dir():
            files = sorted(str(p) for p in path.rglob("*.parquet") if p.is_file())
            if not files:
                raise ValueError(f"{path} holds no *.parquet file.")
            return files
        if not path.is_file():
            raise FileNotFoundError(f"No Parquet file or directory at {path}.")
        return [str(path)]
    files = [os.fspath(p) for p in source]
    if not files:
        raise ValueError("source is an empty list of Parquet files.")
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise FileNotFoundError(f"Parquet file(s) not found: {missing[:3]}.")
    return files


def _specs(encoders: Mapping[str, Any]) -> list[_build.Spec]:
    if not encoders:
        raise ValueError("encode_parquet needs at least one component encoder.")
    specs = []
    for name, spec in encoders.items():
        column, encoder = spec if isinstance(spec, tuple) else (name, spec)
        specs.append(_build.Spec(str(name), column, encoder))
    return specs


def _read_rows(file: str, start: int, stop: int, columns: list[str]) -> Any:
    """Rows ``[start, stop)`` of a Parquet file as a pandas DataFrame."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(file)
    groups, first, seen = [], None, 0
    for g in range(pf.metadata.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        if seen + n > start and seen < stop:
            groups.append(g)
            first = seen if first is None else first
        seen += n
    table = pf.read_row_groups(groups, columns=columns)
    return table.slice(start - (first or 0), stop - start).to_pandas()


def _encode_shard(
    shard: _Shard,
    specs: list[_build.Spec],
    id_column: str | None,
    policy: str,
    duplicates: list[tuple[int, int]],
    fp: str,
    shards_dir: str,
    missing: str = "mask",
) -> int:
    """Encode one shard on a worker and write it atomically; return its number of items."""
    columns = sorted({str(s.column) for s in specs} | ({id_column} if id_column else set()))
    frame = _read_rows(shard.file, shard.start, shard.stop, columns)
    n = len(frame)
    encoders = {s.name: (s.column, s.encoder) for s in specs}
    # Ids are checked for duplicates globally by the client (``duplicates``).
    prepared = _build.prepare(frame, encoders, None, "skip", missing)
    ids = frame[id_column].to_numpy() if id_column else np.arange(shard.offset, shard.offset + n)
    dup_rejections = []
    for row, first in duplicates:
        local = row - shard.offset
        prepared.alive[local] = False
        dup_rejections.append(
            _build.Rejection(local, None, f"duplicate id; the item at row {first} keeps this id")
        )
    # Like ``prepare``, a duplicated id comes before the cell problems of its row.
    prepared.rejected = sorted([*dup_rejections, *prepared.rejected], key=lambda r: r.row)
    shifted = [
        _build.Rejection(r.row + shard.offset, r.component, r.reason, r.missing)
        for r in prepared.rejected
    ]
    report = _build.Prepared(specs, _ShiftedIds(ids, shard.offset), {}, prepared.alive)  # type: ignore[arg-type]
    if shifted and policy == "raise":
        raise _build.rejection_error(report, min(shifted, key=lambda r: r.row))
    encoded = _build.encode_rows(prepared, np.arange(n), "skip")
    found = [
        _build.Rejection(r.row + shard.offset, r.component, r.reason, r.missing)
        for r in encoded.rejected
    ]
    if found and policy == "raise":
        raise _build.rejection_error(report, min(found, key=lambda r: r.row))
    encoded.rows = encoded.rows + shard.offset
    encoded.rejected = sorted([*shifted, *found], key=lambda r: r.row)
    _build.write_shard(Path(shards_dir), shard.k, fp, prepared, encoded, span=_span(shard))
    return int(encoded.rows.shape[0])


def _span(shard: _Shard) -> tuple[int, int]:
    """The global rows a shard encodes."""
    return shard.offset, shard.offset + shard.stop - shard.start


def _shard_done(shards: Path, k: int, fp: str, span: tuple[int, int]) -> bool:
    """Whether shard ``k`` is finished and intact: its checksum file matches, it belongs to
    this build (fingerprint) and it encodes the global rows ``span`` (not swapped or renamed).
    Anything else is encoded again."""
    if not _build.shard_checksum_ok(shards, k):
        return False
    try:
        with np.load(_build._shard_path(shards, k), allow_pickle=False) as data:
            if "span" not in data.files or tuple(data["span"].tolist()) != tuple(span):
                return False
            return str(data["fingerprint"]) == fp
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return False


@dataclass
class _ShardInfo:
    rows: np.ndarray
    rejected: list[_build.Rejection]
    encoder_ids: dict[str, str | None]
    dims: list[int]
    masks: np.ndarray


def _array_header(archive: zipfile.ZipFile, key: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    with archive.open(f"{key}.npy") as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    return tuple(shape), np.dtype(dtype)


def _inspect_shard(path: Path, k: int, fp: str, names: list[str]) -> _ShardInfo:
    """Read a finished shard's metadata and check its schema (without its embeddings)."""
    if not path.is_file():
        raise FileNotFoundError(
            f"Shard {k} ({path}) is missing: it was removed after it was written. Run "
            "encode_parquet again with the same arguments to encode it again."
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["fingerprint"]) != fp:
                raise ShardSchemaError(f"Shard {k} ({path}) belongs to another build.")
            stored = json.loads(str(data["components"]))
            rows = np.asarray(data["rows"], dtype=np.intp)
            rejected = [
                _build.Rejection(int(e["row"]), e["component"], str(e["reason"]))
                for e in json.loads(str(data["errors"]))
            ]
            encoder_ids = json.loads(str(data["encoder_ids"]))
            masks = np.asarray(data["masks"])
        with zipfile.ZipFile(path) as archive:
            headers = [_array_header(archive, f"component_{c}") for c in range(len(names))]
    except (KeyError, OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        if isinstance(exc, ShardSchemaError):
            raise
        raise ShardSchemaError(
            f"Shard {k} ({path}) is truncated or unreadable ({type(exc).__name__}: {exc}); "
            "delete it and run encode_parquet again to encode it again."
        ) from exc
    if stored != names:
        raise ShardSchemaError(
            f"Shard {k} ({path}) holds components {stored}, but this build encodes {names}."
        )
    if masks.dtype != np.bool_ or masks.shape != (len(names), rows.shape[0]):
        raise ShardSchemaError(
            f"Shard {k} ({path}) holds masks of dtype {masks.dtype} and shape {masks.shape} "
            f"for {len(names)} components and {rows.shape[0]} items."
        )
    dims = []
    for c, (name, (shape, dtype)) in enumerate(zip(names, headers, strict=True)):
        if rows.size == 0:
            dims.append(-1)
            continue
        if dtype != np.float32:
            raise ShardSchemaError(
                f"Component {name!r} of shard {k} ({path}) has dtype {dtype}; shards hold float32."
            )
        if len(shape) != 2 or shape[0] != rows.shape[0]:
            raise ShardSchemaError(
                f"Component {name!r} of shard {k} ({path}) has shape {shape} for "
                f"{rows.shape[0]} items."
            )
        # A component missing in every row of the shard has zero rows of another's width.
        dims.append(int(shape[1]) if masks[c].any() else -1)
    return _ShardInfo(rows, rejected, encoder_ids, dims, masks)


def _fingerprint(
    files: list[str],
    counts: list[int],
    specs: list[_build.Spec],
    id_column: str | None,
    ids: np.ndarray,
    policy: str,
    shard_size: int,
    missing: str,
) -> str:
    digest = hashlib.sha256(_FINGERPRINT_VERSION)
    header = {
        "files": [
            [os.path.abspath(f), os.stat(f).st_size, os.stat(f).st_mtime_ns, n]
            for f, n in zip(files, counts, strict=True)
        ],
        "components": [
            [s.name, repr(s.column), _build._encoder_identity(s.encoder)] for s in specs
        ],
        "id_column": id_column,
        "on_error": policy,
        "missing": missing,
        "shard_size": shard_size,
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    digest.update(json.dumps([_build._json_id(i) for i in ids.tolist()], default=repr).encode())
    return digest.hexdigest()


def _assemble(
    root: Path,
    shards: Path,
    plan: list[_Shard],
    fp: str,
    specs: list[_build.Spec],
    prepared: _build.Prepared,
) -> Catalog:
    """Stream the finished shards into one catalog directory at ``root``."""
    names = [s.name for s in specs]
    infos = [_inspect_shard(_build._shard_path(shards, s.k), s.k, fp, names) for s in plan]
    dim: int | None = None
    first = ""
    for s, info in zip(plan, infos, strict=True):
        for name, d in zip(names, info.dims, strict=True):
            if d < 0:
                continue
            if dim is None:
                dim, first = d, f"component {name!r} of shard {s.k}"
            elif d != dim:
                raise ShardSchemaError(
                    f"Component {name!r} of shard {s.k} has dimension {d}, but {first} has "
                    f"dimension {dim}: every component of every shard must have one dimension."
                )
    rejected = [*prepared.rejected, *(r for info in infos for r in info.rejected)]
    n_kept = sum(int(info.rows.shape[0]) for info in infos)
    _build.check_not_empty(prepared, rejected, n_kept)
    masks = {
        name: np.concatenate([info.masks[c] for info in infos]) for c, name in enumerate(names)
    }
    _build.check_components_present(specs, masks)
    assert dim is not None
    encoder_ids: dict[str, str | None] = {}
    for name in names:
        found = {
            str(e)
            for info in infos
            if info.masks[names.index(name)].any() and (e := info.encoder_ids.get(name))
        }
        if len(found) > 1:
            raise ShardSchemaError(
                f"Component {name!r} was encoded by different encoders in different shards: "
                f"{sorted(found)}."
            )
        encoder_ids[name] = found.pop() if found else None
    root.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{root.name}.assembly.", dir=root.parent))
    try:
        mats = {
            name: np.lib.format.open_memmap(
                scratch / f"{c}.npy", mode="w+", dtype=np.float32, shape=(n_kept, dim)
            )
            for c, name in enumerate(names)
        }
        at = 0
        for s, info in zip(plan, infos, strict=True):
            m = int(info.rows.shape[0])
            if m == 0:
                continue
            with np.load(_build._shard_path(shards, s.k), allow_pickle=False) as data:
                for c, name in enumerate(names):
                    if info.masks[c].any():
                        mats[name][at : at + m] = data[f"component_{c}"]
                    else:  # all missing here: zero rows, whatever width the shard gave them
                        mats[name][at : at + m] = 0.0
            at += m
        for mat in mats.values():
            mat.flush()
        del mats
        arrays = {
            name: np.load(scratch / f"{c}.npy", mmap_mode="r") for c, name in enumerate(names)
        }
        rows = np.concatenate([info.rows for info in infos])
        catalog = Catalog(
            arrays,
            prepared.ids[rows],
            encoder_ids=encoder_ids,
            masks=masks,
            modalities=_build.declared_modalities(specs),
        )
        catalog._errors = _build.error_records(prepared, rejected)
        catalog._write(root, overwrite=True, extra=_build.build_info(fp))
        del catalog, arrays
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return Catalog.load(root)


def encode_parquet(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    encoders: Mapping[str, Any],
    path: str | os.PathLike[str],
    *,
    client: Any = None,
    id_column: str | None = "id",
    on_error: Literal["raise", "skip"] = "raise",
    shard_size: int = 1024,
    resume: bool = True,
    missing: Literal["mask", "error"] = "mask",
) -> Catalog:
    """Embed a catalog stored as Parquet on a Dask cluster into a catalog directory.

    The rows are split into shards of at most ``shard_size`` rows (a shard
    never spans two files); each shard is one Dask task that reads its rows
    from the Parquet file, checks and encodes them with the same encoder
    objects as :meth:`skfusion.Catalog.build` (the encoders are pickled with
    their parameters only and load their models on the worker) and writes
    its embeddings atomically to ``path/.shards/`` in ``Catalog.build``'s
    shard format. The client then checks the shards against each other and
    streams them into one catalog directory at ``path``, which
    :meth:`skfusion.Catalog.load` reads.

    If a task fails (a worker dies, a model cannot load, an encoder
    raises), the other tasks still run to the end and an error says how
    many shards are finished; running ``encode_parquet`` again with the same
    arguments encodes only the missing shards. The Parquet files and the
    catalog directory must be on storage that the client and every worker
    see at the same paths (a shared file system).

    Parameters
    ----------
    source : path-like or sequence of path-like
        A Parquet file, a directory of ``*.parquet`` files (read in sorted
        order, recursively) or a list of files.
    encoders : mapping of str to encoder or (column, encoder)
        As for :meth:`skfusion.Catalog.from_frame`.
    path : path-like
        The catalog directory to create.
    client : distributed.Client, optional
        The cluster to run on; the current default client when omitted.
    id_column : str or None, default="id"
        Column holding item ids; None numbers the rows of all files in order.
    on_error : {"raise", "skip"}, default="raise"
        As for :meth:`skfusion.Catalog.from_frame`. Duplicated ids are found
        before any encoding; under ``"raise"`` the first one raises at once.
    shard_size : int, default=1024
        Rows per shard (per task).
    resume : bool, default=True
        Reuse the finished shards (or the finished catalog) of an earlier
        run with the same inputs; False starts over.
    missing : {"mask", "error"}, default="mask"
        As for :meth:`skfusion.Catalog.from_frame`: a missing cell (None,
        NaN, ``pd.NA``, empty or whitespace-only text) masks its component
        for that item, or under ``"error"`` rejects the item. Each shard
        stores its masks beside its embeddings.

    Returns
    -------
    Catalog
        ``Catalog.load(path)``, with ``errors_``.

    Raises
    ------
    ImportError
        If dask.distributed or pyarrow is not installed.
    ValueError
        No client; a missing column; a rejected item under ``on_error="raise"``
        (:class:`~skfusion.CatalogBuildError`); resuming a build of different
        inputs; every item rejected; a component missing for every kept item.
    ShardSchemaError
        Finished shards disagree on component names, dimension, dtype or
        encoder, or a shard file is truncated.
    RuntimeError
        Some shard tasks failed; the message says how many shards are
        finished and that a rerun resumes from them.

    Notes
    -----
    The inputs are fingerprinted by the Parquet files' absolute paths,
    sizes, modification times and row counts, the item ids, each encoder's
    class, parameters and model fingerprint, ``id_column``, ``on_error``,
    ``missing`` and ``shard_size``; resuming after any of them changed
    raises, and so does resuming a run started before ``missing`` existed
    (its shards have no masks).
    """
    require_dask()
    import pyarrow.parquet as pq

    policy = _build.check_policy(on_error)
    masking = _build.check_missing(missing)
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ValueError(f"shard_size must be a positive integer, got {shard_size!r}.")
    client = get_client(client)
    files = _parquet_files(source)
    specs = _specs(encoders)
    counts: list[int] = []
    for f in files:
        meta = pq.ParquetFile(f)
        columns = set(meta.schema_arrow.names)
        wanted = [s.column for s in specs] + ([id_column] if id_column else [])
        absent = [c for c in wanted if c not in columns]
        if absent:
            raise ValueError(
                f"Column(s) {absent} are not in {f}; its columns are {sorted(columns)}."
            )
        counts.append(int(meta.metadata.num_rows))
    n = sum(counts)
    if n == 0:
        raise ValueError("The Parquet files have no rows: a catalog needs at least one item.")
    if id_column is not None:
        ids = np.concatenate(
            [pq.read_table(f, columns=[id_column]).column(0).to_numpy() for f in files]
        )
    else:
        ids = np.arange(n)
    prepared = _build.Prepared(specs, ids, {}, np.ones(n, dtype=bool))
    first_row: dict[Any, int] = {}
    duplicates: dict[int, int] = {}
    for row, item_id in enumerate(ids.tolist()):
        first = first_row.setdefault(item_id, row)
        if first != row:
            duplicates[row] = first
    if duplicates and policy == "raise":
        row = min(duplicates)
        reason = f"duplicate id; the item at row {duplicates[row]} keeps this id"
        raise _build.rejection_error(prepared, _build.Rejection(row, None, reason))
    plan: list[_Shard] = []
    offset = 0
    for f, count in zip(files, counts, strict=True):
        for start in range(0, count, shard_size):
            stop = min(start + shard_size, count)
            plan.append(_Shard(len(plan), f, start, stop, offset + start))
        offset += count
    fp = _fingerprint(files, counts, specs, id_column, ids, policy, shard_size, masking)
    root = Path(path)
    shards = _build.start_shards(root, fp, bool(resume))
    if shards is None:
        return Catalog.load(root)
    todo = [s for s in plan if not _shard_done(shards, s.k, fp, _span(s))]
    if todo:
        _run(
            client, todo, plan, specs, id_column, policy, duplicates, fp, shards, prepared, masking
        )
    return _assemble(root, shards, plan, fp, specs, prepared)


def _run(
    client: Any,
    todo: list[_Shard],
    plan: list[_Shard],
    specs: list[_build.Spec],
    id_column: str | None,
    policy: str,
    duplicates: dict[int, int],
    fp: str,
    shards: Path,
    prepared: _build.Prepared,
    missing: str,
) -> None:
    from distributed import wait

    run = uuid.uuid4().hex[:8]  # fresh keys: never reuse a failed task of an earlier run
    futures = []
    dup_rows = sorted(duplicates)
    for s in todo:
        lo = bisect.bisect_left(dup_rows, s.offset)
        hi = bisect.bisect_left(dup_rows, s.offset + s.stop - s.start)
        dups = [(r, duplicates[r]) for r in dup_rows[lo:hi]]
        futures.append(
            client.submit(
                _encode_shard,
                s,
                specs,
                id_column,
                policy,
                dups,
                fp,
                str(shards),
                missing,
                key=f"skfusion-encode-{fp[:8]}-{s.k}-{run}",
                pure=False,
                retries=0,
            )
        )
    wait(futures)
    failed: list[tuple[_Shard, BaseException]] = []
    for s, future in zip(todo, futures, strict=True):
        if future.status == "finished":
            continue
        try:
            exc = future.exception()
        except BaseException as cancelled:  # a cancelled future raises instead
            exc = cancelled
        failed.append((s, exc if exc is not None else RuntimeError(future.status)))
    if not failed:
        return
    rejections = [e for _, e in failed if isinstance(e, _build.CatalogBuildError)]
    if rejections:
        raise min(rejections, key=lambda e: e.row)
    done = sum(_shard_done(shards, s.k, fp, _span(s)) for s in plan)
    shard, exc = failed[0]
    where = f"rows {shard.start}..{shard.stop - 1} of {shard.file}"
    raise RuntimeError(
        f"{len(failed)} of {len(todo)} shard task(s) failed; the first, shard {shard.k} "
        f"({where}), raised {type(exc).__name__}: {exc}. {done} of {len(plan)} shards are "
        f"finished in {shards}; run encode_parquet again with the same arguments to resume "
        "from them."
    ) from exc
