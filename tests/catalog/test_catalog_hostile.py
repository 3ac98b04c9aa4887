"""Untrusted catalog directories, pickles, ANN indexes and build shards.

Each test writes a hostile fixture (a forged manifest, a tampered file whose
checksum was fixed up, a replaced directory, a damaged shard...) and checks
the exact error, or that the right catalog is still used.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from skfusion import Catalog, HybridFusion

from .. import _build_helper as helper
from .._data import correlated_components, unit_rows

N_ITEMS = 30
DIM = 8


def _catalog(seed: int = 0, n: int = N_ITEMS) -> Catalog:
    comps = correlated_components(np.random.default_rng(seed), n_items=n, dim=DIM)
    return Catalog.from_arrays(
        {"title": comps[0], "desc": comps[1], "image": comps[2]},
        ids=[f"p{i}" for i in range(n)],
    )


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    return _catalog().save(tmp_path / "cat")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest(path: Path) -> dict[str, Any]:
    return json.loads((path / "manifest.json").read_text())


def _write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    (path / "manifest.json").write_text(json.dumps(manifest))


def _replace_array(path: Path, name: str, array: np.ndarray) -> None:
    """Write ``array`` to ``path/name`` and fix its checksum in the manifest."""
    np.save(path / name, array, allow_pickle=False)
    manifest = _manifest(path)
    entries = [*manifest["components"], manifest["gram"], manifest["means"]]
    for entry in entries:
        if entry["file"] == name:
            entry["sha256"] = _sha(path / name)
    _write_manifest(path, manifest)


# -- 1. file names from the manifest ----------------------------------------------------


def test_component_file_outside_the_directory_is_refused(saved: Path, tmp_path: Path) -> None:
    shutil.copy(saved / "component_0.npy", tmp_path / "outside.npy")
    manifest = _manifest(saved)
    manifest["components"][0]["file"] = "../outside.npy"
    _write_manifest(saved, manifest)
    with pytest.raises(
        ValueError,
        match=r"manifest\.json: key 'components\[0\]\.file' is '\.\./outside\.npy', which is "
        "not a plain file name inside the catalog directory",
    ):
        Catalog.load(saved)
    manifest["components"][0]["file"] = str(tmp_path / "outside.npy")
    _write_manifest(saved, manifest)
    with pytest.raises(ValueError, match=r"key 'components\[0\]\.file' is '/.*outside\.npy'"):
        Catalog.load(saved, verify=False)


def test_ids_file_outside_the_directory_is_refused(saved: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.json").write_text(json.dumps([f"s{i}" for i in range(N_ITEMS)]))
    manifest = _manifest(saved)
    manifest["ids"] = {"file": "../secret.json", "sha256": _sha(tmp_path / "secret.json")}
    _write_manifest(saved, manifest)
    with pytest.raises(ValueError, match=r"key 'ids\.file' is '\.\./secret\.json'"):
        Catalog.load(saved)


def test_symlink_leaving_the_directory_is_refused(saved: Path, tmp_path: Path) -> None:
    shutil.copy(saved / "component_1.npy", tmp_path / "outside.npy")
    (saved / "component_1.npy").unlink()
    (saved / "component_1.npy").symlink_to(tmp_path / "outside.npy")
    with pytest.raises(
        ValueError,
        match=r"component_1\.npy \(manifest key 'components\[1\]\.file'\) is a symbolic link "
        r"to .*outside\.npy, outside the catalog directory",
    ):
        Catalog.load(saved)


def test_symlinked_catalog_directory_is_fine(saved: Path, tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(saved, target_is_directory=True)
    loaded = Catalog.load(tmp_path / "link")
    np.testing.assert_array_equal(loaded.gram, Catalog.load(saved).gram)


def test_a_file_used_twice_is_refused(saved: Path) -> None:
    manifest = _manifest(saved)
    manifest["components"][1]["file"] = "component_0.npy"
    manifest["components"][1]["sha256"] = manifest["components"][0]["sha256"]
    _write_manifest(saved, manifest)
    with pytest.raises(
        ValueError,
        match=r"key 'components\[1\]\.file' names 'component_0\.npy', which manifest key "
        r"'components\[0\]\.file' already uses",
    ):
        Catalog.load(saved)
    # Through a symbolic link inside the directory too.
    (saved / "alias.npy").symlink_to(saved / "component_0.npy")
    manifest["components"][1]["file"] = "alias.npy"
    _write_manifest(saved, manifest)
    with pytest.raises(ValueError, match=r"alias\.npy .* is a link to a file that manifest key"):
        Catalog.load(saved)


# -- 2. contents: values, statistics, headers, manifest ---------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_row_is_refused(saved: Path, bad: float) -> None:
    rows = np.load(saved / "component_2.npy")
    rows[7, 3] = bad
    _replace_array(saved, "component_2.npy", rows)
    with pytest.raises(
        ValueError,
        match=r"component_2\.npy \(component 'image'\) holds NaN or infinite values in the row "
        r"of item 'p7' \(row 7\)",
    ):
        Catalog.load(saved)


def test_non_unit_row_is_refused(saved: Path) -> None:
    rows = np.load(saved / "component_0.npy")
    gram = np.load(saved / "gram.npy")
    rows[4] *= 2.0
    gram[0, :, 4] *= 2.0
    gram[:, 0, 4] *= 2.0
    _replace_array(saved, "component_0.npy", rows)
    _replace_array(saved, "gram.npy", gram)
    with pytest.raises(
        ValueError, match=r"Component 'title' \(.*component_0\.npy.*L2-normalised.*id 'p4'"
    ):
        Catalog.load(saved)


def test_nan_gram_entry_is_refused(saved: Path) -> None:
    gram = np.load(saved / "gram.npy")
    gram[0, 1, 5] = np.nan
    _replace_array(saved, "gram.npy", gram)
    with pytest.raises(
        ValueError, match=r"gram\.npy holds a non-finite Gram entry for item 'p5' \(row 5\)"
    ):
        Catalog.load(saved)


def test_zero_gram_diagonal_does_not_mask_a_component(saved: Path) -> None:
    gram = np.load(saved / "gram.npy")
    gram[1, :, 9] = 0.0
    gram[:, 1, 9] = 0.0
    _replace_array(saved, "gram.npy", gram)
    with pytest.raises(
        ValueError,
        match=r"gram\.npy does not match the components: the Gram entry \('title', 'desc'\) of "
        r"item 'p9' \(row 9\) is 0",
    ):
        Catalog.load(saved)


def test_inconsistent_gram_or_means_are_refused(saved: Path) -> None:
    gram = np.load(saved / "gram.npy")
    original = gram.copy()
    gram[0, 2, 3] = gram[2, 0, 3] = gram[0, 2, 3] - 0.1
    _replace_array(saved, "gram.npy", gram)
    with pytest.raises(ValueError, match=r"Gram entry \('title', 'image'\) of item 'p3'"):
        Catalog.load(saved)
    _replace_array(saved, "gram.npy", original)
    means = np.load(saved / "means.npy")
    means[1, 0] += 0.05
    _replace_array(saved, "means.npy", means)
    with pytest.raises(
        ValueError, match=r"means\.npy does not match the components: the mean of component 'desc'"
    ):
        Catalog.load(saved)


def _npy_header(shape: tuple[int, ...], dtype: str) -> bytes:
    header = {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue()


def test_huge_declared_shape_is_refused_before_allocating(saved: Path) -> None:
    n, d = 10_000_000, 4_000  # 149 GiB of float32
    path = saved / "component_0.npy"
    path.write_bytes(_npy_header((n, d), "<f4") + b"\0" * 64)
    manifest = _manifest(saved)
    manifest["n_items"], manifest["dim"] = n, d
    for entry in manifest["components"]:
        entry["shape"] = [n, d]
    manifest["components"][0]["sha256"] = _sha(path)
    _write_manifest(saved, manifest)
    with pytest.raises(
        ValueError,
        match=r"component_0\.npy is \d+ bytes long, but its header declares 160000000\d+ "
        r"\(\(10000000, 4000\) float32\); it is truncated",
    ):
        Catalog.load(saved, mmap=False)


def test_truncated_or_mismatched_files_are_refused(saved: Path) -> None:
    path = saved / "component_1.npy"
    data = path.read_bytes()
    path.write_bytes(data[:-40])
    manifest = _manifest(saved)
    manifest["components"][1]["sha256"] = _sha(path)
    _write_manifest(saved, manifest)
    with pytest.raises(ValueError, match=r"component_1\.npy is \d+ bytes long, .*truncated"):
        Catalog.load(saved)
    # A header that disagrees with the manifest.
    _replace_array(saved, "component_1.npy", np.zeros((N_ITEMS, DIM + 1), np.float32))
    with pytest.raises(ValueError, match=r"component_1\.npy holds an array of shape \(30, 9\)"):
        Catalog.load(saved)
    (saved / "component_1.npy").write_bytes(b"not an npy file")
    manifest = _manifest(saved)
    manifest["components"][1]["sha256"] = _sha(path)
    _write_manifest(saved, manifest)
    with pytest.raises(ValueError, match=r"component_1\.npy is not a readable \.npy file"):
        Catalog.load(saved)


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda m: m.pop(key)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (_drop("dim"), r"key 'dim' is missing"),
        (_drop("ids"), r"key 'ids' is missing"),
        (lambda m: m.update(components="x"), r"key 'components' must be list, got 'x'"),
        (lambda m: m.update(n_items="30"), r"key 'n_items' must be an integer, got '30'"),
        (lambda m: m["components"][0].pop("sha256"), r"key 'components\[0\]\.sha256' is missing"),
        (
            lambda m: m["components"][1].update(shape="abc"),
            r"key 'components\[1\]\.shape' must be list",
        ),
        (lambda m: m["components"][2].update(file=7), r"key 'components\[2\]\.file' must be str"),
        (lambda m: m["gram"].update(sha256="x"), r"key 'gram\.sha256' must be a SHA-256"),
        (lambda m: m["means"].update(file=None), r"key 'means\.file' must be str, got None"),
        (
            lambda m: m["components"][0].update(name="desc"),
            r"key 'components\[1\]\.name' must be a non-empty, unique component name",
        ),
    ],
)
def test_malformed_manifest_is_a_value_error_naming_the_key(
    saved: Path, mutate: Callable[[dict[str, Any]], None], match: str
) -> None:
    manifest = _manifest(saved)
    mutate(manifest)
    _write_manifest(saved, manifest)
    with pytest.raises(ValueError, match=r"Invalid catalog manifest .*manifest\.json: " + match):
        Catalog.load(saved)


def test_manifest_that_is_not_json(saved: Path) -> None:
    (saved / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"manifest\.json: it is not UTF-8 JSON") as info:
        Catalog.load(saved)
    assert type(info.value) is ValueError
    (saved / "manifest.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"manifest\.json: its content must be a JSON object"):
        Catalog.load(saved)


def test_bad_ids_file(saved: Path) -> None:
    ids = saved / "ids.json"
    values = json.loads(ids.read_text())
    values[3] = None
    ids.write_text(json.dumps(values))
    manifest = _manifest(saved)
    manifest["ids"]["sha256"] = _sha(ids)
    _write_manifest(saved, manifest)
    with pytest.raises(ValueError, match=r"ids\.json holds None as the id of row 3"):
        Catalog.load(saved)


def test_ids_with_none_are_a_clear_error() -> None:
    comps = correlated_components(np.random.default_rng(0), n_items=3, dim=DIM)
    with pytest.raises(ValueError, match=r"ids must not be None, but the id of row 1 is None"):
        Catalog.from_arrays({"a": comps[0]}, ids=["x", None, "z"])
    with pytest.raises(ValueError, match=r"mutually comparable.*\['int', 'str'\]"):
        Catalog.from_arrays({"a": comps[0]}, ids=np.array(["x", 1, "z"], dtype=object))


# -- 3. the ANN index is bound to its catalog -------------------------------------------


def _approximate(cat: Catalog, queries: np.ndarray) -> np.ndarray:
    est = HybridFusion(cat, approximate=True, n_candidates=5).fit()
    return est.kneighbors(queries, n_neighbors=5)[1]


def test_index_is_read_from_the_loaded_catalog(tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    path = tmp_path / "cat"
    _catalog(0).build_index("flat").save(path)
    queries = unit_rows(np.random.default_rng(5), (6, DIM))
    a = Catalog.load(path)
    expected = HybridFusion(a).fit().kneighbors(queries, n_neighbors=5)[1]
    other = _catalog(1).build_index("flat")
    other.save(path, overwrite=True)  # replace A's directory with catalog B
    np.testing.assert_array_equal(_approximate(a, queries), expected)
    copy = Catalog.load(a.save(tmp_path / "elsewhere"))
    np.testing.assert_array_equal(_approximate(copy, queries), expected)
    b_expected = HybridFusion(other).fit().kneighbors(queries, n_neighbors=5)[1]
    np.testing.assert_array_equal(_approximate(Catalog.load(path), queries), b_expected)


def test_index_changed_in_place_after_load_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    path = _catalog(0).build_index("flat").save(tmp_path / "cat")
    a = Catalog.load(path)
    target = path / "index_fused.faiss"
    blob = bytearray(target.read_bytes())
    blob[-1] ^= 0xFF
    with open(target, "r+b") as fh:  # in place: the same inode
        fh.write(bytes(blob))
    with pytest.raises(ValueError, match=r"Checksum mismatch for .*index_fused\.faiss: the index"):
        _approximate(a, unit_rows(np.random.default_rng(5), (2, DIM)))


def test_unreadable_index_file_is_a_value_error(tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    path = _catalog(0).build_index("flat").save(tmp_path / "cat")
    target = path / "index_component_1.faiss"
    target.write_bytes(target.read_bytes()[:-100])
    manifest = _manifest(path)
    manifest["index"]["files"][1]["sha256"] = _sha(target)
    _write_manifest(path, manifest)
    loaded = Catalog.load(path)
    with pytest.raises(
        ValueError, match=r"The ANN index of .* cannot be read: faiss refused index_component_1"
    ):
        _approximate(loaded, unit_rows(np.random.default_rng(5), (2, DIM)))


def test_index_of_a_bigger_catalog_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("faiss")
    small = _catalog(0).build_index("flat").save(tmp_path / "small")
    big = _catalog(1, n=2 * N_ITEMS).build_index("flat").save(tmp_path / "big")
    manifest = _manifest(small)
    big_entry = _manifest(big)["index"]
    for entry in big_entry["files"]:
        shutil.copy(big / entry["file"], small / entry["file"])
    manifest["index"] = big_entry
    _write_manifest(small, manifest)
    with pytest.raises(ValueError, match=r"The ANN index in .* was built for another catalog"):
        Catalog.load(small)
    # A forged binding passes the load, but not the opening of the index.
    from skfusion.catalog import _storage

    big_entry["catalog"] = _manifest(tmp_path / "small")["index"]["catalog"]
    big_entry["catalog"]["digest"] = _storage._content_digest(manifest)
    big_entry["catalog"]["n_items"] = N_ITEMS
    big_entry["catalog"]["present"] = [N_ITEMS] * 3
    manifest["index"] = big_entry
    _write_manifest(small, manifest)
    loaded = Catalog.load(small)
    with pytest.raises(
        ValueError,
        match=r"index of component 0 holds 60 vectors of dimension 8, but the catalog it "
        r"belongs to has 30 .*built for another catalog",
    ):
        _approximate(loaded, unit_rows(np.random.default_rng(5), (2, DIM)))


# -- 4. pickles by reference re-verify the files -----------------------------------------


def test_unpickling_refuses_a_file_changed_in_place(saved: Path) -> None:
    est = HybridFusion(Catalog.load(saved)).fit()
    blob = pickle.dumps(est)
    pickle.loads(blob)  # unchanged: fine
    rows = np.load(saved / "component_0.npy")
    rows[[0, 1]] = rows[[1, 0]]  # still a valid catalog, same shape; manifest untouched
    with open(saved / "component_0.npy", "r+b") as fh:
        fh.seek(-rows.nbytes, os.SEEK_END)
        fh.write(rows.tobytes())
    with pytest.raises(
        ValueError,
        match=r"changed since it was pickled \(Checksum mismatch for .*component_0\.npy",
    ):
        pickle.loads(blob)


# -- 6. saving: overwrite, atomicity, concurrency, permissions, shards ------------------


def test_overwrite_refuses_a_directory_of_user_files(tmp_path: Path) -> None:
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "thesis.tex").write_text("years of work")
    (dest / "data.csv").write_text("1,2")
    with pytest.raises(
        FileExistsError,
        match=r"mine is not a skfusion catalog directory: it holds files \('data\.csv', "
        r"'thesis\.tex'\)",
    ):
        _catalog().save(dest, overwrite=True)
    assert sorted(p.name for p in dest.iterdir()) == ["data.csv", "thesis.tex"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    # A catalog with a user's file added to it is not replaced either.
    cat = _catalog().save(tmp_path / "cat")
    (cat / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match=r"a skfusion catalog and other files \('notes"):
        _catalog(1).save(cat, overwrite=True)
    # A plain file, an empty directory and a catalog.
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="is not a directory"):
        _catalog().save(tmp_path / "file", overwrite=True)
    (tmp_path / "empty").mkdir()
    _catalog().save(tmp_path / "empty", overwrite=True)
    (cat / "notes.txt").unlink()
    _catalog(1).save(cat, overwrite=True)
    np.testing.assert_array_equal(Catalog.load(cat).gram, _catalog(1).gram)


def test_load_recovers_a_catalog_left_between_renames(tmp_path: Path) -> None:
    dest = _catalog(0).save(tmp_path / "cat")
    os.rename(dest, tmp_path / ".cat.old")  # a save killed after its first rename
    loaded = Catalog.load(dest)
    np.testing.assert_array_equal(loaded.gram, _catalog(0).gram)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat"]


def test_save_without_atomic_exchange_keeps_the_old_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skfusion.catalog import _storage

    monkeypatch.setattr(_storage, "_exchange", lambda a, b: False)
    dest = _catalog(0).save(tmp_path / "cat")
    _catalog(1).save(dest, overwrite=True)
    np.testing.assert_array_equal(Catalog.load(dest).gram, _catalog(1).gram)
    real = os.rename
    interruptions = [KeyboardInterrupt()]

    def interrupted(src: Any, dst: Any) -> None:
        if Path(dst) == dest and Path(src).name.endswith(".tmp") and interruptions:
            raise interruptions.pop()  # between the two renames
        real(src, dst)

    monkeypatch.setattr(os, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _catalog(0).save(dest, overwrite=True)
    assert (dest / "manifest.json").is_file()  # put back at once
    np.testing.assert_array_equal(Catalog.load(dest).gram, _catalog(1).gram)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat"]


def test_path_always_holds_a_complete_catalog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = _catalog(0).save(tmp_path / "cat")
    # Renames that move the catalog away linger, so a window between two renames shows.
    for name in ("rename", "replace"):
        real = getattr(os, name)

        def slow(src: Any, dst: Any, _real: Any = real) -> None:
            _real(src, dst)
            if Path(src) == dest:
                time.sleep(0.02)

        monkeypatch.setattr(os, name, slow)
    grams = {_catalog(k).gram.tobytes() for k in (0, 1)}
    stop = threading.Event()
    failures: list[BaseException] = []

    def read() -> None:
        while not stop.is_set():
            try:
                assert Catalog.load(dest, verify=False).gram.tobytes() in grams
            except BaseException as exc:
                failures.append(exc)
                return

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for k in range(40):
            _catalog(k % 2).save(dest, overwrite=True)
    finally:
        stop.set()
        reader.join()
    assert not failures, failures[0]


def test_concurrent_overwrites_take_turns(tmp_path: Path) -> None:
    dest = _catalog(0).save(tmp_path / "cat")
    catalogs = [_catalog(k) for k in range(4)]
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def work(k: int) -> None:
        barrier.wait()
        try:
            for _ in range(5):
                catalogs[k].save(dest, overwrite=True)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    loaded = Catalog.load(dest)
    assert any(np.array_equal(loaded.gram, c.gram) for c in catalogs)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat"]


def test_saved_directory_respects_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = _catalog().save(tmp_path / "cat")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o755
    assert (path / "manifest.json").stat().st_mode & 0o777 == 0o644


def _crashed_build(path: Path, frame: Any) -> None:
    crashing = {
        "title": helper.SlowHashEncoder(delay=0.0),
        "text": ("body", helper.SlowHashEncoder(delay=0.0, fail_after=3)),
    }
    with pytest.raises(RuntimeError, match="simulated crash"):
        Catalog.build(frame, crashing, path, on_error="skip", shard_size=4)
    assert len(list((path / ".shards").glob("shard-*.npz"))) == 3


@pytest.mark.parametrize("damage", ["bit flip", "truncated", "empty"])
def test_damaged_shard_is_encoded_again(tmp_path: Path, damage: str) -> None:
    frame = helper.frame(16)
    path = tmp_path / "cat"
    _crashed_build(path, frame)
    shard = path / ".shards" / "shard-000001.npz"
    data = bytearray(shard.read_bytes())
    if damage == "bit flip":
        data[len(data) // 2] ^= 0x10
    elif damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data = bytearray()
    shard.write_bytes(bytes(data))
    encoders = helper.encoders(delay=0.0)
    cat = Catalog.build(frame, encoders, path, on_error="skip", shard_size=4)
    assert encoders["text"][1].calls == 2  # shard 1 again, and shard 3
    ref = Catalog.from_frame(frame, helper.encoders(delay=0.0), on_error="skip")
    assert cat.ids.tolist() == ref.ids.tolist()
    for name in ref.names:
        np.testing.assert_array_equal(cat.components[name], ref.components[name])


def test_swapped_shards_do_not_reorder_rows(tmp_path: Path) -> None:
    frame = helper.frame(16)
    path = tmp_path / "cat"
    _crashed_build(path, frame)
    shards = path / ".shards"
    for ext in ("npz", "sha256"):
        a, b = shards / f"shard-000000.{ext}", shards / f"shard-000002.{ext}"
        os.rename(a, shards / "tmp")
        os.rename(b, a)
        os.rename(shards / "tmp", b)
    encoders = helper.encoders(delay=0.0)
    cat = Catalog.build(frame, encoders, path, on_error="skip", shard_size=4)
    assert encoders["text"][1].calls == 3  # shards 0 and 2 again, and shard 3
    ref = Catalog.from_frame(frame, helper.encoders(delay=0.0), on_error="skip")
    assert cat.ids.tolist() == ref.ids.tolist()
    for name in ref.names:
        np.testing.assert_array_equal(cat.components[name], ref.components[name])
