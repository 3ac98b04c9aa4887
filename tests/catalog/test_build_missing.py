"""Missing cells in every catalog-building path: ``missing="mask"`` (default) and ``"error"``.

Catalog.from_frame, Catalog.build and skfusion.distributed.encode_parquet mask a
missing cell (None, NaN, ``pd.NA``, ``pd.NaT``, empty or whitespace-only text or
bytes): the item is kept, that component's row is zero and its mask False, and the
encoder never sees the cell. ``missing="error"`` rejects the item as before.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from skfusion import Catalog, CatalogBuildError
from skfusion.catalog import _build

from .. import _build_helper as helper
from .._tolerance import f32_atol

pd = pytest.importorskip("pandas")

DIM = 6


class Recorder(helper.SlowHashEncoder):
    """The helper's hash encoder (6 dims, rejects texts containing "bad"), recording its inputs."""

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__(delay=0.0, fail_after=fail_after)
        self.seen: list[Any] = []

    def transform(self, values: list[Any]) -> np.ndarray:
        self.seen.extend(values)
        return super().transform(values)


def _alone(value: str) -> np.ndarray:
    """What the encoder gives ``value`` encoded on its own."""
    return helper.SlowHashEncoder(delay=0.0).transform([value])[0]


# Row by row: (id, title, body); the comment says which cells are missing.
ROWS: list[tuple[str, Any, Any]] = [
    ("a", "red shoes", "leather, size 42"),  # nothing missing
    ("b", None, "a body"),  # title None
    ("c", "green hat", float("nan")),  # body float NaN
    ("d", pd.NA, "wool"),  # title pd.NA
    ("e", "blue scarf", ""),  # body empty
    ("f", "   \t", "silk"),  # title whitespace-only
    ("g", "grey coat", b""),  # body empty bytes
    ("h", np.float64("nan"), b"caf\xc3\xa9"),  # title numpy NaN; body valid UTF-8 bytes
    ("i", "black boots", pd.NaT),  # body pd.NaT
    ("j", "white socks", "cotton"),  # nothing missing
]
#: Which cells hold a value: rows of (title, body).
PRESENT = np.array(
    [
        [True, False, True, False, True, False, True, False, True, True],
        [True, True, False, True, False, True, False, True, False, True],
    ]
)
TEXTS = {"h": "café"}  # what a valid-bytes cell is encoded as


def _frame(rows: list[tuple[str, Any, Any]] = ROWS) -> Any:
    return pd.DataFrame(
        {
            "id": [r[0] for r in rows],
            "title": pd.Series([r[1] for r in rows], dtype=object),
            "body": pd.Series([r[2] for r in rows], dtype=object),
        }
    )


def _encoders(**kwargs: Any) -> dict[str, Any]:
    return {"title": Recorder(**kwargs), "text": ("body", Recorder(**kwargs))}


def _assert_same(a: Catalog, b: Catalog, reasons: bool = True) -> None:
    assert a.names == b.names
    assert a.ids.tolist() == b.ids.tolist()
    np.testing.assert_array_equal(a.mask, b.mask)
    for name in a.names:
        np.testing.assert_array_equal(a.components[name], b.components[name])
    columns = ["id", "component", "reason"] if reasons else ["id", "component"]
    assert a.errors_[columns].equals(b.errors_[columns])


def test_missing_cells_are_masked_and_never_encoded() -> None:
    encoders = _encoders()
    cat = Catalog.from_frame(_frame(), encoders)
    assert cat.ids.tolist() == [r[0] for r in ROWS]  # every item kept, in frame order
    np.testing.assert_array_equal(cat.mask, PRESENT)
    assert (~cat.mask).sum(axis=1).tolist() == [4, 4]  # masked cells per component
    assert cat.errors_.empty
    for c, (name, col) in enumerate((("title", 1), ("text", 2))):
        matrix = cat.components[name]
        assert not matrix[~PRESENT[c]].any()  # masked rows are zero
        for row in np.flatnonzero(PRESENT[c]):
            value = ROWS[row][col]
            text = TEXTS.get(ROWS[row][0], value)
            np.testing.assert_allclose(matrix[row], _alone(text), atol=f32_atol(DIM))
    # The encoders saw exactly the present cells, in row order.
    assert encoders["title"].seen == [r[1] for r, p in zip(ROWS, PRESENT[0], strict=True) if p]
    body = [TEXTS.get(r[0], r[2]) for r, p in zip(ROWS, PRESENT[1], strict=True) if p]
    assert encoders["text"][1].seen == body


