"""Catalog.build: sharded, resumable, atomic catalog building; Catalog.load integrity errors."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from skfusion import Catalog

from .. import _build_helper as helper

pytest.importorskip("pandas")

ROOT = Path(__file__).resolve().parents[2]


def _assert_identical(a: Catalog, b: Catalog) -> None:
    assert a.names == b.names
    assert np.array_equal(a.ids, b.ids)
    for name in a.names:
        assert np.array_equal(a.components[name], b.components[name])
    assert np.array_equal(a.gram, b.gram)
    assert np.array_equal(a.means, b.means)
    assert np.array_equal(a.mask, b.mask)
    assert a.encoder_ids == b.encoder_ids
    assert a.errors_.equals(b.errors_)


def _run(path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests._build_helper", str(path)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_killed_builds_resume_to_the_same_catalog(tmp_path: Path) -> None:
    # The reference: one uninterrupted run, which also times a run (interpreter start included).
    start = time.monotonic()
    proc = _run(tmp_path / "reference")
    _, err = proc.communicate(timeout=60)
    expected = time.monotonic() - start
    assert proc.returncode == 0, err.decode()
    reference = Catalog.load(tmp_path / "reference")
    assert len(reference.errors_) == 3  # three "bad title" rows
    # The empty body is masked (missing="mask"), not rejected: the resumed builds must
    # reproduce that mask from their shards.
    row = reference.ids.tolist().index("item022")
    assert reference.mask[:, row].tolist() == [True, False]
    assert int((~reference.mask).sum()) == 1
    path = tmp_path / "killed"
    rng = random.Random(12345)
    kills = 0
    while True:
        proc = _run(path)
        if kills < 10:
            time.sleep(rng.uniform(0.15, 0.95) * expected)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                kills += 1
                continue
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        if kills >= 10:
            break
    assert kills >= 10
    assert not (path / ".shards").exists()
    _assert_identical(Catalog.load(path), reference)


def test_resume_skips_finished_shards_and_refuses_other_inputs(tmp_path: Path) -> None:
    frame = helper.frame(12)
    path = tmp_path / "cat"
    crashing = helper.encoders(delay=0.0, fail_after=2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        Catalog.build(frame, crashing, path, on_error="skip", shard_size=4)
    assert len(list((path / ".shards").glob("shard-*.npz"))) == 1
    # A changed cell, encoder parameter or shard size is refused.
    other = frame.copy()
    other.loc[5, "title"] = "changed"
    with pytest.raises(ValueError, match="different inputs.*resume=False"):
        Catalog.build(other, helper.encoders(delay=0.0), path, on_error="skip", shard_size=4)
    with pytest.raises(ValueError, match="different inputs"):
        Catalog.build(frame, helper.encoders(delay=0.001), path, on_error="skip", shard_size=4)
    with pytest.raises(ValueError, match="different inputs"):
        Catalog.build(frame, helper.encoders(delay=0.0), path, on_error="skip", shard_size=3)
    encs = helper.encoders(delay=0.0)
    cat = Catalog.build(frame, encs, path, on_error="skip", shard_size=4)
    fresh = helper.encoders(delay=0.0)
    Catalog.build(frame, fresh, tmp_path / "fresh", on_error="skip", shard_size=4)
    assert encs["title"].calls == fresh["title"].calls - 1  # the first shard was reused
    ref = Catalog.from_frame(frame, helper.encoders(delay=0.0), on_error="skip")
    _assert_identical(cat, ref)
    # Re-running a finished build returns it without encoding.
    again = helper.encoders(delay=0.0)
    _assert_identical(Catalog.build(frame, again, path, on_error="skip", shard_size=4), ref)
    assert again["title"].calls == 0
    with pytest.raises(FileExistsError, match="not built from these inputs"):
        Catalog.build(other, helper.encoders(delay=0.0), path, on_error="skip", shard_size=4)
    replaced = Catalog.build(
        other, helper.encoders(delay=0.0), path, on_error="skip", shard_size=4, resume=False
    )
    assert "item005" in replaced.ids.tolist()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat", "fresh"]


def test_build_refuses_unrelated_directory_and_bad_shard_size(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(FileExistsError, match="neither a catalog"):
        Catalog.build(helper.frame(4), helper.encoders(delay=0.0), tmp_path)
    with pytest.raises(ValueError, match="shard_size"):
        Catalog.build(helper.frame(4), helper.encoders(delay=0.0), tmp_path / "c", shard_size=0)
    with pytest.raises(ValueError, match="on_error"):
        Catalog.build(helper.frame(4), helper.encoders(delay=0.0), tmp_path / "c", on_error="x")


def test_raise_policy_build_names_the_item(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'title'.*item 'item007' \(row 7\).*cannot embed"):
        Catalog.build(helper.frame(12), helper.encoders(delay=0.0), tmp_path / "c", shard_size=4)


def test_load_names_the_corrupt_or_missing_file(tmp_path: Path) -> None:
    cat = Catalog.from_frame(helper.frame(12), helper.encoders(delay=0.0), on_error="skip")
    path = cat.save(tmp_path / "cat")
    assert Catalog.load(path).errors_.equals(cat.errors_)
    errors = path / "errors.json"
    errors.write_text(errors.read_text().replace("bad title", "BAD TITLE"))
    with pytest.raises(ValueError, match=r"Checksum mismatch for .*errors\.json"):
        Catalog.load(path)
    (path / "component_0.npy").unlink()
    with pytest.raises(ValueError, match=r"Catalog file .*component_0\.npy is missing"):
        Catalog.load(path)
    manifest = json.loads((path / "manifest.json").read_text())
    (path / "gram.npy").write_bytes(b"garbage")
    manifest["components"] = manifest["components"][1:]
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"Checksum mismatch for .*gram\.npy"):
        Catalog.load(path)
    assert os.path.isdir(path)
