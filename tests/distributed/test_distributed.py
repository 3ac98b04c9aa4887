"""skfusion.distributed on a small LocalCluster: Parquet encoding, grid search, sharded top-k."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

import joblib
import pyarrow as pa
import pyarrow.parquet as pq
from distributed import Client, LocalCluster
from sklearn.model_selection import GridSearchCV, KFold

from skfusion import Catalog
from skfusion.datasets import make_catalog
from skfusion.distributed import (
    ShardSchemaError,
    encode_parquet,
    save_shards,
    sharded_kneighbors,
)
from skfusion.fusion import AverageFusion, HybridFusion, ScoreFusion, WeightedFusion

from .. import _build_helper as helper
from .._tolerance import assert_same_topk, fused_atol
from ..catalog.test_resumable import _assert_identical


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=False,
            dashboard_address=None,
            silence_logs=40,
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


class LoggedEncoder(helper.SlowHashEncoder):
    """The helper's hash encoder, logging every value it encodes to a file.

    When ``fail_on`` is in a batch and the file ``marker`` exists, it raises
    (a task failing mid-job); ``wide`` values get 8 dimensions instead of 6.
    """

    def __init__(self, log: str, marker: str = "", fail_on: str = "", wide: bool = False):
        super().__init__(delay=0.0)
        self.log, self.marker, self.fail_on, self.wide = log, marker, fail_on, wide

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"delay": 0.0, "fail_on": self.fail_on, "wide": self.wide}

    def transform(self, values: list[Any]) -> np.ndarray:
        if self.fail_on in values and self.marker and os.path.exists(self.marker):
            raise RuntimeError("simulated worker failure")
        with open(self.log, "a", encoding="utf-8") as fh:
            fh.write("".join(f"{v}\n" for v in values))
        out = super().transform(values)
        if self.wide and "title 13 xxx" in values:
            out = np.hstack([out, np.zeros((len(values), 2))])
        return out


def _frame() -> Any:
    frame = helper.frame(24)
    frame.loc[17, "id"] = "item003"  # a duplicate id in another shard
    return frame


def _write_parquet(frame: Any, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    # Two files of 15 and 9 rows, the first written in row groups of 4 rows.
    pq.write_table(pa.Table.from_pandas(frame.iloc[:15]), directory / "a.parquet", row_group_size=4)
    pq.write_table(pa.Table.from_pandas(frame.iloc[15:]), directory / "b.parquet")
    return directory


def _encoders(tmp_path: Path, **kwargs: Any) -> dict[str, Any]:
    log = str(tmp_path / "calls.log")
    return {
        "title": LoggedEncoder(log, **kwargs),
        "text": ("body", LoggedEncoder(log)),
    }


def _calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    lines = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return lines


def test_encode_parquet_matches_from_frame(client: Client, tmp_path: Path) -> None:
    frame = _frame()
    source = _write_parquet(frame, tmp_path / "data")
    cat = encode_parquet(
        source, _encoders(tmp_path), tmp_path / "cat", client=client, on_error="skip", shard_size=4
    )
    ref = Catalog.from_frame(frame, helper.encoders(delay=0.0), on_error="skip")
    _assert_identical(cat, ref)
    assert len(ref.errors_) == 3  # two bad titles, one duplicate id
    # The empty body of item022 is masked (missing="mask"), in the shards too.
    assert cat.mask[:, cat.ids.tolist().index("item022")].tolist() == [True, False]
    assert "duplicate id; the item at row 3" in " ".join(ref.errors_["reason"])
    assert not (tmp_path / "cat" / ".shards").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calls.log", "cat", "data"]
    # A finished build is returned without encoding anything.
    _calls(tmp_path)
    again = encode_parquet(
        source, _encoders(tmp_path), tmp_path / "cat", client=client, on_error="skip", shard_size=4
    )
    _assert_identical(again, ref)
    assert _calls(tmp_path) == []


def test_failed_task_resumes_from_finished_shards(client: Client, tmp_path: Path) -> None:
    frame = _frame()
    source = _write_parquet(frame, tmp_path / "data")
    marker = tmp_path / "fail"
    marker.touch()
    encs = _encoders(tmp_path, marker=str(marker), fail_on="title 9 xxxx")
    path = tmp_path / "cat"
    # 7 shards: rows 0-3, 4-7, 8-11, 12-14 of a.parquet and 15-18, 19-22, 23 of b.parquet.
    with pytest.raises(
        RuntimeError, match=r"1 of 7 shard task\(s\) failed.*shard 2 .*6 of 7 shards are finished"
    ):
        encode_parquet(source, encs, path, client=client, on_error="skip", shard_size=4)
    assert len(list((path / ".shards").glob("shard-*.npz"))) == 6
    _calls(tmp_path)
    # A truncated shard is treated as unfinished and encoded again.
    shard0 = path / ".shards" / "shard-000000.npz"
    shard0.write_bytes(shard0.read_bytes()[:100])
    marker.unlink()
    cat = encode_parquet(source, encs, path, client=client, on_error="skip", shard_size=4)
    encoded = _calls(tmp_path)
    titles = [v for v in encoded if v.startswith("title")]
    # Only shards 0 and 2 ran again (their live titles: rows 0-3 and 8-11).
    assert sorted(titles) == sorted(frame.loc[[0, 1, 2, 3, 8, 9, 10, 11], "title"].tolist())
    _assert_identical(cat, Catalog.from_frame(frame, helper.encoders(delay=0.0), on_error="skip"))


def test_inconsistent_shards_are_refused(client: Client, tmp_path: Path) -> None:
    frame = _frame()
    source = _write_parquet(frame, tmp_path / "data")
    with pytest.raises(
        ShardSchemaError,
        match=r"'title' of shard 3 has dimension 8, but component 'title' of shard 0 has "
        r"dimension 6",
    ):
        encode_parquet(
            source,
            _encoders(tmp_path, wide=True),
            tmp_path / "wide",
            client=client,
            on_error="skip",
            shard_size=4,
        )
    # Finished shards changed after they were written (other component names, another dtype,
    # swapped with each other) fail their checksum or row range: they are encoded again.
    marker = tmp_path / "fail"
    marker.touch()
    encs = _encoders(tmp_path, marker=str(marker), fail_on="title 9 xxxx")
    path = tmp_path / "cat"
    with pytest.raises(RuntimeError, match="shard task"):
        encode_parquet(source, encs, path, client=client, on_error="skip", shard_size=4)
    marker.unlink()
    shards = path / ".shards"
    shard1 = shards / "shard-000001.npz"
    with np.load(shard1) as data:
        original = {k: data[k] for k in data.files}
    ref = Catalog.from_frame(frame, helper.encoders(delay=0.0), on_error="skip")
    for tampered in (
        dict(original, components=np.asarray(json.dumps(["title", "image"]))),
        dict(original, component_0=original["component_0"].astype(np.float64)),
    ):
        np.savez(shard1, **tampered)
        _calls(tmp_path)
        cat = encode_parquet(source, encs, path, client=client, on_error="skip", shard_size=4)
        assert any(v.startswith("title") for v in _calls(tmp_path))  # shard 1 ran again
        _assert_identical(cat, ref)
        # The finished build is kept as a catalog; start the next round from shards again.
        shutil.rmtree(path)
        marker.touch()
        with pytest.raises(RuntimeError, match="shard task"):
            encode_parquet(source, encs, path, client=client, on_error="skip", shard_size=4)
        marker.unlink()
    # Swapped shards, checksum files included: each now sits at another row range.
    for ext in ("npz", "sha256"):
        a, b = shards / f"shard-000000.{ext}", shards / f"shard-000001.{ext}"
        tmp = shards / f"swap.{ext}"
        a.rename(tmp)
        b.rename(a)
        tmp.rename(b)
    _calls(tmp_path)
    cat = encode_parquet(source, encs, path, client=client, on_error="skip", shard_size=4)
    titles = {v for v in _calls(tmp_path) if v.startswith("title")}
    assert set(frame.loc[[0, 1, 2, 3, 8, 9, 10, 11], "title"]) <= titles  # shards 0 and 2
    assert titles & set(frame.loc[[4, 5, 6, 7], "title"])  # and shard 1, all encoded again
    _assert_identical(cat, ref)


def test_encode_parquet_errors(client: Client, tmp_path: Path) -> None:
    frame = _frame()
    source = _write_parquet(frame, tmp_path / "data")
    encs = _encoders(tmp_path)
    with pytest.raises(ValueError, match=r"duplicate id; the item at row 3.*") as info:
        encode_parquet(source, encs, tmp_path / "c", client=client, shard_size=4)
    assert "'item003' (row 17)" in str(info.value)
    unique = _write_parquet(helper.frame(24), tmp_path / "unique")
    with pytest.raises(ValueError, match=r"'title'.*item 'item007' \(row 7\).*cannot embed"):
        encode_parquet(unique, encs, tmp_path / "c", client=client, shard_size=4)
    with pytest.raises(ValueError, match=r"Column\(s\) \['nope'\] are not in"):
        encode_parquet(source, {"x": ("nope", encs["title"])}, tmp_path / "d", client=client)
    with pytest.raises(FileNotFoundError, match="No Parquet file"):
        encode_parquet(tmp_path / "absent.parquet", encs, tmp_path / "e", client=client)
    with pytest.raises(ValueError, match="shard_size"):
        encode_parquet(source, encs, tmp_path / "f", client=client, shard_size=0)


def test_no_client_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import distributed

    def none() -> Any:
        raise ValueError("No clients found")

    monkeypatch.setattr(distributed, "get_client", none)
    with pytest.raises(ValueError, match="No Dask client"):
        encode_parquet(tmp_path / "x.parquet", _encoders(tmp_path), tmp_path / "c")


@pytest.fixture(scope="module")
def synthetic() -> Any:
    return make_catalog(n_items=300, n_queries=24, dim=32, missing_rate=0.1, random_state=0)


def _catalog(data: Any) -> Catalog:
    return Catalog.from_arrays(
        data.components, data.ids, masks=data.masks, modalities=data.modalities
    )


@pytest.mark.parametrize(
    "estimator",
    [AverageFusion(), WeightedFusion(weights=[0.5, 0.3, 0.2]), HybridFusion()],
    ids=["average", "weighted", "hybrid"],
)
def test_sharded_kneighbors_equals_kneighbors(
    client: Client, tmp_path: Path, synthetic: Any, estimator: Any
) -> None:
    cat = _catalog(synthetic)
    paths = save_shards(cat, tmp_path / "shards", 4)
    # Shard-wise global weights differ from the catalog's: combining them matters.
    if isinstance(estimator, HybridFusion):
        assert not np.allclose(Catalog.load(paths[0]).global_weights(), cat.global_weights())
    X = synthetic.queries
    expected = estimator.set_params(catalog=cat).fit().kneighbors(X, n_neighbors=15)
    scores, idx = sharded_kneighbors(estimator, X, paths, n_neighbors=15, client=client)
    # Shards are other BLAS call shapes (in other processes): rounding differs within the
    # float32 bound (tests/_tolerance.py), so items may swap only within near ties.
    tol = fused_atol(cat.dim, cat.gram, query_aware=True)
    assert_same_topk(scores, idx, *expected, atol=tol, rtol=1e-5)
    only = sharded_kneighbors(estimator, X, paths, 500, client=client, return_distance=False)
    assert only.shape == (24, 300)  # capped at the number of items
    # Every item, ranked in the order of the single-machine scores (near-ties
    # may swap by rounding).
    full = estimator.decision_function(X)
    assert all(sorted(row) == list(range(300)) for row in only.tolist())
    assert np.all(np.diff(np.take_along_axis(full, only, axis=1), axis=1) <= 1e-6)


def test_sharded_kneighbors_ties_go_to_the_lower_position(client: Client, tmp_path: Path) -> None:
    # Exact ties on every BLAS kernel: unit vectors with four entries ±1/2 and both components
    # equal (the fused unit vector is the item's own), so every product is exact in float32.
    # Random rows tie only where the kernel rounds duplicates alike, and OpenBLAS's SSE
    # kernel (OPENBLAS_CORETYPE=Prescott) rounds two equal rows of one product differently.
    rng = np.random.default_rng(3)
    E = np.zeros((6, 8))
    for row in E:
        row[rng.choice(8, 4, replace=False)] = rng.choice([-0.5, 0.5], 4)
    dup = np.vstack([E, E])  # items 6..11 repeat items 0..5: every score is tied
    cat = Catalog.from_arrays({"a": dup, "b": dup.copy()})
    paths = save_shards(cat, tmp_path / "shards", 3)
    X = E[:2].astype(np.float32)
    idx = sharded_kneighbors(AverageFusion(), X, paths, 12, client=client, return_distance=False)
    np.testing.assert_array_equal(idx, AverageFusion(cat).fit().kneighbors(X, 12)[1])


def test_sharded_kneighbors_refusals(client: Client, tmp_path: Path, synthetic: Any) -> None:
    cat = _catalog(synthetic)
    paths = save_shards(cat, tmp_path / "shards", 2)
    X = synthetic.queries
    with pytest.raises(ValueError, match="ScoreFusion cannot be scored shard by shard"):
        sharded_kneighbors(ScoreFusion(), X, paths, client=client)
    names = ("title", "image")
    other = Catalog.from_arrays(
        {n: synthetic.components[n][:10] for n in names},
        masks={n: synthetic.masks[n][:10] for n in names},
    )
    odd = other.save(tmp_path / "odd")
    with pytest.raises(ValueError, match=r"has components \['title', 'image'\]"):
        sharded_kneighbors(AverageFusion(), X, [*paths, odd], client=client)
    with pytest.raises(ValueError, match="n_shards must be between 1 and"):
        save_shards(cat, tmp_path / "more", 301)
    with pytest.raises(ValueError, match="n_neighbors must be positive"):
        sharded_kneighbors(AverageFusion(), X, paths, 0, client=client)


def test_grid_search_on_dask_backend_matches_one_job(
    client: Client, tmp_path: Path, synthetic: Any
) -> None:
    cat = _catalog(synthetic).save(tmp_path / "cat")
    cat = Catalog.load(cat)
    X, y = synthetic.queries, synthetic.targets
    grid = {"weights": [[1, 0.1, 0.1], [0.5, 0.3, 0.2], [0.1, 1, 0.1], [0.2, 0.1, 0.7]]}
    cv = KFold(n_splits=3, shuffle=True, random_state=0)
    serial = GridSearchCV(WeightedFusion(cat), grid, cv=cv, n_jobs=1).fit(X, y)
    with joblib.parallel_backend("dask"):
        on_dask = GridSearchCV(WeightedFusion(cat), grid, cv=cv, n_jobs=-1).fit(X, y)
    for key, value in serial.cv_results_.items():
        if "time" in key:
            continue
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            np.testing.assert_array_equal(on_dask.cv_results_[key], value)
        else:
            assert list(on_dask.cv_results_[key]) == list(value), key
    assert np.ptp(serial.cv_results_["mean_test_score"]) > 0.01
    assert on_dask.best_params_ == serial.best_params_
