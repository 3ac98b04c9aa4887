"""Catalog directories: writing, reading and pickling by reference.

A saved catalog is a directory of plain files (``.npy`` without pickle and
JSON) described by ``manifest.json``, which records every file's SHA-256.
Everything read from a catalog directory is untrusted input:

* the manifest is checked key by key (a ``ValueError`` names
  ``manifest.json`` and the key);
* only plain file names inside the directory, each used once, are opened; a
  symbolic link that leaves the directory is refused;
* ``.npy`` headers are checked against the manifest and the file's size
  before anything is allocated or mapped;
* the contents go through the same validation as
  :meth:`~skfusion.Catalog.from_arrays` (finite, unit or zero rows, Gram
  entries and means consistent with the components), block by block;
* the ANN index is bound to its catalog and read from the files opened at
  load time.

Writing goes through a temporary directory beside the destination that is
swapped into place atomically, under a lock on the parent directory.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ._index import INDEX_ENCODINGS, INDEX_KINDS, CatalogIndex, IndexFile, check_calibration

if TYPE_CHECKING:
    from ._catalog import Catalog

__all__ = ["SCHEMA_VERSION", "load", "reopen", "write"]

#: Version of the on-disk layout written by :meth:`Catalog.save`.
SCHEMA_VERSION = 1
_FORMAT = "skfusion.catalog"
_MANIFEST = "manifest.json"
_HASH_CHUNK = 1 << 24
#: Storage dtypes of component matrices.
STORAGE_DTYPES = ("float32", "float16")
#: Entries a catalog directory may hold besides the files its manifest lists:
#: the build record and the shards of a build in progress (``_build``).
_BUILD_ENTRIES = ("build.json", ".shards")
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: The arrays of a lexical (CSR) component, each saved as one ``.npy`` file.
_LEXICAL_PARTS = ("data", "indices", "indptr")
#: Index dtypes a saved lexical component may use.
_INDEX_DTYPES = ("int32", "int64")


# -- small helpers ---------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_dir(path: Path) -> None:
    """Flush a directory's entries (renames, new files) to disk, where the system allows."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _directory_lock(parent: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``parent`` (a no-op where flock is unavailable).

    Serialises the replacement of catalog directories in one parent across
    threads and processes, without leaving a lock file behind.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(parent, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories atomically (Linux ``renameat2(RENAME_EXCHANGE)``).

    Returns False where the system or the file system does not support it.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError, TypeError):  # pragma: no cover - not glibc
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p]
    renameat2.restype = ctypes.c_int
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):  # pragma: no cover
        return False
    raise OSError(err, os.strerror(err), str(b))  # pragma: no cover


def _old_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.old")


def _content_digest(manifest: Mapping[str, Any]) -> str:
    """A digest of a catalog's ids and components, from their checksums in the manifest."""
    parts = [manifest["ids"]["sha256"], *(c["sha256"] for c in manifest["components"])]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


# -- writing ---------------------------------------------------------------------------


def _describe(entries: Sequence[str]) -> str:
    shown = sorted(entries)[:5]
    more = f" and {len(entries) - 5} more" if len(entries) > 5 else ""
    return ", ".join(repr(e) for e in shown) + more


def _check_replaceable(dest: Path) -> None:
    """Raise ``FileExistsError`` unless ``dest`` may be replaced by a catalog.

    Replaceable: an empty directory, a skfusion catalog directory (holding
    only its manifest's files, ``build.json`` and ``.shards``) or a catalog
    build in progress (only ``.shards``).
    """
    if not dest.is_dir():
        raise FileExistsError(
            f"{dest} exists and is not a directory; refusing to replace it with a catalog."
        )
    entries = [p.name for p in dest.iterdir()]
    if not entries:
        return
    known = set(_BUILD_ENTRIES)
    manifest_path = dest / _MANIFEST
    if manifest_path.is_file():
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            is_catalog = isinstance(manifest, dict) and manifest.get("format") == _FORMAT
        except (OSError, ValueError):
            is_catalog = False
        if not is_catalog:
            raise FileExistsError(
                f"{dest} holds a {_MANIFEST} that does not describe a skfusion catalog; "
                "refusing to replace it (overwrite=True only replaces a catalog directory or "
                "an empty one)."
            )
        known.add(_MANIFEST)
        known.update(_listed_files(manifest))
    others = [e for e in entries if e not in known]
    if others:
        what = "a skfusion catalog and other files" if _MANIFEST in known else "files"
        raise FileExistsError(
            f"{dest} is not a skfusion catalog directory: it holds {what} "
            f"({_describe(others)}); overwrite=True only replaces a catalog directory or an "
            "empty one. Remove them or choose another path."
        )