def test_real_failures_are_still_reported_beside_masks() -> None:
    rows = [
        ("a", "red", None),  # masked body
        ("b", None, "bad body"),  # masked title, body fails: a real failure
        ("c", b"caf\xe9 \xff", "fine"),  # invalid UTF-8: rejected, not masked
        ("a", "dup", "dup"),  # duplicate id
        ("e", "  ", "ok"),
    ]
    cat = Catalog.from_frame(_frame(rows), _encoders(), on_error="skip")
    assert cat.ids.tolist() == ["a", "e"]
    np.testing.assert_array_equal(cat.mask, [[True, False], [False, True]])
    records = cat.errors_.to_dict("records")
    # (pandas shows the None component of a whole-item rejection as NaN here)
    assert [(r["id"], r["component"] if pd.notna(r["component"]) else None) for r in records] == [
        ("b", "text"),
        ("c", "title"),
        ("a", None),
    ]
    assert records[0]["reason"] == "ValueError: cannot embed 'bad body'"
    assert "not valid UTF-8" in records[1]["reason"]
    assert records[2]["reason"].startswith("duplicate id")
    # Under "raise" the cell checks come first: the invalid bytes of row 2.
    with pytest.raises(CatalogBuildError, match=r"'title'.*item 'c' \(row 2\).*not valid UTF-8"):
        Catalog.from_frame(_frame(rows), _encoders())
    with pytest.raises(CatalogBuildError, match=r"'text'.*item 'b' \(row 1\).*cannot embed"):
        Catalog.from_frame(_frame([rows[0], rows[1], rows[4]]), _encoders())


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (None, r"is missing for item 'x' \(row 1\): the value is missing \(None\)"),
        (float("nan"), r"is missing for item 'x' \(row 1\): the value is missing \(nan\)"),
        (pd.NA, r"is missing for item 'x' \(row 1\): the value is missing \(<NA>\)"),
        ("", r"cannot be encoded for item 'x' \(row 1\): the text is empty"),
        (" \n", r"cannot be encoded for item 'x' \(row 1\): the text is whitespace-only"),
        (b"", r"cannot be encoded for item 'x' \(row 1\): the text is empty"),
    ],
)
def test_missing_error_keeps_the_old_rejection(cell: Any, message: str) -> None:
    rows = [("w", "one", "two"), ("x", cell, "three"), ("y", "four", "five")]
    with pytest.raises(CatalogBuildError, match=rf"Component 'title' \(column 'title'\) {message}"):
        Catalog.from_frame(_frame(rows), _encoders(), missing="error")
    encoders = _encoders()
    cat = Catalog.from_frame(_frame(rows), encoders, on_error="skip", missing="error")
    assert cat.ids.tolist() == ["w", "y"]
    assert cat.mask.all()
    assert cat.errors_["id"].tolist() == ["x"]
    assert cat.errors_["component"].tolist() == ["title"]
    assert "three" not in encoders["text"][1].seen  # the rejected item is not encoded
    # The default keeps the item with its title masked.
    masked = Catalog.from_frame(_frame(rows), _encoders())
    assert masked.ids.tolist() == ["w", "x", "y"]
    assert masked.mask[:, 1].tolist() == [False, True]


