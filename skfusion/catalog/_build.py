"""Building catalogs from DataFrames: per-item checks, the bad-input policy and
resumable, sharded builds (``Catalog.from_frame`` and ``Catalog.build``)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from .._arrays import encoder_id_of
from .._validation import as_label
from ._storage import fsync_dir, sha256_file

if TYPE_CHECKING:
    from ._catalog import Catalog

__all__ = ["CatalogBuildError", "build", "from_frame"]

_POLICIES = ("raise", "skip")
_MISSING_POLICIES = ("mask", "error")
#: The reason of an item whose every component is missing (``missing="mask"``).
ALL_MISSING = "every component is missing"
#: Exceptions an encoder raises for one bad item (and that ``on_error="skip"`` reports).
_ITEM_ERRORS: tuple[type[Exception], ...] = (ValueError, TypeError, OSError, ArithmeticError)
_SHARDS = ".shards"
_STATE = "fingerprint.json"
_BUILD_INFO = "build.json"
# v2: the ``missing`` policy and per-shard masks (a v1 shard is never read as a v2 one).
_FINGERPRINT_VERSION = b"skfusion-build-v2\0"


class CatalogBuildError(ValueError):
    """An item was rejected while a catalog was built from a DataFrame.

    Parameters
    ----------
    message : str
        The full message.
    item_id : object
        The item's id.
    component : str or None
        The component that failed; None for problems of the whole item
        (a duplicated id).
    row : int
        The item's position in the frame.
    reason : str
        Why the item was rejected.
    """

    def __init__(
        self, message: str, *, item_id: Any, component: str | None, row: int, reason: str
    ) -> None:
        super().__init__(message)
        self.item_id = item_id
        self.component = component
        self.row = row
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_error, (self.args[0], self.item_id, self.component, self.row, self.reason))


def _rebuild_error(
    message: str, item_id: Any, component: str | None, row: int, reason: str
) -> CatalogBuildError:
    return CatalogBuildError(message, item_id=item_id, component=component, row=row, reason=reason)


@dataclass
class Spec:
    """One component: its name, source column and encoder."""

    name: str
    column: Any
    encoder: Any


@dataclass
class Rejection:
    """One rejected (item, component)."""

    row: int
    component: str | None
    reason: str
    missing: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"row": self.row, "component": self.component, "reason": self.reason}


@dataclass
class Prepared:
    """A frame checked cell by cell: values to encode, live rows, rejections.

    ``present`` maps a component to which rows hold a value to encode (False:
    a missing cell masked under ``missing="mask"``); a component it does not
    name is present in every row.
    """

    specs: list[Spec]
    ids: np.ndarray
    values: dict[str, list[Any]]
    alive: np.ndarray
    rejected: list[Rejection] = field(default_factory=list)
    present: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Encoded:
    """The embeddings of the kept rows of one block of rows.

    ``arrays[name]`` has one row per kept row (``rows``); the rows where
    ``masks[name]`` is False (a missing cell) are zero.
    """

    rows: np.ndarray
    arrays: dict[str, np.ndarray]
    rejected: list[Rejection]
    encoder_ids: dict[str, str | None]
    masks: dict[str, np.ndarray]


def check_policy(on_error: Any) -> str:
    if on_error not in _POLICIES:
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}.")
    return str(on_error)


def check_missing(missing: Any) -> str:
    if missing not in _MISSING_POLICIES:
        raise ValueError(f"missing must be 'mask' or 'error', got {missing!r}.")
    return str(missing)


def _json_id(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")


def _check_cell(value: Any) -> tuple[Any, str | None, str]:
    """The value to encode, why it cannot be (None when fine) and the kind of problem.

    The kind is ``"ok"``, ``"absent"`` (None, NaN, ``pd.NA``, ``pd.NaT``),
    ``"blank"`` (empty or whitespace-only text or UTF-8 bytes) or ``"bad"``
    (bytes that are not UTF-8). Absent and blank cells are the missing ones.
    """
    if _is_missing(value):
        return value, f"the value is missing ({value!r})", "absent"
    if isinstance(value, bytes | bytearray):
        try:
            value = bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            return value, f"the value is bytes that are not valid UTF-8 text ({exc})", "bad"
    if isinstance(value, str) and not value.strip():
        what = "empty" if not value else "whitespace-only"
        return value, f"the text is {what}", "blank"
    return value, None, "ok"


def reason_of(exc: BaseException) -> str:
    """A one-line reason for an encoder's exception."""
    from ..encoders._image_io import ImageLoadError

    if isinstance(exc, ImageLoadError):
        return f"could not load the image {exc.source}: {exc.reason}"
    return f"{type(exc).__name__}: {exc}"