def _listed_files(manifest: Mapping[str, Any]) -> set[str]:
    """The file names a (possibly malformed) manifest lists, for the overwrite check."""
    out: set[str] = set()
    entries: list[Any] = list(manifest.get("components") or [])
    for key in ("ids", "gram", "means", "errors"):
        entries.append(manifest.get(key))
    index = manifest.get("index")
    if isinstance(index, dict):
        entries.extend(index.get("files") or [])
    for lex in manifest.get("lexical") or []:
        if isinstance(lex, dict):
            entries.extend(lex.get(part) for part in _LEXICAL_PARTS)
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("file"), str):
            out.add(entry["file"])
    return out


def _new_directory(dest: Path) -> Path:
    """A new hidden directory beside ``dest``, with the umask's permissions."""
    while True:
        tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.tmp")
        try:
            tmp.mkdir(mode=0o777)
        except FileExistsError:  # pragma: no cover - a 48-bit collision
            continue
        return tmp


def write(
    catalog: Catalog, dest: Path, *, overwrite: bool, extra: Mapping[str, str] | None = None
) -> Path:
    """Write ``catalog`` to the directory ``dest`` (see :meth:`Catalog.save`).

    ``extra`` maps further text files to write into the directory to their
    contents (the build record of :meth:`Catalog.build`).
    """
    if dest.is_symlink():
        dest = dest.resolve()
    if os.path.lexists(dest):
        if not overwrite:
            raise FileExistsError(f"{dest} exists; pass overwrite=True to replace it.")
        _check_replaceable(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_directory(dest)
    try:
        _write_files(catalog, tmp, extra or {})
        fsync_dir(tmp)
        with _directory_lock(dest.parent):
            _swap_into_place(tmp, dest, overwrite=overwrite)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    fsync_dir(dest.parent)
    return dest


def _swap_into_place(tmp: Path, dest: Path, *, overwrite: bool) -> None:
    """Put the finished directory ``tmp`` at ``dest`` (under the parent's lock).

    Where the system can swap two directories atomically, ``dest`` holds the
    old or the new complete catalog at every instant; elsewhere the old one
    is moved to ``.<name>.old`` first, and :func:`load` moves it back if the
    process dies between the two renames.
    """
    old = _old_path(dest)
    if not os.path.lexists(dest) and old.is_dir() and (old / _MANIFEST).is_file():
        os.rename(old, dest)  # an interrupted earlier save: recover its catalog first
    if not os.path.lexists(dest):
        os.rename(tmp, dest)
        return
    if not overwrite:
        raise FileExistsError(f"{dest} exists; pass overwrite=True to replace it.")
    _check_replaceable(dest)  # again: another writer may have put something there
    if _exchange(tmp, dest):
        shutil.rmtree(tmp)  # now the old catalog
        return
    if os.path.lexists(old):
        shutil.rmtree(old)
    os.rename(dest, old)
    try:
        os.rename(tmp, dest)
    except BaseException:
        os.rename(old, dest)
        raise
    shutil.rmtree(old)


def _write_files(catalog: Catalog, tmp: Path, extra: Mapping[str, str]) -> None:
    files: list[dict[str, Any]] = []
    for c, (name, arr) in enumerate(zip(catalog.names, catalog.matrices(), strict=True)):
        fname = f"component_{c}.npy"
        np.save(tmp / fname, arr, allow_pickle=False)
        files.append(
            {
                "name": name,
                "file": fname,
                "shape": list(arr.shape),
                "dtype": str(arr.dtype),
                "encoder_id": catalog.encoder_ids[name],
                "modality": catalog.modalities[name],
                "sha256": sha256_file(tmp / fname),
            }
        )
    np.save(tmp / "gram.npy", catalog.gram, allow_pickle=False)
    np.save(tmp / "means.npy", catalog.means, allow_pickle=False)
    (tmp / "ids.json").write_text(json.dumps(catalog.ids.tolist()), encoding="utf-8")
    manifest: dict[str, Any] = {
        "format": _FORMAT,
        "schema_version": SCHEMA_VERSION,
        "n_items": catalog.n_items,
        "dim": catalog.dim,
        "components": files,
        "ids": {"file": "ids.json", "sha256": sha256_file(tmp / "ids.json")},
        "gram": {"file": "gram.npy", "sha256": sha256_file(tmp / "gram.npy")},
        "means": {"file": "means.npy", "sha256": sha256_file(tmp / "means.npy")},
    }
    if catalog.lexical_names:
        manifest["lexical"] = _write_lexical(catalog, tmp)
    errors = catalog._errors
    if errors:
        (tmp / "errors.json").write_text(json.dumps(errors), encoding="utf-8")
        manifest["errors"] = {"file": "errors.json", "sha256": sha256_file(tmp / "errors.json")}
    index = catalog.ann_index
    if index is not None:
        entries = []
        for fname, blob in zip(index.file_names(), index.blobs(), strict=True):
            (tmp / fname).write_bytes(blob)
            entries.append({"file": fname, "sha256": hashlib.sha256(blob).hexdigest()})
        entry = index.entry(entries)
        entry["catalog"]["digest"] = _content_digest(manifest)
        manifest["index"] = entry
    for name, text in extra.items():
        (tmp / name).write_text(text, encoding="utf-8")
    (tmp / _MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def _write_lexical(catalog: Catalog, tmp: Path) -> list[dict[str, Any]]:
    """Save each lexical component as three ``.npy`` files (CSR data, indices, indptr)."""
    entries = []
    for k, (name, csr) in enumerate(catalog.lexical.items()):
        entry: dict[str, Any] = {"name": name, "shape": list(csr.shape), "nnz": int(csr.nnz)}
        for part in _LEXICAL_PARTS:
            fname = f"lexical_{k}_{part}.npy"
            np.save(tmp / fname, np.asarray(getattr(csr, part)), allow_pickle=False)
            entry[part] = {
                "file": fname,
                "dtype": str(getattr(csr, part).dtype),
                "sha256": sha256_file(tmp / fname),
            }
        entries.append(entry)
    return entries


# -- the manifest ----------------------------------------------------------------------


class _Manifest:
    """Typed access to a parsed manifest: every failure names the file and the key."""

    def __init__(self, path: Path, data: Any) -> None:
        self.path = path
        if not isinstance(data, dict):
            self.fail("", f"must be a JSON object, got {type(data).__name__}")
        self.data: dict[str, Any] = data

    def fail(self, key: str, problem: str) -> None:
        where = f"key {key!r}" if key else "its content"
        raise ValueError(f"Invalid catalog manifest {self.path}: {where} {problem}.")

    def get(self, obj: Mapping[str, Any], key: str, name: str, kinds: Any) -> Any:
        """``obj[name]`` checked against ``kinds`` (a type, a tuple, or "int" / "number")."""
        full = f"{key}.{name}" if key else name
        if name not in obj:
            self.fail(full, "is missing")
        return self.check(obj[name], full, kinds)

    def check(self, value: Any, key: str, kinds: Any) -> Any:
        if kinds == "int":
            ok = isinstance(value, int) and not isinstance(value, bool)
            label = "an integer"
        elif kinds == "number":
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            ok = ok and bool(np.isfinite(value))
            label = "a finite number"
        elif kinds == "sha256":
            ok = isinstance(value, str) and _SHA256.fullmatch(value) is not None
            label = "a SHA-256 (64 lowercase hex digits)"
        else:
            ok = isinstance(value, kinds)
            names = kinds if isinstance(kinds, tuple) else (kinds,)
            label = " or ".join("null" if k is type(None) else k.__name__ for k in names)
        if not ok:
            self.fail(key, f"must be {label}, got {value!r:.80}")
        return value

    def file_entry(self, obj: Mapping[str, Any], key: str) -> dict[str, Any]:
        entry = self.check(obj, key, dict)
        return {
            "file": self.get(entry, key, "file", str),
            "sha256": self.get(entry, key, "sha256", "sha256"),
        }


@dataclass
class _Layout:
    """A checked manifest: what to open and what to expect in each file."""

    n_items: int
    dim: int
    components: list[dict[str, Any]]
    ids: dict[str, Any]
    gram: dict[str, Any]
    means: dict[str, Any]
    errors: dict[str, Any] | None
    index: dict[str, Any] | None
    raw: dict[str, Any]
    lexical: list[dict[str, Any]]


def _parse_manifest(root: Path) -> tuple[_Layout, bytes]:
    manifest_path = root / _MANIFEST
    if not manifest_path.is_file():
        raise ValueError(f"{root} is not a skfusion catalog: {_MANIFEST} is missing.")
    raw = manifest_path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(
            f"Invalid catalog manifest {manifest_path}: it is not UTF-8 JSON ({exc})."
        ) from exc
    m = _Manifest(manifest_path, data)
    if data.get("format") != _FORMAT:
        raise ValueError(f"{manifest_path} does not describe a skfusion catalog.")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise ValueError(
            f"{root} uses catalog schema version {version}; this skfusion reads "
            f"version {SCHEMA_VERSION}."
        )
    n_items = m.get(data, "", "n_items", "int")
    dim = m.get(data, "", "dim", "int")
    if n_items < 1:
        m.fail("n_items", f"must be positive, got {n_items}")
    if dim < 1:
        m.fail("dim", f"must be positive, got {dim}")
    comps = m.get(data, "", "components", list)
    if not comps:
        m.fail("components", "must list at least one component")
    components = []
    names: set[str] = set()
    for c, raw_entry in enumerate(comps):
        key = f"components[{c}]"
        entry = m.check(raw_entry, key, dict)
        name = m.get(entry, key, "name", str)
        if not name or name in names:
            m.fail(f"{key}.name", f"must be a non-empty, unique component name, got {name!r}")
        names.add(name)
        shape = m.get(entry, key, "shape", list)
        if len(shape) != 2 or [m.check(s, f"{key}.shape", "int") for s in shape] != [
            n_items,
            dim,
        ]:
            m.fail(f"{key}.shape", f"must be [n_items, dim] = [{n_items}, {dim}], got {shape}")
        dtype = entry.get("dtype", "float32")
        if dtype not in STORAGE_DTYPES:
            m.fail(f"{key}.dtype", f"must be one of {list(STORAGE_DTYPES)}, got {dtype!r}")
        encoder_id = entry.get("encoder_id")
        m.check(encoder_id, f"{key}.encoder_id", (str, type(None)))
        modality = entry.get("modality")
        m.check(modality, f"{key}.modality", (str, type(None)))
        components.append(
            {
                **m.file_entry(entry, key),
                "key": key,
                "name": name,
                "dtype": dtype,
                "encoder_id": encoder_id,
                "modality": modality,
            }
        )
    files = {k: {**m.file_entry(m.get(data, "", k, dict), k), "key": k} for k in ("ids", "gram")}
    means = {**m.file_entry(m.get(data, "", "means", dict), "means"), "key": "means"}
    errors = None
    if "errors" in data:
        errors = {**m.file_entry(m.get(data, "", "errors", dict), "errors"), "key": "errors"}
    index = None
    if "index" in data:
        index = _parse_index(m, m.get(data, "", "index", dict), len(components))
    lexical = []
    if "lexical" in data:
        lexical = _parse_lexical(m, m.get(data, "", "lexical", list), n_items, names)
    layout = _Layout(
        n_items, dim, components, files["ids"], files["gram"], means, errors, index, data, lexical
    )
    return layout, raw


def _parse_lexical(
    m: _Manifest, entries: list[Any], n_items: int, dense_names: set[str]
) -> list[dict[str, Any]]:
    """The checked ``lexical`` entries: name, shape, nnz and the three CSR files."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for k, raw_entry in enumerate(entries):
        key = f"lexical[{k}]"
        entry = m.check(raw_entry, key, dict)
        name = m.get(entry, key, "name", str)
        if not name or name in seen or name in dense_names:
            m.fail(
                f"{key}.name", f"must be a non-empty name used by no other component, got {name!r}"
            )
        seen.add(name)
        shape = m.get(entry, key, "shape", list)
        if len(shape) == 2:
            for v in shape:
                m.check(v, f"{key}.shape", "int")
        if len(shape) != 2 or shape[0] != n_items:
            m.fail(
                f"{key}.shape", f"must be [n_items, n_terms] with n_items = {n_items}, got {shape}"
            )
        if shape[1] < 1:
            m.fail(f"{key}.shape", f"must have at least one term, got {shape}")
        nnz = m.get(entry, key, "nnz", "int")
        if nnz < 0:
            m.fail(f"{key}.nnz", f"must be non-negative, got {nnz}")
        parsed: dict[str, Any] = {"name": name, "shape": (n_items, shape[1]), "nnz": nnz}
        for part in _LEXICAL_PARTS:
            pkey = f"{key}.{part}"
            pentry = m.check(m.get(entry, key, part, dict), pkey, dict)
            dtype = m.get(pentry, pkey, "dtype", str)
            allowed = ("float32",) if part == "data" else _INDEX_DTYPES
            if dtype not in allowed:
                m.fail(f"{pkey}.dtype", f"must be one of {list(allowed)}, got {dtype!r}")
            parsed[part] = {**m.file_entry(pentry, pkey), "key": pkey, "dtype": dtype}
        out.append(parsed)
    return out


def _parse_index(m: _Manifest, entry: dict[str, Any], n_components: int) -> dict[str, Any]:
    kind = m.get(entry, "index", "kind", str)
    if kind not in INDEX_KINDS:
        m.fail("index.kind", f"must be one of {list(INDEX_KINDS)}, got {kind!r}")
    encoding = m.get(entry, "index", "encoding", str)
    if encoding not in INDEX_ENCODINGS:
        m.fail("index.encoding", f"must be one of {list(INDEX_ENCODINGS)}, got {encoding!r}")
    n_lists = m.get(entry, "index", "n_lists", "int")
    n_probe = m.get(entry, "index", "n_probe", "int")
    if n_lists < 0 or n_probe < 1:
        m.fail("index.n_probe", f"and n_lists must be positive, got {n_probe} and {n_lists}")
    weights = m.get(entry, "index", "fused_weights", list)
    if len(weights) != n_components:
        m.fail("index.fused_weights", f"must hold {n_components} weights, got {len(weights)}")
    for w in weights:
        m.check(w, "index.fused_weights", "number")
    if "catalog" not in entry:
        m.fail(
            "index.catalog",
            "is missing: the index is not bound to a catalog (it was saved by an older "
            "skfusion); load with the index removed from the manifest and rebuild it",
        )
    bound = m.get(entry, "index", "catalog", dict)
    identity = {
        "n_items": m.get(bound, "index.catalog", "n_items", "int"),
        "dim": m.get(bound, "index.catalog", "dim", "int"),
        "present": m.get(bound, "index.catalog", "present", list),
        "digest": m.get(bound, "index.catalog", "digest", "sha256"),
    }
    for k in identity["present"]:
        m.check(k, "index.catalog.present", "int")
    files = m.get(entry, "index", "files", list)
    if len(files) != n_components + 1:
        m.fail("index.files", f"must list {n_components + 1} files, got {len(files)}")
    calibration = entry.get("calibration")
    if calibration is not None:
        calibration = check_calibration(calibration, f"Invalid catalog manifest {m.path}: index")
        if calibration["n_probe"] != n_probe:
            m.fail(
                "index.calibration.n_probe",
                f"({calibration['n_probe']}) differs from index.n_probe ({n_probe})",
            )
    return {
        "calibration": calibration,
        "kind": kind,
        "encoding": encoding,
        "n_lists": n_lists,
        "n_probe": n_probe,
        "fused_weights": [float(w) for w in weights],
        "catalog": identity,
        "files": [
            {**m.file_entry(f, f"index.files[{i}]"), "key": f"index.files[{i}]"}
            for i, f in enumerate(files)
        ],
    }


# -- opening files safely --------------------------------------------------------------


class _Files:
    """Resolves manifest file entries to files inside the catalog directory, once each."""

    def __init__(self, root: Path, manifest_path: Path) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self.manifest_path = manifest_path
        self.used: dict[str, str] = {_MANIFEST: "the manifest"}
        self.used_real: dict[str, str] = {
            os.path.realpath(manifest_path): "the manifest",
        }

    def resolve(self, entry: Mapping[str, Any]) -> Path:
        """The path of ``entry["file"]``; refuses anything but a plain, unused file name."""
        name, key = entry["file"], entry["key"]
        plain = (
            name not in ("", ".", "..")
            and "/" not in name
            and "\\" not in name
            and "\0" not in name
            and os.path.basename(name) == name
            and not os.path.isabs(name)
        )
        if not plain:
            raise ValueError(
                f"Invalid catalog manifest {self.manifest_path}: key {key + '.file'!r} is "
                f"{name!r}, which is not a plain file name inside the catalog directory."
            )
        if name in self.used:
            raise ValueError(
                f"Invalid catalog manifest {self.manifest_path}: key {key + '.file'!r} names "
                f"{name!r}, which {self.used[name]} already uses; each file may be used once."
            )
        path = self.root / name
        if not os.path.lexists(path):
            raise ValueError(f"Catalog file {path} is missing.")
        real = os.path.realpath(path)
        if os.path.dirname(real) != self.real_root:
            raise ValueError(
                f"Catalog file {path} (manifest key {key + '.file'!r}) is a symbolic link to "
                f"{real}, outside the catalog directory; refusing to read it."
            )
        if real in self.used_real:
            raise ValueError(
                f"Catalog file {path} (manifest key {key + '.file'!r}) is a link to a file "
                f"that {self.used_real[real]} already uses; each file may be used once."
            )
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            raise ValueError(f"Catalog file {path} cannot be read: {exc}.") from exc
        if not stat.S_ISREG(mode):
            raise ValueError(f"Catalog file {path} (manifest key {key!r}) is not a regular file.")
        self.used[name] = f"manifest key {key + '.file'!r}"
        self.used_real[real] = self.used[name]
        return path

    def checked(self, entry: Mapping[str, Any], verify: bool) -> Path:
        """:meth:`resolve`, then the checksum when ``verify``."""
        path = self.resolve(entry)
        if verify and sha256_file(path) != entry["sha256"]:
            raise ValueError(f"Checksum mismatch for {path}: the catalog is corrupt.")
        return path


def _npy_layout(path: Path) -> tuple[tuple[int, ...], bool, np.dtype[Any], int]:
    """``(shape, fortran_order, dtype, data offset)`` from an ``.npy`` header."""
    fmt = np.lib.format
    try:
        with open(path, "rb") as fh:
            version = fmt.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy version {version}")
            offset = fh.tell()
    except Exception as exc:  # any failure to parse an untrusted header
        raise ValueError(f"Catalog file {path} is not a readable .npy file: {exc}") from exc
    return tuple(int(s) for s in shape), bool(fortran), np.dtype(dtype), offset


def read_npy(
    path: Path,
    shape: tuple[int, ...],
    dtype: np.dtype[Any] | str,
    mmap_mode: Literal["r"] | None,
) -> np.ndarray:
    """Open an ``.npy`` file after checking its header against ``shape`` and ``dtype``.

    The header must declare exactly the expected C-ordered shape and dtype,
    and the file must be exactly as long as the header says, so nothing is
    allocated or mapped for a forged header.
    """
    found_shape, fortran, found_dtype, offset = _npy_layout(path)
    want = np.dtype(dtype)
    if found_shape != tuple(shape) or found_dtype != want or fortran:
        raise ValueError(
            f"Catalog file {path} holds {'a Fortran-ordered' if fortran else 'an'} array of "
            f"shape {found_shape} and dtype {found_dtype}; the manifest says {tuple(shape)} "
            f"{want}."
        )
    nbytes = int(np.prod(shape, dtype=np.int64)) * want.itemsize
    size = os.stat(path).st_size
    if size != offset + nbytes:
        raise ValueError(
            f"Catalog file {path} is {size} bytes long, but its header declares "
            f"{offset + nbytes} ({tuple(shape)} {want}); it is truncated or padded."
        )
    if mmap_mode is not None:
        return np.memmap(path, dtype=want, mode=mmap_mode, offset=offset, shape=tuple(shape))
    with open(path, "rb") as fh:
        fh.seek(offset)
        data = np.fromfile(fh, dtype=want, count=nbytes // want.itemsize)
    return data.reshape(shape)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"Catalog file {path} is not UTF-8 JSON: {exc}.") from exc


def _checked_ids(path: Path, data: Any, n_items: int) -> list[Any]:
    if not isinstance(data, list) or len(data) != n_items:
        got = f"{len(data)} values" if isinstance(data, list) else type(data).__name__
        raise ValueError(f"Catalog file {path} must hold a list of {n_items} ids, got {got}.")
    for row, value in enumerate(data):
        ok = isinstance(value, str | int | float) and not isinstance(value, bool)
        if not ok or (isinstance(value, float) and not np.isfinite(value)):
            raise ValueError(
                f"Catalog file {path} holds {value!r} as the id of row {row}; ids are strings "
                "or numbers."
            )
    return data


def _checked_errors(path: Path, data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise ValueError(f"Catalog file {path} must hold a list of error records.")
    for k, record in enumerate(data):
        ok = (
            isinstance(record, dict)
            and set(record) == {"id", "component", "reason"}
            and isinstance(record["component"], str | type(None))
            and isinstance(record["reason"], str)
        )
        if not ok:
            raise ValueError(
                f"Catalog file {path}: record {k} must be an object with 'id', 'component' "
                "and 'reason'."
            )
    return data


# -- loading ---------------------------------------------------------------------------


@dataclass
class SavedStatistics:
    """The statistics stored in a catalog directory, for the constructor to check.

    Attributes
    ----------
    gram : ndarray of shape (n_components, n_components, n_items), float32
    means : ndarray of shape (n_components, dim), float64
    gram_file, means_file : pathlib.Path
        Where they were read from (for messages).
    component_files : list of pathlib.Path
        Each component's file (for messages).
    check_components : bool
        Read every component block by block: finite values, unit or zero
        rows, Gram entries and means equal to the recomputed ones. When
        False (a trusted directory), only the statistics themselves are
        checked and the masks come from the Gram diagonal.
    sums : ndarray of shape (n_components, dim), optional
        The float64 column sums of the components, filled while they are
        checked (to compare with the means).
    """

    gram: np.ndarray
    means: np.ndarray
    gram_file: Path
    means_file: Path
    component_files: list[Path]
    check_components: bool
    sums: np.ndarray | None = None


def _recover(root: Path) -> None:
    """Put back a catalog left at ``.<name>.old`` by a save interrupted between renames."""
    old = _old_path(root)
    if os.path.lexists(root) or not (old / _MANIFEST).is_file():
        return
    with contextlib.suppress(OSError), _directory_lock(root.parent):
        if not os.path.lexists(root) and (old / _MANIFEST).is_file():
            os.rename(old, root)


def load(
    cls: type[Catalog],
    path: str | os.PathLike[str],
    *,
    mmap: bool,
    checksums: bool,
    contents: bool,
) -> Catalog:
    """Read a catalog directory (see :meth:`Catalog.load`).

    ``checksums`` verifies every file's SHA-256; ``contents`` checks the
    component values against the statistics, block by block.
    """
    root = Path(path)
    _recover(root)
    layout, raw = _parse_manifest(root)
    files = _Files(root, root / _MANIFEST)
    mode: Literal["r"] | None = "r" if mmap else None
    components: dict[str, np.ndarray] = {}
    component_files: list[Path] = []
    dtypes = {entry["dtype"] for entry in layout.components}
    if len(dtypes) > 1:
        raise ValueError(f"The components in {root} mix storage dtypes {sorted(dtypes)}.")
    for entry in layout.components:
        file = files.checked(entry, checksums)
        components[entry["name"]] = read_npy(
            file, (layout.n_items, layout.dim), entry["dtype"], mode
        )
        component_files.append(file)
    ids_file = files.checked(layout.ids, checksums)
    ids = _checked_ids(ids_file, _read_json(ids_file), layout.n_items)
    C = len(components)
    gram_file = files.checked(layout.gram, checksums)
    gram = read_npy(gram_file, (C, C, layout.n_items), "float32", None)
    means_file = files.checked(layout.means, checksums)
    means = read_npy(means_file, (C, layout.dim), "float64", None)
    errors: list[dict[str, Any]] = []
    if layout.errors is not None:
        errors_file = files.checked(layout.errors, checksums)
        errors = _checked_errors(errors_file, _read_json(errors_file))
    lexical = {entry["name"]: _read_lexical(files, entry, checksums) for entry in layout.lexical}
    index_files: list[IndexFile] = []
    if layout.index is not None:
        for entry in layout.index["files"]:
            handle = IndexFile(files.resolve(entry), entry["sha256"])
            if checksums:
                try:
                    handle.read()
                except ValueError:
                    raise ValueError(
                        f"Checksum mismatch for {handle.path}: the catalog is corrupt."
                    ) from None
            index_files.append(handle)
    catalog = cls(
        components,
        ids,
        encoder_ids={e["name"]: e["encoder_id"] for e in layout.components},
        modalities={e["name"]: e["modality"] for e in layout.components},
        dtype=dtypes.pop(),
        lexical=lexical or None,
        _saved=SavedStatistics(gram, means, gram_file, means_file, component_files, contents),
    )
    catalog._errors = errors
    if layout.index is not None:
        bound = layout.index["catalog"]
        if bound["digest"] != _content_digest(layout.raw):
            raise ValueError(
                f"The ANN index in {root} was built for another catalog (its catalog digest "
                "differs from this catalog's ids and components); rebuild it with "
                "catalog.build_index()."
            )
        index = CatalogIndex.from_manifest(root, layout.index, index_files)
        index.check_catalog(
            catalog.n_items,
            catalog.dim,
            catalog.mask.sum(axis=1).tolist(),
            f"The ANN index in {root}",
        )
        catalog._index = index
    digest = hashlib.sha256(raw).hexdigest()
    catalog._source = (str(root.resolve()), bool(mmap), digest)
    return catalog


def _read_lexical(files: _Files, entry: Mapping[str, Any], checksums: bool) -> Any:
    """A saved lexical component as a CSR array, after checking its three files.

    Checked before SciPy sees them: the headers (shapes from ``nnz`` and
    ``n_items``, dtypes), ``indptr`` starting at 0, non-decreasing and ending
    at ``nnz``, column indices in ``[0, n_terms)`` and strictly increasing
    within each row, and finite, non-negative values.
    """
    import scipy.sparse as sp

    n_items, n_terms = entry["shape"]
    nnz = entry["nnz"]
    shapes = {"data": (nnz,), "indices": (nnz,), "indptr": (n_items + 1,)}
    paths = {part: files.checked(entry[part], checksums) for part in _LEXICAL_PARTS}
    arrays = {
        part: read_npy(paths[part], shapes[part], entry[part]["dtype"], None)
        for part in _LEXICAL_PARTS
    }
    data, indices, indptr = arrays["data"], arrays["indices"], arrays["indptr"]
    name = entry["name"]
    where = f"Catalog file {paths['indptr']} (lexical component {name!r})"
    if indptr[0] != 0 or indptr[-1] != nnz or np.any(np.diff(indptr) < 0):
        raise ValueError(
            f"{where} is not a valid CSR row pointer: it must start at 0, never decrease "
            f"and end at nnz = {nnz}; the catalog is corrupt."
        )
    where = f"Catalog file {paths['indices']} (lexical component {name!r})"
    if nnz and (indices.min() < 0 or indices.max() >= n_terms):
        raise ValueError(
            f"{where} holds a column index outside [0, {n_terms}); the catalog is corrupt."
        )
    if nnz > 1:
        step = np.diff(indices.astype(np.int64))
        row_start = np.zeros(nnz, dtype=bool)
        row_start[indptr[1:-1][indptr[1:-1] < nnz]] = True  # first entry of each row
        if np.any((step <= 0) & ~row_start[1:]):
            raise ValueError(
                f"{where} holds column indices that are not strictly increasing within a "
                "row; the catalog is corrupt."
            )
    if not (np.isfinite(data).all() and (data >= 0).all()):
        raise ValueError(
            f"Catalog file {paths['data']} (lexical component {name!r}) holds non-finite or "
            "negative weights; the catalog is corrupt."
        )
    return sp.csr_array((data, indices, indptr), shape=(n_items, n_terms))


def reopen(
    cls: type[Catalog],
    path: str,
    mmap: bool,
    manifest_digest: str,
    index: CatalogIndex | None = None,
) -> Catalog:
    """Unpickle a catalog pickled by reference: reload it, refusing one that changed.

    The manifest must be byte for byte the one the catalog was loaded with,
    and every file is checked against the manifest's SHA-256 again, so a
    file changed in place since (even with the manifest untouched) is
    refused. ``cls`` is the catalog class (passed in, so that storage does
    not import it); ``index`` is an ANN index built after the catalog was
    loaded (not on disk).
    """
    manifest = Path(path) / _MANIFEST
    if not manifest.is_file():
        raise ValueError(f"The pickled catalog refers to {path}, which is no longer a catalog.")
    if hashlib.sha256(manifest.read_bytes()).hexdigest() != manifest_digest:
        raise ValueError(
            f"The catalog at {path} changed since it was pickled (its manifest differs); "
            "refusing to pair it with estimators fitted on the old one."
        )
    try:
        catalog = load(cls, path, mmap=mmap, checksums=True, contents=False)
    except ValueError as exc:
        raise ValueError(
            f"The catalog at {path} changed since it was pickled ({exc}); refusing to pair it "
            "with estimators fitted on the old one."
        ) from exc
    assert catalog._source is not None
    if catalog._source[2] != manifest_digest:
        raise ValueError(
            f"The catalog at {path} changed since it was pickled (its manifest differs); "
            "refusing to pair it with estimators fitted on the old one."
        )
    if index is not None:
        index.check_catalog(
            catalog.n_items, catalog.dim, catalog.mask.sum(axis=1).tolist(), "The pickled index"
        )
        catalog._index = index
    return catalog