def test_an_item_with_every_component_missing_is_rejected() -> None:
    rows = [("a", "red", "leather"), ("b", None, " "), ("c", "", "silk")]
    with pytest.raises(CatalogBuildError, match=r"Item 'b' \(row 1\) is rejected") as info:
        Catalog.from_frame(_frame(rows), _encoders())
    assert (info.value.item_id, info.value.component, info.value.row) == ("b", None, 1)
    assert info.value.reason == "every component is missing"
    cat = Catalog.from_frame(_frame(rows), _encoders(), on_error="skip")
    assert cat.ids.tolist() == ["a", "c"]
    assert cat.errors_.to_dict("records") == [
        {"id": "b", "component": None, "reason": "every component is missing"}
    ]


def test_a_component_missing_for_every_item_is_a_clear_error(tmp_path: Path) -> None:
    rows = [("a", None, "leather"), ("b", "", "silk")]
    encoders = _encoders()
    for build in (
        lambda: Catalog.from_frame(_frame(rows), encoders, on_error="skip"),
        lambda: Catalog.build(_frame(rows), encoders, tmp_path / "c", on_error="skip"),
    ):
        with pytest.raises(ValueError, match=r"Component 'title' \(column 'title'\) is missing"):
            build()
    assert encoders["title"].seen == encoders["text"][1].seen == []  # found before encoding
    # Its only present cell belongs to an item another component rejects.
    rows = [("a", None, "leather"), ("b", "hat", "bad body")]
    with pytest.raises(ValueError, match=r"'title'.*missing for every kept item"):
        Catalog.from_frame(_frame(rows), _encoders(), on_error="skip")


def test_invalid_missing_policy() -> None:
    with pytest.raises(ValueError, match=r"missing must be 'mask' or 'error', got 'skip'"):
        Catalog.from_frame(_frame(), _encoders(), missing="skip")  # type: ignore[arg-type]


def test_build_equals_from_frame_including_shards_without_a_component(tmp_path: Path) -> None:
    # shard_size=1: every masked cell is a shard whose component is missing in every row.
    ref = Catalog.from_frame(_frame(), _encoders())
    for shard_size in (1, 2, 3, 100):
        built = Catalog.build(
            _frame(), _encoders(), tmp_path / f"c{shard_size}", shard_size=shard_size
        )
        _assert_same(built, ref)
    error = Catalog.from_frame(_frame(), _encoders(), on_error="skip", missing="error")
    built = Catalog.build(_frame(), _encoders(), tmp_path / "e", on_error="skip", missing="error")
    _assert_same(built, error)
    assert error.ids.tolist() == ["a", "j"]


def test_a_resumed_build_keeps_the_masks(tmp_path: Path) -> None:
    path = tmp_path / "c"
    # The body encoder crashes on its third call (shard 2): shards 0 and 1 are finished.
    crashing = {"title": Recorder(), "text": ("body", Recorder(fail_after=2))}
    with pytest.raises(RuntimeError, match="simulated crash"):
        Catalog.build(_frame(), crashing, path, shard_size=3)
    shard = path / ".shards" / "shard-000000.npz"
    with np.load(shard, allow_pickle=False) as data:
        np.testing.assert_array_equal(data["masks"], PRESENT[:, :3])
        assert data["masks"].dtype == np.bool_
    encoders = _encoders()
    cat = Catalog.build(_frame(), encoders, path, shard_size=3)
    assert encoders["text"][1].seen == ["café", "cotton"]  # shards 2 and 3 only (rows 6..9)
    _assert_same(cat, Catalog.from_frame(_frame(), _encoders()))
    _assert_same(Catalog.load(path), cat)