def rejection_error(prepared: Prepared, rejection: Rejection) -> CatalogBuildError:
    """The exception ``on_error="raise"`` raises for ``rejection``."""
    item = as_label(prepared.ids[rejection.row])
    if rejection.component is None:
        message = f"Item {item!r} (row {rejection.row}) is rejected: {rejection.reason}."
    else:
        spec = next(s for s in prepared.specs if s.name == rejection.component)
        what = "is missing" if rejection.missing else "cannot be encoded"
        message = (
            f"Component {spec.name!r} (column {spec.column!r}) {what} for item {item!r} "
            f"(row {rejection.row}): {rejection.reason}."
        )
    return CatalogBuildError(
        message,
        item_id=_json_id(prepared.ids[rejection.row]),
        component=rejection.component,
        row=rejection.row,
        reason=rejection.reason,
    )


def prepare(
    frame: Any,
    encoders: Mapping[str, Any],
    id_column: str | None,
    on_error: str,
    missing: str = "error",
) -> Prepared:
    """Check the frame's columns and every cell; reject bad items or raise.

    Duplicated ids keep their first row; later rows are rejected. Under
    ``missing="mask"`` a missing cell is marked absent in ``present`` instead
    of rejected, and an item whose every component is missing is rejected
    (component None, reason :data:`ALL_MISSING`).
    """
    if not hasattr(frame, "columns"):
        raise TypeError(f"from_frame expects a pandas DataFrame, got {type(frame).__name__}.")
    if not encoders:
        raise ValueError("from_frame needs at least one component encoder.")
    if id_column is not None and id_column not in frame.columns:
        raise ValueError(
            f"id_column {id_column!r} is not a column; columns are {list(frame.columns)}. "
            "Name the column holding the item ids, or pass id_column=None to use the "
            "frame's index as ids."
        )
    specs: list[Spec] = []
    for name, spec in encoders.items():
        column, encoder = spec if isinstance(spec, tuple) else (name, spec)
        if column not in frame.columns:
            raise ValueError(
                f"Component {name!r} reads column {column!r}, which is not in the frame; "
                f"columns are {list(frame.columns)}."
            )
        specs.append(Spec(str(name), column, encoder))
    n = len(frame)
    if n == 0:
        raise ValueError("The frame has no rows: a catalog needs at least one item.")
    ids = frame[id_column].to_numpy() if id_column is not None else frame.index.to_numpy()
    prepared = Prepared(specs, ids, {}, np.ones(n, dtype=bool))
    rejected: list[Rejection] = []
    seen: dict[Any, int] = {}
    for row, item_id in enumerate(ids.tolist()):
        first = seen.setdefault(item_id, row)
        if first != row:
            rejected.append(
                Rejection(row, None, f"duplicate id; the item at row {first} keeps this id")
            )
    mask = missing == "mask"
    for spec in specs:
        cleaned: list[Any] = []
        present = np.ones(n, dtype=bool)
        for row, value in enumerate(frame[spec.column].tolist()):
            value, reason, kind = _check_cell(value)
            cleaned.append(value)
            if reason is None:
                continue
            if mask and kind != "bad":
                present[row] = False
            else:
                rejected.append(Rejection(row, spec.name, reason, kind == "absent"))
        prepared.values[spec.name] = cleaned
        prepared.present[spec.name] = present
    if mask:
        nothing = ~np.logical_or.reduce([prepared.present[s.name] for s in specs])
        rejected.extend(Rejection(int(row), None, ALL_MISSING) for row in np.flatnonzero(nothing))
    rejected.sort(key=lambda r: r.row)
    if rejected and on_error == "raise":
        raise rejection_error(prepared, rejected[0])
    for r in rejected:
        prepared.alive[r.row] = False
    prepared.rejected = rejected
    return prepared


def _encode_partial(
    encoder: Any, items: list[Any]
) -> tuple[np.ndarray, np.ndarray, dict[int, Exception], str | None]:
    """Encode ``items``; return embeddings of the good ones, their positions and the errors."""
    partial = getattr(encoder, "transform_partial", None)
    if callable(partial):
        emb, ok, reported = partial(items)
        return np.asarray(emb), np.asarray(ok, dtype=np.intp), dict(reported), encoder_id_of(emb)
    try:
        emb = encoder.transform(items)
    except _ITEM_ERRORS as batch_exc:
        # Find the bad items one by one, then encode the good ones together.
        errors: dict[int, Exception] = {}
        for i, item in enumerate(items):
            try:
                encoder.transform([item])
            except _ITEM_ERRORS as exc:
                errors[i] = exc
        if not errors:
            raise batch_exc
        ok = np.asarray([i for i in range(len(items)) if i not in errors], dtype=np.intp)
        if ok.size == 0:
            return np.zeros((0, 0), dtype=np.float32), ok, errors, None
        emb = encoder.transform([items[i] for i in ok])
        return np.asarray(emb), ok, errors, encoder_id_of(emb)
    return np.asarray(emb), np.arange(len(items), dtype=np.intp), {}, encoder_id_of(emb)


def encode_rows(prepared: Prepared, rows: np.ndarray, on_error: str) -> Encoded:
    """Encode the live rows among ``rows`` with every component's encoder.

    Only the present cells of a component are sent to its encoder. An item
    rejected by one component is not encoded by the following ones.
    """
    alive = np.asarray([r for r in rows.tolist() if prepared.alive[r]], dtype=np.intp)
    rejected: list[Rejection] = []
    done: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    encoder_ids: dict[str, str | None] = {}
    for spec in prepared.specs:
        encoder_ids[spec.name] = None
        present = prepared.present.get(spec.name)
        todo = alive if present is None else alive[present[alive]]
        if todo.size == 0:
            continue
        values = prepared.values[spec.name]
        emb, ok, errors, enc_id = _encode_partial(spec.encoder, [values[r] for r in todo])
        encoder_ids[spec.name] = enc_id
        found = [Rejection(int(todo[i]), spec.name, reason_of(exc)) for i, exc in errors.items()]
        found.sort(key=lambda r: r.row)
        if found and on_error == "raise":
            raise rejection_error(prepared, found[0]) from errors[
                int(np.flatnonzero(todo == found[0].row)[0])
            ]
        rejected.extend(found)
        if emb.shape[0] != ok.shape[0]:
            raise ValueError(
                f"The encoder of component {spec.name!r} returned {emb.shape[0]} rows for "
                f"{ok.shape[0]} items."
            )
        if found:
            alive = alive[~np.isin(alive, [r.row for r in found])]
        if ok.size:
            done[spec.name] = (todo[ok].copy(), emb)
    # Missing rows are zero; a component without any row here takes the dimension of
    # another (every component of a catalog has one dimension).
    dim = next((emb.shape[1] for _, emb in done.values() if emb.ndim == 2), 0)
    arrays: dict[str, np.ndarray] = {}
    masks: dict[str, np.ndarray] = {}
    for spec in prepared.specs:
        if spec.name in done:
            encoded_rows, emb = done[spec.name]
            has = np.isin(alive, encoded_rows)
            arr = np.zeros((alive.size, emb.shape[1]), dtype=np.float32)
            order = np.argsort(encoded_rows, kind="stable")
            at = order[np.searchsorted(encoded_rows, alive[has], sorter=order)]
            arr[has] = emb[at]
        else:
            has = np.zeros(alive.size, dtype=bool)
            arr = np.zeros((alive.size, dim if alive.size else 0), dtype=np.float32)
        arrays[spec.name] = arr
        masks[spec.name] = has
    return Encoded(alive, arrays, rejected, encoder_ids, masks)


def declared_modalities(specs: list[Spec]) -> dict[str, str | None]:
    """What each component embeds, as its encoder declares it; None when it cannot tell.

    A :class:`~skfusion.TextEncoder` embeds text; a
    :class:`~skfusion.ClipEncoder` declares ``modality="text"`` or ``"image"``
    (with ``"auto"`` a column may hold both, so the modality stays unknown);
    any other encoder is unknown. Recorded in the catalog, it lets an image
    query against a catalog without an image component fail clearly.
    """
    from ..encoders import ClipEncoder, TextEncoder

    out: dict[str, str | None] = {}
    for spec in specs:
        enc = spec.encoder
        if isinstance(enc, TextEncoder):
            out[spec.name] = "text"
        elif isinstance(enc, ClipEncoder) and enc.modality in ("text", "image"):
            out[spec.name] = enc.modality
        else:
            out[spec.name] = None
    return out


def error_records(prepared: Prepared, rejected: Sequence[Rejection]) -> list[dict[str, Any]]:
    """Rejections as ``{"id", "component", "reason"}`` records in row order."""
    ordered = sorted(rejected, key=lambda r: r.row)
    return [
        {"id": _json_id(prepared.ids[r.row]), "component": r.component, "reason": r.reason}
        for r in ordered
    ]