def test_the_policy_is_part_of_the_fingerprint(tmp_path: Path) -> None:
    frame = _frame()
    prepared = _build.prepare(frame, _encoders(), "id", "skip", "mask")
    masked = _build.fingerprint(prepared, frame, "skip", 4, "mask")
    assert masked != _build.fingerprint(prepared, frame, "skip", 4, "error")
    path = tmp_path / "c"
    crashing = {"title": Recorder(), "text": ("body", Recorder(fail_after=1))}
    with pytest.raises(RuntimeError, match="simulated crash"):
        Catalog.build(frame, crashing, path, on_error="skip", shard_size=4)
    state = json.loads((path / ".shards" / "fingerprint.json").read_text())
    assert state["fingerprint"] == masked
    with pytest.raises(ValueError, match="different inputs"):
        Catalog.build(frame, _encoders(), path, on_error="skip", shard_size=4, missing="error")
    Catalog.build(frame, _encoders(), path, on_error="skip", shard_size=4)
    with pytest.raises(FileExistsError, match="not built from these inputs"):
        Catalog.build(frame, _encoders(), path, on_error="skip", shard_size=4, missing="error")


def test_a_shard_without_masks_is_never_read(tmp_path: Path) -> None:
    # A shard in the layout before masks (no "masks" entry) with a valid checksum and this
    # build's fingerprint is encoded again, not read with every cell present.
    frame = _frame()
    prepared = _build.prepare(frame, _encoders(), "id", "raise", "mask")
    shards = tmp_path / "shards"
    shards.mkdir()
    span = (0, 4)
    part = _build.encode_rows(prepared, np.arange(*span), "raise")
    _build.write_shard(shards, 0, "fp", prepared, part, span)
    read = _build.read_shard(shards, 0, "fp", prepared, span)
    assert read is not None
    np.testing.assert_array_equal(read.masks["title"], PRESENT[0, :4])
    path = shards / "shard-000000.npz"
    with np.load(path, allow_pickle=False) as data:
        old = {key: data[key] for key in data.files if key != "masks"}
    np.savez(path, **old)
    (shards / "shard-000000.sha256").write_text(_build.sha256_file(path))
    assert _build.shard_checksum_ok(shards, 0)
    assert _build.read_shard(shards, 0, "fp", prepared, span) is None
    with zipfile.ZipFile(path) as archive:
        assert "masks.npy" not in archive.namelist()


# -- encode_parquet ---------------------------------------------------------------


def _parquet_rows() -> list[tuple[str, Any, Any]]:
    # Parquet string columns hold no bytes: the bytes cells become text or null.
    out = []
    for item, title, body in ROWS:
        title = None if isinstance(title, float) and math.isnan(title) else title
        body = (
            {b"": "", b"caf\xc3\xa9": "café"}.get(body, body) if isinstance(body, bytes) else body
        )
        out.append((item, title, body))
    return out


def test_encode_parquet_equals_from_frame_and_build(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from distributed import Client, LocalCluster

    from skfusion.distributed import encode_parquet

    frame = _frame(_parquet_rows())
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.Table.from_pandas(frame.iloc[:7]), data / "a.parquet")
    pq.write_table(pa.Table.from_pandas(frame.iloc[7:]), data / "b.parquet")
    ref = Catalog.from_frame(frame, _encoders())
    np.testing.assert_array_equal(ref.mask, PRESENT)
    _assert_same(Catalog.build(frame, _encoders(), tmp_path / "built", shard_size=2), ref)
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        # shard_size=1: a shard per row, so every masked cell is a shard whose component
        # is missing in every row (its dimension is not known from it).
        cat = encode_parquet(data, _encoders(), tmp_path / "cat", client=client, shard_size=1)
        _assert_same(cat, ref)
        with pytest.raises(FileExistsError, match="not built from these inputs"):
            encode_parquet(
                data, _encoders(), tmp_path / "cat", client=client, shard_size=1, missing="error"
            )
        error = encode_parquet(
            data,
            _encoders(),
            tmp_path / "err",
            client=client,
            shard_size=2,
            on_error="skip",
            missing="error",
        )
        # Parquet reads every null back as one kind of null, so the reasons' reprs differ.
        expected = Catalog.from_frame(frame, _encoders(), on_error="skip", missing="error")
        _assert_same(error, expected, reasons=False)
        with pytest.raises(ValueError, match="missing must be"):
            encode_parquet(data, _encoders(), tmp_path / "x", client=client, missing="drop")  # type: ignore[arg-type]