def check_components_present(specs: Sequence[Spec], masks: Mapping[str, np.ndarray]) -> None:
    """Raise when a component is missing for every kept item (it would have no embedding)."""
    for spec in specs:
        if not masks[spec.name].any():
            raise ValueError(
                f"Component {spec.name!r} (column {spec.column!r}) is missing for every kept "
                "item (every cell is None, NaN, empty or whitespace-only, or its item was "
                "rejected): a catalog component needs at least one embedding. Leave it out "
                "of encoders."
            )


def check_some_present(prepared: Prepared) -> None:
    """Before encoding: raise when a component is missing in every live row."""
    if prepared.alive.any():
        check_components_present(
            prepared.specs,
            {
                s.name: prepared.present.get(s.name, prepared.alive) & prepared.alive
                for s in prepared.specs
            },
        )


def assemble(
    specs: Sequence[Spec], parts: Sequence[Encoded]
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray], dict[str, str | None]]:
    """The kept rows, component matrices, masks and encoder ids of encoded blocks."""
    kept = [p for p in parts if p.rows.size]
    rows = np.concatenate([p.rows for p in kept])
    masks = {s.name: np.concatenate([p.masks[s.name] for p in kept]) for s in specs}
    check_components_present(specs, masks)
    arrays: dict[str, np.ndarray] = {}
    encoder_ids: dict[str, str | None] = {}
    for spec in specs:
        with_rows = [p for p in kept if p.masks[spec.name].any()]
        dim = with_rows[0].arrays[spec.name].shape[1]
        blocks = [
            p.arrays[spec.name]
            if p.masks[spec.name].any()
            else np.zeros((p.rows.size, dim), dtype=np.float32)
            for p in kept
        ]
        arrays[spec.name] = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
        found = [p.encoder_ids.get(spec.name) for p in with_rows]
        encoder_ids[spec.name] = next((e for e in found if e is not None), None)
    return rows, arrays, masks, encoder_ids


def check_not_empty(prepared: Prepared, rejected: Sequence[Rejection], n_kept: int) -> None:
    if n_kept == 0:
        first = "; ".join(
            f"{as_label(prepared.ids[r.row])!r}: {r.reason}" for r in list(rejected)[:3]
        )
        raise ValueError(f"Every item was rejected ({len(rejected)} rejection(s), e.g. {first}).")


# -- resumable builds --------------------------------------------------------------


def _value_bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return b"s" + value.encode("utf-8", "surrogatepass")
    if isinstance(value, bytes | bytearray):
        return b"b" + bytes(value)
    if isinstance(value, os.PathLike):
        return b"p" + os.fsencode(value)
    if isinstance(value, Image.Image):
        head = f"{value.mode}:{value.size}".encode()
        return b"i" + head + b"\0" + value.tobytes()
    return f"{type(value).__qualname__}:{value!r}".encode()


def _encoder_identity(encoder: Any) -> str:
    cls = type(encoder)
    parts = [f"{cls.__module__}.{cls.__qualname__}"]
    get_params = getattr(encoder, "get_params", None)
    if callable(get_params):
        params = get_params(deep=False)
        # Settings that do not change the embeddings do not change the build.
        params.pop("show_progress", None)
        params.pop("num_workers", None)
        parts.append(repr(sorted((k, repr(v)) for k, v in params.items())))
    get_id = getattr(encoder, "get_encoder_id", None)
    if callable(get_id):
        parts.append(str(get_id()))
    return " ".join(parts)


def fingerprint(
    prepared: Prepared, frame: Any, on_error: str, shard_size: int, missing: str
) -> str:
    """SHA-256 of the build's inputs: ids, column contents, encoders and settings.

    Image files named by path are identified by their path, not their bytes.
    """
    digest = hashlib.sha256(_FINGERPRINT_VERSION)
    header = {
        "on_error": on_error,
        "missing": missing,
        "shard_size": shard_size,
        "n_rows": len(prepared.ids),
        "components": [
            [s.name, repr(s.column), _encoder_identity(s.encoder)] for s in prepared.specs
        ],
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    digest.update(json.dumps([_json_id(i) for i in prepared.ids.tolist()], default=repr).encode())
    for spec in prepared.specs:
        digest.update(f"\0column:{spec.name}\0".encode())
        for value in frame[spec.column].tolist():
            data = _value_bytes(value)
            digest.update(len(data).to_bytes(8, "little"))
            digest.update(data)
    return digest.hexdigest()


def write_atomic(path: Path, write: Callable[[Any], None]) -> None:
    """Write ``path`` through a temporary file in the same directory and rename it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _shard_path(shards: Path, k: int) -> Path:
    return shards / f"shard-{k:06d}.npz"


def _shard_checksum_path(shards: Path, k: int) -> Path:
    return shards / f"shard-{k:06d}.sha256"


def write_shard(
    shards: Path,
    k: int,
    fp: str,
    prepared: Prepared,
    encoded: Encoded,
    span: tuple[int, int] | None = None,
) -> None:
    """Write shard ``k`` atomically, then its SHA-256 beside it.

    ``span`` is the range of frame rows the shard encodes; it is stored in
    the shard, so a shard read back at another position is refused.
    """
    payload: dict[str, np.ndarray] = {
        "fingerprint": np.asarray(fp),
        "rows": encoded.rows.astype(np.int64),
        "errors": np.asarray(json.dumps([r.as_json() for r in encoded.rejected])),
        "encoder_ids": np.asarray(json.dumps(encoded.encoder_ids)),
        "components": np.asarray(json.dumps([spec.name for spec in prepared.specs])),
        # Row c: which kept rows hold component c (False: a masked missing cell).
        "masks": np.stack([encoded.masks[spec.name] for spec in prepared.specs]).astype(bool),
    }
    if span is not None:
        payload["span"] = np.asarray(span, dtype=np.int64)
    for c, spec in enumerate(prepared.specs):
        payload[f"component_{c}"] = encoded.arrays[spec.name]
    path = _shard_path(shards, k)
    write_atomic(path, lambda fh: np.savez(fh, **payload))  # type: ignore[arg-type]
    digest = sha256_file(path).encode()
    write_atomic(_shard_checksum_path(shards, k), lambda fh: fh.write(digest))


def shard_checksum_ok(shards: Path, k: int) -> bool:
    """Whether shard ``k`` and its checksum file exist and agree (no bit flip or truncation)."""
    path, check = _shard_path(shards, k), _shard_checksum_path(shards, k)
    if not path.is_file() or not check.is_file():
        return False
    try:
        return sha256_file(path) == check.read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return False


#: What reading a damaged shard can raise (it is then encoded again).
_SHARD_ERRORS = (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile)


def read_shard(
    shards: Path, k: int, fp: str, prepared: Prepared, span: tuple[int, int]
) -> Encoded | None:
    """Finished shard ``k`` of rows ``span``, or None when it must be encoded (again).

    None when the shard is absent, has no checksum file or fails its
    checksum (a bit flip, a truncated or empty file), belongs to other
    inputs, or holds another row range (shards swapped or renamed).
    """
    path = _shard_path(shards, k)
    if not shard_checksum_ok(shards, k):
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["fingerprint"]) != fp:
                return None
            if "span" not in data.files or tuple(data["span"].tolist()) != tuple(span):
                return None
            rows = np.asarray(data["rows"], dtype=np.intp)
            rejected = [
                Rejection(int(e["row"]), e["component"], str(e["reason"]))
                for e in json.loads(str(data["errors"]))
            ]
            encoder_ids = json.loads(str(data["encoder_ids"]))
            arrays = {
                spec.name: np.asarray(data[f"component_{c}"], dtype=np.float32)
                for c, spec in enumerate(prepared.specs)
            }
            stored_masks = np.asarray(data["masks"])
    except _SHARD_ERRORS:
        return None
    if stored_masks.dtype != np.bool_ or stored_masks.shape != (len(prepared.specs), rows.size):
        return None
    masks = {spec.name: stored_masks[c] for c, spec in enumerate(prepared.specs)}
    start, stop = span
    inside = [int(r) for r in rows.tolist()] + [r.row for r in rejected]
    if any(not start <= r < stop for r in inside):
        return None
    if rows.size and any(a.ndim != 2 or a.shape[0] != rows.shape[0] for a in arrays.values()):
        return None
    return Encoded(rows, arrays, rejected, encoder_ids, masks)


def start_shards(root: Path, fp: str, resume: bool) -> Path | None:
    """Prepare ``root/.shards`` for a build with fingerprint ``fp``.

    Returns None when ``root`` already holds the finished catalog of these
    inputs (and ``resume``).
    """
    shards = root / _SHARDS
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{root} exists and is not a directory.")
    if (root / "manifest.json").is_file():
        info_path = root / _BUILD_INFO
        same = False
        if info_path.is_file():
            try:
                same = json.loads(info_path.read_text(encoding="utf-8")).get("fingerprint") == fp
            except (OSError, ValueError):
                same = False
        if resume and same:
            return None
        if resume:
            raise FileExistsError(
                f"{root} holds a catalog that was not built from these inputs; pass "
                "resume=False to replace it, or choose another path."
            )
    elif root.is_dir():
        others = [p.name for p in root.iterdir() if p.name != _SHARDS]
        if others:
            raise FileExistsError(
                f"{root} exists and is neither a catalog nor a catalog build in progress "
                f"(it holds {sorted(others)[:3]}); choose another path."
            )
    state = shards / _STATE
    if shards.is_dir() and resume:
        try:
            stored = json.loads(state.read_text(encoding="utf-8")).get("fingerprint")
        except (OSError, ValueError):
            stored = None
        if stored is not None and stored != fp:
            raise ValueError(
                f"{shards} holds a partial build of different inputs (ids, column contents, "
                "encoders or settings changed since it was started); pass resume=False to "
                "discard it and start over."
            )
    elif shards.is_dir():
        shutil.rmtree(shards)
    shards.mkdir(parents=True, exist_ok=True)
    if not state.is_file():
        write_atomic(state, lambda fh: fh.write(json.dumps({"fingerprint": fp}).encode()))
    return shards


def build_info(fp: str) -> dict[str, str]:
    return {_BUILD_INFO: json.dumps({"fingerprint": fp})}


# -- the two builders ----------------------------------------------------------------


def from_frame(
    cls: type[Catalog],
    frame: Any,
    encoders: Mapping[str, Any],
    *,
    id_column: str | None,
    on_error: Any,
    missing: Any = "mask",
) -> Catalog:
    """:meth:`Catalog.from_frame`: embed every row at once."""
    policy = check_policy(on_error)
    absent = check_missing(missing)
    prepared = prepare(frame, encoders, id_column, policy, absent)
    check_some_present(prepared)
    encoded = encode_rows(prepared, np.arange(len(prepared.ids)), policy)
    rejected = [*prepared.rejected, *encoded.rejected]
    check_not_empty(prepared, rejected, encoded.rows.shape[0])
    rows, arrays, masks, encoder_ids = assemble(prepared.specs, [encoded])
    catalog = cls(
        arrays,
        prepared.ids[rows],
        encoder_ids=encoder_ids,
        masks=masks,
        modalities=declared_modalities(prepared.specs),
    )
    catalog._errors = error_records(prepared, rejected)
    return catalog


def build(
    cls: type[Catalog],
    frame: Any,
    encoders: Mapping[str, Any],
    path: str | os.PathLike[str],
    *,
    id_column: str | None,
    on_error: Any,
    shard_size: Any,
    resume: bool,
    missing: Any = "mask",
) -> Catalog:
    """:meth:`Catalog.build`: embed in resumable shards, save, and load the result."""
    policy = check_policy(on_error)
    absent = check_missing(missing)
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise ValueError(f"shard_size must be a positive integer, got {shard_size!r}.")
    root = Path(path)
    prepared = prepare(frame, encoders, id_column, policy, absent)
    check_some_present(prepared)
    fp = fingerprint(prepared, frame, policy, shard_size, absent)
    shards = start_shards(root, fp, bool(resume))
    if shards is None:
        return cls.load(root)
    n = len(prepared.ids)
    parts: list[Encoded] = []
    for k, start in enumerate(range(0, n, shard_size)):
        span = (start, min(start + shard_size, n))
        part = read_shard(shards, k, fp, prepared, span)
        if part is None:
            part = encode_rows(prepared, np.arange(*span), policy)
            write_shard(shards, k, fp, prepared, part, span)
        parts.append(part)
    rejected = [r for part in parts for r in part.rejected]
    rejected = [*prepared.rejected, *rejected]
    check_not_empty(prepared, rejected, sum(p.rows.shape[0] for p in parts))
    rows, arrays, masks, encoder_ids = assemble(prepared.specs, parts)
    catalog = cls(
        arrays,
        prepared.ids[rows],
        encoder_ids=encoder_ids,
        masks=masks,
        modalities=declared_modalities(prepared.specs),
    )
    catalog._errors = error_records(prepared, rejected)
    catalog._write(root, overwrite=True, extra=build_info(fp))
    return cls.load(root)
